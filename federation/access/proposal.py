"""The grant an approval would add, worked out by governance itself.

The new grant names the requester (``users: [name]``) and the product, and goes first in
the domain's ``grants:`` — grants are ordered, so it applies to the requester before any
role grant.  It keeps every restriction the requester has today (row filter, denied and
masked columns) except on the columns asked for; a requested column that a global rule
hides or masks is released (``release_columns``) for the request's purpose only where
policies.yaml lets domains release that label for it.  The result is then *evaluated*
with the new grant in place, so what the owner approves is exactly what the requester
will get — including what the grant cannot change (a global rule that domains may not
lift), which the proposal says in words.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from federation.errors import AccessDenied, ConfigError
from federation.governance.access import ColumnAccess, ProductAccess, evaluate
from federation.governance.grants import DomainFile, Grant, parse_row_filter
from federation.governance.model import Governance, Principal
from federation.mesh import Mesh
from products.contract import Product


@dataclass(frozen=True)
class Proposal:
    """A grant to add first under ``grants:``, what it changes, and what it cannot."""

    grant: dict[str, Any]
    changes: list[str]
    """What the requester would get that they do not get now; empty: nothing."""
    notes: list[str]
    blocked: list[str]
    """Requested columns no domain grant can give: a global rule keeps them restricted."""


def in_words(column: ColumnAccess | None) -> str:
    """``raw``, ``masked (hash)``, ``hidden`` or ``no access``."""
    if column is None:
        return "no access"
    if column.action == "mask":
        return f"masked ({column.method})"
    return "hidden" if column.action == "deny" else "raw"


def applying_grant(governance: Governance, principal: Principal,
                   product: Product) -> Grant | None:
    """The grant of ``product``'s domain that applies to ``principal`` now, if any."""
    domain = governance.domains.get(product.domain)
    if domain is None or domain.error is not None:
        return None
    return next((g for g in domain.file.grants if g.covers(product.name) and
                 g.names(principal.name if principal.known else "", principal.roles)), None)


def with_grant(governance: Governance, domain: str, grant: Grant) -> Governance:
    """``governance`` with ``grant`` first among ``domain``'s grants."""
    current = governance.domains.get(domain)
    if current is None:
        raise ConfigError(f"domain {domain} has no domains/{domain}/domain.yaml to grant in")
    if current.error is not None:
        raise ConfigError(f"domains/{domain}/domain.yaml is broken ({current.error}); fix it "
                          "before granting access")
    file = DomainFile(owner=current.file.owner, description=current.file.description,
                      grants=[grant, *current.file.grants])
    changed = dataclasses.replace(current, file=file,
                                  row_filters=(parse_row_filter(grant), *current.row_filters))
    return dataclasses.replace(governance, domains={**governance.domains, domain: changed})


def _access(governance: Governance, principal: Principal, product: Product,
            purpose: str) -> ProductAccess | None:
    try:
        return evaluate(governance, principal, product, purpose)
    except AccessDenied:
        return None


def _grant(product: Product, principal: Principal, base: Grant | None, wanted: list[str],
           whole: bool, releases: dict[str, list[str]]) -> dict[str, Any]:
    lowered = {w.lower() for w in wanted}
    grant: dict[str, Any] = {"products": [product.name], "users": [principal.name]}
    if base is not None:
        if base.row_filter is not None:
            grant["row_filter"] = base.row_filter
        deny = [c for c in base.deny_columns if c.lower() not in lowered]
        masks = {c: m for c, m in base.mask_columns.items() if c.lower() not in lowered}
        releases = {**{c: list(p) for c, p in base.release_columns.items()}, **releases}
    else:
        deny = [] if whole else [c.name for c in product.columns if c.name.lower()
                                 not in lowered]
        masks = {}
    if deny:
        grant["deny_columns"] = deny
    if masks:
        grant["mask_columns"] = masks
    if releases:
        grant["release_columns"] = releases
    return grant


def proposal(mesh: Mesh, principal: Principal, product: Product, columns: list[str],
             purpose: str) -> Proposal:
    """What approving a request of ``principal`` for ``columns`` of ``product`` (all of
    it when empty) for ``purpose`` would add to the domain's grants."""
    governance = mesh.governance
    now = _access(governance, principal, product, purpose)
    base = applying_grant(governance, principal, product) if now is not None else None
    whole = not columns
    wanted = columns or [c.name for c in product.columns]
    releases: dict[str, list[str]] = {}
    grant = _grant(product, principal, base, wanted, whole, releases)
    after = _evaluate(governance, principal, product, purpose, grant)
    if not whole:
        for name in wanted:
            got = after.column(name)
            if got is not None and got.action != "allow":
                trial = {**releases, name: [purpose]}
                tried = _evaluate(governance, principal, product, purpose,
                                  _grant(product, principal, base, wanted, whole, trial))
                released = tried.column(name)
                if released is not None and released.action == "allow":
                    releases, after = trial, tried
        grant = _grant(product, principal, base, wanted, whole, releases)
    changes: list[str] = []
    notes: list[str] = []
    blocked: list[str] = []
    if now is None:
        changes.append(f"read {product.fqn} (no access today)")
    for name in wanted:
        before = now.column(name) if now is not None else None
        got = after.column(name)
        if in_words(before) != in_words(got):
            if now is not None:
                changes.append(f"{name}: {in_words(before)} → {in_words(got)}")
        elif not whole and (got is None or got.action != "allow"):
            blocked.append(name)
            notes.append(f"{name} stays {in_words(got)}: {got.reason if got else ''}; a "
                         "domain's grant cannot change that (the governance team owns "
                         "governance/policies.yaml)")
        if got is not None and got.action == "allow" and name in releases:
            notes.append(f"{name} is raw only in queries with --purpose {purpose} "
                         f"({got.reason})")
    if after.row_filter_reason:
        notes.append(f"rows stay filtered: {after.row_filter_reason}")
    return Proposal(grant, changes, notes, blocked)


def _evaluate(governance: Governance, principal: Principal, product: Product, purpose: str,
              grant: dict[str, Any]) -> ProductAccess:
    candidate = Grant.model_validate(grant)
    try:
        return evaluate(with_grant(governance, product.domain, candidate), principal,
                        product, purpose)
    except AccessDenied as exc:
        raise ConfigError(f"the grant this request needs would not apply: {exc.message}",
                          product=product.fqn) from None


__all__ = ["Proposal", "applying_grant", "in_words", "proposal", "with_grant"]
