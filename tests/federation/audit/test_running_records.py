"""The audit never loses a query (issue 14, item 11): its record is written as it starts
(``running``) and completed as it ends; SIGTERM completes it as ``interrupted``; after
SIGKILL the started record stays and readers show it as ``interrupted``; readers see every
record while a compaction runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from federation import Mesh
from federation.audit.compact import RECORDS
from federation.audit.running import abandoned

ROOT = Path(__file__).resolve().parents[3]
STREAM = ("SELECT p.card_number, p.amount, f.flight_id FROM payments.transactions p, "
          "flights.schedule f LIMIT 2000000")


def _files(mesh: Mesh) -> list[dict[str, object]]:
    store = mesh.audit.store
    return [json.loads(store.read(f"{RECORDS}/{n}")) for n in store.names(RECORDS, ".json")]


def test_the_record_is_written_before_the_first_row(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    batches = mesh.sql("SELECT booking_id FROM bookings.reservations", user="adam")\
        .batches(rows_per_batch=1000)
    next(batches)
    assert [r["outcome"] for r in _files(mesh)] == ["running"]
    assert [r["outcome"] for r in mesh.audit.records()] == ["running"]  # its process lives
    for _ in batches:
        pass
    records = _files(mesh)
    assert [(r["outcome"], r["rows"]) for r in records] == [("ok", 10_000)]  # one, completed


def _stream_then(signum: int, demo_copy: Path, tmp_path: Path) -> tuple[int, str]:
    """Stream card numbers as fiona with --format csv; after 200 KB send ``signum``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "federation.cli", "--mesh", str(demo_copy), "query", "-u",
         "fiona", "--format", "csv", STREAM], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    received = 0
    while received < 200_000:
        chunk = proc.stdout.read1(65536)
        if not chunk:
            proc.stdout.close()
            with proc.stderr:
                pytest.fail(proc.stderr.read().decode())
        received += len(chunk)
    proc.send_signal(signum)
    proc.stdout.close()
    proc.wait(timeout=60)
    with proc.stderr:
        return proc.returncode, proc.stderr.read().decode()


def test_sigkill_leaves_the_started_record_shown_as_interrupted(demo_copy: Path,
                                                                tmp_path: Path) -> None:
    code, _ = _stream_then(signal.SIGKILL, demo_copy, tmp_path)
    assert code == -signal.SIGKILL
    mesh = Mesh.open(demo_copy)
    left = [r for r in _files(mesh) if r["user"] == "fiona"]
    assert [r["outcome"] for r in left] == ["running"] and abandoned(left[0])
    shown = [r for r in mesh.audit.records() if r["user"] == "fiona"]
    assert [r["outcome"] for r in shown] == ["interrupted"]
    assert shown[0]["products"] == ["flights.schedule", "payments.transactions"] or \
        set(shown[0]["products"]) == {"flights.schedule", "payments.transactions"}
    # Compaction keeps it, as interrupted; it is never lost.
    mesh.audit.compact()
    assert [r["outcome"] for r in mesh.audit.records() if r["user"] == "fiona"] == \
        ["interrupted"]


def test_sigterm_completes_the_record_as_interrupted(demo_copy: Path, tmp_path: Path) -> None:
    code, stderr = _stream_then(signal.SIGTERM, demo_copy, tmp_path)
    assert code == 128 + signal.SIGTERM
    assert stderr.strip().splitlines()[-1].startswith("duckmesh: error: interrupted (SIGTERM)")
    records = [r for r in _files(Mesh.open(demo_copy)) if r["user"] == "fiona"]
    assert [r["outcome"] for r in records] == ["interrupted"]  # completed by the process
    assert records[0]["error_class"] == "QueryInterrupted"


def test_a_running_record_of_a_live_query_is_left_out_of_compaction(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    batches = mesh.sql("SELECT booking_id FROM bookings.reservations", user="adam")\
        .batches(rows_per_batch=1000)
    next(batches)
    mesh.audit.compact()
    assert [r["outcome"] for r in _files(mesh)] == ["running"]  # still a file, still ours
    for _ in batches:
        pass
    assert [r["outcome"] for r in mesh.audit.records()] == ["ok"]


@pytest.mark.parametrize("rounds", [40])
def test_readers_see_every_record_while_compactions_run(demo_copy: Path, rounds: int) -> None:
    mesh = Mesh.open(demo_copy)
    audit = mesh.audit
    base = {"user": "x", "roles": [], "host": "h", "pid": os.getpid(), "sql": "SELECT 1",
            "purpose": None, "governed_sql_sha256": None, "products": [], "columns": {},
            "decisions": [], "rows": 1, "bytes_scanned": 0, "duration_ms": 1.0,
            "outcome": "ok", "error_class": None, "error": None, "denied": None}
    written = 0

    def record() -> None:
        nonlocal written
        audit.write({**base, "timestamp": f"2026-01-01T00:00:{written % 60:02d}+00:00",
                     "sql": f"SELECT {written}"})
        written += 1

    for _ in range(30):
        record()
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            while not stop.is_set():
                for _ in range(5):
                    record()
                audit.compact()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(rounds):
            before = written
            seen = sum(1 for _ in audit.records())
            assert seen >= before, f"a reader saw {seen} of at least {before} records"
    finally:
        stop.set()
        worker.join()
    assert errors == []


@pytest.mark.parametrize("after", ["names", "read_parquet", "read"])
def test_a_compaction_at_any_point_of_a_read_loses_no_record(demo_copy: Path, after: str,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """The race, made deterministic: a whole compaction runs right after the reader's
    first call of ``after`` on the store (listing, reading Parquet, reading a record)."""
    mesh = Mesh.open(demo_copy)
    for i in range(5):
        mesh.sql(f"SELECT {i} AS n FROM flights.schedule LIMIT 1", user="adam").arrow()
    mesh.audit.compact()
    for i in range(5):
        mesh.sql(f"SELECT {i} AS m FROM flights.schedule LIMIT 1", user="adam").arrow()
    store = mesh.audit.store
    original = getattr(store, after)
    fired = []

    def then_compact(*args: object, **kwargs: object) -> object:
        result = original(*args, **kwargs)
        if not fired:
            fired.append(True)
            monkeypatch.setattr(store, after, original)
            mesh.audit.compact()
        return result

    monkeypatch.setattr(store, after, then_compact)
    assert len(list(mesh.audit.records())) == 10 and fired
