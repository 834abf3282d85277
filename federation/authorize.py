"""Step 4: authorize.  Decide access per product and per column, and qualify the query.

sqlglot's ``qualify`` resolves every column to its source with a schema holding *all*
contract columns, while ``*`` expands only to the columns the caller may see.  So
``SELECT *`` quietly leaves denied columns out, and a denied column named anywhere
(select list, WHERE, JOIN, ORDER BY, a subquery, a window) is an access error naming
the column and the rule.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from sqlglot import exp
from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.schema import MappingSchema

from connectors.errors import AccessDenied, QueryRejected
from federation.plan import Context, GovernedQuery
from federation.policy import ProductAccess, evaluate
from federation.resolve import product_name

_QUOTED = re.compile(r"'([^']*)'")


def _schemas(access: dict[str, ProductAccess]) -> MappingSchema:
    full: dict[str, dict[str, dict[str, str]]] = {}
    visible: dict[str, dict[str, list[str]]] = {}
    for fqn, acc in access.items():
        domain, name = fqn.split(".")
        full.setdefault(domain, {})[name] = {c.name: c.type for c in acc.product.columns}
        visible.setdefault(domain, {})[name] = acc.visible_columns
    return MappingSchema(full, visible=visible, dialect="duckdb")


def _qualify(expression: exp.Expression, schema: MappingSchema) -> exp.Expression:
    try:
        return qualify(
            expression.copy(), schema=schema, dialect="duckdb", expand_stars=True,
            validate_qualify_columns=True, quote_identifiers=False, identify=False,
            allow_partial_qualification=False,
        )
    except OptimizeError as exc:
        text = str(exc)
        names = _QUOTED.findall(text)
        name = names[0].strip('"') if names else None
        if "could not be resolved" in text and name:
            raise QueryRejected(f"unknown column {name!r}", column=name) from None
        if "mbiguous" in text and name:
            raise QueryRejected(f"column {name!r} is ambiguous: qualify it with its table "
                                "alias", column=name) from None
        raise QueryRejected("the query's columns could not be resolved") from None
    except SqlglotError:
        raise QueryRejected("the query's columns could not be resolved") from None


def _source(scope: Scope | None, alias: str) -> Any:
    while scope is not None:
        if alias in scope.sources:
            return scope.sources[alias]
        scope = scope.parent
    return None


def _output_names(scope: Scope) -> set[str]:
    node = scope.expression
    if isinstance(node, exp.Select):
        return {s.alias_or_name for s in node.expressions if s.alias_or_name}
    return set()


def authorize(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """Evaluate access for every product read and check every column reference."""
    access = {
        fqn: evaluate(ctx.governance, ctx.principal, ctx.catalog.get(fqn))
        for fqn in query.products
    }
    qualified = _qualify(query.expression, _schemas(access))
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
                    product=fqn, column=decision.column.name)
            if decision.column.name not in read[fqn]:
                read[fqn].append(decision.column.name)
    return dataclasses.replace(
        query, expression=qualified, access=access,
        columns_read={k: tuple(v) for k, v in read.items()},
    )
