"""Guard: before a query runs, the products it reads still match their contracts.

Only the columns the query reads (and its row filters read) are checked, from Parquet
footers (cached per file version), so it is cheap.  A missing column or a changed type
stops the query with a contract error (exit 4) naming product and column; a stale
product gives a warning, or a refusal where its contract asks for one.
"""

from __future__ import annotations

import dataclasses

from sqlglot import exp

from federation.errors import ContractError
from federation.pipeline.query import Context, GovernedQuery
from products.conformance import column_findings, freshness_finding, freshness_policy


def contracts(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """Guard: ContractError on drift in a column the query reads; stale products warn."""
    del ctx
    warnings: list[str] = list(query.warnings)
    for fqn, scan in query.scans.items():
        product = query.access[fqn].product
        read = {c.lower() for c in query.columns_read.get(fqn, ())}
        row_filter = query.access[fqn].row_filter
        if row_filter is not None:
            # The filter's columns too: one the files lack would not fail to bind, DuckDB
            # would look for it in an outer relation (a caller's subquery), and the filter
            # would be evaluated on the caller's value.
            read |= {c.name.lower() for c in row_filter.find_all(exp.Column)}
        columns = [c for c in product.columns if c.name.lower() in read]
        facts = scan.facts
        for finding in column_findings(product, facts, columns):
            if finding.status == "failed" and "nulls" not in finding.message:
                raise ContractError(f"contract violation: {finding.message}", product=fqn,
                                    column=finding.column,
                                    hint=f"run `duckmesh check {fqn}`")
        fresh = freshness_finding(product, facts)
        if fresh is not None and fresh.status == "failed":
            if freshness_policy(product) == "refuse":
                raise ContractError(f"refused: {fresh.message}", product=fqn)
            warnings.append(f"{fqn}: {fresh.message}")
    return dataclasses.replace(query, warnings=tuple(warnings))
