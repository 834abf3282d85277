"""The values that flow through the pipeline: what a step reads, what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError

from connectors.scan import ScanPlan
from federation.errors import QueryRejected
from federation.governance.access import ProductAccess
from federation.governance.model import Governance, Principal
from federation.pipeline.limits import Limits
from products.catalog import Catalog
from products.config import StorageSettings


@dataclass(frozen=True)
class Context:
    """What every step may consult; steps never change it."""

    root: Path
    catalog: Catalog
    governance: Governance
    principal: Principal
    mask_key: bytes | None = field(default=None, repr=False)
    storage: StorageSettings = field(default_factory=StorageSettings)
    """Storage options per URI scheme (duckmesh.yaml ``storage``)."""
    as_of: str | None = None
    """Iceberg snapshot id or timestamp to read (``--as-of``); None: pinned or current."""
    limits: Limits = field(default_factory=Limits)
    """Size, nesting and time bounds of planning (see :mod:`federation.pipeline.limits`)."""
    purpose: str | None = None
    """The declared purpose the caller queries for (policies.yaml ``purposes``): rules
    may release a label only for some purposes."""


@dataclass(frozen=True)
class Decision:
    """One policy decision, as ``explain`` and the audit log show it."""

    product: str
    column: str | None
    action: str
    """``allow``, ``mask:<method>``, ``deny`` (for unreferenced denied columns: hidden)
    or ``row_filter``."""
    reason: str
    detail: str | None = None


@dataclass(frozen=True)
class GovernedQuery:
    """A query on its way through the pipeline; each step returns a new one."""

    sql: str
    expression: exp.Expr
    products: tuple[str, ...] = ()
    access: dict[str, ProductAccess] = field(default_factory=dict)
    columns_read: dict[str, tuple[str, ...]] = field(default_factory=dict)
    scans: dict[str, ScanPlan] = field(default_factory=dict)
    params: dict[str, bytes] = field(default_factory=dict, repr=False)
    qualified: exp.Expr | None = field(default=None, repr=False, compare=False)
    """The authorized tree before the rewrite (product references still named): lineage."""
    warnings: tuple[str, ...] = ()
    """What the guards found worth saying but not refusing (a stale product, …)."""
    scan_bytes: int = 0
    """Bytes the query will read from storage, estimated from its scan plans (guards)."""
    stamp: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    """Contract versions and exact files read (the ``stamp`` guard)."""

    @cached_property
    def governed_sql(self) -> str:
        """The SQL that runs; holds parameter names, never the mask key itself.

        A tree sqlglot cannot write back as DuckDB SQL (its expansion of some functions
        DuckDB lacks, nested, cannot be) is refused, as any query duckdb mesh does not
        understand.
        """
        try:
            return self.expression.sql(dialect="duckdb")
        except (SqlglotError, RecursionError):
            raise QueryRejected("the governed query could not be written as DuckDB SQL "
                                "(a construct duckmesh cannot run, such as a nested "
                                "initcap())") from None

    @property
    def decisions(self) -> list[Decision]:
        """Every decision that shapes the result, product by product."""
        out: list[Decision] = []
        for fqn in self.products:
            access = self.access.get(fqn)
            if access is None:
                continue
            read = {c.lower() for c in self.columns_read.get(fqn, ())}
            out.append(Decision(fqn, None, "grant", access.grant))
            for col in access.columns:
                if col.action == "allow" and col.column.name.lower() not in read:
                    continue
                action = f"mask:{col.method}" if col.action == "mask" else col.action
                if col.action == "deny":
                    action = "hidden"
                out.append(Decision(fqn, col.column.name, action, col.reason))
                for inner in col.fields:  # classified fields inside a struct or list
                    action = f"mask:{inner.method}" if inner.action == "mask" else "hidden"
                    out.append(Decision(fqn, inner.field.describe(col.column.name), action,
                                        inner.reason))
            if access.row_filter is not None:
                out.append(Decision(fqn, None, "row_filter", access.row_filter_reason or "",
                                    access.row_filter.sql(dialect="duckdb")))
            scan = self.scans.get(fqn)
            if scan is not None and scan.snapshot_id is not None:
                how = f"iceberg snapshot {scan.snapshot_id}"
                if scan.fallback_reason:
                    how += f", read by pyiceberg ({scan.fallback_reason})"
                out.append(Decision(fqn, None, "scan", how,
                                    f"{len(scan.files)} of {scan.total_files} files planned"))
        return out


def to_jsonable(decision: Decision) -> dict[str, Any]:
    """A decision as a plain dict, for JSON output and the audit log."""
    return {"product": decision.product, "column": decision.column, "action": decision.action,
            "reason": decision.reason, "detail": decision.detail}
