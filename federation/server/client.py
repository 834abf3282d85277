"""``federation.connect(URL, token=…)``: a duckmesh server, used like an embedded mesh.

>>> import federation                                                        # doctest: +SKIP
>>> with federation.connect("grpc://mesh.example:8815", token=TOKEN) as mesh:  # doctest: +SKIP
...     result = mesh.sql("SELECT country, count(*) FROM customers.profiles GROUP BY 1")
...     result.df(); result.explain(); result.stamp

Speaks Arrow Flight SQL with pyarrow alone (no extra package): a query is a Flight SQL
statement (a prepared statement when it has parameters), its rows arrive as Arrow record
batches, and the governance facts (products, decisions, stamp, explanation) ride in the
FlightInfo's metadata.  Who you are comes from the token (``token=`` or
``$DUCKMESH_TOKEN``), never from an argument; errors are the same classes embedded mode
raises, with the server's one-line message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.flight as fl

from federation.errors import DuckmeshError, ServerUnavailable, UsageError
from federation.pipeline.query import Decision
from federation.server import flightsql as sql
from federation.server.errors import from_json

if TYPE_CHECKING:
    import pandas
    import polars

SCHEMES = ("grpc://", "grpc+tls://", "grpc+tcp://")


def _raise(exc: fl.FlightError, url: str) -> DuckmeshError:
    extra = getattr(exc, "extra_info", b"") or b""
    try:
        body = json.loads(extra)
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        return from_json(body)
    if isinstance(exc, fl.FlightUnavailableError):
        return ServerUnavailable(f"cannot reach the duckmesh server at {url}",
                                 hint="is `duckmesh serve` running there?")
    if isinstance(exc, fl.FlightUnauthenticatedError):
        from federation.errors import AuthenticationFailed

        return AuthenticationFailed("the server did not accept the token")
    return DuckmeshError(f"the server failed the request ({type(exc).__name__})")


class _Lineage(dict[str, Any]):
    """A column's lineage as the server described it (``as_dict`` like embedded mode)."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self)


class RemoteResult:
    """The answer of a server: the same API as :class:`federation.Result`.

    The query is governed when :meth:`Connection.sql` returns (errors are raised there);
    its rows are fetched when first read; reading again runs it again (``arrow()`` is
    cached).
    """

    def __init__(self, connection: Connection, info: fl.FlightInfo, query: str,
                 params: Any, purpose: str | None) -> None:
        self._connection = connection
        self._info: fl.FlightInfo | None = info
        self._query, self._params, self._purpose = query, params, purpose
        self._table: pa.Table | None = None
        facts = json.loads(info.app_metadata or b"{}")
        self.principal: str = facts.get("principal", "")
        """Who the server ran the query as (from the token)."""
        self.products: tuple[str, ...] = tuple(facts.get("products", ()))
        self.decisions: list[Decision] = [Decision(**d) for d in facts.get("decisions", [])]
        self.columns_read: dict[str, tuple[str, ...]] = {
            k: tuple(v) for k, v in facts.get("columns_read", {}).items()}
        self.governed_sql: str = facts.get("governed_sql", "")
        self.stamp: dict[str, Any] = facts.get("stamp") or {}
        self.warnings: list[str] = list(facts.get("warnings", []))
        self.query_id: str = facts.get("query_id", "")
        self._explain: str = facts.get("explain", "")
        self._lineage = [_Lineage(c) for c in facts.get("lineage", [])]

    def reader(self, rows_per_batch: int = 100_000) -> pa.RecordBatchReader:
        """Stream the rows as Arrow record batches (fetched from the server)."""
        del rows_per_batch  # the server sends its own batches
        if self._table is not None:
            return pa.RecordBatchReader.from_batches(self._table.schema,
                                                     self._table.to_batches())
        info = self._info or self._connection._flight_info(self._query, self._params,
                                                           self._purpose)
        self._info = None
        return self._connection._fetch(info)

    def batches(self, rows_per_batch: int = 100_000) -> Iterator[pa.RecordBatch]:
        yield from self.reader(rows_per_batch)

    def arrow(self) -> pa.Table:
        if self._table is None:
            reader = self.reader()
            try:
                self._table = reader.read_all()
            except fl.FlightError as exc:
                raise _raise(exc, self._connection.url) from None
        return self._table

    def df(self) -> pandas.DataFrame:
        return self.arrow().to_pandas()

    def pl(self) -> polars.DataFrame:
        from federation.result import to_polars

        return to_polars(self.arrow())

    def explain(self) -> str:
        """The governed SQL and every decision, as the server explained them."""
        return self._explain

    def lineage(self) -> list[_Lineage]:
        return list(self._lineage)

    def __repr__(self) -> str:
        return f"<RemoteResult products={list(self.products)} as {self.principal!r}>"


class Connection:
    """A connection to one duckmesh server (thread-safe: one gRPC channel)."""

    def __init__(self, url: str, token: str | None = None, *,
                 tls_root_certs: str | bytes | Path | None = None,
                 purpose: str | None = None, timeout: float | None = None) -> None:
        if not url.startswith(SCHEMES):
            raise UsageError(f"a duckmesh server address is grpc://HOST:PORT or "
                             f"grpc+tls://HOST:PORT, not {url!r}")
        token = token or os.environ.get("DUCKMESH_TOKEN")
        if not token:
            raise UsageError("no token: pass token=… or set $DUCKMESH_TOKEN",
                             hint="`duckmesh tokens issue USER` on the server issues one")
        self.url = url
        self.purpose = purpose
        roots = tls_root_certs
        if isinstance(roots, Path) or (isinstance(roots, str) and "BEGIN" not in roots):
            roots = Path(roots).read_bytes()
        try:
            self._client = fl.FlightClient(url, tls_root_certs=roots)
        except (fl.FlightError, pa.ArrowException) as exc:
            raise UsageError(f"cannot use the server address {url!r} ({exc})") from None
        self._headers = [(b"authorization", f"Bearer {token.strip()}".encode())]
        self._timeout = timeout

    def _options(self, purpose: str | None = None) -> fl.FlightCallOptions:
        headers = list(self._headers)
        if purpose or self.purpose:
            headers.append((b"x-duckmesh-purpose", str(purpose or self.purpose).encode()))
        return fl.FlightCallOptions(headers=headers, timeout=self._timeout)

    def _flight_info(self, query: str, params: Any, purpose: str | None) -> fl.FlightInfo:
        options = self._options(purpose)
        try:
            if not params:
                command = sql.pack("CommandStatementQuery", {"query": query})
                return self._client.get_flight_info(fl.FlightDescriptor.for_command(command),
                                                    options)
            handle = self._prepare(query, options)
            try:
                descriptor = fl.FlightDescriptor.for_command(
                    sql.pack("CommandPreparedStatementQuery",
                             {"prepared_statement_handle": handle}))
                writer, _ = self._client.do_put(descriptor, _param_batch(params).schema,
                                                options)
                writer.write_batch(_param_batch(params))
                writer.close()
                return self._client.get_flight_info(descriptor, options)
            finally:
                body = sql.pack("ActionClosePreparedStatementRequest",
                                {"prepared_statement_handle": handle})
                list(self._client.do_action(fl.Action("ClosePreparedStatement", body), options))
        except fl.FlightError as exc:
            raise _raise(exc, self.url) from None

    def _prepare(self, query: str, options: fl.FlightCallOptions) -> bytes:
        body = sql.pack("ActionCreatePreparedStatementRequest", {"query": query})
        results = list(self._client.do_action(fl.Action("CreatePreparedStatement", body),
                                              options))
        created = sql.message("ActionCreatePreparedStatementResult",
                              results[0].body.to_pybytes())
        handle: bytes = created["prepared_statement_handle"]
        return handle

    def _fetch(self, info: fl.FlightInfo) -> pa.RecordBatchReader:
        try:
            reader = self._client.do_get(info.endpoints[0].ticket, self._options())
            return reader.to_reader()
        except fl.FlightError as exc:
            raise _raise(exc, self.url) from None

    def _action(self, kind: str, body: dict[str, Any]) -> Any:
        try:
            results = list(self._client.do_action(
                fl.Action(kind, json.dumps(body, default=str).encode()), self._options()))
        except fl.FlightError as exc:
            raise _raise(exc, self.url) from None
        return json.loads(results[0].body.to_pybytes())

    # -- the API ----------------------------------------------------------------------

    def sql(self, query: str, params: Mapping[str, Any] | Sequence[Any] | None = None, *,
            purpose: str | None = None) -> RemoteResult:
        """Govern ``query`` on the server as your token's principal; read it as a Result."""
        return RemoteResult(self, self._flight_info(query, params, purpose), query, params,
                            purpose)

    def explain_json(self, query: str, params: Mapping[str, Any] | Sequence[Any] | None = None,
                     *, purpose: str | None = None) -> dict[str, Any]:
        """Products, columns read, decisions and governed SQL (nothing runs)."""
        answer: dict[str, Any] = self._action(
            "duckmesh.explain", {"sql": query, "params": params, "purpose": purpose})
        return answer

    def explain(self, query: str, params: Mapping[str, Any] | Sequence[Any] | None = None,
                *, purpose: str | None = None) -> str:
        """The governed SQL and every policy decision, as text."""
        return str(self.explain_json(query, params, purpose=purpose)["explain"])

    def products(self) -> list[dict[str, Any]]:
        """The catalog, each product marked readable for you."""
        answer: list[dict[str, Any]] = self._action("duckmesh.products", {})
        return answer

    def product(self, name: str) -> dict[str, Any]:
        """One product: contract and live facts, your decision per column."""
        answer: dict[str, Any] = self._action("duckmesh.product", {"name": name})
        return answer

    def search(self, text: str) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self._action("duckmesh.search", {"text": text})
        return answer

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _param_batch(params: Mapping[str, Any] | Sequence[Any]) -> pa.RecordBatch:
    """Parameter values as one row: named columns for $name, numbered ones by position."""
    if isinstance(params, Mapping):
        names, values = [str(k).removeprefix("$") for k in params], list(params.values())
    else:
        names, values = [str(i) for i in range(len(params))], list(params)
    return pa.RecordBatch.from_pylist([dict(zip(names, values, strict=True))])


def connect(url: str, token: str | None = None, *,
            tls_root_certs: str | bytes | Path | None = None, purpose: str | None = None,
            timeout: float | None = None) -> Connection:
    """A :class:`Connection` to the duckmesh server at ``url`` (``grpc://HOST:PORT`` or
    ``grpc+tls://HOST:PORT``), authenticated by ``token`` (default ``$DUCKMESH_TOKEN``)."""
    return Connection(url, token, tls_root_certs=tls_root_certs, purpose=purpose,
                      timeout=timeout)
