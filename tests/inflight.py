"""A loopback TCP proxy that counts the requests in flight at the server, and can hold them.

``InFlightGate(target_url, hold_until=N)`` forwards ``127.0.0.1:<port>`` to
``target_url`` (DynamoDB Local) and counts, per connection, a request from its
first byte to the first byte of its response (HTTP/1.1 without pipelining, as
urllib3 sends it: one request at a time per connection). Every response is
held until ``N`` requests are in flight at once, so ``max_in_flight`` reaching
``N`` proves that ``N`` requests were at the server together, whatever the
machine's speed. If that never happens, the responses are let go after
``give_up`` seconds (so a failing test ends) and ``max_in_flight`` says how
many overlapped. Counts, never times, are what tests assert.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

__all__ = ["InFlightGate"]

_CHUNK = 65_536


class InFlightGate:
    """Counts concurrent requests and connections between a client and ``target_url``."""

    def __init__(self, target_url: str, *, hold_until: int, give_up: float = 30.0) -> None:
        target = urlsplit(target_url)
        if target.hostname is None or target.port is None:
            raise ValueError(f"need a host:port to forward to, not {target_url}")
        self._target = (target.hostname, target.port)
        self._hold_until = hold_until
        self._give_up = give_up
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._released: asyncio.Event | None = None
        self._port = 0
        self.in_flight = 0
        self.max_in_flight = 0
        """The most requests at the server at one time."""
        self.requests = 0
        self.connections = 0
        """Connections the client opened."""

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the in-flight gate did not start")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._released = asyncio.Event()
        self._loop.call_later(self._give_up, self._released.set)
        tasks: set[asyncio.Task[None]] = set()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            with self._lock:
                self.connections += 1
            try:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._pipe(reader, writer)
            finally:
                tasks.discard(task)

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _pipe(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self._target)
        awaiting = False  # a request of this connection is at the server, unanswered
        released = self._released
        assert released is not None

        async def requests() -> None:
            nonlocal awaiting
            while chunk := await client_r.read(_CHUNK):
                if not awaiting:
                    awaiting = True
                    with self._lock:
                        self.requests += 1
                        self.in_flight += 1
                        self.max_in_flight = max(self.max_in_flight, self.in_flight)
                        if self.in_flight >= self._hold_until:
                            released.set()
                server_w.write(chunk)
                await server_w.drain()
            server_w.close()

        async def responses() -> None:
            nonlocal awaiting
            while chunk := await server_r.read(_CHUNK):
                await released.wait()
                if awaiting:
                    awaiting = False
                    with self._lock:
                        self.in_flight -= 1
                client_w.write(chunk)
                await client_w.drain()
            client_w.close()

        try:
            await asyncio.gather(requests(), responses())
        except (ConnectionError, OSError):
            pass
        finally:
            client_w.close()
            server_w.close()
