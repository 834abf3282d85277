"""QUALIFY for Spark: the filter applies before ORDER BY and LIMIT.

sqlglot's own rewrite for dialects without QUALIFY moves ORDER BY and LIMIT into the
subquery it builds, so the limit is taken before the filter (shared/FACTS.md): wrong
rows.  Here the select becomes a subquery that also computes, under hidden names, the
windows and aggregates of the QUALIFY condition and the ORDER BY keys; the outer query
filters, orders and limits, and returns only the original columns.  Whatever cannot be
moved exactly (DISTINCT, unnamed or repeated outputs, expressions over output aliases)
is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from federation.errors import QueryRejected

QUALIFY_ALIAS = "duckmesh_qualify"
HINT = "run it with --engine duckdb, or engine='duckdb' in Python"


def refuse(what: str) -> QueryRejected:
    """The refusal of a construct the Spark engine does not run."""
    return QueryRejected(f"{what} is not supported on the spark engine", hint=HINT)


def each(tree: exp.Expr, kinds: tuple[type[exp.Expr], ...],
          fun: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
    """``fun`` applied to every node of ``kinds``, deepest first, in place; the new root."""
    for node in reversed(list(tree.find_all(*kinds))):
        new = fun(node)
        if new is node:
            continue
        if node is tree:
            tree = new
        else:
            node.replace(new)
    return tree



def rewrite_qualify(expression: exp.Expr) -> exp.Expr:
    """``SELECT … QUALIFY q ORDER BY o LIMIT n`` as a subquery filtered by ``q`` *before*
    ordering and limiting (sqlglot's own rewrite limits first)."""
    for select in list(expression.find_all(exp.Select)):
        if select.args.get("qualify") is not None:
            replacement = _unqualify(select)
            if select is expression:
                expression = replacement
            else:
                select.replace(replacement)
    return expression


def _unqualify(select: exp.Select) -> exp.Select:
    if select.args.get("distinct") is not None:
        raise refuse("QUALIFY with DISTINCT")
    inner = select.copy()
    qualify = inner.args["qualify"].this
    order = inner.args.get("order")
    limit, offset, with_ = (inner.args.get(k) for k in ("limit", "offset", "with_"))
    for key in ("qualify", "order", "limit", "offset", "with_"):
        inner.set(key, None)
    names = [p.alias_or_name for p in inner.expressions]
    if any(isinstance(p, exp.Star) for p in inner.expressions) or not all(names) \
            or len({n.lower() for n in names}) != len(names):
        raise refuse("QUALIFY over unnamed or repeated output columns")
    known = {n.lower() for n in names}
    hidden: list[exp.Expr] = []

    def hide(value: exp.Expr) -> exp.Column:
        name = f"duckmesh_q{len(hidden)}"
        hidden.append(exp.alias_(value, name))
        return exp.column(name)

    def outer_reference(value: exp.Expr) -> exp.Expr:
        """``value`` (from QUALIFY or ORDER BY) as the outer query can read it."""
        if isinstance(value, exp.Column) and not value.table:
            if value.name.lower() in known:
                return exp.column(value.name, quoted=value.this.quoted)
            raise refuse("QUALIFY or ORDER BY naming something that is not an output column")
        if isinstance(value, exp.Literal) and value.is_int:
            position = int(value.this)
            if not 1 <= position <= len(names):
                raise refuse("ORDER BY position out of range")
            return exp.column(names[position - 1], quoted=True)
        for column in value.find_all(exp.Column):
            if not column.table and column.name.lower() in known:
                raise refuse("an expression over output aliases in QUALIFY or ORDER BY")
        return hide(value.copy())

    condition = qualify.copy()
    # Windows and aggregates are computed in the inner query, where they were written.
    for window in list(condition.find_all(exp.Window)):
        window.replace(hide(window.copy()))
    for aggregate in list(condition.find_all(exp.AggFunc)):
        if aggregate.find_ancestor(exp.AggFunc) is None:
            aggregate.replace(hide(aggregate.copy()))
    condition = each(condition, (exp.Column,), lambda n: n if n.name.startswith(
        "duckmesh_q") or n.find_ancestor(exp.Subquery) else outer_reference(n))
    outer_order = None
    if order is not None:
        outer_order = order.copy()
        for ordered in outer_order.expressions:
            ordered.set("this", outer_reference(ordered.this))
    inner.set("expressions", [*inner.expressions, *hidden])
    outer = exp.Select(expressions=[exp.column(n, quoted=True) for n in names]).from_(
        exp.alias_(exp.Subquery(this=inner), QUALIFY_ALIAS, table=True), copy=False)
    outer = outer.where(condition, copy=False)
    for key, value in (("order", outer_order), ("limit", limit), ("offset", offset),
                       ("with_", with_)):
        if value is not None:
            outer.set(key, value)
    return outer
