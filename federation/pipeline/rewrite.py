"""Step 6: rewrite.  Every product reference becomes a secured relation.

``customers.profiles AS c`` becomes::

    (SELECT <visible columns, masked where ruled> FROM read_parquet([...]) AS duckmesh_src
     WHERE <row filter bound to the caller>) AS c

The alias is kept, so the rest of the query is untouched.  Denied columns are not in
the relation at all, masks and row filters are applied below anything the caller wrote,
and CASTs the caller wrote become TRY_CASTs so a failed conversion cannot raise an
error about a row the caller is not allowed to see.
"""

from __future__ import annotations

import dataclasses

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from connectors.scan import ScanPlan
from federation.errors import AccessDenied, ConfigError, QueryRejected
from federation.governance.access import ColumnAccess, ProductAccess
from federation.governance.masks import hmac_params
from federation.pipeline.query import Context, GovernedQuery
from federation.pipeline.resolve import product_name
from products.contract import ITEMS

SOURCE_ALIAS = "duckmesh_src"


def _qualify_filter(expression: exp.Expr) -> exp.Expr:
    """The grant's row filter over the raw source (below every mask, as stored).

    Each column keeps its own identifier, so a quoted name stays quoted.  Struct fields
    arrive as ``struct_extract`` from an unqualified column (the grant's parser reads
    ``s.region`` so): a column still qualified here would lose its parts (``s.region``
    once became ``duckmesh_src.region``), so it is refused, never guessed at.
    """
    def qualify_column(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column):
            if len(node.parts) != 1 or not isinstance(node.this, exp.Identifier):
                raise QueryRejected("internal: a row filter column that is not a plain "
                                    "column name reached the rewrite")
            return exp.Column(this=node.this.copy(), table=exp.to_identifier(SOURCE_ALIAS))
        return node

    return expression.copy().transform(qualify_column)


def secured_relation(access: ProductAccess, scan: ScanPlan, alias: str,
                     columns: tuple[str, ...]) -> exp.Subquery:
    """The subquery that stands in for one product reference.

    It projects only ``columns`` (what the query reads; stars are already expanded), so
    a column the authorize step did not see cannot be read at all.  A query that reads
    no column (``count(*)``) gets the first visible one, for DuckDB to prune.
    """
    wanted = {c.lower() for c in columns}
    visible = [d for d in access.columns if d.visible]
    chosen = [d for d in visible if d.column.name.lower() in wanted] or visible[:1]
    projections: list[exp.Expr] = []
    for decision in chosen:
        # Fields governed inside a struct or list are masked here, at the source, so no
        # way of reaching them later (s.*, to_json, unnest, casts, the whole row) is raw.
        value = decision.mask(exp.column(decision.column.name, table=SOURCE_ALIAS))
        projections.append(exp.alias_(value, decision.column.name, copy=False))
    if not projections:
        raise AccessDenied(f"no column of {access.product.fqn} is visible to the caller",
                           product=access.product.fqn)
    # Every node here is new, so the builders need not copy (copies dominate planning).
    select = exp.Select(expressions=projections).from_(
        exp.alias_(scan.to_expression(), SOURCE_ALIAS, table=True, copy=False), copy=False)
    if access.row_filter is not None:
        select = select.where(_qualify_filter(access.row_filter), copy=False)
    return exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(alias)))


def _methods(decision: ColumnAccess) -> set[str | None]:
    """The mask methods a column's projection uses, its nested fields' included."""
    methods = {f.method for f in decision.fields if f.action == "mask"}
    return methods | ({decision.method} if decision.action == "mask" else set())


def _try_casts(node: exp.Expr) -> exp.Expr:
    if type(node) is exp.Cast:
        return exp.TryCast(this=node.this, to=node.args["to"])
    return node


def _field_path(column: exp.Column) -> list[str]:
    """The fields a query reads below ``column``: ``s.a``, ``s['a']``,
    ``struct_extract(s, 'a')`` and list indexes (``l[1].a`` is ``[], a``)."""
    steps: list[str] = []
    node: exp.Expr = column
    while node.parent is not None and node.arg_key == "this":
        parent = node.parent
        named = (isinstance(parent, exp.Dot) and isinstance(parent.expression, exp.Identifier)
                 ) or (isinstance(parent, exp.StructExtract) and
                       isinstance(parent.expression, exp.Literal))
        if named:
            steps.append(parent.expression.name)
        elif isinstance(parent, exp.Bracket) and len(parent.expressions) == 1 and \
                isinstance(parent.expressions[0], exp.Literal):
            key = parent.expressions[0]
            steps.append(key.name if key.is_string else ITEMS)
        else:
            break
        node = parent
    return steps


def _check_denied_fields(query: GovernedQuery, user: str) -> None:
    """AccessDenied, naming the field and the rule, for a field left out of its struct
    that the query names directly (``s.card``, ``s['card']``, ``l[1].card``): it is not
    in the secured relation, so DuckDB would only say that it cannot bind it."""
    denied = {(fqn, c.column.name.lower()): c for fqn, a in query.access.items()
              for c in a.columns if any(f.action == "deny" for f in c.fields)}
    if not denied:
        return
    for scope in traverse_scope(query.expression):
        for column in scope.columns:
            outer: Scope | None
            source, outer = None, scope  # a correlated column's source is further out
            while outer is not None and source is None:
                source, outer = outer.sources.get(column.table), outer.parent
            fqn = product_name(source) if isinstance(source, exp.Table) else None
            decision = denied.get((fqn or "", column.name.lower()))
            if decision is None:
                continue
            path = tuple(step.lower() for step in _field_path(column))
            for governed in decision.fields:
                wanted = tuple(step.lower() for step in governed.field.path)
                if governed.action == "deny" and path[:len(wanted)] == wanted:
                    where = governed.field.describe(decision.column.name)
                    raise AccessDenied(f"field {fqn}.{where} is denied to user {user!r} by "
                                       f"{governed.reason}", product=fqn, column=where)


def rewrite(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """Replace every product reference with its secured relation over its planned scan.

    A pure tree transform: the scan plans come from the ``scans`` step.
    """
    _check_denied_fields(query, ctx.principal.name)
    scans = query.scans
    uses_hash = any(
        "hash" in _methods(c) and c.column.name in query.columns_read[fqn]
        for fqn, a in query.access.items() for c in a.columns)
    params: dict[str, bytes] = {}
    if uses_hash:
        if ctx.mask_key is None:
            raise ConfigError("this query needs a hash mask but the mesh has no mask secret",
                              hint="set DUCKMESH_SECRET or secret_file in duckmesh.yaml")
        params = hmac_params(ctx.mask_key)

    def replace(node: exp.Expr) -> exp.Expr:
        if type(node) is exp.Cast:
            return _try_casts(node)
        if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Star):
            # ``s.*`` of a struct column: DuckDB takes no table before it (``t.s.*``, which
            # qualifying made of it, is a syntax error); ``unnest(t.s)`` is the same columns.
            if any(node.expression.args.values()):
                # unnest() has no EXCLUDE/REPLACE/RENAME: refuse rather than drop them.
                raise QueryRejected("struct.* with EXCLUDE, REPLACE or RENAME is not "
                                    "supported", hint="name the fields you want")
            return exp.Explode(this=node.this)
        if not isinstance(node, exp.Table):
            return node
        fqn = product_name(node)
        if fqn is None:
            return node
        if fqn not in scans or fqn not in query.access:
            # Steps out of order: fail closed rather than leave the reference raw.
            raise QueryRejected(f"internal: {fqn} reached the rewrite without a planned scan")
        return secured_relation(query.access[fqn], scans[fqn], node.alias_or_name,
                                query.columns_read.get(fqn, ()))

    # One walk over a copy: CAST → TRY_CAST and product references → secured relations.
    # Only the nodes that change are visited by Python (a long IN list has none).
    expression = query.expression.copy()
    for node in list(expression.find_all(exp.Cast, exp.Table, exp.Dot)):
        replaced = replace(node)
        if replaced is not node:
            node.replace(replaced)
    return dataclasses.replace(query, expression=expression, params=params)
