"""Arrow Flight SQL: the protocol of ADBC and JDBC clients (DBeaver, Tableau, Python).

Supported: statement queries, prepared statements with bound parameters (one set per
execution), the metadata calls clients browse with (no catalogs; schemas are domains;
tables are the products the caller may read; table schemas are the columns they see),
SqlInfo, cancellation (CancelFlightInfo, and a client that goes away).  Everything that
is not a read — updates, ingestion, Substrait plans, transactions — is refused.

Every call authenticates its ``authorization: Bearer`` header; a header naming a user is
refused.  ``x-duckmesh-purpose`` carries the query's purpose.  Errors reach the client as
Flight errors with duckmesh's one-line message (never a traceback, never engine text);
``extra_info`` holds the error as JSON for :mod:`federation.server.client`.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl

from federation.errors import AccessDenied, DuckmeshError, UsageError
from federation.pipeline.params import Params
from federation.server import flightsql as sql
from federation.server.auth import Identity
from federation.server.errors import flight_error
from federation.server.metadata import metadata_table
from federation.server.service import Running, Service

log = logging.getLogger("duckmesh.server")

REFUSED_HEADERS = ("x-duckmesh-user", "user", "username", "x-user", "x-remote-user",
                   "remote-user", "x-forwarded-user")
"""Headers that would name the caller: refused, identity comes only from the token."""
METADATA_COMMANDS = frozenset({
    "CommandGetCatalogs", "CommandGetDbSchemas", "CommandGetTables", "CommandGetTableTypes",
    "CommandGetSqlInfo", "CommandGetPrimaryKeys", "CommandGetExportedKeys",
    "CommandGetImportedKeys", "CommandGetCrossReference", "CommandGetXdbcTypeInfo"})
NOT_READS = {
    "CommandStatementUpdate": "updates", "CommandPreparedStatementUpdate": "updates",
    "CommandStatementIngest": "bulk ingestion", "CommandStatementSubstraitPlan":
    "Substrait plans", "BeginTransaction": "transactions", "EndTransaction": "transactions",
    "BeginSavepoint": "savepoints", "EndSavepoint": "savepoints",
    "CreatePreparedSubstraitPlan": "Substrait plans"}
PREPARED_IDLE_SECONDS = 900.0
MAX_PREPARED_PER_USER = 256


@dataclass
class Prepared:
    """A prepared statement: its SQL and bound values, owned by one principal."""

    sql: str
    principal: str
    params: list[Any] | dict[str, Any] = field(default_factory=list)
    used: float = field(default_factory=time.monotonic)


class _Headers(fl.ServerMiddleware):
    def __init__(self, headers: dict[str, list[Any]]) -> None:
        self.headers = headers


class _HeadersFactory(fl.ServerMiddlewareFactory):
    """Keeps each call's headers for the handler, which authenticates with the peer's
    address (only the handler knows it)."""

    def start_call(self, info: fl.CallInfo, headers: dict[str, list[Any]]) -> _Headers:
        return _Headers(headers)


def _header(headers: dict[str, list[Any]], name: str) -> str | None:
    values = headers.get(name) or []
    if not values:
        return None
    value = values[0]
    return value.decode() if isinstance(value, bytes) else str(value)


class FlightSqlServer(fl.FlightServerBase):
    """duckmesh's Flight SQL endpoint over one :class:`Service`."""

    def __init__(self, service: Service, location: str,
                 tls_certificates: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(location, tls_certificates=tls_certificates or None,
                         middleware={"headers": _HeadersFactory()})
        self.service = service
        self._lock = threading.Lock()
        self._tickets: dict[bytes, tuple[Running, float]] = {}
        self._prepared: dict[bytes, Prepared] = {}
        self._watched: list[tuple[fl.ServerCallContext, Running]] = []
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep, name="flight-sweeper", daemon=True)
        self._sweeper.start()

    # -- plumbing ---------------------------------------------------------------------

    def _identify(self, context: fl.ServerCallContext) -> Identity:
        middleware = context.get_middleware("headers")
        headers: dict[str, list[Any]] = middleware.headers if middleware else {}
        if any(name in headers for name in REFUSED_HEADERS):
            raise fl.FlightUnauthorizedError(
                "a client cannot choose its user: your identity comes from your token")
        peer = context.peer() or "unknown"
        client = peer.split(":", 1)[-1].rsplit(":", 1)[0].strip("[]")
        return self.service.auth.authenticate(_header(headers, "authorization"), client,
                                              "flight-sql")

    def _purpose(self, context: fl.ServerCallContext) -> str | None:
        middleware = context.get_middleware("headers")
        return _header(middleware.headers, "x-duckmesh-purpose") if middleware else None

    def _call(self, what: Callable[[], Any]) -> Any:
        """Run a handler body; every error leaves as a Flight error with our message."""
        try:
            return what()
        except fl.FlightError:
            raise
        except BaseException as exc:  # noqa: BLE001 - nothing else may reach the client
            raise flight_error(exc) from None

    def _sweep(self) -> None:
        """Close started queries nobody fetched in time; forget idle prepared statements."""
        while not self._stop.wait(1.0):
            now = time.monotonic()
            with self._lock:
                expired = [t for t, (r, deadline) in self._tickets.items() if deadline < now]
                stale = [h for h, p in self._prepared.items()
                         if p.used + PREPARED_IDLE_SECONDS < now]
                running = [self._tickets.pop(t)[0] for t in expired]
                for handle in stale:
                    del self._prepared[handle]
                # Only streams inside a fetch are watched, under this lock: their calls
                # are alive while we ask.
                gone = [q for context, q in self._watched if context.is_cancelled()]
            for query in running:
                query.close("its client did not fetch the result in time")
            for query in gone:
                query.cancel("its client went away")

    def shutdown(self) -> None:
        """Stop the sweeper, close queries never fetched, and stop serving."""
        self._stop.set()
        with self._lock:
            pending = [r for r, _ in self._tickets.values()]
            self._tickets.clear()
        for query in pending:
            query.close("the server shut down")
        super().shutdown()

    # -- queries ----------------------------------------------------------------------

    def _start(self, context: fl.ServerCallContext, identity: Identity, query: str,
               params: Params | None, descriptor: fl.FlightDescriptor) -> fl.FlightInfo:
        running = self.service.start(identity, query, params or None, self._purpose(context))
        handle = secrets.token_bytes(24)
        with self._lock:
            self._tickets[handle] = (running, time.monotonic() + self.service.settings
                                     .ticket_seconds)
        ticket = sql.pack("TicketStatementQuery", {"statement_handle": handle})
        return fl.FlightInfo(running.schema, descriptor, [fl.FlightEndpoint(ticket, [])],
                             -1, -1, app_metadata=json.dumps(running.describe(), default=str))

    def _prepared_of(self, identity: Identity, handle: bytes) -> Prepared:
        with self._lock:
            prepared = self._prepared.get(handle)
        if prepared is None or prepared.principal != identity.principal:
            raise UsageError("no such prepared statement (closed, or idle too long)")
        prepared.used = time.monotonic()
        return prepared

    def get_flight_info(self, context: fl.ServerCallContext,
                        descriptor: fl.FlightDescriptor) -> fl.FlightInfo:
        def body() -> fl.FlightInfo:
            identity = self._identify(context)
            name, fields = self._command(descriptor)
            if name == "CommandStatementQuery":
                return self._start(context, identity, fields.get("query", ""), None, descriptor)
            if name == "CommandPreparedStatementQuery":
                prepared = self._prepared_of(identity, fields.get("prepared_statement_handle",
                                                                  b""))
                return self._start(context, identity, prepared.sql, prepared.params,
                                   descriptor)
            table = metadata_table(self.service, identity, name, fields)
            return fl.FlightInfo(table.schema, descriptor,
                                 [fl.FlightEndpoint(descriptor.command, [])],
                                 table.num_rows, -1)
        result: fl.FlightInfo = self._call(body)
        return result

    get_schema: Callable[[FlightSqlServer, fl.ServerCallContext, fl.FlightDescriptor],
                         fl.SchemaResult]

    def schema_or_error(self, context: fl.ServerCallContext,
                        descriptor: fl.FlightDescriptor) -> fl.SchemaResult | fl.FlightError:
        """GetSchema's answer, or the error to raise (see :data:`_GET_SCHEMA`)."""
        def body() -> fl.SchemaResult:
            identity = self._identify(context)
            name, fields = self._command(descriptor)
            if name in ("CommandStatementQuery", "CommandPreparedStatementQuery"):
                if name == "CommandStatementQuery":
                    query, params = fields.get("query", ""), None
                else:
                    prepared = self._prepared_of(identity,
                                                 fields.get("prepared_statement_handle", b""))
                    query, params = prepared.sql, prepared.params or None
                # Planned and bound, never run: no row is read for a schema.
                return fl.SchemaResult(self.service.schema(identity, query, params,
                                                           self._purpose(context)))
            return fl.SchemaResult(metadata_table(self.service, identity, name, fields).schema)
        try:
            result: fl.SchemaResult = self._call(body)
        except fl.FlightError as exc:
            return type(exc)(str(exc), extra_info=exc.extra_info)  # unraised: no traceback
        return result

    def _command(self, descriptor: fl.FlightDescriptor) -> tuple[str, dict[str, Any]]:
        if descriptor.descriptor_type != fl.DescriptorType.CMD:
            raise UsageError("duckmesh takes Flight SQL commands, not paths")
        name, fields = sql.unpack(descriptor.command)
        if name in NOT_READS:
            raise AccessDenied(f"duckmesh serves reads only: {NOT_READS[name]} are refused")
        if fields.get("transaction_id"):
            raise AccessDenied("duckmesh serves reads only: transactions are refused")
        if name not in METADATA_COMMANDS | {"CommandStatementQuery",
                                            "CommandPreparedStatementQuery"}:
            raise NotImplementedError(f"Flight SQL command {name} is not supported")
        return name, fields

    def do_get(self, context: fl.ServerCallContext, ticket: fl.Ticket) -> fl.FlightDataStream:
        def body() -> fl.FlightDataStream:
            identity = self._identify(context)
            name, fields = sql.unpack(ticket.ticket)
            if name != "TicketStatementQuery":
                table = metadata_table(self.service, identity, name, fields)
                return fl.RecordBatchStream(table)
            handle = fields.get("statement_handle", b"")
            with self._lock:
                entry = self._tickets.get(handle)
                # A ticket is redeemed once, by the principal who started the query.
                if entry is not None and entry[0].identity.principal == identity.principal:
                    del self._tickets[handle]
                else:
                    entry = None
            if entry is None:
                raise UsageError("no such result: unknown, already fetched, or expired")
            return fl.GeneratorStream(entry[0].schema, self._stream(context, entry[0]))
        result: fl.FlightDataStream = self._call(body)
        return result

    def _stream(self, context: fl.ServerCallContext,
                running: Running) -> Generator[pa.RecordBatch, None, None]:
        batches = running.batches()
        watch = (context, running)
        try:
            while True:
                with self._lock:  # watched only inside a fetch: then the call is alive
                    self._watched.append(watch)
                try:
                    batch = next(batches)
                except StopIteration:
                    return
                except BaseException as exc:  # noqa: BLE001 - mapped for the client
                    raise flight_error(exc) from None
                finally:
                    with self._lock:
                        self._watched.remove(watch)
                if context.is_cancelled():
                    running.cancel("its client went away")
                    return
                yield batch
        finally:
            batches.close()

    # -- parameters and actions -------------------------------------------------------

    def do_put(self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor,
               reader: fl.MetadataRecordBatchReader,
               writer: fl.FlightMetadataWriter) -> None:
        def body() -> None:
            identity = self._identify(context)
            name, fields = self._command(descriptor)
            if name != "CommandPreparedStatementQuery":
                raise NotImplementedError(f"DoPut with {name} is not supported")
            handle = fields.get("prepared_statement_handle", b"")
            prepared = self._prepared_of(identity, handle)
            table = reader.read_all()
            if table.num_rows > 1:
                raise UsageError("bind one set of parameter values per execution "
                                 f"(got {table.num_rows})")
            values = [c[0].as_py() for c in table.columns] if table.num_rows else []
            names = table.column_names
            # ADBC numbers positional values "0", "1", …; named columns bind $name.
            prepared.params = values if all(n.isdigit() for n in names) else \
                dict(zip(names, values, strict=True))
            writer.write(pa.py_buffer(sql.bare("DoPutPreparedStatementResult",
                                               {"prepared_statement_handle": handle})))
        self._call(body)

    def list_actions(self, context: fl.ServerCallContext) -> list[tuple[str, str]]:
        return [("CreatePreparedStatement", "prepare a query"),
                ("ClosePreparedStatement", "release a prepared statement"),
                ("CancelFlightInfo", "cancel a started query"),
                ("duckmesh.explain", "the governed SQL and decisions (JSON)"),
                ("duckmesh.products", "the catalog (JSON)"),
                ("duckmesh.product", "one product, with your decisions (JSON)"),
                ("duckmesh.search", "products matching a text (JSON)")]

    def do_action(self, context: fl.ServerCallContext,
                  action: fl.Action) -> Iterator[fl.Result]:
        def body() -> list[fl.Result]:
            identity = self._identify(context)
            kind = action.type
            data = action.body.to_pybytes() if action.body is not None else b""
            if kind in NOT_READS:
                raise AccessDenied(f"duckmesh serves reads only: {NOT_READS[kind]} are "
                                   "refused")
            if kind == "CreatePreparedStatement":
                return [fl.Result(self._prepare(identity, data))]
            if kind == "ClosePreparedStatement":
                handle = sql.message("ActionClosePreparedStatementRequest", data).get(
                    "prepared_statement_handle", b"")
                self._prepared_of(identity, handle)
                with self._lock:
                    self._prepared.pop(handle, None)
                return []
            if kind in ("CancelFlightInfo", "CancelQuery"):
                return [fl.Result(self._cancel(identity, kind, data))]
            if kind.startswith("duckmesh."):
                from federation.server.metadata import json_action

                answer = json_action(self.service, identity, kind, json.loads(data or b"{}"),
                                     self._purpose(context))
                return [fl.Result(json.dumps(answer, default=str).encode())]
            raise NotImplementedError(f"action {kind!r} is not supported")
        results: list[fl.Result] = self._call(body)
        return iter(results)

    def _prepare(self, identity: Identity, data: bytes) -> bytes:
        request = sql.message("ActionCreatePreparedStatementRequest", data)
        if request.get("transaction_id"):
            raise AccessDenied("duckmesh serves reads only: transactions are refused")
        handle = secrets.token_bytes(24)
        with self._lock:
            owned = sum(p.principal == identity.principal for p in self._prepared.values())
            if owned >= MAX_PREPARED_PER_USER:
                raise UsageError(f"at most {MAX_PREPARED_PER_USER} open prepared statements "
                                 "per user: close some")
            self._prepared[handle] = Prepared(request.get("query", ""), identity.principal)
        return sql.pack("ActionCreatePreparedStatementResult",
                        {"prepared_statement_handle": handle})

    def _cancel(self, identity: Identity, kind: str, data: bytes) -> bytes:
        name = "CancelFlightInfoRequest" if kind == "CancelFlightInfo" else \
            "ActionCancelQueryRequest"
        info = fl.FlightInfo.deserialize(sql.message(name, data).get("info", b""))
        status = sql.NOT_CANCELLABLE
        for endpoint in info.endpoints:
            try:
                _, fields = sql.unpack(endpoint.ticket.ticket)
            except DuckmeshError:
                continue
            with self._lock:
                entry = self._tickets.get(fields.get("statement_handle", b""))
                if entry is not None and entry[0].identity.principal == identity.principal:
                    del self._tickets[fields["statement_handle"]]
                else:
                    entry = None
            if entry is not None:
                entry[0].close("its client cancelled it")
                status = sql.CANCELLED
        if kind == "CancelFlightInfo":
            return sql.bare("CancelFlightInfoResult", {"status": status})
        return sql.pack("ActionCancelQueryResult", {"result": status})


# pyarrow's GetSchema callback, unlike the other handlers', turns every exception (a
# FlightError too) into a status whose detail is the Python traceback, which reaches the
# client.  So GetSchema raises from a function compiled without a source file, with an
# error that was never raised before: the traceback names "<duckmesh>" and no path or
# line of the server.
_SOURCE = """
def get_schema(self, context, descriptor):
    outcome = self.schema_or_error(context, descriptor)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome
"""
_NAMES: dict[str, Any] = {}
exec(compile(_SOURCE, "<duckmesh>", "exec"), _NAMES)  # noqa: S102 - fixed text, see above
FlightSqlServer.get_schema = _NAMES["get_schema"]
