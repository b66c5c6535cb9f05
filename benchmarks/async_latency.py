"""Part 6: ``AsyncDynamoDBAdapter`` under a real round trip, against the same work without one.

A ``LatencyProxy`` (10 ms each way) runs in a child process in front of
DynamoDB Local, so it takes none of the client's CPU or GIL: the CPU time of
this process is the client's alone.

The workload is part 4's: N conversations at once, each a ``create_session``
and 5 ``add_message`` calls in order (tasks started 50 per loop step, then
gathered), through ``AsyncDynamoDBAdapter`` with default settings, straight
to DynamoDB Local and through the proxy, at 200 and 1,000 conversations; the
same with ``max_workers=16`` beside it. Modes alternate for
the configured rounds; the fastest round of each counts. Target: ≥ 95 % of
the no-latency throughput through the proxy (without latency, client and
server share the machine's cores: that run is what the machine can do). The
sync ``DynamoDBAdapter`` running conversations one after another through the
proxy is the baseline.

Reported per run: calls per second; p50/p99 latency per call (from the call
to its result, waiting for its turn included); client CPU time per call; the
event loop's worst step, timed around every loop callback by the wall clock
and by the loop thread's own CPU time (steps in which the garbage collector
ran counted apart). A last run in asyncio's debug mode
(``slow_callback_duration`` = 5 ms) adds ``add_messages`` of 10 x 350 KB,
each beside a tenth of the conversations, and counts asyncio's slow-callback
warnings; it runs twice, the second time after ``gc.freeze()``, to tell the
garbage collector's long steps (which walk every object of the process) from
the calls' own. The calls' own work runs on the loop thread (``_bridge``), so a
step's CPU time is the work of one stretch of a call; the wall clock also
counts the machine's other processes (the server and the proxy among them);
debug mode adds work of its own (it records where every
future and callback was made, which ``os.stat``s source files).

The module is a little over the usual length: the part's table and its notes
are built here, from four modes at two sizes plus two runs of their own.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from benchmarks.async_tools import (
    SLOW_STEP_SECONDS,
    LoopSteps,
    SlowCallbackLog,
    StepMonitor,
)
from benchmarks.environment import Bench, Log, cpu_spent, process_cpu_seconds
from benchmarks.latency import proxy_process
from benchmarks.report import Column, ResultTable, format_ms, format_ratio
from benchmarks.seeding import MESSAGE, MESSAGE_DESCRIPTION
from benchmarks.sizes import Sizes
from session_store.aio import DEFAULT_MAX_WORKERS, AsyncDynamoDBAdapter
from session_store.dynamodb import DynamoDBAdapter

__all__ = ["LATENCY_SIZES", "AsyncLatencyResult", "LatencySizes", "measure_async_latency"]

DELAY_SECONDS = 0.010
"""Added by the proxy each way."""
TARGET = 0.95
"""Through the proxy, at least this share of the no-latency throughput."""
MESSAGES_PER_CONVERSATION = 5
LARGE_MESSAGES = 10
LARGE_MESSAGE_BYTES = 350_000
_STARTED_PER_STEP = 50
SMALL_POOL = 16
"""The default ``max_workers`` before it was sized for round trips: measured beside it."""


@dataclass(frozen=True)
class LatencySizes:
    conversations: tuple[int, ...]
    """Conversations at once, one measurement each."""
    rounds: int
    """Alternating rounds of each mode; the fastest counts."""
    loop_conversations: int
    """Conversations of the sync baseline through the proxy."""
    large_writes: int
    """``add_messages`` of 10 x 350 KB in the debug-mode run."""


LATENCY_SIZES = {
    "full": LatencySizes(
        conversations=(200, 1_000), rounds=3, loop_conversations=20, large_writes=5
    ),
    "quick": LatencySizes(conversations=(12, 30), rounds=1, loop_conversations=2, large_writes=1),
}


@dataclass(frozen=True)
class RunResult:
    """The fastest round of one mode at one size."""

    label: str
    conversations: int
    calls: int
    seconds: float
    cpu_seconds: float
    latencies: tuple[float, ...]
    steps: LoopSteps | None
    server_cpu_seconds: float | None = None
    """DynamoDB Local's CPU time in the round, where it could be read."""
    proxy_cpu_seconds: float | None = None
    """The proxy process's CPU time in the round (all of its connections)."""

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds

    @property
    def cpu_per_call(self) -> float:
        return self.cpu_seconds / self.calls

    @property
    def server_cpu_per_call(self) -> float | None:
        return None if self.server_cpu_seconds is None else self.server_cpu_seconds / self.calls

    @property
    def proxy_cpu_per_call(self) -> float | None:
        return None if self.proxy_cpu_seconds is None else self.proxy_cpu_seconds / self.calls

    def percentile(self, share: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass(frozen=True)
class DebugRun:
    """The run in asyncio's debug mode, large writes included."""

    slow_callbacks: int
    worst_logged: float | None
    steps: LoopSteps
    calls: int


@dataclass
class AsyncLatencyResult:
    direct: dict[int, RunResult] = field(default_factory=dict)
    """Default settings, no latency, by conversations at once."""
    proxied: dict[int, RunResult] = field(default_factory=dict)
    """Default settings, through the proxy."""
    small_pool_direct: dict[int, RunResult] = field(default_factory=dict)
    """``max_workers=SMALL_POOL`` (the default before), no latency."""
    small_pool_proxied: dict[int, RunResult] = field(default_factory=dict)
    loop: RunResult | None = None
    debug: DebugRun | None = None
    debug_frozen: DebugRun | None = None
    """The debug-mode run again after ``gc.freeze()``: the start-up objects left out of
    every collection, as a latency-sensitive service may do."""
    table: ResultTable | None = None

    def ratio(self, conversations: int) -> float:
        """Through the proxy / without it, default settings."""
        return (
            self.proxied[conversations].calls_per_second
            / self.direct[conversations].calls_per_second
        )


# --- the workloads ------------------------------------------------------------------------


async def _conversations(
    adapter: AsyncDynamoDBAdapter, conversations: int, latencies: list[float]
) -> None:
    async def timed(call: Any) -> Any:
        started = time.perf_counter()
        result = await call
        latencies.append(time.perf_counter() - started)
        return result

    async def conversation() -> None:
        session = await timed(adapter.create_session({"status": "active"}))
        for _ in range(MESSAGES_PER_CONVERSATION):
            await timed(adapter.add_message(session.id, MESSAGE))

    # Started a batch per loop step: creating a thousand tasks in one step is the harness's
    # own long step, not a call's.
    tasks: list[asyncio.Task[None]] = []
    for _ in range(0, conversations, _STARTED_PER_STEP):
        batch = min(_STARTED_PER_STEP, conversations - len(tasks))
        tasks.extend(asyncio.create_task(conversation()) for _ in range(batch))
        await asyncio.sleep(0)  # yields to the loop for one step; no time passes
    await asyncio.gather(*tasks)


@dataclass(frozen=True)
class _OtherProcesses:
    """The processes sharing the machine's cores with the client: their CPU time is read."""

    server_pid: int | None
    proxy_pid: int | None

    def cpu_seconds(self) -> tuple[float | None, float | None]:
        return process_cpu_seconds(self.server_pid), process_cpu_seconds(self.proxy_pid)


def _async_round(
    adapter: AsyncDynamoDBAdapter, label: str, conversations: int, others: _OtherProcesses
) -> RunResult:
    latencies: list[float] = []
    with StepMonitor() as monitor:
        server_before, proxy_before = others.cpu_seconds()
        cpu, started = time.process_time(), time.perf_counter()
        asyncio.run(_conversations(adapter, conversations, latencies))
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        server_after, proxy_after = others.cpu_seconds()
    return RunResult(
        label,
        conversations,
        len(latencies),
        seconds,
        cpu,
        tuple(latencies),
        monitor.steps,
        server_cpu_seconds=cpu_spent(server_before, server_after),
        proxy_cpu_seconds=cpu_spent(proxy_before, proxy_after),
    )


def _loop_round(adapter: DynamoDBAdapter, conversations: int) -> RunResult:
    latencies: list[float] = []

    def timed(call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = call()
        latencies.append(time.perf_counter() - started)
        return result

    cpu, started = time.process_time(), time.perf_counter()
    for _ in range(conversations):
        session_id = timed(lambda: adapter.create_session({"status": "active"})).id
        for _ in range(MESSAGES_PER_CONVERSATION):
            timed(partial(adapter.add_message, session_id, MESSAGE))
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return RunResult(
        "loop", conversations, len(latencies), seconds, cpu, tuple(latencies), steps=None
    )


def _debug_run(adapter: AsyncDynamoDBAdapter, conversations: int, large_writes: int) -> DebugRun:
    large = [
        {"role": "user", "content": f"{index} " + "x" * LARGE_MESSAGE_BYTES}
        for index in range(LARGE_MESSAGES)
    ]
    latencies: list[float] = []

    async def scenario() -> None:
        asyncio.get_running_loop().slow_callback_duration = SLOW_STEP_SECONDS
        await _conversations(adapter, conversations, latencies)
        session = await adapter.create_session({"status": "active"})
        for _ in range(large_writes):  # each beside a tenth of the conversations
            await asyncio.gather(
                adapter.add_messages(session.id, large),
                _conversations(adapter, max(1, conversations // 10), latencies),
            )
            await adapter.delete_all_messages(session.id)
        await adapter.delete_session(session.id)

    logger = logging.getLogger("asyncio")
    handler = SlowCallbackLog()
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False  # counted, not printed
    try:
        with StepMonitor() as monitor:
            asyncio.run(scenario(), debug=True)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    return DebugRun(
        slow_callbacks=len(handler.durations),
        worst_logged=max(handler.durations, default=None),
        steps=monitor.steps,
        calls=len(latencies) + 2 * large_writes + 2,
    )


# --- the part ----------------------------------------------------------------------------


def measure_async_latency(bench: Bench, sizes: Sizes, log: Log) -> AsyncLatencyResult:
    """Run part 6 on DynamoDB Local (on moto in process there is no network to delay)."""
    result = AsyncLatencyResult()
    if bench.in_process or bench.backend.endpoint_url is None:
        log("part 6: skipped (needs DynamoDB Local: moto in process has no network)")
        return result
    chosen = LATENCY_SIZES[sizes.name]
    endpoint = bench.backend.endpoint_url
    region = bench.backend.region
    with (
        bench.table() as table,
        proxy_process(endpoint, DELAY_SECONDS) as proxy,
        bench.async_adapter(table.config.table_name) as direct,
    ):
        name = table.config.table_name
        proxied_url = proxy.endpoint_url
        others = _OtherProcesses(bench.server_pid, proxy.pid)
        proxied = AsyncDynamoDBAdapter(name, region=region, endpoint_url=proxied_url)
        small_direct = AsyncDynamoDBAdapter(
            name, region=region, endpoint_url=endpoint, max_workers=SMALL_POOL
        )
        small_proxied = AsyncDynamoDBAdapter(
            name, region=region, endpoint_url=proxied_url, max_workers=SMALL_POOL
        )
        loop_adapter = DynamoDBAdapter(name, region=region, endpoint_url=proxied_url)
        modes = (
            ("no latency", direct, result.direct),
            ("20 ms trips", proxied, result.proxied),
            (f"no latency, {SMALL_POOL} workers", small_direct, result.small_pool_direct),
            (f"20 ms trips, {SMALL_POOL} workers", small_proxied, result.small_pool_proxied),
        )
        try:
            # Connections opened and the server's code paths warm before any round counts.
            for _, adapter, _ in modes:
                _async_round(adapter, "warm-up", min(chosen.conversations), others)
            for conversations in chosen.conversations:
                for number in range(1, chosen.rounds + 1):
                    for label, adapter, fastest in modes:
                        log(f"part 6: round {number}, {conversations} conversations, {label}")
                        _keep_fastest(fastest, _async_round(adapter, label, conversations, others))
            log(f"part 6: {chosen.loop_conversations} conversations in a loop, 20 ms trips")
            result.loop = _loop_round(loop_adapter, chosen.loop_conversations)
            log("part 6: asyncio debug mode, with add_messages of 10 x 350 KB")
            result.debug = _debug_run(proxied, min(chosen.conversations), chosen.large_writes)
            log("part 6: the same after gc.freeze()")
            gc.collect()
            gc.freeze()
            try:
                result.debug_frozen = _debug_run(
                    proxied, min(chosen.conversations), chosen.large_writes
                )
            finally:
                gc.unfreeze()
        finally:
            for adapter in (proxied, small_direct, small_proxied):
                asyncio.run(adapter.close())
            loop_adapter.close()
    result.table = _table(bench, chosen, result)
    return result


def _keep_fastest(best: dict[int, RunResult], run: RunResult) -> None:
    current = best.get(run.conversations)
    if current is None or run.seconds < current.seconds:
        best[run.conversations] = run


def _micros(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e6:,.0f}"


def _cpu(run: RunResult) -> str:
    return " / ".join(
        _micros(cpu) for cpu in (run.cpu_per_call, run.server_cpu_per_call, run.proxy_cpu_per_call)
    )


def _step(steps: LoopSteps | None) -> str:
    if steps is None:
        return "—"
    return f"{format_ms(steps.worst_wall)} / {format_ms(steps.worst_cpu)}"


def _collections(steps: LoopSteps | None) -> str:
    if steps is None:
        return "—"
    if not steps.collected:
        return "0"
    return f"{steps.collected} (worst {format_ms(steps.worst_collected_wall)})"


def _verdict(ratio: float) -> str:
    return "met" if ratio >= TARGET else f"**missed** by {TARGET - ratio:.0%}"


def _table(bench: Bench, chosen: LatencySizes, result: AsyncLatencyResult) -> ResultTable:
    table = ResultTable(
        key="latency",
        title="6. Async under real latency",
        intro=(
            f"Conversations of 1 `create_session` and {MESSAGES_PER_CONVERSATION} "
            f"`add_message` calls each ({MESSAGE_DESCRIPTION}), all at once through "
            f"`AsyncDynamoDBAdapter` with default settings ({DEFAULT_MAX_WORKERS} calls at "
            f"once) and, for comparison, with `max_workers={SMALL_POOL}`, on "
            f"{bench.description}: straight to it, and through a proxy in a process of its "
            f"own adding {DELAY_SECONDS * 1000:.0f} ms each way (`benchmarks.latency`). "
            f"Fastest of {chosen.rounds} alternating round(s) per mode. *Latency*: from the "
            "call to its result, waiting for its turn included. *CPU*: CPU time per call of "
            "this process (the client), of DynamoDB Local and of the proxy's process, each "
            "read from the operating system around the round (— where it cannot be read; the "
            "proxy's idle time counts in the no-latency rows). "
            "*Worst loop step*: the longest event-loop callback, by the wall clock / by the "
            "loop thread's own CPU time, leaving out the steps in which the garbage "
            "collector ran on the loop thread (counted in the next column). Target: with "
            f"default settings through the proxy, ≥ {TARGET:.0%} of the same workload's "
            "throughput without it."
        ),
        columns=[
            Column("run", numeric=False),
            Column("conversations"),
            Column("calls"),
            Column("calls per second"),
            Column("vs no latency"),
            Column("p50 ms"),
            Column("p99 ms"),
            Column("CPU µs per call (client / server / proxy)"),
            Column("worst loop step ms (wall / CPU)"),
            Column("steps with a GC (worst ms)"),
            Column(f"target ≥ {TARGET:.0%}", numeric=False),
        ],
    )

    def add(label: str, run: RunResult, versus: float | None, verdict: str) -> None:
        table.add_row(
            label,
            f"{run.conversations:,}",
            f"{run.calls:,}",
            f"{run.calls_per_second:,.0f}",
            format_ratio(versus),
            format_ms(run.percentile(0.5)),
            format_ms(run.percentile(0.99)),
            _cpu(run),
            _step(run.steps),
            _collections(run.steps),
            verdict,
        )

    for conversations in sorted(result.direct):
        direct = result.direct[conversations]
        ratio = result.ratio(conversations)
        add("`AsyncDynamoDBAdapter`, no latency", direct, 1.0, "")
        add(
            "`AsyncDynamoDBAdapter`, 20 ms round trips",
            result.proxied[conversations],
            ratio,
            _verdict(ratio),
        )
        small_direct = result.small_pool_direct.get(conversations)
        small_proxied = result.small_pool_proxied.get(conversations)
        if small_direct is not None and small_proxied is not None:
            small_ratio = small_proxied.calls_per_second / small_direct.calls_per_second
            add(f"`max_workers={SMALL_POOL}`, no latency", small_direct, 1.0, "")
            add(
                f"`max_workers={SMALL_POOL}`, 20 ms round trips",
                small_proxied,
                small_ratio,
                f"({_verdict(small_ratio)})",
            )
    if result.loop is not None:
        base = result.direct[min(result.direct)] if result.direct else None
        add(
            "`DynamoDBAdapter` in a loop, 20 ms round trips",
            result.loop,
            result.loop.calls_per_second / base.calls_per_second if base else None,
            "baseline",
        )
    for debug, after in ((result.debug, ""), (result.debug_frozen, ", after `gc.freeze()`")):
        if debug is None:
            continue
        table.add_row(
            f"asyncio debug mode, 20 ms round trips, with {chosen.large_writes} "
            f"`add_messages` of {LARGE_MESSAGES} x {LARGE_MESSAGE_BYTES // 1000} KB{after}",
            f"{min(chosen.conversations):,}",
            f"{debug.calls:,}",
            "—",
            "—",
            "—",
            "—",
            "—",
            _step(debug.steps),
            _collections(debug.steps),
            f"{debug.slow_callbacks} slow-callback warning(s)"
            + (f", worst {format_ms(debug.worst_logged)} ms" if debug.worst_logged else ""),
        )
    _add_notes(table, result)
    return table


def _add_notes(table: ResultTable, result: AsyncLatencyResult) -> None:
    if result.loop is not None and result.proxied:
        largest = result.proxied[max(result.proxied)]
        table.notes.append(
            f"Through the same proxy, {largest.conversations:,} conversations at once reach "
            f"{largest.calls_per_second / result.loop.calls_per_second:,.0f}x the throughput "
            "of the sync adapter running them one after another."
        )
    cpu = [run.cpu_per_call for run in (*result.direct.values(), *result.proxied.values())]
    if cpu:
        table.notes.append(
            f"Client CPU per call with default settings: {_micros(min(cpu))} to "
            f"{_micros(max(cpu))} µs over these runs (median {_micros(statistics.median(cpu))}"
            " µs). With the server on the same cores, the client's and the server's CPU per "
            "call set the no-latency throughput."
        )
    for conversations, direct in sorted(result.direct.items()):
        proxied = result.proxied[conversations]
        if direct.server_cpu_per_call is None or proxied.server_cpu_per_call is None:
            continue
        alone = direct.cpu_per_call + direct.server_cpu_per_call
        through = proxied.cpu_per_call + proxied.server_cpu_per_call
        proxy = proxied.proxy_cpu_per_call or 0.0
        table.notes.append(
            f"At {conversations:,} conversations, the CPU a call costs the machine: without "
            f"latency {_micros(alone)} µs (client and server); through the proxy "
            f"{_micros(through + proxy)} µs, of which {_micros(proxy)} µs are the proxy's "
            f"({proxy / (through + proxy):.0%}), which takes its share of the same "
            f"{os.cpu_count() or 1} cores from the client and the server."
        )
    for conversations, run in sorted(result.proxied.items()):
        if run.steps is not None:
            table.notes.append(
                f"The worst loop step through the proxy at {conversations:,} conversations "
                f"({format_ms(run.steps.worst_wall)} ms by the wall clock, "
                f"{format_ms(run.steps.worst_wall_cpu)} ms of the loop thread's CPU) blocked "
                f"{run.steps.worst_wall_waits} time(s) (waiting for the GIL) and was preempted "
                f"{run.steps.worst_wall_preempted} time(s) by the operating system; "
                f"{run.steps.over_limit_wall} of {run.steps.count:,} steps took over "
                f"{SLOW_STEP_SECONDS * 1000:.0f} ms by the wall clock, "
                f"{run.steps.over_limit_cpu} by the loop thread's CPU."
            )
    debug = result.debug
    if debug is not None:
        steps = debug.steps
        table.notes.append(
            "In the debug-mode run, the worst loop step by the loop thread's own CPU time "
            f"took {format_ms(steps.worst_cpu)} ms ({steps.over_limit_cpu} step(s) over "
            f"{SLOW_STEP_SECONDS * 1000:.0f} ms). By the wall clock, {steps.over_limit_wall} "
            f"step(s) took over {SLOW_STEP_SECONDS * 1000:.0f} ms, the worst "
            f"{format_ms(steps.worst_wall)} ms with {format_ms(steps.worst_wall_cpu)} ms of "
            "its own CPU: the rest was the machine's other processes, debug mode's own "
            "bookkeeping, or preemption. "
            "asyncio's own warnings count the garbage collector's steps too."
        )
    frozen = result.debug_frozen
    if debug is not None and frozen is not None:
        table.notes.append(
            "The garbage collector's steps are the process's, not the calls': a full "
            "collection walks every object the process holds (botocore's DynamoDB model "
            "alone is about 30,000). After `gc.freeze()` (Python's way to leave start-up "
            "objects out of every later collection, for a service to call once it has "
            "made its adapters), the same debug-mode run had "
            f"{_collections(frozen.steps)} step(s) with a collection against "
            f"{_collections(debug.steps)}, and {frozen.slow_callbacks} slow-callback "
            f"warning(s) against {debug.slow_callbacks}."
        )
    long_steps = [run.steps.over_limit_wall for run in result.proxied.values() if run.steps]
    if debug is not None:
        long_steps.append(debug.steps.over_limit_wall)
    table.notes.append(
        "The design measured: each call's own work runs on the loop thread between its "
        "waits (`session_store/_bridge.py`); HTTP exchanges run on the loop's own sockets "
        "(`session_store/_http.py`), backoffs "
        "are awaited, a request body of 256 KB or more is hashed on an I/O thread and "
        "each response page decoded in a step after the one that parsed it. Before it, the "
        "calls ran whole on 64 worker threads, and the loop thread lost the GIL to them "
        "mid-step: 22 of 4,521 steps over 5 ms at 200 conversations, worst 132 ms, with "
        "under 2 ms of the loop thread's own CPU."
    )
    if any(long_steps):
        table.notes.append(
            "Steps over 5 ms by the wall clock remain in this run: "
            f"{sum(long_steps)} in all. Compare each with its CPU column: a step whose CPU "
            "is far below its wall time waited for the machine (the server and the proxy "
            "run on the same two cores) or for the GIL, not for work of its own."
        )
