"""The official Flight SQL client (adbc-driver-flightsql) against a real server: governed
answers identical to embedded mode, authentication, prepared statements, metadata, and
everything that is not a read refused."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as fl
import pytest

from federation import Mesh
from federation.server import flightsql
from tests.conftest import leaked
from tests.federation.server.conftest import Served, adbc

DEMO_SQL = ("SELECT c.country, p.card_brand, count(*) AS bookings, sum(p.amount) AS revenue, "
            "min(c.email) AS sample_email FROM bookings.reservations b "
            "JOIN customers.profiles c ON c.customer_id = b.customer_id "
            "JOIN payments.transactions p ON p.booking_id = b.booking_id "
            "GROUP BY ALL ORDER BY revenue DESC, country, card_brand LIMIT 10")


def fetch(conn: Any, sql: str, params: Any = None) -> pa.Table:
    cur = conn.cursor()
    try:
        cur.execute(sql, parameters=params)
        return cur.fetch_arrow_table()
    finally:
        cur.close()


def test_ana_gets_exactly_her_embedded_answer(served: Served, ana: Any,
                                              raw_secrets: frozenset[str]) -> None:
    remote = fetch(ana, DEMO_SQL)
    embedded = Mesh.open(served.root).sql(DEMO_SQL, user="ana").arrow()
    assert remote.to_pylist() == embedded.to_pylist()
    assert remote.num_rows > 0
    assert leaked(str(remote.to_pylist()), raw_secrets) == []  # emails masked


def test_row_filter_and_masks_apply(ana: Any, non_eu_customer_emails: frozenset[str]) -> None:
    rows = fetch(ana, "SELECT region, email FROM customers.profiles").to_pylist()
    assert {r["region"] for r in rows} == {"EU"}
    assert not {r["email"] for r in rows} & non_eu_customer_emails
    assert all("@" not in r["email"] for r in rows)


def test_card_number_is_denied_to_ana_and_audited_as_her(served: Served, ana: Any) -> None:
    with pytest.raises(adbc_driver_manager.ProgrammingError, match="card_number is denied"):
        fetch(ana, "SELECT card_number FROM payments.transactions")
    record = [r for r in served.audit() if "card_number" in r["sql"]][-1]
    assert record["user"] == "ana" and record["outcome"] == "denied"
    assert record["session"]["auth"] == "token"
    assert record["session"]["protocol"] == "flight-sql"
    assert record["session"]["client"] == "127.0.0.1"


def test_fiona_reads_card_numbers(served: Served) -> None:
    conn = adbc(served.flight, served.tokens["fiona"])
    try:
        assert fetch(conn, "SELECT card_number FROM payments.transactions LIMIT 3").num_rows == 3
    finally:
        conn.close()


@pytest.mark.parametrize("token", [None, "dmt_nope_nope", "not-a-token", "dmt_x"])
def test_missing_or_wrong_tokens_are_refused(served: Served, token: str | None) -> None:
    conn = adbc(served.flight, token)
    try:
        with pytest.raises(adbc_driver_manager.Error, match="UNAUTHENTICATED"):
            fetch(conn, "SELECT 1")
    finally:
        conn.close()
    failures = [r for r in served.audit() if r["outcome"] == "unauthenticated"]
    assert failures and failures[-1]["user"] == "(unauthenticated)"
    assert "127.0.0.1" in failures[-1]["error"]


def test_expired_and_revoked_tokens_are_refused(served: Served) -> None:
    assert served.store is not None
    record, revoked = served.store.issue("ana", name="to revoke")
    served.store.revoke(record.id)
    expired_record, expired = served.store.issue("ana", dt.timedelta(minutes=1))
    # Expire it as the clock would a minute later: rewrite its expiry in the store.
    data = json.loads(served.store.path.read_text())
    for entry in data["tokens"]:
        if entry["id"] == expired_record.id:
            entry["expires"] = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    served.store.path.write_text(json.dumps(data))
    for token, why in ((revoked, "revoked"), (expired, "expired")):
        conn = adbc(served.flight, token)
        try:
            with pytest.raises(adbc_driver_manager.Error, match=why):
                fetch(conn, "SELECT 1")
        finally:
            conn.close()


def test_a_client_cannot_choose_its_user(served: Served) -> None:
    conn = adbc(served.flight, served.tokens["ana"],
                **{"adbc.flight.sql.rpc.call_header.x-duckmesh-user": "fiona"})
    try:
        with pytest.raises(adbc_driver_manager.Error, match="cannot choose its user"):
            fetch(conn, "SELECT card_number FROM payments.transactions")
    finally:
        conn.close()


def test_prepared_statement_with_bound_parameters(ana: Any) -> None:
    table = fetch(ana, "SELECT count(*) AS n FROM customers.profiles WHERE country = ? "
                       "AND customer_id > ?", ("DE", 0))
    assert table.column("n")[0].as_py() > 0
    injected = fetch(ana, "SELECT count(*) AS n FROM customers.profiles WHERE country = ?",
                     ("DE' OR '1'='1",))
    assert injected.column("n")[0].as_py() == 0  # a value is a value, never SQL


def test_metadata_lists_only_what_the_caller_may_read(served: Served, ana: Any) -> None:
    objects = ana.adbc_get_objects(depth="columns").read_all().to_pylist()
    tables = {f"{s['db_schema_name']}.{t['table_name']}": [c["column_name"]
                                                          for c in t["table_columns"]]
              for cat in objects for s in cat["catalog_db_schemas"]
              for t in s["db_schema_tables"]}
    assert "customers.profiles" in tables
    assert "meta.audit" not in tables  # audit readers only
    assert "card_number" not in tables["payments.transactions"]
    assert "card_brand" in tables["payments.transactions"]
    adam = adbc(served.flight, served.tokens["adam"])
    try:
        admin = adam.adbc_get_objects(depth="tables").read_all().to_pylist()
        names = {t["table_name"] for c in admin for s in c["catalog_db_schemas"]
                 for t in s["db_schema_tables"]}
        assert "audit" in names
    finally:
        adam.close()
    info = ana.adbc_get_info()
    assert info["vendor_name"] == "duckmesh"


def _raw(served: Served, token: str) -> tuple[fl.FlightClient, fl.FlightCallOptions]:
    client = fl.FlightClient(served.flight)
    return client, fl.FlightCallOptions(headers=[(b"authorization",
                                                  f"Bearer {token}".encode())])


@pytest.mark.parametrize("command", ["CommandStatementUpdate", "CommandStatementSubstraitPlan",
                                     "CommandStatementIngest"])
def test_writes_are_refused_with_permission_denied(served: Served, command: str) -> None:
    client, options = _raw(served, served.tokens["adam"])
    descriptor = fl.FlightDescriptor.for_command(
        flightsql.pack(command, {"query": "DELETE FROM payments.transactions"}
                       if command == "CommandStatementUpdate" else {}))
    try:
        with pytest.raises(fl.FlightUnauthorizedError, match="reads only"):
            writer, _ = client.do_put(descriptor, pa.schema([("a", pa.int64())]), options)
            writer.close()
    finally:
        client.close()


@pytest.mark.parametrize("action", ["BeginTransaction", "EndTransaction", "BeginSavepoint",
                                    "CreatePreparedSubstraitPlan"])
def test_transactions_are_refused(served: Served, action: str) -> None:
    client, options = _raw(served, served.tokens["adam"])
    try:
        with pytest.raises(fl.FlightUnauthorizedError, match="reads only"):
            list(client.do_action(fl.Action(action, b""), options))
    finally:
        client.close()


def test_dml_in_a_statement_is_rejected_and_no_traceback_leaks(ana: Any) -> None:
    with pytest.raises(adbc_driver_manager.Error) as caught:
        fetch(ana, "DELETE FROM customers.profiles")
    assert "only SELECT" in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_a_ticket_is_redeemed_once_and_only_by_its_principal(served: Served) -> None:
    client, ana = _raw(served, served.tokens["ana"])
    nick_client, nick = _raw(served, served.tokens["nick"])
    nick_client.close()
    command = flightsql.pack("CommandStatementQuery",
                             {"query": "SELECT country FROM customers.profiles"})
    try:
        info = client.get_flight_info(fl.FlightDescriptor.for_command(command), ana)
        ticket = info.endpoints[0].ticket
        with pytest.raises(fl.FlightServerError, match="no such result"):
            client.do_get(ticket, nick).read_all()
        assert client.do_get(ticket, ana).read_all().num_rows > 0
        with pytest.raises(fl.FlightServerError, match="no such result"):
            client.do_get(ticket, ana).read_all()
    finally:
        client.close()


def test_failed_authentications_are_rate_limited_per_address(served_root: Any) -> None:
    from tests.federation.server.conftest import start

    limited = start(served_root, auth_failures_per_minute=5)
    try:
        messages = []
        for _ in range(6):  # one ADBC attempt makes several calls, each one counted
            conn = adbc(limited.flight, "dmt_bad_token")
            try:
                with pytest.raises(adbc_driver_manager.Error) as caught:
                    fetch(conn, "SELECT 1")
            finally:
                conn.close()
            messages.append(str(caught.value))
        assert "invalid token" in messages[0]
        assert "too many failed" in messages[-1]
        conn = adbc(limited.flight, limited.tokens["ana"])  # even a good token, for now
        try:
            with pytest.raises(adbc_driver_manager.Error, match="too many failed"):
                fetch(conn, "SELECT 1")
        finally:
            conn.close()
        assert limited.server.service.metrics.value("duckmesh_auth_failures_total",
                                                    reason="rate_limited") >= 1
    finally:
        limited.server.stop(1)


OVERFLOW = "SELECT customer_id * 9223372036854775807 AS n FROM customers.profiles"
"""Binds (BIGINT), fails on the first row it computes."""


def test_a_schema_is_derived_without_running_the_query(served: Served, ana: Any) -> None:
    client, options = _raw(served, served.tokens["ana"])

    def schema(query: str) -> pa.Schema:
        command = flightsql.pack("CommandStatementQuery", {"query": query})
        return client.get_schema(fl.FlightDescriptor.for_command(command), options).schema

    try:
        demo = schema(DEMO_SQL)
        # Binding succeeds where running fails: no row is read for a schema.
        broken = schema(OVERFLOW)
        with pytest.raises(pa.ArrowException, match="card_number is denied") as caught:
            schema("SELECT card_number FROM payments.transactions")
    finally:
        client.close()
    # pyarrow sends a GetSchema error's Python traceback: it must name no server file.
    assert not {"federation", "flight.py", "site-packages", "/tmp", "/work"} & set(
        str(caught.value).replace('"', " ").replace("/", " /").split())
    assert "federation" not in str(caught.value) and '.py"' not in str(caught.value)
    assert demo == fetch(ana, DEMO_SQL).schema
    assert broken.names == ["n"] and broken.field("n").type == pa.int64()
    with pytest.raises(adbc_driver_manager.Error, match="out of range"):
        fetch(ana, OVERFLOW)
    records = [r for r in served.audit() if r.get("session", {}).get("request") == "schema"]
    asked = {r["sql"]: r for r in records}
    assert asked[DEMO_SQL]["outcome"] == "ok" and asked[DEMO_SQL]["rows"] == 0
    assert asked[DEMO_SQL]["user"] == "ana" and asked[DEMO_SQL]["authenticated"] is True
    assert asked["SELECT card_number FROM payments.transactions"]["outcome"] == "denied"
    assert not served.server.service.running  # nothing was started
