"""A reader whose grant at a source filters its rows reads a derived product only through
a row-filtered grant of the derived product's own domain.

In the demo, analysts read customers.profiles for their own region (ana: EU, nick: NA).
A product derived from profiles holds every region's rows, as its publisher saw them; it
was served whole to ana by bookings' wildcard grant — the row filter laundered.  Raw
DuckDB over the stored files is the oracle for what each reader gets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from click.testing import CliRunner

from federation import Mesh
from federation.cli import cli
from federation.errors import AccessDenied
from federation.publish.lifecycle import set_status
from federation.publish.publisher import publish

FACTS = ("SELECT b.booking_id, c.region, c.country FROM bookings.reservations b "
         "JOIN customers.profiles c ON c.customer_id = b.customer_id")


def _publish_active(root: Path, fqn: str, sql: str, owner: str = "sales-team") -> None:
    publish(Mesh.open(root), fqn, sql, user=owner)
    set_status(Mesh.open(root), fqn, "active", user=owner)


def _grant_first(root: Path, domain: str, grant: dict[str, Any]) -> None:
    path = root / "domains" / domain / "domain.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["grants"].insert(0, grant)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _rows(root: Path, sql: str, user: str) -> list[dict[str, Any]]:
    return Mesh.open(root).sql(sql, user=user).arrow().to_pylist()


def _stored(root: Path, fqn: str, where: str = "true") -> int:
    domain, name = fqn.split(".")
    con = duckdb.connect()
    try:
        found = con.execute(f"SELECT count(*) FROM read_parquet('{root}/data/{domain}/{name}/"
                            f"current/*.parquet') WHERE {where}").fetchone()
        assert found is not None
        return int(found[0])
    finally:
        con.close()


@pytest.mark.parametrize("sql", [
    FACTS,
    "SELECT count(*) AS n FROM customers.profiles",  # no column lineage at all
    "SELECT b.booking_id FROM bookings.reservations b WHERE b.customer_id IN "
    "(SELECT customer_id FROM customers.profiles)",  # profiles only chooses rows
])
def test_a_reader_filtered_at_a_source_is_refused_without_a_filter_of_its_own(
        demo_as_shipped: Path, sql: str) -> None:
    _publish_active(demo_as_shipped, "bookings.facts", sql)
    run = CliRunner().invoke(cli, ["--mesh", str(demo_as_shipped), "query", "--user", "ana",
                                   "SELECT * FROM bookings.facts"])
    assert run.exit_code == 3, run.output
    assert "its source customers.profiles is row-filtered for you" in run.stderr
    assert "region = :region" in run.stderr  # which filter, from which grant
    assert "bookings's owners can add a row_filter" in run.stderr
    # An approved request would copy ana's grant (no row filter): not offered.
    assert "ask sales-team" in run.stderr and "access request" not in run.stderr
    # Not through a CTE, a join or an aggregate either: the product is refused whole.
    for query in ("WITH f AS (SELECT * FROM bookings.facts) SELECT count(*) FROM f",
                  "SELECT count(*) FROM bookings.facts f JOIN flights.schedule s ON true "
                  "LIMIT 1"):
        with pytest.raises(AccessDenied, match="row-filtered for you"):
            _rows(demo_as_shipped, query, "ana")
    # Readers not filtered at the source read it whole.
    for user in ("adam", "fiona", "sales-team"):
        assert _rows(demo_as_shipped, "SELECT count(*) AS n FROM bookings.facts", user)


def test_a_row_filtered_grant_of_its_own_gives_each_reader_their_rows(
        demo_as_shipped: Path) -> None:
    _publish_active(demo_as_shipped, "bookings.facts", FACTS)
    _grant_first(demo_as_shipped, "bookings", {"products": ["facts"], "roles": ["analyst"],
                                               "row_filter": "region = :region"})
    for user, region in (("ana", "EU"), ("nick", "NA")):
        got = _rows(demo_as_shipped, "SELECT region, count(*) AS n FROM bookings.facts "
                                     "GROUP BY ALL", user)
        assert got == [{"region": region,
                        "n": _stored(demo_as_shipped, "bookings.facts", f"region = '{region}'")}]
    assert _rows(demo_as_shipped, "SELECT count(*) AS n FROM bookings.facts", "adam") == \
        [{"n": _stored(demo_as_shipped, "bookings.facts")}]


def test_the_filter_follows_through_a_chain_of_derived_products(
        demo_as_shipped: Path) -> None:
    _publish_active(demo_as_shipped, "bookings.facts", FACTS)
    _grant_first(demo_as_shipped, "bookings", {"products": ["facts"], "roles": ["analyst"],
                                               "row_filter": "region = :region"})
    # growth-team reads bookings.facts whole (no filter at bookings for its owners) and
    # publishes a summary into marketing: ana is filtered at customers, two levels down.
    _grant_first(demo_as_shipped, "bookings", {"products": ["*"],
                                               "roles": ["marketing_owner"]})
    _publish_active(demo_as_shipped, "marketing.by_country",
                    "SELECT country, count(*) AS n FROM bookings.facts GROUP BY country",
                    owner="growth-team")
    # (bookings.facts itself filters ana by its own grant: the first source found.)
    with pytest.raises(AccessDenied, match="its source bookings.facts is row-filtered"):
        _rows(demo_as_shipped, "SELECT * FROM marketing.by_country", "ana")
    # Without that grant, the filter at customers is found two levels down.
    path = demo_as_shipped / "domains/bookings/domain.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["grants"] = [g for g in doc["grants"] if g["products"] != ["facts"]]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(AccessDenied, match="its source customers.profiles is row-filtered"):
        _rows(demo_as_shipped, "SELECT * FROM marketing.by_country", "ana")
    assert _rows(demo_as_shipped, "SELECT * FROM marketing.by_country LIMIT 1", "adam")


def test_a_reader_with_no_grant_at_the_source_reads_as_the_product_is_shared(
        demo_as_shipped: Path) -> None:
    path = demo_as_shipped / "governance/principals.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["users"]["pat"] = {"roles": ["partner"]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    _publish_active(demo_as_shipped, "bookings.facts", FACTS)
    _grant_first(demo_as_shipped, "bookings", {"products": ["facts"], "roles": ["partner"]})
    assert _rows(demo_as_shipped, "SELECT count(*) AS n FROM bookings.facts", "pat") == \
        [{"n": _stored(demo_as_shipped, "bookings.facts")}]


@pytest.mark.parametrize("edit", ["not a list", "unknown product", "broken source domain"])
def test_sources_that_cannot_be_checked_refuse_the_product(demo_as_shipped: Path,
                                                           edit: str) -> None:
    _publish_active(demo_as_shipped, "bookings.facts", FACTS)
    contract = demo_as_shipped / "domains/bookings/facts.odcs.yaml"
    doc = yaml.safe_load(contract.read_text())
    derived = next(p for p in doc["customProperties"] if p["property"] == "duckmesh.derived")
    if edit == "not a list":
        derived["value"]["upstream"] = "customers.profiles"
    elif edit == "unknown product":
        derived["value"]["upstream"] = [{"product": "customers.nobody"}]
    else:
        domain = demo_as_shipped / "domains/customers/domain.yaml"
        domain.write_text(domain.read_text() + "grants: []\n")  # a duplicate key
    contract.write_text(yaml.safe_dump(doc, sort_keys=False))
    run = CliRunner().invoke(cli, ["--mesh", str(demo_as_shipped), "query", "--user", "ana",
                                   "SELECT count(*) FROM bookings.facts"])
    assert run.exit_code == 3 and "fail closed" in run.stderr, run.output
    assert "access request" not in run.stderr  # no request can cure it


def test_the_demo_gives_analysts_their_region_of_booking_facts(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    assert CliRunner().invoke(cli, ["demo", str(root), "--scale", "0.01"]).exit_code == 0
    for user, region in (("ana", "EU"), ("nick", "NA")):
        got = _rows(root, "SELECT DISTINCT region FROM bookings.booking_facts", user)
        assert got == [{"region": region}]
    assert len(_rows(root, "SELECT DISTINCT region FROM bookings.booking_facts", "adam")) > 2
