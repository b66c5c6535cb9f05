"""The benchmarks' latency proxy forwards every byte, in order, late, and within its bounds.

Against a real asyncio echo server on the loopback interface. The one time
asserted is a lower bound: a round trip through the proxy cannot be shorter
than the two delays it adds.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable

import pytest

from benchmarks.environment import process_cpu_seconds, thread_cpu_seconds
from benchmarks.latency import LatencyProxy, proxy_process

pytestmark = pytest.mark.backends("moto")  # no backend used: run once

DELAY = 0.02


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echoes everything, then closes after the client's end of input."""
    while chunk := await reader.read(65_536):
        writer.write(chunk)
        await writer.drain()
    writer.close()


async def _closed_by_proxy(reader: asyncio.StreamReader) -> bool:
    """True once the connection ends with nothing read: by a close, or a reset if unread."""
    try:
        return await reader.read(-1) == b""
    except ConnectionResetError:  # closed with our bytes unread
        return True


def _through_proxy(
    scenario: Callable[[str, int], Awaitable[None]], *, max_connections: int = 64
) -> None:
    """Runs ``scenario(host, port)`` against an echo server behind a ``LatencyProxy``."""

    async def main() -> None:
        server = await asyncio.start_server(_echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            with LatencyProxy(
                f"http://127.0.0.1:{port}", delay=DELAY, max_connections=max_connections
            ) as proxy:
                address = proxy.endpoint_url.removeprefix("http://")
                host, proxy_port = address.rsplit(":", 1)
                await scenario(host, int(proxy_port))

    asyncio.run(main())


def test_large_payload_arrives_whole_and_in_order() -> None:
    payload = os.urandom(6_000_000)  # far more than the queue's 256 chunks at once

    async def scenario(host: str, port: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)

        async def send() -> None:
            for start in range(0, len(payload), 100_000):
                writer.write(payload[start : start + 100_000])
                await writer.drain()
            writer.write_eof()

        sending = asyncio.create_task(send())
        echoed = await reader.read(-1)  # until the server's close reaches us
        await sending
        writer.close()
        assert len(echoed) == len(payload)
        assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()

    _through_proxy(scenario)


def test_round_trip_takes_at_least_both_delays() -> None:
    async def scenario(host: str, port: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        trips = []
        for number in range(3):
            started = time.monotonic()
            writer.write(b"ping %d" % number)
            assert await reader.readexactly(6) == b"ping %d" % number
            trips.append(time.monotonic() - started)
        writer.close()
        assert min(trips) >= 2 * DELAY * 0.95  # the event loop's clock may round a little

    _through_proxy(scenario)


def test_connections_over_the_bound_are_closed() -> None:
    async def scenario(host: str, port: int) -> None:
        first_reader, first = await asyncio.open_connection(host, port)
        first.write(b"hello")
        assert await first_reader.readexactly(5) == b"hello"
        second_reader, second = await asyncio.open_connection(host, port)
        assert await _closed_by_proxy(second_reader)  # closed at once, nothing forwarded
        second.close()
        first.close()
        await first.wait_closed()
        await asyncio.sleep(4 * DELAY)  # the close reaches the proxy and its server side
        third_reader, third = await asyncio.open_connection(host, port)
        third.write(b"again")
        assert await third_reader.readexactly(5) == b"again"  # the slot was freed
        third.close()

    _through_proxy(scenario, max_connections=1)


def test_unreachable_target_closes_the_client() -> None:
    async def main() -> None:
        probe = await asyncio.start_server(_echo, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()  # nothing listens on ``port`` any more
        with LatencyProxy(f"http://127.0.0.1:{port}", delay=DELAY) as proxy:
            host, proxy_port = proxy.endpoint_url.removeprefix("http://").rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(proxy_port))
            writer.write(b"anyone?")
            assert await _closed_by_proxy(reader)
            writer.close()

    asyncio.run(main())


@pytest.mark.parametrize("url", ["http://example.com:80", "http://127.0.0.1"])
def test_forwards_to_a_loopback_port_only(url: str) -> None:
    with pytest.raises(ValueError, match="loopback host:port"):
        LatencyProxy(url)


@pytest.mark.skipif(sys.platform != "linux", reason="CPU time of other processes read from /proc")
def test_proxy_process_forwards_and_its_cpu_time_is_read() -> None:
    async def main() -> None:
        server = await asyncio.start_server(_echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            with proxy_process(f"http://127.0.0.1:{port}", delay=DELAY) as proxy:
                assert proxy.pid is not None
                assert proxy.pid != os.getpid()
                host, proxy_port = proxy.endpoint_url.removeprefix("http://").rsplit(":", 1)
                reader, writer = await asyncio.open_connection(host, int(proxy_port))
                writer.write(b"through a child process")
                assert await reader.readexactly(23) == b"through a child process"
                writer.close()
                spent = process_cpu_seconds(proxy.pid)
                assert spent is not None
                assert spent > 0  # the child's interpreter start-up alone takes CPU

    asyncio.run(main())


def test_cpu_time_of_an_unknown_process_is_none() -> None:
    assert process_cpu_seconds(None) is None
    assert process_cpu_seconds(2**22 + 12_345) is None  # above Linux's largest pid


@pytest.mark.skipif(sys.platform != "linux", reason="threads' names and CPU time from /proc")
def test_cpu_time_of_named_threads_is_read_and_summed() -> None:
    libc = ctypes.CDLL(None)
    pr_set_name = 15

    def spin(name: bytes) -> None:
        libc.prctl(pr_set_name, ctypes.c_char_p(name), 0, 0, 0)  # the OS thread's own name
        started = time.thread_time()
        while time.thread_time() - started < 0.05:
            pass

    spun, release = threading.Semaphore(0), threading.Event()

    def spin_then_wait(name: bytes) -> None:
        spin(name)
        spun.release()
        release.wait(10)  # alive (and in /proc) until read

    holders = [threading.Thread(target=spin_then_wait, args=(b"spinner-%d" % n,)) for n in range(2)]
    for holder in holders:
        holder.start()
    try:
        assert all(spun.acquire(timeout=10) for _ in holders)
        spent = thread_cpu_seconds(os.getpid(), "spinner-")
        assert spent is not None
        assert spent >= 0.08  # both threads' 50 ms of CPU, summed, in clock ticks
        assert thread_cpu_seconds(os.getpid(), "no-such-thread") is None
        whole = process_cpu_seconds(os.getpid())
        assert whole is not None
        assert whole >= spent
    finally:
        release.set()
        for holder in holders:
            holder.join()
    assert thread_cpu_seconds(None, "spinner-") is None
