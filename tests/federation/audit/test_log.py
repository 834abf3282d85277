"""The audit log: every query leaves exactly one complete record, whatever happens."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from federation import Mesh
from federation.audit.log import AuditLog
from federation.audit.store import AuditStore
from federation.cli import cli
from federation.errors import AccessDenied


def dm(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--mesh", str(root), *args])


def test_three_queries_two_users_one_denied(demo_copy: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert dm(demo_copy, "query", "-u", "ana", "--purpose", "analytics",
              "SELECT email FROM customers.profiles LIMIT 3").exit_code == 0
    assert dm(demo_copy, "query", "-u", "dana", "SELECT count(*) FROM "
                                                "bookings.reservations").exit_code == 0
    assert dm(demo_copy, "query", "-u", "ana",
              "SELECT card_number FROM payments.transactions").exit_code == 3
    monkeypatch.setenv("DUCKMESH_USER", "adam")
    records = json.loads(dm(demo_copy, "audit", "--format", "json").stdout)
    assert [(r["user"], r["outcome"]) for r in records] == [
        ("ana", "ok"), ("dana", "ok"), ("ana", "denied")]
    ok, counted, denied = records
    assert ok["columns"] == {"customers.profiles": ["email"]} and ok["rows"] == 3
    assert ok["roles"] == ["analyst"] and ok["bytes_scanned"] > 0
    assert ok["purpose"] == "analytics" and counted["purpose"] is None
    assert {"product": "customers.profiles", "column": "email", "action": "mask:hash",
            "reason": ok["decisions"][1]["reason"], "detail": None} in ok["decisions"]
    assert len(ok["governed_sql_sha256"]) == 64 and ok["duration_ms"] > 0
    assert counted["rows"] == 1 and counted["columns"] == {"bookings.reservations": []}
    assert denied["columns"] == {"payments.transactions": ["card_number"]}
    assert denied["error_class"] == "AccessDenied" and denied["rows"] is None
    only_dana = json.loads(dm(demo_copy, "audit", "--by", "dana", "--format", "json").stdout)
    assert [r["user"] for r in only_dana] == ["dana"]
    # --user is the caller, as in every command: adam reads the log, dana may not.
    as_adam = dm(demo_copy, "audit", "--user", "adam", "--by", "ana", "--format", "json")
    assert [r["user"] for r in json.loads(as_adam.stdout)] == ["ana", "ana"]
    monkeypatch.delenv("DUCKMESH_USER")
    as_dana = dm(demo_copy, "audit", "--user", "dana")
    assert as_dana.exit_code == 3 and "may not read the audit log" in as_dana.stderr
    monkeypatch.setenv("DUCKMESH_USER", "adam")
    by_product = json.loads(dm(demo_copy, "audit", "--product", "payments.transactions",
                               "--format", "json").stdout)
    assert [r["outcome"] for r in by_product] == ["denied"]
    later = json.loads(dm(demo_copy, "audit", "--since", "2999-01-01", "--format",
                          "json").stdout)
    assert later == []
    assert "card_number" in dm(demo_copy, "audit").stdout


def test_rejected_and_failed_queries_are_recorded(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    with pytest.raises(Exception, match="only SELECT"):
        mesh.sql("DROP TABLE x", user="ana")
    # The engine's message, rebuilt without the value (no email in it).
    with pytest.raises(Exception, match=r"did not match the strptime format \(the value is "
                                        r"not shown\)"):
        mesh.sql("SELECT strptime(email, '%Y') FROM customers.profiles", user="adam").arrow()
    outcomes = [(r["outcome"], r["error_class"]) for r in mesh.audit.records()]
    assert outcomes == [("rejected", "QueryRejected"), ("failed", "QueryFailed")]


def test_only_admins_read_the_log(demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUCKMESH_USER", "ana")
    result = dm(demo_copy, "audit")
    assert result.exit_code == 3 and "may not read the audit log" in result.stderr
    log = AuditLog(AuditStore(str(demo_copy / "x"), None))
    with pytest.raises(AccessDenied):
        log.check_reader("ana", ("analyst",))


def _worker(root: str, worker: int, count: int) -> None:
    mesh = Mesh.open(root)
    for i in range(count):
        mesh.sql(f"SELECT {worker * 1000 + i} AS n FROM flights.schedule LIMIT 1",
                 user="dana").arrow()


@pytest.mark.slow  # ~17 s: eight processes of a hundred queries each
def test_eight_processes_hundred_queries_each(demo_copy: Path) -> None:
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_worker, args=(str(demo_copy), w, 100)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    records = list(Mesh.open(demo_copy).audit.records())
    assert len(records) == 800
    assert {r["sql"] for r in records} == {
        f"SELECT {w * 1000 + i} AS n FROM flights.schedule LIMIT 1"
        for w in range(8) for i in range(100)}
    assert all(r["outcome"] == "ok" and r["rows"] == 1 for r in records)


WRITER = """
import sys
from federation.audit.log import AuditLog
from federation.audit.store import AuditStore
log = AuditLog(AuditStore(sys.argv[1], None))
i = 0
while True:
    log.write({"timestamp": "2026-01-01T00:00:00", "i": i, "sql": "x" * 200_000})
    i += 1
"""


def test_a_writer_killed_mid_append_leaves_no_torn_record(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)],
                            env={**os.environ, "PYTHONPATH": str(Path.cwd())},
                            cwd=Path(__file__).parents[3])
    deadline = time.time() + 30
    while time.time() < deadline and len(list((folder / "records").glob("*.json"))
                                         if (folder / "records").exists() else []) < 20:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = list(AuditLog(AuditStore(str(folder), None)).records())
    files = list((folder / "records").glob("*.json"))
    assert len(written) == len(files) >= 20
    assert all(len(r["sql"]) == 200_000 for r in written)


def test_costs_per_day_domain_product_user(demo_copy: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    mesh = Mesh.open(demo_copy)
    mesh.sql("SELECT channel FROM bookings.reservations", user="ana").arrow()
    mesh.sql("SELECT channel FROM bookings.reservations", user="ana").arrow()
    mesh.sql("SELECT b.channel, p.amount FROM bookings.reservations b JOIN "
             "payments.transactions p USING (booking_id)", user="dana").arrow()
    with pytest.raises(AccessDenied):
        mesh.sql("SELECT card_number FROM payments.transactions", user="ana")
    monkeypatch.setenv("DUCKMESH_USER", "adam")
    rows = json.loads(dm(demo_copy, "audit", "--costs", "--format", "json").stdout)
    keyed = {(r["product"], r["user"]): r for r in rows}
    assert set(keyed) == {("bookings.reservations", "ana"), ("bookings.reservations", "dana"),
                          ("payments.transactions", "dana")}
    assert keyed[("bookings.reservations", "ana")]["queries"] == 2
    assert keyed[("bookings.reservations", "ana")]["domain"] == "bookings"
    assert all(r["bytes_scanned"] > 0 for r in rows)
    assert "bytes_scanned" in dm(demo_copy, "audit", "--costs").stdout
