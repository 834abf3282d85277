"""The catalog: every data product of the mesh, found from ``domains/*/*.odcs.yaml``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from connectors.errors import ConfigError, UsageError
from products.contract import CONTRACT_SUFFIX, Product, load_contract

DOMAINS_DIR = "domains"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def check_name(kind: str, name: str, path: Path) -> None:
    """Domain and product names must be plain lower-case SQL identifiers."""
    if not _NAME.match(name):
        raise ConfigError(f"{kind} name {name!r} must match [a-z][a-z0-9_]*", file=str(path))


@dataclass(frozen=True)
class Catalog:
    """All products of a mesh, looked up by ``domain.product`` (case-insensitive)."""

    root: Path
    products: dict[str, Product]

    @classmethod
    def load(cls, root: Path) -> Catalog:
        """Load every contract below ``root/domains``; the first broken one raises."""
        products: dict[str, Product] = {}
        for path in contract_paths(root):
            domain = path.parent.name
            check_name("domain", domain, path.parent)
            name = path.name[: -len(CONTRACT_SUFFIX)]
            check_name("product", name, path)
            product = load_contract(path, domain)
            products[product.fqn] = product
        return cls(root, products)

    def __iter__(self) -> Iterator[Product]:
        return iter(sorted(self.products.values(), key=lambda p: p.fqn))

    def __len__(self) -> int:
        return len(self.products)

    def find(self, domain: str, name: str) -> Product | None:
        """The product ``domain.name`` or None."""
        return self.products.get(f"{domain.lower()}.{name.lower()}")

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
