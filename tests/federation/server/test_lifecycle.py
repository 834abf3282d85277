"""Under load and at the end: concurrent clients of mixed users each get their own
governed answer and an audit record under their own principal; SIGTERM during queries
(the real `duckmesh serve` process) loses no audit record."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from federation import Mesh
from federation.server.tokens import TokenStore
from tests.federation.server.conftest import Served, adbc

QUERIES = (
    "SELECT region, count(*) AS n FROM customers.profiles GROUP BY ALL ORDER BY region",
    "SELECT card_brand, count(*) AS n FROM payments.transactions GROUP BY ALL ORDER BY 1",
    "SELECT count(*) AS n, min(email) AS e FROM customers.profiles",
)
USERS = ("ana", "nick", "fiona", "adam", "dana")


def _soak(served: Served, clients: int, per_client: int) -> None:
    run = uuid.uuid4().hex[:8]
    mesh = Mesh.open(served.root)
    expected: dict[tuple[str, str], Any] = {}
    for user in USERS:
        for sql in QUERIES:
            try:
                expected[(user, sql)] = mesh.sql(sql, user=user).arrow().to_pylist()
            except Exception as exc:  # noqa: BLE001 - the expected refusal
                expected[(user, sql)] = type(exc).__name__
    wrong: list[str] = []
    done: dict[str, int] = dict.fromkeys(USERS, 0)
    lock = threading.Lock()

    def client(index: int) -> None:
        conns = {u: adbc(served.flight, served.tokens[u]) for u in USERS}
        try:
            for i in range(per_client):
                user = USERS[(index + i) % len(USERS)]
                sql = QUERIES[(index * 7 + i) % len(QUERIES)]
                cur = conns[user].cursor()
                try:
                    cur.execute(f"/* soak {run} */ {sql}")
                    got: Any = cur.fetch_arrow_table().to_pylist()
                except Exception as exc:  # noqa: BLE001 - compared with embedded mode
                    got = "AccessDenied" if "denied" in str(exc) else repr(exc)
                finally:
                    cur.close()
                if got != expected[(user, sql)]:
                    wrong.append(f"{user}: {sql}: {got!r:.200}")
                with lock:
                    done[user] += 1
        finally:
            for conn in conns.values():
                conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert wrong == []
    records = [r for r in served.audit() if f"soak {run}" in r["sql"]]
    assert len(records) == clients * per_client
    for user in USERS:
        mine = [r for r in records if r["user"] == user]
        assert len(mine) == done[user]
        assert all(r["session"]["auth"] == "token" and r["session"]["protocol"] ==
                   "flight-sql" for r in mine)


def test_soak_small(served: Served) -> None:
    _soak(served, clients=8, per_client=5)


@pytest.mark.slow
def test_soak_8_clients_50_queries(served: Served) -> None:
    _soak(served, clients=8, per_client=50)


SLOW_SQL = ("SELECT count(*) AS n FROM bookings.reservations a, bookings.reservations b, "
            "bookings.reservations c WHERE a.fare_amount < b.fare_amount + c.fare_amount")
QUICK_SQL = "SELECT count(*) AS n FROM customers.profiles"


def _close_after_shutdown(cur: Any, conn: Any) -> None:
    """Close a client whose server may already be gone. Releasing the prepared statement
    is an RPC; when it fails the driver leaves the cursor open, and its __del__ would try
    again later (an "Underflow" warning in some unrelated test), so mark it closed."""
    for handle in (cur, conn):
        try:
            handle.close()
        except Exception:  # noqa: BLE001 - the server is down; nothing left to release
            handle._closed = True


def _sigterm(root: Path, slow: int, quick: int, tmp_path: Path) -> None:
    store = TokenStore.for_mesh(root, ".duckmesh/tokens.json")
    tokens = {u: store.issue(u)[1] for u in USERS}
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "federation.cli", "--mesh", str(root), "serve", "--port", "0",
         "--http-port", "0", "--grace", "1", "--max-concurrent", str(slow + quick)],
        stderr=log, stdout=subprocess.DEVNULL)
    try:
        urls: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while not urls and time.monotonic() < deadline:
            log.seek(0)
            for line in log.read().splitlines():
                if '"server.start"' in line:
                    urls = json.loads(line)
            time.sleep(0.1)
        assert urls, "the server did not start"
        run = uuid.uuid4().hex[:8]
        outcomes: list[str] = []

        def client(user: str, sql: str) -> None:
            conn = adbc(urls["flight"], tokens[user])
            cur = conn.cursor()
            try:
                cur.execute(f"/* term {run} */ {sql}")
                cur.fetchall()
                outcomes.append("ok")
            except Exception as exc:  # noqa: BLE001 - any end is fine; the audit is checked
                outcomes.append(str(exc)[:80])
            finally:
                _close_after_shutdown(cur, conn)

        users = [USERS[i % len(USERS)] for i in range(slow + quick)]
        threads = [threading.Thread(target=client, args=(u, SLOW_SQL if i < slow else
                                                         QUICK_SQL))
                   for i, u in enumerate(users)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        while time.monotonic() - started < 30:
            metrics = httpx.get(f"{urls['http']}/metrics").text
            active = re.search(r"^duckmesh_active_queries (\S+)$", metrics, re.M)
            if active and float(active[1]) >= slow:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        for thread in threads:
            thread.join(30)
        assert len(outcomes) == slow + quick
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    records = [r for r in Mesh.open(root).audit.records() if f"term {run}" in r["sql"]]
    assert len(records) == slow + quick  # every query, finished or cancelled, audited once
    cancelled = [r for r in records if r["error_class"] == "QueryCancelled"]
    assert len(cancelled) >= 1
    assert all(r["error"] == "cancelled: the server shut down" for r in cancelled)
    assert sorted(r["user"] for r in records) == sorted(users)


def test_sigterm_during_queries_loses_no_audit_record(demo_copy: Path, tmp_path: Path) -> None:
    _sigterm(demo_copy, slow=2, quick=0, tmp_path=tmp_path)


@pytest.mark.slow
def test_sigterm_with_many_queries_loses_no_audit_record(demo_copy: Path,
                                                        tmp_path: Path) -> None:
    _sigterm(demo_copy, slow=6, quick=4, tmp_path=tmp_path)
