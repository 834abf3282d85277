"""A depth limit on recursive CTEs.

DuckDB has no setting that bounds recursion: ``WITH RECURSIVE t AS (SELECT 1 UNION ALL
SELECT n + 1 FROM t)`` runs until the time limit.  Each recursive CTE is rewritten to
count its iterations in a column of its own and to stop the query with an error (never
silently: a cut-off result would be a wrong answer) when it goes deeper than the limit::

    t(n, duckmesh_depth) AS (SELECT 1, 0 UNION ALL
        SELECT n + 1, t.duckmesh_depth + 1 FROM t
        WHERE CASE WHEN t.duckmesh_depth >= LIMIT THEN error('…') ELSE TRUE END)

and every reader of ``t`` names its columns (stars were expanded by ``authorize``), so
the counter is never part of a result.  Only ``UNION ALL`` recursion with one reference
to itself is understood; anything else is refused.
"""

from __future__ import annotations

from sqlglot import exp

from federation.errors import QueryRejected

DEPTH = "duckmesh_depth"
LIMIT_MESSAGE = "duckmesh: recursion limit"


def _self_references(branch: exp.Expr, name: str) -> list[exp.Table]:
    return [t for t in branch.find_all(exp.Table)
            if not t.args.get("db") and t.name.lower() == name.lower()]


def _bound(cte: exp.CTE, limit: int) -> None:
    name = cte.alias_or_name
    body = cte.this
    if not _self_references(body, name):
        return  # not recursive, though under WITH RECURSIVE
    if not isinstance(body, exp.Union) or body.args.get("distinct"):
        raise QueryRejected(f"recursive CTE {name}: only UNION ALL recursion is supported "
                            "(duckmesh bounds its depth)")
    anchor, step = body.this, body.expression
    if _self_references(anchor, name) or not isinstance(anchor, exp.Select) or \
            not isinstance(step, exp.Select):
        raise QueryRejected(f"recursive CTE {name}: the first branch must not read {name}")
    refs = _self_references(step, name)
    if len(refs) != 1:
        raise QueryRejected(f"recursive CTE {name} must read itself exactly once")
    names = {p.alias_or_name.lower() for p in anchor.expressions}
    alias = cte.args.get("alias")
    if isinstance(alias, exp.TableAlias):
        names |= {c.name.lower() for c in alias.columns}
    if DEPTH in names:
        raise QueryRejected(f"column name {DEPTH} is reserved for duckmesh's recursion limit")
    ref = refs[0].alias_or_name
    if refs[0].find_ancestor(exp.Select) is not step:
        raise QueryRejected(f"recursive CTE {name} must read itself in its FROM clause")
    anchor.select(exp.alias_(exp.Literal.number(0), DEPTH), copy=False)
    depth = exp.column(DEPTH, table=ref)
    step.select(exp.alias_(exp.Add(this=depth, expression=exp.Literal.number(1)), DEPTH),
                copy=False)
    stop = exp.Case(ifs=[exp.If(
        this=exp.GTE(this=depth.copy(), expression=exp.Literal.number(limit)),
        true=exp.Anonymous(this="error", expressions=[exp.Literal.string(LIMIT_MESSAGE)]))],
        default=exp.true())
    step.where(stop, copy=False)
    if isinstance(alias, exp.TableAlias) and alias.columns:
        alias.append("columns", exp.to_identifier(DEPTH))


def bound_recursion(expression: exp.Expr, limit: int) -> exp.Expr:
    """``expression`` (changed in place) with every recursive CTE bounded to ``limit``
    iterations."""
    for with_ in expression.find_all(exp.With):
        if with_.args.get("recursive"):
            for cte in with_.expressions:
                _bound(cte, limit)
    return expression
