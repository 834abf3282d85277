"""Compaction of the audit log's record files into Parquet (``duckmesh audit compact``).

Record files are many and small; compaction gathers them into one Parquet file under
``<audit>/compacted/`` and then removes them.  The Parquet files are what the
``meta.audit`` product reads.  Every record keeps its file name as ``record_id``, so a
compaction interrupted after writing Parquet but before removing the record files is
harmless: readers and the next compaction skip records whose id is already compacted.
One compaction runs at a time, across machines too (an exclusive create of a lock file
in the store); writers never wait for it.  A record of a query still running is left in
place (its query completes it); one whose process is gone is compacted as
``interrupted``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from federation.audit.running import RUNNING, abandoned, settled
from federation.audit.store import AuditStore
from federation.errors import StorageError, UsageError

COMPACTED = "compacted"
JSON_FIELDS = ("roles", "products", "columns", "decisions", "denied", "session")
"""Record fields holding lists or maps: stored as JSON text, so the product's columns
have plain types."""

SCHEMA = pa.schema([
    ("record_id", pa.string()),
    ("timestamp", pa.timestamp("us")),
    ("user", pa.string()),
    ("roles", pa.string()),
    ("host", pa.string()),
    ("pid", pa.int64()),
    ("purpose", pa.string()),
    ("sql", pa.string()),
    ("governed_sql_sha256", pa.string()),
    ("products", pa.string()),
    ("columns", pa.string()),
    ("decisions", pa.string()),
    ("rows", pa.int64()),
    ("bytes_scanned", pa.int64()),
    ("duration_ms", pa.float64()),
    ("outcome", pa.string()),
    ("error_class", pa.string()),
    ("error", pa.string()),
    ("denied", pa.string()),
    ("engine", pa.string()),
    ("authenticated", pa.bool_()),
    ("session", pa.string()),
])
"""The columns of meta.audit, in order (timestamps in UTC).

Columns are only ever appended.  Files written before a column existed read it as null
(:func:`compacted_rows`), and :func:`upgrade` rewrites them to the current schema, so
DuckDB (which reads the files of meta.audit together, by the first file's columns) sees
one schema."""
OPTIONAL = ("engine", "session")
"""Columns a record has only when they say something (a non-default engine, a served
query's session): absent from the record, null in the row."""


@dataclass(frozen=True)
class Compaction:
    """What one compaction did."""

    records: int
    file: str | None
    removed: int


def to_row(record_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """One record as a row of :data:`SCHEMA`."""
    row: dict[str, Any] = {name: record.get(name) for name in SCHEMA.names}
    row["record_id"] = record_id
    stamp = dt.datetime.fromisoformat(record["timestamp"])
    row["timestamp"] = stamp.astimezone(dt.UTC).replace(tzinfo=None)
    for name in JSON_FIELDS:
        row[name] = None if record.get(name) is None else json.dumps(record[name], default=str)
    return row


def from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of :data:`SCHEMA` as the record it was (the shape ``duckmesh audit`` prints)."""
    record = dict(row)
    record.pop("record_id", None)
    stamp: dt.datetime = row["timestamp"]
    record["timestamp"] = stamp.replace(tzinfo=dt.UTC).isoformat()
    for name in JSON_FIELDS:
        record[name] = None if row.get(name) is None else json.loads(row[name])
    for name in OPTIONAL:
        if record.get(name) is None:
            record.pop(name, None)
    # Rows compacted before the column existed were all embedded (self-named) queries.
    record["authenticated"] = bool(record.get("authenticated"))
    return record


SEED = "00000000T000000-empty.parquet"
RECORDS = "records"
_seeded: set[str] = set()


def ensure_seed(store: AuditStore) -> None:
    """An empty Parquet file with the schema, so meta.audit has data files from the first
    record on (before any compaction); written once, checked once per process."""
    if store.base in _seeded:
        return
    seed = f"{COMPACTED}/{SEED}"
    # An empty seed of an older schema is rewritten at once: DuckDB takes the columns of
    # the first file (the seed sorts first), so it must have them all.
    if not store.exists(seed) or store.parquet_schema(seed).names != SCHEMA.names:
        store.put_parquet(seed, SCHEMA.empty_table())
    _seeded.add(store.base)


def compacted_rows(store: AuditStore) -> Iterator[dict[str, Any]]:
    """Every row of every compacted file."""
    for name in store.names(COMPACTED, ".parquet"):
        yield from store.read_parquet(f"{COMPACTED}/{name}", schema=SCHEMA).to_pylist()


def upgrade(store: AuditStore, check: Callable[[], None] = lambda: None) -> int:
    """Rewrite compacted files that lack columns of :data:`SCHEMA` (written by an older
    duckmesh) to the current schema, the new columns null; returns how many.  Each file is
    replaced whole under the same name, so its records are neither lost nor doubled."""
    upgraded = 0
    for name in store.names(COMPACTED, ".parquet"):
        path = f"{COMPACTED}/{name}"
        if store.parquet_schema(path).names == SCHEMA.names:
            continue
        table = store.read_parquet(path, schema=SCHEMA)
        check()
        store.put_parquet(path, table)
        upgraded += 1
    return upgraded


def compacted_ids(store: AuditStore) -> set[str]:
    ids: set[str] = set()
    for name in store.names(COMPACTED, ".parquet"):
        table = store.read_parquet(f"{COMPACTED}/{name}", columns=["record_id"])
        ids.update(table.column(0).to_pylist())
    return ids


LOCK = "locks/compact.json"
HEARTBEAT = dt.timedelta(seconds=30)
"""How often a running compaction renews its lock."""
STALE_LOCK = dt.timedelta(minutes=5)
"""A lock not renewed for this long was left by a compactor that died: it is broken."""


class _Lease:
    """The compaction lock held by this process, renewed from a thread while it runs.

    Renewal (``beat`` in the lock file) lets a compaction of a large backlog run for hours
    while a crashed one is taken over within minutes.  Before it writes or removes
    anything the compaction checks the lock still holds its token: a compactor paused for
    longer than ``STALE_LOCK`` (and so taken over) stops instead of racing the new one.
    """

    def __init__(self, store: AuditStore) -> None:
        self.store = store
        self.token = uuid.uuid4().hex
        self.since = dt.datetime.now(dt.UTC)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="duckmesh-audit-lock",
                                        daemon=True)

    def body(self) -> bytes:
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                           "token": self.token, "since": self.since.isoformat(),
                           "beat": dt.datetime.now(dt.UTC).isoformat()}).encode()

    def holder(self) -> dict[str, Any] | None:
        """The lock's content, None when it is being written or removed right now."""
        try:
            held = json.loads(self.store.read(LOCK))
        except (StorageError, ValueError):
            return None
        return held if isinstance(held, dict) else None

    def check(self) -> None:
        """Raise unless this process still holds the lock."""
        held = self.holder()
        if held is None or held.get("token") != self.token:
            raise UsageError("the audit compaction lost its lock to another compactor "
                             "(this one was paused too long); nothing more was written",
                             hint="run it again")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _renew(self) -> None:
        while not self._stop.wait(HEARTBEAT.total_seconds()):
            held = self.holder()
            if held is None or held.get("token") != self.token:
                return  # taken over: check() stops the compaction at its next step
            with contextlib.suppress(StorageError):
                self.store.put(LOCK, self.body())


def _last_beat(held: dict[str, Any] | None, now: dt.datetime) -> dt.datetime:
    if held is None:
        return now  # being written or removed right now: treat as held
    try:
        return dt.datetime.fromisoformat(held.get("beat") or held["since"])
    except (ValueError, KeyError, TypeError):
        return now


@contextlib.contextmanager
def _lock(store: AuditStore) -> Iterator[_Lease]:
    # An exclusive create in the store itself (O_EXCL locally, a conditional PUT on S3),
    # so compactions on different machines sharing one log run one at a time too.
    lease = _Lease(store)
    if not store.create(LOCK, lease.body()):
        now = dt.datetime.now(dt.UTC)
        beat = _last_beat(lease.holder(), now)
        if now - beat < STALE_LOCK:
            raise UsageError(f"another audit compaction is running (alive at "
                             f"{beat:%H:%M:%S} UTC)", hint="try again when it has finished")
        store.delete(LOCK)
        if not store.create(LOCK, lease.body()):
            raise UsageError("another audit compaction has just started")
    lease.start()
    try:
        yield lease
    finally:
        lease.stop()
        held = lease.holder()
        if held is not None and held.get("token") == lease.token:
            store.delete(LOCK)


def compact(store: AuditStore) -> Compaction:
    """Move every complete record file into one Parquet file."""
    with _lock(store) as lease:
        upgrade(store, lease.check)
        done = compacted_ids(store)
        rows, consumed = [], []
        for name in store.names(RECORDS, ".json"):
            record_id = name.removesuffix(".json")
            if record_id in done:
                consumed.append(name)  # compacted before, not yet removed
                continue
            try:
                record = json.loads(store.read(f"{RECORDS}/{name}"))
            except ValueError:
                continue  # unreadable: left in place for a person to look at
            if record.get("outcome") == RUNNING:
                if not abandoned(record):
                    continue  # still running: its query completes the file later
                record = settled(record)
            rows.append(to_row(record_id, record))
            consumed.append(name)
        target = None
        if rows:
            first = min(r["timestamp"] for r in rows).strftime("%Y%m%dT%H%M%S")
            target = f"{COMPACTED}/{first}-{uuid.uuid4().hex}.parquet"
            table = pa.Table.from_pylist(rows, schema=SCHEMA).sort_by("timestamp")
            lease.check()
            store.put_parquet(target, table)
        lease.check()
        for name in consumed:
            store.delete(f"{RECORDS}/{name}")
        return Compaction(len(rows), store.uri(target) if target else None, len(consumed))
