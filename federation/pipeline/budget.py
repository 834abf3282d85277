"""Guards: cost before execution, the bytes a query will scan and per-role budgets.

The estimate comes from the planned files only (after partition and Iceberg pruning): for
Parquet, the compressed chunks of exactly the columns the query reads, from the footers
planning already read; for other formats and pyiceberg fallbacks, the files' sizes.  A
user is limited by the most generous budget among their roles; a role without a budget
sets no limit only if *no* role of the user has one.
"""

from __future__ import annotations

import dataclasses

from federation.errors import AccessDenied
from federation.governance.model import Governance, Principal
from federation.pipeline.query import Context, GovernedQuery


def estimate_bytes(query: GovernedQuery) -> int:
    """Bytes the query will read from storage, estimated from the scan plans."""
    total = 0
    for fqn, scan in query.scans.items():
        if scan.format != "parquet" or scan.fallback is not None:
            total += sum(f.size for f in scan.files)
            continue
        facts = scan.facts
        for column in query.columns_read.get(fqn, ()):
            fact = facts.columns.get(column.lower())
            total += fact.compressed_bytes if fact is not None else 0
    return total


def check_budget(estimate: int, governance: Governance, principal: Principal) -> None:
    """AccessDenied (exit 3) if ``estimate`` exceeds the caller's budget."""
    limits = [(b.limit(), role) for b in governance.policies.budgets
              for role in b.roles if role in principal.roles]
    if not limits:
        return
    limit, role = max(limits)
    if estimate > limit:
        raise AccessDenied(
            f"query would scan about {estimate:,} bytes, over the budget of {limit:,} bytes "
            f"per query for role {role!r}", hint="filter on partition columns or read fewer "
            "columns")


def estimate(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """Guard: the query with its scan estimate (recorded in the audit, checked by budget)."""
    del ctx
    return dataclasses.replace(query, scan_bytes=estimate_bytes(query))


def budget(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """Guard: AccessDenied if the estimate is over the caller's budget; else unchanged."""
    check_budget(query.scan_bytes, ctx.governance, ctx.principal)
    return query
