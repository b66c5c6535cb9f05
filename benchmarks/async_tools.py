"""Tools of part 6: a watch on the event loop.

``StepMonitor`` times every callback the event loops of this process run (``asyncio.Handle._run``)
by the wall clock and by the loop thread's own CPU time (with, for the worst,
how often the loop thread blocked or was preempted in it), and counts apart
the steps in which the garbage collector ran.
``SlowCallbackLog`` collects asyncio's debug-mode slow-callback warnings.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LoopSteps", "SlowCallbackLog", "StepMonitor"]

SLOW_STEP_SECONDS = 0.005
"""A loop step longer than this is slow (asyncio debug's ``slow_callback_duration`` here)."""


@dataclass
class LoopSteps:
    """The event loop's steps while a ``StepMonitor`` watched (per callback).

    A step in which the garbage collector ran on the loop thread is counted
    apart (``collected``): a collection runs on whichever thread allocates when
    a generation fills up, takes time in proportion to the process's live
    objects, and is no part of the call the step was serving.
    """

    count: int = 0
    worst_wall: float = 0.0
    worst_wall_cpu: float = 0.0
    """The loop thread's CPU time in the step that was worst by the wall clock."""
    worst_wall_waits: int = 0
    """Times the loop thread blocked in that step (voluntary context switches: the GIL, a
    lock, a system call)."""
    worst_wall_preempted: int = 0
    """Times the operating system took the CPU from it in that step (involuntary)."""
    worst_cpu: float = 0.0
    over_limit_wall: int = 0
    over_limit_cpu: int = 0
    collected: int = 0
    """Steps in which a garbage collection ran on the loop thread (not in the above)."""
    worst_collected_wall: float = 0.0


class StepMonitor:
    """Times every callback the event loops of this process run (``Handle._run``)."""

    def __init__(self) -> None:
        self.steps = LoopSteps()
        self._original: Callable[[asyncio.Handle], None] | None = None
        self._collecting: Callable[[str, dict[str, int]], None] | None = None

    def __enter__(self) -> StepMonitor:
        original = asyncio.Handle._run
        self._original = original
        steps = self.steps
        local = threading.local()

        def collecting(phase: str, info: dict[str, int]) -> None:
            if phase == "start" and getattr(local, "in_step", False):
                local.collected = True

        def timed(handle: asyncio.Handle) -> None:
            local.in_step, local.collected = True, False
            before = resource.getrusage(resource.RUSAGE_THREAD)
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                original(handle)
            finally:
                cpu = time.thread_time() - cpu
                wall = time.perf_counter() - wall
                local.in_step = False
            if local.collected:
                steps.collected += 1
                steps.worst_collected_wall = max(steps.worst_collected_wall, wall)
                return
            steps.count += 1
            if wall > steps.worst_wall:
                after = resource.getrusage(resource.RUSAGE_THREAD)
                steps.worst_wall, steps.worst_wall_cpu = wall, cpu
                steps.worst_wall_waits = after.ru_nvcsw - before.ru_nvcsw
                steps.worst_wall_preempted = after.ru_nivcsw - before.ru_nivcsw
            steps.worst_cpu = max(steps.worst_cpu, cpu)
            steps.over_limit_wall += wall > SLOW_STEP_SECONDS
            steps.over_limit_cpu += cpu > SLOW_STEP_SECONDS

        self._collecting = collecting
        gc.callbacks.append(collecting)
        asyncio.Handle._run = timed  # type: ignore[method-assign, assignment]
        return self

    def __exit__(self, *_: object) -> None:
        if self._original is not None:
            asyncio.Handle._run = self._original  # type: ignore[method-assign, assignment]
        if self._collecting is not None:
            gc.callbacks.remove(self._collecting)


class SlowCallbackLog(logging.Handler):
    """asyncio's debug-mode warnings ``Executing <...> took 0.012 seconds``."""

    _TOOK = re.compile(r"took (\d+(?:\.\d+)?) seconds")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.durations: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = self._TOOK.search(record.getMessage())
        if found:
            self.durations.append(float(found.group(1)))
