"""Property: whatever query the analyst writes, no raw pii/pci/restricted value comes out.

Hypothesis builds queries from the demo's real products and columns (allowed, masked and
denied alike), wrapped in functions that try to expose values (substring, concat,
upper, min/max, string_agg, casts), with joins, filters and grouping.  Every query must
either be refused with a DuckmeshError or return output that holds no raw value.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.writers import dumps
from federation import Mesh
from federation.errors import DuckmeshError
from tests.conftest import leaked

SOURCES = {
    "c": ("customers.profiles", ["customer_id", "full_name", "email", "phone", "birth_date",
                                 "passport_number", "country", "region", "signup_date"]),
    "p": ("payments.transactions", ["payment_id", "booking_id", "customer_id", "card_number",
                                    "card_brand", "amount", "status"]),
    "b": ("bookings.reservations", ["booking_id", "customer_id", "status", "fare_amount"]),
}
WRAPPERS = [
    "{}", "upper(CAST({} AS VARCHAR))", "substring(CAST({} AS VARCHAR), 2, 6)",
    "CAST({} AS VARCHAR) || '|'", "min(CAST({} AS VARCHAR))", "max({})",
    "string_agg(CAST({} AS VARCHAR), ',')", "length(CAST({} AS VARCHAR))",
    "reverse(CAST({} AS VARCHAR))", "count(DISTINCT {})", "CAST({} AS INTEGER)",
    "coalesce(CAST({} AS VARCHAR), 'x')", "left(CAST({} AS VARCHAR), 4)",
]
AGGREGATES = ("min(", "max(", "string_agg(", "count(")


@st.composite
def queries(draw: st.DrawFn) -> str:
    aliases = draw(st.sampled_from([["c"], ["p"], ["c", "b"], ["b", "p"], ["c", "p"]]))
    columns = [(a, col) for a in aliases for col in SOURCES[a][1]]
    picked = draw(st.lists(st.sampled_from(columns), min_size=1, max_size=4))
    wrappers = [draw(st.sampled_from(WRAPPERS)) for _ in picked]
    projections = [w.format(f"{a}.{c}") + f" AS x{i}" for i, ((a, c), w)
                   in enumerate(zip(picked, wrappers, strict=True))]
    first = aliases[0]
    sql = f"SELECT {', '.join(projections)} FROM {SOURCES[first][0]} AS {first}"
    for alias in aliases[1:]:
        sql += f" JOIN {SOURCES[alias][0]} AS {alias} ON {alias}.customer_id = " \
               f"{first}.customer_id"
    if draw(st.booleans()):
        a, c = draw(st.sampled_from(columns))
        op = draw(st.sampled_from(["=", "<>", "LIKE", ">"]))
        literal = draw(st.sampled_from(["'EU'", "'%@%'", "'4%'", "'A'", "'customer1%'"]))
        sql += f" WHERE CAST({a}.{c} AS VARCHAR) {op} {literal}"
    aggregated = [p for p, w in zip(projections, wrappers, strict=True)
                  if w.startswith(AGGREGATES)]
    if aggregated and len(aggregated) < len(projections):
        sql += " GROUP BY ALL"
    return sql + " LIMIT 50"


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sql=queries())
def test_analyst_never_sees_raw_values(sql: str, mesh: Mesh,
                                       raw_secrets: frozenset[str]) -> None:
    try:
        rows = mesh.sql(sql, user="ana").arrow().to_pylist()
    except DuckmeshError as exc:
        assert not leaked(str(exc), raw_secrets), sql
        return
    text = dumps(rows)
    assert not leaked(text, raw_secrets), sql
    json.loads(text)
