"""The catalog: every data product of the mesh, found from ``domains/*/*.odcs.yaml``."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from connectors.errors import ConfigError, UsageError
from products.config import MESH_FILE, MeshSettings, load_settings
from products.contract import CONTRACT_SUFFIX, Product
from products.contract_cache import ContractCache
from products.ownership import (
    DomainRoots,
    Place,
    PlaceError,
    domain_roots,
    location_problem,
    overlapping_roots,
    place,
    product_place,
    shared_locations,
)

DOMAINS_DIR = "domains"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def check_name(kind: str, name: str, path: Path) -> None:
    """Domain and product names must be plain lower-case SQL identifiers."""
    if not _NAME.match(name):
        raise ConfigError(f"{kind} name {name!r} must match [a-z][a-z0-9_]*", file=str(path))


@dataclass(frozen=True)
class Catalog:
    """All products of a mesh, looked up by ``domain.product`` (case-insensitive).

    A contract that cannot be used (malformed, invalid, or placing its data outside its
    domain's storage roots, see :mod:`products.ownership`) does not stop the mesh: it is
    kept in ``broken`` with its error, and naming that product raises the error, while
    every other product keeps working.
    """

    root: Path
    products: dict[str, Product]
    broken: dict[str, ConfigError] = field(default_factory=dict)
    roots: dict[str, DomainRoots] = field(default_factory=dict)
    """Each domain's storage roots, for checking what planning finds (Iceberg table
    locations, files behind symlinks)."""

    def foreign_data(self, product: Product, uris: Iterable[str]) -> str | None:
        """The first of ``uris`` (a planned location and files) outside ``product``'s
        domain roots, as a problem to refuse; None if all lie inside."""
        roots = self.roots.get(product.domain) or domain_roots(
            MeshSettings(name="-"), product.domain, self.root)
        for uri in uris:
            try:
                where = place(uri, self.root)
            except PlaceError as exc:
                return str(exc)
            if not roots.holds(where):
                return (f"{product.fqn} reads {uri!r}, outside domain {product.domain}'s "
                        "storage roots (duckmesh.yaml domains)")
        return None

    @classmethod
    def load(cls, root: Path, settings: MeshSettings | None = None) -> Catalog:
        """Load every contract below ``root/domains``; ``settings`` (default: read from
        duckmesh.yaml) give the domains' storage roots.  Overlapping roots of two domains
        are a mesh-wide error."""
        if settings is None:
            settings = load_settings(root) if (root / MESH_FILE).is_file() else \
                MeshSettings(name=root.name)
        for folder in domain_dirs(root):
            # A folder that is no SQL name cannot hold products: a mistake in the mesh's
            # layout, refused for the whole mesh rather than skipped.
            check_name("domain", folder.name, folder)
        roots = {d.name: domain_roots(settings, d.name, root) for d in domain_dirs(root)}
        clash = overlapping_roots(list(roots.values()))
        if clash:
            raise ConfigError(clash[0], file=str(root / MESH_FILE), field="domains")
        products: dict[str, Product] = {}
        broken: dict[str, ConfigError] = {}
        # Contracts whose bytes passed validation before are not parsed and validated again.
        cache = ContractCache(root)
        places: dict[str, Place] = {}
        for path in contract_paths(root):
            domain, name = path.parent.name, path.name[: -len(CONTRACT_SUFFIX)]
            fqn = f"{domain}.{name}".lower()
            try:
                check_name("product", name, path)
                product = cache.load(path, domain)
            except ConfigError as exc:
                broken[fqn] = exc
                continue
            # Resolved once (symlinks followed): shared_locations below uses it again.
            where = None
            if product.server.type != "iceberg":
                with contextlib.suppress(PlaceError):
                    where = places[product.fqn] = product_place(product, root)
            problem = location_problem(product, roots[domain], root, where)
            if problem is not None:
                broken[fqn] = ConfigError(problem, file=str(path), field="servers",
                                          product=product.fqn)
                continue
            products[product.fqn] = product
        cache.save()
        for fqn, message in shared_locations(list(products.values()), root, places).items():
            broken[fqn] = ConfigError(message, file=str(products.pop(fqn).contract_path),
                                      field="servers", product=fqn)
        return cls(root, products, broken, roots)

    def __iter__(self) -> Iterator[Product]:
        return iter(sorted(self.products.values(), key=lambda p: p.fqn))

    def __len__(self) -> int:
        return len(self.products)

    def find(self, domain: str, name: str) -> Product | None:
        """The product ``domain.name`` or None; the product's own error if its contract
        is broken (never "unknown": a broken product is refused, not ignored)."""
        fqn = f"{domain.lower()}.{name.lower()}"
        if fqn in self.broken:
            error = self.broken[fqn]
            raise ConfigError(f"product {fqn} cannot be used: {error}", product=fqn,
                              hint="run `duckmesh validate`")
        return self.products.get(fqn)

    def get(self, fqn: str) -> Product:
        """The product named ``domain.product``; a clear error if there is none."""
        domain, _, name = fqn.partition(".")
        product = self.find(domain, name) if name else None
        if product is None:
            raise UsageError(f"unknown product {fqn!r}", product=fqn,
                             hint="see `duckmesh products list`")
        return product

    def domains(self) -> list[str]:
        """The names of all domains that publish at least one product."""
        return sorted({p.domain for p in self.products.values()})


def domain_dirs(root: Path) -> list[Path]:
    """Every ``domains/<name>`` folder of the mesh."""
    base = root / DOMAINS_DIR
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def contract_paths(root: Path) -> list[Path]:
    """Every contract file of the mesh, in a stable order."""
    return [p for d in domain_dirs(root) for p in sorted(d.glob("*" + CONTRACT_SUFFIX))]
