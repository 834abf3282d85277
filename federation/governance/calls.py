"""DuckDB calls sqlglot reads with another meaning, and how to keep DuckDB's.

One copy for both readers of SQL text: the caller's query (``pipeline/parse.py``, through
``pipeline/functions.py``) and a grant's row filter
(:mod:`federation.governance.filter_calls`).  It lives here, not in the pipeline,
because governance may not import the pipeline; the pipeline imports governance.
"""

from __future__ import annotations

from sqlglot import TokenType, exp
from sqlglot.tokenizer_core import Token

AS_WRITTEN: tuple[type[exp.Expr], ...] = (exp.Reduce, exp.JarowinklerSimilarity, exp.DateAdd)
"""The classes :func:`as_written` may turn back into DuckDB's own call."""

_OPEN = frozenset({TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE})
_CLOSE = frozenset({TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE})


def as_written(node: exp.Expr) -> exp.Anonymous | None:
    """DuckDB's own call for a node sqlglot would write back with another meaning, or None.

    sqlglot reads some DuckDB calls as functions of other dialects and generates those:
    ``reduce(l, lambda, init)`` as ``list_reduce(l, init, lambda)`` (its arguments
    swapped: an error), ``jaro_winkler_similarity(a, b, cutoff)`` with the cutoff taken
    for a case-insensitivity flag (``upper()`` on both sides, the cutoff dropped), and
    ``date_add(d, n)`` — DuckDB's macro ``d + n``, a DATE for a date and a number — as
    ``d + INTERVAL n DAY``, a TIMESTAMP.  These are kept as the caller wrote them: the
    same name and arguments, in order.  ``date_add`` with an interval keeps sqlglot's
    node (``d + INTERVAL …``, the macro's own expression).
    """
    if isinstance(node, exp.Reduce):
        args = [node.this, node.args.get("initial"), node.args.get("merge"),
                node.args.get("finish")]
        return exp.Anonymous(this="reduce", expressions=[a for a in args if a is not None])
    if isinstance(node, exp.JarowinklerSimilarity) and \
            node.args.get("case_insensitive") is not None:
        return exp.Anonymous(this="jaro_winkler_similarity", expressions=[
            node.this, node.expression, node.args["case_insensitive"]])
    if type(node) is exp.DateAdd and not isinstance(node.expression, exp.Interval) and \
            node.args.get("unit") is None:
        return exp.Anonymous(this="date_add", expressions=[node.this, node.expression])
    return None


def top_level_commas(tokens: list[Token], open_at: int) -> int:
    """The commas directly inside the parenthesis at ``open_at`` (not nested deeper):
    how many more arguments than one a call was written with."""
    depth = commas = 0
    for token in tokens[open_at:]:
        if token.token_type in _OPEN:
            depth += 1
        elif token.token_type in _CLOSE:
            depth -= 1
            if depth == 0:
                break
        elif token.token_type == TokenType.COMMA and depth == 1:
            commas += 1
    return commas
