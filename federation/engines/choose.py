"""Which engine runs a governed query: the caller's choice, else ``engine.default``.

``auto`` picks Spark when the planned scan (the ``estimate`` guard's bytes, after
partition and Iceberg pruning) exceeds ``engine.spark.auto_threshold`` and pyspark is
installed; otherwise DuckDB.  The cross-over measured on a 2-core machine is in
docs/benchmarks.md.
"""

from __future__ import annotations

import importlib.util

from federation.errors import UsageError
from products.config import EngineSettings

ENGINES = ("duckdb", "spark")
CHOICES = (*ENGINES, "auto")


def choose(requested: str | None, settings: EngineSettings, scan_bytes: int) -> str:
    """``duckdb`` or ``spark`` for a query that will scan ``scan_bytes``."""
    name = (requested or settings.default).lower()
    if name not in CHOICES:
        raise UsageError(f"unknown engine {name!r}", hint="use duckdb, spark or auto")
    if name == "auto":
        big = scan_bytes > settings.spark.auto_threshold_bytes
        return "spark" if big and spark_installed() else "duckdb"
    if name == "spark":
        from federation.engines.spark_session import require_pyspark

        require_pyspark()
    return name


def spark_installed() -> bool:
    """True when pyspark can be imported (without importing it)."""
    return importlib.util.find_spec("pyspark") is not None
