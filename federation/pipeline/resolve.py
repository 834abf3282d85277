"""Step 3: resolve table names.  ``domain.product`` names a product; a one-part name must
be a CTE visible in its scope; nothing else may appear in FROM."""

from __future__ import annotations

import dataclasses

from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from federation.errors import AccessDenied, QueryRejected, UsageError
from federation.governance.access import evaluate
from federation.pipeline import statements
from federation.pipeline.query import Context, GovernedQuery
from federation.pipeline.suggest import did_you_mean


def product_name(table: exp.Table) -> str | None:
    """``domain.product`` (lower case) for a two-part table name, else None."""
    if table.args.get("db") is None:
        return None
    return f"{table.db.lower()}.{table.name.lower()}"


def readable_products(ctx: Context) -> list[str]:
    """The products the caller may read (a grant lets them): what they may be told of."""
    out = []
    for product in ctx.catalog:
        try:
            evaluate(ctx.governance, ctx.principal, product, ctx.purpose)
        except AccessDenied:
            continue
        out.append(product.fqn)
    return out


def _unknown_product(fqn: str, ctx: Context) -> UsageError:
    return UsageError(f"unknown product {fqn!r}" + did_you_mean(fqn, readable_products(ctx)),
                      product=fqn, hint="see `duckmesh products list`")


def resolve(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """Check every table reference and list the products the query reads."""
    seen: set[int] = set()
    products: list[str] = []
    root = statements.body(query.expression)
    if root is None:
        return dataclasses.replace(query, products=())
    for scope in traverse_scope(root):
        for table in scope.tables:
            seen.add(id(table))
            if not isinstance(table.this, exp.Identifier):
                continue  # a table function the allow-list let through: reads no data
            fqn = product_name(table)
            if fqn is None:
                if table.name not in scope.cte_sources:
                    known = list(scope.cte_sources) + readable_products(ctx)
                    raise QueryRejected(
                        f"unknown table {table.name}"
                        + (did_you_mean(table.name, known) or
                           ": name data products as domain.product"),
                        hint="see `duckmesh products list`")
                continue
            product = ctx.catalog.find(table.db, table.name)
            if product is None:
                raise _unknown_product(fqn, ctx)
            alias = table.args.get("alias")
            if isinstance(alias, exp.TableAlias) and alias.columns:
                raise QueryRejected(f"column aliases on product {fqn} are not allowed; alias "
                                    "the columns in the select list instead", product=fqn)
            if product.fqn not in products:
                products.append(product.fqn)
    # Scopes are how sqlglot sees the query; a table they missed is one we do not
    # understand, so it is refused rather than left unrewritten.
    for table in root.find_all(exp.Table):
        if id(table) not in seen:
            raise QueryRejected(f"table reference {table.sql(dialect='duckdb')!r} in an "
                                "unsupported position")
    return dataclasses.replace(query, products=tuple(products))
