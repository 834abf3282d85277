"""A grant's row filter means what DuckDB reads in its text, or it is refused.

The caller's SQL goes through the pipeline's parser, which keeps some DuckDB calls as
written and refuses constructs sqlglot reads otherwise.  A row filter is parsed here, by
governance alone, and used to skip those steps: ``jaro_winkler_similarity(region,
:region, 0.99) >= 0.99`` ran as ``jaro_winkler_similarity(upper(region), upper('EU'))``
(the cutoff read as a case flag), so the filter kept ``'eu'`` and near matches that
DuckDB's own reading drops — a grant that let more rows through than its text says.
:func:`as_duckdb_reads` applies the same rules to a filter:

- kept as DuckDB's own calls (the same name and arguments, in order):
  ``reduce(l, lambda, init)``, ``jaro_winkler_similarity(a, b, cutoff)``, ``date_add(d, n)``;
- dollar-quoted strings (``$$EU$$``) are ordinary string literals;
- refused, naming the construct: ``a <=> b`` (DuckDB's cosine distance, sqlglot's
  null-safe equality), ``position(a, b)``, ``decode(b, option)``, a bare name as the
  part of ``date_trunc``/``date_diff`` (DuckDB reads a column), and any keyword or type
  name that is not a plain word — sqlglot writes those back verbatim, so
  ``date_add(d, 1, 'DAY) …')`` or ``CAST(x AS "…")`` put text into the executed SQL.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import TokenError

from federation.governance.calls import as_written, misread_call, verbatim_text


def text_problem(text: str) -> str | None:
    """What in the filter's text sqlglot would read otherwise than DuckDB, or None."""
    try:
        tokens = DuckDB.Tokenizer().tokenize(text)
    except TokenError:
        return None  # the parser reports it
    problem = misread_call(tokens)
    return None if problem is None else f"row_filter: {problem}"


def _as_written(node: exp.Expr) -> exp.Expr | None:
    if isinstance(node, exp.RawString):  # $$…$$: a string literal (the parser's rule too)
        return exp.Literal.string(node.this)
    return as_written(node)


def as_duckdb_reads(expression: exp.Expr) -> exp.Expr | str:
    """``expression`` with the calls above kept as DuckDB's, or a problem (str)."""
    for node in list(expression.walk()):
        text = verbatim_text(node)
        if text is None:
            continue
        if isinstance(node, exp.DataType):
            return f"row_filter names the type {text!r}, which is not a DuckDB type"
        return f"row_filter has the keyword {text!r} where DuckDB takes a plain word (a " \
               "unit, a part): write the keyword itself"
    for node in list(expression.walk()):
        call = _as_written(node)
        if call is None:
            continue
        if node is expression:
            expression = call
        else:
            node.replace(call)
    return expression
