"""Mask expressions, built as sqlglot nodes.

``hash`` is HMAC-SHA256 keyed with the mesh secret, computed in DuckDB SQL from two
bound parameters (the key XOR-ed with the HMAC pads), so the key never appears in SQL
text, explain output or error messages, and a caller who hashes a guess gets nothing
that matches.  The same value hashes the same way across the mesh, so masked keys
still join.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from sqlglot import exp
from sqlglot.errors import ParseError

from federation.errors import ConfigError
from products.contract import ITEMS, Column

IPAD_PARAM = "duckmesh_mask_ipad"
OPAD_PARAM = "duckmesh_mask_opad"
HASH_HEX_CHARS = 32
"""HMAC-SHA256 truncated to 128 bits: short enough to read, far beyond collisions."""
PARTIAL_KEEP = 4
PARTIAL_MIN_LENGTH = 8
REDACTED = "[REDACTED]"
_BLOCK = 64  # SHA-256 block size in bytes


def hmac_params(key: bytes) -> dict[str, bytes]:
    """The two bound parameters the ``hash`` mask needs (RFC 2104 inner/outer pads)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return {
        IPAD_PARAM: bytes(b ^ 0x36 for b in key),
        OPAD_PARAM: bytes(b ^ 0x5C for b in key),
    }


def reference_hash(key: bytes, value: str) -> str:
    """What the ``hash`` mask yields for ``value``, computed in Python (for tests/tools)."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:HASH_HEX_CHARS]


def _func(name: str, *args: exp.Expr) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _as_text(value: exp.Expr) -> exp.Expr:
    return exp.Cast(this=value, to=exp.DataType(this=exp.DataType.Type.VARCHAR))


def _hash(value: exp.Expr) -> exp.Expr:
    inner = _func("sha256", exp.DPipe(
        this=exp.Placeholder(this=IPAD_PARAM),
        expression=_func("encode", _as_text(value)), safe=True))
    outer = _func("sha256", exp.DPipe(
        this=exp.Placeholder(this=OPAD_PARAM), expression=_func("unhex", inner), safe=True))
    return _func("left", outer, exp.Literal.number(HASH_HEX_CHARS))


def _when_not_null(value: exp.Expr, then: exp.Expr) -> exp.Expr:
    return exp.Case(ifs=[exp.If(this=exp.Is(this=value.copy(), expression=exp.Null()),
                                true=exp.Null())], default=then)


def _partial(value: exp.Expr) -> exp.Expr:
    text = _as_text(value.copy())
    stars = exp.Literal.string("****")
    keep = exp.DPipe(this=stars.copy(), expression=_func(
        "right", text.copy(), exp.Literal.number(PARTIAL_KEEP)), safe=True)
    long_enough = exp.GTE(this=_func("length", text),
                          expression=exp.Literal.number(PARTIAL_MIN_LENGTH))
    return _when_not_null(value, exp.Case(ifs=[exp.If(this=long_enough, true=keep)],
                                          default=stars))


def _year(value: exp.Expr, column: Column) -> exp.Expr:
    trunc = _func("date_trunc", exp.Literal.string("year"), value)
    return exp.Cast(this=trunc, to=exp.DataType.build(column.type, dialect="duckdb"))


def is_temporal(column: Column) -> bool:
    """True for DATE and TIMESTAMP columns, the ones ``year`` can mask."""
    return column.type.upper().startswith(("DATE", "TIMESTAMP"))


def mask_expression(method: str, value: exp.Expr, column: Column) -> exp.Expr:
    """The expression that replaces ``value`` (a raw column) under mask ``method``."""
    if method == "hash":
        return _hash(value)
    if method == "redact":
        return _when_not_null(value, exp.Literal.string(REDACTED))
    if method == "partial":
        return _partial(value)
    if method == "year" and is_temporal(column):
        return _year(value, column)
    if method in ("null", "year"):
        # ``year`` on a column that is not a date hides everything rather than guessing.
        return exp.Cast(this=exp.Null(), to=exp.DataType.build(column.type, dialect="duckdb"))
    raise ConfigError(f"unknown mask method {method!r}", column=column.name)


FieldRule = tuple[str, str | None]
"""What happens to one nested field: (``mask`` or ``deny``, the mask method)."""


class NotRebuildable(ValueError):
    """A classification inside a column that a rebuilt value cannot enforce."""


def nested_mask(value: exp.Expr, column: Column,
                rules: Mapping[tuple[str, ...], FieldRule]) -> exp.Expr | None:
    """``value`` (the raw column) rebuilt with every ruled field masked or left out.

    A struct is rebuilt field by field (``{'a': struct_extract(v, 'a'), …}``, NULL kept
    NULL) and a list through ``list_transform``, so whatever reads the column afterwards
    (``s.*``, ``to_json(s)``, ``unnest``, a cast, the whole row) only ever sees the masked
    value.  None when nothing of the column is left; NotRebuildable (saying why) for a
    path the column's type does not have or that runs through a MAP.
    """
    try:
        dtype = exp.DataType.build(column.type, dialect="duckdb")
    except (ParseError, ValueError):
        raise NotRebuildable(f"the type {column.type!r} of {column.name} cannot be "
                             "rebuilt") from None
    # DuckDB matches struct fields case-insensitively; so does the contract's path.
    lowered = {tuple(step.lower() for step in path): rule for path, rule in rules.items()}
    return _rebuild(value, dtype, lowered, (), column.name)


def _describe(name: str, path: tuple[str, ...]) -> str:
    return ".".join([name, *path]).replace(".[]", "[]")


def _rebuild(value: exp.Expr, dtype: exp.DataType, rules: dict[tuple[str, ...], FieldRule],
             prefix: tuple[str, ...], name: str) -> exp.Expr | None:
    rule = rules.get(prefix)
    if rule is not None:
        action, method = rule
        if action == "deny" or method is None:
            return None
        return mask_expression(method, value, Column(_describe(name, prefix),
                                                     dtype.sql(dialect="duckdb")))
    below = {p[len(prefix)] for p in rules if len(p) > len(prefix) and p[:len(prefix)] == prefix}
    if not below:
        return value
    where = _describe(name, prefix)
    if dtype.this == exp.DataType.Type.STRUCT:
        return _rebuild_struct(value, dtype, rules, prefix, name, below)
    if dtype.this in (exp.DataType.Type.ARRAY, exp.DataType.Type.LIST) and dtype.expressions:
        if below != {ITEMS}:
            raise NotRebuildable(f"{where} is a list: its fields are under {where}[]")
        item = exp.to_identifier(f"duckmesh_item{len(prefix)}")
        inner = _rebuild(exp.column(item.copy()), dtype.expressions[0], rules,
                         (*prefix, ITEMS), name)
        if inner is None:
            return None
        return exp.Transform(this=value, expression=exp.Lambda(this=inner, expressions=[item]))
    kind = "a MAP" if dtype.this == exp.DataType.Type.MAP else f"a {dtype.sql('duckdb')}"
    raise NotRebuildable(f"{where} is {kind}, which duckmesh cannot rebuild with a field "
                         "masked inside it")


def _rebuild_struct(value: exp.Expr, dtype: exp.DataType,
                    rules: dict[tuple[str, ...], FieldRule], prefix: tuple[str, ...],
                    name: str, below: set[str]) -> exp.Expr | None:
    fields = [(d.name, d.args["kind"]) for d in dtype.expressions
              if isinstance(d, exp.ColumnDef) and isinstance(d.args.get("kind"), exp.DataType)]
    if len(fields) != len(dtype.expressions):
        raise NotRebuildable(f"the fields of {_describe(name, prefix)} cannot be read")
    missing = sorted(below - {f.lower() for f, _ in fields})
    if missing:
        raise NotRebuildable(f"{_describe(name, (*prefix, missing[0]))} is not a field of "
                             f"the struct {_describe(name, prefix)}")
    pairs: list[exp.Expr] = []
    for field, kind in fields:
        part = exp.StructExtract(this=value.copy(), expression=exp.Literal.string(field))
        built = _rebuild(part, kind, rules, (*prefix, field.lower()), name)
        if built is not None:
            pairs.append(exp.PropertyEQ(this=exp.to_identifier(field, quoted=True),
                                        expression=built))
    if not pairs:
        return None
    return _when_not_null(value, exp.Struct(expressions=pairs))
