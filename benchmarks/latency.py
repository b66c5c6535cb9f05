"""A TCP proxy on the loopback interface that delays every byte by a fixed time each way.

DynamoDB Local on the same machine answers in a millisecond or two; DynamoDB
itself is a network round trip away. ``LatencyProxy`` puts that round trip
back: every chunk read from one side is written to the other ``delay``
seconds later (10 ms by default, so 20 ms a round trip), in order, without
limiting bandwidth. It exists to measure what sending requests side by side
buys (``benchmarks.deletes``).

Bounded and self-stopping: it listens on 127.0.0.1 only, forwards to a
loopback target only, accepts at most ``max_connections`` connections at
once (others are closed at once), holds at most ``max_pending`` chunks per
direction (a full queue stops reading from that side), and shuts down after
``lifetime`` seconds even if never told to. It runs its own event loop on a
daemon thread; use it as a context manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

__all__ = ["LatencyProxy"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_CHUNK = 65_536


class LatencyProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target_url``'s host and port, ``delay`` s each way."""

    def __init__(
        self,
        target_url: str,
        *,
        delay: float = 0.010,
        max_connections: int = 64,
        max_pending: int = 256,
        lifetime: float = 1_800.0,
    ) -> None:
        target = urlsplit(target_url)
        if target.hostname not in _LOOPBACK or target.port is None:
            raise ValueError(f"the proxy forwards to a loopback host:port only, not {target_url}")
        if not 0 <= delay <= 1 or max_connections < 1 or max_pending < 1 or lifetime <= 0:
            raise ValueError("delay must be 0..1 s; the bounds and lifetime must be positive")
        self._target = (target.hostname, target.port)
        self.delay = delay
        self._max_connections = max_connections
        self._max_pending = max_pending
        self._lifetime = lifetime
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._port = 0
        self._failure: BaseException | None = None
        self.connections = 0
        """Connections accepted so far (for reports)."""

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._failure is not None:
            raise RuntimeError(f"the latency proxy did not start: {self._failure!r}")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # already stopped by itself
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to __enter__ if it failed to start
            self._failure = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        slots = asyncio.Semaphore(self._max_connections)
        tasks: set[asyncio.Task[None]] = set()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if slots.locked():
                writer.close()
                return
            async with slots:
                self.connections += 1
                task = asyncio.current_task()
                if task is not None:
                    tasks.add(task)
                try:
                    with contextlib.suppress(asyncio.CancelledError):  # stopping: drop it
                        await self._pipe(reader, writer)
                finally:
                    if task is not None:
                        tasks.discard(task)

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._lifetime)
            server.close()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _pipe(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self._target)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(
                self._direction(client_r, server_w), self._direction(server_r, client_w)
            )
        finally:
            for writer in (client_w, server_w):
                writer.close()

    async def _direction(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction: each chunk written ``delay`` after it was read, in order."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(self._max_pending)

        async def read() -> None:
            try:
                while chunk := await reader.read(_CHUNK):
                    await queue.put((time.monotonic() + self.delay, chunk))
            except (ConnectionError, OSError):
                pass
            await queue.put((time.monotonic() + self.delay, b""))

        async def write() -> None:
            while True:
                due, chunk = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not chunk:
                    with contextlib.suppress(OSError, RuntimeError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                writer.write(chunk)
                try:
                    await writer.drain()
                except (ConnectionError, OSError):
                    return

        await asyncio.gather(read(), write())
