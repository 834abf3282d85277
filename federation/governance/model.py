"""Governance as code: principals, global classification rules and domain grants.

Files (see docs/mesh-format.md):

- ``governance/principals.yaml``: users → roles and attributes;
- ``governance/policies.yaml``: global rules keyed on classification;
- ``domains/<domain>/domain.yaml``: the domain's owner and grants (default deny).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import sqlglot
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlglot import exp
from sqlglot.errors import ParseError

from products.catalog import domain_dirs
from products.config import pydantic_error
from products.sizes import parse_size
from products.yamlio import YamlDocument, load_yaml

MaskMethod = Literal["hash", "redact", "null", "partial", "year"]
# Strictest first: when two rules mask one column, the stricter method wins.
MASK_STRICTNESS: tuple[str, ...] = ("null", "redact", "hash", "year", "partial")

PRINCIPALS_FILE = Path("governance/principals.yaml")
POLICIES_FILE = Path("governance/policies.yaml")
DOMAIN_FILE = "domain.yaml"

AttributeValue = str | int | float | bool
M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrincipalSpec(_Strict):
    """One user: roles, and attributes row filters may bind (``:region``)."""

    roles: list[str] = Field(default_factory=list)
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)


class PrincipalsFile(_Strict):
    """``governance/principals.yaml``."""

    users: dict[str, PrincipalSpec] = Field(default_factory=dict)


class Rule(_Strict):
    """A global rule: columns of ``classification`` are denied or masked."""

    classification: str
    action: Literal["deny", "mask"]
    method: MaskMethod | None = None
    unless_roles: list[str] = Field(default_factory=list)
    description: str | None = None

    @field_validator("classification")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    def model_post_init(self, _context: object) -> None:
        if self.action == "mask" and self.method is None:
            raise ValueError("a mask rule needs a method")
        if self.action == "deny" and self.method is not None:
            raise ValueError("a deny rule takes no method")

    def describe(self, index: int) -> str:
        """``policies.yaml rule 1 (pci: deny unless fraud_investigator)``."""
        what = self.action if self.action == "deny" else f"mask {self.method}"
        unless = f" unless {', '.join(self.unless_roles)}" if self.unless_roles else ""
        return f"policies.yaml rule {index + 1} ({self.classification}: {what}{unless})"



class Budget(_Strict):
    """The most one query by these roles may scan, e.g. ``{roles: [analyst], max_bytes: 1MB}``."""

    roles: list[str]
    max_bytes: int | str

    def limit(self) -> int:
        """``max_bytes`` in bytes (``1MB`` = 10^6, ``1MiB`` = 2^20)."""
        return parse_size(self.max_bytes, "max_bytes")

    def model_post_init(self, _context: object) -> None:
        self.limit()


class PoliciesFile(_Strict):
    """``governance/policies.yaml``."""

    rules: list[Rule] = Field(default_factory=list)
    budgets: list[Budget] = Field(default_factory=list)


class Grant(_Strict):
    """A domain-owned grant: which roles read which products, and how restricted."""

    products: list[str]
    roles: list[str]
    row_filter: str | None = None
    deny_columns: list[str] = Field(default_factory=list)
    mask_columns: dict[str, MaskMethod] = Field(default_factory=dict)

    def covers(self, product: str) -> bool:
        """True if the grant names ``product`` (or every product, with ``*``)."""
        return any(p == "*" or p.lower() == product for p in self.products)


class DomainFile(_Strict):
    """``domains/<domain>/domain.yaml``."""

    owner: str | None = None
    description: str | None = None
    grants: list[Grant] = Field(default_factory=list)


@dataclass(frozen=True)
class Principal:
    """The caller of a query, as governance knows them."""

    name: str
    roles: tuple[str, ...]
    attributes: dict[str, AttributeValue]
    known: bool = True


@dataclass(frozen=True)
class DomainGovernance:
    """A domain's file plus its parsed row filters."""

    name: str
    file: DomainFile
    doc: YamlDocument
    row_filters: tuple[exp.Expr | None, ...]
    source: str | None = None
    """Where grants of a built-in domain are configured instead of its domain.yaml."""


@dataclass(frozen=True)
class Governance:
    """All governance files of a mesh."""

    principals: PrincipalsFile
    policies: PoliciesFile
    domains: dict[str, DomainGovernance]

    def principal(self, user: str) -> Principal:
        """The principal for ``user``; unknown users get no roles (so, default deny)."""
        spec = self.principals.users.get(user)
        if spec is None:
            return Principal(user, (), {}, known=False)
        return Principal(user, tuple(spec.roles), dict(spec.attributes))

    @classmethod
    def load(cls, root: Path) -> Governance:
        """Read every governance file of the mesh rooted at ``root``."""
        principals = _load_model(root / PRINCIPALS_FILE, PrincipalsFile)[0]
        policies = _load_model(root / POLICIES_FILE, PoliciesFile)[0]
        domains = {}
        for folder in domain_dirs(root):
            domain_file, doc = _load_model(folder / DOMAIN_FILE, DomainFile, required=False)
            filters = tuple(
                parse_row_filter(doc, i, g.row_filter) if g.row_filter else None
                for i, g in enumerate(domain_file.grants)
            )
            domains[folder.name] = DomainGovernance(folder.name, domain_file, doc, filters)
        return cls(principals, policies, domains)


def _load_model(path: Path, model: type[M], *, required: bool = True) -> tuple[M, YamlDocument]:
    doc = load_yaml(path, required=required)
    try:
        return model.model_validate(doc.data), doc
    except ValidationError as exc:
        raise pydantic_error(doc, exc) from None


def parse_row_filter(doc: YamlDocument, index: int, text: str) -> exp.Expr:
    """Parse a grant's row filter; ``:name`` placeholders bind user attributes later."""
    location: list[str | int] = ["grants", index, "row_filter"]
    try:
        parsed = sqlglot.parse(text, read="duckdb")
    except ParseError:
        raise doc.error(location, "row filter is not a valid SQL expression") from None
    if len(parsed) != 1 or parsed[0] is None:
        raise doc.error(location, "row filter must be one SQL expression")
    expression = parsed[0]
    if isinstance(expression, exp.Query) or expression.find(exp.Query, exp.Table):
        raise doc.error(location, "row filter must be a predicate over the product's own "
                                  "columns, without subqueries")
    for column in expression.find_all(exp.Column):
        if column.table:
            raise doc.error(location, f"row filter column {column.sql()!r} must not be "
                                      "qualified")
    return expression


def mask_rank(method: str) -> int:
    """Lower is stricter."""
    return MASK_STRICTNESS.index(method)


def stricter(a: str, b: str) -> str:
    """The stricter of two mask methods."""
    return a if mask_rank(a) <= mask_rank(b) else b

