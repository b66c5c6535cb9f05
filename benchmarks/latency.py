"""A TCP proxy on the loopback interface that delays every byte by a fixed time each way.

DynamoDB Local on the same machine answers in a millisecond or two; DynamoDB
itself is a network round trip away. ``LatencyProxy`` puts that round trip
back: every chunk read from one side is written to the other ``delay``
seconds later (10 ms by default, so 20 ms a round trip), in order, without
limiting bandwidth. It exists to measure what sending requests side by side
buys (``benchmarks.deletes``) and what a round trip costs the async adapter
(``benchmarks.async_latency``).

It is built on asyncio's protocol callbacks, with one timer at a time per
direction and no task per connection or chunk, so that its own CPU time,
which on a two-core machine is taken from the client and the server it sits
between, stays a small share of theirs (part 6 reports it per call).

Bounded and self-stopping: it listens on 127.0.0.1 only, forwards to a
loopback target only, accepts at most ``max_connections`` connections at
once (others are closed at once), holds at most ``max_pending`` chunks per
direction (a full queue stops reading from that side), and shuts down after
``lifetime`` seconds even if never told to. It runs its own event loop on a
daemon thread; use it as a context manager. ``proxy_process`` runs one in a
child process instead, so that its work takes none of the measuring
process's CPU time or GIL (every part that measures through it does).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

__all__ = ["LatencyProxy", "ProxyProcess", "proxy_process"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_EOF = b""
"""Queued for end of input (a read never delivers an empty chunk)."""


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
        self._open: set[_Side] = set()
        """Every connected socket, both sides: aborted when the proxy stops."""
        self._clients = 0
        """Client connections open now (bounded by ``max_connections``)."""
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
        self._loop = loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await loop.create_server(self._accepted, "127.0.0.1", 0)
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._lifetime)
            server.close()
            for side in list(self._open):
                side.abort()

    def _accepted(self) -> _Side:
        return _Side(self, upstream=False)

    def _admit(self, client: _Side) -> bool:
        """A client connected: refused over the bound, else its server side is dialled."""
        if self._clients >= self._max_connections:
            return False
        self._clients += 1
        self.connections += 1
        self._open.add(client)
        assert self._loop is not None
        self._loop.create_task(self._dial(client))
        return True

    async def _dial(self, client: _Side) -> None:
        assert self._loop is not None
        try:
            _, server = await self._loop.create_connection(
                lambda: _Side(self, upstream=True), *self._target
            )
        except OSError:
            client.abort()
            return
        self._open.add(server)
        client.link(server)

    def _closed(self, side: _Side, *, upstream: bool) -> None:
        if side in self._open and not upstream:
            self._clients -= 1
        self._open.discard(side)


class _Side(asyncio.Protocol):
    """One socket of a proxied connection.

    What it reads is queued with the time it is due, and written to its peer
    when due, by one timer at a time per direction, so chunks keep their order
    and the proxy spends one callback per chunk. A queue of ``max_pending``
    chunks, or a peer that cannot write as fast, pauses reading from this
    side. End of input and close are forwarded the same ``delay`` later.
    """

    def __init__(self, proxy: LatencyProxy, *, upstream: bool) -> None:
        self._proxy = proxy
        self._upstream = upstream
        self._loop = asyncio.get_running_loop()  # made by the proxy's loop, for it
        self._transport: asyncio.Transport | None = None
        self._peer: _Side | None = None
        self._queue: deque[tuple[float, bytes | None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._paused = False
        self._peer_full = False
        self._read_done = False
        """This socket's end of input was read."""
        self._write_done = False
        """End of input was forwarded to this socket."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self._upstream:
            return
        transport.pause_reading()  # until the server side is connected
        if not self._proxy._admit(self):
            transport.close()

    def link(self, peer: _Side) -> None:
        """Both sides connected: each forwards to the other from now on."""
        if self._transport is None or self._transport.is_closing():
            peer.abort()  # the client left while its server side was dialled
            return
        self._peer, peer._peer = peer, self
        for side in (self, peer):
            if side._transport is not None and not side._transport.is_closing():
                side._transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self._enqueue(data)

    def eof_received(self) -> bool:
        self._read_done = True
        self._enqueue(_EOF)
        self._close_when_done()
        return True  # half-closed: the other direction goes on

    def connection_lost(self, exc: Exception | None) -> None:
        self._proxy._closed(self, upstream=self._upstream)
        self._enqueue(None)

    def pause_writing(self) -> None:  # this side's socket is behind: stop reading the peer
        if self._peer is not None:
            self._peer._peer_full = True
            self._peer._update_reading()

    def resume_writing(self) -> None:
        if self._peer is not None:
            self._peer._peer_full = False
            self._peer._update_reading()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _enqueue(self, chunk: bytes | None) -> None:
        loop = self._loop
        self._queue.append((loop.time() + self._proxy.delay, chunk))
        if self._timer is None:
            self._timer = loop.call_at(self._queue[0][0], self._deliver)
        self._update_reading()

    def _deliver(self) -> None:
        self._timer = None
        loop = self._loop
        now = loop.time()
        peer = self._peer._transport if self._peer is not None else None
        while self._queue and self._queue[0][0] <= now:
            _, chunk = self._queue.popleft()
            if peer is None or peer.is_closing():
                continue
            if chunk is None:
                peer.close()  # after what is buffered
            elif not chunk:  # _EOF
                if peer.can_write_eof():
                    peer.write_eof()
                assert self._peer is not None
                self._peer._write_done = True
                self._peer._close_when_done()
            else:
                peer.write(chunk)
        if self._queue:
            self._timer = loop.call_at(self._queue[0][0], self._deliver)
        self._update_reading()

    def _close_when_done(self) -> None:
        """Both directions ended on this socket: it is closed (after what is buffered)."""
        if self._read_done and self._write_done and self._transport is not None:
            self._transport.close()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing() or self._peer is None:
            return
        full = self._peer_full or len(self._queue) >= self._proxy._max_pending
        if full and not self._paused:
            transport.pause_reading()
        elif self._paused and not full:
            transport.resume_reading()
        self._paused = full


@dataclass(frozen=True)
class ProxyProcess:
    """A running ``proxy_process``."""

    endpoint_url: str
    pid: int | None


def _serve_proxy(target_url: str, delay: float, connection: Connection) -> None:
    with LatencyProxy(target_url, delay=delay, max_connections=1_024) as proxy:
        connection.send(proxy.endpoint_url)
        connection.recv()  # until told to stop (or the parent is gone)


@contextmanager
def proxy_process(target_url: str, delay: float = 0.010) -> Iterator[ProxyProcess]:
    """A ``LatencyProxy`` in a child process; yields its endpoint URL and process id."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_serve_proxy, args=(target_url, delay, child), name="latency-proxy", daemon=True
    )
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the latency proxy process did not start")
        yield ProxyProcess(str(parent.recv()), process.pid)
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.kill()
