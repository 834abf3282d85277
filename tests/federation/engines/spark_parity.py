"""Shared by the Spark tests: whether Spark and Java are here, and the comparison of two
engines' answers (floats to 1e-9 relative, everything else exact; it lives in
benchmarks/tpch/compare.py, which the benchmark uses too)."""

from __future__ import annotations

import shutil

import pytest

from benchmarks.tpch.compare import FLOAT_TOLERANCE, difference

__all__ = ["FLOAT_TOLERANCE", "difference", "needs_spark", "spark_available"]


def spark_available() -> bool:
    """True when pyspark imports and a java executable is on the PATH."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return shutil.which("java") is not None


needs_spark = pytest.mark.skipif(not spark_available(), reason="needs pyspark and Java")
