"""Lineage across the mesh: which products and reports read which product columns.

Derived products (their contracts record their SQL) and reports (their SQL files) are
the mesh's consumers.  What each reads is found from its SQL — every product column it
references anywhere (select list, join, filter, grouping), not only what its outputs are
computed from, since a removed join key breaks a product as surely as a removed output.
SQL this module cannot follow is counted as reading *every* column of the products it
names (fail closed: an impact report never misses a consumer because its SQL was odd).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from federation.errors import DuckmeshError
from federation.governance.derived import lineage_of
from federation.pipeline.parse import parse
from federation.publish.derive import DERIVED
from products.catalog import Catalog
from products.contract import Product

ALL = "*"
"""In :attr:`Consumer.reads`: the SQL could not be followed; every column counts."""


@dataclass(frozen=True)
class Consumer:
    """A derived product or a report, and the product columns it reads."""

    kind: str
    """``product`` or ``report``."""
    name: str
    reads: dict[str, frozenset[str]]
    """Upstream product → the columns read (lower case), or ``{ALL}``."""
    status: str | None = None

    def reads_column(self, product: str, column: str) -> bool:
        """True if this consumer reads ``product.column`` (or cannot tell)."""
        got = self.reads.get(product)
        return got is not None and (ALL in got or column.lower() in got)


def reads_of(sql: str, catalog: Catalog,
             versions: dict[str, Product] | None = None) -> dict[str, frozenset[str]]:
    """The product columns ``sql`` references, by product.  ``versions`` replaces the
    catalog's contract of some products (impact is judged against the old version)."""
    try:
        tree = parse(sql)
    except DuckmeshError:
        return {}
    contracts = {**catalog.products, **(versions or {})}
    named = {f"{t.db.lower()}.{t.name.lower()}" for t in tree.find_all(exp.Table) if t.db}
    known = {fqn for fqn in named if fqn in contracts}
    schema: dict[str, object] = {}
    for fqn in known:
        product = contracts[fqn]
        tables = schema.setdefault(product.domain, {})
        assert isinstance(tables, dict)
        tables[product.name] = {c.name: c.type for c in product.columns}
    out: dict[str, set[str]] = {fqn: set() for fqn in known}
    out.update({fqn: {ALL} for fqn in named - known})  # no contract to follow it with
    try:
        qualified = qualify(tree, schema=schema, dialect="duckdb",
                            validate_qualify_columns=False, identify=False)
        for scope in traverse_scope(qualified):
            tables = {alias: f"{t.db.lower()}.{t.name.lower()}"
                      for alias, t in scope.sources.items()
                      if isinstance(t, exp.Table) and t.db}
            for column in scope.columns:
                if column.table in tables:
                    targets = [tables[column.table]]
                elif not column.table:
                    targets = list(tables.values())  # unresolved: any of them (fail closed)
                else:
                    continue  # a CTE's or subquery's column: followed in its own scope
                for fqn in targets:
                    if fqn in out:
                        out[fqn].add(column.name.lower())
    except (SqlglotError, RecursionError, KeyError, ValueError):
        return {fqn: frozenset({ALL}) for fqn in named}
    # A product named but none of its columns seen (count(*)) is still read.
    return {fqn: frozenset(cols) for fqn, cols in out.items()}


def consumers(root: Path, catalog: Catalog,
              versions: dict[str, Product] | None = None) -> list[Consumer]:
    """Every derived product and report of the mesh, with what it reads (judged against
    ``versions`` of some products where given)."""
    from federation.reports.spec import load_reports, report_sql

    found = []
    for product in sorted(catalog, key=lambda p: p.fqn):
        derived = product.custom(DERIVED)
        if isinstance(derived, dict) and isinstance(derived.get("sql"), str):
            reads = reads_of(derived["sql"], catalog, versions)
            for column in product.columns:  # and the lineage recorded at publication
                for source in lineage_of(product, column.name) or []:
                    fqn = str(source.get("product"))
                    reads[fqn] = reads.get(fqn, frozenset()) | {
                        str(source.get("column")).lower()}
            found.append(Consumer("product", product.fqn, reads, product.status))
    for spec in load_reports(root):
        if isinstance(spec, DuckmeshError):
            continue  # a broken report is validate's to report
        try:
            sql = report_sql(root, spec)
        except DuckmeshError:
            continue
        found.append(Consumer("report", spec.name, reads_of(sql, catalog, versions)))
    return found


def impacted(found: Iterable[Consumer], product: str,
             columns: Iterable[str]) -> list[tuple[Consumer, list[str]]]:
    """The consumers reading any of ``columns`` of ``product``, with the columns they read."""
    wanted = list(columns)
    out = []
    for consumer in found:
        hit = [c for c in wanted if consumer.reads_column(product, c)]
        if hit:
            out.append((consumer, hit))
    return out


def edges(found: Iterable[Consumer], focus: str | None = None) -> list[dict[str, Any]]:
    """``{from, to, kind, columns}`` for every upstream product → consumer edge; with
    ``focus``, only the edges upstream and downstream of it (transitively)."""
    all_edges: list[dict[str, Any]] = [
        {"from": upstream, "to": c.name, "kind": c.kind, "columns": sorted(cols)}
        for c in found for upstream, cols in sorted(c.reads.items())]
    if focus is None:
        return all_edges
    keep: list[dict[str, Any]] = []
    for near, far in (("from", "to"), ("to", "from")):  # downstream, then upstream
        frontier: set[str] = {focus}
        seen: set[str] = {focus}
        while frontier:
            step = [e for e in all_edges if e[near] in frontier]
            keep.extend(e for e in step if e not in keep)
            frontier = {str(e[far]) for e in step} - seen
            seen |= frontier
    return keep


def _node(name: str) -> str:
    return "n_" + "".join(ch if ch.isalnum() else "_" for ch in name)


def render(found: list[Consumer], catalog: Catalog, fmt: str,
           focus: str | None = None) -> str:
    """The graph as ``json``, ``dot`` (Graphviz) or ``mermaid`` text."""
    links = edges(found, focus)
    kinds = {c.name: c.kind for c in found}
    names = sorted({e["from"] for e in links} | {e["to"] for e in links}
                   | ({focus} if focus else set()))
    if fmt == "json":
        return json.dumps({"nodes": [{"name": n, "kind": kinds.get(n, "product"),
                                      "status": _status(catalog, n)} for n in names],
                           "edges": links}, indent=2)
    if fmt == "dot":
        lines = ["digraph mesh {", "  rankdir=LR;"]
        for n in names:
            shape = "note" if kinds.get(n) == "report" else "box"
            lines.append(f'  {_node(n)} [label="{n}", shape={shape}];')
        for e in links:
            label = ", ".join(e["columns"])[:80]
            lines.append(f'  {_node(e["from"])} -> {_node(e["to"])} [label="{label}"];')
        return "\n".join([*lines, "}"])
    lines = ["flowchart LR"]
    for n in names:
        lines.append(f'  {_node(n)}[/"{n}"/]' if kinds.get(n) == "report"
                     else f'  {_node(n)}["{n}"]')
    for e in links:
        label = ", ".join(e["columns"])[:80].replace('"', "'")
        lines.append(f'  {_node(e["from"])} -->|"{label}"| {_node(e["to"])}')
    return "\n".join(lines)


def _status(catalog: Catalog, name: str) -> str | None:
    product = catalog.products.get(name)
    return None if product is None else (product.status or "active")


IMPACT_KINDS = ("column removed", "column renamed", "type narrowed or changed", "type widened")
"""Contract changes a consumer reading the column may break on."""


def impact(root: Path, catalog: Catalog, old: Product, new: Product | None,
           changes: Iterable[Any]) -> list[dict[str, Any]]:
    """The consumers a change from ``old`` to ``new`` reaches: ``{consumer, kind,
    columns, changes}`` for each derived product or report reading a removed, renamed or
    retyped column (every consumer of the product if it was removed)."""
    found = consumers(root, catalog, {old.fqn: old})
    if new is None:
        hits = [(c, sorted(c.reads[old.fqn])) for c in found if old.fqn in c.reads]
        return [{"consumer": c.name, "kind": c.kind, "columns": cols,
                 "changes": ["product removed"]} for c, cols in hits if c.name != old.fqn]
    touched: dict[str, list[str]] = {}
    for change in changes:
        if change.kind in IMPACT_KINDS and change.column:
            touched.setdefault(change.column.lower(), []).append(
                f"{change.kind}: {change.detail}")
    out = []
    for consumer, cols in impacted(found, old.fqn, touched):
        if consumer.name == old.fqn:
            continue
        out.append({"consumer": consumer.name, "kind": consumer.kind, "columns": cols,
                    "changes": sorted({t for c in cols for t in touched[c]})})
    return out


def impact_text(hits: list[dict[str, Any]]) -> str:
    """``bookings.booking_facts (product) reads email; …`` for one line of output."""
    return "; ".join(f"{h['consumer']} ({h['kind']}) reads {', '.join(h['columns'])}"
                     for h in hits)
