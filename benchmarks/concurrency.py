"""Part 4: throughput of ``AsyncDynamoDBAdapter`` with many sessions at once, against a loop.

The workload is the same both ways: N conversations, each a
``create_session`` followed by M ``add_message`` calls, one after the other
(a conversation's messages are appended in order). The sync adapter runs the
conversations in a loop; the async adapter runs all N at once with
``asyncio.gather`` with its default settings. The modes alternate for the
configured rounds; the fastest round of each counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.environment import Bench, Log
from benchmarks.metering import Meter
from benchmarks.report import Column, ResultTable, format_count, format_ratio
from benchmarks.seeding import MESSAGE, MESSAGE_DESCRIPTION
from benchmarks.sizes import Sizes
from session_store.aio import DEFAULT_MAX_WORKERS, AsyncDynamoDBAdapter
from session_store.dynamodb import DynamoDBAdapter

__all__ = ["ConcurrencyResult", "ModeResult", "measure_concurrency"]


@dataclass(frozen=True)
class ModeResult:
    """The fastest round of one mode."""

    seconds: float
    requests: int

    @property
    def calls_per_second(self) -> float:
        return self.requests / self.seconds


@dataclass(frozen=True)
class ConcurrencyResult:
    sync: ModeResult
    concurrent: ModeResult
    table: ResultTable

    @property
    def speed_up(self) -> float:
        return self.sync.seconds / self.concurrent.seconds


def _conversations_in_a_loop(adapter: DynamoDBAdapter, sessions: int, messages: int) -> None:
    for _ in range(sessions):
        session = adapter.create_session({"status": "active"})
        for _ in range(messages):
            adapter.add_message(session.id, MESSAGE)


async def _conversations_at_once(
    adapter: AsyncDynamoDBAdapter, sessions: int, messages: int
) -> None:
    async def conversation() -> None:
        session = await adapter.create_session({"status": "active"})
        for _ in range(messages):
            await adapter.add_message(session.id, MESSAGE)

    await asyncio.gather(*(conversation() for _ in range(sessions)))


def _round(meter: Meter, work: Callable[[], None]) -> ModeResult:
    with meter.measure() as usage:
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
    return ModeResult(seconds, usage.requests)


def _fastest(results: list[ModeResult]) -> ModeResult:
    return min(results, key=lambda result: result.seconds)


def measure_concurrency(bench: Bench, sizes: Sizes, log: Log) -> ConcurrencyResult:
    """Run part 4: the loop and the concurrent run, alternating, on one table."""
    sessions, messages = sizes.concurrent_sessions, sizes.messages_per_session
    loop_rounds: list[ModeResult] = []
    gather_rounds: list[ModeResult] = []
    with (
        bench.table() as adapter,
        bench.async_adapter(adapter.config.table_name) as concurrent,
        Meter(adapter.models.client) as loop_meter,
        Meter(concurrent.models.client) as meter,
    ):
        for number in range(1, sizes.concurrency_rounds + 1):
            log(f"part 4: round {number}, {sessions} conversations in a loop")
            loop_rounds.append(
                _round(loop_meter, lambda: _conversations_in_a_loop(adapter, sessions, messages))
            )
            log(f"part 4: round {number}, {sessions} conversations at once")
            gather_rounds.append(
                _round(
                    meter,
                    lambda: asyncio.run(_conversations_at_once(concurrent, sessions, messages)),
                )
            )
    sync, gathered = _fastest(loop_rounds), _fastest(gather_rounds)
    table = _table(bench, sizes, sync, gathered)
    return ConcurrencyResult(sync, gathered, table)


def _table(bench: Bench, sizes: Sizes, sync: ModeResult, gathered: ModeResult) -> ResultTable:
    sessions, messages = sizes.concurrent_sessions, sizes.messages_per_session
    table = ResultTable(
        key="concurrency",
        title="4. Concurrency throughput",
        intro=(
            f"{sessions} conversations of 1 `create_session` and {messages} `add_message` "
            f"calls each ({MESSAGE_DESCRIPTION}), on {bench.description}: the sync "
            "`DynamoDBAdapter` runs them one after the other; `AsyncDynamoDBAdapter` runs "
            f"all {sessions} at once (`asyncio.gather`, up to its default {DEFAULT_MAX_WORKERS} "
            "calls in progress sharing one client), each conversation's messages still in "
            f"order. Fastest of {sizes.concurrency_rounds} alternating round(s) per mode."
        ),
        columns=[
            Column("adapter", numeric=False),
            Column("conversations at a time"),
            Column("requests"),
            Column("seconds"),
            Column("calls per second"),
            Column("throughput vs the loop"),
        ],
    )
    table.add_row(
        "`DynamoDBAdapter` in a loop",
        "1",
        format_count(sync.requests),
        f"{sync.seconds:.2f}",
        f"{sync.calls_per_second:,.0f}",
        format_ratio(1.0),
    )
    table.add_row(
        "`AsyncDynamoDBAdapter`, `asyncio.gather`",
        f"{sessions} (at most {DEFAULT_MAX_WORKERS} in flight)",
        format_count(gathered.requests),
        f"{gathered.seconds:.2f}",
        f"{gathered.calls_per_second:,.0f}",
        format_ratio(sync.seconds / gathered.seconds),
    )
    if bench.in_process:
        table.notes.append(
            "On moto in process, requests are handled one at a time, so concurrency "
            "cannot help: run on DynamoDB Local for a meaningful ratio."
        )
    else:
        table.notes.append(
            "The server runs on the same machine and shares its cores with the client, so "
            "this ratio is a floor: against DynamoDB itself the server's time is spent "
            "elsewhere and more of each request is waiting, which is what concurrency hides."
        )
    return table
