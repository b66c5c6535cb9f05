"""What an event loop's thread calls while a test runs async code: every function,
recorded by a profiler on that thread, and which of them block it.

``AsyncDynamoDBAdapter`` runs a call's own work on the loop thread (in short
steps) and every wait off it: socket I/O on its I/O threads, backoff as
``asyncio.sleep``. A blocking call recorded on the loop thread is a wait the
loop sat through.
"""

from __future__ import annotations

import sys
import threading
from types import FrameType
from typing import Any

__all__ = ["BLOCKING", "LoopThreadCalls", "wait_for_io_threads"]

BLOCKING = (
    "urllib3.",
    "http.client.",
    "time.sleep",
    "threading.Event.wait",
    "threading.Condition.wait",
    "concurrent.futures._base.wait",
)
"""Calls that wait: HTTP exchanges, sleeps, waits for another thread."""


_NOT_WAITING = ("close", "flush", "release_conn", "__del__")
"""Closing what is already done with: a response read to the end, a collected client's
connection pool (finalisers run on whichever thread collects the object). No waiting."""


_THREAD_START = threading.Thread.start.__code__
_POLLS = (threading.Condition.wait.__code__, threading.Event.wait.__code__)


def _is_socket_io(name: str) -> bool:
    return "socket" in name and any(verb in name for verb in ("send", "recv", "connect"))


class LoopThreadCalls:
    """Every function called on the current thread while active: ``module.qualname``."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self._starting: FrameType | None = None

    def _record(self, frame: FrameType, event: str, arg: Any) -> None:
        # Starting a thread waits until it runs (asyncio's default executor starts its
        # threads on first use, in ``to_thread``): not counted, nor what it calls.
        if self._starting is not None:
            if event == "return" and frame is self._starting:
                self._starting = None
            return
        if event == "call" and frame.f_code is _THREAD_START:
            self._starting = frame
            return
        if event == "call":
            if frame.f_code in _POLLS and frame.f_locals.get("timeout") == 0:
                return  # a poll (a thread pool checking for an idle thread): no wait
            module = frame.f_globals.get("__name__", "?")
            self.names.add(f"{module}.{frame.f_code.co_qualname}")
        elif event == "c_call":
            if frame.f_globals.get("__name__", "").startswith("asyncio"):
                return  # the loop's own (its self-pipe's non-blocking reads, its poll)
            module = getattr(arg, "__module__", None) or type(getattr(arg, "__self__", None))
            self.names.add(f"{module}.{getattr(arg, '__qualname__', repr(arg))}")

    def __enter__(self) -> LoopThreadCalls:
        sys.setprofile(self._record)
        return self

    def __exit__(self, *_: object) -> None:
        sys.setprofile(None)

    def blocking(self) -> list[str]:
        """The calls recorded that wait (see ``BLOCKING``), socket sends and receives too."""
        return sorted(
            name
            for name in self.names
            if (name.startswith(BLOCKING) or _is_socket_io(name))
            and not any(part in name.rsplit(".", 1)[-1] for part in _NOT_WAITING)
        )

    def ran(self, prefix: str) -> bool:
        return any(name.startswith(prefix) for name in self.names)


def wait_for_io_threads() -> None:
    """Join the threads that start adapters' I/O threads (they end once all are started)."""
    for thread in threading.enumerate():
        if thread.name == "session-store-aio-start":
            thread.join(30)
