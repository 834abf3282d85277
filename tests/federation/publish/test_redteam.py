"""Red-team tests of self-serve publishing (issue 19): each one a way a hostile or careless
owner tried to get a protected value past the derived product's labels, its lifecycle or
its storage.  Oracle: raw DuckDB over the demo's files (the values the product must not
serve unprotected)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from federation import Mesh
from federation.publish.lifecycle import set_status
from federation.publish.publisher import publish

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
