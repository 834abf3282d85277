"""Step 3: resolve table names.  ``domain.product`` names a product; a one-part name must
be a CTE visible in its scope; nothing else may appear in FROM."""

from __future__ import annotations

import dataclasses

from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from federation.errors import QueryRejected, UsageError
from federation.pipeline.query import Context, GovernedQuery


def product_name(table: exp.Table) -> str | None:
    """``domain.product`` (lower case) for a two-part table name, else None."""
    if table.args.get("db") is None:
        return None
    return f"{table.db.lower()}.{table.name.lower()}"


def resolve(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """Check every table reference and list the products the query reads."""
    seen: set[int] = set()
    products: list[str] = []
    for scope in traverse_scope(query.expression):
        for table in scope.tables:
            seen.add(id(table))
            fqn = product_name(table)
            if fqn is None:
                if table.name not in scope.cte_sources:
                    raise QueryRejected(
                        f"unknown table {table.name!r}: name data products as domain.product"
                        " (see `duckmesh products list`)")
                continue
            product = ctx.catalog.find(table.db, table.name)
            if product is None:
                raise UsageError(f"unknown product {fqn!r}", product=fqn,
                                 hint="see `duckmesh products list`")
            alias = table.args.get("alias")
            if isinstance(alias, exp.TableAlias) and alias.columns:
                raise QueryRejected(f"column aliases on product {fqn} are not allowed; alias "
                                    "the columns in the select list instead", product=fqn)
            if product.fqn not in products:
                products.append(product.fqn)
    # Scopes are how sqlglot sees the query; a table they missed is one we do not
    # understand, so it is refused rather than left unrewritten.
    for table in query.expression.find_all(exp.Table):
        if id(table) not in seen:
            raise QueryRejected(f"table reference {table.sql(dialect='duckdb')!r} in an "
                                "unsupported position")
    return dataclasses.replace(query, products=tuple(products))
