"""The governed profile (``products profile``, the web product page): its numbers against
raw DuckDB on the same files, and nothing in clear that the caller sees masked."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from federation import Mesh
from federation.checks.profile import profile_of
from federation.errors import AccessDenied


def test_admin_profile_equals_raw_duckdb(mesh: Mesh, demo_root: Path) -> None:
    found = profile_of(mesh, "adam", "flights.schedule")
    con = duckdb.connect()
    try:
        files = str(demo_root / "data/flights/schedule/*.parquet").replace("'", "''")
        con.execute(f"CREATE VIEW raw AS SELECT * FROM read_parquet('{files}')")
        assert found["total"] == con.execute("SELECT count(*) FROM raw").fetchone()[0]  # type: ignore[index]
        for row in found["rows"]:
            name = row["name"]
            nulls, low, high, exact = con.execute(
                f'SELECT count(*) - count("{name}"), min("{name}"), max("{name}"), '
                f'count(DISTINCT "{name}") FROM raw').fetchone()  # type: ignore[misc]
            assert (row["nulls"], row["min"], row["max"]) == (nulls, low, high), name
            assert abs(row["distinct"] - exact) <= max(2, exact // 10), name
        carriers = next(r for r in found["rows"] if r["name"] == "carrier")
        top = con.execute("SELECT carrier, count(*) n FROM raw GROUP BY 1 "
                      "ORDER BY n DESC, carrier LIMIT 5").fetchall()
        assert [tuple(t) for t in carriers["top"]] == top
    finally:
        con.close()


def test_masked_columns_give_counts_only(mesh: Mesh, raw_secrets: frozenset[str]) -> None:
    found = profile_of(mesh, "ana", "customers.profiles")
    columns = {r["name"]: r for r in found["rows"]}
    assert "passport_number" not in columns
    for name in ("email", "full_name", "phone", "birth_date"):
        assert columns[name]["clear"] is False
        assert (columns[name]["min"], columns[name]["max"], columns[name]["top"]) == \
            (None, None, [])
    assert not [s for s in raw_secrets if s in repr(found)]


def test_no_grant_no_profile(mesh: Mesh) -> None:
    with pytest.raises(AccessDenied):
        profile_of(mesh, "nobody", "flights.schedule")
