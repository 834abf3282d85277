"""Red-team tests of grant masks at a derived product's sources (``mask_columns``,
``deny_columns``): each one a way to get a value a source's grant hides from a reader out
through a derived product anyway.  customers' grant to analysts (ana) masks
``signup_date`` to its year; to data scientists (dana) it denies ``full_name`` and hashes
``customer_id``.  bookings' grants give analysts every product in clear."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from federation import Mesh
from federation.cli import cli
from federation.errors import AccessDenied
from federation.publish.lifecycle import set_status
from federation.publish.publisher import publish


def _publish_active(root: Path, fqn: str, sql: str, owner: str = "sales-team") -> None:
    publish(Mesh.open(root), fqn, sql, user=owner)
    set_status(Mesh.open(root), fqn, "active", user=owner)


def _rows(root: Path, sql: str, user: str) -> list[dict[str, Any]]:
    return Mesh.open(root).sql(sql, user=user).arrow().to_pylist()


def _lineage(root: Path, fqn: str) -> dict[str, list[tuple[str, str]]]:
    domain, name = fqn.split(".")
    doc = yaml.safe_load((root / "domains" / domain / f"{name}.odcs.yaml").read_text())
    return {p["name"]: [(s["product"], s["column"]) for c in p["customProperties"]
                        if c["property"] == "duckmesh.lineage" for s in c["value"]]
            for p in doc["schema"][0]["properties"]}


# Columns that only choose the rows: signup_date is labelled internal (free), so the
# labels ignored it, and its lineage was not recorded; ana read which customers signed
# up on a given day, or how many.
@pytest.mark.parametrize("sql", [
    "SELECT c.customer_id FROM customers.profiles c WHERE c.signup_date > DATE '2022-01-01'",
    "SELECT count(*) AS n FROM customers.profiles c WHERE c.signup_date > DATE '2022-01-01'",
    "SELECT c.customer_id, count(*) AS n FROM customers.profiles c "
    "GROUP BY c.customer_id, c.signup_date",
    "SELECT c.customer_id FROM customers.profiles c ORDER BY c.signup_date LIMIT 5",
    # INTERSECT compares every column: id survives where the year is 2022.
    "SELECT id FROM (SELECT customer_id AS id, year(signup_date) AS y FROM "
    "customers.profiles INTERSECT SELECT customer_id, 2022 FROM customers.profiles)",
    "SELECT id FROM (SELECT customer_id AS id, signup_date AS y FROM customers.profiles "
    "EXCEPT ALL SELECT customer_id, DATE '2022-01-01' FROM customers.profiles)",
    # UNION and SELECT DISTINCT drop duplicates: how many rows an id keeps says whether
    # its signup date is the guessed one.
    "SELECT id, count(*) AS k FROM (SELECT customer_id AS id, signup_date AS y FROM "
    "customers.profiles UNION SELECT customer_id, DATE '2022-01-01' FROM "
    "customers.profiles) GROUP BY id",
    "SELECT id, count(*) AS k FROM (SELECT DISTINCT id, y FROM (SELECT customer_id AS id, "
    "signup_date AS y FROM customers.profiles UNION ALL SELECT customer_id, "
    "DATE '2022-01-01' FROM customers.profiles)) GROUP BY id",
    "SELECT count(*) FILTER (WHERE c.signup_date > DATE '2022-01-01') AS n "
    "FROM customers.profiles c",
])
def test_a_masked_column_choosing_the_rows_is_not_laundered(demo_copy: Path,
                                                            sql: str) -> None:
    _publish_active(demo_copy, "bookings.chosen", sql)
    assert all(("customers.profiles", "signup_date") in sources
               for sources in _lineage(demo_copy, "bookings.chosen").values())
    with pytest.raises(AccessDenied, match="no column of bookings.chosen is visible"):
        _rows(demo_copy, "SELECT * FROM bookings.chosen", "ana")
    with pytest.raises(AccessDenied):
        _rows(demo_copy, "SELECT count(*) FROM bookings.chosen", "ana")
    assert _rows(demo_copy, "SELECT * FROM bookings.chosen", "adam")  # clear at the source


def test_union_all_and_count_distinct_do_not_choose_rows(demo_copy: Path) -> None:
    # No over-reach: UNION ALL keeps every row, count(DISTINCT x) is x's own output.
    _publish_active(demo_copy, "bookings.kept",
                    "SELECT id, count(DISTINCT y) AS k FROM (SELECT customer_id AS id, "
                    "country AS y FROM customers.profiles UNION ALL SELECT customer_id, "
                    "region FROM customers.profiles) GROUP BY id")
    assert _lineage(demo_copy, "bookings.kept")["id"] == [("customers.profiles",
                                                           "customer_id")]


SIGNUPS = "SELECT c.customer_id, c.signup_date FROM customers.profiles c"


def _edit_lineage(root: Path, fqn: str, column: str, value: Any) -> None:
    """The publishing domain hand-edits the recorded lineage of ``fqn.column``."""
    domain, name = fqn.split(".")
    path = root / "domains" / domain / f"{name}.odcs.yaml"
    doc = yaml.safe_load(path.read_text())
    for prop in doc["schema"][0]["properties"]:
        for custom in prop.get("customProperties") or []:
            if custom.get("property") == "duckmesh.lineage" and prop["name"] == column:
                custom["value"] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _entry(product: Any = "customers.profiles", column: Any = "signup_date") -> dict[str, Any]:
    return {"product": product, "column": column, "classification": "internal",
            "seen": "allow", "type": "DATE"}


@pytest.mark.parametrize("value", [
    ["customers.profiles.signup_date"],  # not a mapping: was dropped, so nothing to check
    [_entry(), "customers.profiles.signup_date"],
    [{k: v for k, v in _entry().items() if k != "product"}],
    [_entry(product=None)],
    [_entry(column=["signup_date"])],
    [_entry(product=" customers.profiles")],
    [_entry(product='"customers"."profiles"')],
    [_entry(column="signup_date ")],
    [_entry(product="customers.gone")],
])
def test_a_lineage_entry_that_cannot_be_resolved_denies_the_column(
        demo_copy: Path, value: Any) -> None:
    _publish_active(demo_copy, "bookings.signups", SIGNUPS)
    _edit_lineage(demo_copy, "bookings.signups", "signup_date", value)
    with pytest.raises(AccessDenied, match=r"signup_date is denied .*recorded lineage, "
                                           r"which cannot be read \(bookings\.signups\."
                                           r"signup_date: "):
        _rows(demo_copy, "SELECT signup_date FROM bookings.signups", "ana")
    assert _rows(demo_copy, "SELECT customer_id FROM bookings.signups LIMIT 1", "ana")


@pytest.mark.parametrize("value", [
    [_entry(product="CUSTOMERS.Profiles", column="Signup_Date")],  # case: the same names
    [_entry(column="signup_date.year")],  # a field path: its top-level column's grant
])
def test_a_lineage_entry_in_other_case_or_as_a_path_still_finds_the_grant(
        demo_copy: Path, value: Any) -> None:
    _publish_active(demo_copy, "bookings.signups", SIGNUPS)
    _edit_lineage(demo_copy, "bookings.signups", "signup_date", value)
    with pytest.raises(AccessDenied, match=r"customers\.profiles\.signup_date.*mask_columns"):
        _rows(demo_copy, "SELECT signup_date FROM bookings.signups", "ana")
    assert _rows(demo_copy, "SELECT signup_date FROM bookings.signups LIMIT 1", "adam")


def _rename(root: Path, product: bool) -> None:
    """The customers team renames profiles to people (or signup_date to signed_up), and
    its grants with it: the grant that masked the date names the new name."""
    path = root / "domains" / "customers" / "profiles.odcs.yaml"
    text = path.read_text()
    domain = root / "domains" / "customers" / "domain.yaml"
    grants = domain.read_text()
    if product:
        path.unlink()
        (root / "domains" / "customers" / "people.odcs.yaml").write_text(
            text.replace("customers.profiles", "customers.people")
                .replace("dataProduct: profiles", "dataProduct: people")
                .replace("urn:duckmesh:customers:profiles", "urn:duckmesh:customers:people")
                .replace("- name: profiles", "- name: people"))
        domain.write_text(grants.replace("- profiles", "- people"))
    else:
        path.write_text(text.replace("name: signup_date", "name: signed_up"))
        domain.write_text(grants.replace("signup_date: year", "signed_up: year"))


@pytest.mark.parametrize("product", [True, False])
def test_a_renamed_source_does_not_release_the_mask(demo_copy: Path, product: bool) -> None:
    _publish_active(demo_copy, "bookings.signups", SIGNUPS)
    _rename(demo_copy, product)
    mesh = Mesh.open(demo_copy)
    assert not mesh.catalog.broken
    # A renamed product leaves the recorded upstream unresolved too: the product is
    # refused before its columns are looked at.
    with pytest.raises(AccessDenied, match="recorded (lineage|sources), which cannot be read"):
        mesh.sql("SELECT signup_date FROM bookings.signups", user="ana").arrow()


def _append_grant(root: Path, domain: str, grant: dict[str, Any], first: bool = False) -> None:
    path = root / "domains" / domain / "domain.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["grants"].insert(0 if first else len(doc["grants"]), grant)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _add_user(root: Path, name: str, roles: list[str]) -> None:
    path = root / "governance" / "principals.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["users"][name] = {"roles": roles}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_a_grant_naming_the_reader_by_user_follows_the_column(demo_copy: Path) -> None:
    _add_user(demo_copy, "uma", [])
    _append_grant(demo_copy, "bookings", {"products": ["*"], "users": ["uma"]})
    _append_grant(demo_copy, "customers", {"products": ["profiles"], "users": ["uma"],
                                           "deny_columns": ["full_name"]})
    _publish_active(demo_copy, "bookings.names",
                    "SELECT c.customer_id, c.full_name FROM customers.profiles c")
    with pytest.raises(AccessDenied, match=r"profiles\.full_name.*deny_columns"):
        _rows(demo_copy, "SELECT full_name FROM bookings.names", "uma")
    assert _rows(demo_copy, "SELECT customer_id FROM bookings.names LIMIT 1", "uma")


def test_a_broken_grant_at_the_source_denies_the_column(demo_copy: Path) -> None:
    # The customers team meant to deny analysts signup_date and misspelt it: the grant
    # does not apply at the source (ana is refused profiles); the date must not come
    # out clear through bookings instead.
    path = demo_copy / "domains" / "customers" / "domain.yaml"
    path.write_text(path.read_text().replace("mask_columns:\n    signup_date: year",
                                             "deny_columns:\n  - signup_dat"))
    _publish_active(demo_copy, "bookings.signups", SIGNUPS)
    with pytest.raises(AccessDenied, match="signup_dat"):
        _rows(demo_copy, "SELECT signup_date FROM customers.profiles", "ana")
    with pytest.raises(AccessDenied, match=r"its source customers\.profiles, whose grant "
                                           r".*does not apply \(deny_columns: "):
        _rows(demo_copy, "SELECT signup_date FROM bookings.signups", "ana")


def test_a_mask_follows_through_a_derived_product_of_another_domain(demo_copy: Path) -> None:
    _append_grant(demo_copy, "bookings", {"products": ["*"], "roles": ["marketing_owner"]})
    _publish_active(demo_copy, "bookings.signups", SIGNUPS)
    _publish_active(demo_copy, "marketing.signups2",
                    "SELECT s.customer_id, year(s.signup_date) + 0 AS y FROM bookings.signups s",
                    owner="growth-team")
    with pytest.raises(AccessDenied, match=r"customers\.profiles\.signup_date.*mask_columns"):
        _rows(demo_copy, "SELECT y FROM marketing.signups2", "ana")
    assert _rows(demo_copy, "SELECT y FROM marketing.signups2 LIMIT 1", "adam")


def test_a_cycle_of_hand_edited_lineage_ends_and_still_denies(demo_copy: Path) -> None:
    _publish_active(demo_copy, "bookings.a", SIGNUPS)
    _publish_active(demo_copy, "bookings.b", "SELECT s.customer_id, s.signup_date "
                                             "FROM bookings.a s")
    _edit_lineage(demo_copy, "bookings.a", "signup_date",
                  [_entry(), _entry(product="bookings.b")])
    for fqn in ("bookings.a", "bookings.b"):
        with pytest.raises(AccessDenied, match=r"profiles\.signup_date.*mask_columns"):
            _rows(demo_copy, f"SELECT signup_date FROM {fqn}", "ana")


def test_no_over_denial(demo_copy: Path) -> None:
    # A reader whose grant at the source shows the column in clear reads it; a reader
    # with no grant at the source is governed by the derived product's domain.
    _add_user(demo_copy, "olga", ["partner"])
    _append_grant(demo_copy, "bookings", {"products": ["signups"], "roles": ["partner"]})
    _publish_active(demo_copy, "bookings.signups",
                    "SELECT c.customer_id, c.signup_date, c.country FROM customers.profiles c "
                    "WHERE c.country <> 'XX'")
    for user in ("adam", "olga"):
        assert len(_rows(demo_copy, "SELECT * FROM bookings.signups LIMIT 2", user)[0]) == 3
    assert set(_rows(demo_copy, "SELECT * FROM bookings.signups LIMIT 1", "ana")[0]) == \
        {"customer_id", "country"}


def test_every_way_of_looking_at_a_derived_product_follows_the_source_grant(
        demo_copy: Path) -> None:
    # DESCRIBE, SUMMARIZE (min/max/quantiles of the date), `products profile`, the
    # service's schema and explain all ask access.evaluate: signup_date is not there.
    from federation.checks.profile import profile_of
    from federation.server.browse import access_of, visible_schema

    _publish_active(demo_copy, "bookings.signups", SIGNUPS)
    mesh = Mesh.open(demo_copy)
    for sql in ("DESCRIBE bookings.signups", "SUMMARIZE bookings.signups",
                "SUMMARIZE SELECT * FROM bookings.signups"):
        got = mesh.sql(sql, user="ana").arrow().to_pylist()
        assert [r["column_name"] for r in got] == ["customer_id"]
    assert "signup_date" not in str(profile_of(mesh, "ana", "bookings.signups"))
    access = access_of(mesh, "ana", mesh.catalog.get("bookings.signups"))
    assert access is not None and visible_schema(access).names == ["customer_id"]
    with pytest.raises(AccessDenied, match="mask_columns"):
        mesh.explain("SELECT signup_date FROM bookings.signups", user="ana")
    assert "signup_date" in str(profile_of(mesh, "adam", "bookings.signups"))


def test_the_denial_says_whom_to_ask_the_sources_owners(demo_copy: Path) -> None:
    """Only customers' owners can lift their grant's mask: the hint asks them for the
    source column, not bookings' owners for the derived one."""
    _publish_active(demo_copy, "bookings.signups",
                    "SELECT customer_id, signup_date AS signed FROM customers.profiles")
    run = CliRunner().invoke(cli, ["--mesh", str(demo_copy), "query", "--user", "ana",
                                   "SELECT signed FROM bookings.signups"])
    assert run.exit_code == 3, run.output
    assert "its source customers.profiles.signup_date" in run.stderr
    assert "ask customer-data-team" in run.stderr
    assert "duckmesh access request customers.profiles --columns signup_date" in run.stderr
    assert "access request bookings.signups" not in run.stderr
