"""DuckDB's own type for every column of a Parquet file, read from its footer (issue 14,
item 4): the footer's reading must equal what DuckDB's reader gives, nested and wide
types included, and statistics belong to the right column after a struct."""

from __future__ import annotations

import decimal
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.footers import read_facts
from connectors.listing import list_local
from connectors.types import normalize_type, same_type

DUCKDB_WRITTEN = """
COPY (SELECT 1::BIGINT AS id, TIMESTAMPTZ '2024-01-01 03:00:00+00' AS tstz,
  TIMESTAMP '2024-01-01 03:00:00' AS ts, '2024-01-01 03:00:00.123456789'::TIMESTAMP_NS AS ts_ns,
  TIMESTAMP_MS '2024-01-01 03:00:00.123' AS ts_ms, DATE '2024-01-01' AS d, TIME '10:00:00' AS t,
  TIMETZ '10:00:00+02' AS ttz, [1, 2]::BIGINT[] AS l, [[1]]::INTEGER[][] AS ll,
  {'a': 1, 'b': 'x'}::STRUCT(a BIGINT, b VARCHAR) AS s, MAP {'k': 1}::MAP(VARCHAR, BIGINT) AS m,
  uuid() AS u, 1::UTINYINT AS ut, 1::USMALLINT AS us, 1::UINTEGER AS ui, 1::UBIGINT AS ub,
  1::TINYINT AS ti, 1::SMALLINT AS si, 1.5::FLOAT AS f, 1.5::DOUBLE AS dd, 'ab'::BLOB AS bl,
  1.5::DECIMAL(38, 10) AS dec38, 1.5::DECIMAL(4, 1) AS dec4, INTERVAL 1 DAY AS iv,
  '{}'::JSON AS js, true AS b, [{'x': 1}]::STRUCT(x INTEGER)[] AS ls,
  {'My Field': [1]}::STRUCT("My Field" BIGINT[]) AS quoted, 'x' AS v) TO '{path}'
"""


def _pyarrow_written(path: Path) -> None:
    columns = {
        "tsns_tz": pa.array([1], pa.timestamp("ns", tz="UTC")),
        "ts_s": pa.array([1], pa.timestamp("s")),
        "ts_ms_tz": pa.array([1], pa.timestamp("ms", tz="Europe/Madrid")),
        "t32": pa.array([1], pa.time32("s")),
        "t64ns": pa.array([1], pa.time64("ns")),
        "d64": pa.array([1], pa.date64()),
        "large": pa.array(["a"], pa.large_string()),
        "dic": pa.array(["a"]).dictionary_encode(),
        "fixed_list": pa.array([[1, 2]], pa.list_(pa.int32(), 2)),
        "large_list": pa.array([[1]], pa.large_list(pa.int64())),
        "fsb": pa.array([b"0123456789abcdef"], pa.binary(16)),
        "uuid": pa.array([uuid.uuid4().bytes], pa.uuid()),
        "half": pa.array([1.0], pa.float16()),
        "wide": pa.array([decimal.Decimal("1.5")], pa.decimal256(50, 2)),
        "map_of_lists": pa.array([[("k", [1])]], pa.map_(pa.string(), pa.list_(pa.int64()))),
    }
    pq.write_table(pa.table(columns), path)


def _described(path: Path) -> dict[str, str]:
    con = duckdb.connect()
    try:
        return {name: kind for name, kind, *_ in
                con.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()}
    finally:
        con.close()


@pytest.mark.parametrize("writer", ["duckdb", "pyarrow"])
def test_footer_types_are_what_duckdb_reads(tmp_path: Path, writer: str) -> None:
    path = tmp_path / "types.parquet"
    if writer == "duckdb":
        con = duckdb.connect()
        con.execute(DUCKDB_WRITTEN.replace("{path}", str(path)))
        con.close()
    else:
        _pyarrow_written(path)
    facts = read_facts("lab.types", list_local(tmp_path, "*.parquet"), str(tmp_path), False)
    described = _described(path)
    wrong = {name: (facts.columns[name.lower()].type, kind) for name, kind in described.items()
             if not same_type(facts.columns[name.lower()].type, kind)}
    assert wrong == {}
    assert len(facts.columns) == len(described)


def test_type_spellings_are_duckdbs_own() -> None:
    assert normalize_type("struct(a int, b text)") == "STRUCT(a INTEGER, b VARCHAR)"
    assert normalize_type("MAP(STRING, INT8[])") == "MAP(VARCHAR, BIGINT[])"
    assert normalize_type("REAL") == "FLOAT"
    assert normalize_type("INT128") == "HUGEINT"
    assert normalize_type("time with time zone") == "TIMETZ"
    assert same_type("STRUCT(A BIGINT)", "STRUCT(a BIGINT)")
    assert not same_type("STRUCT(a BIGINT)", "STRUCT(a INTEGER)")


def test_statistics_after_a_struct_belong_to_their_own_column(tmp_path: Path) -> None:
    table = pa.table({
        "s": pa.array([{"a": 1, "b": "x"}] * 4),  # two leaf columns, no nulls
        "note": pa.array(["n", None, "n", None]),  # two nulls
        "l": pa.array([[1], None, [2], [3]]),
    })
    pq.write_table(table, tmp_path / "part-0.parquet")
    facts = read_facts("lab.x", list_local(tmp_path, "*.parquet"), str(tmp_path), False)
    assert facts.columns["note"].null_count == 2
    assert facts.columns["s"].null_count == 0  # a leaf without nulls: the struct has none
    assert facts.columns["l"].null_count is None  # its nulls cannot be told from the leaf's
