"""``COLUMNS('regex')`` and ``COLUMNS(*)``, expanded over the columns the caller may see.

DuckDB expands ``COLUMNS(...)`` itself, over every column of the FROM clause; in a
governed query that would be the secured relation, but the expansion must also be
known to the authorize step (which decides per column).  So it is expanded here, before
columns are resolved, over the *visible* columns of the products in FROM, in contract
order, as DuckDB would: a partial, case-sensitive regular-expression match; an
expression around ``COLUMNS`` is repeated per column and named after the column.  A
denied column can never be matched; a masked one is read masked.

Supported where analysts use it: the select list of a query whose FROM names data
products.  Anything else (a subquery or CTE in FROM, ``COLUMNS`` in WHERE, lambdas,
aliases) is refused rather than guessed.
"""

from __future__ import annotations

import re

from sqlglot import exp

from federation.errors import QueryRejected
from federation.governance.access import ProductAccess
from federation.pipeline.resolve import product_name


def _sources(select: exp.Select, access: dict[str, ProductAccess]
             ) -> list[tuple[str, ProductAccess]]:
    from_ = select.args.get("from_") or select.args.get("from")
    tables = [from_.this] if isinstance(from_, exp.From) else []
    tables += [join.this for join in select.args.get("joins") or []]
    out = []
    for table in tables:
        fqn = product_name(table) if isinstance(table, exp.Table) else None
        if fqn is None or fqn not in access:
            raise QueryRejected("COLUMNS() is supported over data products in FROM only "
                                "(not over a subquery, a CTE or a table function)")
        out.append((table.alias_or_name, access[fqn]))
    if not out:
        raise QueryRejected("COLUMNS() needs a FROM clause")
    return out


def _matches(pattern: exp.Expr, sources: list[tuple[str, ProductAccess]]
             ) -> list[tuple[str, str]]:
    if isinstance(pattern, exp.Star):
        return [(alias, name) for alias, acc in sources for name in acc.visible_columns]
    try:
        regex = re.compile(pattern.name)
    except re.error:
        raise QueryRejected(f"COLUMNS({pattern.sql()}): not a valid regular "
                            "expression") from None
    found = [(alias, name) for alias, acc in sources for name in acc.visible_columns
             if regex.search(name)]
    if not found:
        raise QueryRejected(f"COLUMNS({pattern.sql()}) matches no column you may see")
    return found


def expand(expression: exp.Expr, access: dict[str, ProductAccess]) -> exp.Expr:
    """``expression`` (changed in place) with every ``COLUMNS(...)`` expanded."""
    nodes = list(expression.find_all(exp.Columns))
    if not nodes:
        return expression
    for node in nodes:
        item: exp.Expr = node
        while item.parent is not None and not isinstance(item.parent, exp.Select):
            item = item.parent
        if not isinstance(item.parent, exp.Select) or item.arg_key != "expressions":
            raise QueryRejected("COLUMNS() is supported in the select list only")
        if isinstance(item, exp.Alias) or len(list(item.find_all(exp.Columns))) > 1:
            raise QueryRejected("COLUMNS() with an alias, or twice in one expression, is "
                                "not supported")
    for select in {id(n.parent_select): n.parent_select for n in nodes}.values():
        if select is None:
            continue
        sources = _sources(select, access)
        qualify = len(sources) > 1
        projections: list[exp.Expr] = []
        for item in select.expressions:
            target = item.find(exp.Columns)
            if target is None:
                projections.append(item)
                continue
            for alias, name in _matches(target.this, sources):
                column = exp.column(name, table=alias if qualify else None)
                if target is item:
                    projections.append(column)
                    continue
                copy = item.copy()
                inner = copy.find(exp.Columns)
                assert inner is not None
                inner.replace(column)
                projections.append(exp.alias_(copy, name, quoted=True))
        select.set("expressions", projections)
    return expression
