"""Scan estimates before execution, and per-role budgets (exit 3 with the estimate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from federation import Mesh
from federation.cli import cli
from federation.governance.model import Budget
from federation.pipeline.budget import estimate_bytes


def set_budgets(root: Path, budgets: list[dict[str, object]]) -> None:
    path = root / "governance/policies.yaml"
    data = yaml.safe_load(path.read_text())
    data["budgets"] = budgets
    path.write_text(yaml.safe_dump(data))


def test_estimate_counts_only_read_columns_of_planned_files(mesh: Mesh) -> None:
    wide = estimate_bytes(mesh.govern("SELECT * FROM bookings.reservations", "adam"))
    narrow = estimate_bytes(mesh.govern("SELECT channel FROM bookings.reservations", "adam"))
    pruned = estimate_bytes(mesh.govern("SELECT channel FROM bookings.reservations "
                                        "WHERE booking_year = 2022", "adam"))
    files = sum(f.size for f in mesh.govern("SELECT * FROM bookings.reservations",
                                            "adam").scans["bookings.reservations"].files)
    assert 0 < narrow < wide < files
    assert pruned == narrow  # hive pruning happens in DuckDB, not in the plan: same files


def test_budget_refuses_a_full_scan_with_the_estimate(demo_copy: Path) -> None:
    set_budgets(demo_copy, [{"roles": ["analyst"], "max_bytes": "50KB"}])
    runner = CliRunner()
    result = runner.invoke(cli, ["--mesh", str(demo_copy), "query", "-u", "ana",
                                 "SELECT * FROM bookings.reservations"])
    assert result.exit_code == 3
    assert "over the budget of 50,000 bytes" in result.stderr and "scan about" in result.stderr
    ok = runner.invoke(cli, ["--mesh", str(demo_copy), "query", "-u", "ana", "--format", "json",
                             "SELECT count(*) AS n FROM bookings.reservations"])
    assert ok.exit_code == 0 and json.loads(ok.stdout) == [{"n": 10000}]
    # adam has no budget: unlimited
    assert runner.invoke(cli, ["--mesh", str(demo_copy), "query", "-u", "adam",
                               "SELECT * FROM bookings.reservations"]).exit_code == 0
    records = list(Mesh.open(demo_copy).audit.records())
    assert [r["outcome"] for r in records] == ["denied", "ok", "ok"]
    assert records[0]["bytes_scanned"] > 50_000


def test_most_generous_budget_of_a_users_roles_applies(demo_copy: Path) -> None:
    set_budgets(demo_copy, [{"roles": ["analyst"], "max_bytes": 1},
                            {"roles": ["admin"], "max_bytes": "1GB"}])
    principals = demo_copy / "governance/principals.yaml"
    data = yaml.safe_load(principals.read_text())
    data["users"]["ana"]["roles"].append("admin")
    principals.write_text(yaml.safe_dump(data))
    assert Mesh.open(demo_copy).sql("SELECT * FROM bookings.reservations",
                                    user="ana").arrow().num_rows == 10000


def test_budget_sizes() -> None:
    assert Budget(roles=["a"], max_bytes="1MB").limit() == 1_000_000
    assert Budget(roles=["a"], max_bytes="2 GiB").limit() == 2 * 2**30
    assert Budget(roles=["a"], max_bytes=500).limit() == 500
    with pytest.raises(ValueError, match="max_bytes"):
        Budget(roles=["a"], max_bytes="lots")


def test_bad_budget_in_policies_is_a_clear_error(demo_copy: Path) -> None:
    set_budgets(demo_copy, [{"roles": ["analyst"], "max_bytes": "lots"}])
    result = CliRunner().invoke(cli, ["--mesh", str(demo_copy), "validate"])
    assert result.exit_code == 1 and "policies.yaml" in result.stderr
    assert "budgets[0]" in result.stderr
