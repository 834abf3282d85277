"""Compaction of the audit log's record files into Parquet (``duckmesh audit compact``).

Record files are many and small; compaction gathers them into one Parquet file under
``<audit>/compacted/`` and then removes them.  The Parquet files are what the
``meta.audit`` product reads.  Every record keeps its file name as ``record_id``, so a
compaction interrupted after writing Parquet but before removing the record files is
harmless: readers and the next compaction skip records whose id is already compacted.
One compaction runs at a time (``flock``); writers never wait for it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

COMPACTED = "compacted"
JSON_FIELDS = ("roles", "products", "columns", "decisions", "denied")
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
])
"""The columns of meta.audit, in order (timestamps in UTC)."""


@dataclass(frozen=True)
class Compaction:
    """What one compaction did."""

    records: int
    file: Path | None
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
    return record


SEED = "00000000T000000-empty.parquet"
_seeded: set[Path] = set()


def ensure_seed(folder: Path) -> None:
    """An empty Parquet file with the schema, so meta.audit has data files from the first
    record on (before any compaction); written once, checked once per process."""
    if folder in _seeded:
        return
    target = folder / COMPACTED
    if not (target / SEED).exists():
        target.mkdir(parents=True, exist_ok=True)
        partial = target / f".{SEED}.{uuid.uuid4().hex}.partial"
        pq.write_table(SCHEMA.empty_table(), partial)
        partial.replace(target / SEED)
    _seeded.add(folder)


def compacted_files(folder: Path) -> list[Path]:
    target = folder / COMPACTED
    return sorted(target.glob("*.parquet")) if target.is_dir() else []


def compacted_rows(folder: Path) -> Iterator[dict[str, Any]]:
    """Every row of every compacted file."""
    for path in compacted_files(folder):
        yield from pq.read_table(path, schema=SCHEMA).to_pylist()


def compacted_ids(folder: Path) -> set[str]:
    ids: set[str] = set()
    for path in compacted_files(folder):
        ids.update(pq.read_table(path, columns=["record_id"]).column(0).to_pylist())
    return ids


@contextlib.contextmanager
def _lock(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".compact.lock").open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def compact(folder: Path, records_dir: Path) -> Compaction:
    """Move every complete record file of ``records_dir`` into one Parquet file."""
    with _lock(folder):
        done = compacted_ids(folder)
        paths = sorted(records_dir.glob("*.json")) if records_dir.is_dir() else []
        rows, consumed = [], []
        for path in paths:
            record_id = path.stem
            if record_id in done:
                consumed.append(path)  # compacted before, not yet removed
                continue
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # unreadable: left in place for a person to look at
            rows.append(to_row(record_id, record))
            consumed.append(path)
        target = None
        if rows:
            target = _write(folder / COMPACTED, rows)
        for path in consumed:
            path.unlink(missing_ok=True)
        return Compaction(len(rows), target, len(consumed))


def _write(target: Path, rows: list[dict[str, Any]]) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    first = min(r["timestamp"] for r in rows).strftime("%Y%m%dT%H%M%S")
    final = target / f"{first}-{uuid.uuid4().hex}.parquet"
    partial = target / f".{final.name}.partial"
    table = pa.Table.from_pylist(rows, schema=SCHEMA).sort_by("timestamp")
    with partial.open("wb") as handle:
        pq.write_table(table, handle)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(final)
    return final
