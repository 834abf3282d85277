"""DuckDB spellings sqlglot reads into a tree that must be checked or made plain before
the rest of the pipeline sees it (called by :mod:`federation.pipeline.parse`).

- ``E'…'`` escape strings: sqlglot reads them as ``ByteString`` nodes holding the decoded
  text.  Each one becomes an ordinary string literal, after checking that sqlglot decoded
  every escape string of the text exactly as DuckDB's scanner does (:func:`decode_escape`)
  and that DuckDB would accept it (valid UTF-8, no NUL).
- ``COLLATE``: the collation is a name, but sqlglot reads ``noaccent.nocase`` as a
  *column* ``nocase`` of a table ``noaccent`` (which authorization would then look up).
  Only DuckDB's built-in collations are allowed; the name becomes a keyword node.
- ``<->`` (list distance) and ``<@`` (contained by): DuckDB binds them looser than
  arithmetic and ``||``, sqlglot tighter; the text round-trips but the tree would not say
  what DuckDB computes.  Allowed where both agree: operands and the place the operator
  stands in hold no arithmetic unless parenthesized.
- The postfix factorial ``4!`` sqlglot cannot parse; refused with the fix.
"""

from __future__ import annotations

import re
from collections import Counter

from sqlglot import TokenType, exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import TokenError

from federation.errors import QueryRejected

COLLATIONS = frozenset({"nocase", "noaccent", "nfc"})
"""DuckDB's built-in collations (``pragma_collations()`` lists them beside ICU's locale
collations, which depend on the ICU build and are not allowed)."""

# -- E'…' escape strings ------------------------------------------------------------------

_SIMPLE = {"b": b"\x08", "f": b"\x0c", "n": b"\n", "r": b"\r", "t": b"\t"}
_OCTAL = re.compile(r"[0-7]{1,3}")
_HEX = re.compile(r"[0-9A-Fa-f]{1,2}")


def decode_escape(body: str) -> bytes:
    """The bytes DuckDB's scanner makes of the text between ``E'`` and ``'``: ``''`` and
    ``\\'`` a quote, ``\\b \\f \\n \\r \\t``, ``\\ooo`` octal and ``\\xHH`` hex bytes
    (taken modulo 256), any other ``\\c`` the character c (``\\u`` is a ``u``)."""
    out = bytearray()
    i = 0
    while i < len(body):
        char = body[i]
        if char == "'":  # only doubled inside the literal
            out += b"'"
            i += 2
            continue
        if char != "\\" or i + 1 == len(body):
            out += char.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _SIMPLE:
            out += _SIMPLE[nxt]
            i += 2
        elif (octal := _OCTAL.match(body, i + 1)) is not None:
            out.append(int(octal.group(), 8) & 0xFF)
            i = octal.end()
        elif nxt == "x" and (hexa := _HEX.match(body, i + 2)) is not None:
            out.append(int(hexa.group(), 16))
            i = hexa.end()
        else:
            out += nxt.encode("utf-8")
            i += 2
    return bytes(out)


def _escape_string_value(raw: str) -> str:
    """The text DuckDB reads for the escape string token ``raw`` (``E'…'``), or
    QueryRejected where DuckDB refuses it."""
    data = decode_escape(raw[2:-1])
    if b"\x00" in data:
        raise QueryRejected("an escape string (E'…') may not hold a NUL character "
                            "(DuckDB refuses it)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise QueryRejected("an escape string (E'…') whose bytes are not valid UTF-8 "
                            "(DuckDB refuses it)") from None


def plain_escape_strings(sql: str, nodes: list[exp.ByteString]) -> None:
    """Each ``E'…'`` node (``nodes``, from ``sql``) as an ordinary string literal of the
    same text, once every one is known to hold what DuckDB reads."""
    try:
        tokens = DuckDB.Tokenizer().tokenize(sql)
    except TokenError:
        tokens = []
    expected = Counter(_escape_string_value(sql[t.start:t.end + 1]) for t in tokens
                       if t.token_type == TokenType.BYTE_STRING)
    if Counter(str(node.this) for node in nodes) != expected:
        raise QueryRejected("this escape string (E'…') cannot be read exactly as DuckDB "
                            "reads it; write the text in an ordinary string literal")
    for node in nodes:
        node.replace(exp.Literal.string(str(node.this)))


# -- COLLATE ------------------------------------------------------------------------------

def _collation_parts(name: exp.Expr) -> list[str] | None:
    """The dotted parts of a collation name as sqlglot read it (DuckDB splits a quoted or
    string name at its dots too: ``'noaccent.nocase'``)."""
    if isinstance(name, exp.Identifier | exp.Var) or \
            (isinstance(name, exp.Literal) and name.is_string):
        return str(name.this).split(".")
    if isinstance(name, exp.Column):
        parts = [name.args.get(k) for k in ("catalog", "db", "table", "this")]
        if all(isinstance(p, exp.Identifier) or p is None for p in parts):
            return ".".join(str(p.this) for p in parts if p is not None).split(".")
    return None


def collation(name: exp.Expr) -> str:
    """The collation ``name`` spells (``nocase``, ``noaccent.nocase``), lower case, or
    QueryRejected unless each of its parts is one of :data:`COLLATIONS`."""
    parts = _collation_parts(name)
    if parts is None:
        raise QueryRejected("COLLATE takes a collation name (nocase, noaccent, nfc)")
    lowered = [p.lower() for p in parts]
    unknown = [p for p, low in zip(parts, lowered, strict=True) if low not in COLLATIONS]
    if unknown or not lowered:
        shown = unknown[0] if unknown else ""
        raise QueryRejected(f"unknown or unsupported collation {shown!r}: a governed query "
                            "may use DuckDB's built-in collations nocase, noaccent and nfc "
                            "(combined as noaccent.nocase)")
    return ".".join(lowered)


def plain_collations(nodes: list[exp.Collate]) -> None:
    """Each COLLATE's name as a keyword, checked (never a column reference)."""
    for node in nodes:
        node.set("expression", exp.Var(this=collation(node.expression)))


# -- <-> and <@ -----------------------------------------------------------------------------

LOOSE_OPERATORS = (exp.Distance, exp.ArrayContainedBy)
_SYMBOL: dict[type[exp.Expr], str] = {exp.Distance: "<->", exp.ArrayContainedBy: "<@"}


def _arithmetic(node: exp.Expr | None) -> bool:
    """True for an operator sqlglot and DuckDB may group differently around ``<->``:
    a binary operator other than a comparison, AND or OR."""
    return isinstance(node, exp.Binary) and not isinstance(node, exp.Predicate | exp.Connector)


def check_loose_operators(nodes: list[exp.Expr]) -> None:
    """QueryRejected for ``<->``/``<@`` next to arithmetic without parentheses (DuckDB
    reads ``a <-> b * 2`` as ``a <-> (b * 2)``, sqlglot as ``(a <-> b) * 2``)."""
    for node in nodes:
        if _arithmetic(node.this) or _arithmetic(node.expression) or \
                _arithmetic(node.parent) or isinstance(node.this, LOOSE_OPERATORS):
            symbol = _SYMBOL[type(node)]
            raise QueryRejected(f"put parentheses around the {symbol} operator and its "
                                f"operands when arithmetic or another operator is next to "
                                f"it: (a) {symbol} (b) (DuckDB binds {symbol} looser than "
                                "arithmetic)")


# -- 4! -------------------------------------------------------------------------------------

def postfix_factorial(sql: str) -> bool:
    """True if ``sql`` has an ``!`` after a value (DuckDB's postfix factorial, ``4!``),
    which sqlglot cannot parse."""
    try:
        tokens = DuckDB.Tokenizer().tokenize(sql)
    except TokenError:
        return False
    values = {TokenType.NUMBER, TokenType.R_PAREN, TokenType.VAR, TokenType.IDENTIFIER,
              TokenType.R_BRACKET}
    return any(t.token_type == TokenType.NOT and t.text == "!" and i > 0 and
               tokens[i - 1].token_type in values and
               not (i + 1 < len(tokens) and tokens[i + 1].text.startswith("~"))  # !~~
               for i, t in enumerate(tokens))
