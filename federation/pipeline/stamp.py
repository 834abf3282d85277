"""Guard: what a result read, contract versions and the exact files (or snapshots).

The stamp makes a result reproducible — an ML training set can be rebuilt from the same
product versions and files — and travels with the result: ``Result.stamp``, ``--format
json --stamp``, and Parquet file metadata under ``duckmesh.stamp``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from federation.pipeline.limits import gc_paused
from federation.pipeline.query import Context, GovernedQuery

STAMP_METADATA_KEY = "duckmesh.stamp"


def build_stamp(query: GovernedQuery, user: str) -> dict[str, Any]:
    """The stamp of a governed query, as plain JSON-ready data."""
    products: dict[str, dict[str, Any]] = {}
    for fqn, scan in query.scans.items():
        product = query.access[fqn].product
        products[fqn] = {
            "contract_id": product.contract_id,
            "contract_version": product.version,
            "format": scan.format,
            "location": scan.location.uri,
            "files": [{"path": f.path, "size": f.size, "modified": f.modified.isoformat()}
                      for f in scan.files],
        }
        if scan.snapshot_id is not None:
            products[fqn]["snapshot_id"] = scan.snapshot_id
    return {
        "planned_at": dt.datetime.now(dt.UTC).isoformat(),
        "user": user,
        "sql": query.sql,
        "products": products,
    }


def stamp(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """Guard: the query with its stamp, planned for the caller, and its SQL written (once:
    a tree that cannot be written as SQL is refused here, before anything runs)."""
    stamped = dataclasses.replace(query, stamp=build_stamp(query, ctx.principal.name))
    with gc_paused():
        stamped.governed_sql  # noqa: B018 - generated now, cached for the engine and the audit
    return stamped
