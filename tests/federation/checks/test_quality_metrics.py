"""Every quality metric docs/mesh-format.md lists as supported (issue 14, item 6): it
passes on clean data and fails — a failure, not an error — on data that breaks it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from federation import Mesh
from federation.checks.data import check
from tests.helpers import col, make_mesh, write_yaml

COLUMNS = [col("id", "BIGINT"), col("code", "VARCHAR"), col("status", "VARCHAR"),
           col("amount", "DOUBLE")]
CLEAN = ("SELECT i AS id, 'ABC-' || lpad(i::VARCHAR, 3, '0') AS code, "
         "CASE WHEN i % 2 = 0 THEN 'ok' ELSE 'late' END AS status, i * 10.0 AS amount "
         "FROM range(1, 13) r(i)")
BROKEN = ("SELECT * FROM (VALUES (1, 'ABC-001', 'ok', 10.0), (2, NULL, 'ok', 20.0), "
          "(3, '', 'late', 30.0), (4, 'N/A', 'ok', 40.0), (5, 'bad', 'lost', -5.0), "
          "(6, 'ABC-006', 'ok', 1000000.0), (7, 'ABC-007', 'ok', 70.0), "
          "(8, 'ABC-008', 'ok', 80.0), (9, 'ABC-009', 'ok', 90.0), (9, 'ABC-009', 'ok', 90.0)) "
          "t(id, code, status, amount)")

# (column or None, rule, what the broken data measures)
RULES: list[tuple[str | None, dict[str, Any], float]] = [
    ("code", {"metric": "nullValues", "mustBe": 0}, 1),
    ("code", {"metric": "nullValues", "unit": "percent", "mustBeLessThan": 5}, 10),
    ("code", {"metric": "missingValues", "arguments": {"missingValues": ["", "N/A"]},
              "mustBe": 0}, 3),
    ("status", {"metric": "invalidValues", "arguments": {"validValues": ["ok", "late"]},
                "mustBe": 0}, 1),
    ("code", {"metric": "invalidValues", "arguments": {"pattern": r"^[A-Z]{3}-\d{3}$"},
              "mustBe": 0}, 3),
    ("amount", {"metric": "invalidValues", "arguments": {"minimum": 0, "maximum": 1000},
                "mustBe": 0}, 2),
    ("id", {"metric": "duplicateValues", "mustBe": 0}, 1),
    (None, {"metric": "duplicateValues", "arguments": {"properties": ["id", "code"]},
            "mustBe": 0}, 1),
    (None, {"metric": "rowCount", "mustBeGreaterThan": 10}, 10),
    (None, {"type": "sql", "query": "SELECT count(*) FROM ${table} WHERE amount < 0",
            "mustBe": 0}, 1),
]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    root = make_mesh(tmp_path_factory.mktemp("quality") / "mesh",
                     products={"q.clean": (COLUMNS, CLEAN), "q.broken": (COLUMNS, BROKEN)},
                     users={"q-team": {"roles": ["q_owner"]}}, rules=[],
                     grants={"q": [{"products": ["*"], "roles": ["q_owner"]}]})
    write_yaml(root / "domains/q/domain.yaml",
               {"owner": "q-team", "grants": [{"products": ["*"], "roles": ["q_owner"]}]})
    for name in ("clean", "broken"):
        path = root / f"domains/q/{name}.odcs.yaml"
        spec = yaml.safe_load(path.read_text())
        props = {p["name"]: p for p in spec["schema"][0]["properties"]}
        table_rules = []
        for column, rule, _ in RULES:
            if column is None:
                table_rules.append(rule)
            else:
                props[column].setdefault("quality", []).append(rule)
        spec["schema"][0]["quality"] = table_rules
        write_yaml(path, spec)
    return Mesh.open(root)


def _quality(mesh: Mesh, product: str) -> list[Any]:
    return [f for f in check(mesh, [product]) if f.check.startswith("quality.")]


def test_every_metric_passes_on_clean_data(mesh: Mesh) -> None:
    findings = _quality(mesh, "q.clean")
    assert len(findings) == len(RULES)
    assert [(f.check, f.message) for f in findings if f.status != "passed"] == []


def test_every_metric_fails_on_data_that_breaks_it(mesh: Mesh) -> None:
    findings = _quality(mesh, "q.broken")
    assert [(f.check, f.status, f.message) for f in findings if f.status != "failed"] == []

    def name(column: str | None, rule: dict[str, Any]) -> str:
        return f"quality.{column + '.' if column else ''}{rule.get('metric') or rule['type']}"

    expected = sorted((name(c, r), float(v)) for c, r, v in RULES)
    assert sorted((f.check, float(f.observed)) for f in findings) == expected


def test_a_pattern_rule_is_measured_not_refused(mesh: Mesh) -> None:
    """The reproduction: every invalidValues rule with a pattern errored with
    'regexp_full_match() is not allowed'."""
    pattern = [f for f in _quality(mesh, "q.broken") if "code.invalidValues" in f.check]
    assert [(f.status, f.observed) for f in pattern] == [("failed", 3)]
