"""``duckmesh check``: a product's data against its contract and its quality rules.

Schema conformance and freshness come from file footers.  Quality rules run as governed
queries in the sandboxed engine with an identity of their own that reads exactly the
product under check, unmasked, and nothing else (``Principal.for_check``): a rule can
neither reach another product nor borrow anyone's roles — domain.yaml ``owner`` is a
contact, not a principal.  A rule's measured value is a number; anything else, or a rule
that cannot run, is an error — never a pass, and never echoed.
"""

from __future__ import annotations

import decimal
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from federation.audit.meta import DOMAIN as META_DOMAIN
from federation.checks import results
from federation.errors import DuckmeshError
from federation.governance.model import Principal
from federation.mesh import Mesh
from products.conformance import (
    Finding,
    column_findings,
    extra_columns,
    freshness_finding,
)
from products.contract import Product
from products.locate import plan_product
from products.quality import Rule, RuleError, judge, measure, rules_of


def _number(value: Any, what: str) -> float | None:
    # Only numbers are measured values: a rule returning text would print data.
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
        raise RuleError(f"the rule's {what} must be a number, not {type(value).__name__}")
    return float(value)


def _scalar(row: dict[str, Any]) -> tuple[float, float | None]:
    if "value" in row:
        value, total = row["value"], row.get("total")
    elif len(row) == 1:
        value, total = next(iter(row.values())), None
    else:
        raise RuleError(f"the rule's query must return one value, not {len(row)} columns")
    return _number(value, "value") or 0.0, _number(total, "total")


def run_rule(mesh: Mesh, rule: Rule) -> Finding:
    """Measure one rule with the product's own check identity and judge it."""
    fqn = rule.product.fqn
    owner = Principal.for_check(fqn)
    try:
        sql = measure(rule).sql(dialect="duckdb")
        result = mesh.sql(sql, user=owner)  # governed and planned; runs when read
        query = result.query
        for product, columns in query.columns_read.items():
            for name in columns:
                decision = query.access[product].column(name)
                if decision is not None and decision.action == "mask":
                    raise RuleError(f"column {name} is masked ({decision.method}) for the "
                                    "check, so the rule would measure masked values")
        rows = result.arrow().to_pylist()
        if len(rows) != 1:
            raise RuleError(f"the rule's query returned {len(rows)} rows, not one")
        value, total = _scalar(rows[0])
        if str(rule.spec.get("unit", "")).lower() == "percent":
            value = 100.0 * value / total if total else 0.0
        passed, expected = judge(rule, value)
    except (RuleError, DuckmeshError) as exc:
        return Finding(fqn, rule.name, "error", f"cannot be evaluated: {exc}", rule.column)
    shown = int(value) if value.is_integer() else round(value, 4)
    return Finding(fqn, rule.name, "passed" if passed else "failed",
                   f"{shown} ({expected})", rule.column, shown)


def check_product(mesh: Mesh, product: Product) -> list[Finding]:
    """Every check of one product."""
    findings: list[Finding] = []
    try:
        plan = plan_product(product, mesh.root, mesh.settings.storage)
        facts = plan.facts
    except DuckmeshError as exc:
        # The finding names the product already: the error's own text, without it.
        text = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return [Finding(product.fqn, "data", "error", f"cannot read the data: {text}")]
    findings.extend(column_findings(product, facts))
    findings.extend(extra_columns(product, facts))
    fresh = freshness_finding(product, facts)
    if fresh is not None:
        findings.append(fresh)
    for rule in rules_of(product):
        if rule.spec.get("type") == "text":
            findings.append(Finding(product.fqn, rule.name, "skipped",
                                    "descriptive rule, nothing to measure", rule.column))
        else:
            findings.append(run_rule(mesh, rule))
    return findings


def check(mesh: Mesh, names: Iterable[str] = ()) -> list[Finding]:
    """Check the named products (default: every product of the mesh)."""
    # By default the domains' products; duckmesh's own (meta.*) only when named.
    products = [mesh.catalog.get(n) for n in names] or [
        p for p in mesh.catalog if p.domain != META_DOMAIN]
    out: list[Finding] = []
    for product in products:
        findings = check_product(mesh, product)
        results.record(mesh.root, product.fqn, findings)  # the catalog's "last check"
        out.extend(findings)
    return out


def failed(findings: list[Finding]) -> bool:
    """True if any check failed or could not be evaluated."""
    return any(f.status in ("failed", "error") for f in findings)


def to_junit(findings: list[Finding]) -> str:
    """JUnit XML: one testsuite per product, one testcase per check."""
    root = ET.Element("testsuites", name="duckmesh check")
    by_product: dict[str, list[Finding]] = {}
    for f in findings:
        by_product.setdefault(f.product, []).append(f)
    for product, items in by_product.items():
        suite = ET.SubElement(root, "testsuite", name=product, tests=str(len(items)),
                              failures=str(sum(f.status == "failed" for f in items)),
                              errors=str(sum(f.status == "error" for f in items)),
                              skipped=str(sum(f.status == "skipped" for f in items)))
        for f in items:
            case = ET.SubElement(suite, "testcase", classname=product, name=f.check)
            if f.status in ("failed", "error"):
                tag = "failure" if f.status == "failed" else "error"
                ET.SubElement(case, tag, message=f.message).text = f.message
            elif f.status == "skipped":
                ET.SubElement(case, "skipped", message=f.message)
            elif f.status == "warning":
                ET.SubElement(case, "system-out").text = f"warning: {f.message}"
    root.set("tests", str(len(findings)))
    root.set("failures", str(sum(f.status == "failed" for f in findings)))
    root.set("errors", str(sum(f.status == "error" for f in findings)))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
