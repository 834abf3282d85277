"""The request files: ``requests/<domain>/<id>.yaml``, one per access request.

```yaml
id: 20261101T101500Z-3f9c0a1b
product: payments.transactions
columns: [card_number]          # empty: the whole product
purpose: fraud_detection        # declared in governance/policies.yaml
reason: Chargeback investigation CASE-1182
requested_by: ana
requested_at: '2026-11-01T10:15:00+00:00'
roles: [analyst]                # the requester's roles when asking
status: pending                 # pending, approved or denied
grant_file: domains/payments/domain.yaml
grant:                          # what approving adds first under grants:
  products: [transactions]
  users: [ana]
  release_columns: {card_number: [fraud_detection]}
notes: [...]                    # what the grant can and cannot change, in words
decided_by: finance-team        # once decided
decided_at: '...'
decision_note: ...
branch: duckmesh/access-20261101T101500Z-3f9c0a1b   # when the mesh is a git repository
```

A request is created only for a product of the catalog, columns of it, a declared
purpose and a reason; files are written whole (temporary file, then rename).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.writers import atomic_file
from federation.access.proposal import proposal
from federation.errors import AccessDenied, ConfigError, UsageError
from federation.mesh import Mesh
from products.config import pydantic_error
from products.yamlio import load_yaml

REQUESTS_DIR = "requests"
ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
MAX_REASON = 2000
Status = Literal["pending", "approved", "denied"]


class AccessRequest(BaseModel):
    """One access request, as its file holds it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID.pattern)
    product: str
    columns: list[str] = Field(default_factory=list)
    purpose: str
    reason: str = Field(min_length=1, max_length=MAX_REASON)
    requested_by: str
    requested_at: str
    roles: list[str] = Field(default_factory=list)
    status: Status = "pending"
    grant_file: str
    grant: dict[str, Any]
    notes: list[str] = Field(default_factory=list)
    via: str = "cli"
    decided_by: str | None = None
    decided_at: str | None = None
    decision_note: str | None = None
    branch: str | None = None

    @property
    def domain(self) -> str:
        return self.product.partition(".")[0]

    @property
    def what(self) -> str:
        """``payments.transactions (card_number)`` or the product alone."""
        return self.product + (f" ({', '.join(self.columns)})" if self.columns else "")

    def grant_yaml(self) -> str:
        """The grant change as YAML: one item to add first under ``grants:``."""
        return yaml.safe_dump([self.grant], sort_keys=False, allow_unicode=True, width=88)


def folder(root: Path, domain: str) -> Path:
    return root / REQUESTS_DIR / domain


def path_of(root: Path, request: AccessRequest) -> Path:
    return folder(root, request.domain) / f"{request.id}.yaml"


def save(root: Path, request: AccessRequest) -> Path:
    """Write ``request``'s file whole."""
    path = path_of(root, request)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# an access request; see docs/catalog.md\n" + yaml.safe_dump(
        request.model_dump(exclude_none=True), sort_keys=False, allow_unicode=True, width=88)
    with atomic_file(path) as handle:
        handle.write(text.encode("utf-8"))
    return path


def load(path: Path) -> AccessRequest:
    doc = load_yaml(path, allow_empty=False)
    try:
        request = AccessRequest.model_validate(doc.data)
    except ValidationError as exc:
        raise pydantic_error(doc, exc) from None
    if f"{request.id}.yaml" != path.name or request.domain != path.parent.name:
        raise ConfigError("the request's id or product does not match its file name and "
                          "folder", file=str(path))
    return request


def all_requests(root: Path, domain: str | None = None) -> list[AccessRequest | ConfigError]:
    """Every request of the mesh (or of ``domain``), oldest first; a broken file as its
    error, so one bad file never hides the others."""
    base = root / REQUESTS_DIR
    if not base.is_dir():
        return []
    folders = [base / domain] if domain else sorted(p for p in base.iterdir() if p.is_dir())
    out: list[AccessRequest | ConfigError] = []
    for where in folders:
        for path in sorted(where.glob("*.yaml")) if where.is_dir() else []:
            try:
                out.append(load(path))
            except ConfigError as exc:
                out.append(exc)
    return out


def requests(root: Path, domain: str | None = None, *, status: str | None = None,
             requested_by: str | None = None) -> list[AccessRequest]:
    """The readable requests, filtered."""
    return [r for r in all_requests(root, domain) if isinstance(r, AccessRequest)
            and (status is None or r.status == status)
            and (requested_by is None or r.requested_by == requested_by)]


def find(root: Path, request_id: str) -> AccessRequest:
    """The request ``request_id``; UsageError if there is none."""
    if not ID.match(request_id):
        raise UsageError(f"{request_id!r} is not a request id (like 20261101T101500Z-3f9c0a1b)")
    base = root / REQUESTS_DIR
    for where in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
        path = where / f"{request_id}.yaml"
        if path.is_file():
            return load(path)
    raise UsageError(f"no access request {request_id}", hint="see `duckmesh access list`")


def create(mesh: Mesh, user: str, product_name: str, columns: list[str], purpose: str | None,
           reason: str, *, via: str = "cli") -> AccessRequest:
    """Check and write a new pending request of ``user``; the request, with the grant an
    owner would commit."""
    principal = mesh.governance.principal(user)
    if not principal.known:
        raise AccessDenied(f"user {user!r} is not listed in governance/principals.yaml; only "
                           "principals can be granted access", hint="ask the platform team "
                           "to add you to governance/principals.yaml")
    if not purpose:
        raise UsageError("an access request needs a purpose", hint="declared purposes: " +
                         ", ".join(mesh.governance.policies.purpose_names))
    mesh.check_purpose(purpose)
    reason = reason.strip()
    if not reason:
        raise UsageError("an access request needs a reason (--reason TEXT)")
    if len(reason) > MAX_REASON:
        raise UsageError(f"the reason is longer than {MAX_REASON} characters")
    product = mesh.catalog.get(product_name)
    names = []
    for column in columns:
        found = product.column(column.strip())
        if found is None:
            raise UsageError(f"{product.fqn} has no column {column.strip()!r}",
                             product=product.fqn, column=column)
        if found.name not in names:
            names.append(found.name)
    for pending in requests(mesh.root, product.domain, status="pending", requested_by=user):
        if pending.product == product.fqn and sorted(pending.columns) == sorted(names):
            raise UsageError(f"you already asked for {pending.what}: request {pending.id} is "
                             "pending")
    plan = proposal(mesh, principal, product, names, purpose)
    if not plan.changes:
        if plan.blocked:
            raise UsageError(f"the owners of {product.domain} cannot grant you "
                             f"{', '.join(plan.blocked)}: {plan.notes[0]}",
                             product=product.fqn, column=plan.blocked[0])
        raise UsageError(f"you already read {product.fqn}" + (
            f" ({', '.join(names)})" if names else "") + f" for purpose {purpose!r}",
            product=product.fqn)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    request = AccessRequest(
        id=f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}", product=product.fqn,
        columns=names, purpose=purpose, reason=reason, requested_by=user,
        requested_at=now.isoformat(), roles=list(principal.roles),
        grant_file=f"domains/{product.domain}/domain.yaml", grant=plan.grant,
        notes=plan.notes, via=via)
    save(mesh.root, request)
    from federation.access.decide import audit

    audit(mesh, request, "access_requested", user)
    return request
