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

from federation import Mesh
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
