"""Synchronous code run on an event loop: waits become awaits, the rest stays in short steps.

The adapter's code is synchronous: validation, building requests, botocore's
serialising, signing and parsing, decoding items. ``run_bridged`` runs such a
function on the event loop's own thread, inside a greenlet; wherever that
code would block, it calls one of this module's waiting points instead, and
the greenlet hands the wait to the loop as an awaitable and is resumed with
its result:

- ``wait_for(awaitable)``: an awaitable of the loop's own (an HTTP exchange
  on the loop's sockets, ``_http``);
- ``wait_for_io(function, *args)``: a blocking call (botocore's own HTTP
  session, where the loop's client does not apply) on the bridge's I/O
  executor;
- ``pause(seconds)``: a backoff sleep (``asyncio.sleep`` on the loop);
- ``yield_to_loop()``: no wait, only the end of a loop step, between two long
  stretches of CPU work (encoding a multi-megabyte request, then hashing it
  for its signature; parsing a 1 MB page, then decoding its items);
- ``BridgeAwareExecutor``/``wait_futures``: parallel work started from the
  bridged code runs as further bridged calls on the same loop.

Outside a bridged call (a plain thread, the sync adapter) every waiting point
blocks as before: one code path serves both. So the loop never waits for the
network or a backoff, the CPU of a call runs between its waits in steps the
length of its own work, and no thread holding the GIL stands between the
loop and its next step (the design of ``AsyncDynamoDBAdapter``).

greenlet is the switching mechanism SQLAlchemy's asyncio support is built on;
this module is the same idea, reduced to what the adapter needs.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, Future
from concurrent.futures import wait as wait_blocking
from typing import Any, ParamSpec, TypeVar, cast

import greenlet

__all__ = [
    "BridgeAwareExecutor",
    "bridged",
    "pause",
    "run_bridged",
    "wait_for",
    "wait_for_io",
    "wait_futures",
    "yield_to_loop",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class _BridgedCall(greenlet.greenlet):
    """The greenlet one bridged call runs in; ``driver`` awaits on its behalf."""

    def __init__(
        self, function: Callable[..., Any], driver: greenlet.greenlet, io: Executor
    ) -> None:
        super().__init__(function, driver)
        self.driver = driver
        self.io = io


def _current_call() -> _BridgedCall | None:
    current = greenlet.getcurrent()
    return current if isinstance(current, _BridgedCall) else None


def bridged() -> bool:
    """Whether the caller runs inside ``run_bridged`` (its waits are awaited by a loop)."""
    return _current_call() is not None


def _await(call: _BridgedCall, awaitable: Awaitable[_T]) -> _T:
    """Hand ``awaitable`` to the loop and sleep until it is done; its result or error."""
    return cast(_T, call.driver.switch(awaitable))


async def run_bridged(
    io: Executor, function: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
) -> _T:
    """Run ``function(*args, **kwargs)`` on this thread, awaiting wherever it waits.

    ``io`` runs its blocking calls (``wait_for_io``). The function sees a copy
    of the caller's ``contextvars`` (as ``asyncio.to_thread`` gives). Its
    result is returned and its exception raised here. Cancelling this
    coroutine throws ``CancelledError`` into the function at the wait it is
    in (callers that must not be interrupted shield the task running this).
    """
    call = _BridgedCall(function, greenlet.getcurrent(), io)
    call.gr_context = contextvars.copy_context()
    request: Any = call.switch(*args, **kwargs)
    while not call.dead:
        try:
            value = await request
        except BaseException as error:
            request = call.throw(error)
        else:
            request = call.switch(value)
    return cast(_T, request)


def wait_for(awaitable: Awaitable[_T]) -> _T:
    """Await ``awaitable`` on the loop and return its result; only inside a bridged call
    (``RuntimeError`` elsewhere: there is no loop to await it on)."""
    call = _current_call()
    if call is None:
        raise RuntimeError("wait_for() outside a bridged call")
    return _await(call, awaitable)


def wait_for_io(function: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``function(*args, **kwargs)``: on the bridge's I/O executor when bridged (the loop
    runs meanwhile), else right here."""
    call = _current_call()
    if call is None:
        return function(*args, **kwargs)
    loop = asyncio.get_running_loop()
    return _await(call, loop.run_in_executor(call.io, lambda: function(*args, **kwargs)))


def yield_to_loop() -> None:
    """Bridged, end the loop step here and resume in a later one (other callbacks and
    calls run between); otherwise nothing. Between two long stretches of one call's
    CPU work, so that no single step of the loop holds both."""
    call = _current_call()
    if call is not None:
        _await(call, asyncio.sleep(0))


def pause(seconds: float) -> None:
    """Sleep ``seconds``: ``asyncio.sleep`` when bridged, ``time.sleep`` otherwise."""
    call = _current_call()
    if call is None:
        time.sleep(seconds)
    else:
        _await(call, asyncio.sleep(seconds))


class BridgeAwareExecutor(Executor):
    """Parallel work for code that may run bridged.

    Bridged, ``submit`` starts the function as another bridged call on the same
    loop (its waits awaited like the caller's; no thread); otherwise it goes to
    ``fallback()``, a thread pool made on first use. ``shutdown`` waits for
    what was submitted either way. Wait for its futures with ``wait_futures``.
    """

    def __init__(self, fallback: Callable[[], Executor]) -> None:
        self._make_fallback = fallback
        self._fallback: Executor | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        call = _current_call()
        if call is None:
            if self._fallback is None:
                self._fallback = self._make_fallback()
            return self._fallback.submit(fn, *args, **kwargs)
        done: Future[_T] = Future()
        done.set_running_or_notify_cancel()
        task = asyncio.get_running_loop().create_task(run_bridged(call.io, fn, *args, **kwargs))
        self._tasks.add(task)

        def settle(finished: asyncio.Task[_T]) -> None:
            self._tasks.discard(finished)
            if finished.cancelled():
                done.set_exception(asyncio.CancelledError())
            elif (error := finished.exception()) is not None:
                done.set_exception(error)
            else:
                done.set_result(finished.result())

        task.add_done_callback(settle)
        return done

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._fallback is not None:
            self._fallback.shutdown(wait=wait, cancel_futures=cancel_futures)
        if wait and self._tasks:
            call = _current_call()
            if call is not None:
                _await(call, asyncio.wait(set(self._tasks)))


def wait_futures(
    futures: Iterable[Future[_T]], *, first_completed: bool = False
) -> tuple[set[Future[_T]], set[Future[_T]]]:
    """``concurrent.futures.wait`` (all, or ``FIRST_COMPLETED``); awaited on the loop when
    bridged, so futures of bridged calls on the same loop can finish meanwhile."""
    pending = set(futures)
    call = _current_call()
    if call is None:
        done, not_done = wait_blocking(
            pending, return_when=FIRST_COMPLETED if first_completed else "ALL_COMPLETED"
        )
        return set(done), set(not_done)
    if not pending:
        return set(), set()
    wrapped = {asyncio.wrap_future(future): future for future in pending}
    when = asyncio.FIRST_COMPLETED if first_completed else asyncio.ALL_COMPLETED
    finished, _ = _await(call, asyncio.wait(wrapped, return_when=when))
    done = {wrapped[task] for task in finished}
    return done, pending - done
