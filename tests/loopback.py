"""A test HTTP server on 127.0.0.1 (port 0), served from a thread until stopped."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer


class LoopbackServer:
    """Base for the test servers: start ``server`` in a thread; ``url``; ``stop``."""

    server: ThreadingHTTPServer

    def _serve(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
