"""``_bridge``: synchronous code run on an event loop, its waits awaited.

The adapter-level behaviour (a loop that never waits on DynamoDB, S3 or a
backoff) is tested in ``tests/integration/test_async_event_loop.py``; these
tests pin the mechanism itself: results, errors, context, where each kind of
wait runs, and what the same code does outside a bridged call.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from session_store._bridge import (
    BridgeAwareExecutor,
    bridged,
    pause,
    run_bridged,
    wait_for_io,
    wait_futures,
    yield_to_loop,
)

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


@pytest.fixture
def io() -> Any:
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="test-io") as executor:
        yield executor


def test_results_errors_and_context_pass_through(io: ThreadPoolExecutor) -> None:
    def work(a: int, *, b: int) -> tuple[int, str, bool]:
        request_id.set("changed inside")  # a copy: the caller's value stays
        return a + b, threading.current_thread().name, bridged()

    def fails() -> None:
        raise KeyError("inside")

    async def main() -> tuple[tuple[int, str, bool], str, str]:
        request_id.set("caller's")
        seen = await run_bridged(io, request_id.get)
        result = await run_bridged(io, work, 1, b=2)
        with pytest.raises(KeyError, match="inside"):
            await run_bridged(io, fails)
        return result, seen, request_id.get()

    (total, thread, inside), seen, after = asyncio.run(main())
    assert (total, inside) == (3, True)
    assert thread == threading.main_thread().name  # the loop's own thread, not the pool's
    assert seen == "caller's"
    assert after == "caller's"
    assert not bridged()


def test_io_waits_run_on_the_executor_while_the_loop_goes_on(io: ThreadPoolExecutor) -> None:
    release = threading.Event()
    ran_on: list[str] = []

    def blocking() -> str:
        ran_on.append(threading.current_thread().name)
        assert release.wait(10)
        return "answered"

    async def main() -> tuple[str, int]:
        call = asyncio.ensure_future(run_bridged(io, wait_for_io, blocking))
        ticks = 0
        while not ran_on:  # the loop runs while the call waits for its I/O
            await asyncio.sleep(0.001)
        for _ in range(5):
            await asyncio.sleep(0)
            ticks += 1
        release.set()
        return await call, ticks

    answer, ticks = asyncio.run(main())
    assert answer == "answered"
    assert ticks == 5
    assert ran_on[0].startswith("test-io")


def test_pause_and_yield_are_loop_steps_when_bridged(io: ThreadPoolExecutor) -> None:
    order: list[str] = []

    def work() -> None:
        order.append("call starts")
        yield_to_loop()
        order.append("call after yield")
        pause(0.01)
        order.append("call after pause")

    async def other() -> None:
        order.append("other runs")

    async def main() -> None:
        call = asyncio.ensure_future(run_bridged(io, work))
        await asyncio.sleep(0)  # the call runs up to its yield
        await other()
        await call

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started >= 0.01
    assert order == ["call starts", "other runs", "call after yield", "call after pause"]


def test_outside_a_bridged_call_every_wait_blocks_as_before() -> None:
    started = time.monotonic()
    pause(0.01)
    assert time.monotonic() - started >= 0.01
    yield_to_loop()  # nothing to yield to
    assert wait_for_io(lambda: threading.current_thread().name) == threading.current_thread().name


def test_cancelling_throws_into_the_call_at_its_wait(io: ThreadPoolExecutor) -> None:
    unwound: list[str] = []

    def work() -> None:
        try:
            pause(10)
        finally:
            unwound.append("finally ran")

    async def main() -> None:
        call = asyncio.ensure_future(run_bridged(io, work))
        await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    asyncio.run(main())
    assert unwound == ["finally ran"]


def test_the_bridge_aware_executor_uses_the_loop_when_bridged_and_threads_otherwise(
    io: ThreadPoolExecutor,
) -> None:
    def job(n: int) -> tuple[int, str]:
        pause(0.001)
        return n * n, threading.current_thread().name

    def fan_out() -> list[tuple[int, str]]:
        pool = BridgeAwareExecutor(lambda: ThreadPoolExecutor(2, thread_name_prefix="fallback"))
        futures: list[Future[tuple[int, str]]] = [pool.submit(job, n) for n in range(6)]
        done, pending = wait_futures(futures[:1], first_completed=True)
        assert len(done) == 1
        assert not pending
        wait_futures(futures)
        pool.shutdown(wait=True)
        return [future.result() for future in futures]

    bridged_results = asyncio.run(run_bridged(io, fan_out))
    assert [square for square, _ in bridged_results] == [n * n for n in range(6)]
    assert {thread for _, thread in bridged_results} == {threading.main_thread().name}

    threaded = fan_out()
    assert [square for square, _ in threaded] == [n * n for n in range(6)]
    assert all(thread.startswith("fallback") for _, thread in threaded)


def test_a_failed_job_of_the_bridge_aware_executor_reaches_its_future(
    io: ThreadPoolExecutor,
) -> None:
    def boom() -> None:
        raise ValueError("batch failed")

    def fan_out() -> BaseException | None:
        pool = BridgeAwareExecutor(lambda: ThreadPoolExecutor(1))
        future = pool.submit(boom)
        wait_futures([future])
        pool.shutdown()
        return future.exception()

    error = asyncio.run(run_bridged(io, fan_out))
    assert isinstance(error, ValueError)
    assert str(error) == "batch failed"
