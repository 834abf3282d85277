"""``duckmesh serve``: start Flight SQL and HTTP over one service, stop them in order.

The process refuses to listen on a non-loopback address without TLS (unless told
``insecure``), logs one JSON object per line on stderr (``--log-format text`` for
people), reloads governance and contracts on SIGHUP (keeping the old ones if the new
files do not load), and on SIGTERM or SIGINT shuts down gracefully: new queries are
refused, running ones finish within the grace period or are cancelled, every started
query's audit record is written, then both listeners stop.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import logging
import signal
import sys
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

from federation.errors import DuckmeshError, UsageError
from federation.mesh import Mesh
from federation.server.flight import FlightSqlServer
from federation.server.service import Service
from products.config import ServerSettings, mask_secret

log = logging.getLogger("duckmesh.server")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(), "message": record.getMessage()}
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items()
                          if k != "event" and v not in (None, ""))
        return f"{record.levelname.lower():<7} {record.getMessage()} {fields}".rstrip()


def configure_logging(fmt: str = "json", debug: bool = False) -> None:
    """Structured logs on stderr for the ``duckmesh.server`` logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    log.propagate = False


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def version() -> str:
    try:
        return metadata.version("duckmesh")
    except metadata.PackageNotFoundError:
        return "0"


class Server:
    """Both listeners over one :class:`Service`."""

    def __init__(self, mesh: Mesh, settings: ServerSettings, *, insecure: bool = False) -> None:
        if bool(settings.tls_cert) != bool(settings.tls_key):
            raise UsageError("TLS needs both --tls-cert and --tls-key")
        self.tls = bool(settings.tls_cert)
        if not self.tls and not is_loopback(settings.host) and not insecure:
            raise UsageError(f"refusing to serve on {settings.host} without TLS: tokens "
                             "would cross the network in clear text",
                             hint="give --tls-cert and --tls-key, or --insecure behind a "
                                  "TLS-terminating proxy")
        self.settings = settings
        self.service = Service(mesh, settings, version())
        self.flight: FlightSqlServer | None = None
        self._http: Any = None
        self._http_thread: threading.Thread | None = None
        self.flight_url = self.http_url = ""

    def _path(self, name: str | None) -> Path:
        assert name is not None
        path = Path(name)
        return path if path.is_absolute() else self.service.mesh.root / path

    def start(self) -> None:
        """Listen on both ports (0 picks free ones: see ``flight_url``/``http_url``)."""
        import uvicorn

        from federation.server.http import create_app

        host = self.settings.host
        bracketed = f"[{host}]" if ":" in host else host
        certs = None
        if self.tls:
            certs = [(self._path(self.settings.tls_cert).read_bytes(),
                      self._path(self.settings.tls_key).read_bytes())]
        scheme = "grpc+tls" if self.tls else "grpc"
        self.flight = FlightSqlServer(self.service, f"{scheme}://{bracketed}:{self.settings.port}",
                                      certs)
        self.flight_url = f"{scheme}://{bracketed}:{self.flight.port}"
        config = uvicorn.Config(
            create_app(self.service), host=host, port=self.settings.http_port,
            log_config=None, access_log=False, proxy_headers=False, server_header=False,
            lifespan="off", timeout_graceful_shutdown=5,
            ssl_certfile=str(self._path(self.settings.tls_cert)) if self.tls else None,
            ssl_keyfile=str(self._path(self.settings.tls_key)) if self.tls else None)
        self._http = uvicorn.Server(config)
        self._http_thread = threading.Thread(target=self._http.run, name="http", daemon=True)
        self._http_thread.start()
        while not self._http.started:
            if not self._http_thread.is_alive():
                self.flight.shutdown()
                raise UsageError(f"could not listen on {host}:{self.settings.http_port} "
                                 "for HTTP (in use?)")
            self._http_thread.join(0.02)
        port = self._http.servers[0].sockets[0].getsockname()[1]
        self.http_url = f"{'https' if self.tls else 'http'}://{bracketed}:{port}"
        if mask_secret(self.service.mesh.root, self.service.mesh.settings) is None:
            log.warning("no mask secret configured", extra={"fields": {
                "event": "config.warning", "hint": "set secret_file or $DUCKMESH_SECRET"}})
        log.info("serving", extra={"fields": {"event": "server.start",
                                              "flight": self.flight_url, "http": self.http_url,
                                              "mesh": str(self.service.mesh.root)}})

    def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: queries end (and are audited) first, then the listeners."""
        self.service.shutdown(grace)
        if self.flight is not None:
            # Every query has ended; a call stuck on a client that stopped reading must
            # not keep the process alive.
            closing = threading.Thread(target=self.flight.shutdown, daemon=True)
            closing.start()
            closing.join(15)
            if closing.is_alive():
                log.error("Flight SQL calls did not end; stopping anyway", extra={
                    "fields": {"event": "shutdown.forced"}})
        if self._http is not None:
            self._http.should_exit = True
        if self._http_thread is not None:
            self._http_thread.join(10)
        log.info("stopped", extra={"fields": {"event": "server.stop"}})

    def reload(self) -> None:
        """Re-read the mesh's contracts and governance (SIGHUP); keep the old on failure."""
        try:
            fresh = Mesh.open(self.service.mesh.root)
        except DuckmeshError as exc:
            log.error("reload failed; serving the previous files", extra={"fields": {
                "event": "reload.failed", "error": str(exc)}})
            return
        self.service.mesh = dataclasses.replace(
            fresh, settings=fresh.settings.model_copy(
                update={"engine": self.service.mesh.settings.engine,
                        "server": self.settings}))
        log.info("reloaded", extra={"fields": {"event": "reload",
                                               "products": len(fresh.catalog)}})

    def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT; SIGHUP reloads."""
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self.reload).start())
        self.start()
        while not stop.wait(0.5):
            pass
        self.stop()
