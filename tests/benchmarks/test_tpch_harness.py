"""The TPC-H harness itself works, at a tiny scale factor (the benchmark never runs here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from benchmarks.tpch import report
from benchmarks.tpch.__main__ import main
from benchmarks.tpch.harness import load_queries, run_benchmark, same_result
from benchmarks.tpch.mesh import RESIDENCY_NATIONS, build
from federation import Mesh
from federation.errors import AccessDenied

SF = 0.01


@pytest.fixture(scope="module")
def tpch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("tpch") / "mesh", SF)


def test_mesh_has_three_domains_with_valid_contracts(tpch: Path) -> None:
    mesh = Mesh.open(tpch)
    assert sorted(p.fqn for p in mesh.catalog if p.domain != "meta") == [
        "customers.customer", "customers.nation", "customers.region",
        "sales.lineitem", "sales.orders",
        "supply.part", "supply.partsupp", "supply.supplier"]


def test_analyst_policies_mask_deny_and_filter(tpch: Path) -> None:
    mesh = Mesh.open(tpch)
    sql = "SELECT c_custkey, c_phone, c_address, c_nationkey FROM customers.customer"
    admin = mesh.sql(sql, user="adam").arrow().sort_by("c_custkey")
    analyst = mesh.sql(sql, user="ana").arrow().sort_by("c_custkey")
    hidden = {r["c_custkey"] for r in admin.to_pylist() if r["c_nationkey"] in RESIDENCY_NATIONS}
    assert hidden, "the generated data has customers in the residency nations"
    assert {r["c_custkey"] for r in analyst.to_pylist()} == \
        {r["c_custkey"] for r in admin.to_pylist()} - hidden
    phones = set(admin.column("c_phone").to_pylist())
    addresses = set(admin.column("c_address").to_pylist())
    for row in analyst.to_pylist():
        assert row["c_phone"] not in phones and len(row["c_phone"]) == 32
        assert row["c_address"] not in addresses
    with pytest.raises(AccessDenied, match="c_acctbal"):
        mesh.sql("SELECT avg(c_acctbal) FROM customers.customer", user="ana")


def test_all_22_queries_run_and_admin_results_equal_raw(tpch: Path, tmp_path: Path) -> None:
    assert sorted(load_queries()) == list(range(1, 23))
    result = run_benchmark(tpch, SF, runs=1, plan_iterations=4, log=lambda _: None)
    assert len(result.queries) == 22
    assert result.summary["incorrect"] == []
    assert result.summary["analyst_denied"] == [10, 22]
    assert result.summary["analyst_queries"] == 20
    for q in result.queries:
        assert q.raw_ms > 0 and q.admin_ms > 0 and q.plan_p50_ms > 0
    json_path, md_path = report.write(result, tmp_path)
    data = json.loads(json_path.read_text())
    assert data["scale_factor"] == SF and len(data["queries"]) == 22
    table = md_path.read_text()
    assert len(re.findall(r"^\| q\d\d \|", table, flags=re.M)) == 22
    assert "geometric mean" in table and "p50" in table


def test_a_wrong_result_is_caught() -> None:
    con = duckdb.connect()
    good = con.sql("SELECT range AS a, range / 3 AS b FROM range(5)").to_arrow_table()
    off_by_one = con.sql("SELECT range AS a, range / 3 + (range = 4)::INT AS b "
                         "FROM range(5)").to_arrow_table()
    noise = con.sql("SELECT range AS a, range / 3 + 1e-12 AS b FROM range(5)").to_arrow_table()
    renamed = good.rename_columns(["a", "c"])
    shuffled = good.take([4, 3, 2, 1, 0])
    assert same_result(good, shuffled) is None
    assert same_result(good, noise) is None
    assert same_result(good, off_by_one) == "values differ"
    assert same_result(good, renamed) is not None
    assert same_result(good, good.slice(0, 4)) is not None


def test_command_line_writes_results_and_exits_zero(tpch: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--sf", str(SF), "--mesh", str(tpch), "--runs", "1", "--plan-iterations",
                 "2", "--queries", "1,18", "--out", str(tmp_path)])
    assert code == 0
    assert len(list(tmp_path.glob("*-sf0.01.json"))) == 1
    assert "| q18 |" in capsys.readouterr().out
