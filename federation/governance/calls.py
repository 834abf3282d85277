"""DuckDB calls sqlglot reads with another meaning, and text it writes back as is.

One copy for every reader of SQL text: the caller's query (``pipeline/parse.py``, through
``pipeline/functions.py``), the sealed tree (``pipeline/seal.py``) and a grant's row
filter (:mod:`federation.governance.filter_calls`).  It lives here, not in the pipeline,
because governance may not import the pipeline; the pipeline imports governance.
"""

from __future__ import annotations

import re

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


PART_FIRST_NAMES = frozenset({"date_trunc", "datetrunc", "date_diff", "datediff"})
"""Functions whose first argument sqlglot turns into a part keyword (``'MONTH'``)."""


def misread_call(tokens: list[Token]) -> str | None:
    """What in the tokens of a text sqlglot reads otherwise than DuckDB, as the sentence
    that refuses it; None if nothing.

    - ``date_trunc(month, ts)``: sqlglot reads the bare name as the part and writes
      ``'MONTH'``, where DuckDB reads a column ``month`` (with a column of that name the
      governed answer differed from the raw one); ``date_trunc(ts, 'month')`` has the
      arguments swapped;
    - ``decode(b, 'ignore')``: the error option is dropped (an error where DuckDB
      answers); ``position(a, b)``: DuckDB cannot parse it, sqlglot runs ``strpos(b, a)``;
    - ``a <=> b``: DuckDB's cosine distance of two lists, sqlglot's null-safe equality.
    """
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.NULLSAFE_EQ:
            return ("the <=> operator is DuckDB's cosine distance: write "
                    "list_cosine_distance(a, b) (or a IS NOT DISTINCT FROM b for equality)")
        if token.token_type not in (TokenType.VAR, TokenType.IDENTIFIER) or \
                i + 1 == len(tokens) or tokens[i + 1].token_type != TokenType.L_PAREN:
            continue
        name = token.text.lower()
        if name in PART_FIRST_NAMES and i + 3 < len(tokens) and tokens[i + 2].token_type \
                in (TokenType.VAR, TokenType.IDENTIFIER) and \
                tokens[i + 3].token_type == TokenType.COMMA:
            first = tokens[i + 2].text
            after = tokens[i + 4] if i + 4 < len(tokens) else None
            if after is not None and after.token_type == TokenType.STRING:
                return (f"{name}() takes the part first: write {name}('{after.text}', "
                        f"{first}{', …' if 'diff' in name else ''})")
            return (f"{name}() takes the part as a string: write {name}('{first.lower()}', "
                    f"…) (a bare name {first} there is read as a column by DuckDB)")
        if name in ("decode", "position") and top_level_commas(tokens, i + 1):
            if name == "decode":
                return ("decode() takes only the blob in a governed query: its error "
                        "option ('ignore', 'replace') would be dropped")
            return ("position() is written position(needle IN haystack); for two "
                    "arguments use strpos(haystack, needle)")
    return None


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
"""A keyword or a dotted chain of them (``noaccent.nocase``): no quote, space, comment
or bracket can be in it."""
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?")


def verbatim_text(node: exp.Expr) -> str | None:
    """The text sqlglot would print ``node`` as, as is, when it is not a plain word (or
    a plain number); None when it is safe.  sqlglot writes a keyword (``Var``: an
    interval unit, an EXTRACT part, a DATE_ADD unit taken from a string), a user-defined
    type name, an unquoted identifier and a number without quoting, so a caller's text
    that reached one would be SQL (``date_add(d, 1, 'DAY AS v, (SELECT …) --')``)."""
    if isinstance(node, exp.Var):
        text = str(node.this)
        return None if _WORD.fullmatch(text) else text
    if isinstance(node, exp.Identifier):
        return None if node.quoted or _WORD.fullmatch(node.name) else node.name
    if isinstance(node, exp.Literal):
        text = str(node.this)
        return None if node.is_string or _NUMBER.fullmatch(text) else text
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.USERDEFINED:
        text = str(node.args.get("kind") or "")
        return None if _WORD.fullmatch(text) else text
    return None
