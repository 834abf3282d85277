"""A minimal Iceberg REST catalog server for tests, on 127.0.0.1 (port 0).

It serves the two endpoints a reader needs — ``GET /v1/config`` and ``GET
/v1/namespaces/{ns}/tables/{table}`` — from a real pyiceberg SQL catalog, answering with
the table's metadata file as written.  pyiceberg's own RestCatalog client talks to it
over HTTP, so the REST configuration path is exercised end to end.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

from tests.loopback import LoopbackServer


class RestCatalogServer(LoopbackServer):
    """Serves ``catalog`` (a pyiceberg catalog) until :meth:`stop`."""

    def __init__(self, catalog: Any) -> None:
        self.catalog = catalog
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                path = urlparse(self.path).path
                outer.requests.append(path)
                parts = [unquote(p) for p in path.strip("/").split("/")]
                if parts == ["v1", "config"]:
                    self._send(200, {"defaults": {}, "overrides": {}})
                    return
                if len(parts) == 5 and parts[:2] == ["v1", "namespaces"] and \
                        parts[3] == "tables":
                    try:
                        table = outer.catalog.load_table(f"{parts[2]}.{parts[4]}")
                    except (NoSuchTableError, NoSuchNamespaceError):
                        self._send(404, {"error": {"message": "Table does not exist",
                                                   "type": "NoSuchTableException",
                                                   "code": 404}})
                        return
                    with table.io.new_input(table.metadata_location).open() as handle:
                        metadata = json.load(handle)
                    self._send(200, {"metadata-location": table.metadata_location,
                                     "metadata": metadata, "config": {}})
                    return
                self._send(404, {"error": {"message": f"no route {path}",
                                           "type": "NotFoundException", "code": 404}})

        self._serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
