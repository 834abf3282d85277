"""Clear sentences for columns a query names but cannot have, with did-you-mean.

Only what the caller may see goes into a message: the names they typed, the products
their query reads, and suggestions among the columns visible to them.  A denied column
they named is an access error naming it (they typed it; its rule is public in
``explain``), but is never offered as a suggestion.
"""

from __future__ import annotations

import re

from sqlglot import exp

from federation.errors import AccessDenied, DuckmeshError, QueryRejected
from federation.governance.access import ProductAccess
from federation.pipeline.resolve import product_name
from federation.pipeline.suggest import did_you_mean

_QUOTED = re.compile(r"'([^']*)'")


def _aliases(expression: exp.Expr) -> dict[str, str]:
    """Table alias (lower case) → product, for every product reference in the query."""
    out = {}
    for table in expression.find_all(exp.Table):
        fqn = product_name(table)
        if fqn is not None:
            out[table.alias_or_name.lower()] = fqn
            out[fqn] = fqn
    return out


def _derived(expression: exp.Expr) -> dict[str, list[str]]:
    """CTE and subquery alias (lower case) → the names of its result columns (as written;
    a ``*`` in it is not expanded here, so it may list fewer)."""
    out: dict[str, list[str]] = {}
    for node in expression.find_all(exp.CTE, exp.Subquery):
        alias = node.alias_or_name
        query = node.this
        while isinstance(query, exp.SetOperation):
            query = query.this
        if alias and isinstance(query, exp.Select):
            out[alias.lower()] = [p.alias_or_name for p in query.expressions
                                  if p.alias_or_name and not isinstance(p, exp.Star)]
    return out


def _denied(name: str, fqn: str, access: ProductAccess, user: str) -> AccessDenied | None:
    decision = access.column(name)
    if decision is not None and not decision.visible:
        return AccessDenied(f"column {fqn}.{decision.column.name} is denied to user {user!r} "
                            f"by {decision.reason}", product=fqn, column=decision.column.name)
    return None


def unresolved(message: str, expression: exp.Expr, access: dict[str, ProductAccess],
               user: str) -> DuckmeshError:
    """The error for a column sqlglot's ``qualify`` could not resolve (``message`` is its
    error text), as precise as we can make it."""
    names = _QUOTED.findall(message)
    if message.startswith("Unknown column:"):
        names = [message.split(":", 1)[1].strip()]
    name = names[0].strip('"') if names else None
    if name is None:
        return QueryRejected("the query's columns could not be resolved")
    aliases = _aliases(expression)
    for fqn in sorted(access):
        denied = _denied(name, fqn, access[fqn], user)
        if denied is not None:
            return denied
    derived = _derived(expression)
    qualifiers = {c.table.lower() for c in expression.find_all(exp.Column)
                  if c.name.lower() == name.lower() and c.table}
    for qualifier in sorted(qualifiers & set(derived)):
        if qualifier not in aliases:
            return QueryRejected(f"column {name} not found in {qualifier}"
                                 + did_you_mean(name, derived[qualifier]), column=name)
    if "for table:" in message and len(names) > 1:
        table = names[1].strip('"')
        if table.lower() not in aliases and table.lower() not in derived:
            known = [t.alias_or_name for t in expression.find_all(exp.Table)] + \
                list(derived)
            return QueryRejected(f"table {table} not found in the query (column "
                                 f"{table}.{name})" + did_you_mean(table, known))
    # The product(s) the caller meant: the one its qualifier names, else all of them.
    products = sorted({aliases[q] for q in qualifiers if q in aliases}) or \
        sorted(f for f in access if f in aliases.values())
    holders = [fqn for fqn in products if access[fqn].column(name) is not None]
    if len(holders) > 1:
        return QueryRejected(
            f"column {name} is ambiguous (it is in {', '.join(holders)}); qualify it with "
            "a table alias", column=name)
    if holders:
        return QueryRejected(f"column {name} could not be resolved here", column=name)
    visible = [c for fqn in products for c in access[fqn].visible_columns]
    where = f" in {', '.join(products)}" if products else ""
    if not qualifiers and derived:  # unqualified: a CTE's or subquery's column may be meant
        visible += [c for names in derived.values() for c in names]
        where = ""
    return QueryRejected(f"column {name} not found{where}" + did_you_mean(name, visible),
                         column=name,
                         product=products[0] if len(products) == 1 and where else None)
