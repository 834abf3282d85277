"""Which storage belongs to which domain: a domain's files have no power outside it.

duckmesh.yaml (owned by the platform team, not the domains) maps each domain to its
storage roots and Iceberg namespaces::

    domains:
      marketing:
        roots: [data/marketing/, iceberg/warehouse/marketing/]
        iceberg_namespaces: [marketing]

A domain not listed gets ``data/<domain>/`` and the namespace ``<domain>``.  Every
product's location must lie under its own domain's roots — compared after normalising
(``..`` and symlinks resolved for local paths, object keys compared by path segment, so
``s3://lake/crm`` is not a root of ``s3://lake/crm-archive``).  Roots of two domains may
not overlap, and two products may not share a location.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from connectors.localpaths import real_path
from connectors.storage import LOCAL_SCHEMES
from products.config import MeshSettings
from products.contract import Product

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Place:
    """A normalised storage location: scheme (``""`` for this machine) and path segments."""

    scheme: str
    parts: tuple[str, ...]

    def within(self, other: Place) -> bool:
        """True if this place is ``other`` or lies below it."""
        return self.scheme == other.scheme and self.parts[:len(other.parts)] == other.parts

    def __str__(self) -> str:
        path = "/".join(self.parts)
        return f"{self.scheme}://{path}" if self.scheme else "/" + path


class PlaceError(ValueError):
    """A location that cannot be normalised safely (``..`` in an object key, …)."""


def place(text: str, mesh_root: Path) -> Place:
    """Normalise a location or root: local paths are resolved (relative to the mesh,
    symlinks followed as they are now); object-store URIs are split into bucket and key
    segments."""
    parsed = _parsed(text, mesh_root)
    if isinstance(parsed, Place):
        return parsed
    return Place("", real_path(parsed).parts[1:])


@lru_cache(maxsize=65536)
def _parsed(text: str, mesh_root: Path) -> Path | Place:
    """The text alone, parsed (once per text and process): an object-store place, or the
    absolute local path whose symlinks are still to be followed (that part reads the
    disk, so it is not cached here; :mod:`connectors.localpaths` checks its cache)."""
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    if len(scheme) == 1:
        scheme = ""  # a Windows drive letter
    prefix = _fixed_prefix(parsed.path if scheme == "file" else text if not scheme
                           else parsed.netloc + parsed.path)
    if scheme in LOCAL_SCHEMES:
        path = Path(prefix)
        return (path if path.is_absolute() else mesh_root / path).absolute()
    segments = [s for s in prefix.split("/") if s not in ("", ".")]
    if ".." in segments:
        raise PlaceError(f"'..' in {text!r}: object-store locations are taken literally")
    return Place("s3" if scheme == "s3a" else scheme, tuple(segments))


def _fixed_prefix(path: str) -> str:
    """The part of a path before its first glob character, cut at a segment boundary."""
    for i, ch in enumerate(path):
        if ch in _GLOB_CHARS:
            return path[:i].rsplit("/", 1)[0]
    return path


@dataclass(frozen=True)
class DomainRoots:
    """Where one domain's products may live."""

    domain: str
    roots: tuple[Place, ...]
    iceberg_namespaces: tuple[str, ...]

    def holds(self, location: Place) -> bool:
        """True if ``location`` lies under one of the roots."""
        return any(location.within(root) for root in self.roots)


def domain_roots(settings: MeshSettings, domain: str, mesh_root: Path) -> DomainRoots:
    """The roots duckmesh.yaml gives ``domain``, or its defaults."""
    declared = settings.domains.get(domain)
    texts = declared.roots if declared else [f"data/{domain}/"]
    namespaces = declared.iceberg_namespaces if declared else [domain]
    return DomainRoots(domain, tuple(place(t, mesh_root) for t in texts), tuple(namespaces))


def product_place(product: Product, mesh_root: Path) -> Place:
    """Where a (file-based) product's data lives, normalised."""
    return place(product.server.location, mesh_root)


def location_problem(product: Product, roots: DomainRoots, mesh_root: Path,
                     where: Place | None = None) -> str | None:
    """Why ``product``'s declared location is not its domain's to use, or None
    (``where``: its :func:`product_place`, when already known)."""
    server = product.server
    if server.type == "iceberg":
        namespace = str(server.options.get("namespace") or product.domain)
        if namespace not in roots.iceberg_namespaces:
            return (f"Iceberg namespace {namespace!r} is not one of domain {product.domain}'s "
                    f"({', '.join(roots.iceberg_namespaces) or 'none'}; duckmesh.yaml "
                    "domains)")
        return None  # the table's storage location is checked when it is planned
    if where is None:
        try:
            where = product_place(product, mesh_root)
        except PlaceError as exc:
            return str(exc)
    if not roots.holds(where):
        return (f"location {server.location!r} is outside domain {product.domain}'s "
                f"storage roots ({', '.join(map(str, roots.roots))}; duckmesh.yaml domains)")
    return None


def overlapping_roots(all_roots: list[DomainRoots]) -> list[str]:
    """Every pair of domains whose roots overlap (one inside the other)."""
    problems = []
    for i, a in enumerate(all_roots):
        for b in all_roots[i + 1:]:
            for ra in a.roots:
                for rb in b.roots:
                    if ra.within(rb) or rb.within(ra):
                        problems.append(f"storage roots of domains {a.domain} ({ra}) and "
                                        f"{b.domain} ({rb}) overlap")
    return problems


def shared_locations(products: list[Product], mesh_root: Path,
                     known: dict[str, Place] | None = None) -> dict[str, str]:
    """Products whose location is, holds or lies in another product's: fqn → message
    (``known``: the :func:`product_place` of products by fqn, where already worked out)."""
    places: list[tuple[Product, object]] = []
    for product in products:
        server = product.server
        if server.type == "iceberg":
            ident: object = ("iceberg", str(server.options.get("catalogUrl")),
                             str(server.options.get("namespace")), product.name)
        elif known is not None and product.fqn in known:
            ident = known[product.fqn]
        else:
            try:
                ident = product_place(product, mesh_root)
            except PlaceError:
                continue
        places.append((product, ident))
    # Pairs found by looking up each place's ancestors (and identical Iceberg tables):
    # linear in the products, where comparing every pair took seconds for 1000 products.
    by_ident: dict[object, list[int]] = {}
    for i, (_, ident) in enumerate(places):
        by_ident.setdefault(ident, []).append(i)
    partners: dict[int, set[int]] = {}
    for i, (_, ident) in enumerate(places):
        above = [Place(ident.scheme, ident.parts[:n]) for n in range(len(ident.parts) + 1)] \
            if isinstance(ident, Place) else [ident]
        for other in above:
            for j in by_ident.get(other, ()):
                if j != i:
                    partners.setdefault(i, set()).add(j)
                    partners.setdefault(j, set()).add(i)
    clashes: dict[str, str] = {}
    for i, found in partners.items():
        # The message names the same pair as comparing pairs in order did: the last one.
        later = [j for j in found if j > i]
        a, b = (i, max(later)) if later else (max(found), i)
        clashes[places[i][0].fqn] = f"{places[a][0].fqn} and {places[b][0].fqn} share a " \
                                    "storage location"
    return clashes


__all__ = ["DomainRoots", "Place", "PlaceError", "domain_roots", "location_problem",
           "overlapping_roots", "place", "product_place", "shared_locations"]
