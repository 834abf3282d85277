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

from sqlglot import exp

from federation.errors import ConfigError
from products.contract import Column

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
