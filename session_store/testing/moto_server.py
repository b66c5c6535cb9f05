"""moto's DynamoDB (and S3, for offloaded messages) served over HTTP, one request at a time.

moto's own ``ThreadedMotoServer`` handles requests on parallel threads, and
moto copies and restores whole tables in transactions without a lock, so
concurrent clients (threads, processes) see moto's races instead of
DynamoDB's semantics: counters kept by transactions drift. ``MotoServer``
serves the same application behind a lock. It also binds in the caller's
thread, so a port already in use is an ``OSError`` at ``start()`` rather than
a server thread that dies while ``start()`` waits for it forever.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self

__all__ = ["MotoServer"]


class MotoServer:
    """An in-process DynamoDB and S3 endpoint (moto) on ``host:port``; ``port=0`` picks one.

    Use as a context manager, or ``start()`` (returns the endpoint URL) and
    ``stop()``. Requires moto's server extra (``session-store[local]``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        """Bind and serve in a background thread; the endpoint URL."""
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        application = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialised(
            environ: dict[str, Any], start_response: Callable[..., Any]
        ) -> Iterable[bytes]:
            with lock:
                # moto builds the whole response body before returning it.
                return list(application(environ, start_response))

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access-log line per request
        # Bound here (werkzeug would print and sys.exit on a taken port); it serves a copy.
        with socket.create_server((self._host, self._port)) as listening:
            self._server = make_server(
                self._host,
                listening.getsockname()[1],
                serialised,
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=listening.fileno(),
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moto-server", daemon=True
        )
        self._thread.start()
        return self.endpoint_url

    def stop(self) -> None:
        """Stop serving and release the port; idempotent."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
