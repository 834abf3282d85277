"""A small mesh of one domain, ``lab``, whose products hold the types analysts meet:
nested (LIST, STRUCT, MAP), wide (HUGEINT, DECIMAL(38, s), unsigned), UUID, FLOAT, TIME,
TIMESTAMP_NS, BLOB and TIMESTAMPTZ values around midnight UTC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from tests.helpers import col, make_mesh, write_yaml

TYPES: list[dict[str, Any]] = [
    col("id", "BIGINT", required=True),
    col("tstz", "TIMESTAMPTZ"),
    col("ts", "TIMESTAMP"),
    col("ts_ns", "TIMESTAMP_NS"),
    col("d", "DATE"),
    col("t", "TIME"),
    col("l", "BIGINT[]"),
    col("s", "STRUCT(a BIGINT, b VARCHAR)"),
    col("m", "MAP(VARCHAR, BIGINT)"),
    col("u", "UUID"),
    col("ut", "UTINYINT"),
    col("us", "USMALLINT"),
    col("ui", "UINTEGER"),
    col("ub", "UBIGINT"),
    col("f", "FLOAT"),
    col("bl", "BLOB"),
    col("dec", "DECIMAL(38, 10)"),
]
"""``lab.types``: one column of each type (all through ``physicalType``)."""

# 48 instants half an hour apart from 22:00 UTC on 31 December 2023: how many of them
# fall on 1 January 2024 depends on the time zone (UTC 44, New York 34, Kolkata 41).
TYPES_SQL = """
SELECT i AS id,
  TIMESTAMPTZ '2023-12-31 22:00:00+00' + to_minutes(i * 30) AS tstz,
  TIMESTAMP '2023-12-31 12:00:00' + to_hours(i) AS ts,
  TIMESTAMP '2024-01-01 00:00:00' + to_microseconds(i) AS ts_ns,
  DATE '2024-01-01' + i::INTEGER AS d,
  TIME '10:00:00' + to_minutes(i) AS t,
  [i, i + 1, i + 2] AS l,
  {'a': i, 'b': 'b' || i} AS s,
  MAP {'k': i, 'j': i * 2} AS m,
  ('00000000-0000-0000-0000-' || lpad(i::VARCHAR, 12, '0'))::UUID AS u,
  i AS ut, i * 1000 AS us, i * 100000 AS ui, 18446744073709551615 - i AS ub,
  i / 4 AS f,
  ('bytes' || i)::BLOB AS bl,
  '1234567890123456789012345678.0123456789'::DECIMAL(38, 10) + i AS dec
FROM range(48) r(i)
"""

AFTER_STRUCT: list[dict[str, Any]] = [
    col("id", "BIGINT"),
    col("s", "STRUCT(a BIGINT, b VARCHAR)"),
    col("note", "VARCHAR", required=True),
]
"""``lab.after_struct``: a required column after a struct; it has nulls."""

AFTER_STRUCT_SQL = """
SELECT i AS id, {'a': i, 'b': 'x'} AS s, CASE WHEN i % 2 = 0 THEN 'n' END AS note
FROM range(10) r(i)
"""


def make_lab(root: Path, *, timezone: str | None = None) -> Path:
    """The lab mesh at ``root`` (admin ``adam`` reads everything); ``timezone`` sets
    ``engine.timezone``."""
    make_mesh(root, products={"lab.types": (TYPES, TYPES_SQL),
                              "lab.after_struct": (AFTER_STRUCT, AFTER_STRUCT_SQL)},
              users={"adam": {"roles": ["admin"]}}, rules=[],
              grants={"lab": [{"products": ["*"], "roles": ["admin"]}]})
    settings = {"name": "lab", "secret": "test-secret",
                "engine": {"timeout_seconds": 30, **({"timezone": timezone} if timezone else {})}}
    write_yaml(root / "duckmesh.yaml", settings)
    return root


def raw(root: Path, sql: str, zone: str = "UTC") -> list[tuple[Any, ...]]:
    """``sql`` over the lab's files with plain DuckDB in ``zone``, ``lab_types`` the
    types product's data: the oracle (rows as Arrow converts them to Python)."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = $zone", {"zone": zone})
        path = (root / "data/lab/types/part-0.parquet").as_posix().replace("'", "''")
        con.execute(f"CREATE VIEW lab_types AS SELECT * FROM read_parquet('{path}')")
        table = con.sql(sql).arrow().read_all()
        return [tuple(row.values()) for row in table.to_pylist()]
    finally:
        con.close()
