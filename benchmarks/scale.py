"""Part 3: how costs grow from the small size to the large one (1k to 10k by default).

At each size, on a fresh table: read a whole session (time, requests, peak
Python memory of ``get_messages`` and of streaming it with
``iter_messages``), read its newest 20 messages, list a user's newest 20
sessions, delete a session three ways, and sweep expired sessions. The
growth column divides the large size's figure by the small one's: calls
that cost O(1) must stay at 1x.

The three deletes remove a session of the same size each:

- ``delete_session``: what the adapter does: the session item first, then
  the message keys page by page, 25 per ``BatchWriteItem``, one batch after
  the other;
- parallel batches: the same item delete, listing and batches, the batches
  sent by 8 threads at once (what ``Promise.all`` does in the TypeScript
  adapter); the benchmark does this itself with the adapter's client, to
  show what parallelism would buy on this backend;
- one at a time: one ``DeleteItem`` per message, as a layer without batch
  deletes would.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from benchmarks.environment import Bench, Log
from benchmarks.metering import Meter, Usage, median, stopwatch
from benchmarks.report import Column, ResultTable, format_count, format_ms, format_units
from benchmarks.seeding import SeededSession, seed_session, seed_sessions, write_batch
from benchmarks.sizes import Sizes
from session_store._time import utc_now
from session_store.counters import message_items
from session_store.dynamodb import DynamoDBAdapter

__all__ = ["DELETE_THREADS", "Observation", "ScaleResult", "measure_scale"]


DELETE_THREADS = 8
_LIST_USER = "bench-scale-user"
_MESSAGES_PER_EXPIRED = 2
_BATCH = 25
_WARM_UP_CALLS = 2
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Observation:
    """One measurement at one size."""

    seconds: float | None = None
    usage: Usage | None = None
    peak_bytes: int | None = None
    detail: str = ""

    @property
    def requests(self) -> int | None:
        return None if self.usage is None else self.usage.requests


@dataclass(frozen=True)
class _Row:
    key: str
    label: str
    expected: str


_ROWS = (
    _Row("read_all", "read a whole session: `get_messages` (all pages)", "O(n)"),
    _Row("read_all_memory", "peak Python memory of that `get_messages`", "O(n)"),
    _Row("stream_memory", "peak Python memory of `iter_messages` over it", "O(page)"),
    _Row("tail", '`get_messages(limit=20, order="desc")` on it', "O(1)"),
    _Row("list", "`list_sessions`: a user's newest 20", "O(1)"),
    _Row("delete_session", "`delete_session` (batches one after the other)", "O(n)"),
    _Row("delete_parallel", f"delete with parallel batches ({DELETE_THREADS} threads)", "O(n)"),
    _Row("delete_one_by_one", "delete one message at a time (`DeleteItem` each)", "O(n)"),
    _Row("sweep", "`sweep_expired`", "O(sessions)"),
)


@dataclass
class ScaleResult:
    sizes: Sizes
    observed: dict[str, tuple[Observation, Observation]] = field(default_factory=dict)
    swept: tuple[int, int] = (0, 0)
    """Sessions ``sweep_expired`` reported removed, at each size."""
    table: ResultTable | None = None

    def requests(self, key: str) -> tuple[int | None, int | None]:
        small, large = self.observed[key]
        return small.requests, large.requests


def _timed(meter: Meter, call: Callable[[], object], repeats: int, warm_up: int = 0) -> Observation:
    """Median time of ``repeats`` calls; requests and capacity of the first."""
    for _ in range(warm_up):
        call()
    samples: list[float] = []
    first: Usage | None = None
    for _ in range(repeats):
        with meter.measure() as usage:
            samples.append(stopwatch(call))
        first = first or usage
    return Observation(median(samples), first)


def _peak_memory(call: Callable[[], object]) -> Observation:
    """Peak bytes Python allocated during ``call`` (``tracemalloc``; slows the call down)."""
    tracemalloc.start()
    try:
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Observation(peak_bytes=peak)


def _keys(adapter: DynamoDBAdapter, session_id: str) -> list[dict[str, Any]]:
    return [
        {"PK": item["PK"], "SK": item["SK"]}
        for item in message_items(adapter.models.gateway, session_id)
    ]


def _session_key(session_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"SESSION#{session_id}"}, "SK": {"S": "META"}}


def _delete_in_parallel(adapter: DynamoDBAdapter, session_id: str) -> None:
    """``delete_session``'s requests, the batch deletes sent by several threads at once."""
    client: Any = adapter.models.client
    table = adapter.config.table_name
    client.delete_item(TableName=table, Key=_session_key(session_id))
    item_keys = _keys(adapter, session_id)

    def send(batch: list[dict[str, Any]]) -> None:
        write_batch(client, table, [{"DeleteRequest": {"Key": key}} for key in batch])

    batches = [item_keys[start : start + _BATCH] for start in range(0, len(item_keys), _BATCH)]
    with ThreadPoolExecutor(max_workers=DELETE_THREADS) as pool:
        for _ in pool.map(send, batches):
            pass


def _delete_one_by_one(adapter: DynamoDBAdapter, session_id: str) -> None:
    client = adapter.models.client
    table = adapter.config.table_name
    client.delete_item(TableName=table, Key=_session_key(session_id))
    for key in _keys(adapter, session_id):
        client.delete_item(TableName=table, Key=key)


def _measure_size(
    bench: Bench, sizes: Sizes, index: int, log: Log
) -> tuple[dict[str, Observation], int]:
    messages = sizes.scale_messages[index]
    sessions = sizes.scale_sessions[index]
    expired = sizes.scale_expired[index]
    observed: dict[str, Observation] = {}
    repeats = sizes.scale_repeats
    with bench.table(max_pool_connections=DELETE_THREADS + 2) as adapter:
        log(f"part 3: seeding a session of {messages:,} messages, {sessions:,} sessions of a user")
        main = seed_session(adapter, messages=messages)
        seed_sessions(adapter, sessions, user_id=_LIST_USER)
        deletes: list[tuple[str, Callable[[str], None]]] = [
            ("delete_session", adapter.delete_session),
            ("delete_parallel", lambda sid: _delete_in_parallel(adapter, sid)),
            ("delete_one_by_one", lambda sid: _delete_one_by_one(adapter, sid)),
        ]
        doomed: list[list[SeededSession]] = [
            [seed_session(adapter, messages=messages) for _ in deletes]
            for _ in range(sizes.scale_delete_repeats)
        ]
        with Meter(adapter.models.client) as meter:
            log(f"part 3: reading {messages:,} messages")
            observed["read_all"] = _timed(
                meter, lambda: adapter.get_messages(main.id), sizes.scale_bulk_repeats
            )
            observed["read_all_memory"] = _peak_memory(lambda: adapter.get_messages(main.id))
            observed["stream_memory"] = _peak_memory(
                lambda: sum(1 for _ in adapter.iter_messages(main.id))
            )
            observed["tail"] = _timed(
                meter,
                lambda: adapter.get_messages(main.id, {"limit": 20, "order": "desc"}),
                repeats,
                _WARM_UP_CALLS,
            )
            observed["list"] = _timed(
                meter,
                lambda: adapter.list_sessions({"user_id": _LIST_USER, "limit": 20}),
                repeats,
                _WARM_UP_CALLS,
            )
            log(f"part 3: deleting sessions of {messages:,} messages three ways")
            rounds: dict[str, list[Observation]] = {key: [] for key, _ in deletes}
            for targets in doomed:
                for (key, delete), target in zip(deletes, targets, strict=True):
                    rounds[key].append(_timed(meter, partial(delete, target.id), 1))
            for key, found in rounds.items():
                observed[key] = min(found, key=lambda o: o.seconds or float("inf"))
    with bench.table() as adapter:
        log(f"part 3: sweeping {expired:,} expired sessions")
        seed_sessions(
            adapter,
            expired,
            messages_each=_MESSAGES_PER_EXPIRED,
            expires_at=utc_now() - timedelta(days=1),
        )
        removed: list[int] = []
        with Meter(adapter.models.client) as meter:
            observed["sweep"] = _timed(meter, lambda: removed.append(adapter.sweep_expired()), 1)
    return observed, removed[0]


def measure_scale(bench: Bench, sizes: Sizes, log: Log) -> ScaleResult:
    """Run part 3 at both sizes."""
    small, small_swept = _measure_size(bench, sizes, 0, log)
    large, large_swept = _measure_size(bench, sizes, 1, log)
    result = ScaleResult(sizes, {key: (small[key], large[key]) for key in small})
    result.swept = (small_swept, large_swept)
    result.table = _table(bench, result)
    return result


def _value(observation: Observation) -> str:
    if observation.peak_bytes is not None:
        return f"{observation.peak_bytes / _MIB:,.1f} MiB"
    return f"{format_ms(observation.seconds)} ms"


def _growth(small: Observation, large: Observation) -> str:
    if small.peak_bytes is not None and large.peak_bytes is not None:
        return f"{large.peak_bytes / small.peak_bytes:.1f}x"
    if small.seconds and large.seconds:
        return f"{large.seconds / small.seconds:.1f}x"
    return "—"


def _speed_up(slow: Observation, fast: Observation) -> str:
    if slow.seconds is None or not fast.seconds:
        return "—"
    return f"{slow.seconds / fast.seconds:.1f}x"


def _table(bench: Bench, result: ScaleResult) -> ResultTable:
    sizes = result.sizes
    (m1, m2), (s1, s2), (e1, e2) = sizes.scale_messages, sizes.scale_sessions, sizes.scale_expired
    table = ResultTable(
        key="scale",
        title="3. Scale",
        intro=(
            f"On {bench.description}. *small*: a session of {m1:,} messages, a user with "
            f"{s1:,} sessions, {e1:,} expired sessions; *large*: {m2:,} messages, {s2:,} "
            f"sessions, {e2:,} expired sessions (each expired session has "
            f"{_MESSAGES_PER_EXPIRED} messages; they are swept from a table of their own). "
            f"Times are the median of {sizes.scale_repeats} calls after 2 warm-up calls for "
            f"the single-request reads, of {sizes.scale_bulk_repeats} for the whole-session "
            f"read; the fastest of {sizes.scale_delete_repeats} sessions deleted each way; one "
            "sweep. Peak memory is what Python "
            "allocated during the call (`tracemalloc`), the response pages included. "
            "*growth* divides the large figure by the small one: O(1) calls must stay "
            "at 1x, requests included. The parallel delete is done by the benchmark itself "
            f"with the adapter's client ({DELETE_THREADS} threads sending the same batches "
            "`delete_session` sends), to show what parallel batches would buy here; the "
            "adapter sends its batches one after the other."
        ),
        columns=[
            Column("measurement", numeric=False),
            Column("small"),
            Column("requests"),
            Column("capacity units"),
            Column("large"),
            Column("requests"),
            Column("capacity units"),
            Column("growth"),
            Column("expected", numeric=False),
        ],
    )
    for row in _ROWS:
        small, large = result.observed[row.key]
        table.add_row(
            row.label,
            _value(small),
            format_count(small.requests),
            format_units(small.usage.capacity) if small.usage else "—",
            _value(large),
            format_count(large.requests),
            format_units(large.usage.capacity) if large.usage else "—",
            _growth(small, large),
            row.expected,
        )
    sequential = result.observed["delete_session"]
    parallel = result.observed["delete_parallel"]
    one_by_one = result.observed["delete_one_by_one"]
    for label, slow, fast in (
        ("speed-up: parallel batches over `delete_session`", sequential, parallel),
        ("speed-up: `delete_session` over one at a time", one_by_one, sequential),
    ):
        table.add_row(
            label,
            _speed_up(slow[0], fast[0]),
            "",
            "",
            _speed_up(slow[1], fast[1]),
            "",
            "",
            "",
            "",
        )
    table.notes.extend(_findings(result))
    return table


def _findings(result: ScaleResult) -> list[str]:
    """What the growth column says, in words."""
    notes: list[str] = []
    for row in _ROWS:
        if row.expected != "O(1)":
            continue
        small, large = result.observed[row.key]
        notes.append(
            f"{row.label}: {format_count(small.requests)} and {format_count(large.requests)} "
            f"request(s), time x{_growth(small, large).rstrip('x')} from small to large."
        )
    read, stream = result.observed["read_all_memory"][1], result.observed["stream_memory"][1]
    if read.peak_bytes and stream.peak_bytes:
        notes.append(
            f"Reading the large session: `get_messages` peaks at {_value(read)} (every "
            f"message at once), `iter_messages` at {_value(stream)} (one response page at a "
            "time, a page being up to 1 MB of items)."
        )
    notes.append(f"`sweep_expired` removed {result.swept[0]:,} and {result.swept[1]:,} sessions.")
    return notes
