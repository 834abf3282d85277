"""Whether two engines gave the same answer: the benchmark's check that governed Spark
equals governed DuckDB, and the parity suite's (tests/federation/engines/), one rule for
both.  Floats agree to 1e-9 relative; everything else (masked values too) exactly."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa

FLOAT_TOLERANCE = 1e-9


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or math.isclose(a, b, rel_tol=FLOAT_TOLERANCE, abs_tol=0.0)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


def _key(row: tuple[Any, ...]) -> str:
    return repr(tuple(round(v, 6) if isinstance(v, float) and math.isfinite(v) else v
                      for v in row))


def difference(duck: pa.Table, spark: pa.Table, *, ordered: bool = False) -> str | None:
    """None when both engines answered the same, else what differs.

    Names and types must be equal, values exact (masked values byte for byte) except
    floats, within 1e-9 relative.  Row order counts only when ``ordered``.
    """
    if duck.schema != spark.schema:
        return f"schemas differ:\n{duck.schema}\nvs\n{spark.schema}"
    if duck.num_rows != spark.num_rows:
        return f"row counts differ: {duck.num_rows} vs {spark.num_rows}"
    left = [tuple(r.values()) for r in duck.to_pylist()]
    right = [tuple(r.values()) for r in spark.to_pylist()]
    if not ordered:
        left, right = sorted(left, key=_key), sorted(right, key=_key)
    for i, (a, b) in enumerate(zip(left, right, strict=True)):
        if not all(_close(x, y) for x, y in zip(a, b, strict=True)):
            return f"row {i} differs: {a!r} vs {b!r}"
    return None
