"""Step 5: scans.  Plan what each product reference will read — the only step that does I/O.

For every authorized product: list its files (or plan its Iceberg snapshot, pruned by
the predicates :mod:`~federation.pipeline.pushdown` finds safe), and read their footers.
The plans are plain data; the rewrite turns them into DuckDB scans, the guards read their
facts (contract enforcement, cost), and the stamp names exactly these files.

A product read more than once in a query is planned once, without pruning (each
reference may filter differently).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlglot import exp

from connectors.filesystems import storage_deadline
from federation.errors import ConfigError
from federation.governance.access import ProductAccess
from federation.pipeline.pushdown import pushable
from federation.pipeline.query import Context, GovernedQuery
from federation.pipeline.resolve import product_name
from products.locate import plan_product


def iceberg_predicate(query: GovernedQuery, fqn: str, access: ProductAccess) -> Any:
    """The Iceberg pruning predicate for ``fqn``: only when it is read exactly once."""
    if access.product.server.type != "iceberg":
        return None
    # Imported here: pyiceberg costs a third of a second to import, and most meshes and
    # queries read no Iceberg product.
    from connectors.iceberg import to_iceberg

    refs = [t for t in query.expression.find_all(exp.Table) if product_name(t) == fqn]
    return to_iceberg(pushable(refs[0], access)) if len(refs) == 1 else None


def scans(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """The query with a scan plan for every product it reads; storage listings and reads
    end by the query's deadline."""
    with storage_deadline(ctx.limits.deadline):
        return _scans(query, ctx)


def _scans(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    planned = {}
    for fqn, access in query.access.items():
        plan = plan_product(access.product, ctx.root, ctx.storage,
                            predicate=iceberg_predicate(query, fqn, access), as_of=ctx.as_of)
        # What planning found must be the domain's own: an Iceberg table's location comes
        # from its catalog, and a local file may be a symlink to another domain's data.
        uris = [plan.location.uri] + [f.path for f in plan.files if plan.location.is_local]
        problem = ctx.catalog.foreign_data(access.product, uris)
        if problem is not None:
            raise ConfigError(problem, product=fqn, hint="run `duckmesh validate`")
        planned[fqn] = plan
    return dataclasses.replace(query, scans=planned)
