"""Audit compaction into Parquet, and meta.audit: the audit log as a governed product."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner, Result

from federation import Mesh
from federation.audit.compact import COMPACTED, LOCK, SEED, compact
from federation.cli import cli
from federation.errors import AccessDenied, ConfigError, StorageError, UsageError
from tests.s3 import FaultProxy


def dm(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--mesh", str(root), *args])


def run_three(mesh: Mesh) -> None:
    mesh.sql("SELECT email FROM customers.profiles LIMIT 3", user="ana",
             purpose="analytics").arrow()
    mesh.sql("SELECT count(*) FROM bookings.reservations", user="dana").arrow()
    with pytest.raises(AccessDenied):
        mesh.sql("SELECT card_number FROM payments.transactions", user="ana")


def test_compaction_keeps_every_record_and_empties_the_record_folder(
        demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mesh = Mesh.open(demo_copy)
    run_three(mesh)
    before = list(mesh.audit.records())
    monkeypatch.setenv("DUCKMESH_USER", "adam")
    result = dm(demo_copy, "audit", "--compact")
    assert result.exit_code == 0 and "compacted 3 records" in result.stdout
    assert mesh.audit.store.names("records", ".json") == []
    after = list(mesh.audit.records())
    assert after == before  # same records, same shape, whether compacted or not
    # New records after compaction are read alongside the compacted ones.
    mesh.sql("SELECT origin FROM flights.schedule LIMIT 1", user="ana").arrow()
    assert [r["user"] for r in mesh.audit.records()] == ["ana", "dana", "ana", "ana"]
    records = json.loads(dm(demo_copy, "audit", "--format", "json").stdout)
    assert [r["outcome"] for r in records] == ["ok", "ok", "denied", "ok"]


def test_an_interrupted_compaction_neither_loses_nor_duplicates(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    run_three(mesh)
    records_dir = Path(mesh.audit.store.uri("records"))
    kept = {p: p.read_bytes() for p in records_dir.glob("*.json")}
    mesh.audit.compact()
    for path, data in kept.items():  # as if the process died before removing them
        path.write_bytes(data)
    assert len(list(mesh.audit.records())) == 3
    again = compact(mesh.audit.store)
    assert (again.records, again.removed) == (0, 3)
    assert len(list(mesh.audit.records())) == 3


def test_one_compaction_at_a_time_and_a_stale_lock_is_broken(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    run_three(mesh)
    store = mesh.audit.store
    now = dt.datetime.now(dt.UTC)
    assert store.create(LOCK, json.dumps({"since": now.isoformat()}).encode())
    with pytest.raises(UsageError, match="another audit compaction is running"):
        mesh.audit.compact()
    assert len(store.names("records", ".json")) == 3  # untouched
    store.delete(LOCK)
    old = now - dt.timedelta(hours=2)  # left by a compactor that died
    assert store.create(LOCK, json.dumps({"since": old.isoformat()}).encode())
    assert mesh.audit.compact().records == 3
    assert not store.exists(LOCK)


def test_meta_audit_is_a_governed_product_for_audit_readers_only(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    run_three(mesh)
    mesh.audit.compact()
    mesh = Mesh.open(demo_copy)
    table = mesh.sql("SELECT user, outcome, purpose, products FROM meta.audit "
                     "ORDER BY timestamp", user="adam").arrow()
    assert table.to_pylist()[0] == {"user": "ana", "outcome": "ok", "purpose": "analytics",
                                    "products": '["customers.profiles"]'}
    assert [r["outcome"] for r in table.to_pylist()] == ["ok", "ok", "denied"]
    # List and map fields are JSON text, which SQL can take apart.
    denied = mesh.sql("SELECT denied->>'column' AS col, json_array_length(products) AS n "
                      "FROM meta.audit WHERE outcome = 'denied'", user="adam").arrow()
    assert denied.to_pylist() == [{"col": "card_number", "n": 1}]
    for user in ("ana", "dana", "fiona", "nobody"):
        with pytest.raises(AccessDenied, match="meta.audit"):
            mesh.sql("SELECT count(*) FROM meta.audit", user=user)


def test_meta_audit_has_data_from_the_first_record_on(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)  # a log with no records yet
    assert mesh.sql("SELECT count(*) AS n FROM meta.audit", user="adam").arrow() \
        .column("n").to_pylist() == [0]
    mesh.sql("SELECT origin FROM flights.schedule LIMIT 1", user="ana").arrow()
    rows = mesh.sql("SELECT user, sql FROM meta.audit ORDER BY timestamp", user="adam")
    # The records written since the last compaction are compacted for the reader first.
    assert [r["user"] for r in rows.arrow().to_pylist()] == ["adam", "ana"]
    [pending] = mesh.audit.store.names("records", ".json")  # this query's own record
    assert json.loads(mesh.audit.store.read(f"records/{pending}"))["sql"].startswith(
        "SELECT user, sql FROM meta.audit")
    assert rows.warnings == []
    assert mesh.audit.store.exists(f"{COMPACTED}/{SEED}")


def test_only_a_reader_of_meta_audit_triggers_compaction(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    run_three(mesh)
    with pytest.raises(AccessDenied):
        mesh.sql("SELECT count(*) FROM meta.audit", user="ana")
    assert len(mesh.audit.store.names("records", ".json")) == 4  # untouched, + the denial
    mesh.sql("SELECT count(*) FROM customers.profiles", user="adam").arrow()
    assert len(mesh.audit.store.names("records", ".json")) == 5  # other products: no


def test_meta_audit_while_a_compaction_runs_says_what_it_misses(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    run_three(mesh)
    store = mesh.audit.store
    assert store.create(LOCK, json.dumps({"since": dt.datetime.now(dt.UTC).isoformat()})
                        .encode())
    result = mesh.sql("SELECT count(*) AS n FROM meta.audit", user="adam")
    assert result.arrow().column("n").to_pylist() == [0]
    [warning] = result.warnings
    assert warning.startswith("meta.audit: records since the last compaction are not shown "
                              "(another audit compaction is running (alive at ")
    assert "try again when it has finished" in result.warnings[0]


def test_the_readers_setting_decides_who_reads_meta_audit(demo_copy: Path) -> None:
    settings = (demo_copy / "duckmesh.yaml").read_text()
    (demo_copy / "duckmesh.yaml").write_text(
        settings + "audit:\n  readers: [fraud_investigator]\n")
    mesh = Mesh.open(demo_copy)
    mesh.sql("SELECT origin FROM flights.schedule LIMIT 1", user="ana").arrow()
    assert mesh.sql("SELECT count(*) FROM meta.audit", user="fiona").arrow().num_rows == 1
    with pytest.raises(AccessDenied):
        mesh.sql("SELECT count(*) FROM meta.audit", user="adam")


def test_the_meta_domain_is_reserved(demo_copy: Path) -> None:
    (demo_copy / "domains" / "meta").mkdir()
    (demo_copy / "domains" / "meta" / "domain.yaml").write_text("grants: []\n")
    with pytest.raises(ConfigError, match="reserved"):
        Mesh.open(demo_copy)


def test_compacted_files_hold_the_documented_schema(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    run_three(mesh)
    done = mesh.audit.compact()
    assert done.file is not None
    schema = pq.read_schema(done.file)
    assert "record_id" in schema.names and str(schema.field("timestamp").type) == "timestamp[us]"
    assert [c.name for c in mesh.catalog.get("meta.audit").columns] == schema.names


def test_check_covers_meta_audit_only_when_named(demo_copy: Path) -> None:
    mesh = Mesh.open(demo_copy)
    mesh.sql("SELECT origin FROM flights.schedule LIMIT 1", user="ana").arrow()
    everything = json.loads(dm(demo_copy, "check", "--format", "json").stdout)
    assert "meta.audit" not in {f["product"] for f in everything}
    named = dm(demo_copy, "check", "meta.audit", "--format", "json")
    assert named.exit_code == 0, named.stdout
    assert {f["status"] for f in json.loads(named.stdout)} == {"passed"}


# -- the audit log on object storage ----------------------------------------------------

@pytest.fixture
def s3_audit(demo_copy: Path, s3: FaultProxy) -> Path:
    boto3.client("s3", endpoint_url=s3.url).create_bucket(Bucket="audit")
    settings = yaml.safe_load((demo_copy / "duckmesh.yaml").read_text())
    settings["storage"] = {"s3": {"endpoint_url": s3.url, "path_style": True,
                                  "max_attempts": 2}}
    settings["audit"] = {"path": "s3://audit/travel"}
    (demo_copy / "duckmesh.yaml").write_text(yaml.safe_dump(settings))
    return demo_copy


def s3_audit_lock(mesh: Mesh) -> str | None:
    """Take the compaction lock as another machine would (a conditional PUT)."""
    stamp = json.dumps({"since": dt.datetime.now(dt.UTC).isoformat()}).encode()
    return LOCK if mesh.audit.store.create(LOCK, stamp) else None


def keys(s3: FaultProxy, prefix: str) -> list[str]:
    listed = boto3.client("s3", endpoint_url=s3.url).list_objects_v2(Bucket="audit",
                                                                     Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_audit_log_on_s3_records_compacts_and_serves_meta_audit(
        s3_audit: Path, s3: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    mesh = Mesh.open(s3_audit)
    run_three(mesh)
    assert len(keys(s3, "travel/records/")) == 3
    assert not (s3_audit / ".duckmesh" / "audit").exists()  # nothing written locally
    monkeypatch.setenv("DUCKMESH_USER", "adam")
    records = json.loads(dm(s3_audit, "audit", "--format", "json").stdout)
    assert [r["outcome"] for r in records] == ["ok", "ok", "denied"]
    # A compaction running elsewhere holds the lock object: this one stops, exit 1.
    lock = s3_audit_lock(Mesh.open(s3_audit))
    assert lock is not None
    held = dm(s3_audit, "audit", "--compact")
    assert held.exit_code == 1 and "another audit compaction is running" in held.stderr
    Mesh.open(s3_audit).audit.store.delete(LOCK)
    assert dm(s3_audit, "audit", "--compact").exit_code == 0
    assert keys(s3, "travel/records/") == []
    compacted = keys(s3, "travel/compacted/")
    assert len(compacted) == 2 and compacted[0].endswith(SEED)
    assert [r["outcome"] for r in Mesh.open(s3_audit).audit.records()] == [
        "ok", "ok", "denied"]
    rows = Mesh.open(s3_audit).sql("SELECT user, outcome FROM meta.audit ORDER BY timestamp",
                                   user="adam").arrow().to_pylist()
    assert rows == [{"user": "ana", "outcome": "ok"}, {"user": "dana", "outcome": "ok"},
                    {"user": "ana", "outcome": "denied"}]


def test_an_unwritable_audit_log_stops_queries(s3_audit: Path, s3: FaultProxy) -> None:
    mesh = Mesh.open(s3_audit)
    mesh.sql("SELECT origin FROM flights.schedule LIMIT 1", user="ana").arrow()  # seeds
    s3.faults.deny = True
    try:
        with pytest.raises(StorageError, match="audit log at s3://audit/travel"):
            mesh.sql("SELECT card_number FROM payments.transactions", user="ana")
    finally:
        s3.faults.deny = False
    result = CliRunner().invoke(cli, ["--mesh", str(s3_audit), "query", "-u", "ana",
                                      "SELECT origin FROM flights.schedule LIMIT 1"])
    assert result.exit_code == 0


def test_a_running_compaction_renews_its_lock(demo_copy: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from federation.audit import compact as audit_compact

    monkeypatch.setattr(audit_compact, "HEARTBEAT", dt.timedelta(milliseconds=50))
    store = Mesh.open(demo_copy).audit.store
    with audit_compact._lock(store) as lease:
        first = json.loads(store.read(LOCK))
        time.sleep(0.5)
        renewed = json.loads(store.read(LOCK))
        assert renewed["token"] == first["token"] == lease.token
        assert renewed["beat"] > first["beat"]
        lease.check()  # still ours
    assert not store.exists(LOCK)


def test_a_compactor_taken_over_stops_and_leaves_the_new_lock(demo_copy: Path) -> None:
    from federation.audit import compact as audit_compact

    mesh = Mesh.open(demo_copy)
    run_three(mesh)
    store = mesh.audit.store
    other = json.dumps({"token": "someone-else",
                        "beat": dt.datetime.now(dt.UTC).isoformat()}).encode()
    with pytest.raises(UsageError, match="lost its lock"), audit_compact._lock(store) as lease:
        store.put(LOCK, other)  # paused past STALE_LOCK; another compactor took over
        lease.check()
    assert store.read(LOCK) == other  # the new holder's lock is left alone
    assert len(store.names("records", ".json")) == 3 and \
        store.names(COMPACTED, ".parquet") == [SEED]


def test_meta_audit_decisions_and_denials_name_audit_readers(demo_copy: Path) -> None:
    """meta.audit's grant is the audit.readers setting: say so, not a domain.yaml that
    does not exist."""
    denied = dm(demo_copy, "query", "-u", "ana", "SELECT count(*) FROM meta.audit")
    assert denied.exit_code == 3
    assert "(grants live in duckmesh.yaml audit.readers" in denied.stderr
    explained = json.loads(dm(demo_copy, "explain", "-u", "adam", "--format", "json",
                              "SELECT count(*) FROM meta.audit").stdout)
    grant = next(d for d in explained["decisions"] if d["action"] == "grant")
    assert grant["reason"] == "duckmesh.yaml audit.readers"


OLD_COLUMNS = ("record_id", "timestamp", "user", "roles", "host", "pid", "purpose", "sql",
               "governed_sql_sha256", "products", "columns", "decisions", "rows",
               "bytes_scanned", "duration_ms", "outcome", "error_class", "error", "denied")
"""The compacted schema before ``engine``, ``authenticated`` and ``session`` existed."""


def test_files_compacted_by_an_older_duckmesh_still_read_and_are_upgraded(
        demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa

    from federation.audit.compact import SCHEMA, to_row
    from federation.audit.log import record

    mesh = Mesh.open(demo_copy)
    run_three(mesh)
    store = mesh.audit.store
    old = pa.schema([SCHEMA.field(name) for name in OLD_COLUMNS])
    # What the old duckmesh wrote: its seed and one compacted file, by the old schema.
    rows = []
    for name in store.names("records", ".json"):
        loose = json.loads(store.read(f"records/{name}"))
        for key in ("authenticated", "engine", "session"):
            loose.pop(key, None)
        rows.append({k: v for k, v in to_row(name.removesuffix(".json"), loose).items()
                     if k in OLD_COLUMNS})
        store.delete(f"records/{name}")
    store.put_parquet(f"{COMPACTED}/{SEED}", old.empty_table())
    store.put_parquet(f"{COMPACTED}/20000101T000000-old.parquet",
                      pa.Table.from_pylist(rows, schema=old))
    assert pq.read_schema(store.uri(f"{COMPACTED}/{SEED}")).names == list(OLD_COLUMNS)
    # Read as they are: the new columns are absent (embedded, unauthenticated).
    before = list(Mesh.open(demo_copy).audit.records())
    assert [(r["user"], r["authenticated"]) for r in before] == [
        ("ana", False), ("dana", False), ("ana", False)]
    assert not any("session" in r or "engine" in r for r in before)
    # A served query's record (a verified user, its session) next to them.
    served = record(None, sql="SELECT 1", user="ana", roles=("analyst",),
                    started=dt.datetime.now(dt.UTC), outcome="ok", rows=1,
                    authenticated=True)
    session = {"auth": "token", "subject": "abc", "client": "10.0.0.7",
               "protocol": "flight-sql"}
    mesh = Mesh.open(demo_copy)
    mesh.audit.write({**served, "session": session})
    loose = list(mesh.audit.records())
    # A reader's query of meta.audit compacts, which upgrades the old files first.
    table = mesh.sql("SELECT user, authenticated, session->>'client' AS client, engine "
                     "FROM meta.audit WHERE sql = 'SELECT 1'", user="adam").arrow()
    assert table.to_pylist() == [{"user": "ana", "authenticated": True,
                                  "client": "10.0.0.7", "engine": None}]
    for name in store.names(COMPACTED, ".parquet"):
        assert pq.read_schema(store.uri(f"{COMPACTED}/{name}")).names == SCHEMA.names
    after = [r for r in Mesh.open(demo_copy).audit.records()
             if not r["sql"].startswith("SELECT user, authenticated")]
    assert after == loose  # the session survives compaction, the old records unchanged
    monkeypatch.setenv("DUCKMESH_USER", "adam")
    shown = dm(demo_copy, "audit").stdout
    assert "ana (authenticated)" in shown and "dana (authenticated)" not in shown
