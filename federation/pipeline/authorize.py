"""Step 4: authorize.  Decide access per product and per column, and qualify the query.

sqlglot's ``qualify`` resolves every column to its source with a schema holding *all*
contract columns, while ``*`` expands only to the columns the caller may see.  So
``SELECT *`` quietly leaves denied columns out, and a denied column named anywhere
(select list, WHERE, JOIN, ORDER BY, a subquery, a window) is an access error naming
the column and the rule.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any

from sqlglot import exp
from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.schema import MappingSchema

from federation.errors import AccessDenied, QueryRejected
from federation.governance.access import ProductAccess, evaluate
from federation.pipeline import columns_expr, statements
from federation.pipeline.allowlist import check, check_predicate
from federation.pipeline.chains import restore_chains, thin_chains
from federation.pipeline.diagnose import unresolved
from federation.pipeline.output_names import duckdb_names
from federation.pipeline.query import Context, GovernedQuery
from federation.pipeline.recursion import bound_recursion
from federation.pipeline.resolve import product_name, readable_products

_NAME_META = "duckmesh_output_name"


def outermost_select(expression: exp.Expr) -> exp.Select | None:
    """The SELECT whose list names the result columns (leftmost of set operations)."""
    node: exp.Expr | None = expression
    while isinstance(node, exp.SetOperation | exp.Subquery):
        node = node.this
    return node if isinstance(node, exp.Select) else None


def _remember_output_names(expression: exp.Expr, sql: str) -> None:
    """Tag unaliased result columns with the name DuckDB gives them in the caller's query.

    ``qualify`` names them ``_col_0``…; the caller should see ``count_star()``, exactly as
    when the same query runs raw (see :mod:`federation.pipeline.output_names`).
    """
    select = outermost_select(expression)
    projections = select.expressions if select else []
    unnamed = [i for i, p in enumerate(projections)
               if not isinstance(p, exp.Alias | exp.Column | exp.Star)]
    if not unnamed:
        return
    names = duckdb_names(sql)
    for i in unnamed:
        projection = projections[i]
        projection.meta[_NAME_META] = (
            names[i] if names is not None and len(names) == len(projections)
            else projection.sql(dialect="duckdb", normalize_functions="lower"))


def _restore_output_names(expression: exp.Expr) -> None:
    select = outermost_select(expression)
    renamed: dict[str, str] = {}
    for projection in select.expressions if select else []:
        if isinstance(projection, exp.Alias) and _NAME_META in projection.this.meta:
            renamed[projection.alias] = projection.this.meta[_NAME_META]
            projection.set("alias", exp.to_identifier(projection.this.meta[_NAME_META]))
        elif isinstance(projection, exp.Subquery) and _NAME_META in projection.meta:
            # A scalar subquery keeps its alias on itself, not in an Alias node.
            renamed[projection.alias] = projection.meta[_NAME_META]
            projection.set("alias", exp.TableAlias(
                this=exp.to_identifier(projection.meta[_NAME_META])))
    if not renamed or select is None:
        return
    # qualify turned ordinals (ORDER BY 1, GROUP BY 1) into references to its own names.
    clauses = [select.args.get(k) for k in ("order", "group", "having", "qualify")]
    if expression is not select:
        clauses.append(expression.args.get("order"))
    for clause in clauses:
        for column in clause.find_all(exp.Column) if clause else []:
            if not column.table and column.name in renamed:
                column.set("this", exp.to_identifier(renamed[column.name], quoted=True))


def schemas(access: dict[str, ProductAccess]) -> MappingSchema:
    """All contract columns of the products read, with only the visible ones for ``*``."""
    key = tuple(sorted(
        (fqn, tuple((c.name, c.type) for c in acc.product.columns),
         tuple(acc.visible_columns))
        for fqn, acc in access.items()))
    return _schema(key)


@lru_cache(maxsize=256)
def _schema(key: tuple[tuple[str, tuple[tuple[str, str], ...], tuple[str, ...]], ...]
            ) -> MappingSchema:
    # Building a MappingSchema normalizes every name (~0.1 ms for five products); the
    # same products under the same access repeat from query to query.  qualify only
    # reads the schema, so one instance serves every query with this key.
    full: dict[str, dict[str, dict[str, str]]] = {}
    visible: dict[str, dict[str, list[str]]] = {}
    for fqn, columns, shown in key:
        domain, name = fqn.split(".")
        full.setdefault(domain, {})[name] = dict(columns)
        visible.setdefault(domain, {})[name] = list(shown)
    return MappingSchema(dict(full), visible=dict(visible), dialect="duckdb")


_CONNECTORS = (exp.And, exp.Or)


def _qualify(expression: exp.Expr, sql: str, schema: MappingSchema,
             access: dict[str, ProductAccess], user: str
             ) -> tuple[exp.Expr, list[tuple[exp.In, list[exp.Expr]]], list[Any]]:
    expression = expression.copy()
    # One walk finds the chains to thin and whether COLUMNS(), samples or table functions
    # need their own (three walks of the whole tree, most often for nothing).
    found: list[exp.Expr] | None = list(expression.find_all(
        exp.And, exp.Or, exp.Columns, exp.TableSample, exp.Unnest, exp.GenerateSeries))
    if found and any(type(node) not in _CONNECTORS for node in found):
        expression = _name_table_function_columns(
            _samples_outside(columns_expr.expand(expression, access)))
        found = None  # the tree changed: thinning looks for its chains itself
    _remember_output_names(expression, sql)
    chains = thin_chains(expression, found)  # before the value lists: theirs stay
    detached = _detach_value_lists(expression)
    try:
        qualified = qualify(
            expression, schema=schema, dialect="duckdb", expand_stars=True,
            validate_qualify_columns=True, quote_identifiers=False, identify=False,
            allow_partial_qualification=False,
        )
    except OptimizeError as exc:
        raise unresolved(str(exc), expression, access, user) from None
    except (SqlglotError, AssertionError):
        # sqlglot asserts on shapes it does not expect (ORDER BY 1 over a scalar subquery):
        # not understood, so rejected.
        raise QueryRejected("the query's columns could not be resolved") from None
    _restore_output_names(qualified)
    return qualified, detached, chains


def _samples_outside(expression: exp.Expr) -> exp.Expr:
    """``d.p AS a TABLESAMPLE s`` → ``(SELECT * FROM d.p AS a) AS a TABLESAMPLE s``.

    The rewrite replaces a product reference by its secured relation, so a sample on the
    reference itself would be lost; on the subquery around it, it samples the secured
    rows (the row filter applies first, whatever the sample).
    """
    for table in list(expression.find_all(exp.Table)):
        sample = table.args.get("sample")
        if sample is None or product_name(table) is None:
            continue
        alias = table.alias_or_name
        table.set("sample", None)
        inner = table.copy()
        inner.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        table.replace(exp.Subquery(this=exp.select("*").from_(inner),
                                   alias=exp.TableAlias(this=exp.to_identifier(alias)),
                                   sample=sample))
    return expression


def _name_table_function_columns(expression: exp.Expr) -> exp.Expr:
    """``FROM range(5)`` has one column, named ``range`` by DuckDB: said explicitly, so
    that ``*`` expands to it (and not to a made-up name)."""
    for unnest in expression.find_all(exp.Unnest):
        alias = unnest.args.get("alias")
        if not isinstance(unnest.parent, exp.From | exp.Join) or len(unnest.expressions) != 1 \
                or (isinstance(alias, exp.TableAlias) and alias.columns):
            continue
        if unnest.args.get("offset"):
            raise QueryRejected("name the columns of unnest(…) WITH ORDINALITY: … AS t(value, "
                                "n)")
        # DuckDB names its column after the alias, else unnest; sqlglot would make up one.
        name = alias.name if isinstance(alias, exp.TableAlias) and alias.name else "unnest"
        unnest.set("alias", exp.TableAlias(this=exp.to_identifier(name),
                                           columns=[exp.to_identifier(name)]))
    for table in expression.find_all(exp.Table):
        if isinstance(table.this, exp.GenerateSeries):
            alias = table.args.get("alias")
            if isinstance(alias, exp.TableAlias) and alias.columns:
                continue
            name = "generate_series" if table.this.sql(dialect="duckdb").upper().startswith(
                "GENERATE_SERIES") else "range"
            table.set("alias", exp.TableAlias(
                this=exp.to_identifier(table.alias or name),
                columns=[exp.to_identifier(name)]))
    return expression


def _reattach(qualified: exp.Expr, detached: list[tuple[exp.In, list[exp.Expr]]]) -> None:
    for node, values in detached:
        if node.root() is not qualified:
            raise QueryRejected("internal: a value list was lost while resolving columns")
        node.set("expressions", values)


_VALUE_LIST = 64
"""IN lists at least this long, of literals only, sit out column resolution."""


def _literal(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal | exp.Null | exp.Boolean) or (
        isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal))


def _detach_value_lists(expression: exp.Expr) -> list[tuple[exp.In, list[exp.Expr]]]:
    """Long ``IN (v1, v2, …)`` lists of literals, taken out of ``expression`` while
    ``qualify`` walks it (it keeps the first value): they hold no column, and an
    100,000-value list was most of its work.  The caller puts them back."""
    out = []
    for node in expression.find_all(exp.In):
        values = node.expressions
        if len(values) >= _VALUE_LIST and all(_literal(v) for v in values):
            out.append((node, list(values)))
            node.set("expressions", values[:1])
    return out


def _source(scope: Scope | None, alias: str) -> Any:
    while scope is not None:
        if alias in scope.sources:
            return scope.sources[alias]
        scope = scope.parent
    return None


def _output_names(scope: Scope) -> set[str]:
    node: exp.Expr | None = scope.expression
    if isinstance(node, exp.SetOperation):
        # ORDER BY after UNION names the result's columns: the leftmost branch's.
        node = outermost_select(node)
    if isinstance(node, exp.Select):
        return {s.alias_or_name for s in node.expressions if s.alias_or_name}
    return set()


def _checked(access: ProductAccess) -> ProductAccess:
    """The grant's row filter passes the allow-list, as the caller's SQL does; a filter
    that does not is a broken grant, which never applies."""
    if access.row_filter is not None:
        try:
            check_predicate(access.row_filter)
        except QueryRejected as exc:
            raise AccessDenied(f"{access.product.fqn} cannot be read: {access.grant} "
                               f"row_filter: {exc.message}; the grant does not apply",
                               product=access.product.fqn,
                               hint="run `duckmesh validate`") from None
    return access


def authorize(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """Evaluate access for every product read and check every column reference."""
    body = statements.body(query.expression)
    if body is None:  # SHOW TABLES: the products the caller may read, as values
        listing = statements.show_tables(readable_products(ctx), query.expression)
        return dataclasses.replace(query, expression=listing, qualified=listing)
    access = {
        fqn: _checked(evaluate(ctx.governance, ctx.principal, ctx.catalog.get(fqn),
                               ctx.purpose))
        for fqn in query.products
    }
    qualified, detached, chains = _qualify(statements.narrowed(query.expression, body),
                                           query.sql, schemas(access), access,
                                           ctx.principal.name)
    # qualify rewrites the tree (USING → ON, whole-row refs → TableColumn, …): whatever
    # it produced must pass the same allow-list as the caller's own text.
    check(qualified)
    read: dict[str, list[str]] = {fqn: [] for fqn in query.products}
    for scope in traverse_scope(qualified):
        for column in scope.columns:
            if isinstance(column.this, exp.Star):
                continue
            if not column.table:
                if column.name in _output_names(scope):
                    continue  # refers to a select-list alias, itself checked
                raise QueryRejected(
                    f"column {column.name!r} could not be resolved to a table column",
                    column=column.name)
            source = _source(scope, column.table)
            if not isinstance(source, exp.Table):
                continue  # a CTE or derived table: its own columns were checked in its scope
            fqn = product_name(source)
            if fqn is None:
                continue
            decision = access[fqn].column(column.name)
            if decision is None:
                raise QueryRejected(f"unknown column {column.name!r} in {fqn}",
                                    product=fqn, column=column.name)
            if decision.action == "deny":
                raise AccessDenied(
                    f"column {fqn}.{decision.column.name} is denied to user "
                    f"{ctx.principal.name!r} by {decision.reason}",
                    product=fqn, column=decision.column.name, decided_by=decision.decided_by)
            if decision.column.name not in read[fqn]:
                read[fqn].append(decision.column.name)
    # Asked before the chains and lists are whole again: their terms and values are
    # columns and literals, never a WITH or a keyword.
    recursive_or_keywords = qualified.find(exp.With, *_KEYWORDS) is not None
    # Long chains' repeated terms and long literal lists (checked by the allow-list
    # already; their columns resolved and authorized in the terms that stayed) go back.
    restore_chains(qualified, chains)
    _reattach(qualified, detached)
    if body is not query.expression:
        _check_shell_columns(query.expression, qualified, access, ctx.principal.name)
    governed = qualified
    if recursive_or_keywords:
        # Our own counter and error() are added after the allow-list check, on a copy:
        # lineage keeps the caller's query.
        governed = _keywords_as_calls(
            bound_recursion(qualified.copy(), ctx.limits.max_recursion))
    return dataclasses.replace(
        query, expression=statements.with_body(query.expression, governed),
        qualified=qualified, access=access,
        columns_read={k: tuple(v) for k, v in read.items()},
    )


_KEYWORDS: dict[type[exp.Expr], str] = {
    exp.CurrentDate: "current_date", exp.CurrentTimestamp: "get_current_timestamp",
    exp.CurrentTime: "get_current_time", exp.Localtimestamp: "current_localtimestamp",
    exp.Localtime: "current_localtime"}


def _keywords_as_calls(expression: exp.Expr) -> exp.Expr:
    """``CURRENT_DATE`` → ``current_date()``: aliased with its own name (``CURRENT_DATE AS
    "current_date"``, as output names are kept) DuckDB takes the keyword for the alias
    and refuses the query; the call is the same function."""
    for node in list(expression.find_all(*_KEYWORDS)):
        if not node.args.get("this") and not node.expressions:
            node.replace(exp.Anonymous(this=_KEYWORDS[type(node)], expressions=[]))
    return expression


def _check_shell_columns(shell: exp.Expr, qualified: exp.Expr,
                         access: dict[str, ProductAccess], user: str) -> None:
    """A PIVOT's ON, USING and GROUP BY name columns of its query's result: those the
    caller sees; a denied one is an access error."""
    select = outermost_select(qualified)
    visible = [p.alias_or_name for p in select.expressions] if select else []
    denied = {c.column.name.lower(): c.reason for acc in access.values()
              for c in acc.columns if not c.visible}
    statements.check_pivot(shell, visible, denied, user)
