"""A real S3 endpoint on loopback, and a proxy in front of it that injects faults.

moto's ``ThreadedMotoServer`` listens on 127.0.0.1, port 0, and is reset before each
test (as pyiceberg's and s3fs's own suites do).  ``FaultProxy`` forwards every request to
it and, when told, answers 503 (throttling) a number of times, cuts bodies short, or
stalls; it also counts the bytes it served, which is how benchmarks measure reads.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from moto.server import ThreadedMotoServer

from connectors import filesystems
from tests.loopback import LoopbackServer


@dataclass
class Faults:
    """What the proxy does to the next requests (counts go down as they are used)."""

    throttle: int = 0
    """Answer this many requests with 503 SlowDown first."""
    truncate_gets: int = 0
    """Cut this many GET bodies to half their length."""
    truncate_ranges: int = 0
    """Cut this many ranged GET bodies (data reads, not listings) to half their length."""
    stall_seconds: float = 0.0
    """Sleep this long before answering every request."""
    stall_only: str = ""
    """Stall only requests whose path holds this text (empty: every request)."""
    deny: bool = False
    """Answer every request 403 AccessDenied."""
    served_bytes: int = 0
    conditional: int = 0
    """Requests that carried an If-Match header."""
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FaultProxy(LoopbackServer):
    """An HTTP proxy on 127.0.0.1 (port 0) in front of ``upstream`` with ``faults``."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.faults = Faults()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                faults = proxy.faults
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with faults.lock:
                    byte_range = self.headers.get("Range", "")
                    faults.requests.append(f"{self.command} {self.path} {byte_range}")
                    faults.conditional += "If-Match" in self.headers
                    throttle = faults.throttle > 0
                    if throttle:
                        faults.throttle -= 1
                    truncate = self.command == "GET" and faults.truncate_gets > 0
                    if truncate:
                        faults.truncate_gets -= 1
                    elif self.command == "GET" and byte_range and faults.truncate_ranges > 0:
                        truncate = True
                        faults.truncate_ranges -= 1
                if faults.stall_seconds and faults.stall_only in self.path:
                    time.sleep(faults.stall_seconds)
                if faults.deny or throttle:
                    code, name = (403, "AccessDenied") if faults.deny else (503, "SlowDown")
                    payload = (f"<Error><Code>{name}</Code><Message>{name}</Message>"
                               "</Error>").encode()
                    self.send_response(code)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(upstream_host, upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = f"{upstream_host}:{upstream_port}"
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                except OSError:
                    self.send_error(502)
                    return
                finally:
                    conn.close()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length",
                                           "server", "date"):
                        self.send_header(key, value)
                sent = data[: len(data) // 2] if truncate else data
                announced = response.getheader("Content-Length") if self.command == "HEAD" \
                    else str(len(data))
                self.send_header("Content-Length", announced or "0")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(sent)
                    with faults.lock:
                        faults.served_bytes += len(sent)
                if truncate:
                    self.close_connection = True

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that hung up mid-answer is part of the faults we inject

        self._serve(Server(("127.0.0.1", 0), Handler))

    def reset(self) -> None:
        self.faults = Faults()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def _proxy(moto_server: str) -> Iterator[FaultProxy]:
    host, port = moto_server.removeprefix("http://").split(":")
    proxy = FaultProxy(host, int(port))
    yield proxy
    proxy.stop()


@pytest.fixture
def s3(moto_server: str, _proxy: FaultProxy,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """A clean S3 endpoint (behind the fault proxy) with test credentials in the env."""
    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    _proxy.reset()
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    filesystems.clear()
    yield _proxy
    filesystems.clear()
