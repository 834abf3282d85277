"""``duckmesh validate``: every mesh file checked, every problem reported (not just the first).

Each problem names file, line and field.  Beyond each file's own shape, cross-file
references are checked: grants name existing products and columns, row filters use only
the product's columns, masks fit the column type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlglot import exp

from federation.errors import ConfigError, DuckmeshError, QueryRejected
from federation.governance.grants import grant_problems, placeholders
from federation.governance.masks import NotRebuildable, is_temporal, nested_mask
from federation.governance.model import Governance
from federation.governance.policies import suggest
from federation.pipeline.allowlist import check_predicate
from federation.reports.spec import load_report, report_errors, report_names, report_sql
from products.catalog import Catalog, check_name, contract_paths, domain_dirs
from products.config import MESH_FILE, MeshSettings, load_settings, mask_secret
from products.contract import (
    CONTRACT_SUFFIX,
    Column,
    Product,
    product_from_document,
    schema_errors,
)
from products.diff import bump_ok, contract_from_text, diff_products, git_contracts
from products.ownership import domain_roots, location_problem, overlapping_roots, shared_locations
from products.quality import RuleError, measure, rules_of
from products.yamlio import load_yaml

T = TypeVar("T")


def _collect(errors: list[DuckmeshError], load: Callable[[], T]) -> T | None:
    try:
        return load()
    except DuckmeshError as exc:
        errors.append(exc)
        return None


def _contracts(root: Path, errors: list[DuckmeshError]) -> tuple[dict[str, Product], set[str]]:
    """The products that load, and the names of those whose contract is broken."""
    products: dict[str, Product] = {}
    broken: set[str] = set()
    for path in contract_paths(root):
        broken.add(f"{path.parent.name}.{path.name[: -len(CONTRACT_SUFFIX)]}")
        try:
            doc = load_yaml(path)
        except DuckmeshError as exc:
            errors.append(exc)
            continue
        problems = schema_errors(doc)
        if problems:
            errors.extend(problems)
            continue
        domain = path.parent.name
        name = path.name[: -len(CONTRACT_SUFFIX)]
        try:
            check_name("domain", domain, path.parent)
            check_name("product", name, path)
        except DuckmeshError as exc:
            errors.append(exc)
            continue
        try:
            product = product_from_document(doc, domain, name)
        except DuckmeshError as exc:
            errors.append(exc)
            continue
        products[product.fqn] = product
        broken.discard(product.fqn)
    return products, broken


def _grants(governance: Governance, products: dict[str, Product], broken: set[str],
            errors: list[DuckmeshError]) -> None:
    users = governance.principals.users
    for domain, gov in governance.domains.items():
        if gov.error is not None:
            errors.append(gov.error)
            continue
        for i, grant in enumerate(gov.file.grants):
            loc: list[str | int] = ["grants", i]
            named = [p for p in grant.products if p != "*"]
            targets = []
            for j, name in enumerate(named):
                product = products.get(f"{domain}.{name.lower()}")
                if product is None and f"{domain}.{name.lower()}" in broken:
                    continue  # its contract error is already reported
                if product is None:
                    errors.append(gov.doc.error([*loc, "products", j],
                                                f"no product {domain}.{name}"))
                else:
                    targets.append(product)
            if "*" in grant.products:
                targets = [p for p in products.values() if p.domain == domain]
            for j, user in enumerate(grant.users):
                if user not in users:
                    errors.append(gov.doc.error([*loc, "users", j], f"no principal {user!r} "
                                                "in governance/principals.yaml"))
            row_filter = gov.row_filters[i]
            reported: set[tuple[str, str]] = set()
            for product in targets:
                # The same check query time makes: a problem here is a refusal there.
                for field, message in grant_problems(grant, row_filter, product):
                    if (field, message) not in reported:
                        reported.add((field, message))
                        errors.append(gov.doc.error([*loc, *field.split(".")], message))
            if not isinstance(row_filter, exp.Expr):
                continue
            try:
                check_predicate(row_filter)
            except QueryRejected as exc:
                errors.append(gov.doc.error([*loc, "row_filter"], exc.message))
            for name in placeholders(row_filter):
                for user, spec in users.items():
                    if grant.names(user, spec.roles) and name not in spec.attributes:
                        errors.append(gov.doc.error(
                            [*loc, "row_filter"],
                            f"user {user!r} has a role of this grant but no attribute "
                            f"{name!r}; their queries would be denied"))


def _quality(products: dict[str, Product], errors: list[DuckmeshError]) -> None:
    """Every quality rule builds, and reads only its own product."""
    for product in products.values():
        for rule in rules_of(product):
            if rule.spec.get("type") == "text":
                continue
            try:
                measure(rule)
            except RuleError as exc:
                errors.append(ConfigError(f"{rule.name}: {exc}", file=str(product.contract_path),
                                          product=product.fqn, column=rule.column,
                                          field="quality"))


def _locations(root: Path, settings: MeshSettings, products: dict[str, Product],
               errors: list[DuckmeshError]) -> None:
    """Domains' storage roots do not overlap; each product lies under its own domain's
    roots; no two products share a location."""
    roots = {d.name: domain_roots(settings, d.name, root) for d in domain_dirs(root)}
    for overlap in overlapping_roots(list(roots.values())):
        errors.append(ConfigError(overlap, file=str(root / MESH_FILE), field="domains"))
    for product in products.values():
        problem = location_problem(product, roots[product.domain], root)
        if problem is not None:
            errors.append(ConfigError(problem, file=str(product.contract_path),
                                      field="servers", product=product.fqn))
    reported: set[str] = set()
    for fqn, message in shared_locations(list(products.values()), root).items():
        if message not in reported:
            reported.add(message)
            errors.append(ConfigError(message, file=str(products[fqn].contract_path),
                                      field="servers", product=fqn))


def _labels(governance: Governance, products: dict[str, Product],
            errors: list[DuckmeshError]) -> None:
    """Every column's label is in the vocabulary (else it is denied at query time)."""
    known = governance.policies.labels
    for product in products.values():
        for column in product.columns:
            label = column.classification
            if label is not None and label not in known:
                errors.append(ConfigError(
                    f"column {column.name}: classification {label!r} is not declared in "
                    f"governance/policies.yaml{suggest(label, known)}; the column is denied "
                    "until it is", file=str(product.contract_path), product=product.fqn,
                    column=column.name, field="classification"))
            _nested_labels(product, column, known, errors)


def _nested_labels(product: Product, column: Column, known: tuple[str, ...] | list[str],
                   errors: list[DuckmeshError]) -> None:
    """Labels inside a nested column are known, and the struct can be rebuilt with them
    masked (else the whole column is denied at query time to whoever a rule governs)."""
    for nested in column.nested:
        if nested.classification not in known:
            errors.append(ConfigError(
                f"field {nested.describe(column.name)}: classification "
                f"{nested.classification!r} is not declared in governance/policies.yaml"
                f"{suggest(nested.classification, known)}; the field is left out until it is",
                file=str(product.contract_path), product=product.fqn, column=column.name,
                field="classification"))
    try:
        nested_mask(exp.column(column.name), column,
                    {n.path: ("mask", "redact") for n in column.nested})
    except NotRebuildable as exc:
        errors.append(ConfigError(
            f"column {column.name}: {exc}, so the classifications inside it cannot be "
            "enforced; the column is denied to everyone a rule on them governs",
            file=str(product.contract_path), product=product.fqn, column=column.name,
            field="properties"))


def breaking_since(root: Path, rev: str, products: dict[str, Product]) -> list[DuckmeshError]:
    """Contracts changed since git revision ``rev`` in a breaking way without a major bump,
    each naming the derived products and reports of the mesh that it would break."""
    errors: list[DuckmeshError] = []
    for rel, text in git_contracts(root, rev).items():
        path = root / rel
        domain, name = path.parent.name, path.name[: -len(CONTRACT_SUFFIX)]
        try:
            old = contract_from_text(text, f"{rev}:{rel}", domain, name)
        except DuckmeshError:
            continue  # broken at that revision: nothing to compare with
        new = products.get(old.fqn)
        if new is None and path.exists():
            continue  # broken now: its own error is already reported
        changes = diff_products(old, new)
        if bump_ok(old, new, changes):
            continue
        breaking = "; ".join(f"{c.kind}: {c.detail}" for c in changes if c.breaking)
        reach = _reach(root, old, new, changes)
        if new is None:
            errors.append(ConfigError(f"product {old.fqn} was removed since {rev} (breaking)"
                                      + reach, file=str(path)))
        else:
            errors.append(ConfigError(
                f"breaking change since {rev} needs a major version bump "
                f"({old.version} → {new.version}): {breaking}{reach}", file=str(path),
                field="version"))
    return errors


def _reach(root: Path, old: Product, new: Product | None, changes: list[Any]) -> str:
    """``; it breaks X (product) reads c`` for the mesh's consumers of a change."""
    from federation.publish.graph import impact, impact_text

    try:
        hits = impact(root, Catalog.load(root), old, new, changes)
    except DuckmeshError:
        return ""  # a mesh that does not load: its own errors are reported
    return f"; it breaks {impact_text(hits)}" if hits else ""


def validate_mesh(root: Path, against: str | None = None) -> tuple[list[DuckmeshError], int]:
    """All problems of the mesh at ``root`` and the number of products checked; with
    ``against``, also breaking contract changes since that git revision."""
    errors: list[DuckmeshError] = []
    settings = _collect(errors, lambda: load_settings(root))
    if settings is not None:
        _collect(errors, lambda: mask_secret(root, settings))
    products, broken = _contracts(root, errors)
    _quality(products, errors)
    if settings is not None:
        _locations(root, settings, products, errors)
    if against is not None:
        errors.extend(breaking_since(root, against, products))
    governance = _collect(errors, lambda: Governance.load(root))
    if governance is not None:
        _grants(governance, products, broken, errors)
        _labels(governance, products, errors)
        for index, rule in enumerate(governance.policies.rules):
            if rule.action == "mask" and rule.method == "year":
                for product in products.values():
                    for column in product.columns:
                        if column.classification == rule.classification and \
                                not is_temporal(column):
                            errors.append(ConfigError(
                                f"rule {index + 1} masks {rule.classification} with 'year' "
                                f"but {product.fqn}.{column.name} is {column.type} (it will "
                                "be nulled)", file=str(root / "governance/policies.yaml"),
                                field=f"rules[{index}].method"))
    _reports(root, broken, errors)
    return errors, len(products)


def _reports(root: Path, broken: set[str], errors: list[DuckmeshError]) -> None:
    """Every report: all problems of its file, its audience known and shown the same view
    of what the SQL reads (as at run time), its destination among those declared."""
    from federation.mesh import Mesh
    from federation.reports.audience import audience_principal, check_destination
    from federation.reports.publish import destination
    from federation.reports.runner import slot_params
    from federation.reports.schedule import latest_slot

    names = report_names(root)
    if not names:
        return
    mesh = _collect([], lambda: Mesh.open(root))  # its own errors are reported above
    for name in names:
        problems = _collect(errors, lambda name=name: report_errors(root, name))  # type: ignore[misc]
        if problems is None:
            continue
        if problems:
            errors.extend(problems)
            continue
        spec = load_report(root, name)
        sql = _collect(errors, lambda spec=spec: report_sql(root, spec))  # type: ignore[misc]
        if sql is None or mesh is None:
            continue
        where = f"reports/{name}.yaml"
        try:
            mesh.check_purpose(spec.purpose)
            slot = latest_slot(spec, dt.datetime.now(dt.UTC))
            audience_principal(mesh, spec, sql, slot_params(spec, sql, slot) or None)
            check_destination(mesh, destination(spec, {"slot_local": slot.astimezone(
                spec.zone)}))
        except DuckmeshError as exc:
            if exc.product in broken:
                continue  # the product's own error is reported already
            errors.append(ConfigError(exc.message, file=str(root / where),
                                      field=exc.field or "audience", hint=exc.hint))
