"""A derived product's labels follow its sources' labels as they are now.

A derived product's contract records, for each column, the source columns it is computed
from and how its publisher saw them (``customProperties`` ``duckmesh.lineage``, written
by ``products publish``).  Its own ``classification`` was inherited at publication.  If a
source's label is made stricter later (``country`` becomes pii), or a ``declassify``
policy is withdrawn, the stored data did not change — so the column is governed by the
most sensitive of its own label and what its sources' labels now give it.  A label is
never lowered here: a source relaxed later leaves the derived column as it was published.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from federation.governance.policies import PoliciesFile
from products.catalog import Catalog
from products.contract import Column, Product

COLUMN_LINEAGE = "duckmesh.lineage"
"""Column customProperties key: the source columns, their labels and how they were seen."""
DERIVED = "duckmesh.derived"
"""The contract-level property a publication writes (its SQL, publisher, upstream…)."""


def sensitivity(policies: PoliciesFile, label: str) -> int:
    """Position in the declared vocabulary; undeclared labels outrank all of it."""
    labels = policies.labels
    return labels.index(label) if label in labels else len(labels)


def most_sensitive(policies: PoliciesFile, labels: Iterable[str]) -> str | None:
    """The most sensitive of ``labels`` by the mesh's own order (ties: by name)."""
    present = set(labels)
    return max(present, key=lambda x: (sensitivity(policies, x), x)) if present else None


def declassified_to(policies: PoliciesFile, label: str, seen: str) -> str | None:
    """The label a source masked as ``seen`` is lowered to by policies.yaml, or None."""
    if not seen.startswith("mask:"):
        return None
    method = seen.split(":", 1)[1]
    for entry in policies.declassify:
        if entry.classification == label and entry.method == method:
            return entry.to
    return None


def column_label(policies: PoliciesFile, column: Column) -> str:
    """A source column's label for lineage: the most sensitive of its own and every
    classification declared inside it (a struct field, list items): the derived column
    holds the whole value, and the source's field-level masks do not follow it."""
    own = column.classification or policies.default_classification
    return most_sensitive(policies, [own, *(n.classification for n in column.nested)]) or own


def lineage_of(product: Product, column: str) -> list[dict[str, Any]] | None:
    """The recorded sources of ``product.column``: empty if none are recorded, None if
    the entry is there but is not a list of mappings (a hand edit; callers decide how to
    refuse).  An entry that is not a mapping makes the whole record unreadable: dropping
    it would forget a source, and with it the source's grants."""
    return lineages(product).get(column.lower(), [])


def lineages(product: Product) -> dict[str, list[dict[str, Any]] | None]:
    """:func:`lineage_of` for every column that records one, by lower-case name, in one
    pass over the contract (a lookup per column went over every column)."""
    out: dict[str, list[dict[str, Any]] | None] = {}
    schema = product.raw.get("schema") or [{}]
    for prop in schema[0].get("properties") or []:
        name = str(prop.get("name", "")).lower()
        if name in out:
            continue  # the first lineage recorded under a name, as a lookup found it
        for custom in prop.get("customProperties") or []:
            if isinstance(custom, dict) and custom.get("property") == COLUMN_LINEAGE:
                value = custom.get("value")
                out[name] = list(value) if isinstance(value, list) and \
                    all(isinstance(s, dict) for s in value) else None
                break
    return out


def _now(catalog: Catalog, policies: PoliciesFile, source: dict[str, Any]) -> str:
    """What one recorded source gives its column today."""
    recorded = str(source.get("classification") or policies.default_classification)
    upstream = catalog.products.get(str(source.get("product", "")).lower())
    found = upstream.column(str(source.get("column", ""))) if upstream else None
    # Gone upstream: the data was published under the recorded label; keep it.
    label = column_label(policies, found) if found else recorded
    label = most_sensitive(policies, (label, recorded)) or label
    return declassified_to(policies, label, str(source.get("seen") or "allow")) or label


def tighten(catalog: Catalog, policies: PoliciesFile) -> Catalog:
    """``catalog`` with every derived column's label raised to what its sources give it
    now (see the module docstring); products without recorded lineage are unchanged.

    A derived product may be derived from another: passes repeat, each reading the labels
    the previous one raised, until nothing changes.  Labels only rise and there are
    finitely many, so this ends; the bound guards against a bug, not a normal mesh.
    """
    for _ in range(len(catalog.products) * max(len(policies.labels), 1) + 1):
        changed: dict[str, Product] = {}
        for fqn, product in catalog.products.items():
            recorded = lineages(product)
            if not recorded:
                continue  # records no lineage: nothing to tighten
            columns: list[Column] = []
            moved = False
            for column in product.columns:
                sources = recorded.get(column.name.lower()) or []
                own = column.classification or policies.default_classification
                label = most_sensitive(policies, [own, *(_now(catalog, policies, s)
                                                         for s in sources)]) or own
                if sources and label != own:
                    column = dataclasses.replace(column, classification=label)
                    moved = True
                columns.append(column)
            if moved:
                changed[fqn] = dataclasses.replace(product, columns=tuple(columns))
        if not changed:
            return catalog
        catalog = dataclasses.replace(catalog, products={**catalog.products, **changed})
    return catalog


SourceColumn = tuple[str, str]
"""``(product fqn, column)`` a derived column is computed from, lower case: a top-level
column of a product the catalog holds.  ``("?", why)`` stands for a recorded source that
cannot be resolved (``why`` says which and how), which access refuses."""


@dataclass(frozen=True)
class DerivedSources:
    """Every derived product's source columns (:func:`source_columns`), and the source
    products themselves (their grants are checked against them)."""

    columns: dict[str, dict[str, tuple[SourceColumn, ...]]] = \
        dataclasses.field(default_factory=dict)
    products: dict[str, Product] = dataclasses.field(default_factory=dict)
    reads: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """Every product each derived product reads, at every level (its recorded upstream
    products and theirs); ``"? why"`` for a recorded upstream that cannot be resolved."""

    def of(self, product: str, column: str) -> tuple[SourceColumn, ...]:
        """The sources of ``product.column`` at every level (none for a product that is
        not derived, or a column computed from no product column)."""
        return self.columns.get(product.lower(), {}).get(column.lower(), ())

    def reads_of(self, product: str) -> tuple[str, ...]:
        """The products ``product`` is computed from, at every level (none if it is not
        derived)."""
        return self.reads.get(product.lower(), ())


def source_columns(catalog: Catalog) -> DerivedSources:
    """For every derived product, each column's source columns at every level: the
    columns of the products it reads and, when those are derived too, theirs.

    Access uses it (:func:`federation.governance.access.evaluate`): a grant at a source
    that masks or denies a column to a reader follows the column into every product
    computed from it (a grant is a domain's rule, not a classification: label
    tightening alone does not carry it).  A source that cannot be resolved gives
    ``("?", why)``, which access refuses: a lineage that is not a list of mappings, an
    entry without product or column, a product the catalog does not hold (removed,
    renamed, broken: which of its domain's grants applied is unknown) or a column that
    product lacks (renamed: the grant that masked it now names another).
    """
    out: dict[str, dict[str, tuple[SourceColumn, ...]]] = {}
    maps: dict[str, dict[str, list[dict[str, Any]] | None]] = {}
    for fqn, product in catalog.products.items():
        if not _lineage_map(maps, product):
            continue  # records no lineage: no column has sources
        columns = {c.name.lower(): _flatten(catalog, maps, product, c.name, frozenset())
                   for c in product.columns}
        kept = {name: found for name, found in columns.items() if found}
        if kept:
            out[fqn.lower()] = kept
    reads = {fqn.lower(): found for fqn, product in catalog.products.items()
             if (found := _reads(catalog, product, frozenset({fqn.lower()})))}
    used = {source for columns in out.values() for found in columns.values()
            for source, _ in found} | {fqn for found in reads.values() for fqn in found}
    return DerivedSources(out, {fqn: catalog.products[fqn] for fqn in used
                                if fqn in catalog.products}, reads)


def _reads(catalog: Catalog, product: Product, seen: frozenset[str]) -> tuple[str, ...]:
    """The products ``product``'s publication records as upstream, and theirs."""
    derived = product.custom(DERIVED)
    if derived is None:
        return ()
    upstream = derived.get("upstream") if isinstance(derived, dict) else None
    if not isinstance(upstream, list):
        return (f"? {product.fqn}'s {DERIVED} upstream is not a list",)
    found: list[str] = []
    for entry in upstream:
        name = entry.get("product") if isinstance(entry, dict) else None
        source = catalog.products.get(name.lower()) if isinstance(name, str) else None
        if source is None:
            found.append(f"? {product.fqn}'s upstream {entry!r} is not a product of the "
                         "catalog")
            continue
        key = source.fqn.lower()
        if key in seen or key in found:
            continue  # a cycle of hand-edited upstreams ends where it began
        found.append(key)
        found.extend(s for s in _reads(catalog, source, seen | {key}) if s not in found)
    return tuple(found)


def _resolve(catalog: Catalog, source: dict[str, Any]) -> SourceColumn:
    """One recorded source as ``(product, top-level column)``, or ``("?", why)``."""
    product, column = source.get("product"), source.get("column")
    if not isinstance(product, str) or not isinstance(column, str) or \
            not product or not column:
        return "?", f"an entry without product or column: {source!r}"
    # Names as the publisher writes them, case aside: a space or a quote is another name.
    upstream = catalog.products.get(product.lower())
    if upstream is None:
        return "?", f"its source {product!r} is not in the catalog (removed, renamed or " \
                    "its contract broken)"
    # A field path (``contact.email``) is governed by its top-level column's grants.
    found = upstream.column(column) or upstream.column(column.split(".", 1)[0])
    if found is None:
        return "?", f"its source {upstream.fqn} has no column {column!r}"
    return upstream.fqn.lower(), found.name.lower()


def _lineage_map(maps: dict[str, dict[str, list[dict[str, Any]] | None]],
                 product: Product) -> dict[str, list[dict[str, Any]] | None]:
    """:func:`lineages` of ``product``, read once per :func:`source_columns`."""
    key = product.fqn.lower()
    if key not in maps:
        maps[key] = lineages(product)
    return maps[key]


def _flatten(catalog: Catalog, maps: dict[str, dict[str, list[dict[str, Any]] | None]],
             product: Product, column: str,
             seen: frozenset[SourceColumn]) -> tuple[SourceColumn, ...]:
    recorded = _lineage_map(maps, product).get(column.lower(), [])
    if recorded is None:
        return (("?", f"{product.fqn}'s lineage of {column} is not a list of sources"),)
    found: list[SourceColumn] = []
    for source in recorded:
        key = _resolve(catalog, source)
        if key in seen or key in found:
            continue
        found.append(key)
        upstream = catalog.products.get(key[0])
        if upstream is not None:
            # ``seen``: a cycle of hand-edited lineage ends where it began.
            found.extend(s for s in _flatten(catalog, maps, upstream, key[1], seen | {key})
                         if s not in found)
    return tuple(found)
