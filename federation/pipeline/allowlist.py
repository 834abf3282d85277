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
from federation.pipeline.query import Context, GovernedQuery


def _classes(names: str) -> frozenset[type[exp.Expr]]:
    # getattr so that a class renamed in a future sqlglot only makes us stricter.
    found = (getattr(exp, name, None) for name in names.split())
    return frozenset(c for c in found if isinstance(c, type))


STATEMENTS = _classes("Select Union Intersect Except Subquery")

STRUCTURE = _classes("""
    Select Union Intersect Except With CTE Subquery From Join Where Group Having Qualify
    Order Ordered Limit Offset Distinct Column Identifier Table TableAlias Alias Star
    Literal Boolean Null Paren Neg Not And Or EQ NEQ GT GTE LT LTE NullSafeEQ NullSafeNEQ
    Is In Between Like ILike Add Sub Mul Div Mod IntDiv DPipe Window WindowSpec Interval
    Exists Tuple Values Filter Lateral Any All DataType DataTypeParam Case If Cast TryCast
    Var Bracket JSONPath JSONPathKey JSONPathRoot JSONPathSubscript
    Dot Unnest Slice
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
""")

# DuckDB functions sqlglot keeps as Anonymous; compared in lower case.  (A name here that
# sqlglot parses into a class of its own is checked by that class above instead.)
ANONYMOUS_FUNCTIONS = frozenset({
    "now", "date_part", "datediff", "date_sub", "list_contains", "strlen", "ends_with",
    "regexp_full_match", "isodow", "isoyear", "epoch_ms", "yearweek", "nullif", "ifnull",
    "round_even", "trunc", "even", "gcd", "lcm", "factorial", "cbrt", "log2", "log10",
    "bit_length", "ascii", "chr", "array_length", "len", "suffix", "prefix", "try_strptime",
    "last_day", "today", "make_timestamp", "fsum", "kahan_sum", "bit_count", "geomean",
    "entropy", "kurtosis", "skewness", "product", "arbitrary", "histogram", "sem", "mad",
    # JSON: pure functions over a value already governed (reading JSON *files* is the
    # read_json table function, which stays refused).
    "json_array_length", "json_type", "json_valid", "json_keys",
    # Lists, structs and maps (UNNEST, field access and brackets are nodes of their own).
    "to_json", "list_sum", "list_avg", "list_slice", "list_extract", "list_element",
    "list_position", "list_count", "list_unique", "element_at", "cardinality",
    "map_extract", "map_values", "map_entries", "struct_keys",
})

# Var nodes are bare keywords; they are allowed only where sqlglot uses them for units
# and ORDER BY ALL.
VAR_PARENTS = _classes("""
    Interval Extract DateTrunc TimestampTrunc DateDiff DateAdd DateSub TimestampDiff Ordered
""")

SELECT_ARGS = frozenset({
    "expressions", "from_", "from", "joins", "where", "group", "having", "qualify", "order",
    "limit", "offset", "distinct", "with_", "with", "windows", "kind", "exclude",
    "operation_modifiers",
})
TABLE_ARGS = frozenset({"this", "db", "alias"})
JOIN_ARGS = frozenset({"this", "on", "using", "side", "kind"})
SET_OP_ARGS = frozenset({"this", "expression", "distinct", "order", "limit", "offset",
                         "with_", "with", "by_name"})
SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_PREFIX = "duckmesh_"


def _reject(what: str) -> QueryRejected:
    return QueryRejected(f"{what} is not allowed in a governed query")


def _check_args(node: exp.Expr, allowed: frozenset[str], what: str) -> None:
    for key, value in node.args.items():
        if value in (None, False, [], "") or key in allowed:
            continue
        raise _reject(f"{what} clause {key.upper().rstrip('_')!r}")


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def check_node(node: exp.Expr) -> None:
    """Raise QueryRejected unless ``node`` (one node, not its children) is allowed."""
    if isinstance(node, exp.Anonymous):
        if str(node.name).lower() not in ANONYMOUS_FUNCTIONS:
            raise _reject(f"function {_function_name(node)}()")
        return
    if isinstance(node, exp.Func) and type(node) in FUNCTIONS:
        return
    if type(node) not in STRUCTURE:
        if isinstance(node, exp.Func):
            raise _reject(f"function {_function_name(node)}()")
        if isinstance(node, exp.Placeholder | exp.Parameter):
            raise _reject("a query parameter")
        if isinstance(node, exp.TableColumn):
            raise _reject(f"a whole-row reference to {node.name!r} (name the columns)")
        raise _reject(f"SQL construct {node.key.upper()!r}")
    if isinstance(node, exp.Var):
        if type(node.parent) not in VAR_PARENTS:
            raise _reject(f"keyword {node.name!r} here")
    elif isinstance(node, exp.Select):
        _check_args(node, SELECT_ARGS, "SELECT")
        if node.args.get("kind"):
            raise _reject("SELECT " + str(node.args["kind"]).upper())
    elif isinstance(node, exp.Table):
        _check_table(node)
    elif isinstance(node, exp.Join):
        _check_args(node, JOIN_ARGS, "JOIN")
    elif isinstance(node, exp.Union | exp.Intersect | exp.Except):
        _check_args(node, SET_OP_ARGS, "set operation")
        if node.args.get("by_name"):
            raise _reject("UNION BY NAME")
    elif isinstance(node, exp.With):
        if node.args.get("recursive"):
            raise _reject("WITH RECURSIVE")
    elif isinstance(node, exp.CTE):
        name = node.alias_or_name
        if not SAFE_NAME.match(name):
            raise QueryRejected(f"CTE name {name!r} must be a plain identifier")
        if name.lower().startswith(RESERVED_PREFIX):
            # duckmesh's own relations use this prefix; a CTE must not shadow them.
            raise QueryRejected(f"CTE names starting with {RESERVED_PREFIX!r} are reserved")
    elif isinstance(node, exp.Column) and node.args.get("catalog"):
        raise _reject("a four-part column name")
    elif isinstance(node, exp.Lateral) and not isinstance(node.this, exp.Subquery):
        raise _reject("LATERAL without a subquery")


def _check_table(node: exp.Table) -> None:
    if not isinstance(node.this, exp.Identifier):
        raise _reject("a table function or expression in FROM")
    if node.args.get("catalog"):
        raise QueryRejected(f"three-part name {node.sql(dialect='duckdb')!r}: name products "
                            "as domain.product")
    _check_args(node, TABLE_ARGS, "table")
    if not SAFE_NAME.match(node.name):
        raise QueryRejected(f"table name {node.name!r} is not a product or CTE name "
                            "(file paths cannot be read directly)")
    if node.args.get("db") is not None and not SAFE_NAME.match(node.db):
        raise QueryRejected(f"domain name {node.db!r} must be a plain identifier")


def check(expression: exp.Expr) -> exp.Expr:
    """Raise QueryRejected unless the whole tree is on the allow-list; return it unchanged."""
    if type(expression) not in STATEMENTS:
        kind = expression.name if isinstance(expression, exp.Command) else expression.key
        raise QueryRejected(f"only SELECT queries are allowed (got {str(kind).upper()})")
    for node in expression.walk():
        check_node(node)
    return expression


def check_predicate(expression: exp.Expr) -> None:
    """A grant's row filter on the allow-list, node by node; its ``:attribute``
    placeholders are ours (bound to the caller's attributes), not the caller's."""
    for node in expression.walk():
        if not isinstance(node, exp.Placeholder):
            check_node(node)


def allowlist(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """The allow-list as a pipeline step: the query unchanged, or QueryRejected."""
    del ctx
    check(query.expression)
    return query
