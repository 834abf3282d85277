"""What a product page shows one caller: contract facts, live freshness, each column's
decision for them and why, the last check, the version history, governed sample rows and
the governed profile.

Samples and profiles are governed queries run through the service as the caller —
admitted, audited and governed exactly like a query they type — so the page shows
nothing they could not query: hidden columns are absent, masked ones masked, rows
filtered.  A product they cannot read shows its contract only, with "request access".
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from sqlglot import exp

from federation.errors import DuckmeshError
from federation.governance.access import ProductAccess
from federation.pipeline.query import to_jsonable
from federation.server.auth import Identity
from federation.server.browse import access_of
from federation.server.service import Service
from products.contract import Product
from products.diff import contract_from_text, diff_products, required_bump

SAMPLE_ROWS = 10


def columns(product: Product, access: ProductAccess | None) -> list[dict[str, Any]]:
    """Each column with the caller's decision (allow, mask, deny, none) and the rule."""
    out = []
    for column in product.columns:
        col = access.column(column.name) if access is not None else None
        out.append({"name": column.name, "type": column.type,
                    "classification": column.classification or "",
                    "description": column.description or "", "required": column.required,
                    "primary_key": column.primary_key,
                    "action": col.action if col else "none",
                    "method": col.method if col else None,
                    "reason": col.reason if col else "no grant of your roles covers this "
                    "product", "requestable": col is None or col.action != "allow"})
    return out


def run_rows(service: Service, who: Identity, sql: str) -> dict[str, Any]:
    """A governed query's answer for ``who``: columns, rows, decisions; or its error."""
    try:
        running = service.start(who, sql)
        batches = list(running.batches())
    except DuckmeshError as exc:
        return {"error": str(exc), "columns": [], "rows": [], "decisions": []}
    names = running.schema.names
    rows = [list(r.values()) for b in batches for r in b.to_pylist()]
    return {"error": None, "columns": names, "rows": rows,
            "decisions": [to_jsonable(d) for d in running.result.decisions]}


def sample(service: Service, who: Identity, product: Product) -> dict[str, Any]:
    """The first rows of ``product`` as ``who`` may see them."""
    query = exp.select("*").from_(exp.table_(product.name, db=product.domain)) \
        .limit(SAMPLE_ROWS)
    return run_rows(service, who, query.sql(dialect="duckdb"))


def profile(service: Service, who: Identity, product: Product,
            access: ProductAccess) -> dict[str, Any]:
    """Per visible column: nulls and approximate distinct values; min, max and top values
    only where the caller sees clear values (counts only where masked); see
    :mod:`federation.checks.profile`.  The queries run through the service as ``who``."""
    from federation.checks.profile import profile as governed_profile

    def run(sql: str) -> tuple[list[str], list[list[Any]]]:
        running = service.start(who, sql)
        batches = list(running.batches())
        return running.schema.names, [list(r.values()) for b in batches for r in b.to_pylist()]

    try:
        return {"error": None, **governed_profile(product, access, run)}
    except DuckmeshError as exc:
        return {"error": str(exc), "rows": [], "total": 0}


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args],  # noqa: S603, S607
                              capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def history(root: Path, product: Product, limit: int = 20) -> dict[str, Any]:
    """The contract's versions from git, newest first, each with its changes and whether
    they break consumers; without git, the current version alone."""
    path = product.contract_path.resolve()
    log = _git(path.parent, "log", f"-{limit}", "--format=%H%x09%aI%x09%an%x09%s", "--",
               path.name)
    current: dict[str, Any] = {"version": product.version, "commit": None, "date": None,
                               "author": None, "subject": "working copy", "changes": [],
                               "bump": "none", "created": False}
    if log is None:
        return {"git": False, "versions": [current]}
    entries: list[dict[str, Any]] = []
    for line in log.splitlines():
        commit, date, author, subject = [*line.split("\t", 3), "", "", ""][:4]
        text = _git(path.parent, "show", f"{commit}:./{path.name}")
        try:
            version = contract_from_text(text, f"{commit[:8]}:{path.name}", product.domain,
                                         product.name) if text else None
        except DuckmeshError:
            version = None
        entries.append({"commit": commit[:10], "date": date[:10], "author": author,
                        "subject": subject, "product": version})
    versions: list[dict[str, Any]] = []
    newer: Product | None = product
    if entries and _git(path.parent, "diff", "--quiet", "HEAD", "--", path.name) is None:
        versions.append(_version(current, entries[0]["product"], product))
    for i, entry in enumerate(entries):
        older = entries[i + 1]["product"] if i + 1 < len(entries) else None
        newer = entry["product"]
        versions.append(_version(entry, older, newer, first=i + 1 == len(entries)))
    return {"git": True, "versions": versions or [current]}


def _version(entry: dict[str, Any], older: Product | None, newer: Product | None,
             first: bool = False) -> dict[str, Any]:
    changes = [] if first or newer is None else diff_products(older, newer)
    return {**{k: v for k, v in entry.items() if k != "product"},
            "version": newer.version if newer is not None else "unreadable",
            "changes": [{"kind": c.kind, "detail": c.detail, "bump": c.bump,
                         "breaking": c.breaking} for c in changes],
            "bump": required_bump(changes), "created": first}


def of(service: Service, who: Identity, product: Product) -> ProductAccess | None:
    """``who``'s access to ``product``, or None."""
    return access_of(service.mesh, who.principal, product)
