"""DuckDB type names in one canonical spelling, and the DuckDB type of an Arrow type.

The canonical spelling is DuckDB's own (what ``DESCRIBE`` prints): ``VARCHAR``,
``INTEGER``, ``FLOAT``, ``HUGEINT``, ``BIGINT[]``, ``STRUCT(a BIGINT, b VARCHAR)``,
``MAP(VARCHAR, BIGINT)``.  sqlglot parses a type in any of DuckDB's spellings
(``INT4``, ``TEXT``, ``REAL``, ``TIME WITH TIME ZONE``), and :func:`normalize_type` prints
it back in that one spelling, nested types included.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ParseError

DType = exp.DataType.Type

# sqlglot prints some DuckDB types under other names; show users DuckDB's own.
_DUCKDB_NAMES = {
    DType.TEXT: "VARCHAR", DType.VARCHAR: "VARCHAR", DType.NVARCHAR: "VARCHAR",
    DType.CHAR: "VARCHAR", DType.NCHAR: "VARCHAR", DType.INT: "INTEGER",
    DType.INT128: "HUGEINT", DType.UINT128: "UHUGEINT", DType.FLOAT: "FLOAT",
    DType.VARBINARY: "BLOB", DType.BINARY: "BLOB", DType.UINT: "UINTEGER",
    DType.TIMESTAMPNTZ: "TIMESTAMP",
}
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOWER_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _field_name(name: str, fold: bool) -> str:
    name = name.lower() if fold else name
    plain = _LOWER_NAME if fold else _PLAIN_NAME
    return name if plain.match(name) else '"' + name.replace('"', '""') + '"'


def _spell(dt: exp.DataType, fold: bool) -> str:
    kind = dt.this
    if kind == DType.ARRAY and dt.expressions:
        return _spell(dt.expressions[0], fold) + "[]"
    if kind == DType.STRUCT:
        fields = []
        for field in dt.expressions:
            if not isinstance(field, exp.ColumnDef) or not isinstance(field.kind, exp.DataType):
                return dt.sql(dialect="duckdb")
            fields.append(f"{_field_name(field.name, fold)} {_spell(field.kind, fold)}")
        return f"STRUCT({', '.join(fields)})"
    if kind == DType.MAP and len(dt.expressions) == 2:
        key, value = (_spell(e, fold) for e in dt.expressions)
        return f"MAP({key}, {value})"
    if kind in _DUCKDB_NAMES:
        return _DUCKDB_NAMES[kind]
    return dt.sql(dialect="duckdb")


@lru_cache(maxsize=4096)
def normalize_type(text: str) -> str:
    """A DuckDB type in one canonical spelling (``INT``, ``INT4`` → ``INTEGER``; ``STRUCT(a
    INT, b TEXT)`` → ``STRUCT(a INTEGER, b VARCHAR)``).

    Cached: every query checks each column it reads against its contract, and parsing
    the same few type names over and over cost ~1.5 ms a query (measured on TPC-H q02).
    """
    try:
        return _spell(exp.DataType.build(text, dialect="duckdb"), fold=False)
    except (ParseError, ValueError):
        return text.strip().upper()


@lru_cache(maxsize=4096)
def type_key(text: str) -> str:
    """What two spellings of one type have in common: :func:`normalize_type` with
    struct field names folded to lower case (DuckDB matches them case-insensitively)."""
    try:
        return _spell(exp.DataType.build(text, dialect="duckdb"), fold=True)
    except (ParseError, ValueError):
        return text.strip().upper()


def same_type(a: str, b: str) -> bool:
    """True if ``a`` and ``b`` spell the same DuckDB type."""
    return type_key(a) == type_key(b)


_ARROW_TO_DUCKDB = {
    pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
    pa.uint8(): "UTINYINT", pa.uint16(): "USMALLINT", pa.uint32(): "UINTEGER",
    pa.uint64(): "UBIGINT", pa.float16(): "FLOAT", pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN", pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR", pa.string_view(): "VARCHAR", pa.binary(): "BLOB",
    pa.large_binary(): "BLOB", pa.binary_view(): "BLOB", pa.date32(): "DATE",
    pa.date64(): "DATE", pa.null(): '"NULL"',
}
_EXTENSIONS = {"arrow.uuid": "UUID", "arrow.json": "JSON"}


def _arrow(arrow_type: pa.DataType) -> str:
    if arrow_type in _ARROW_TO_DUCKDB:
        return _ARROW_TO_DUCKDB[arrow_type]
    if isinstance(arrow_type, pa.ExtensionType | pa.BaseExtensionType):
        name = getattr(arrow_type, "extension_name", "")
        return _EXTENSIONS.get(name) or _arrow(arrow_type.storage_type)
    if pa.types.is_dictionary(arrow_type):
        return _arrow(arrow_type.value_type)
    if pa.types.is_decimal(arrow_type):
        # DuckDB's decimals go to 38 digits; wider ones are read as DOUBLE.
        if arrow_type.precision > 38:
            return "DOUBLE"
        return f"DECIMAL({arrow_type.precision}, {arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        zone = "TZ" if arrow_type.tz else ""
        return f"TIMESTAMP{zone}_NS" if arrow_type.unit == "ns" else f"TIMESTAMP{zone}"
    if pa.types.is_time(arrow_type):
        return "TIME_NS" if arrow_type.unit == "ns" else "TIME"
    if pa.types.is_fixed_size_binary(arrow_type):
        return "BLOB"
    if pa.types.is_map(arrow_type):
        return f"MAP({_arrow(arrow_type.key_type)}, {_arrow(arrow_type.item_type)})"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or \
            pa.types.is_fixed_size_list(arrow_type) or pa.types.is_list_view(arrow_type) or \
            pa.types.is_large_list_view(arrow_type):
        return _arrow(arrow_type.value_type) + "[]"
    if pa.types.is_struct(arrow_type):
        fields = ", ".join(f"{_field_name(f.name, fold=False)} {_arrow(f.type)}"
                           for f in arrow_type)
        return f"STRUCT({fields})"
    if pa.types.is_interval(arrow_type) or pa.types.is_duration(arrow_type):
        return "INTERVAL"
    return str(arrow_type).upper()


def duckdb_type(arrow_type: pa.DataType) -> str:
    """The type DuckDB's Parquet reader gives a column of ``arrow_type`` (as pyarrow reads
    the Parquet schema), in the canonical spelling."""
    return normalize_type(_arrow(arrow_type))


def leaf_count(arrow_type: pa.DataType) -> int:
    """How many Parquet leaf columns hold a field of ``arrow_type`` (1 unless nested)."""
    if isinstance(arrow_type, pa.ExtensionType | pa.BaseExtensionType):
        return leaf_count(arrow_type.storage_type)
    if pa.types.is_struct(arrow_type):
        return sum(leaf_count(f.type) for f in arrow_type) or 1
    if pa.types.is_map(arrow_type):
        return leaf_count(arrow_type.key_type) + leaf_count(arrow_type.item_type)
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or \
            pa.types.is_fixed_size_list(arrow_type):
        return leaf_count(arrow_type.value_type)
    return 1


def is_nested(type_text: str) -> bool:
    """True for LIST, STRUCT, MAP (and UNION) types, in any spelling."""
    key = type_key(type_text)
    return key.endswith("[]") or key.startswith(("STRUCT(", "MAP(", "UNION("))
