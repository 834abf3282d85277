"""Evaluate governance for one principal and one product: grant, row filter, columns.

Pure policy, no SQL: given who asks and which product, decide what they may see.

- Default deny: the first grant of the product's domain that names the product and
  one of the caller's roles applies (grants are ordered, like firewall rules).
- Global rules keyed on classification apply whatever the grant says; a domain can
  only restrict further (deny a column, or mask it more strictly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

from federation.errors import AccessDenied
from federation.governance.carried import (
    ROW_FILTER_NEEDED,
    grant_index,
    source_restriction,
    source_row_filter,
)
from federation.governance.grants import Grant, grant_problems
from federation.governance.masks import NotRebuildable, mask_expression, nested_mask
from federation.governance.model import Governance, Principal
from federation.governance.policies import stricter, suggest
from products.contract import Column, NestedField, Product

Action = Literal["allow", "mask", "deny"]


@dataclass(frozen=True)
class FieldAccess:
    """What the caller gets of one classified field inside a column (never ``allow``:
    allowed fields are not listed)."""

    field: NestedField
    action: Action
    method: str | None
    reason: str


@dataclass(frozen=True)
class ColumnAccess:
    """What the caller gets of one column, and which rule decided it."""

    column: Column
    action: Action
    method: str | None
    reason: str
    fields: tuple[FieldAccess, ...] = ()
    """Fields inside the column masked or left out (the column itself is ``allow``)."""
    decided_by: tuple[str, str] | None = None
    """``(source product, column)`` whose grant denies this derived column."""

    def mask(self, value: exp.Expr) -> exp.Expr:
        """``value`` (the raw column) as the caller sees it: masked, or rebuilt with its
        governed fields masked or left out."""
        if self.action == "mask" and self.method:
            return mask_expression(self.method, value, self.column)
        if not self.fields:
            return value
        rules = {f.field.path: (f.action, f.method) for f in self.fields}
        rebuilt = nested_mask(value, self.column, rules)
        if rebuilt is None:  # evaluate() denies such a column; never serve it raw
            raise AccessDenied(f"nothing of column {self.column.name} is visible",
                               column=self.column.name)
        return rebuilt

    @property
    def visible(self) -> bool:
        """True if the column appears (raw or masked) in the secured relation."""
        return self.action != "deny"


@dataclass(frozen=True)
class ProductAccess:
    """The caller's access to one product."""

    product: Product
    grant: str
    row_filter: exp.Expr | None
    row_filter_reason: str | None
    columns: tuple[ColumnAccess, ...]

    def column(self, name: str) -> ColumnAccess | None:
        """The decision for column ``name`` (case-insensitive)."""
        wanted = name.lower()
        return next((c for c in self.columns if c.column.name.lower() == wanted), None)

    @property
    def visible_columns(self) -> list[str]:
        """Names of the columns the caller sees, in contract order."""
        return [c.column.name for c in self.columns if c.visible]


def bind_attributes(expression: exp.Expr, principal: Principal,
                    product: str) -> exp.Expr:
    """Replace ``:name`` placeholders with the principal's attributes as literals."""

    def bind(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Placeholder):
            return node
        name = str(node.name)
        if name not in principal.attributes:
            raise AccessDenied(
                f"user {principal.name!r} has no attribute {name!r}, which the row filter "
                f"of {product} needs", product=product)
        value = principal.attributes[name]
        if isinstance(value, bool):
            return exp.Boolean(this=value)
        if isinstance(value, int | float):
            return exp.Literal.number(value)
        return exp.Literal.string(str(value))

    return expression.copy().transform(bind)


def _global_decision(governance: Governance, principal: Principal, column: Column,
                     product: str, purpose: str | None) -> tuple[Action, str | None, str]:
    policies = governance.policies
    label = column.classification or policies.default_classification
    if label not in policies.labels:
        # A label the vocabulary does not know ("pii ", "PIIX", a look-alike letter) is
        # denied: a typo must never serve a column raw.
        return ("deny", None, f"classification {label!r} of {product}.{column.name} is not "
                              "declared in policies.yaml" + suggest(label, policies.labels))
    decision: tuple[Action, str | None, str] = ("allow", None, "")
    roles = set(principal.roles)
    for index, rule in enumerate(policies.rules):
        if rule.classification != label or roles & set(rule.unless_roles):
            continue
        reason = rule.describe(index)
        released = [r for r in rule.release if roles & set(r.roles)]
        if released and purpose is not None and any(purpose in r.purposes for r in released):
            decision = ("allow", None, f"{reason}, released for purpose {purpose!r}")
            continue
        if released:
            wanted = sorted({p for r in released for p in r.purposes})
            reason += f"; released only for purpose {', '.join(map(repr, wanted))}"
        if rule.action == "deny":
            return ("deny", None, reason)
        assert rule.method is not None
        if decision[0] != "mask" or stricter(rule.method, decision[1] or rule.method) \
                == rule.method:
            decision = ("mask", rule.method, reason)
    return decision


def _released(governance: Governance, principal: Principal, column: Column, grant: Grant,
              grant_name: str, purpose: str | None,
              decision: tuple[Action, str | None, str]) -> tuple[Action, str | None, str]:
    """The decision once the grant's ``release_columns`` is considered: raw, if the query's
    purpose is one the grant releases the column for and every global rule restricting
    its label lets domains release it for that purpose; else ``decision``, saying why."""
    policies = governance.policies
    label = column.classification or policies.default_classification
    roles = set(principal.roles)
    ruling = [(i, r) for i, r in enumerate(policies.rules)
              if r.classification == label and not roles & set(r.unless_roles)]
    wanted = grant.released(column.name)
    grantable = [p for p in wanted if ruling and label in policies.labels and
                 all(p in r.grantable_purposes for _, r in ruling)]
    if purpose is not None and purpose in grantable:
        rules = ", ".join(r.describe(i) for i, r in ruling)
        return ("allow", None, f"{grant_name} (release_columns, purpose {purpose!r}; "
                               f"{rules} lets domains release it)")
    action, method, reason = decision
    if grantable:
        reason += f"; {grant_name} releases it only for purpose " + \
            ", ".join(map(repr, grantable))
    return action, method, reason


def _refuse(principal: Principal, product: Product, message: str, hint: str) -> AccessDenied:
    who = f"user {principal.name!r}"
    return AccessDenied(f"{who} cannot read {product.fqn}: {message}", product=product.fqn,
                        hint=hint)


def _scoped(principal: Principal, product: Product) -> ProductAccess:
    """A check's own identity: its product whole and unmasked, no other product."""
    if principal.scope != product.fqn:
        raise AccessDenied(f"a quality check of {principal.scope} may read only that product, "
                           f"not {product.fqn}", product=product.fqn)
    reason = f"quality check of {product.fqn}"
    return ProductAccess(product, reason, None, None,
                         tuple(ColumnAccess(c, "allow", None, reason) for c in product.columns))


def _with_fields(governance: Governance, principal: Principal, product: Product,
                 purpose: str | None, decision: ColumnAccess) -> ColumnAccess:
    """``decision`` with its column's nested classifications decided; the column is denied
    when one of them cannot be enforced (a path its type lacks, inside a MAP) or nothing
    of it is left visible."""
    column = decision.column
    if decision.action != "allow" or not column.nested:
        return decision  # a masked or denied column covers whatever is inside it
    fields = []
    for nested in column.nested:
        where = nested.describe(column.name)
        as_column = Column(where, column.type, classification=nested.classification)
        action, method, reason = _global_decision(governance, principal, as_column,
                                                  product.fqn, purpose)
        if action != "allow":
            fields.append(FieldAccess(nested, action, method, reason))
    if not fields:
        return decision
    rules = {f.field.path: (f.action, f.method) for f in fields}
    try:
        if nested_mask(exp.column(column.name), column, rules) is None:
            return ColumnAccess(column, "deny", None, f"nothing of it is visible: "
                                f"{fields[0].reason}")
    except NotRebuildable as exc:
        return ColumnAccess(column, "deny", None, f"{exc}, so its classified fields "
                            "cannot be enforced (fail closed)")
    return ColumnAccess(column, "allow", None, decision.reason, tuple(fields))


def evaluate(governance: Governance, principal: Principal, product: Product,
             purpose: str | None = None) -> ProductAccess:
    """The caller's access to ``product`` for ``purpose``; AccessDenied if no usable grant
    lets them read it."""
    if principal.scope is not None:
        return _scoped(principal, product)
    domain = governance.domains.get(product.domain)
    if domain is not None and domain.error is not None:
        raise _refuse(principal, product, f"its domain's file is broken ({domain.error})",
                      "run `duckmesh validate`")
    grants = domain.file.grants if domain else []
    index = grant_index(grants, principal, product.name)
    if index is None:
        who = f"user {principal.name!r}"
        if not principal.known:
            who += " (not listed in governance/principals.yaml)"
        elif principal.roles:
            who += f" (roles: {', '.join(principal.roles)})"
        where = domain.source if domain and domain.source else \
            f"domains/{product.domain}/domain.yaml"
        raise AccessDenied(f"{who} has no grant to read {product.fqn}", product=product.fqn,
                           hint=f"grants live in {where}")
    assert domain is not None
    grant = grants[index]
    grant_name = domain.source or f"domains/{product.domain}/domain.yaml grant {index + 1}"
    template = domain.row_filters[index]
    problems = grant_problems(grant, template, product)
    if problems:
        # The grant that would apply is broken: it does not apply, and no later grant
        # stands in for it (a broken restriction must not fall through to a looser one).
        field, message = problems[0]
        raise _refuse(principal, product, f"{grant_name} {field}: {message}; the grant does "
                      "not apply", "run `duckmesh validate`")
    carried = source_row_filter(governance, principal, product, grant)
    if carried is not None:
        raise _refuse(principal, product, carried,
                      "run `duckmesh validate`" if carried.endswith("fail closed)") else
                      f"{product.domain}'s owners {ROW_FILTER_NEEDED} {grant_name}")
    deny = {c.lower() for c in grant.deny_columns}
    masks = {c.lower(): m for c, m in grant.mask_columns.items()}
    decisions = []
    for column in product.columns:
        action, method, reason = _global_decision(governance, principal, column, product.fqn,
                                                  purpose)
        if action != "allow" and grant.released(column.name):
            action, method, reason = _released(governance, principal, column, grant,
                                               grant_name, purpose, (action, method, reason))
        reason = reason or grant_name  # allowed by no rule: the grant is the reason
        key = column.name.lower()
        if action != "deny" and key in deny:
            action, method, reason = "deny", None, f"{grant_name} (deny_columns)"
        elif action != "deny" and key in masks:
            domain_method = masks[key]
            if method is None or stricter(domain_method, method) == domain_method != method:
                action, method = "mask", domain_method
                reason = f"{grant_name} (mask_columns)"
        decided_by = None
        if action != "deny":
            at_source = source_restriction(governance, principal, product, column)
            if at_source is not None:
                action, method, (reason, decided_by) = "deny", None, at_source
        decisions.append(_with_fields(governance, principal, product, purpose, ColumnAccess(
            column, action, method, reason, decided_by=decided_by)))
    row_filter = None
    filter_reason = None
    if isinstance(template, exp.Expr):
        row_filter = bind_attributes(template, principal, product.fqn)
        filter_reason = f"{grant_name} (row_filter: {grant.row_filter})"
    return ProductAccess(product, grant_name, row_filter, filter_reason, tuple(decisions))
