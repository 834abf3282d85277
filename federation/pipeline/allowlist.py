"""Step 2: the allow-list.  Default deny on every node of the tree.

Only read-only queries built from a fixed set of well-understood sqlglot node
classes pass; every function must be on the function allow-list.  This is what stops
table functions and file paths (``read_parquet``, ``'x.parquet'``, ``glob``),
``query()``/``query_table()``, introspection and settings functions, parameters that
could read the mask key, DDL/DML/COPY/ATTACH/SET/PRAGMA, time travel and anything else
sqlglot parses but duckdb might read differently.
"""

from __future__ import annotations

import re

from sqlglot import exp

from federation.errors import QueryRejected
from federation.pipeline import functions, spellings, statements
from federation.pipeline.query import Context, GovernedQuery


def _classes(names: str) -> frozenset[type[exp.Expr]]:
    # getattr so that a class renamed in a future sqlglot only makes us stricter.
    found = (getattr(exp, name, None) for name in names.split())
    return frozenset(c for c in found if isinstance(c, type))


STATEMENTS = _classes("Select Union Intersect Except Subquery") | statements.SHELLS

STRUCTURE = _classes("""
    Select Union Intersect Except With CTE Subquery From Join Where Group Having Qualify
    Order Ordered Limit Offset Distinct Column Identifier Table TableAlias Alias Star
    Literal Boolean Null Paren Neg Not And Or EQ NEQ GT GTE LT LTE NullSafeEQ NullSafeNEQ
    Is In Between Like ILike Add Sub Mul Div Mod IntDiv DPipe Window WindowSpec Interval
    Exists Tuple Values Filter Lateral Any All DataType DataTypeParam Case If Cast TryCast
    Var Bracket JSONPath JSONPathKey JSONPathRoot JSONPathSubscript
    Dot Unnest Slice WithinGroup Rollup Cube GroupingSets Lambda PropertyEQ Kwarg
    TableSample JSONKeyValue Columns Pivot PivotAlias UnpivotColumns Describe Summarize Show
    Struct ToMap Array IgnoreNulls RespectNulls BitwiseXor BitwiseAnd BitwiseOr BitwiseNot
    BitwiseLeftShift BitwiseRightShift SimilarTo Glob Comprehension LimitOptions ColumnDef
    AtTimeZone Escape Collate Distance ArrayContainedBy
""")

FUNCTIONS = _classes("""
    Count Sum Avg Min Max Stddev StddevPop StddevSamp Variance VariancePop Median Quantile
    PercentileCont PercentileDisc ApproxDistinct ApproxQuantile CountIf GroupConcat
    LogicalAnd LogicalOr ArgMax ArgMin First Last AnyValue Corr CovarPop CovarSamp Mode
    Abs Round Floor Ceil Ln Log Exp Sqrt Pow Sign Greatest Least Coalesce Nullif
    Lower Upper Length Substring Trim Concat ConcatWs Left Right Pad StrPosition StartsWith
    EndsWith Contains SplitPart RegexpExtract RegexpReplace RegexpLike RegexpFullMatch
    Initcap Reverse Repeat Replace MD5 SHA SHA2
    DateTrunc TimestampTrunc Extract Year Month Day DayOfWeek DayOfYear Quarter Week
    WeekOfYear Hour Minute Second DateDiff DateAdd DateSub TimestampDiff CurrentDate
    CurrentTimestamp StrToTime TimeToStr StrToDate DateFromParts LastDay Date Dayname
    Monthname TsOrDsToDate TimeToUnix
    RowNumber Rank DenseRank PercentRank CumeDist Ntile Lag Lead FirstValue LastValue
    NthValue
    JSONExtract JSONExtractScalar JSONType JSONKeys
    Explode StructExtract MapKeys Array ArrayAgg ArraySize ArrayContains ArrayOverlaps
    ArrayMin ArrayMax ArrayDistinct ArraySort ArrayConcat ArrayToString Flatten Split
    Ascii BitLength Cbrt Chr Factorial DayOfWeekIso Kurtosis Skewness Trunc UnixToTime
    ArrayContainsAll Localtimestamp Localtime CurrentTime
""")

# Every other function is judged by the name DuckDB will call it by
# (:mod:`federation.pipeline.functions`), so the list is kept in DuckDB's words.
ANONYMOUS_FUNCTIONS = functions.ALLOWED

# Var nodes are bare keywords; they are allowed only where sqlglot uses them for units
# and ORDER BY ALL.
VAR_PARENTS = _classes("""
    Interval Extract DateTrunc TimestampTrunc DateDiff DateAdd DateSub TimestampDiff Ordered
    TableSample Collate
""")

SELECT_ARGS = frozenset({
    "expressions", "from_", "from", "joins", "where", "group", "having", "qualify", "order",
    "limit", "offset", "distinct", "with_", "with", "windows", "kind", "exclude",
    "operation_modifiers", "sample",
})
TABLE_ARGS = frozenset({"this", "db", "alias", "sample"})
JOIN_ARGS = frozenset({"this", "on", "using", "side", "kind", "method"})
JOIN_METHODS = frozenset({"ASOF", "POSITIONAL"})
GROUP_ARGS = frozenset({"expressions", "rollup", "cube", "grouping_sets", "all"})
SAMPLE_ARGS = frozenset({"method", "percent", "size", "seed", "rows"})
SAMPLE_METHODS = frozenset({"SYSTEM", "BERNOULLI", "RESERVOIR"})
TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
"""Table functions that read no data: they make values from their arguments."""
SET_OP_ARGS = frozenset({"this", "expression", "distinct", "order", "limit", "offset",
                         "with_", "with", "by_name"})
NOT_IN_PREDICATES = _classes("Columns TableSample Pivot Describe Summarize Show With")
SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_PREFIX = "duckmesh_"


def _reject(what: str) -> QueryRejected:
    return QueryRejected(f"{what} is not allowed in a governed query")


def _check_args(node: exp.Expr, allowed: frozenset[str], what: str) -> None:
    for key, value in node.args.items():
        if value in (None, False, [], "") or key in allowed:
            continue
        raise _reject(f"{what} clause {key.upper().rstrip('_')!r}")


def _function_error(node: exp.Func) -> QueryRejected:
    name = functions.duckdb_name(node)
    close = functions.suggest_function(name)
    if close is not None:
        return QueryRejected(f"function {name}() does not exist or is not allowed in a "
                             f"governed query; did you mean {close}()?",
                             hint="see `duckmesh sql-features`")
    return QueryRejected(f"function {name}() is not allowed in a governed query",
                         hint="see `duckmesh sql-features`")


def check_node(node: exp.Expr) -> None:
    """Raise QueryRejected unless ``node`` (one node, not its children) is allowed."""
    if isinstance(node, exp.Anonymous):
        if str(node.name).lower() not in ANONYMOUS_FUNCTIONS:
            raise _function_error(node)
        return
    if isinstance(node, exp.Func) and type(node) in FUNCTIONS:
        return
    if isinstance(node, exp.Func) and type(node) not in STRUCTURE:
        if not functions.allowed(node):
            raise _function_error(node)
        return
    if type(node) not in STRUCTURE:
        if isinstance(node, exp.Placeholder | exp.Parameter):
            raise _reject("a query parameter")
        if isinstance(node, exp.PositionalColumn):
            raise QueryRejected("positional column references (#1) are not supported; "
                                "name the column")
        if isinstance(node, exp.TableColumn):
            raise _reject(f"a whole-row reference to {node.name!r} (name the columns)")
        raise _reject(f"SQL construct {node.key.upper()!r}")
    if isinstance(node, exp.Var):
        if type(node.parent) not in VAR_PARENTS:
            raise _reject(f"keyword {node.name!r} here")
    # Columns and aliases first: the nodes this function meets most often.
    elif isinstance(node, exp.Column):
        if node.args.get("catalog"):
            raise _reject("a four-part column name")
    elif isinstance(node, exp.TableAlias | exp.Alias):
        _check_alias(node)
    elif isinstance(node, exp.Select):
        _check_args(node, SELECT_ARGS, "SELECT")
        if node.args.get("kind"):
            raise _reject("SELECT " + str(node.args["kind"]).upper())
    elif isinstance(node, exp.Table):
        _check_table(node)
    elif isinstance(node, exp.Join):
        _check_args(node, JOIN_ARGS, "JOIN")
        method = str(node.args.get("method") or "").upper()
        if method and method not in JOIN_METHODS:
            raise _reject(f"{method} JOIN")
    elif isinstance(node, exp.Group):
        _check_args(node, GROUP_ARGS, "GROUP BY")
    elif isinstance(node, exp.TableSample):
        _check_sample(node)
    elif isinstance(node, exp.Columns):
        if not (isinstance(node.this, exp.Star) or
                (isinstance(node.this, exp.Literal) and node.this.is_string)):
            raise _reject("COLUMNS() with anything but a regular expression or *")
    elif type(node) in statements.SHELLS:
        statements.check_shell(node)
    elif isinstance(node, exp.Union | exp.Intersect | exp.Except):
        _check_args(node, SET_OP_ARGS, "set operation")
        if node.args.get("by_name"):
            # Lineage (and so the labels of published columns) follows set operations by
            # position; BY NAME would pair columns it does not see.
            raise _reject("UNION BY NAME")
    elif isinstance(node, exp.CTE):
        name = node.alias_or_name
        if not SAFE_NAME.match(name):
            raise QueryRejected(f"CTE name {name!r} must be a plain identifier")
        if name.lower().startswith(RESERVED_PREFIX):
            # duckmesh's own relations use this prefix; a CTE must not shadow them.
            raise QueryRejected(f"CTE names starting with {RESERVED_PREFIX!r} are reserved")
    elif isinstance(node, exp.Lateral) and not isinstance(node.this,
                                                           exp.Subquery | exp.Unnest):
        raise _reject("LATERAL without a subquery")
    elif isinstance(node, exp.ColumnDef) and not isinstance(node.parent, exp.DataType):
        raise _reject("a column definition")
    elif isinstance(node, exp.Collate):
        # parse made the name a keyword; anything else (a column, in a row filter) is not
        # a collation, and the keyword must name built-in collations only.
        if not isinstance(node.expression, exp.Var) or \
                spellings.collation(node.expression) != node.expression.name:
            raise _reject("this COLLATE")
    elif isinstance(node, exp.Escape):
        _check_escape(node)
    elif isinstance(node, spellings.LOOSE_OPERATORS):
        spellings.check_loose_operators([node])


def _check_alias(node: exp.TableAlias | exp.Alias) -> None:
    """``duckmesh_*`` names are the rewrite's own (``duckmesh_src``): a caller's relation
    of that name could be what a filter's column binds to when a scan lacks it, and a
    caller's *column* of that name binds the same way (``duckmesh_src.s`` reads field s
    of an outer struct column ``duckmesh_src``)."""
    if isinstance(node, exp.TableAlias) and node.name.lower().startswith(RESERVED_PREFIX):
        raise QueryRejected(f"table aliases starting with {RESERVED_PREFIX!r} are reserved")
    if any(c.name.lower().startswith(RESERVED_PREFIX) for c in _alias_columns(node)):
        raise QueryRejected(f"column aliases starting with {RESERVED_PREFIX!r} are reserved")


def _alias_columns(node: exp.TableAlias | exp.Alias) -> list[exp.Expr]:
    """The column names an alias defines: ``AS c``, or ``AS t(c1, c2)``'s list."""
    if isinstance(node, exp.Alias):
        return [node.args["alias"]] if node.args.get("alias") is not None else []
    return list(node.columns)


def _check_escape(node: exp.Escape) -> None:
    """``LIKE`` / ``ILIKE`` / ``NOT LIKE`` … ``ESCAPE 'c'`` only: sqlglot also reads
    ESCAPE after SIMILAR TO and GLOB, and writes ``LIKE ANY (…) ESCAPE`` without the ANY."""
    like = node.this
    if not isinstance(like, exp.Like | exp.ILike) or \
            isinstance(like.expression, exp.Any | exp.All):
        raise _reject("ESCAPE except after LIKE, ILIKE or NOT LIKE")
    if not (isinstance(node.expression, exp.Literal) and node.expression.is_string):
        raise _reject("an ESCAPE that is not a string literal")


def _check_sample(node: exp.TableSample) -> None:
    _check_args(node, SAMPLE_ARGS, "USING SAMPLE")
    method = node.args.get("method")
    if method is not None and str(method.name).upper() not in SAMPLE_METHODS:
        raise _reject(f"sampling method {method.name!r}")
    for key in ("percent", "size", "seed"):
        value = node.args.get(key)
        if value is not None and not isinstance(value, exp.Literal):
            raise _reject("a sample size or seed that is not a number")


def check_table_function(node: exp.Table) -> None:
    """``range``, ``generate_series`` and ``unnest`` in FROM: values from their arguments,
    which hold no column, subquery or anything else that could read data."""
    function = node.this
    name = functions.duckdb_name(function) if isinstance(function, exp.Func) else ""
    if isinstance(function, exp.Unnest) or name in TABLE_FUNCTIONS:
        _check_args(node, TABLE_ARGS, "table function")
        for arg in function.iter_expressions():
            if arg.find(exp.Column, exp.Select, exp.Table) is not None and \
                    not isinstance(function, exp.Unnest):
                raise _reject(f"{name}() over anything but values")
        return
    raise _reject(f"table function {name + '()' if name else 'or expression'} in FROM "
                  "(only range, generate_series and unnest, which read no data)")


def _check_table(node: exp.Table) -> None:
    if not isinstance(node.this, exp.Identifier):
        check_table_function(node)
        return
    if node.args.get("catalog"):
        raise QueryRejected(f"three-part name {node.sql(dialect='duckdb')!r}: name products "
                            "as domain.product")
    if node.args.get("pivots"):
        raise QueryRejected("PIVOT (...) after a table is not supported; write DuckDB's PIVOT "
                            "statement instead: PIVOT domain.product ON column USING sum(x)")
    _check_args(node, TABLE_ARGS, "table")
    if not SAFE_NAME.match(node.name):
        raise QueryRejected(f"table name {node.name!r} is not a product or CTE name "
                            "(file paths cannot be read directly)")
    if node.args.get("db") is not None and not SAFE_NAME.match(node.db):
        raise QueryRejected(f"domain name {node.db!r} must be a plain identifier")


INSPECTED: tuple[type[exp.Expr], ...] = (
    exp.Anonymous, exp.Var, exp.Select, exp.Table, exp.Join, exp.Group, exp.TableSample,
    exp.Columns, exp.Union, exp.Intersect, exp.Except, exp.CTE, exp.Column, exp.Lateral,
    exp.ColumnDef, exp.TableAlias, exp.Alias, exp.Collate, exp.Escape, exp.Distance,
    exp.ArrayContainedBy)
"""The classes :func:`check_node` looks into, beyond their class (each of its
``isinstance`` tests names one of them; a test keeps it so)."""

PASSED: frozenset[type[exp.Expr]] = frozenset(
    c for c in STRUCTURE | {f for f in FUNCTIONS if issubclass(f, exp.Func)}
    if not issubclass(c, INSPECTED) and c not in statements.SHELLS)
"""Classes :func:`check_node` allows on their class alone, whatever the node holds — on
STRUCTURE, or a function on FUNCTIONS — so :func:`check` does not call it for them: most
nodes of a long query are comparisons, identifiers and literals, and the call for each
was most of the allow-list's time."""


def check(expression: exp.Expr) -> exp.Expr:
    """Raise QueryRejected unless the whole tree is on the allow-list; return it unchanged."""
    if type(expression) not in STATEMENTS:
        kind = expression.name if isinstance(expression, exp.Command) else expression.key
        raise QueryRejected(f"only SELECT queries are allowed (got {str(kind).upper()})")
    passed = PASSED
    for node in expression.walk():
        if type(node) not in passed:
            check_node(node)
    return expression


def check_predicate(expression: exp.Expr) -> None:
    """A grant's row filter on the allow-list, node by node; its ``:attribute``
    placeholders are ours (bound to the caller's attributes), not the caller's."""
    for node in expression.walk():
        if type(node) in NOT_IN_PREDICATES:
            # Expanded or governed by the pipeline only in the caller's query; in a row
            # filter they would meet the raw columns below the masks.
            raise _reject(f"{node.key.upper()} in a row filter")
        if not isinstance(node, exp.Placeholder):
            check_node(node)


def allowlist(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """The allow-list as a pipeline step: the query unchanged, or QueryRejected."""
    del ctx
    check(query.expression)
    return query
