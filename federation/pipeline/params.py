"""Bound parameters: values given beside the SQL (``--param``, ``Mesh.sql(params=)``,
prepared statements, a report's slot) become typed literals in the parsed tree.

Binding happens on the tree, never on the text: a value can only ever be a literal, and
the bound tree then goes through every stage like any other query (the allow-list
refuses any parameter left unbound).  ``$name`` takes a mapping; ``?`` (numbered in the
order written) and ``$1`` take a sequence.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Mapping, Sequence
from typing import Any

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import TokenType

from federation.errors import UsageError
from federation.pipeline.parse import parse
from federation.pipeline.query import GovernedQuery

Params = Mapping[str, Any] | Sequence[Any]
"""Values for a query's parameters: by name (``$name``, or ``$1`` as ``"1"``) or by
position (``?`` or ``$1``, ``$2``…)."""


def bind(sql: str, params: Params | None = None) -> GovernedQuery:
    """``sql`` parsed, with ``params`` bound into the tree as typed literals.

    The bound tree then goes through every stage like any other query: a value can only
    ever be a literal (never SQL), and a query whose parameters and values do not match
    is refused.  The audit records the SQL as the caller wrote it.
    """
    if not params:
        return GovernedQuery(sql=sql, expression=parse(sql))
    if isinstance(params, str | bytes):
        raise UsageError("query parameters must be a mapping or a sequence of values")
    if isinstance(params, Mapping):
        values = {str(k).removeprefix("$"): v for k, v in params.items()}
        text = sql
    else:
        values = {str(i + 1): v for i, v in enumerate(params)}
        text = _number_positional(sql)
    expression = parse(text)
    found = {str(node.name) for node in expression.find_all(exp.Placeholder)}
    if missing := sorted(found - values.keys()):
        raise UsageError(f"no value for the query parameter ${missing[0]}")
    if extra := sorted(values.keys() - found):
        raise UsageError(f"the query has no parameter ${extra[0]}")

    def bind(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Placeholder):
            return _literal(str(node.name), values[str(node.name)])
        return node

    return GovernedQuery(sql=sql, expression=expression.transform(bind))


def _number_positional(sql: str) -> str:
    """``?`` placeholders numbered ``$1``, ``$2``… in the order they are written."""
    try:
        tokens = DuckDB.Tokenizer().tokenize(sql)
    except TokenError:
        return sql  # parse() reports it
    marks = [t for t in tokens if t.token_type == TokenType.PLACEHOLDER and t.text == "?"]
    # The tokenizer reads `$2` as a VAR (the parser makes it a placeholder): count it too.
    named = [t for t in tokens if t.token_type == TokenType.PARAMETER or (
        t.token_type in (TokenType.VAR, TokenType.PLACEHOLDER) and t.text.startswith("$"))]
    if marks and named:
        raise UsageError("a query may not mix ? with $ parameters")
    for number, token in reversed(list(enumerate(marks, start=1))):
        sql = sql[:token.start] + f"${number}" + sql[token.end + 1:]
    return sql


def _literal(name: str, value: Any) -> exp.Expr:
    """A parameter value as a typed literal: what DuckDB would have bound."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        # Cast: a bare number in ORDER BY / GROUP BY would name a column position.
        return exp.cast(exp.Literal.number(value), "BIGINT")
    if isinstance(value, float | decimal.Decimal):
        if not math.isfinite(value):
            raise UsageError(f"parameter ${name}: {value} cannot be bound")
        kind = "DOUBLE" if isinstance(value, float) else "DECIMAL(38, 10)"
        return exp.cast(exp.Literal.number(str(value)), kind)
    if isinstance(value, str):
        if "\0" in value:
            raise UsageError(f"parameter ${name}: text may not hold NUL characters")
        return exp.Literal.string(value)
    if isinstance(value, dt.datetime):
        kind = "TIMESTAMPTZ" if value.tzinfo else "TIMESTAMP"
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), kind)
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    raise UsageError(f"parameter ${name}: a {type(value).__name__} cannot be bound "
                     "(use numbers, text, booleans, dates, timestamps or null)")
