"""Where a product's data is: the one planner every path (query, check, show) uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.scan import ScanPlan, plan_scan
from products.contract import Product


def plan_product(product: Product, root: Path, storage: Any = None) -> ScanPlan:
    """The scan plan of ``product``'s first server, with its files listed.

    ``storage`` is the mesh's ``storage`` settings (endpoint, region, … per scheme).
    """
    server = product.server
    return plan_scan(product.fqn, server.location, server.format, root=root,
                     partitioned=any(c.partitioned for c in product.columns), storage=storage)
