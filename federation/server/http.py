"""The HTTP API (FastAPI on uvicorn): governed queries, explain, the catalog, health, metrics.

``POST /v1/query`` answers an Arrow IPC stream, JSON (one array of row objects, as
``duckmesh query --format json``), NDJSON or CSV by ``Accept``; the first batch is
computed before the response starts, so errors come back with their status and a JSON
body ``{"error": {"class", "message", …}}``.  ``GET /openapi.json`` describes it all.
Every ``/v1`` route needs ``Authorization: Bearer <token>``; a ``user`` sent in the body,
the query string or a header is refused.  ``/healthz`` and ``/metrics`` are open (they
name no user and no data).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Generator
from typing import Annotated, Any

import anyio
import pyarrow as pa
import pyarrow.csv as pacsv
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from connectors.writers import dumps
from federation.errors import AuthenticationFailed, DuckmeshError, UsageError
from federation.pipeline.stamp import STAMP_METADATA_KEY
from federation.server import metadata
from federation.server.auth import Identity, TooManyFailures
from federation.server.errors import as_json, http_status
from federation.server.flight import REFUSED_HEADERS
from federation.server.service import Running, Service

MEDIA = {"application/vnd.apache.arrow.stream": "arrow", "application/json": "json",
         "application/x-ndjson": "ndjson", "text/csv": "csv"}
NO_USER = "a client cannot choose its user: your identity comes from your token"


class QueryRequest(BaseModel):
    """A governed query; who runs it comes from the bearer token, never from the body."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(description="SQL naming products as domain.product")
    params: dict[str, Any] | list[Any] | None = Field(
        default=None, description="values for $name (an object) or ?/$1 (an array)")
    purpose: str | None = Field(default=None, description="a purpose declared in "
                                "governance/policies.yaml; recorded in the audit log")

    @model_validator(mode="before")
    @classmethod
    def _no_user(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(k.lower() in ("user", "username", "principal")
                                          for k in data):
            raise ValueError(NO_USER)
        return data


def _error(exc: BaseException) -> JSONResponse:
    headers = {}
    if isinstance(exc, AuthenticationFailed):
        headers["WWW-Authenticate"] = 'Bearer realm="duckmesh"'
    status = http_status(exc)
    if isinstance(exc, TooManyFailures):
        status, headers["Retry-After"] = 429, f"{exc.retry_after:.0f}"
    elif status == 503:
        headers["Retry-After"] = "5"
    return JSONResponse({"error": as_json(exc)}, status_code=status, headers=headers)


def negotiate(accept: str | None) -> str:
    """The result format for an ``Accept`` header (JSON when anything goes)."""
    if not accept:
        return "json"
    offers: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept.split(",")):
        media, *options = [p.strip() for p in part.split(";")]
        quality = 1.0
        for option in options:
            if option.startswith("q="):
                try:
                    quality = float(option[2:])
                except ValueError:
                    quality = 0.0
        if media in ("*/*", "application/*"):
            media = "application/json"
        if media in MEDIA and quality > 0:
            offers.append((-quality, i, MEDIA[media]))
    if not offers:
        raise UsageError("cannot answer in any format of the Accept header",
                         hint="accept " + ", ".join(MEDIA))
    return min(offers)[2]


class _Sink(io.RawIOBase):
    """Collects what a writer writes, handed out chunk by chunk."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


def encode(running: Running, fmt: str) -> Generator[bytes, None, None]:
    """The query's rows in ``fmt``, as chunks of bytes (one batch at a time)."""
    batches = running.batches()
    try:
        sink = _Sink()
        if fmt == "arrow":
            meta = {STAMP_METADATA_KEY: dumps(running.result.stamp)}
            schema = running.schema.with_metadata({**(running.schema.metadata or {}), **meta})
            with pa.ipc.new_stream(sink, schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    yield sink.take()
            yield sink.take()
        elif fmt == "csv":
            with pacsv.CSVWriter(sink, running.schema) as csv:
                for batch in batches:
                    csv.write_batch(batch)
                    yield sink.take()
            yield sink.take()
        else:
            rows = 0
            yield b"[" if fmt == "json" else b""
            for batch in batches:
                parts = []
                for row in batch.to_pylist():
                    text = dumps(row).encode()
                    if fmt == "json":
                        parts.append((b",\n" if rows else b"\n") + text)
                    else:
                        parts.append(text + b"\n")
                    rows += 1
                yield b"".join(parts)
            if fmt == "json":
                yield b"\n]\n" if rows else b"]\n"
    finally:
        batches.close()


async def _stream(chunks: Generator[bytes, None, None]) -> AsyncIterator[bytes]:
    """Pull chunks in a worker thread; a client that goes away closes (and so cancels and
    audits) the query."""
    try:
        while True:
            chunk = await run_in_threadpool(next, chunks, None)
            if chunk is None:
                return
            if chunk:
                yield chunk
    finally:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(chunks.close)


BEARER = HTTPBearer(auto_error=False, description="a duckmesh token or an OIDC JWT")


def identity(request: Request, _: Annotated[Any, Depends(BEARER)]) -> Identity:
    """The caller, from the bearer token alone (a user named anywhere else is refused)."""
    if any(h in request.headers for h in REFUSED_HEADERS) or \
            any(k.lower() in ("user", "username") for k in request.query_params):
        raise UsageError(NO_USER)
    service: Service = request.app.state.service
    client = request.client.host if request.client else "unknown"
    return service.auth.authenticate(request.headers.get("authorization"), client, "http")


Who = Annotated[Identity, Depends(identity)]


def create_app(service: Service) -> FastAPI:
    """The HTTP API over ``service``."""
    app = FastAPI(title="duckmesh", version=service.version or "0",
                  description="Governed SQL over the data products of a mesh. Identity "
                  "comes from the bearer token (duckmesh tokens or the configured OIDC "
                  "issuer); every query is governed and audited as that principal.",
                  docs_url=None, redoc_url=None)
    app.state.service = service
    app.add_exception_handler(DuckmeshError, lambda _r, exc: _error(exc))

    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:])
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        return _error(UsageError(f"{where}: {message}" if where else message))

    app.add_exception_handler(RequestValidationError, invalid)

    @app.post("/v1/query", summary="Run governed SQL",
              responses={200: {"content": {m: {} for m in MEDIA}},
                         400: {"description": "rejected SQL or input"},
                         401: {"description": "no or a wrong token"},
                         403: {"description": "denied by governance"},
                         503: {"description": "busy or shutting down"}})
    async def query(body: QueryRequest, request: Request,
                    who: Who) -> Response:
        fmt = negotiate(request.headers.get("accept"))
        running = await run_in_threadpool(service.start, who, body.sql, body.params,
                                          body.purpose)
        media = next(m for m, f in MEDIA.items() if f == fmt)
        headers = {"X-Duckmesh-Query-Id": running.id,
                   "X-Duckmesh-Principal": who.principal,
                   "X-Duckmesh-Products": ",".join(running.result.products)}
        return StreamingResponse(_stream(encode(running, fmt)), media_type=media,
                                 headers=headers)

    @app.post("/v1/explain", summary="The governed SQL and every policy decision")
    def explain(body: QueryRequest, who: Who) -> dict[str, Any]:
        return service.explain(who, body.sql, body.params, body.purpose)

    @app.get("/v1/products", summary="The catalog, each product marked readable for you")
    def products(who: Who) -> list[dict[str, Any]]:
        return metadata.products(service, who)

    @app.get("/v1/products/{name}", summary="One product (domain.product) with your "
             "decision per column")
    def product(name: str, who: Who) -> Response:
        return Response(dumps(metadata.product(service, who, name)),
                        media_type="application/json")

    @app.get("/v1/me", summary="Who you are authenticated as")
    def me(who: Who) -> dict[str, Any]:
        principal = service.mesh.governance.principal(who.principal)
        return {"principal": who.principal, "roles": list(principal.roles),
                "auth": who.method, "subject": who.subject}

    @app.get("/healthz", summary="Liveness and readiness (no authentication)")
    def healthz() -> Response:
        if not service.accepting:
            return JSONResponse({"status": "shutting down"}, status_code=503)
        return JSONResponse({"status": "ok", "running": len(service.running),
                             "queued": service.admission.waiting})

    @app.get("/metrics", summary="Prometheus metrics (no authentication)",
             response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(service.metrics.render(),
                                 media_type="text/plain; version=0.0.4")

    # The web catalog: pages on the same identity and governance (docs/catalog.md).
    from federation.server.web.app import mount

    mount(app, service)
    return app
