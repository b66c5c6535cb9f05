"""``_http.OriginPool``: the event loop's own HTTP/1.1 client, against a scripted server.

The server is an asyncio server in the same loop that answers each request
with the bytes a test gives it, so every framing (length, chunked, end of
connection), keep-alive, a server closing an idle connection, and the
failures (refused, timed out, dropped mid-body) are real socket behaviour.
The adapter-level path (DynamoDB Local and S3 over HTTP through bridged
calls) is covered by the async adapter's integration tests.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from session_store._http import (
    ConnectFailed,
    ConnectionDropped,
    OriginPool,
    ReadTimedOut,
    Response,
)

Answer = Callable[[bytes], Awaitable[bytes | None]]
"""Given a request's head, the bytes to answer with (``None``: close without answering)."""


async def serve(answer: Answer, *, close_after_each: bool = False) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                reply = await answer(head)
                if reply is None:
                    return
                writer.write(reply)
                await writer.drain()
                if close_after_each:
                    return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port


def pool(port: int, *, read_timeout: float = 5.0) -> OriginPool:
    return OriginPool(
        "127.0.0.1", port, tls=None, connect_timeout=2.0, read_timeout=read_timeout, max_idle=4
    )


def request(body: bytes = b"") -> bytes:
    return (f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n").encode()


def fixed(payload: bytes) -> Answer:
    async def answer(_: bytes) -> bytes:
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )

    return answer


def test_responses_framed_every_way_are_read_whole() -> None:
    big = b"x" * 300_000

    async def chunked(_: bytes) -> bytes:
        return (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n"
            + f"{len(big):x}\r\n".encode()
            + big
            + b"\r\n0\r\nX-Trailer: 1\r\n\r\n"
        )

    async def until_close(_: bytes) -> bytes:
        return b"HTTP/1.0 503 Service Unavailable\r\nServer: old\r\n\r\nbusy"

    async def main() -> list[Response]:
        answers: list[Response] = []
        for answer, close in (
            (fixed(b'{"Item":{}}'), False),
            (chunked, False),
            (until_close, True),
        ):
            server, port = await serve(answer, close_after_each=close)
            async with server:
                answers.append(await pool(port).exchange(request(big), big))
        return answers

    length, chunk, closed = asyncio.run(main())
    assert (length.status, length.body) == (200, b'{"Item":{}}')
    assert ("Content-Type", "application/json") in length.headers
    assert (chunk.status, chunk.body) == (200, b"hello" + big)
    assert (closed.status, closed.reason, closed.body) == (503, "Service Unavailable", b"busy")


def test_connections_are_kept_and_a_closed_idle_one_is_replaced() -> None:
    async def main() -> tuple[int, int, list[bytes]]:
        server, port = await serve(fixed(b"{}"))
        bodies = []
        async with server:
            origin = pool(port)
            for _ in range(3):
                bodies.append((await origin.exchange(request(), b"")).body)
            kept = origin.opened
        # The server goes away with the idle connection; a new one is made for the next.
        server2, port2 = await serve(fixed(b"{}"), close_after_each=True)
        async with server2:
            again = pool(port2)
            for _ in range(3):
                bodies.append((await again.exchange(request(), b"")).body)
            return kept, again.opened, bodies

    kept, reopened, bodies = asyncio.run(main())
    assert kept == 1  # three exchanges, one connection
    assert reopened == 3  # each closed by the server after answering: replaced, not failed
    assert bodies == [b"{}"] * 6


def test_failures_are_told_apart() -> None:
    async def never(_: bytes) -> bytes:
        await asyncio.sleep(10)
        return b""

    async def cut(_: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"

    async def main() -> list[type[Exception]]:
        raised: list[type[Exception]] = []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        with pytest.raises(ConnectFailed) as refused:
            await pool(closed_port).exchange(request(), b"")
        raised.append(type(refused.value))
        server, port = await serve(never)
        async with server:
            with pytest.raises(ReadTimedOut) as slow:
                await pool(port, read_timeout=0.05).exchange(request(), b"")
            raised.append(type(slow.value))
        server, port = await serve(cut, close_after_each=True)
        async with server:
            with pytest.raises(ConnectionDropped) as dropped:
                await pool(port).exchange(request(), b"")
            raised.append(type(dropped.value))
        return raised

    assert asyncio.run(main()) == [ConnectFailed, ReadTimedOut, ConnectionDropped]


def test_a_head_request_reads_no_body() -> None:
    async def head_answer(_: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"

    async def main() -> tuple[Response, Response]:
        server, port = await serve(head_answer)
        async with server:
            origin = pool(port)
            first = await origin.exchange(
                b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", b"", expect_body=False
            )
            second = await origin.exchange(
                b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", b"", expect_body=False
            )
            assert origin.opened == 1  # the connection stayed in step
            return first, second

    first, second = asyncio.run(main())
    assert (first.status, first.body, second.body) == (200, b"", b"")


def test_close_closes_every_idle_connection_a_few_per_loop_step() -> None:
    """Closing dozens of connections at once is one long loop step: ``close`` ends its
    step after each few, and every idle connection is closed by the time it returns."""

    async def main() -> tuple[int, int, int]:
        server, port = await serve(fixed(b"{}"))
        async with server:
            origin = OriginPool(
                "127.0.0.1", port, tls=None, connect_timeout=2.0, read_timeout=5.0, max_idle=40
            )
            await asyncio.gather(*(origin.exchange(request(), b"") for _ in range(40)))
            idle = list(origin._idle)
            steps = 0

            async def count_steps() -> None:
                nonlocal steps
                while True:
                    steps += 1
                    await asyncio.sleep(0)

            ticker = asyncio.create_task(count_steps())
            await asyncio.sleep(0)
            before = steps
            await origin.close()
            closing_steps = steps - before
            ticker.cancel()
            closed = sum(connection.writer.is_closing() for connection in idle)
            await asyncio.sleep(0.05)  # the server's handlers see the ends before it stops
            return len(idle), closed, closing_steps

    idle, closed, closing_steps = asyncio.run(main())
    assert idle > 8  # the exchanges at once left more connections than one step closes
    assert closed == idle
    assert closing_steps >= (idle - 1) // 8  # other callbacks ran between the batches
