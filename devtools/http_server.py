"""A local HTTP server that hands every POST to a function, on a thread of its own.

What the test endpoints (``auth_server.py``, ``laravel.py``) share: it listens on a
free port of 127.0.0.1 (optionally with TLS), takes concurrent connections (a
backlog of 128: the default 5 drops connects made at once), logs nothing, and stops
with its thread.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["PostServer"]


class PostServer:
    """``handle(request)`` for each POST; :meth:`stop` ends the thread."""

    def __init__(
        self,
        handle: Callable[[BaseHTTPRequestHandler], None],
        name: str,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            request_queue_size = 128

        self._server: ThreadingHTTPServer | None = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = threading.Thread(
            target=self._server.serve_forever, name=name, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._server is not None
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Stop listening and wait for the thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
