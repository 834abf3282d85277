"""Red-team tests of self-serve publishing (issue 19): each one a way a hostile or careless
owner tried to get a protected value past the derived product's labels, its lifecycle or
its storage.  Oracle: raw DuckDB over the demo's files (the values the product must not
serve unprotected)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from federation import Mesh
from federation.errors import AccessDenied, ContractError, StorageError, UsageError
from federation.publish.lifecycle import set_status
from federation.publish.publisher import STATE_DIR, publish
from federation.publish.refresh import refresh
from federation.reports.history import History

PROFILES = "read_parquet('ROOT/data/customers/profiles/**/*.parquet', hive_partitioning=true)"
PAYMENTS = "read_parquet('ROOT/data/payments/transactions/*.parquet')"


def _labels(root: Path, name: str) -> dict[str, str]:
    doc: dict[str, Any] = yaml.safe_load(
        (root / "domains" / "bookings" / f"{name}.odcs.yaml").read_text())
    return {p["name"]: p["classification"] for p in doc["schema"][0]["properties"]}


def _raw(root: Path, sql: str) -> set[Any]:
    con = duckdb.connect()
    try:
        return {r[0] for r in con.execute(sql.replace("ROOT", str(root))).fetchall()}
    finally:
        con.close()


@pytest.mark.parametrize(("sql", "label"), [
    # sqlglot's lineage of a correlated LATERAL subquery names the outer table's join
    # key (reservations.customer_id, internal) instead of the subquery's own column.
    ("SELECT l.e AS x FROM bookings.reservations b, LATERAL (SELECT c.email AS e FROM "
     "customers.profiles c WHERE c.customer_id = b.customer_id) l", "pii"),
    ("SELECT l.e AS x FROM bookings.reservations b LEFT JOIN LATERAL (SELECT c.email AS e "
     "FROM customers.profiles c WHERE c.customer_id = b.customer_id) l ON true", "pii"),
    ("SELECT l.e AS x FROM bookings.reservations b, LATERAL (SELECT max(c.email) AS e "
     "FROM customers.profiles c WHERE c.customer_id = b.customer_id) l", "pii"),
    ("SELECT x FROM (SELECT customer_id AS k FROM customers.profiles) o, LATERAL (SELECT "
     "p.card_number AS x FROM payments.transactions p WHERE p.customer_id = o.k) l", "pci"),
    # The recursive step of a CTE swaps its columns: sqlglot followed the first step only.
    ("WITH RECURSIVE r(a, b, n) AS (SELECT country, email, 1 FROM customers.profiles "
     "UNION ALL SELECT b, a, n + 1 FROM r WHERE n < 2) SELECT a AS x FROM r", "pii"),
    ("WITH RECURSIVE r AS (SELECT country AS a, email AS b, 1 AS n FROM customers.profiles "
     "UNION ALL SELECT r.b AS a, r.a AS b, r.n + 1 AS n FROM r WHERE r.n < 2) "
     "SELECT r.a AS x FROM r", "pii"),
])
def test_a_lateral_subquery_does_not_launder_a_label(demo_copy: Path, sql: str,
                                                     label: str) -> None:
    publish(Mesh.open(demo_copy), "bookings.lateral", sql, user="sales-team")
    assert _labels(demo_copy, "lateral")["x"] == label


def test_an_analyst_never_reads_card_numbers_through_a_lateral(demo_copy: Path) -> None:
    sql = ("SELECT x FROM (SELECT customer_id AS k FROM customers.profiles) o, LATERAL "
           "(SELECT p.card_number AS x FROM payments.transactions p WHERE p.customer_id = o.k) l")
    publish(Mesh.open(demo_copy), "bookings.cards", sql, user="sales-team")
    set_status(Mesh.open(demo_copy), "bookings.cards", "active", user="sales-team")
    raw_cards = _raw(demo_copy, f"SELECT card_number FROM {PAYMENTS}")
    try:
        got = Mesh.open(demo_copy).sql("SELECT x FROM bookings.cards", user="ana").arrow()
    except Exception as exc:  # noqa: BLE001 - a refusal is the right outcome
        assert not any(card in str(exc) for card in raw_cards)
        return
    assert not set(got.column(0).to_pylist()) & raw_cards


def _make_pii(root: Path, product: str, column: str) -> None:
    """The owners of ``product`` make ``column`` pii (a stricter label, after the fact)."""
    domain, name = product.split(".")
    path = root / "domains" / domain / f"{name}.odcs.yaml"
    doc = yaml.safe_load(path.read_text())
    for prop in doc["schema"][0]["properties"]:
        if prop["name"] == column:
            prop["classification"] = "pii"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _ana_reads_raw_tiers(root: Path, sql: str) -> bool:
    raw = _raw(root, f"SELECT loyalty_tier FROM {PROFILES}")
    got = Mesh.open(root).sql(sql, user="ana").arrow()
    return bool(set(got.column(0).to_pylist()) & raw)


def _publish_active(root: Path, fqn: str, sql: str) -> None:
    publish(Mesh.open(root), fqn, sql, user="sales-team")
    set_status(Mesh.open(root), fqn, "active", user="sales-team")


def test_a_stricter_source_label_follows_an_untraceable_column(demo_copy: Path) -> None:
    # Lineage could not be traced (LATERAL): the column took the strictest label read,
    # internal here.  When the source becomes pii, the derived column must follow.
    _publish_active(demo_copy, "bookings.tiers", (
        "SELECT l.t AS tier FROM bookings.reservations b, LATERAL (SELECT c.loyalty_tier AS t "
        "FROM customers.profiles c WHERE c.customer_id = b.customer_id) l"))
    _make_pii(demo_copy, "customers.profiles", "loyalty_tier")
    assert not _ana_reads_raw_tiers(demo_copy, "SELECT tier FROM bookings.tiers")


def test_a_stricter_source_label_follows_through_two_derived_products(
        demo_copy: Path) -> None:
    _publish_active(demo_copy, "bookings.tiers",
                    "SELECT c.customer_id, c.loyalty_tier FROM customers.profiles c")
    _publish_active(demo_copy, "bookings.tiers2",
                    "SELECT t.loyalty_tier AS tier FROM bookings.tiers t")
    _make_pii(demo_copy, "customers.profiles", "loyalty_tier")
    assert not _ana_reads_raw_tiers(demo_copy, "SELECT loyalty_tier FROM bookings.tiers")
    assert not _ana_reads_raw_tiers(demo_copy, "SELECT tier FROM bookings.tiers2")


@pytest.mark.parametrize("target", ["../customers/profiles", "OUTSIDE"])
def test_a_planted_symlink_does_not_send_a_publication_elsewhere(
        demo_copy: Path, tmp_path: Path, target: str) -> None:
    # The bookings team plants data/bookings/evil -> another domain's folder (or a folder
    # outside the mesh): publishing bookings.evil must not write there.
    outside = tmp_path / "outside"
    outside.mkdir()
    link = demo_copy / "data" / "bookings" / "evil"
    link.symlink_to(outside if target == "OUTSIDE" else Path(target),
                    target_is_directory=True)
    before = sorted(p.name for p in link.resolve().iterdir())
    with pytest.raises(StorageError):
        publish(Mesh.open(demo_copy), "bookings.evil",
                "SELECT c.customer_id FROM customers.profiles c", user="sales-team")
    assert sorted(p.name for p in link.resolve().iterdir()) == before
    assert not (demo_copy / "domains" / "bookings" / "evil.odcs.yaml").exists()
    rows = Mesh.open(demo_copy).sql("SELECT count(*) FROM customers.profiles",
                                    user="adam").arrow()
    assert rows.column(0)[0].as_py() == len(_raw(demo_copy, f"SELECT customer_id FROM {PROFILES}"))


def test_an_edited_sql_does_not_refresh_under_the_old_labels(demo_copy: Path) -> None:
    # The contract's recorded SQL is edited (by a careless or hostile owner) to put
    # emails in the public `country` column; the next refresh must not publish them
    # under the label inherited from the old SQL.
    _publish_active(demo_copy, "bookings.countries",
                    "SELECT b.booking_id, c.country FROM bookings.reservations b "
                    "JOIN customers.profiles c ON c.customer_id = b.customer_id")
    path = demo_copy / "domains" / "bookings" / "countries.odcs.yaml"
    path.write_text(path.read_text().replace("c.country FROM", "c.email AS country FROM"))
    try:
        refresh(Mesh.open(demo_copy), "bookings.countries")
    except ContractError as exc:
        assert "country" in str(exc)
    raw = _raw(demo_copy, f"SELECT email FROM {PROFILES}")
    got = Mesh.open(demo_copy).sql("SELECT country FROM bookings.countries",
                                   user="ana").arrow()
    assert not set(got.column(0).to_pylist()) & raw


def test_two_publications_of_one_name_do_not_race(demo_copy: Path) -> None:
    # A publication holds the product's lock (as a concurrent one would): the second is
    # refused before writing anything, so one's data never ends under the other's contract.
    history = History(demo_copy, "bookings.racy", STATE_DIR)
    with history.lock() as held:
        assert held
        with pytest.raises(UsageError, match="another publication"):
            publish(Mesh.open(demo_copy), "bookings.racy",
                    "SELECT c.email AS x FROM customers.profiles c", user="sales-team")
    assert not (demo_copy / "domains" / "bookings" / "racy.odcs.yaml").exists()
    assert not (demo_copy / "data" / "bookings" / "racy").exists()
    publish(Mesh.open(demo_copy), "bookings.racy",
            "SELECT c.email AS x FROM customers.profiles c", user="sales-team")
    assert _labels(demo_copy, "racy") == {"x": "pii"}


CONTACTS = """\
apiVersion: v3.0.2
kind: DataContract
id: urn:duckmesh:customers:contacts
name: customers.contacts
version: 1.0.0
status: active
domain: customers
dataProduct: contacts
description: {purpose: How to reach each customer.}
servers:
- {server: local, type: local, format: parquet, path: data/customers/contacts}
schema:
- name: contacts
  physicalType: table
  properties:
  - {name: customer_id, physicalType: BIGINT, classification: internal}
  - name: contact
    physicalType: STRUCT(email VARCHAR, city VARCHAR)
    logicalType: object
    classification: internal
    properties:
    - {name: email, logicalType: string, classification: pii}
    - {name: city, logicalType: string, classification: public}
"""


def _contacts(root: Path) -> None:
    """customers.contacts: an internal struct column with a pii field inside; analysts
    may read it (and its derived copies), the email field masked."""
    folder = root / "data" / "customers" / "contacts"
    folder.mkdir()
    con = duckdb.connect()
    try:
        con.execute(f"COPY (SELECT customer_id, {{'email': email, 'city': country}} AS contact "
                    f"FROM {PROFILES.replace('ROOT', str(root))}) "
                    f"TO '{folder}/part-0.parquet' (FORMAT parquet)")
    finally:
        con.close()
    (root / "domains" / "customers" / "contacts.odcs.yaml").write_text(CONTACTS)
    domain = root / "domains" / "customers" / "domain.yaml"
    doc = yaml.safe_load(domain.read_text())
    doc["grants"].append({"products": ["contacts", "copy"], "roles": ["analyst"]})
    domain.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.mark.parametrize("sql", [
    "SELECT t.contact.email AS x FROM customers.contacts t",
    "SELECT t.contact AS x FROM customers.contacts t",
    "SELECT to_json(t.contact) AS x FROM customers.contacts t",
])
def test_a_pii_field_inside_a_struct_keeps_its_label(demo_copy: Path, sql: str) -> None:
    # The struct column is internal, its email field pii: the source masks the field for
    # ana; the derived column must not come out internal with the raw emails in it.
    _contacts(demo_copy)
    raw = _raw(demo_copy, f"SELECT email FROM {PROFILES}")
    at_source = Mesh.open(demo_copy).sql(
        "SELECT t.contact.email FROM customers.contacts t", user="ana").arrow()
    assert not set(at_source.column(0).to_pylist()) & raw
    publish(Mesh.open(demo_copy), "customers.copy", sql, user="customer-data-team")
    set_status(Mesh.open(demo_copy), "customers.copy", "active", user="customer-data-team")
    doc = yaml.safe_load((demo_copy / "domains" / "customers" / "copy.odcs.yaml").read_text())
    assert doc["schema"][0]["properties"][0]["classification"] == "pii"
    got = Mesh.open(demo_copy).sql("SELECT x FROM customers.copy", user="ana").arrow()
    assert not any(email in str(value) for value in got.column(0).to_pylist()
                   for email in raw)


def test_a_struct_field_made_pii_later_reaches_the_derived_column(demo_copy: Path) -> None:
    _contacts(demo_copy)
    path = demo_copy / "domains" / "customers" / "contacts.odcs.yaml"
    path.write_text(CONTACTS.replace("{name: email, logicalType: string, classification: pii}",
                                     "{name: email, logicalType: string}"))
    publish(Mesh.open(demo_copy), "customers.copy",
            "SELECT t.contact.email AS x FROM customers.contacts t", user="customer-data-team")
    set_status(Mesh.open(demo_copy), "customers.copy", "active", user="customer-data-team")
    path.write_text(CONTACTS)  # the customers team marks the email field pii
    raw = _raw(demo_copy, f"SELECT email FROM {PROFILES}")
    got = Mesh.open(demo_copy).sql("SELECT x FROM customers.copy", user="ana").arrow()
    assert not set(got.column(0).to_pylist()) & raw


@pytest.mark.parametrize("sql", [
    "SELECT c.customer_id, c.signup_date FROM customers.profiles c",  # a copy
    "SELECT c.customer_id, c.signup_date + 1 AS signup_date FROM customers.profiles c",
    "SELECT c.customer_id, strftime(c.signup_date, '%m-%d') AS signup_date "
    "FROM customers.profiles c",
])
def test_a_grant_mask_at_the_source_is_not_laundered(demo_copy: Path, sql: str) -> None:
    # customers' grant to analysts masks signup_date to its year (mask_columns: a domain
    # rule, not a classification); a product derived from it in bookings, whose grant
    # gives analysts every product, served the exact date.  The column is denied to them
    # now (a computed value cannot carry the mask); what the source shows them in clear
    # stays readable; a reader the source shows it to in clear reads it.
    _publish_active(demo_copy, "bookings.signups", sql)
    mesh = Mesh.open(demo_copy)
    with pytest.raises(AccessDenied, match=r"customers\.profiles\.signup_date.*mask_columns"):
        mesh.sql("SELECT signup_date FROM bookings.signups", user="ana").arrow()
    assert mesh.sql("SELECT count(customer_id) AS n FROM bookings.signups",
                    user="ana").arrow().column(0)[0].as_py() > 0
    got = mesh.sql("SELECT signup_date FROM bookings.signups", user="adam").arrow()
    assert got.num_rows > 0  # admin: clear at the source, so here


def test_a_denied_source_column_is_denied_through_a_chain(demo_copy: Path) -> None:
    # data scientists: full_name denied at customers (deny_columns), customer_id hashed.
    # A product derived from a derived product keeps both out of their reach.
    _publish_active(demo_copy, "bookings.names",
                    "SELECT c.customer_id, c.full_name, c.country FROM customers.profiles c")
    _publish_active(demo_copy, "bookings.names2",
                    "SELECT n.customer_id, upper(n.full_name) AS who, n.country "
                    "FROM bookings.names n")
    mesh = Mesh.open(demo_copy)
    scientist = next(name for name, spec in mesh.governance.principals.users.items()
                     if "data_scientist" in spec.roles)
    for fqn, column in (("bookings.names", "full_name"), ("bookings.names2", "who"),
                        ("bookings.names", "customer_id"),
                        ("bookings.names2", "customer_id")):
        with pytest.raises(AccessDenied, match=f"{column} is denied .* by its source "
                                               r"(customers\.profiles|bookings\.names)\."):
            mesh.sql(f"SELECT {column} FROM {fqn}", user=scientist).arrow()
    assert mesh.sql("SELECT count(country) FROM bookings.names2",
                    user=scientist).arrow().num_rows == 1


def test_unreadable_lineage_denies_the_column(demo_copy: Path) -> None:
    _publish_active(demo_copy, "bookings.hand",
                    "SELECT c.customer_id, c.country FROM customers.profiles c")
    path = demo_copy / "domains" / "bookings" / "hand.odcs.yaml"
    doc = yaml.safe_load(path.read_text())
    for prop in doc["schema"][0]["properties"]:
        for custom in prop.get("customProperties") or []:
            if custom.get("property") == "duckmesh.lineage" and prop["name"] == "country":
                custom["value"] = "customers.profiles.country"  # hand-edited: not a list
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(AccessDenied, match="its recorded lineage, which cannot be read"):
        Mesh.open(demo_copy).sql("SELECT country FROM bookings.hand", user="adam").arrow()


def test_columns_named_alike_but_for_case_are_refused(demo_copy: Path) -> None:
    # "X" and "x" were written as two Parquet columns both called x; the contract listed
    # one of them (the other unlisted, holding emails).
    with pytest.raises(UsageError, match="case-insensitive"):
        publish(Mesh.open(demo_copy), "bookings.cased",
                'SELECT c.country AS "x", c.email AS "X" FROM customers.profiles c',
                user="sales-team")
    assert not (demo_copy / "domains" / "bookings" / "cased.odcs.yaml").exists()
    assert not (demo_copy / "data" / "bookings" / "cased").exists()


def test_a_first_publication_does_not_write_into_a_folder_in_use(demo_copy: Path) -> None:
    # data/bookings/foo holds other data (here a copy of the reservations' files, as the
    # folder of another product would): publishing bookings.foo must not mix into it.
    folder = demo_copy / "data" / "bookings" / "foo"
    shutil.copytree(demo_copy / "data" / "bookings" / "reservations", folder)
    before = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    with pytest.raises(StorageError, match="already holds data"):
        publish(Mesh.open(demo_copy), "bookings.foo",
                "SELECT b.booking_id FROM bookings.reservations b", user="sales-team")
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == before
    assert not (demo_copy / "domains" / "bookings" / "foo.odcs.yaml").exists()


def test_rows_chosen_by_a_protected_column_do_not_spell_it_out(demo_copy: Path) -> None:
    # Columns in JOIN ... ON gave no label: joining a range on the first letter's code
    # of the email and counting gave each customer that code, as `internal`; one column
    # per letter spells the whole address.  Every output now inherits the labels of the
    # protected columns that choose the rows.
    sql = ("SELECT c.customer_id, count(*) AS c1 FROM customers.profiles c "
           "JOIN (SELECT unnest(range(1, 256)) AS n) k ON ascii(substr(c.email, 1, 1)) >= k.n "
           "GROUP BY c.customer_id")
    publish(Mesh.open(demo_copy), "bookings.spelled", sql, user="sales-team")
    assert _labels(demo_copy, "spelled") == {"customer_id": "pii", "c1": "pii"}
    set_status(Mesh.open(demo_copy), "bookings.spelled", "active", user="sales-team")
    got = Mesh.open(demo_copy).sql("SELECT c1 FROM bookings.spelled", user="ana").arrow()
    codes = _raw(demo_copy, f"SELECT ascii(substr(email, 1, 1)) FROM {PROFILES}")
    assert not set(got.column(0).to_pylist()) & codes


@pytest.mark.parametrize(("sql", "labels"), [
    # Joins and filters on freely readable columns change nothing.
    ("SELECT b.booking_id, c.country FROM bookings.reservations b JOIN customers.profiles c "
     "ON c.customer_id = b.customer_id WHERE c.region = 'EU'",
     {"booking_id": "internal", "country": "public"}),
    ("SELECT country, count(*) AS n FROM customers.profiles GROUP BY country ORDER BY n",
     {"country": "public", "n": "internal"}),
    # A filter on a protected column labels every column; one on card numbers, pci.
    ("SELECT country FROM customers.profiles WHERE email LIKE '%@mail.example'",
     {"country": "pii"}),
    ("SELECT DISTINCT ON (email) country FROM customers.profiles", {"country": "pii"}),
    ("SELECT country, count(DISTINCT email) AS n FROM customers.profiles GROUP BY country",
     {"country": "public", "n": "pii"}),
    ("SELECT c.customer_id, count(*) AS n FROM customers.profiles c, payments.transactions p "
     "WHERE p.customer_id = c.customer_id AND substr(p.card_number, 1, 1) = '4' GROUP BY ALL",
     {"customer_id": "pci", "n": "pci"}),
    # A subquery's column list hides which column chose the rows: every column read.
    ("SELECT c.customer_id, count(*) AS n FROM customers.profiles c JOIN (SELECT d.email "
     "FROM customers.profiles d) AS t(x) ON ascii(substr(t.x, 1, 1)) >= c.customer_id "
     "GROUP BY ALL", {"customer_id": "pii", "n": "pii"}),
])
def test_the_columns_choosing_rows_give_their_protected_labels(
        demo_copy: Path, sql: str, labels: dict[str, str]) -> None:
    publish(Mesh.open(demo_copy), "bookings.chosen", sql, user="sales-team")
    assert _labels(demo_copy, "chosen") == labels


def test_query_lineage_through_a_lateral_names_the_card_number(mesh: Mesh) -> None:
    sql = ("SELECT x FROM (SELECT customer_id AS k FROM customers.profiles) o, LATERAL "
           "(SELECT p.card_number AS x FROM payments.transactions p WHERE p.customer_id = o.k) l")
    (entry,) = mesh.sql(sql, user="fiona").lineage()
    assert ("payments.transactions", "card_number") in {
        (s.product, s.column) for s in entry.sources}


def _due_with_one_edited(root: Path, name: str,
                         edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """Publish bookings.<name> and bookings.good on a schedule, apply ``edit`` to the
    first's contract, and run ``products due`` past their slot: outcomes by product."""
    import datetime as dt

    from federation.publish.refresh import due

    for product in (name, "good"):
        publish(Mesh.open(root), f"bookings.{product}", "SELECT b.booking_id FROM "
                "bookings.reservations b", user="sales-team", schedule="0 5 * * *")
    path = root / "domains" / "bookings" / f"{name}.odcs.yaml"
    doc = yaml.safe_load(path.read_text())
    edit(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return {o.product: o for o in due(Mesh.open(root),
                                      dt.datetime(2030, 1, 1, 6, tzinfo=dt.UTC))}


@pytest.mark.parametrize(("field", "value"), [("schedule", "bogus cron"),
                                              ("timezone", "Mars/Olympus")])
def test_one_bad_schedule_does_not_stop_every_refresh(demo_copy: Path, field: str,
                                                      value: str) -> None:
    # A schedule edited by hand in one contract stopped `products due` for every product
    # ("internal error (CroniterBadCronError)"); it fails alone, and the others run.
    def edit(doc: dict[str, Any]) -> None:
        doc["customProperties"][0]["value"][field] = value

    outcomes = _due_with_one_edited(demo_copy, "bad", edit)
    assert outcomes["bookings.bad"].outcome == "failed", outcomes
    assert outcomes["bookings.good"].outcome == "ok", outcomes


@pytest.mark.parametrize("status", ["Retired", "retired ", "paused"])
def test_an_unknown_status_is_neither_skipped_nor_refreshed(demo_copy: Path,
                                                             status: str) -> None:
    # `due` compared the status lower-cased: "Retired" was skipped as retired, while
    # readers refuse it as unknown; "paused" was refreshed as if active.
    outcomes = _due_with_one_edited(demo_copy, "odd", lambda doc: doc.update(status=status))
    odd = outcomes["bookings.odd"]
    assert odd.outcome == "failed" and isinstance(odd.error, ContractError), outcomes
    assert f"unknown status {status!r}" in str(odd.error)
    assert outcomes["bookings.good"].outcome == "ok", outcomes


def test_a_pivot_does_not_write_emails_as_column_names(demo_copy: Path) -> None:
    # PIVOT ... ON email made each customer's email a column name of the contract, which
    # every reader sees (the file, products show, DESCRIBE), whatever the labels say.
    with pytest.raises(UsageError, match="column names"):
        publish(Mesh.open(demo_copy), "bookings.pivoted",
                "PIVOT (SELECT c.customer_id, c.email FROM customers.profiles c "
                "WHERE c.customer_id < 5) ON email USING count(*) GROUP BY customer_id",
                user="sales-team")
    assert not (demo_copy / "domains" / "bookings" / "pivoted.odcs.yaml").exists()
    # On a public column it is fine.
    publish(Mesh.open(demo_copy), "bookings.pivoted",
            "PIVOT (SELECT c.customer_id, c.country FROM customers.profiles c) "
            "ON country USING count(*) GROUP BY customer_id", user="sales-team")
