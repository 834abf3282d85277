"""DuckDB type names in one canonical spelling, and the DuckDB type of an Arrow type."""

from __future__ import annotations

from functools import lru_cache

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ParseError

# sqlglot prints some DuckDB types under other names; show users DuckDB's own.
_DUCKDB_NAMES = {"TEXT": "VARCHAR", "INT": "INTEGER"}


@lru_cache(maxsize=1024)
def normalize_type(text: str) -> str:
    """A DuckDB type in one canonical spelling (``INT``, ``INT4`` → ``INTEGER``).

    Cached: every query checks each column it reads against its contract, and parsing
    the same few type names over and over cost ~1.5 ms a query (measured on TPC-H q02).
    """
    try:
        canonical = exp.DataType.build(text, dialect="duckdb").sql(dialect="duckdb")
    except (ParseError, ValueError):
        return text.upper()
    return _DUCKDB_NAMES.get(canonical, canonical)


_ARROW_TO_DUCKDB = {
    pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
    pa.uint8(): "UTINYINT", pa.uint16(): "USMALLINT", pa.uint32(): "UINTEGER",
    pa.uint64(): "UBIGINT", pa.float32(): "FLOAT", pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN", pa.string(): "VARCHAR", pa.large_string(): "VARCHAR",
    pa.string_view(): "VARCHAR", pa.binary(): "BLOB", pa.large_binary(): "BLOB",
    pa.date32(): "DATE", pa.date64(): "DATE",
}


def duckdb_type(arrow_type: pa.DataType) -> str:
    """The DuckDB type DuckDB's Parquet reader gives an Arrow type, canonical spelling."""
    if arrow_type in _ARROW_TO_DUCKDB:
        return normalize_type(_ARROW_TO_DUCKDB[arrow_type])
    if pa.types.is_decimal(arrow_type):
        return normalize_type(f"DECIMAL({arrow_type.precision}, {arrow_type.scale})")
    if pa.types.is_timestamp(arrow_type):
        return normalize_type("TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP")
    if pa.types.is_time(arrow_type):
        return "TIME"
    return str(arrow_type).upper()
