"""Finding and understanding products: ranked search and the facts ``show`` prints."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.errors import DuckmeshError
from products.catalog import Catalog
from products.conformance import freshness_finding, freshness_limit, human
from products.contract import Product
from products.locate import plan_product

# Weights: an exact name beats everything, then names, then the words around them.
W_EXACT_NAME = 1000
W_NAME = 100
W_DOMAIN = 60
W_COLUMN_EXACT = 50
W_TAG = 40
W_COLUMN = 30
W_DESCRIPTION = 20
W_OWNER = 15
W_COLUMN_DESCRIPTION = 10


@dataclass(frozen=True)
class Match:
    """A search hit: the product, its score and why it matched."""

    product: Product
    score: int
    reasons: tuple[str, ...] = field(default=())


def _terms(text: str) -> list[str]:
    return [t for t in re.split(r"\s+", text.lower().strip()) if t]


def score(product: Product, text: str) -> Match:
    """How well ``product`` matches ``text`` (every term must match somewhere)."""
    query = text.lower().strip()
    total = 0
    reasons: list[str] = []
    if query == product.fqn:
        return Match(product, W_EXACT_NAME, ("name",))
    if query == product.name:
        total += W_EXACT_NAME
        reasons.append("name")
    for term in _terms(text):
        hits = 0
        if term in product.name:
            hits += W_NAME
            reasons.append(f"name contains {term!r}")
        if term == product.domain:
            hits += W_DOMAIN
            reasons.append(f"domain {product.domain}")
        for tag in product.tags:
            if term == str(tag).lower():
                hits += W_TAG
                reasons.append(f"tag {tag}")
        for column in product.columns:
            if term == column.name.lower():
                hits += W_COLUMN_EXACT
                reasons.append(f"column {column.name}")
            elif term in column.name.lower():
                hits += W_COLUMN
                reasons.append(f"column {column.name}")
            if column.description and term in column.description.lower():
                hits += W_COLUMN_DESCRIPTION
                reasons.append(f"description of column {column.name}")
        if product.description and term in product.description.lower():
            hits += W_DESCRIPTION
            reasons.append("description")
        if product.owner and term in product.owner.lower():
            hits += W_OWNER
            reasons.append(f"owner {product.owner}")
        if hits == 0:
            return Match(product, 0)
        total += hits
    return Match(product, total, tuple(dict.fromkeys(reasons)))


def search(catalog: Catalog, text: str) -> list[Match]:
    """Products matching ``text``, best first (case-insensitive).  When nothing matches,
    each term is read as the closest word of the catalog (a typo: ``custmer`` is
    ``customer``) and the hits say so."""
    found = _ranked(catalog, text)
    if found or not _terms(text):
        return found
    words = vocabulary(catalog)
    fixed = [difflib.get_close_matches(t, words, n=1, cutoff=0.75) for t in _terms(text)]
    if not all(fixed):
        return []
    corrected = " ".join(f[0] for f in fixed)
    note = f"did you mean {corrected!r}?"
    return [Match(m.product, m.score, (note, *m.reasons)) for m in _ranked(catalog, corrected)]


def _ranked(catalog: Catalog, text: str) -> list[Match]:
    matches = [score(p, text) for p in catalog]
    return sorted((m for m in matches if m.score > 0), key=lambda m: (-m.score, m.product.fqn))


def vocabulary(catalog: Catalog) -> list[str]:
    """Every word a search can match exactly: names, domains, tags, columns, owners."""
    words: set[str] = set()
    for product in catalog:
        words.update((product.name, product.domain, *(str(t).lower() for t in product.tags),
                      *(c.name.lower() for c in product.columns)))
        words.update(w for w in re.split(r"[^a-z0-9_]+", (product.owner or "").lower()) if w)
    return sorted(words)


def describe(product: Product, root: Path, storage: Any = None) -> dict[str, Any]:
    """Everything ``products show`` prints, including live facts read from storage."""
    server = product.server
    info: dict[str, Any] = {
        "product": product.fqn,
        "owner": product.owner,
        "description": product.description,
        "version": product.version,
        "status": product.status,
        "contract": str(product.contract_path),
        "location": server.location,
        "format": server.format,
        "tags": list(product.tags),
        "columns": [{"name": c.name, "type": c.type, "required": c.required,
                     "classification": c.classification, "description": c.description}
                    for c in product.columns],
        "sla": [dict(s) for s in product.sla],
        "quality": [dict(q) for q in product.quality] + [
            {**q, "column": c.name} for c in product.columns for q in c.quality],
    }
    try:
        facts = plan_product(product, root, storage).facts
    except DuckmeshError as exc:
        info["facts"] = {"error": str(exc)}
        return info
    fresh = freshness_finding(product, facts)
    limit = freshness_limit(product)
    info["facts"] = {
        "rows": facts.rows if facts.rows >= 0 else None,  # text formats: unknown
        "size_bytes": facts.size,
        "files": len(facts.files),
        "last_modified": facts.last_modified.isoformat() if facts.last_modified else None,
        "freshness": None if fresh is None else {
            "status": "fresh" if fresh.status == "passed" else "stale",
            "sla": human(limit) if limit else None, "detail": fresh.message},
    }
    return info
