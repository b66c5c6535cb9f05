"""A minimal HTTP/1.1 client on asyncio: keep-alive connections to one origin, on one loop.

What the bridged calls of ``AsyncDynamoDBAdapter`` send their requests with
(``_client._BridgedHTTPSession``): the request arrives signed and encoded by
botocore, leaves as bytes on a non-blocking socket of the event loop, and
the whole response comes back as bytes for botocore to parse. No thread, so
the loop never waits for the GIL behind one.

Scope, deliberately small: one request per connection at a time (no
pipelining), bodies given as bytes, responses framed by ``Content-Length``,
``Transfer-Encoding: chunked`` or the connection's end. TLS through the
standard ``ssl`` module. Everything else (proxies, client certificates,
streaming request bodies) stays on botocore's own HTTP session, run on an
I/O thread.

Failures are this module's exceptions, which ``_client`` turns into the ones
botocore's HTTP session raises, so botocore's retry handler and the gateway
see what they always see. A connection that was idle and turns out closed by
the server before any byte of the response came back is replaced and the
request sent once more, as urllib3 does.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass

__all__ = [
    "ConnectFailed",
    "ConnectTimedOut",
    "ConnectionDropped",
    "ExchangeError",
    "OriginPool",
    "ReadTimedOut",
    "Response",
    "TlsFailed",
]

_MAX_HEAD_BYTES = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})
_CLOSED_PER_STEP = 8
"""Idle connections closed per loop step by ``OriginPool.close``."""


class ExchangeError(Exception):
    """An HTTP exchange that failed below HTTP (connecting, sending, receiving)."""


class ConnectFailed(ExchangeError):
    """No connection could be made (refused, unreachable, name not resolved)."""


class TlsFailed(ConnectFailed):
    """The TLS handshake failed (the server's certificate not trusted, say)."""


class ConnectTimedOut(ExchangeError):
    """No connection within the connect timeout."""


class ReadTimedOut(ExchangeError):
    """No (complete) response within the read timeout."""


class ConnectionDropped(ExchangeError):
    """The connection broke while the request or its response was under way."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


class _Stale(Exception):
    """A reused connection closed by the server before it answered."""


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        self.writer.close()

    @property
    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()


class OriginPool:
    """Connections to ``scheme://host:port`` on the running loop, up to ``max_idle`` kept.

    ``exchange`` sends one request and returns its whole response. The pool
    belongs to the loop it is first used on; ``close`` closes its idle
    connections.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None,
        connect_timeout: float | None,
        read_timeout: float | None,
        max_idle: int,
    ) -> None:
        self._host = host
        self._port = port
        self._tls = tls
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_idle = max_idle
        self._idle: deque[_Connection] = deque()
        self.opened = 0
        """Connections opened so far (for tests and benchmarks)."""

    async def exchange(self, head: bytes, body: bytes, *, expect_body: bool = True) -> Response:
        """Send ``head`` (request line and headers, ending in a blank line) and ``body``."""
        while self._idle:
            connection = self._idle.pop()
            if not connection.usable:
                connection.close()
                continue
            try:
                return await self._exchange_on(connection, head, body, expect_body, reused=True)
            except _Stale:
                continue
        connection = await self._connect()  # a new connection is never stale
        return await self._exchange_on(connection, head, body, expect_body, reused=False)

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self._host,
                    self._port,
                    ssl=self._tls,
                    server_hostname=self._host if self._tls is not None else None,
                    limit=_MAX_HEAD_BYTES,
                )
        except TimeoutError as error:
            raise ConnectTimedOut(f"connecting to {self._host}:{self._port} timed out") from error
        except ssl.SSLError as error:
            raise TlsFailed(f"TLS with {self._host}:{self._port} failed: {error}") from error
        except OSError as error:
            raise ConnectFailed(
                f"could not connect to {self._host}:{self._port}: {error}"
            ) from error
        self.opened += 1
        return _Connection(reader, writer)

    async def _exchange_on(
        self,
        connection: _Connection,
        head: bytes,
        body: bytes,
        expect_body: bool,
        *,
        reused: bool,
    ) -> Response:
        received_any = False
        try:
            async with asyncio.timeout(self._read_timeout):
                connection.writer.write(head + body if len(body) < 65536 else head)
                if len(body) >= 65536:
                    connection.writer.write(body)
                await connection.writer.drain()
                try:
                    raw_head = await connection.reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as error:
                    received_any = bool(error.partial)
                    raise
                received_any = True
                status, reason, headers, length, chunked, keep_alive = _parse_head(raw_head)
                if not expect_body or status in _NO_BODY_STATUSES or 100 <= status < 200:
                    payload = b""
                elif chunked:
                    payload = await _read_chunked(connection.reader)
                elif length is not None:
                    payload = await connection.reader.readexactly(length)
                else:
                    payload = await connection.reader.read()
                    keep_alive = False
        except TimeoutError as error:
            connection.close()
            raise ReadTimedOut(f"no response from {self._host}:{self._port} in time") from error
        except (asyncio.IncompleteReadError, OSError, ssl.SSLError, ValueError) as error:
            connection.close()
            if reused and not received_any:
                raise _Stale from error
            raise ConnectionDropped(
                f"connection to {self._host}:{self._port} broke: {error!r}"
            ) from error
        except asyncio.LimitOverrunError as error:
            connection.close()
            raise ConnectionDropped("response head too large") from error
        except BaseException:
            connection.close()  # cancelled mid-exchange: the connection's state is unknown
            raise
        if keep_alive and len(self._idle) < self._max_idle:
            self._idle.append(connection)
        else:
            connection.close()
        return Response(status, reason, headers, payload)

    async def close(self) -> None:
        """Close the idle connections, ``_CLOSED_PER_STEP`` per loop step: each close
        schedules callbacks of its own, and dozens at once make one long step."""
        while self._idle:
            for _ in range(min(_CLOSED_PER_STEP, len(self._idle))):
                self._idle.pop().close()
            if self._idle:
                await asyncio.sleep(0)


def _parse_head(
    raw: bytes,
) -> tuple[int, str, list[tuple[str, str]], int | None, bool, bool]:
    """Status, reason, headers, Content-Length, chunked, keep-alive of a response head."""
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ConnectionDropped(f"not an HTTP/1.x response: {lines[0][:80]!r}")
    headers: list[tuple[str, str]] = []
    length: int | None = None
    chunked = False
    keep_alive = version == "HTTP/1.1"
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        headers.append((name, value))
        lowered = name.lower()
        if lowered == "content-length" and value.isdigit():
            length = int(value)
        elif lowered == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif lowered == "connection":
            token = value.lower()
            keep_alive = "close" not in token and (keep_alive or "keep-alive" in token)
    return int(code), reason, headers, length, chunked, keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the end
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
