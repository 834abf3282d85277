"""The sealed governed tree as Spark SQL: a pure AST rewrite, then sqlglot's generator.

Only what this module has been shown to render exactly runs on Spark; everything else is
refused (fail closed) with a hint to use DuckDB.  Each construct on the lists below has
a parity test (``tests/federation/engines/test_spark_parity.py``) and each rewrite a
golden fixture (``tests/fixtures/golden/spark_sql.sql``).

The rewrites fix what plain transpiling gets wrong:

- scans: every ``read_parquet(...)`` / fallback table duckmesh made becomes a reference
  to the temporary view the engine registers for it (``views``);
- ``a / b``: DuckDB divides as DOUBLE (decimals too) and gives ±inf for a zero divisor;
  Spark keeps decimals and, in ANSI mode, raises;
- ``avg(x)``: DuckDB averages decimals as DOUBLE from an exact sum; Spark rounds to a
  decimal of scale + 4;
- QUALIFY: sqlglot moves ORDER BY and LIMIT inside the subquery it builds, before the
  filter (shared/FACTS.md): we build the subquery ourselves;
- the hash mask's DuckDB functions (``sha256``, ``encode``, ``unhex``, ``left``) become
  Spark's; the mask key stays a named parameter (``:duckmesh_mask_ipad``) bound by
  ``spark.sql(..., args=...)``.

The generated text is parsed back as Spark SQL and checked once more: nothing but the
registered views and CTEs is read, and every parameter is the mask's.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from connectors.scan import SCAN_MARK
from federation.engines.spark_qualify import QUALIFY_ALIAS, each, refuse, rewrite_qualify
from federation.engines.spark_types import check_types, rewrite_date_diffs
from federation.errors import QueryRejected
from federation.governance.masks import IPAD_PARAM, OPAD_PARAM


def _classes(names: str) -> frozenset[type[exp.Expr]]:
    found = (getattr(exp, name, None) for name in names.split())
    return frozenset(c for c in found if isinstance(c, type))


# Nodes whose Spark rendering has the same meaning as DuckDB's (each with a parity test).
STRUCTURE = _classes("""
    Select Union Intersect Except With CTE Subquery From Join Where Group Having Qualify
    Order Ordered Limit Offset Distinct Column Identifier Table TableAlias Alias
    Literal Boolean Null Paren Neg Not And Or EQ NEQ GT GTE LT LTE NullSafeEQ Is In Between
    Like ILike Add Sub Mul Div Mod IntDiv Window WindowSpec Interval Exists Case If
    Cast TryCast DataType DataTypeParam Var Placeholder Tuple Filter Star DPipe
""")
FUNCTIONS = _classes("""
    Count Sum Avg Min Max CountIf LogicalAnd LogicalOr Stddev StddevSamp StddevPop
    Variance VariancePop
    Abs Round Floor Ceil Ln Exp Sqrt Pow Sign Greatest Least Coalesce Nullif
    Lower Upper Length Substring Trim Left Right Replace Concat StartsWith
    Extract Year Month Day Quarter CurrentDate
    RowNumber Rank DenseRank Lag Lead FirstValue LastValue
""")
# Function nodes used only by duckmesh's masks (sqlglot keeps them Anonymous).
MASK_FUNCTIONS = frozenset({"sha256", "encode", "unhex", "left", "right", "length",
                            "date_trunc"})
PARAMETERS = frozenset({IPAD_PARAM, OPAD_PARAM})
INTERVAL_UNITS = frozenset({"DAY", "MONTH", "YEAR"})
EXTRACT_UNITS = frozenset({"YEAR", "MONTH", "DAY", "QUARTER"})
MAX_DIVISION_NESTING = 4
VARIABLE = "${"
"""Spark's variable substitution marker: never in the generated text."""




# DuckDB constructs refused on Spark, named as the caller wrote them: Spark has no
# AT TIME ZONE on DuckDB's types (timezone() is refused too), its COLLATE names other
# collations, its LIKE … ESCAPE refuses what DuckDB takes, and it has no <-> or <@.
_WRITTEN_AS: dict[type[exp.Expr], str] = {
    exp.AtTimeZone: "AT TIME ZONE", exp.Escape: "LIKE … ESCAPE", exp.Collate: "COLLATE",
    exp.Distance: "the <-> operator",
    exp.ArrayContainedBy: "the <@ operator"}


def _name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower() + "()"
    return node.key.upper()


# -- the checks ---------------------------------------------------------------------------

def check(expression: exp.Expr) -> None:
    """QueryRejected unless every node of the (scan-free) tree is one Spark runs exactly."""
    for node in expression.walk():
        if isinstance(node, exp.Anonymous):
            if str(node.name).lower() not in MASK_FUNCTIONS or not node.meta.get("mask"):
                raise refuse(f"function {_name(node)}()")
            continue
        kind = type(node)
        if kind is exp.DPipe and node.meta.get("mask"):
            continue  # the masks' concatenations: rewritten to concat() below
        if kind not in STRUCTURE and kind not in FUNCTIONS:
            what = _WRITTEN_AS.get(kind) or (
                f"function {_name(node)}" if isinstance(node, exp.Func) else
                f"SQL construct {_name(node)}")
            if node.meta.get("mask"):
                # Not the caller's SQL: a mask inside a struct or list is rebuilt with
                # functions whose Spark meaning is not checked.
                column = node.find_ancestor(exp.Alias)
                what = f"the mask of column {column.alias if column else '?'} ({what})"
            raise refuse(what)
        _check_node(node)


def _check_node(node: exp.Expr) -> None:
    if isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
        raise refuse("* outside count(*)")
    if isinstance(node, exp.With) and node.args.get("recursive"):
        # Spark's recursive CTEs (4.1+) stop and type differently: not checked.
        raise refuse("WITH RECURSIVE")
    if isinstance(node, exp.Placeholder) and node.name not in PARAMETERS:
        raise refuse("a parameter")
    if isinstance(node, exp.Var) and not isinstance(node.parent, exp.Interval | exp.Extract):
        raise refuse(f"keyword {node.name}")
    if isinstance(node, exp.Interval):
        unit = node.args.get("unit")
        if not isinstance(unit, exp.Var) or unit.name.upper() not in INTERVAL_UNITS \
                or not isinstance(node.this, exp.Literal):
            raise refuse("this interval")
    if isinstance(node, exp.Extract) and (not isinstance(node.this, exp.Var)
                                          or node.this.name.upper() not in EXTRACT_UNITS):
        raise refuse("this EXTRACT")
    if isinstance(node, exp.Select) and node.args.get("distinct") is not None \
            and node.args["distinct"].args.get("on") is not None:
        raise refuse("DISTINCT ON")
    if isinstance(node, exp.Group):
        for key in ("grouping_sets", "cube", "rollup"):
            if node.args.get(key):
                raise refuse(f"GROUP BY {key.upper().replace('_', ' ')}")
    if isinstance(node, exp.WindowSpec):
        _check_frame(node)
    if isinstance(node, exp.Ordered) and isinstance(node.this, exp.Var):
        raise refuse("ORDER BY ALL")
    if isinstance(node, exp.Join) and node.args.get("kind") not in (None, "", "INNER", "CROSS",
                                                                     "OUTER"):
        # SEMI, ANTI, ASOF, POSITIONAL: DuckDB's meanings, not checked on Spark.
        raise refuse(f"{node.args['kind']} JOIN")
    if isinstance(node, exp.Join) and node.args.get("method"):
        raise refuse(f"{node.args['method']} JOIN")
    if isinstance(node, exp.Round) and node.args.get("decimals") is not None \
            and not isinstance(node.args["decimals"], exp.Literal):
        raise refuse("round() to a computed number of digits")
    if isinstance(node, exp.Trim) and (node.args.get("position") or node.args.get("expression")):
        raise refuse("TRIM with characters or a side")
    if isinstance(node, exp.Union | exp.Intersect | exp.Except) and node.args.get("by_name"):
        raise refuse("UNION BY NAME")


def _check_frame(spec: exp.WindowSpec) -> None:
    """ROWS frames with literal offsets, RANGE frames from/to the partition's ends or the
    current row: what the parity suite covers (GROUPS, EXCLUDE and RANGE offsets are not
    computed alike, or not at all, by Spark)."""
    kind = spec.args.get("kind")
    if kind is None and spec.args.get("start") is None and spec.args.get("end") is None:
        return
    if kind not in ("ROWS", "RANGE") or spec.args.get("exclude") is not None:
        raise refuse(f"window frame {kind or ''} EXCLUDE" if spec.args.get("exclude")
                     else f"window frame {kind}")
    for side in ("start", "end"):
        bound = spec.args.get(side)
        if bound is None or (isinstance(bound, str)
                             and bound.upper() in ("UNBOUNDED", "CURRENT ROW")):
            continue
        if kind == "RANGE" or not (isinstance(bound, exp.Literal) and bound.is_int):
            raise refuse(f"a {kind} frame bound other than a whole number of rows")


# -- the rewrites -------------------------------------------------------------------------

def replace_scans(tree: exp.Expr, views: Mapping[str, str]) -> exp.Expr:
    """Each scan duckmesh made (a table carrying the scan mark) → its view's name
    (in place)."""
    for table in list(tree.find_all(exp.Table)):
        product = table.meta.get(SCAN_MARK)
        if product is None:
            continue
        if product not in views:
            raise QueryRejected(f"internal: no Spark view for {product}")
        view = exp.Table(this=exp.to_identifier(views[product]))
        alias = table.args.get("alias")
        if alias is not None:
            view.set("alias", alias.copy())
        table.replace(view)
    return tree


def mark_masks(expression: exp.Expr) -> exp.Expr:
    """Mark the nodes duckmesh's masks are made of: the projections of every secured
    relation (the SELECT directly over a scan), so that the checks can tell them from
    the caller's SQL.  Row filters are not marked: they are checked like the caller's."""
    for table in expression.find_all(exp.Table):
        if table.meta.get(SCAN_MARK) is None:
            continue
        select = table.find_ancestor(exp.Select)
        if select is None:
            continue
        for projection in select.expressions:
            if isinstance(projection, exp.Alias):
                for node in projection.this.walk():
                    node.meta["mask"] = True
    return expression


def rewrite_masks(expression: exp.Expr) -> exp.Expr:
    """DuckDB's hash-mask functions as Spark's (same bytes: SHA-256 as hex, UTF-8)."""
    def spark(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Anonymous) or not node.meta.get("mask"):
            if isinstance(node, exp.DPipe) and node.meta.get("mask"):
                return exp.Anonymous(this="concat", expressions=[node.this, node.expression])
            return node
        name, args = str(node.name).lower(), list(node.expressions)
        if name == "sha256":
            return exp.Anonymous(this="sha2", expressions=[*args, exp.Literal.number(256)])
        if name == "encode":
            return exp.Anonymous(this="encode", expressions=[*args, exp.Literal.string("UTF-8")])
        return exp.Anonymous(this=name, expressions=args)

    return each(expression, (exp.Anonymous, exp.DPipe), spark)


def drop_materialized(expression: exp.Expr) -> exp.Expr:
    """``WITH t AS [NOT] MATERIALIZED``: a hint to DuckDB's planner that does not change
    the answer, and that Spark SQL cannot parse."""
    for cte in expression.find_all(exp.CTE):
        cte.set("materialized", None)
    return expression


def keep_try_casts(expression: exp.Expr) -> exp.Expr:
    """TRY_CAST stays TRY_CAST: sqlglot writes it as Spark's CAST (which only fails soft
    outside ANSI mode) unless the node says it is safe."""
    for node in expression.find_all(exp.TryCast):
        node.set("safe", True)
    return expression


def _double(value: exp.Expr) -> exp.Expr:
    return exp.Cast(this=value, to=exp.DataType.build("DOUBLE"))


def rewrite_division(expression: exp.Expr) -> exp.Expr:
    """``a / b`` as DuckDB computes it: both sides as DOUBLE, ±inf (NaN for 0/0) when
    ``b`` is zero instead of Spark's error."""
    for node in list(expression.find_all(exp.Div)):
        depth = sum(1 for a in _ancestors(node) if isinstance(a, exp.Div))
        if depth >= MAX_DIVISION_NESTING:
            raise refuse("divisions nested this deeply")

    def divide(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Div):
            return node
        left, right = _double(node.this), _double(node.expression)
        if isinstance(node.expression, exp.Literal) and node.expression.is_number \
                and float(node.expression.this) != 0:
            return exp.Paren(this=exp.Div(this=left, expression=right))
        infinite = exp.Mul(this=left.copy(), expression=exp.Cast(
            this=exp.Literal.string("Infinity"), to=exp.DataType.build("DOUBLE")))
        zero = exp.EQ(this=right.copy(), expression=exp.Literal.number(0))
        return exp.Paren(this=exp.Case(ifs=[exp.If(this=zero, true=infinite)],
                                       default=exp.Div(this=left, expression=right)))

    return each(expression, (exp.Div,), divide)


def _ancestors(node: exp.Expr) -> list[exp.Expr]:
    out: list[exp.Expr] = []
    parent = node.parent
    while parent is not None:
        out.append(parent)
        parent = parent.parent
    return out


def rewrite_avg(expression: exp.Expr) -> exp.Expr:
    """``avg(x)`` as DuckDB computes it: an exact sum divided as DOUBLE by the count
    (NULL for no rows); DISTINCT, FILTER and OVER apply to both halves."""
    for avg in list(expression.find_all(exp.Avg)):
        holder: exp.Expr = avg
        wrappers: list[exp.Expr] = []
        while isinstance(holder.parent, exp.Filter | exp.Window) \
                and holder.parent.this is holder:
            holder = holder.parent
            wrappers.append(holder)
        total: exp.Expr = exp.Sum(this=avg.this.copy())
        count: exp.Expr = exp.Count(this=avg.this.copy())
        for wrapper in wrappers:
            total, count = _rewrap(wrapper, total), _rewrap(wrapper, count)
        ratio = _ratio(total, count)
        if holder is expression:
            return ratio
        holder.replace(ratio)
    return expression


def _rewrap(wrapper: exp.Expr, inner: exp.Expr) -> exp.Expr:
    copy = wrapper.copy()
    copy.set("this", inner)
    return copy


def _ratio(total: exp.Expr, count: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this="try_divide", expressions=[_double(total), _double(count)])


# -- the whole translation ----------------------------------------------------------------

def to_spark(expression: exp.Expr, views: Mapping[str, str],
             schema: Mapping[str, Mapping[str, str]] | None = None, *,
             pretty: bool = False) -> str:
    """The Spark SQL of a sealed governed tree whose scans read the temporary views
    ``views`` (product → view name); QueryRejected for anything Spark would not compute
    exactly as DuckDB.  ``schema`` (view → column → DuckDB type) lets casts be checked;
    without it every cast of a column is refused."""
    tree = mark_masks(expression.copy())
    tree = replace_scans(tree, views)
    check(tree)
    date_diffs = check_types(tree, schema or {})
    tree = rewrite_date_diffs(tree, date_diffs)
    tree = drop_materialized(tree)
    tree = rewrite_qualify(tree)
    tree = rewrite_avg(tree)
    tree = rewrite_division(tree)
    tree = rewrite_masks(tree)
    tree = keep_try_casts(tree)
    try:
        sql = tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE, pretty=pretty)
    except (SqlglotError, RecursionError):
        raise refuse("this query (sqlglot cannot write it as Spark SQL)") from None
    if VARIABLE in sql:
        # Spark substitutes ${env:…}, ${system:…} and ${conf.key} in the raw text before
        # parsing it (spark.sql.variable.substitute, on by default), in strings and quoted
        # names too: '${env:DUCKMESH_SECRET}' would read the service's environment.
        raise refuse("a '$' followed by '{' (Spark reads it as a variable of its own, even "
                     "in a string or a name)")
    verify(sql, set(views.values()))
    return sql


def verify(sql: str, views: set[str]) -> None:
    """Parse the generated Spark SQL back and check it reads only ``views`` and CTEs and
    binds only the mask's parameters (a generator mistake fails here, not in Spark)."""
    from sqlglot import parse

    try:
        statements = parse(sql, read="spark")
    except (SqlglotError, RecursionError):
        raise QueryRejected("internal: the Spark SQL does not parse back") from None
    if len(statements) != 1 or statements[0] is None:
        raise QueryRejected("internal: the Spark SQL is not one statement")
    tree = statements[0]
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        name = table.name
        if not isinstance(table.this, exp.Identifier) or table.args.get("db") is not None:
            raise QueryRejected("internal: the Spark SQL reads something other than a view")
        if name not in views and name.lower() not in ctes | {QUALIFY_ALIAS}:
            raise QueryRejected("internal: the Spark SQL reads something other than a view")
    for node in tree.find_all(exp.Placeholder, exp.Parameter):
        if node.name not in PARAMETERS:
            raise QueryRejected("internal: an unexpected parameter in the Spark SQL")
