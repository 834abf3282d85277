"""Governance as code, loaded: principals, the global policies and each domain's grants.

Files (see docs/mesh-format.md):

- ``governance/principals.yaml``: users → roles and attributes;
- ``governance/policies.yaml``: the classification vocabulary, global rules, purposes,
  budgets (:mod:`federation.governance.policies`);
- ``domains/<domain>/domain.yaml``: the domain's contact and grants, default deny
  (:mod:`federation.governance.grants`).

Loading fails closed.  A mistake in ``governance/`` refuses every query (the load
raises).  A mistake in a domain's file refuses that domain's products only: the domain
is kept with its error, and every product of it is denied with that error, while other
domains keep working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from federation.errors import ConfigError
from federation.governance.derived import DerivedSources
from federation.governance.grants import DomainFile, Grant, RowFilter, parse_row_filter
from federation.governance.policies import (
    MASK_STRICTNESS,
    Budget,
    MaskMethod,
    PoliciesFile,
    Rule,
    mask_rank,
    stricter,
)
from products.catalog import domain_dirs
from products.config import pydantic_error
from products.yamlio import YamlDocument, load_yaml

__all__ = [
    "DOMAIN_FILE", "MASK_STRICTNESS", "POLICIES_FILE", "PRINCIPALS_FILE", "Budget",
    "DomainFile", "DomainGovernance", "Governance", "Grant", "MaskMethod", "PoliciesFile",
    "Principal", "PrincipalSpec", "PrincipalsFile", "Rule", "mask_rank", "stricter",
]

PRINCIPALS_FILE = Path("governance/principals.yaml")
POLICIES_FILE = Path("governance/policies.yaml")
DOMAIN_FILE = "domain.yaml"

AttributeValue = str | int | float | bool
M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    # defer_build: a model's validator is built when it first validates, not at import
    # (pydantic work to open the demo mesh: 29 ms -> 17 ms; models never used: nothing).
    # Empty lists are plain defaults (``= []``, copied per instance by pydantic): building
    # a schema with default_factory=list costs an inspect.signature(list) each (~4 ms).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class PrincipalSpec(_Strict):
    """One user: roles, and attributes row filters may bind (``:region``)."""

    roles: list[str] = []
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)


class PrincipalsFile(_Strict):
    """``governance/principals.yaml``."""

    users: dict[str, PrincipalSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Principal:
    """The caller of a query, as governance knows them."""

    name: str
    roles: tuple[str, ...]
    attributes: dict[str, AttributeValue]
    known: bool = True
    scope: str | None = None
    """Set only by duckmesh itself (``check``): the one product this principal reads,
    whole and unmasked; every other product is denied.  No file can name it."""

    @classmethod
    def for_check(cls, product: str) -> Principal:
        """The identity quality rules of ``product`` run as: that product, nothing else."""
        return cls(f"duckmesh:check:{product}", (), {}, known=True, scope=product)


@dataclass(frozen=True)
class DomainGovernance:
    """A domain's file plus its parsed row filters, or the error that makes it unusable."""

    name: str
    file: DomainFile
    doc: YamlDocument
    row_filters: tuple[RowFilter, ...]
    source: str | None = None
    """Where grants of a built-in domain are configured instead of its domain.yaml."""
    error: ConfigError | None = field(default=None, compare=False)
    """Set when domain.yaml cannot be used: every product of the domain is refused."""

    @classmethod
    def load(cls, folder: Path) -> DomainGovernance:
        """The domain in ``folder``; a broken domain.yaml is kept as the domain's error."""
        path = folder / DOMAIN_FILE
        try:
            domain_file, doc = _load_model(path, DomainFile, required=False)
        except ConfigError as exc:
            return cls(folder.name, DomainFile(), YamlDocument(path, {}, {}), (), error=exc)
        filters = tuple(parse_row_filter(g) for g in domain_file.grants)
        return cls(folder.name, domain_file, doc, filters)


@dataclass(frozen=True)
class Governance:
    """All governance files of a mesh."""

    principals: PrincipalsFile
    policies: PoliciesFile
    domains: dict[str, DomainGovernance]
    derived_sources: DerivedSources = field(default_factory=DerivedSources)
    """Derived products' source columns (:func:`federation.governance.derived.source_columns`),
    set by ``Mesh.open``: the grants at the sources apply to them too."""

    def principal(self, user: str) -> Principal:
        """The principal for ``user``; unknown users get no roles (so, default deny)."""
        spec = self.principals.users.get(user)
        if spec is None:
            return Principal(user, (), {}, known=False)
        return Principal(user, tuple(spec.roles), dict(spec.attributes))

    def owner(self, domain: str) -> str | None:
        """``domain``'s domain.yaml ``owner`` as written (a principal or a role); None if
        it names none or the file is broken."""
        found = self.domains.get(domain)
        return found.file.owner if found is not None and found.error is None else None

    def owners(self, domain: str) -> list[str]:
        """The principals who own ``domain``: its domain.yaml ``owner``, by principal name
        or a role of that name.  Owners decide access requests, publish derived products
        and change the lifecycle status of the domain's contracts; a broken domain.yaml
        has no owners."""
        owner = self.owner(domain)
        if not owner:
            return []
        return sorted(name for name, spec in self.principals.users.items()
                      if name == owner or owner in spec.roles)

    @classmethod
    def load(cls, root: Path) -> Governance:
        """Read every governance file of the mesh rooted at ``root``."""
        principals = _load_model(root / PRINCIPALS_FILE, PrincipalsFile)[0]
        policies = _load_model(root / POLICIES_FILE, PoliciesFile)[0]
        domains = {folder.name: DomainGovernance.load(folder) for folder in domain_dirs(root)}
        return cls(principals, policies, domains)


def _load_model(path: Path, model: type[M], *,
                required: bool = True) -> tuple[M, YamlDocument]:
    # A file that exists must say something: empty never means "no rules" or "no grants".
    doc = load_yaml(path, required=required, allow_empty=False)
    try:
        return model.model_validate(doc.data), doc
    except ValidationError as exc:
        raise pydantic_error(doc, exc) from None
