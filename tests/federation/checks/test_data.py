"""duckmesh check, query-time contract enforcement, freshness and result stamps."""

from __future__ import annotations

import json
import os
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner, Result

from federation import Mesh
from federation.checks.data import check
from federation.cli import cli
from federation.errors import ContractError


def dm(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--mesh", str(root), *args])


def rewrite_files(folder: Path, select: str) -> None:
    """Rewrite every Parquet file of a product through ``select`` (``src`` is the file)."""
    con = duckdb.connect()
    try:
        for path in folder.rglob("*.parquet"):
            tmp = path.with_suffix(".tmp")
            con.sql(select.replace("src", "read_parquet($p)"), params={"p": str(path)}
                    ).write_parquet(str(tmp))
            tmp.replace(path)
    finally:
        con.close()


def edit_contract(root: Path, fqn: str, edit: object) -> None:
    domain, name = fqn.split(".")
    path = root / "domains" / domain / f"{name}.odcs.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_demo_passes_every_check(demo_root: Path) -> None:
    result = dm(demo_root, "check")
    assert result.exit_code == 0, result.stdout
    assert "failed" not in result.stdout and "error" not in result.stdout
    assert "passed" in result.stderr


def test_dropped_column_fails_check_and_stops_queries(demo_copy: Path) -> None:
    rewrite_files(demo_copy / "data/customers/profiles", "SELECT * EXCLUDE (email) FROM src")
    result = dm(demo_copy, "check", "customers.profiles", "--format", "json")
    assert result.exit_code == 4
    failing = [f for f in json.loads(result.stdout) if f["status"] == "failed"]
    assert any(f["column"] == "email" and "missing" in f["message"] for f in failing)
    query = dm(demo_copy, "query", "-u", "ana", "SELECT email FROM customers.profiles")
    assert query.exit_code == 4
    assert "contract violation" in query.stderr and "customers.profiles" in query.stderr
    assert "email" in query.stderr and "Binder" not in query.stderr
    # A query that does not read the missing column still runs.
    assert dm(demo_copy, "query", "-u", "ana", "SELECT country FROM customers.profiles "
                                              "LIMIT 1").exit_code == 0


def test_changed_type_stops_queries(demo_copy: Path) -> None:
    rewrite_files(demo_copy / "data/flights/schedule",
                  "SELECT * REPLACE (CAST(seats AS VARCHAR) AS seats) FROM src")
    with pytest.raises(ContractError, match=r"seats is VARCHAR in the data but INTEGER"):
        Mesh.open(demo_copy).sql("SELECT sum(seats) FROM flights.schedule", user="ana")


def test_extra_column_is_a_warning_and_nulls_in_required_fail(demo_copy: Path) -> None:
    rewrite_files(demo_copy / "data/flights/schedule",
                  "SELECT * REPLACE (CASE WHEN flight_id = 1 THEN NULL ELSE carrier END AS "
                  "carrier), 1 AS surprise FROM src")
    findings = {f.check: f for f in check(Mesh.open(demo_copy), ["flights.schedule"])}
    assert findings["schema.surprise"].status == "warning"
    assert findings["schema.carrier"].status == "failed"
    assert "1 nulls" in findings["schema.carrier"].message


def test_broken_rule_fails(demo_copy: Path) -> None:
    edit_contract(demo_copy, "customers.profiles", lambda d: d["schema"][0]["properties"][7]
                  .update(quality=[{"metric": "invalidValues", "mustBe": 0,
                                    "arguments": {"validValues": ["EU", "NA"]}}]))
    findings = {f.check: f for f in check(Mesh.open(demo_copy), ["customers.profiles"])}
    rule = findings["quality.region.invalidValues"]
    assert rule.status == "failed" and rule.observed > 0


@pytest.mark.parametrize(("rule", "why"), [
    # A rule reads only its own product (checks read it unmasked, as their own identity).
    ({"type": "sql", "query": "SELECT count(*) FROM payments.transactions", "mustBe": 0},
     "may read only"),
    ({"metric": "invalidValues", "mustBe": 0}, "needs arguments"),
    ({"type": "sql", "query": "SELECT 1, 2 FROM ${table}", "mustBe": 1}, "returned"),
    ({"type": "custom", "engine": "soda", "implementation": "x"}, "cannot be evaluated"),
    ({"type": "sql", "query": "SELECT count(*) FROM ${table} WHERE nosuch > 1", "mustBe": 0},
     "column nosuch not found"),
])
def test_unmeasurable_rules_are_errors_never_passes(demo_copy: Path, rule: dict[str, object],
                                                    why: str) -> None:
    # The owner's own grant masks loyalty_tier, so a rule on it would measure masks.
    domain = demo_copy / "domains/customers/domain.yaml"
    spec = yaml.safe_load(domain.read_text())
    spec["grants"][0] = {"products": ["*"], "roles": ["customers_owner"],
                         "mask_columns": {"loyalty_tier": "redact"}}
    spec["grants"].insert(1, {"products": ["*"], "roles": ["admin", "fraud_investigator"]})
    domain.write_text(yaml.safe_dump(spec))
    edit_contract(demo_copy, "customers.profiles",
                  lambda d: d["schema"][0]["properties"][8].update(quality=[rule]))
    result = dm(demo_copy, "check", "customers.profiles", "--format", "json")
    assert result.exit_code == 4
    findings = [f for f in json.loads(result.stdout) if f["check"].startswith("quality.")
                and f["column"] == "loyalty_tier"]
    assert len(findings) == 1 and findings[0]["status"] == "error", findings
    assert why in findings[0]["message"]


def test_sql_rule_and_percent_unit(demo_copy: Path) -> None:
    edit_contract(demo_copy, "bookings.reservations", lambda d: d["schema"][0].update(quality=[
        {"type": "sql", "name": "no_negative_fares", "mustBe": 0,
         "query": "SELECT count(*) FROM ${table} WHERE fare_amount < 0"},
        {"metric": "rowCount", "mustBeBetween": [1, 100]},
    ]))
    edit_contract(demo_copy, "bookings.reservations", lambda d: d["schema"][0]["properties"][5]
                  .update(quality=[{"metric": "invalidValues", "unit": "percent",
                                    "arguments": {"validValues": ["completed"]},
                                    "mustBeLessThan": 50}]))
    findings = {f.check: f for f in check(Mesh.open(demo_copy), ["bookings.reservations"])}
    assert findings["quality.no_negative_fares"].status == "passed"
    assert findings["quality.rowCount"].status == "failed"  # 10,000 rows is not 1..100
    status = findings["quality.status.invalidValues"]
    assert status.status == "passed" and 35 < status.observed < 45  # 2 of 5 are not completed


def test_junit_output_is_valid_xml(demo_copy: Path, tmp_path: Path) -> None:
    rewrite_files(demo_copy / "data/customers/profiles", "SELECT * EXCLUDE (email) FROM src")
    out = tmp_path / "report.xml"
    result = dm(demo_copy, "check", "--format", "junit", "-o", str(out))
    assert result.exit_code == 4
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"bookings.reservations", "customers.profiles", "flights.schedule",
                           "marketing.campaigns", "marketing.touchpoints",
                           "payments.transactions"}
    profiles = suites["customers.profiles"]
    assert int(profiles.get("failures") or 0) >= 1
    cases = profiles.findall("testcase")
    assert int(profiles.get("tests") or 0) == len(cases)
    assert any(c.find("failure") is not None and c.get("name") == "schema.email" for c in cases)
    assert int(root.get("tests") or 0) == sum(len(s.findall("testcase")) for s in suites.values())


def _age(folder: Path, days: float) -> None:
    old = time.time() - days * 86400
    for path in folder.rglob("*.parquet"):
        os.utime(path, (old, old))


def test_stale_product_warns_then_refuses_when_asked(demo_copy: Path) -> None:
    _age(demo_copy / "data/flights/schedule", 3)
    result = dm(demo_copy, "query", "-u", "ana", "SELECT count(*) FROM flights.schedule")
    assert result.exit_code == 0
    assert "warning: flights.schedule: data is 3d" in result.stderr
    assert "past the freshness SLA of 1d" in result.stderr
    assert dm(demo_copy, "check", "flights.schedule").exit_code == 4
    edit_contract(demo_copy, "flights.schedule", lambda d: d.update(
        customProperties=[{"property": "duckmesh.freshness", "value": "refuse"}]))
    refused = dm(demo_copy, "query", "-u", "ana", "SELECT count(*) FROM flights.schedule")
    assert refused.exit_code == 4 and "refused" in refused.stderr


def test_result_stamp_in_api_json_and_parquet(demo_root: Path, tmp_path: Path) -> None:
    sql = "SELECT booking_year, count(*) AS n FROM bookings.reservations GROUP BY ALL"
    stamp = Mesh.open(demo_root).sql(sql, user="dana").stamp
    files = stamp["products"]["bookings.reservations"]["files"]
    on_disk = sorted((demo_root / "data/bookings/reservations").rglob("*.parquet"))
    assert [f["path"] for f in files] == [str(p) for p in on_disk]
    assert all(f["size"] == Path(f["path"]).stat().st_size for f in files)
    assert stamp["products"]["bookings.reservations"]["contract_version"] == "1.0.0"
    doc = json.loads(dm(demo_root, "query", "-u", "dana", "--format", "json", "--stamp",
                        sql).stdout)
    assert set(doc) == {"stamp", "rows"} and len(doc["rows"]) >= 1
    assert doc["stamp"]["products"]["bookings.reservations"]["files"] == files
    out = tmp_path / "r.parquet"
    dm(demo_root, "query", "-u", "dana", "--format", "parquet", "-o", str(out), sql)
    meta = pq.read_schema(out).metadata[b"duckmesh.stamp"]
    assert json.loads(meta)["products"]["bookings.reservations"]["files"] == files


def test_stamp_needs_json(demo_root: Path) -> None:
    assert dm(demo_root, "query", "--stamp", "SELECT 1").exit_code == 1


def test_value_ranges(demo_copy: Path) -> None:
    edit_contract(demo_copy, "bookings.reservations", lambda d: d["schema"][0]["properties"][6]
                  .update(quality=[
                      {"name": "passengers_in_range", "metric": "invalidValues", "mustBe": 0,
                       "arguments": {"minimum": 1, "maximum": 4}},
                      {"name": "at_most_three", "metric": "invalidValues", "mustBe": 0,
                       "arguments": {"maximum": 3}}]))
    findings = {f.check: f for f in check(Mesh.open(demo_copy), ["bookings.reservations"])}
    assert findings["quality.passengers_in_range"].status == "passed"
    assert findings["quality.at_most_three"].status == "failed"
    assert findings["quality.at_most_three"].observed > 0


def test_unreadable_data_is_one_finding_naming_the_product_once(demo_copy: Path) -> None:
    import shutil

    shutil.rmtree(demo_copy / "data/flights/schedule")
    result = dm(demo_copy, "check", "flights.schedule", "--format", "json")
    assert result.exit_code == 4
    [finding] = json.loads(result.stdout)
    assert finding["product"] == "flights.schedule" and finding["status"] == "error"
    assert finding["message"] == "cannot read the data: data not found at " \
                                 "'data/flights/schedule'"
