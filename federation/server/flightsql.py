"""The Arrow Flight SQL protocol messages duckmesh speaks, defined from the specification.

pyarrow ships Flight (the transport) but not Flight SQL's protobuf messages, so the ones
the server and :mod:`federation.server.client` use are declared here, field by field, as
``format/FlightSql.proto`` numbers them, with a small protobuf wire codec: varints and
length-delimited fields are all these messages need.  Commands travel wrapped in
``google.protobuf.Any`` (``type.googleapis.com/arrow.flight.protocol.sql.<Message>``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from federation.errors import UsageError

PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."
FLIGHT_PREFIX = "type.googleapis.com/arrow.flight.protocol."

# Field kinds: how a value is written on the wire.
VARINT = ("int32", "int64", "uint32", "bool", "enum")
LENGTH = ("string", "bytes")

Spec = tuple[tuple[int, str, str, bool], ...]
"""(number, name, kind, repeated) per field."""


def _f(number: int, name: str, kind: str, repeated: bool = False) -> tuple[int, str, str, bool]:
    return (number, name, kind, repeated)


MESSAGES: dict[str, Spec] = {
    # Commands in FlightDescriptor.cmd (GetFlightInfo / GetSchema / DoPut).
    "CommandStatementQuery": (_f(1, "query", "string"), _f(2, "transaction_id", "bytes")),
    "CommandPreparedStatementQuery": (_f(1, "prepared_statement_handle", "bytes"),),
    "CommandStatementUpdate": (_f(1, "query", "string"), _f(2, "transaction_id", "bytes")),
    "CommandPreparedStatementUpdate": (_f(1, "prepared_statement_handle", "bytes"),),
    "CommandStatementSubstraitPlan": (_f(1, "plan", "bytes"), _f(2, "transaction_id", "bytes")),
    "CommandStatementIngest": (_f(2, "table", "string"),),
    "CommandGetSqlInfo": (_f(1, "info", "uint32", True),),
    "CommandGetXdbcTypeInfo": (_f(1, "data_type", "int32"),),
    "CommandGetCatalogs": (),
    "CommandGetDbSchemas": (_f(1, "catalog", "string"),
                            _f(2, "db_schema_filter_pattern", "string")),
    "CommandGetTables": (_f(1, "catalog", "string"), _f(2, "db_schema_filter_pattern", "string"),
                         _f(3, "table_name_filter_pattern", "string"),
                         _f(4, "table_types", "string", True), _f(5, "include_schema", "bool")),
    "CommandGetTableTypes": (),
    "CommandGetPrimaryKeys": (_f(1, "catalog", "string"), _f(2, "db_schema", "string"),
                              _f(3, "table", "string")),
    "CommandGetExportedKeys": (_f(1, "catalog", "string"), _f(2, "db_schema", "string"),
                               _f(3, "table", "string")),
    "CommandGetImportedKeys": (_f(1, "catalog", "string"), _f(2, "db_schema", "string"),
                               _f(3, "table", "string")),
    "CommandGetCrossReference": (_f(1, "pk_catalog", "string"), _f(2, "pk_db_schema", "string"),
                                 _f(3, "pk_table", "string"), _f(4, "fk_catalog", "string"),
                                 _f(5, "fk_db_schema", "string"), _f(6, "fk_table", "string")),
    # Tickets and results.
    "TicketStatementQuery": (_f(1, "statement_handle", "bytes"),),
    "DoPutUpdateResult": (_f(1, "record_count", "int64"),),
    "DoPutPreparedStatementResult": (_f(1, "prepared_statement_handle", "bytes"),),
    # Actions.
    "ActionCreatePreparedStatementRequest": (_f(1, "query", "string"),
                                             _f(2, "transaction_id", "bytes")),
    "ActionCreatePreparedStatementResult": (_f(1, "prepared_statement_handle", "bytes"),
                                            _f(2, "dataset_schema", "bytes"),
                                            _f(3, "parameter_schema", "bytes")),
    "ActionClosePreparedStatementRequest": (_f(1, "prepared_statement_handle", "bytes"),),
    "ActionCancelQueryRequest": (_f(1, "info", "bytes"),),
    "ActionCancelQueryResult": (_f(1, "result", "enum"),),
}

# Flight (not Flight SQL) messages used by the cancel actions.
FLIGHT_MESSAGES: dict[str, Spec] = {
    "CancelFlightInfoRequest": (_f(1, "info", "bytes"),),
    "CancelFlightInfoResult": (_f(1, "status", "enum"),),
}

CANCELLED, NOT_CANCELLABLE = 1, 3
"""CancelStatus / CancelResult values: the query was cancelled; nothing to cancel."""

# -- the wire codec -----------------------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32/int64 are written as 10-byte two's complement
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise UsageError("malformed Flight SQL message (truncated varint)")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for every field of an encoded message."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
            yield number, wire, value
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise UsageError("malformed Flight SQL message (truncated field)")
            yield number, wire, data[pos:pos + size]
            pos += size
        elif wire in (1, 5):  # fixed 64/32-bit: none of ours, skipped as unknown
            pos += 8 if wire == 1 else 4
        else:
            raise UsageError(f"malformed Flight SQL message (wire type {wire})")


def _scalar(kind: str, wire: int, value: int | bytes) -> Any:
    if kind in VARINT:
        if wire != 0 or not isinstance(value, int):
            raise UsageError("malformed Flight SQL message (expected a number)")
        if kind == "bool":
            return bool(value)
        if kind in ("int32", "int64") and value >= 1 << 63:
            return value - (1 << 64)
        return value
    if wire != 2 or not isinstance(value, bytes):
        raise UsageError("malformed Flight SQL message (expected text or bytes)")
    if kind == "string":
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise UsageError("malformed Flight SQL message (text is not UTF-8)") from None
    return value


def decode(spec: Spec, data: bytes) -> dict[str, Any]:
    """The fields of ``data`` by name; absent optional fields are missing from the dict,
    repeated fields are lists (packed or not)."""
    by_number = {number: (name, kind, repeated) for number, name, kind, repeated in spec}
    out: dict[str, Any] = {name: [] for _, name, _, repeated in spec if repeated}
    for number, wire, value in _fields(data):
        if number not in by_number:
            continue  # unknown fields are ignored, as protobuf does
        name, kind, repeated = by_number[number]
        if repeated and kind in VARINT and wire == 2 and isinstance(value, bytes):
            pos = 0
            while pos < len(value):  # packed
                item, pos = _read_varint(value, pos)
                out[name].append(_scalar(kind, 0, item))
        elif repeated:
            out[name].append(_scalar(kind, wire, value))
        else:
            out[name] = _scalar(kind, wire, value)
    return out


def encode(spec: Spec, values: dict[str, Any]) -> bytes:
    """``values`` (by field name) encoded; None and missing fields are left out."""
    out = bytearray()
    for number, name, kind, repeated in spec:
        value = values.get(name)
        if value is None:
            continue
        for item in (value if repeated else [value]):
            if kind in VARINT:
                out += _varint(number << 3) + _varint(int(item))
            else:
                raw = item.encode() if isinstance(item, str) else bytes(item)
                out += _varint(number << 3 | 2) + _varint(len(raw)) + raw
    return bytes(out)


_ANY: Spec = (_f(1, "type_url", "string"), _f(2, "value", "bytes"))


def pack(message: str, values: dict[str, Any] | None = None) -> bytes:
    """A Flight SQL message wrapped in ``google.protobuf.Any``."""
    if message in MESSAGES:
        spec, url = MESSAGES[message], PREFIX + message
    else:
        spec, url = FLIGHT_MESSAGES[message], FLIGHT_PREFIX + message
    return encode(_ANY, {"type_url": url, "value": encode(spec, values or {})})


def unpack(data: bytes) -> tuple[str, dict[str, Any]]:
    """The message name and fields of an ``Any``-wrapped Flight SQL message.

    A message this module does not declare comes back with its name and no fields, so
    the server can refuse it by name.
    """
    wrapper = decode(_ANY, data)
    url = str(wrapper.get("type_url", ""))
    if not url.startswith(PREFIX):
        raise UsageError("not a Flight SQL command")
    name = url[len(PREFIX):]
    spec = MESSAGES.get(name)
    return name, decode(spec, wrapper.get("value", b"")) if spec is not None else {}


def message(name: str, data: bytes) -> dict[str, Any]:
    """An action body: the message ``name``, ``Any``-wrapped (as Flight SQL clients send
    it) or bare."""
    spec = MESSAGES.get(name) or FLIGHT_MESSAGES[name]
    try:
        wrapper = decode(_ANY, data)
    except UsageError:
        wrapper = {}
    if str(wrapper.get("type_url", "")).endswith("." + name):
        return decode(spec, wrapper.get("value", b""))
    return decode(spec, data)


def bare(name: str, values: dict[str, Any]) -> bytes:
    """A bare (not ``Any``-wrapped) message."""
    spec = MESSAGES.get(name) or FLIGHT_MESSAGES[name]
    return encode(spec, values)


def serialize_schema(schema: pa.Schema) -> bytes:
    """A schema as an IPC message, as Flight SQL's ``*_schema`` fields carry it."""
    data: bytes = schema.serialize().to_pybytes()
    return data


# -- result schemas of the metadata commands (from the specification) ----------------------

CATALOGS_SCHEMA = pa.schema([pa.field("catalog_name", pa.utf8(), nullable=False)])
DB_SCHEMAS_SCHEMA = pa.schema([pa.field("catalog_name", pa.utf8()),
                               pa.field("db_schema_name", pa.utf8(), nullable=False)])
TABLES_SCHEMA = pa.schema([pa.field("catalog_name", pa.utf8()),
                           pa.field("db_schema_name", pa.utf8()),
                           pa.field("table_name", pa.utf8(), nullable=False),
                           pa.field("table_type", pa.utf8(), nullable=False)])
TABLES_WITH_SCHEMA = TABLES_SCHEMA.append(pa.field("table_schema", pa.binary(), nullable=False))
TABLE_TYPES_SCHEMA = pa.schema([pa.field("table_type", pa.utf8(), nullable=False)])
PRIMARY_KEYS_SCHEMA = pa.schema([
    pa.field("catalog_name", pa.utf8()), pa.field("db_schema_name", pa.utf8()),
    pa.field("table_name", pa.utf8(), nullable=False),
    pa.field("column_name", pa.utf8(), nullable=False), pa.field("key_name", pa.utf8()),
    pa.field("key_sequence", pa.int32(), nullable=False)])
KEYS_SCHEMA = pa.schema([
    pa.field("pk_catalog_name", pa.utf8()), pa.field("pk_db_schema_name", pa.utf8()),
    pa.field("pk_table_name", pa.utf8(), nullable=False),
    pa.field("pk_column_name", pa.utf8(), nullable=False),
    pa.field("fk_catalog_name", pa.utf8()), pa.field("fk_db_schema_name", pa.utf8()),
    pa.field("fk_table_name", pa.utf8(), nullable=False),
    pa.field("fk_column_name", pa.utf8(), nullable=False),
    pa.field("key_sequence", pa.int32(), nullable=False), pa.field("fk_key_name", pa.utf8()),
    pa.field("pk_key_name", pa.utf8()), pa.field("update_rule", pa.uint8(), nullable=False),
    pa.field("delete_rule", pa.uint8(), nullable=False)])
XDBC_TYPE_INFO_SCHEMA = pa.schema([
    pa.field("type_name", pa.utf8(), nullable=False),
    pa.field("data_type", pa.int32(), nullable=False), pa.field("column_size", pa.int32()),
    pa.field("literal_prefix", pa.utf8()), pa.field("literal_suffix", pa.utf8()),
    pa.field("create_params", pa.list_(pa.field("item", pa.utf8(), nullable=False))),
    pa.field("nullable", pa.int32(), nullable=False),
    pa.field("case_sensitive", pa.bool_(), nullable=False),
    pa.field("searchable", pa.int32(), nullable=False),
    pa.field("unsigned_attribute", pa.bool_()),
    pa.field("fixed_prec_scale", pa.bool_(), nullable=False),
    pa.field("auto_increment", pa.bool_()), pa.field("local_type_name", pa.utf8()),
    pa.field("minimum_scale", pa.int32()), pa.field("maximum_scale", pa.int32()),
    pa.field("sql_data_type", pa.int32(), nullable=False),
    pa.field("datetime_subcode", pa.int32()), pa.field("num_prec_radix", pa.int32()),
    pa.field("interval_precision", pa.int32())])

_SQL_INFO_VALUE = pa.dense_union([
    pa.field("string_value", pa.utf8()),
    pa.field("bool_value", pa.bool_()),
    pa.field("bigint_value", pa.int64()),
    pa.field("int32_bitmask", pa.int32()),
    pa.field("string_list", pa.list_(pa.field("item", pa.utf8()))),
    pa.field("int32_to_int32_list_map",
             pa.map_(pa.int32(), pa.list_(pa.field("item", pa.int32())))),
])
SQL_INFO_SCHEMA = pa.schema([pa.field("info_name", pa.uint32(), nullable=False),
                             pa.field("value", _SQL_INFO_VALUE, nullable=False)])

# SqlInfo ids (the SqlInfo enum of the specification) and duckmesh's answers.
SQL_INFO: dict[int, str | bool | int | list[str]] = {
    0: "duckmesh",             # FLIGHT_SQL_SERVER_NAME
    2: pa.__version__,         # FLIGHT_SQL_SERVER_ARROW_VERSION
    3: True,                   # FLIGHT_SQL_SERVER_READ_ONLY
    4: True,                   # FLIGHT_SQL_SERVER_SQL
    5: False,                  # FLIGHT_SQL_SERVER_SUBSTRAIT
    8: 0,                      # FLIGHT_SQL_SERVER_TRANSACTION: none (int32)
    9: True,                   # FLIGHT_SQL_SERVER_CANCEL
    500: False,                # SQL_DDL_CATALOG
    501: False,                # SQL_DDL_SCHEMA
    502: False,                # SQL_DDL_TABLE
    503: 1,                    # SQL_IDENTIFIER_CASE: case-insensitive (int32)
    504: '"',                  # SQL_IDENTIFIER_QUOTE_CHAR
    505: 1,                    # SQL_QUOTED_IDENTIFIER_CASE: case-insensitive (int32)
    506: True,                 # SQL_ALL_TABLES_ARE_SELECTABLE (the list is what you may read)
    529: "domain",             # SQL_SCHEMA_TERM
    531: "",                   # SQL_CATALOG_TERM: no catalogs (names are domain.product)
    532: False,                # SQL_CATALOG_AT_START
    563: False,                # SQL_TRANSACTIONS_SUPPORTED
}
_INT32_INFO = {8, 503, 505}


def sql_info_table(version: str, wanted: list[int]) -> pa.Table:
    """The GetSqlInfo answer for the ids in ``wanted`` (all known ids if empty)."""
    answers = {**SQL_INFO, 1: version}  # FLIGHT_SQL_SERVER_VERSION
    ids = [i for i in (wanted or sorted(answers)) if i in answers]
    codes, offsets, names = [], [], []
    children: list[list[Any]] = [[] for _ in range(6)]
    for info in ids:
        value = answers[info]
        if isinstance(value, bool):
            code = 1
        elif isinstance(value, int):
            code = 3 if info in _INT32_INFO else 2
        elif isinstance(value, list):
            code = 4
        else:
            code = 0
        names.append(info)
        codes.append(code)
        offsets.append(len(children[code]))
        children[code].append(value)
    arrays = [pa.array(values, type=field.type)
              for values, field in zip(children, _SQL_INFO_VALUE, strict=True)]
    union = pa.UnionArray.from_dense(
        pa.array(codes, type=pa.int8()), pa.array(offsets, type=pa.int32()), arrays,
        [f.name for f in _SQL_INFO_VALUE], list(range(6)))
    return pa.Table.from_arrays([pa.array(names, type=pa.uint32()), union],
                                schema=SQL_INFO_SCHEMA)
