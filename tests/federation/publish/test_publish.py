"""Self-serve publishing (issue 19): the sales team publishes a cross-domain product; its
labels come from lineage, readers meet the same global rules, refresh makes new versions,
and an upstream change names the product.  Oracles: raw DuckDB over the demo's files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from federation import Mesh
from federation.cli import cli
from federation.errors import AccessDenied, ContractError, QueryFailed, UsageError
from federation.publish import store
from federation.publish.publisher import publish
from federation.publish.refresh import due, refresh
from federation.reports.history import History

SQL = """
SELECT b.booking_id, c.country, split_part(c.email, '@', 2) AS email_domain,
       lower(c.email) AS contact, p.card_number, p.amount
FROM bookings.reservations b
JOIN customers.profiles c ON c.customer_id = b.customer_id
JOIN payments.transactions p ON p.booking_id = b.booking_id
"""
FQN = "bookings.revenue_facts"


def _contract(root: Path, name: str = "revenue_facts") -> dict[str, Any]:
    text = (root / "domains" / "bookings" / f"{name}.odcs.yaml").read_text()
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _labels(contract: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["classification"] for p in contract["schema"][0]["properties"]}


def _raw(root: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect()
    try:
        return con.execute(sql.replace("ROOT", str(root))).fetchall()
    finally:
        con.close()


@pytest.fixture
def published(demo_copy: Path) -> Path:
    publish(Mesh.open(demo_copy), FQN, SQL, user="sales-team", description="Test facts.")
    return demo_copy


def test_labels_are_inherited_from_lineage(published: Path) -> None:
    contract = _contract(published)
    assert contract["status"] == "draft"
    assert _labels(contract) == {"booking_id": "internal", "country": "public",
                                 "email_domain": "pii", "contact": "pii",
                                 "card_number": "pci", "amount": "internal"}
    derived = contract["customProperties"][0]["value"]
    assert derived["publishedBy"] == "sales-team"
    assert {u["product"] for u in derived["upstream"]} == {
        "bookings.reservations", "customers.profiles", "payments.transactions"}
    assert derived["rowFilters"] == []


def test_readers_meet_the_same_rules(published: Path) -> None:
    mesh = Mesh.open(published)
    from federation.publish.lifecycle import set_status

    set_status(mesh, FQN, "active", user="sales-team")
    mesh = Mesh.open(published)
    got = mesh.sql(f"SELECT email_domain, contact, amount FROM {FQN}", user="ana").arrow()
    profiles = "read_parquet('ROOT/data/customers/profiles/**/*.parquet')"
    raw_domains = {r[0] for r in _raw(published, "SELECT DISTINCT split_part(email, '@', 2) "
                                      f"FROM {profiles}")}
    raw_emails = {r[0] for r in _raw(published, f"SELECT DISTINCT lower(email) FROM {profiles}")}
    domains = set(got.column("email_domain").to_pylist())
    contacts = set(got.column("contact").to_pylist())
    assert len(raw_domains) >= 3 and "" not in raw_domains
    assert domains and not domains & raw_domains  # masked (hash), not in clear
    assert contacts and not contacts & raw_emails
    with pytest.raises(AccessDenied, match="card_number"):
        mesh.sql(f"SELECT card_number FROM {FQN}", user="ana").arrow()
    # SELECT * hides the denied pci column rather than leaking it.
    star = mesh.sql(f"SELECT * FROM {FQN}", user="ana").arrow()
    assert "card_number" not in star.column_names
    # The publisher's own reading power does not pass on: fiona (fraud) sees card numbers
    # by the pci rule, as she does at the source.
    cards = mesh.sql(f"SELECT DISTINCT card_number FROM {FQN}", user="fiona").arrow()
    raw_cards = {r[0] for r in _raw(published, "SELECT DISTINCT card_number FROM "
                                    "read_parquet('ROOT/data/payments/transactions/*.parquet')")}
    assert set(cards.column(0).to_pylist()) <= raw_cards


@pytest.mark.parametrize("sql", [
    # Every way of carrying email through a query keeps its label.
    "SELECT upper(x) AS e FROM (SELECT email AS x FROM customers.profiles)",
    "WITH t AS (SELECT email FROM customers.profiles) SELECT email AS e FROM t",
    "SELECT CASE WHEN region = 'EU' THEN email ELSE country END AS e FROM customers.profiles",
    "SELECT string_agg(email, ',') AS e FROM customers.profiles GROUP BY region",
    "SELECT country AS e FROM customers.profiles UNION ALL SELECT email FROM customers.profiles",
    "SELECT first_value(email) OVER (PARTITION BY region ORDER BY customer_id) AS e "
    "FROM customers.profiles",
    "SELECT md5(email) AS e FROM customers.profiles",
])
def test_no_query_shape_launders_a_label(demo_copy: Path, sql: str) -> None:
    publish(Mesh.open(demo_copy), "bookings.laundered", sql, user="sales-team")
    assert _labels(_contract(demo_copy, "laundered"))["e"] == "pii"


def test_only_the_domains_owners_publish(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    for user, fqn in (("ana", FQN), ("adam", FQN), ("finance-team", FQN),
                      ("sales-team", "payments.stolen")):
        with pytest.raises(AccessDenied, match="only the owners"):
            publish(mesh, fqn, "SELECT booking_id FROM bookings.reservations", user=user)
    assert not (demo_copy / "domains/bookings/revenue_facts.odcs.yaml").exists()
    assert not (demo_copy / "data/bookings/revenue_facts").exists()


@pytest.mark.parametrize("name", ["bookings.reservations", "bookings.../x", "bookings.a.b",
                                  "nowhere.thing", "bookings.Bad-Name", "bookings.1x"])
def test_bad_or_taken_names_are_refused(demo_copy: Path, name: str) -> None:
    with pytest.raises(UsageError):
        publish(Mesh.open(demo_copy), name, "SELECT 1 AS x FROM bookings.reservations",
                user="sales-team")


def test_a_failed_publication_leaves_nothing(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    with pytest.raises(QueryFailed):  # fails while the data is being written
        publish(mesh, FQN, "SELECT strptime(status, '%Y') AS x FROM bookings.reservations",
                user="sales-team")
    assert not (demo_copy / "data/bookings/revenue_facts").exists()
    assert not (demo_copy / "domains/bookings/revenue_facts.odcs.yaml").exists()


def _sales_grant_on_profiles(root: Path, **fields: Any) -> None:
    """Set ``fields`` on the customers domain's grant to the sales team (the publisher)."""
    domain = root / "domains/customers/domain.yaml"
    data = yaml.safe_load(domain.read_text())
    for grant in data["grants"]:
        if grant["roles"] == ["bookings_owner"]:
            grant.update(fields)
    domain.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_row_filtered_publisher_view_is_written_in_the_contract(demo_copy: Path) -> None:
    _sales_grant_on_profiles(demo_copy, row_filter="region = 'EU'")
    publish(Mesh.open(demo_copy), FQN, "SELECT customer_id, country FROM customers.profiles",
            user="sales-team")
    contract = _contract(demo_copy)
    filters = contract["customProperties"][0]["value"]["rowFilters"]
    assert [f["product"] for f in filters] == ["customers.profiles"]
    assert "region" in filters[0]["filter"] and "EU" in filters[0]["filter"]
    assert "row-filtered" in contract["description"]["purpose"]


def test_declassification_only_by_policy_and_recorded(demo_copy: Path) -> None:
    _sales_grant_on_profiles(demo_copy, mask_columns={"email": "redact"})
    sql = "SELECT email AS e FROM customers.profiles"
    publish(Mesh.open(demo_copy), "bookings.masked1", sql, user="sales-team")
    assert _labels(_contract(demo_copy, "masked1"))["e"] == "pii"  # masked is still pii
    policies = demo_copy / "governance/policies.yaml"
    doc = yaml.safe_load(policies.read_text())
    doc["declassify"] = [{"classification": "pii", "method": "redact", "to": "internal",
                          "description": "a redacted value holds nothing personal"}]
    policies.write_text(yaml.safe_dump(doc, sort_keys=False))
    publish(Mesh.open(demo_copy), "bookings.masked2", sql, user="sales-team")
    column = _contract(demo_copy, "masked2")["schema"][0]["properties"][0]
    assert column["classification"] == "internal"
    recorded = {c["property"]: c["value"] for c in column["customProperties"]}
    assert recorded["duckmesh.declassified"][0]["from"] == "pii"


@pytest.mark.parametrize("entry", [
    {"classification": "pii", "method": "redact", "to": "pci"},       # not lower
    {"classification": "pii", "method": "redact", "to": "secret"},    # undeclared
    {"classification": "pii", "method": "scramble", "to": "internal"},  # no such mask
])
def test_a_declassify_that_does_not_lower_is_refused(demo_copy: Path,
                                                     entry: dict[str, str]) -> None:
    from federation.errors import ConfigError

    policies = demo_copy / "governance/policies.yaml"
    doc = yaml.safe_load(policies.read_text())
    doc["declassify"] = [{**entry, "description": "x"}]
    policies.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(ConfigError):
        Mesh.open(demo_copy).sql("SELECT 1 AS x FROM bookings.reservations", user="adam")


def _append_bookings(root: Path) -> int:
    """New source data: a copy of one reservations file with new booking ids."""
    folder = root / "data/bookings/reservations"
    first = sorted(folder.rglob("*.parquet"))[0]
    table = pq.read_table(first)
    import pyarrow.compute as pc

    shifted = table.set_column(table.schema.get_field_index("booking_id"), "booking_id",
                               pc.add(table["booking_id"], 10_000_000))
    pq.write_table(shifted, first.with_name("zz-extra.parquet"))
    rows: int = table.num_rows
    return rows


def test_refresh_makes_a_new_version_with_upstream_recorded(published: Path) -> None:
    sql = ("SELECT b.booking_id, c.country FROM bookings.reservations b "
           "JOIN customers.profiles c ON c.customer_id = b.customer_id")
    publish(Mesh.open(published), "bookings.bc", sql, user="sales-team")
    before = store.current_version(published / "data/bookings/bc")
    added = _append_bookings(published)
    publication = refresh(Mesh.open(published), "bookings.bc")
    assert (before, publication.version) == (1, 2)
    count = _raw(published, "SELECT count(*) FROM read_parquet('ROOT/data/bookings/bc/current/"
                            "*.parquet')")[0][0]
    raw = _raw(published, "SELECT count(*) FROM read_parquet('ROOT/data/bookings/reservations/"
                          "**/*.parquet', union_by_name=true) b JOIN read_parquet('ROOT/data/"
                          "customers/profiles/**/*.parquet') c USING (customer_id)")[0][0]
    assert count == raw and publication.rows == raw and added > 0
    entries = History(published, "bookings.bc", ".duckmesh/publications").entries()
    # Records of the same second sort by a random suffix: take the newest by version.
    last = max(entries, key=lambda e: int(e["version"]))
    assert last["version"] == 2 and last["outcome"] == "ok"
    assert {u["product"]: u["contractVersion"] for u in last["upstream"]} == {
        "bookings.reservations": "1.0.0", "customers.profiles": "1.0.0"}
    files = [f["path"] for f in last["read"]["bookings.reservations"]["files"]]
    assert any(p.endswith("zz-extra.parquet") for p in files)
    # The version's file carries its publication record.
    meta = pq.read_schema(next((published / "data/bookings/bc/current").glob("*.parquet")))
    assert json.loads(meta.metadata[b"duckmesh.publication"])["version"] == 2


def test_a_long_lived_mesh_reads_each_refresh(published: Path) -> None:
    """`duckmesh serve` and notebooks keep one process: a refresh switches `current`,
    and the next query reads the new version (it read the first one until it was
    pruned, then failed with 'data not found')."""
    sql = ("SELECT b.booking_id, c.country FROM bookings.reservations b "
           "JOIN customers.profiles c ON c.customer_id = b.customer_id")
    publish(Mesh.open(published), "bookings.bc", sql, user="sales-team")
    server = Mesh.open(published)
    count = "SELECT count(*) AS n FROM bookings.bc"
    before = server.sql(count, user="sales-team").arrow().to_pylist()[0]["n"]
    added = _append_bookings(published)
    for _ in range(5):  # past the three versions kept
        refresh(Mesh.open(published), "bookings.bc")
        raw = _raw(published, "SELECT count(*) FROM read_parquet('ROOT/data/bookings/bc/"
                              "current/*.parquet')")[0][0]
        assert server.sql(count, user="sales-team").arrow().to_pylist()[0]["n"] == raw
    assert raw > before and added > 0


def test_refresh_stops_on_a_breaking_upstream_change(published: Path) -> None:
    contract = published / "domains/customers/profiles.odcs.yaml"
    data = yaml.safe_load(contract.read_text())
    props = data["schema"][0]["properties"]
    data["schema"][0]["properties"] = [p for p in props if p["name"] != "email"]
    data["version"] = "2.0.0"
    contract.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ContractError, match=r"customers\.profiles\.email was removed"):
        refresh(Mesh.open(published), FQN)
    assert store.current_version(published / "data/bookings/revenue_facts") == 1


def test_due_runs_each_slot_once_and_retries_failures(demo_copy: Path) -> None:
    import datetime as dt

    publish(Mesh.open(demo_copy), "bookings.daily", "SELECT booking_id FROM "
            "bookings.reservations", user="sales-team", schedule="0 5 * * *")
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1, hours=1)
    first = due(Mesh.open(demo_copy), tomorrow)
    assert [o.outcome for o in first] == ["ok"]
    assert due(Mesh.open(demo_copy), tomorrow) == []  # that slot is done
    shutil.rmtree(demo_copy / "data/bookings/reservations")
    later = tomorrow + dt.timedelta(days=1)
    failed = due(Mesh.open(demo_copy), later)
    assert [o.outcome for o in failed] == ["failed"]
    assert store.current_version(demo_copy / "data/bookings/daily") == 2
    assert [o.outcome for o in due(Mesh.open(demo_copy), later)] == ["failed"]  # retried


def test_validate_against_head_names_the_derived_product(published: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=published, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "mesh")
    contract = published / "domains/customers/profiles.odcs.yaml"
    data = yaml.safe_load(contract.read_text())
    data["schema"][0]["properties"] = [p for p in data["schema"][0]["properties"]
                                       if p["name"] != "email"]
    data["version"] = "1.1.0"
    contract.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(cli, ["--mesh", str(published), "validate", "--against",
                                      "HEAD"])
    assert result.exit_code == 1
    assert "bookings.revenue_facts (product) reads email" in result.output
    assert "daily_revenue_eu (report) reads email" in result.output
    diff = CliRunner().invoke(cli, ["--mesh", str(published), "diff", str(contract),
                                    "--rev", "HEAD", "--format", "json"])
    downstream = json.loads(diff.output)["downstream"]
    assert {d["consumer"] for d in downstream} == {"bookings.revenue_facts",
                                                   "daily_revenue_eu"}


def test_cli_publish_and_graph(demo_copy: Path, tmp_path: Path) -> None:
    sql_file = tmp_path / "p.sql"
    sql_file.write_text(SQL)
    run = CliRunner().invoke(cli, ["--mesh", str(demo_copy), "products", "publish", FQN,
                                   "-f", str(sql_file), "--user", "sales-team"])
    assert run.exit_code == 0, run.output
    assert "version 1" in run.output
    refused = CliRunner().invoke(cli, ["--mesh", str(demo_copy), "products", "publish",
                                       "bookings.other", "--sql", "SELECT 1 AS x FROM "
                                       "bookings.reservations", "--user", "ana"])
    assert refused.exit_code == 3
    graph = CliRunner().invoke(cli, ["--mesh", str(demo_copy), "lineage", "--products",
                                     "--format", "json"])
    edges = json.loads(graph.output)["edges"]
    assert {"from": "customers.profiles", "to": FQN, "kind": "product",
            "columns": ["country", "customer_id", "email"]} in edges
    mermaid = CliRunner().invoke(cli, ["--mesh", str(demo_copy), "lineage", "--products",
                                       FQN, "--format", "mermaid"])
    assert mermaid.output.startswith("flowchart LR") and "customers.profiles" in mermaid.output
    unknown = CliRunner().invoke(cli, ["--mesh", str(demo_copy), "lineage", "--products",
                                       "bookings.revenue_fact"])
    assert unknown.exit_code == 1 and "did you mean" in unknown.output


def test_iceberg_publication_is_one_snapshot_each(demo_copy: Path) -> None:
    """Oracle: pyiceberg's own scan of the table equals what readers get through duckmesh."""
    from pyiceberg.catalog.sql import SqlCatalog

    sql = ("SELECT c.campaign_id, c.channel, count(*) AS touches FROM marketing.touchpoints t "
           "JOIN marketing.campaigns c ON c.campaign_id = t.campaign_id GROUP BY ALL")
    first = publish(Mesh.open(demo_copy), "marketing.reach", sql, user="growth-team",
                    fmt="iceberg")
    contract = yaml.safe_load((demo_copy / "domains/marketing/reach.odcs.yaml").read_text())
    assert contract["servers"][0]["type"] == "iceberg"
    from federation.publish.lifecycle import set_status

    set_status(Mesh.open(demo_copy), "marketing.reach", "active", user="growth-team")
    second = refresh(Mesh.open(demo_copy), "marketing.reach")
    assert second.version != first.version
    catalog = SqlCatalog("demo", uri=f"sqlite:///{demo_copy}/iceberg/catalog.db",
                         warehouse=(demo_copy / "iceberg/warehouse").as_uri())
    table = catalog.load_table("marketing.reach")
    assert [s.snapshot_id for s in table.snapshots()][-2:] == [first.version, second.version]
    theirs = sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["campaign_id"])
    ours = Mesh.open(demo_copy).sql("SELECT * FROM marketing.reach ORDER BY campaign_id",
                                    user="ana").arrow().to_pylist()
    assert ours == theirs and len(ours) > 1
    with pytest.raises(UsageError, match="already exists"):
        publish(Mesh.open(demo_copy), "marketing.reach", sql, user="growth-team",
                fmt="iceberg")


def test_the_demo_ships_an_active_derived_product(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    assert CliRunner().invoke(cli, ["demo", str(root), "--scale", "0.01"]).exit_code == 0
    graph = CliRunner().invoke(cli, ["--mesh", str(root), "lineage", "--products",
                                     "--format", "json"])
    into = {e["from"] for e in json.loads(graph.output)["edges"]
            if e["to"] == "bookings.booking_facts"}
    assert into == {"bookings.reservations", "customers.profiles", "payments.transactions"}
    contract = _contract(root, "booking_facts")
    assert contract["status"] == "active" and _labels(contract)["email_domain"] == "pii"
    assert CliRunner().invoke(cli, ["--mesh", str(root), "validate"]).exit_code == 0


def _relabel(root: Path, column: str, label: str) -> None:
    path = root / "domains/customers/profiles.odcs.yaml"
    data = yaml.safe_load(path.read_text())
    for prop in data["schema"][0]["properties"]:
        if prop["name"] == column:
            prop["classification"] = label
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_source_label_made_stricter_reaches_the_derived_column_at_once(
        published: Path) -> None:
    from federation.publish.lifecycle import set_status

    set_status(Mesh.open(published), FQN, "active", user="sales-team")
    country = f"SELECT DISTINCT country FROM {FQN}"
    clear = set(Mesh.open(published).sql(country, user="ana").arrow().column(0).to_pylist())
    assert "FR" in clear or "DE" in clear  # public: in clear
    _relabel(published, "country", "pii")
    masked = set(Mesh.open(published).sql(country, user="ana").arrow().column(0).to_pylist())
    assert not masked & clear  # governed as pii now, before any refresh
    refresh(Mesh.open(published), FQN)
    assert _labels(_contract(published))["country"] == "pii"  # and the file says so
    _relabel(published, "country", "public")  # relaxing a source never relaxes the product
    column = Mesh.open(published).catalog.get(FQN).column("country")
    assert column is not None and column.classification == "pii"


def test_a_withdrawn_declassify_raises_the_label_again(demo_copy: Path) -> None:
    _sales_grant_on_profiles(demo_copy, mask_columns={"email": "redact"})
    policies = demo_copy / "governance/policies.yaml"
    original = policies.read_text()
    doc = yaml.safe_load(original)
    doc["declassify"] = [{"classification": "pii", "method": "redact", "to": "internal",
                          "description": "redacted"}]
    policies.write_text(yaml.safe_dump(doc, sort_keys=False))
    publish(Mesh.open(demo_copy), "bookings.masked", "SELECT email AS e FROM "
            "customers.profiles", user="sales-team")
    assert Mesh.open(demo_copy).catalog.get("bookings.masked").columns[0].classification \
        == "internal"
    policies.write_text(original)
    assert Mesh.open(demo_copy).catalog.get("bookings.masked").columns[0].classification \
        == "pii"
