"""Column lineage and classification propagation, on the demo mesh."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from federation import Mesh
from federation.audit.lineage import ColumnLineage, SourceColumn, lineage
from federation.cli import cli


def summary(mesh: Mesh, sql: str, user: str = "fiona") -> dict[str, tuple[str | None, set[str]]]:
    return {c.output: (c.classification, {f"{s.product}.{s.column}" for s in c.sources})
            for c in lineage(mesh.govern(sql, user))}


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT c.email, p.amount FROM customers.profiles c JOIN payments.transactions p "
     "ON p.customer_id = c.customer_id",
     {"email": ("pii", {"customers.profiles.email"}),
      "amount": ("internal", {"payments.transactions.amount"})}),
    ("WITH x AS (SELECT upper(email) AS e, customer_id FROM customers.profiles) "
     "SELECT e AS contact FROM x",
     {"contact": ("pii", {"customers.profiles.email"})}),
    ("SELECT row_number() OVER (PARTITION BY c.country ORDER BY c.birth_date) AS rn "
     "FROM customers.profiles c",
     {"rn": ("pii", {"customers.profiles.country", "customers.profiles.birth_date"})}),
    ("SELECT CASE WHEN p.card_number LIKE '4%' THEN c.email ELSE 'x' END AS who "
     "FROM payments.transactions p JOIN customers.profiles c USING (customer_id)",
     {"who": ("pci", {"payments.transactions.card_number", "customers.profiles.email"})}),
    ("SELECT c.country, count(DISTINCT c.phone) AS phones FROM customers.profiles c "
     "GROUP BY 1",
     {"country": ("public", {"customers.profiles.country"}),
      "phones": ("pii", {"customers.profiles.phone"})}),
    ("SELECT email AS v FROM customers.profiles UNION ALL SELECT card_number "
     "FROM payments.transactions",
     {"v": ("pci", {"customers.profiles.email", "payments.transactions.card_number"})}),
    ("SELECT 1 AS one", {"one": (None, set())}),
])
def test_lineage_cases(mesh: Mesh, sql: str,
                       expected: dict[str, tuple[str | None, set[str]]]) -> None:
    assert summary(mesh, sql) == expected


def test_strictest_wins() -> None:
    def cl(*labels: str | None) -> str | None:
        return ColumnLineage("o", "x", tuple(SourceColumn("d.p", f"c{i}", label)
                                             for i, label in enumerate(labels))).classification

    assert cl("pii", "internal") == "pii"
    assert cl("pii", "pci") == "pci"
    assert cl("public", "restricted", "pii") == "restricted"
    assert cl("internal", None) == "internal"
    assert cl("weird-label", "internal") == "weird-label"  # unknown labels count as strict
    assert cl() is None


def test_lineage_cli_and_result_metadata(demo_root: Path, tmp_path: Path) -> None:
    sql = ("SELECT c.country, lower(c.email) AS mail, sum(p.amount) AS total FROM "
           "customers.profiles c JOIN payments.transactions p ON p.customer_id = "
           "c.customer_id GROUP BY ALL")
    result = CliRunner().invoke(cli, ["--mesh", str(demo_root), "lineage", "-u", "ana",
                                      "--format", "json", sql])
    columns = {c["output"]: c for c in json.loads(result.stdout)}
    assert columns["mail"]["classification"] == "pii"
    assert columns["mail"]["sources"] == [{"product": "customers.profiles", "column": "email",
                                           "classification": "pii"}]
    assert columns["mail"]["transformation"] == "LOWER(c.email)"
    denied = CliRunner().invoke(cli, ["--mesh", str(demo_root), "lineage", "-u", "ana",
                                      "SELECT card_number FROM payments.transactions"])
    assert denied.exit_code == 3
    out = tmp_path / "r.parquet"
    CliRunner().invoke(cli, ["--mesh", str(demo_root), "query", "-u", "ana", "--format",
                             "parquet", "-o", str(out), sql])
    meta = json.loads(pq.read_schema(out).metadata[b"duckmesh.lineage"])
    assert {c["output"]: c["classification"] for c in meta} == {
        "country": "public", "mail": "pii", "total": "internal"}
