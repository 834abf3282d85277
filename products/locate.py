"""Where a product's data is: the one planner every path (query, check, show) uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.errors import UsageError
from connectors.footers import ColumnFacts, DataFacts
from connectors.scan import ScanPlan, plan_scan
from connectors.storage import resolve_location
from products.contract import Product

SNAPSHOT_PIN = "snapshotId"
"""Server ``customProperties`` key pinning an Iceberg product to one snapshot."""


def plan_product(product: Product, root: Path, storage: Any = None, *,
                 predicate: Any = None, as_of: str | int | None = None) -> ScanPlan:
    """The scan plan of ``product``'s first server: its files listed, their footers read.

    ``storage`` is the mesh's ``storage`` settings (endpoint, region, … per scheme);
    ``predicate`` (a pyiceberg expression) prunes Iceberg files; ``as_of`` picks an
    Iceberg snapshot (id or timestamp), else the contract's pin, else the current one.
    """
    server = product.server
    if server.type == "iceberg":
        from connectors.iceberg import plan_iceberg  # pyiceberg: only for Iceberg products

        pinned = server.custom(SNAPSHOT_PIN)
        plan = plan_iceberg(product.fqn, server.options, root, storage=storage,
                            predicate=predicate, as_of=as_of if as_of is not None else pinned)
        location = resolve_location(plan.location.rstrip("/"), root)
        facts = plan.facts or DataFacts(plan.files, 0, {
            c.name.lower(): ColumnFacts(c.name, c.type, 0) for c in plan.columns})
        return ScanPlan(product=product.fqn, location=location, files=plan.files,
                        format="parquet", hive_partitioning=False, facts=facts,
                        filesystem=plan.filesystem, snapshot_id=plan.snapshot_id,
                        total_files=plan.total_files, fallback=plan.fallback,
                        fallback_reason=plan.fallback_reason,
                        field_ids=tuple((c.field_id, c.name, c.type) for c in plan.columns))
    if as_of is not None:
        # Files keep no history: reading them "as of" a past time would silently mix
        # today's data into a result asked for at another time.
        raise UsageError(f"--as-of reads Iceberg products at a snapshot; {product.fqn} is "
                         f"{server.format} files, which keep no history", product=product.fqn,
                         hint="leave it out of an --as-of query")
    return plan_scan(product.fqn, server.location, server.format, root=root,
                     partitioned=any(c.partitioned for c in product.columns), storage=storage,
                     columns=tuple((c.name, c.type) for c in product.columns
                                   if not c.partitioned))
