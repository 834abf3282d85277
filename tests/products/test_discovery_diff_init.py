"""products search/show, contract diffs and version bumps, and contract bootstrapping."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner, Result

from federation.cli import cli
from products.bootstrap import luhn_ok, suggest
from products.catalog import Catalog
from products.diff import actual_bump, diff_products, required_bump, widens
from products.discovery import search


def dm(root: Path | None, *args: str) -> Result:
    prefix = ["--mesh", str(root)] if root else []
    return CliRunner().invoke(cli, [*prefix, *args])


# -- discovery ------------------------------------------------------------------------


def test_search_email_finds_customers_through_its_column(demo_root: Path) -> None:
    hits = search(Catalog.load(demo_root), "EMAIL")
    assert hits[0].product.fqn == "customers.profiles"
    assert "column email" in hits[0].reasons
    rows = json.loads(dm(demo_root, "products", "search", "email", "--format", "json").stdout)
    assert rows[0]["product"] == "customers.profiles"


def test_search_ranks_exact_name_first_and_needs_every_term(demo_root: Path) -> None:
    catalog = Catalog.load(demo_root)
    assert search(catalog, "campaigns")[0].product.fqn == "marketing.campaigns"
    assert next(m.product.fqn for m in search(catalog, "payments.transactions")) == \
        "payments.transactions"
    assert {m.product.fqn for m in search(catalog, "marketing")} == {
        "marketing.campaigns", "marketing.touchpoints"}
    assert search(catalog, "card brand")[0].product.fqn == "payments.transactions"
    assert search(catalog, "finance-team")[0].product.fqn == "payments.transactions"
    assert search(catalog, "gdpr")[0].product.fqn == "customers.profiles"
    assert search(catalog, "email zeppelin") == []


def test_show_gives_contract_and_live_facts(demo_root: Path) -> None:
    info = json.loads(dm(demo_root, "products", "show", "Bookings.Reservations",
                         "--format", "json").stdout)
    assert info["owner"] == "sales-team" and info["version"] == "1.0.0"
    assert info["facts"]["rows"] == 10000 and info["facts"]["files"] >= 4
    assert info["facts"]["size_bytes"] > 0 and info["facts"]["freshness"]["status"] == "fresh"
    assert {"name": "booking_year", "type": "INTEGER", "required": True,
            "classification": "internal",
            "description": "Year of booked_at (partition key)"} in info["columns"]
    assert any(q.get("metric") == "rowCount" for q in info["quality"])
    text = dm(demo_root, "products", "show", "bookings.reservations").stdout
    assert "10000 rows" in text and "sales-team" in text


def test_show_sample_is_masked_for_the_caller(demo_root: Path,
                                               raw_secrets: frozenset[str]) -> None:
    result = dm(demo_root, "products", "show", "customers.profiles", "--sample", "5",
                "--user", "ana", "--format", "json")
    sample = json.loads(result.stdout)["sample"]
    assert len(sample) == 5
    assert all(len(r["email"]) == 32 and "@" not in r["email"] for r in sample)
    assert all(r["region"] == "EU" for r in sample) and "passport_number" not in sample[0]
    assert not [s for s in raw_secrets if s in result.stdout]
    table = dm(demo_root, "products", "show", "customers.profiles", "--sample", "2", "-u", "ana")
    assert "governed for ana" in table.stdout and "@" not in table.stdout


def test_show_with_missing_data_reports_it(demo_copy: Path) -> None:
    shutil.rmtree(demo_copy / "data/flights/schedule")
    info = json.loads(dm(demo_copy, "products", "show", "flights.schedule",
                         "--format", "json").stdout)
    assert "flights.schedule" in info["facts"]["error"]


def test_show_unknown_product(demo_root: Path) -> None:
    result = dm(demo_root, "products", "show", "nope.nothing")
    assert result.exit_code == 1 and "unknown product" in result.stderr


# -- diff and versions ----------------------------------------------------------------


def _contract(root: Path) -> Path:
    return root / "domains/customers/profiles.odcs.yaml"


def _edit(path: Path, edit: object) -> None:
    data = yaml.safe_load(path.read_text())
    edit(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _props(data: dict[str, object]) -> list[dict[str, object]]:
    return data["schema"][0]["properties"]  # type: ignore[index, no-any-return]


def test_diff_classifies_changes(demo_root: Path) -> None:
    catalog = Catalog.load(demo_root)
    old = catalog.get("customers.profiles")
    assert diff_products(old, old) == []
    cols = list(old.columns)
    import dataclasses as dc

    renamed = dc.replace(old, columns=tuple(
        dc.replace(c, name="mail") if c.name == "email" else c for c in cols))
    assert [c.kind for c in diff_products(old, renamed)] == ["column renamed"]
    widened = dc.replace(old, columns=tuple(
        dc.replace(c, type="HUGEINT") if c.name == "customer_id" else c for c in cols))
    assert [(c.kind, c.breaking) for c in diff_products(old, widened)] == [
        ("type widened", False)]
    relaxed = dc.replace(old, columns=tuple(
        dc.replace(c, required=False, classification="internal") if c.name == "email" else c
        for c in cols))
    kinds = {c.kind: c.breaking for c in diff_products(old, relaxed)}
    assert kinds == {"nullability relaxed": False, "classification relaxed": True}
    added = dc.replace(old, columns=(*cols, dc.replace(cols[0], name="extra")))
    assert required_bump(diff_products(old, added)) == "minor"
    assert [c.kind for c in diff_products(old, None)] == ["product removed"]
    assert widens("INTEGER", "BIGINT") and not widens("BIGINT", "INTEGER")
    assert widens("DECIMAL(10,2)", "DECIMAL(12,2)") and not widens("DECIMAL(12,2)",
                                                                   "DECIMAL(12,1)")
    assert not widens("VARCHAR", "INTEGER") and widens("DATE", "TIMESTAMP")
    assert actual_bump("1.2.3", "2.0.0") == "major" and actual_bump("1.2.3", "1.2.4") == "patch"


def test_diff_cli_removed_column_is_breaking(demo_copy: Path, tmp_path: Path) -> None:
    old = tmp_path / "customers" / "profiles.odcs.yaml"
    old.parent.mkdir()
    shutil.copy(_contract(demo_copy), old)
    _edit(_contract(demo_copy), lambda d: d["schema"][0].update(
        properties=[p for p in _props(d) if p["name"] != "phone"]))
    result = dm(None, "diff", str(old), str(_contract(demo_copy)), "--format", "json")
    assert result.exit_code == 4
    report = json.loads(result.stdout)
    assert report["changes"] == [{"kind": "column removed", "detail": "phone",
                                  "column": "phone", "breaking": True, "bump": "major"}]
    assert report["required_bump"] == "major" and report["ok"] is False
    _edit(_contract(demo_copy), lambda d: d.update(version="2.0.0"))
    ok = dm(None, "diff", str(old), str(_contract(demo_copy)))
    assert ok.exit_code == 0 and "column removed" in ok.stdout and "yes" in ok.stdout


def test_non_breaking_diff_passes(demo_copy: Path, tmp_path: Path) -> None:
    old = tmp_path / "customers" / "profiles.odcs.yaml"
    old.parent.mkdir()
    shutil.copy(_contract(demo_copy), old)
    _edit(_contract(demo_copy), lambda d: (_props(d).append(
        {"name": "nickname", "logicalType": "string", "physicalType": "VARCHAR"}),
        d.update(version="1.1.0")))
    result = dm(None, "diff", str(old), str(_contract(demo_copy)), "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["required_bump"] == "minor"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


@pytest.fixture
def repo(demo_copy: Path) -> Path:
    _git(demo_copy, "init", "-q")
    _git(demo_copy, "-c", "user.email=t@t", "-c", "user.name=t", "add", "domains", "governance",
         "duckmesh.yaml")
    _git(demo_copy, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "v1")
    return demo_copy


def test_validate_against_refuses_breaking_change_without_major(repo: Path) -> None:
    _edit(_contract(repo), lambda d: d["schema"][0].update(
        properties=[p for p in _props(d) if p["name"] != "phone"]))
    assert dm(repo, "validate").exit_code == 0
    result = dm(repo, "validate", "--against", "HEAD")
    assert result.exit_code == 1
    assert "profiles.odcs.yaml: version: breaking change since HEAD" in result.stderr
    assert "column removed: phone" in result.stderr
    diff = dm(None, "diff", str(_contract(repo)), "--rev", "HEAD")
    assert diff.exit_code == 4 and "phone" in diff.stdout
    _edit(_contract(repo), lambda d: d.update(version="2.0.0"))
    assert dm(repo, "validate", "--against", "HEAD").exit_code == 0


def test_validate_against_reports_removed_product(repo: Path) -> None:
    (repo / "domains/marketing/touchpoints.odcs.yaml").unlink()
    result = dm(repo, "validate", "--against", "HEAD")
    assert result.exit_code == 1 and "marketing.touchpoints was removed" in result.stderr


def test_validate_against_unknown_revision(repo: Path) -> None:
    result = dm(repo, "validate", "--against", "no-such-rev")
    assert result.exit_code == 1 and "unknown git revision" in result.stderr


# -- bootstrap ------------------------------------------------------------------------


def _card(rng: random.Random) -> str:
    body = "4" + "".join(str(rng.randrange(10)) for _ in range(14))
    for check in range(10):
        if luhn_ok(body + str(check)):
            return body + str(check)
    raise AssertionError


def test_luhn() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert luhn_ok("79927398713")


def test_suggestions_on_generated_values() -> None:
    rng = random.Random(7)
    cards = [_card(rng) for _ in range(200)]
    not_cards = [c[:-1] + str((int(c[-1]) + 1) % 10) for c in cards]
    assert suggest("value", cards).classification == "pci"  # type: ignore[union-attr]
    assert suggest("value", not_cards) is None
    emails = [f"user{i}@example.org" for i in range(100)]
    assert suggest("contact", emails).classification == "pii"  # type: ignore[union-attr]
    phones = [f"+44 20 {rng.randrange(10**7):07d}" for _ in range(100)]
    assert suggest("c1", phones).classification == "pii"  # type: ignore[union-attr]
    ssns = [f"{rng.randrange(900):03d}-{rng.randrange(99):02d}-{rng.randrange(9999):04d}"
            for _ in range(100)]
    assert suggest("c2", ssns).classification == "restricted"  # type: ignore[union-attr]
    assert suggest("c3", ["EU", "NA"] * 50) is None
    assert suggest("customer_email", []).classification == "pii"  # type: ignore[union-attr]
    assert suggest("birth_date", ["1980-01-01"], text=False).reason.startswith("column name")  # type: ignore[union-attr]


def test_init_writes_a_valid_draft_with_suggestions(demo_copy: Path, tmp_path: Path) -> None:
    rng = random.Random(3)
    data = demo_copy / "data/marketing/leads"  # under the domain's storage roots
    data.mkdir(parents=True)
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t(id BIGINT, contact VARCHAR, card VARCHAR, score DOUBLE)")
        con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", [
            (i, f"lead{i}@example.com", _card(rng), rng.random()) for i in range(300)])
        con.sql("SELECT * FROM t").write_parquet(str(data / "part-0.parquet"))
    finally:
        con.close()
    result = dm(demo_copy, "products", "init", "marketing.leads", "--from", str(data))
    assert result.exit_code == 0, result.stderr
    path = demo_copy / "domains/marketing/leads.odcs.yaml"
    text = path.read_text()
    assert text.startswith("# Draft written by `duckmesh products init`")
    props = {p["name"]: p for p in yaml.safe_load(text)["schema"][0]["properties"]}
    assert props["contact"]["classification"] == "pii"
    assert props["card"]["classification"] == "pci"
    assert props["score"]["classification"] == "internal"
    assert props["id"]["physicalType"] == "BIGINT" and props["id"]["required"] is True
    assert {"property": "duckmesh.classificationSuggested", "value": True} in \
        props["card"]["customProperties"]
    assert Catalog.load(demo_copy).get("marketing.leads").status == "draft"
    assert dm(demo_copy, "validate").exit_code == 0
    again = dm(demo_copy, "products", "init", "marketing.leads", "--from", str(data))
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_init_from_missing_path_is_one_line(demo_copy: Path) -> None:
    result = dm(demo_copy, "products", "init", "x.y", "--from", "/no/such/place")
    assert result.exit_code == 1 and "data not found" in result.stderr
