"""Step 1: SQL text → exactly one sqlglot expression (duckdb dialect), comments dropped.

Long chains of AND, OR and UNION are rebalanced: sqlglot parses ``a AND b AND c …`` as a
tree as deep as the chain is long, and every later walk that looks up a node's ancestors
then costs the square of the chain's length (20,000 AND-ed comparisons did not plan in
150 s).  A balanced tree of the same operands is the same query (the operators are
associative, and the generated SQL prints it the same way) and ``log2(n)`` deep.
"""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ErrorLevel, ParseError, TokenError

from federation.errors import ParseFailed, QueryRejected
from federation.governance.calls import misread_call
from federation.pipeline.functions import AS_WRITTEN, as_written
from federation.pipeline.limits import gc_paused
from federation.pipeline.output_names import duckdb_parse_error
from federation.pipeline.spellings import (
    LOOSE_OPERATORS,
    check_loose_operators,
    plain_collations,
    plain_escape_strings,
    postfix_factorial,
)
from federation.pipeline.statements import desugar

MAX_SQL_LENGTH = 1_000_000
BALANCE_FROM = 16
"""Chains at least this long are rebalanced (shorter ones are left as written)."""


class _CommandFallbackFilter(logging.Filter):
    """Drops sqlglot's warning that it parsed text as a generic command (EXPLAIN, CALL…).

    duckmesh rejects those itself in one line; the warning would print a second line to
    stderr, quoting the caller's SQL.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_CommandFallbackFilter())


def parse(sql: str) -> exp.Expr:
    """Parse one statement (see :func:`_parse`), with the garbage collector paused."""
    with gc_paused():
        return _parse(sql)


_NOTHING_TO_DO: set[type[exp.Expr]] = set()
"""Node classes the walk of :func:`_parse` has nothing to do for but clear comments and
metadata: none of the classes it collects, no chain link (filled as they are met)."""


def _parse(sql: str) -> exp.Expr:
    """Parse one statement; several statements, commands and unparsable text are rejected.

    Comments are removed from the tree: a regenerated comment is a place where text
    the parser did not understand could come back to life.
    """
    if len(sql) > MAX_SQL_LENGTH:
        raise QueryRejected(f"query text is longer than {MAX_SQL_LENGTH} characters")
    try:
        statements = sqlglot.parse(sql, read="duckdb", error_level=ErrorLevel.RAISE)
    except RecursionError:
        raise QueryRejected("the query is nested too deeply to parse",
                            hint="flatten nested subqueries or parentheses") from None
    except (ParseError, TokenError) as exc:
        raise _parse_failed(sql, exc) from None
    real = [s for s in statements if s is not None]
    if not real:
        raise QueryRejected("the query is empty")
    if len(real) > 1:
        raise QueryRejected("exactly one statement is allowed per query "
                            f"(found {len(real)})")
    expression = real[0]
    # One walk does the three things every node needs (a walk of 100,000 nodes is 0.06 s).
    chains = _may_chain(sql)
    heads: list[exp.Expr] = []
    raw_strings: list[exp.RawString] = []
    escape_strings: list[exp.ByteString] = []
    collations: list[exp.Collate] = []
    loose: list[exp.Expr] = []
    written: list[exp.Expr] = []
    lambdas = parts = lossy = 0
    for node in expression.walk():
        node.comments = None
        # Node metadata is ours alone: the pipeline marks its own scans and output names
        # in it, and sqlglot fills it from the caller's text too (positions, and any
        # ``/* sqlglot.meta key=value */`` comment) — a caller could forge a scan mark.
        # Dropping it also makes tree copies 3x faster (positions are deep-copied).
        node._meta = None
        kind = type(node)
        if kind in _NOTHING_TO_DO:
            continue  # one set lookup instead of the chain below, for most nodes
        if isinstance(node, exp.Lambda):
            lambdas += 1
        elif isinstance(node, exp.RawString):
            raw_strings.append(node)
        elif isinstance(node, exp.ByteString):
            escape_strings.append(node)
        elif isinstance(node, exp.Collate):
            collations.append(node)
        elif isinstance(node, LOOSE_OPERATORS):
            loose.append(node)
        elif isinstance(node, _PART_FIRST) and isinstance(node.args.get("unit"), exp.Var):
            parts += 1
        elif isinstance(node, AS_WRITTEN):
            written.append(node)
        elif isinstance(node, _LOSSY):
            lossy += 1
        elif chains and kind in _LINKS and _is_head(node):
            heads.append(node)
        elif kind not in _LINKS and not isinstance(node, _PART_FIRST):
            _NOTHING_TO_DO.add(kind)
    _no_arrow_lambdas(lambdas, sql)
    if parts or lossy:
        _no_misread_calls(sql)
    for node in written:
        call = as_written(node)
        if call is not None:
            node.replace(call)
    for raw in raw_strings:
        # A dollar-quoted string ($$…$$, $tag$…$tag$) is a string literal to DuckDB: one
        # kind of literal for every later step, generated with ordinary quoting.
        raw.replace(exp.Literal.string(raw.this))
    if escape_strings:
        plain_escape_strings(sql, escape_strings)
    plain_collations(collations)
    check_loose_operators(loose)
    desugared = desugar(expression)
    if desugared is not expression or isinstance(expression, _RESHAPED):
        return rebalance(desugared, sql)  # parts may have been copied: look again
    _rebalance_heads(heads)
    return expression


def _offset(sql: str, line: int, col: int) -> int:
    lines = sql.split("\n")
    return sum(len(x) + 1 for x in lines[:max(line - 1, 0)]) + max(col - 1, 0)


def _parse_failed(sql: str, exc: ParseError | TokenError) -> ParseFailed:
    """DuckDB's own words for a syntax error (its parser is asked; nothing runs), with the
    line and a caret; sqlglot's place when DuckDB itself parses the text."""
    if postfix_factorial(sql):
        return ParseFailed("the postfix factorial (n!) is not supported: write "
                           "factorial(n)")
    found = duckdb_parse_error(sql)
    if found is not None:
        reason, offset = found
    else:
        errors = getattr(exc, "errors", None) or [{}]
        offset = _offset(sql, int(errors[0].get("line") or 1), int(errors[0].get("col") or 1))
        reason = "duckmesh cannot parse this construct (DuckDB can)"
    offset = min(max(offset, 0), len(sql))
    start = sql.rfind("\n", 0, offset) + 1
    end = sql.find("\n", offset)
    text = sql[start:end if end >= 0 else len(sql)]
    line = sql.count("\n", 0, offset) + 1
    column = offset - start + 1
    shown, caret = text, column - 1
    if len(text) > 100:  # a long line: the 100 characters around the place
        first = max(0, caret - 50)
        shown, caret = text[first:first + 100], caret - first
    error = ParseFailed(f"could not parse the query at line {line}, column {column}: "
                        f"{reason}")
    error.context = f"  {shown}\n  {' ' * caret}^"
    return error


_RESHAPED = (exp.Describe, exp.Summarize, exp.Pivot, exp.Command)
"""Statements :func:`desugar` may rebuild parts of, copying them."""


def _no_arrow_lambdas(lambdas: int, sql: str) -> None:
    """DuckDB 2.0 refuses the old lambda arrow (``x -> x + 1``); sqlglot parses it into the
    same tree as ``lambda x: x + 1`` and would write it the new way, so the governed query
    would run where the same text run raw fails.  Refused as DuckDB refuses it.
    ``lambdas``: the lambda nodes of the parsed tree."""
    if not lambdas:
        return
    keywords = sum(1 for t in DuckDB.Tokenizer().tokenize(sql)
                   if t.token_type == TokenType.VAR and t.text.lower() == "lambda")
    if keywords < lambdas:
        raise QueryRejected("DuckDB no longer accepts the lambda arrow (x -> x + 1); write "
                            "lambda x: x + 1")


_PART_FIRST = (exp.TimestampTrunc, exp.DateTrunc, exp.DateDiff)
_LOSSY = (exp.Decode, exp.StrPosition, exp.NullSafeEQ)
"""Nodes whose text may hold what sqlglot reads otherwise than DuckDB
(:func:`federation.governance.calls.misread_call`): only then is the text tokenized."""


def _no_misread_calls(sql: str) -> None:
    """QueryRejected when ``sql`` holds a call or operator sqlglot reads otherwise than
    DuckDB (a bare date part, decode's option, position(a, b), ``<=>``)."""
    problem = misread_call(DuckDB.Tokenizer().tokenize(sql))
    if problem is not None:
        raise QueryRejected(problem)


def _chained(node: exp.Expr, head: exp.Expr) -> bool:
    """True if ``node`` continues the chain ``head`` starts (same operator, nothing else)."""
    if type(node) is not type(head):
        return False
    if isinstance(node, exp.Union):
        extra = {k for k, v in node.args.items() if v not in (None, False, [], "")}
        return node.args.get("distinct") == head.args.get("distinct") and \
            extra <= {"this", "expression", "distinct"}
    return True


def _operands(head: exp.Expr, links: list[exp.Expr] | None = None) -> list[exp.Expr]:
    """The operands of the chain starting at ``head``, left to right (no recursion); the
    chain's nodes below ``head`` are added to ``links``."""
    out: list[exp.Expr] = []
    stack = [head.expression, head.this]
    while stack:
        node = stack.pop()
        if node is not head and _chained(node, head):
            stack += [node.expression, node.this]
            if links is not None:
                links.append(node)
        else:
            out.append(node)
    return out


def _may_chain(sql: str) -> bool:
    """False when ``sql`` holds fewer than ``BALANCE_FROM - 1`` of the words AND, OR and
    UNION (counted generously, ``ORDER`` counts): no chain in it can be long."""
    upper = sql.upper()
    return upper.count("AND") + upper.count("OR") + upper.count("UNION") >= BALANCE_FROM - 1


_LINKS = frozenset({exp.And, exp.Or, exp.Union})


def _is_head(node: exp.Expr) -> bool:
    """True if ``node`` starts a chain of two or more of its operator (not inside one)."""
    return isinstance(node, exp.And | exp.Or | exp.Union) \
        and isinstance(node.this, type(node)) \
        and not (node.parent is not None and node.arg_key == "this"
                 and type(node.parent) is type(node) and _chained(node, node.parent))


def rebalance(expression: exp.Expr, sql: str | None = None) -> exp.Expr:
    """``expression`` with every long AND, OR or UNION (ALL) chain as a balanced tree.

    ``sql``, the text it was parsed from: when no chain in it can be long
    (:func:`_may_chain`), the tree is not walked.
    """
    if sql is not None and not _may_chain(sql):
        return expression
    _rebalance_heads([node for node in expression.walk() if _is_head(node)])
    return expression


def _rebalance_heads(heads: list[exp.Expr]) -> None:
    for head in heads:
        links: list[exp.Expr] = []
        operands = _operands(head, links)
        if len(operands) < BALANCE_FROM:
            continue
        middle = len(operands) // 2
        # The head keeps its own place and arguments (a UNION's ORDER BY, LIMIT, WITH);
        # the chain's other nodes (the same operator, nothing else) are used again, in
        # balanced places, rather than made anew and the old ones collected.
        head.set("this", _rebuilt(operands[:middle], links))
        head.set("expression", _rebuilt(operands[middle:], links))
        if links:  # n operands, n - 2 nodes below the head: none can be left
            raise QueryRejected("internal: a chain could not be rebalanced")


def _rebuilt(operands: list[exp.Expr], links: list[exp.Expr]) -> exp.Expr:
    """``operands`` as a balanced tree of nodes taken from ``links`` (one fewer than the
    operands)."""
    if len(operands) == 1:
        return operands[0]
    middle = len(operands) // 2
    node = links.pop()
    node.set("this", _rebuilt(operands[:middle], links))
    node.set("expression", _rebuilt(operands[middle:], links))
    return node
