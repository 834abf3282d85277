"""The Spark application of the test session: started once (5-16 s), shared by every
Spark test (a process runs one SparkContext)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.federation.engines.spark_parity import spark_available


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The process's Spark application (local[*], as the demo mesh configures), started
    once for every Spark test of the session."""
    if not spark_available():
        pytest.skip("needs pyspark and Java")
    from federation.engines.spark_session import root_session
    from products.config import SparkSettings

    yield root_session(SparkSettings())
