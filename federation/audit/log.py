"""The audit log: one record per query — succeeded, denied, rejected or failed.

Each record is one JSON file, created whole or not at all (federation.audit.store):
writers in many processes never interleave and a writer killed mid-write leaves only a
``.partial`` file that readers ignore, so there is never a torn record.  The log lives in
the mesh (``audit.path`` in duckmesh.yaml, default ``.duckmesh/audit``) or on object
storage (``s3://bucket/prefix``); ``compact`` gathers records into Parquet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from federation.audit.compact import (
    COMPACTED,
    RECORDS,
    Compaction,
    compact,
    compacted_rows,
    ensure_seed,
    from_row,
)
from federation.audit.running import INTERRUPTED, settled
from federation.audit.store import AuditStore
from federation.errors import (
    AccessDenied,
    ConfigError,
    DuckmeshError,
    QueryInterrupted,
    StorageError,
)
from federation.pipeline.query import GovernedQuery, to_jsonable

DEFAULT_PATH = ".duckmesh/audit"
DEFAULT_READERS = ("admin",)


@dataclass(frozen=True)
class AuditLog:
    """The audit log of one mesh."""

    store: AuditStore
    readers: tuple[str, ...] = DEFAULT_READERS
    _running: dict[tuple[str, str, str], list[str]] = field(
        default_factory=dict, compare=False, repr=False)
    """Names of the records :meth:`start` wrote, by (timestamp, user, sql): the record that
    completes one replaces it."""
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @classmethod
    def for_mesh(cls, root: Path, settings: dict[str, Any],
                 storage: Any = None) -> AuditLog:
        """From duckmesh.yaml ``audit: {path: …, readers: [roles]}``; ``path`` is a folder
        (relative to the mesh) or an object-store URI (``s3://bucket/audit``)."""
        path = str(settings.get("path") or DEFAULT_PATH)
        readers = settings.get("readers") or list(DEFAULT_READERS)
        if not isinstance(readers, list) or not all(isinstance(r, str) for r in readers):
            raise ConfigError("audit.readers must be a list of roles", field="audit.readers")
        return cls(AuditStore.at(path, root, storage), tuple(readers))

    def ensure_seed(self) -> None:
        """Make sure meta.audit has a data file, even before the first record."""
        ensure_seed(self.store)

    def write(self, record: dict[str, Any]) -> str:
        """Append ``record`` atomically — replacing the ``running`` record :meth:`start`
        wrote for the same query, if any; returns its name."""
        ensure_seed(self.store)
        with self._lock:
            started = self._running.get(_key(record))
            name = started.pop(0) if started else _name(record)
            if started == []:
                del self._running[_key(record)]
        self.store.put(f"{RECORDS}/{name}",
                       json.dumps(record, default=str, ensure_ascii=False).encode())
        return name

    def start(self, record: dict[str, Any]) -> str:
        """Write the record of a query as it starts (outcome ``running``), before it
        delivers a row; :meth:`write` of its final record replaces it.  Not synced: it
        must survive the process being killed, which the page cache does."""
        ensure_seed(self.store)
        name = _name(record)
        self.store.put(f"{RECORDS}/{name}",
                       json.dumps(record, default=str, ensure_ascii=False).encode(),
                       durable=False)
        with self._lock:
            self._running.setdefault(_key(record), []).append(name)
        return name

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, compacted or not, oldest first; a running record whose process
        is gone is shown as ``interrupted`` (:mod:`federation.audit.running`).

        Consistent while a compaction runs: record files are listed before the compacted
        ones are read, and a listed file that is gone by the time it is read was compacted
        meanwhile, so the compacted files are read again (a compaction writes its Parquet
        before it removes the files it holds).
        """
        names = self.store.names(RECORDS, ".json")
        by_id = {r["record_id"]: r for r in compacted_rows(self.store)}
        loose: dict[str, dict[str, Any]] = {}
        for name in names:
            record_id = name.removesuffix(".json")
            if record_id in by_id:
                continue  # compacted; its file is about to be removed
            try:
                loose[record_id] = json.loads(self.store.read(f"{RECORDS}/{name}"))
                continue
            except ValueError:
                continue  # unreadable: left for a person to look at
            except StorageError:
                pass
            # Gone since listing: a compaction took it; its Parquet is there by now.
            by_id.update({r["record_id"]: r for r in compacted_rows(self.store)
                          if r["record_id"] not in by_id and r["record_id"] not in loose})
        out = [from_row(r) for r in by_id.values()] + \
            [_normalized(settled(r)) for r in loose.values()]
        out.sort(key=lambda r: dt.datetime.fromisoformat(r["timestamp"]))
        yield from out

    def compact(self) -> Compaction:
        """Gather record files into Parquet (what ``meta.audit`` reads)."""
        return compact(self.store)

    @property
    def compacted_uri(self) -> str:
        """Where compacted Parquet files go: the data of ``meta.audit``."""
        return self.store.uri(COMPACTED)

    def check_reader(self, user: str, roles: tuple[str, ...]) -> None:
        """Only the configured roles read the audit log (default: admin)."""
        if not set(roles) & set(self.readers):
            raise AccessDenied(f"user {user!r} may not read the audit log (needs one of the "
                               f"roles {', '.join(self.readers)})")


def record(query: GovernedQuery | None, *, sql: str, user: str, roles: tuple[str, ...],
           started: dt.datetime, outcome: str, rows: int | None = None,
           error: BaseException | None = None, scanned: int = 0,
           purpose: str | None = None, time_limit: float | None = None,
           authenticated: bool = False) -> dict[str, Any]:
    """The audit record of one query; ``purpose`` says why it ran (``report:NAME``, …);
    ``time_limit`` (a running record's): the seconds after which it cannot be running."""
    ended = dt.datetime.now(dt.UTC)
    governed = _governed_sql(query)
    return {
        "timestamp": started.isoformat(),
        "user": user,
        "roles": list(roles),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "sql": sql,
        "purpose": purpose,
        "governed_sql_sha256": hashlib.sha256(governed.encode()).hexdigest()
        if governed else None,
        "products": list(query.products) if query else _denied_products(error),
        "columns": {k: list(v) for k, v in query.columns_read.items()} if query else
        _denied_columns(error),
        "decisions": [to_jsonable(d) for d in query.decisions] if query and query.scans
        else [],
        "rows": rows,
        "bytes_scanned": scanned,
        "duration_ms": round((ended - started).total_seconds() * 1000, 3),
        "outcome": outcome,
        "error_class": type(error).__name__ if error is not None else None,
        "error": str(error) if isinstance(error, DuckmeshError) else None,
        "denied": {"product": error.product, "column": error.column}
        if isinstance(error, AccessDenied) else None,
        # True only when a server verified who the caller is (a token, OIDC): embedded,
        # ``user`` is whatever the caller said (--user, $DUCKMESH_USER, the OS user).
        "authenticated": authenticated,
        **({"time_limit": time_limit} if time_limit is not None else {}),
    }


def costs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Scanned bytes and queries per day, domain, product and user (executed queries).

    A query reading several products counts its estimate once per product, split
    evenly: the estimate is per query, not per product.
    """
    totals: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for rec in records:
        if rec.get("outcome") != "ok" or not rec.get("products"):
            continue
        share = (rec.get("bytes_scanned") or 0) / len(rec["products"])
        for product in rec["products"]:
            key = (rec["timestamp"][:10], product.split(".")[0], product, rec["user"])
            row = totals.setdefault(key, {"day": key[0], "domain": key[1], "product": key[2],
                                          "user": key[3], "queries": 0, "bytes_scanned": 0})
            row["queries"] += 1
            row["bytes_scanned"] += round(share)
    return [totals[k] for k in sorted(totals)]


def _normalized(record: dict[str, Any]) -> dict[str, Any]:
    """A record file as compaction will show it: written before ``authenticated``
    existed, it was an embedded (self-named) query."""
    return {**record, "authenticated": bool(record.get("authenticated"))}


def _name(record: dict[str, Any]) -> str:
    stamp = record["timestamp"].replace(":", "").replace("-", "")
    return f"{stamp}-{uuid.uuid4().hex}.json"


def _key(record: dict[str, Any]) -> tuple[str, str, str]:
    return (str(record.get("timestamp")), str(record.get("user")), str(record.get("sql")))


def _governed_sql(query: GovernedQuery | None) -> str | None:
    """The governed SQL of a planned query (None before planning, or when it could not be
    written as SQL — the refusal the record is about)."""
    if query is None or not query.scans:
        return None
    try:
        return query.governed_sql
    except DuckmeshError:
        return None


def _denied_products(error: BaseException | None) -> list[str]:
    product = getattr(error, "product", None)
    return [product] if isinstance(error, DuckmeshError) and product else []


def _denied_columns(error: BaseException | None) -> dict[str, list[str]]:
    product, column = getattr(error, "product", None), getattr(error, "column", None)
    return {product: [column]} if isinstance(error, DuckmeshError) and product and column else {}


def outcome_of(error: BaseException) -> str:
    """``denied`` (exit 3), ``rejected`` (bad SQL or input), ``interrupted`` (SIGTERM,
    Ctrl-C) or ``failed``."""
    if isinstance(error, AccessDenied):
        return "denied"
    if isinstance(error, QueryInterrupted | KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(error, DuckmeshError) and error.exit_code == 1 and \
            type(error).__name__ in ("QueryRejected", "UsageError"):
        return "rejected"
    return "failed"


def auth_failure(*, reason: str, client: str, protocol: str,
                 started: dt.datetime | None = None) -> dict[str, Any]:
    """The audit record of a failed authentication to ``duckmesh serve``: nobody was
    authenticated, so ``user`` is ``(unauthenticated)``; the reason names the client's
    address and, for a known but unusable token, its id."""
    when = started or dt.datetime.now(dt.UTC)
    return {
        "timestamp": when.isoformat(), "user": "(unauthenticated)", "roles": [],
        "host": socket.gethostname(), "pid": os.getpid(), "sql": "", "purpose": None,
        "governed_sql_sha256": None, "products": [], "columns": {}, "decisions": [],
        "rows": None, "bytes_scanned": 0, "duration_ms": 0.0, "outcome": "unauthenticated",
        "error_class": "AuthenticationFailed",
        "error": f"{reason} (client {client}, {protocol})", "denied": None,
        "authenticated": False, "session": {"client": client, "protocol": protocol},
    }
