"""The service behind both protocols: one mesh, one authenticator, limits and lifecycle.

Every query goes ``authenticate → admit → Mesh.sql(sql, user=<principal>) → stream``:
the pipeline, its governance and its audit are exactly embedded mode's; the service
adds who (from authentication only), how many at once, how long, and an orderly end.
Each audit record of a served query carries ``session`` (how the caller authenticated,
from where, over which protocol).

Shutdown (SIGTERM): admission closes (new queries are refused as "shutting down"),
running queries get ``server.shutdown_grace_seconds`` to finish, the rest are cancelled;
every query that started ends with its audit record written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from federation.audit.log import AuditLog, outcome_of
from federation.audit.log import record as audit_record
from federation.engines.duckdb import Execution, result_schema
from federation.errors import DuckmeshError, QueryCancelled, ServerUnavailable
from federation.mesh import Mesh
from federation.pipeline.params import Params
from federation.pipeline.query import to_jsonable
from federation.result import Result
from federation.server.admission import Admission
from federation.server.auth import Authenticator, Identity
from federation.server.metrics import Metrics
from federation.server.oidc import OidcValidator
from federation.server.tokens import TokenStore
from products.config import ServerSettings

log = logging.getLogger("duckmesh.server")


@dataclass(frozen=True)
class SessionAudit(AuditLog):
    """The mesh's audit log, adding the session to each record of one served query, and
    the reason when the server cancelled it."""

    session: dict[str, str] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)

    def start(self, record: dict[str, Any]) -> str:
        # The running record too: if the server dies, its settled record still says who.
        return super().start({**record, "session": self.session, "authenticated": True})

    def write(self, record: dict[str, Any]) -> str:
        record = {**record, "session": self.session, "authenticated": True}
        if self.cancelled and record.get("outcome") != "ok":
            record.update(error_class="QueryCancelled", error=f"cancelled: {self.cancelled[0]}")
        return super().write(record)


def outcome(error: BaseException | None) -> str:
    """A query's outcome for metrics and logs."""
    if error is None:
        return "ok"
    if isinstance(error, QueryCancelled):
        return "cancelled"
    if isinstance(error, ServerUnavailable):
        return "busy"
    return outcome_of(error)


class Running:
    """A started query: its Arrow stream (read once), its slot, its cancellation."""

    def __init__(self, service: Service, identity: Identity, result: Result,
                 executions: list[Execution], cancelled: list[str], started: float) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.service = service
        self.identity = identity
        self.result = result
        self.schema = pa.schema([])
        self._reader: pa.RecordBatchReader | None = None
        self._first: pa.RecordBatch | None = None
        self._executions = executions
        self._cancelled = cancelled
        self.started = started
        self.rows = 0
        self.streaming = False
        self._lock = threading.Lock()
        self._done = False

    def describe(self) -> dict[str, Any]:
        """What a client learns besides the rows: principal, products, decisions, stamp."""
        query = self.result.query
        return {"principal": self.identity.principal, "products": list(query.products),
                "columns_read": {k: list(v) for k, v in query.columns_read.items()},
                "decisions": [to_jsonable(d) for d in query.decisions],
                "governed_sql": query.governed_sql, "explain": self.result.explain(),
                "stamp": self.result.stamp, "warnings": list(self.result.warnings),
                "lineage": [c.as_dict() for c in self.result.lineage()], "query_id": self.id}

    def prime(self) -> None:
        """Start the query and compute its first batch (errors of the engine surface here,
        before any row is sent); it is registered, so shutdown can cancel it meanwhile."""
        try:
            with self._lock:
                if self._cancelled:
                    raise QueryCancelled(f"cancelled: {self._reason()}")
                # DuckDB may run much of the query right here: cancel interrupts it.
                self._reader = self.result.reader()
                self.schema = self._reader.schema
                try:
                    self._first = self._reader.read_next_batch()
                except StopIteration:
                    self._first = None
        except BaseException as exc:
            error = QueryCancelled(f"cancelled: {self._reason()}") \
                if self._cancelled and isinstance(exc, DuckmeshError) else exc
            self._finish(error)
            if error is exc:
                raise
            raise error from None

    def batches(self) -> Generator[pa.RecordBatch, None, None]:
        """The rows, batch by batch; closing the iterator early stops the query."""
        self.streaming = True
        error: BaseException | None = None
        try:
            if self._first is not None:
                first, self._first = self._first, None
                self.rows += first.num_rows
                yield first
            while True:
                with self._lock:
                    if self._reader is None:
                        raise QueryCancelled(f"cancelled: {self._reason()}")
                    try:
                        batch = self._reader.read_next_batch()
                    except StopIteration:
                        return
                self.rows += batch.num_rows
                yield batch
        except DuckmeshError as exc:
            error = QueryCancelled(f"cancelled: {self._reason()}") if self._cancelled else exc
            raise error from None
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._finish(error)

    def _reason(self) -> str:
        return self._cancelled[0] if self._cancelled else "the query was closed"

    def cancel(self, reason: str) -> None:
        """Interrupt the query; its stream ends with QueryCancelled (and so does its audit
        record)."""
        if not self._cancelled:
            self._cancelled.append(reason)
        for execution in self._executions:
            with contextlib.suppress(duckdb.Error):
                execution.con.interrupt()

    def close(self, reason: str = "its client went away") -> None:
        """Stop and release the query now, read or not (audited as not read to the end)."""
        self.cancel(reason)
        if not self._lock.acquire(timeout=10):
            log.error("query did not stop", extra={"fields": {"event": "query.stuck",
                                                              "query_id": self.id}})
            return
        try:
            # Dropping the only reference closes the engine's stream now: its connection
            # is released and its audit record written.
            self._reader = None
            self._first = None
        finally:
            self._lock.release()
        self._finish(QueryCancelled(f"cancelled: {reason}"))

    def _finish(self, error: BaseException | None) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
            self._reader = None
        self.service.finished(self, error)


class Service:
    """One served mesh."""

    def __init__(self, mesh: Mesh, settings: ServerSettings, version: str = "") -> None:
        engine = mesh.settings.engine
        limits = {"timeout_seconds": settings.query_timeout_seconds or engine.timeout_seconds,
                  "memory_limit": settings.query_memory_limit or engine.memory_limit}
        self.mesh = dataclasses.replace(mesh, settings=mesh.settings.model_copy(
            update={"engine": engine.model_copy(update=limits)}))
        self.settings = settings
        self.version = version
        self.metrics = Metrics()
        oidc = OidcValidator(settings.oidc, mesh.root) if settings.oidc else None
        self.auth = Authenticator(
            TokenStore.for_mesh(mesh.root, settings.tokens_file), oidc,
            lambda name: name in self.mesh.governance.principals.users, mesh.audit,
            settings.auth_failures_per_minute,
            on_failure=lambda reason: self.metrics.inc("duckmesh_auth_failures_total",
                                                       reason=reason))
        self.admission = Admission(settings.max_concurrent_queries, settings.max_queued_queries,
                                   settings.max_queries_per_user, settings.queue_timeout_seconds)
        self.running: dict[str, Running] = {}
        self._lock = threading.Lock()
        self.accepting = True
        self.metrics.gauge("duckmesh_active_queries", "queries started and not yet finished",
                           lambda: float(len(self.running)))
        self.metrics.gauge("duckmesh_queued_queries", "queries waiting for a slot",
                           lambda: float(self.admission.waiting))

    # -- queries ----------------------------------------------------------------------

    def start(self, identity: Identity, sql: str, params: Params | None = None,
              purpose: str | None = None) -> Running:
        """Admit, govern and start ``sql`` for ``identity``; its first batch is computed
        here, so errors of the engine come back before any row is sent."""
        started = time.monotonic()
        when = dt.datetime.now(dt.UTC)
        user = identity.principal
        self._admit(identity, sql, purpose, when)
        cancelled: list[str] = []
        executions: list[Execution] = []
        audit = SessionAudit(self.mesh.audit.store, self.mesh.audit.readers,
                             session=identity.session(), cancelled=cancelled)
        mesh = dataclasses.replace(self.mesh, audit=audit)
        try:
            result = mesh.sql(sql, user, params=params, purpose=purpose,
                              on_start=executions.append)
        except BaseException as exc:
            self.admission.release(user)
            self._count(identity, exc, time.monotonic() - started, 0)
            raise
        running = Running(self, identity, result, executions, cancelled, started)
        with self._lock:
            self.running[running.id] = running
        running.prime()
        return running

    def schema(self, identity: Identity, sql: str, params: Params | None = None,
               purpose: str | None = None) -> pa.Schema:
        """The schema of ``sql``'s result for ``identity``, without running it: governed
        and guarded as a query (a refusal is audited as such), then bound by DuckDB
        (:func:`result_schema`).  Audited as a query that delivered no rows, its session
        marked ``request: schema``."""
        user = identity.principal
        when = dt.datetime.now(dt.UTC)
        self._admit(identity, sql, purpose, when)
        try:
            audit = SessionAudit(self.mesh.audit.store, self.mesh.audit.readers,
                                 session={**identity.session(), "request": "schema"})
            mesh = dataclasses.replace(self.mesh, audit=audit)
            query = mesh.sql(sql, user, params=params, purpose=purpose).query
            error: DuckmeshError | None = None
            try:
                return result_schema(query, mesh.settings.engine, mesh.root)
            except DuckmeshError as exc:
                error = exc
                raise
            finally:
                audit.write(audit_record(
                    query, sql=sql, user=user, roles=mesh.governance.principal(user).roles,
                    started=when, outcome=outcome_of(error) if error else "ok",
                    rows=None if error else 0, error=error, purpose=purpose))
        finally:
            self.admission.release(user)

    def _admit(self, identity: Identity, sql: str, purpose: str | None,
               when: dt.datetime) -> None:
        """Take an admission slot for ``identity``, or refuse (shutting down, busy) with
        the refusal audited; the caller releases the slot."""
        try:
            if not self.accepting:
                raise ServerUnavailable("the server is shutting down")
            self.admission.acquire(identity.principal)
        except ServerUnavailable as exc:
            self._refused(identity, sql, purpose, when, exc)
            raise

    def _refused(self, identity: Identity, sql: str, purpose: str | None,
                 when: dt.datetime, exc: DuckmeshError) -> None:
        """A query refused before governance (busy, shutting down): audited all the same."""
        roles = self.mesh.governance.principal(identity.principal).roles
        record = audit_record(None, sql=sql, user=identity.principal, roles=roles,
                              started=when, outcome="failed", error=exc, purpose=purpose)
        try:
            SessionAudit(self.mesh.audit.store, self.mesh.audit.readers,
                         session=identity.session()).write(record)
        except DuckmeshError as error:
            log.error("audit log unwritable", extra={"fields": {"event": "audit.error",
                                                                "error": str(error)}})
        self._count(identity, exc, 0.0, 0)

    def finished(self, running: Running, error: BaseException | None) -> None:
        """Called once per started query, when its stream ends however it ends."""
        with self._lock:
            self.running.pop(running.id, None)
        self.admission.release(running.identity.principal)
        self.metrics.inc("duckmesh_bytes_scanned_total", running.result.query.scan_bytes)
        self.metrics.inc("duckmesh_rows_total", running.rows)
        self._count(running.identity, error, time.monotonic() - running.started, running.rows,
                    running.id)

    def _count(self, identity: Identity, error: BaseException | None, seconds: float,
               rows: int, query_id: str = "") -> None:
        result = outcome(error)
        self.metrics.inc("duckmesh_queries_total", protocol=identity.protocol, outcome=result)
        if result == "denied":
            self.metrics.inc("duckmesh_denials_total", protocol=identity.protocol)
        self.metrics.observe(seconds, protocol=identity.protocol)
        log.info("query", extra={"fields": {
            "event": "query", "query_id": query_id, "principal": identity.principal,
            "auth": identity.method, "client": identity.client, "protocol": identity.protocol,
            "outcome": result, "rows": rows, "ms": round(seconds * 1000, 1),
            "error": str(error) if isinstance(error, DuckmeshError) else
            (type(error).__name__ if error is not None else None)}})

    def explain(self, identity: Identity, sql: str, params: Params | None = None,
                purpose: str | None = None) -> dict[str, Any]:
        """The governed SQL and every decision for the caller (nothing runs)."""
        extra: dict[str, Any] = {"params": params}
        if purpose is not None:
            extra["purpose"] = purpose
        governed = self.mesh.govern(sql, identity.principal, **extra)
        from federation.result import pretty_sql, render_explain

        return {"principal": identity.principal, "products": list(governed.products),
                "columns_read": {k: list(v) for k, v in governed.columns_read.items()},
                "decisions": [to_jsonable(d) for d in governed.decisions],
                "governed_sql": governed.governed_sql, "pretty_sql": pretty_sql(governed),
                "explain": render_explain(governed)}

    # -- lifecycle --------------------------------------------------------------------

    def shutdown(self, grace: float | None = None) -> None:
        """Refuse new queries, let running ones finish for ``grace`` seconds, cancel the
        rest; return when every started query has ended (and been audited)."""
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        self.accepting = False
        self.admission.close()
        log.info("shutting down", extra={"fields": {"event": "shutdown.start",
                                                    "running": len(self.running),
                                                    "grace_seconds": grace}})
        if self.admission.wait_idle(grace):
            return
        for running in list(self.running.values()):
            running.cancel("the server shut down")
        if self.admission.wait_idle(5.0):
            return
        for running in list(self.running.values()):  # nobody is reading these
            running.close("the server shut down")
        self.admission.wait_idle(5.0)
