"""Part 1: what each adapter method costs, on a session of 10 and of 10,000 messages.

For every method of ``DynamoDBAdapter``: the DynamoDB requests one call
makes, the capacity units DynamoDB says they consumed
(``ReturnConsumedCapacity=TOTAL``, added by ``benchmarks.metering.Meter``)
and the median wall time per call, next to what the TypeScript adapter
spends for the same call (``benchmarks.reference``).

Each session size gets a table of its own holding the session measured,
24 more sessions of the same user (so ``list_sessions`` has 20 to return), and
one session of the same size for each destructive call (``delete_session``,
``delete_all_messages``, ``handle_stream_event``, ``sweep_expired``), so the
calls that scan (``get_expired_sessions``, ``sweep_expired``) read about five
times the session's messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, Literal

from benchmarks.environment import Bench, Log
from benchmarks.metering import Meter, Usage, median, stopwatch
from benchmarks.reference import REFERENCE_SOURCE, reference_for
from benchmarks.report import Column, ResultTable, format_count, format_ms, format_units
from benchmarks.seeding import (
    MESSAGE,
    MESSAGE_DESCRIPTION,
    SeededSession,
    seed_session,
    seed_sessions,
)
from benchmarks.sizes import Sizes
from session_store._time import utc_now
from session_store.dynamodb import DynamoDBAdapter

__all__ = ["CostResult", "Measured", "measure_costs"]

Repeats = Literal["each", "bulk", "once"]

USER = "bench-user"
AGENT = "bench-agent"
_OTHER_SESSIONS = 24
_CONTEXT_TOKENS = 2_000
_WARM_UP_CALLS = 2


@dataclass
class _Fixture:
    """One size's table and the sessions the probes work on."""

    adapter: DynamoDBAdapter
    main: SeededSession
    doomed: SeededSession
    emptied: SeededSession
    expired: SeededSession
    streamed: SeededSession
    appended_to: str
    """A session of its own for ``add_messages`` (and ``pop_message``, which takes from
    what it appended), so the measured sessions keep their size."""
    added: list[str] = field(default_factory=list)
    """Messages ``add_message`` appended to ``main``; ``delete_message`` removes them again."""

    @property
    def edited(self) -> str:
        """The message ``update_message`` edits: one in the middle of the session."""
        return self.main.message_ids[len(self.main.message_ids) // 2]


@dataclass(frozen=True)
class _Probe:
    """One row of the table: a call, and how often to time it."""

    key: str
    label: str
    repeats: Repeats
    call: Callable[[_Fixture, int], object]


_BATCH = 10
"""Messages one ``add_messages`` call of the cost table appends."""


def _add(fixture: _Fixture, _: int) -> object:
    message = fixture.adapter.add_message(fixture.main.id, MESSAGE)
    fixture.added.append(message.id)
    return message


def _stream_event(session_id: str) -> dict[str, Any]:
    """The DynamoDB Streams record of the TTL service removing a session item."""
    return {
        "Records": [
            {
                "eventName": "REMOVE",
                "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
                "dynamodb": {"Keys": {"PK": {"S": f"SESSION#{session_id}"}, "SK": {"S": "META"}}},
            }
        ]
    }


_PROBES: tuple[_Probe, ...] = (
    _Probe(
        "create_session",
        "create_session",
        "each",
        lambda f, _: f.adapter.create_session({"status": "active"}),
    ),
    _Probe("get_session", "get_session", "each", lambda f, _: f.adapter.get_session(f.main.id)),
    _Probe(
        "update_session",
        "update_session (agent hand-off)",
        "each",
        lambda f, i: f.adapter.update_session(f.main.id, {"active_agent_id": f"{AGENT}-{i}"}),
    ),
    _Probe("add_message", "add_message", "each", _add),
    _Probe(
        "add_messages",
        f"add_messages ({_BATCH} at once)",
        "each",
        lambda f, _: f.adapter.add_messages(f.appended_to, [MESSAGE] * _BATCH),
    ),
    _Probe(
        "pop_message",
        "pop_message",
        "each",
        lambda f, _: f.adapter.pop_message(f.appended_to),
    ),
    _Probe(
        "get_messages",
        "get_messages (all)",
        "bulk",
        lambda f, _: f.adapter.get_messages(f.main.id),
    ),
    _Probe(
        "get_messages_tail",
        'get_messages (limit=20, order="desc")',
        "each",
        lambda f, _: f.adapter.get_messages(f.main.id, {"limit": 20, "order": "desc"}),
    ),
    _Probe(
        "get_messages_page",
        "get_messages_page (first 50)",
        "each",
        lambda f, _: f.adapter.get_messages_page(f.main.id, page_size=50),
    ),
    _Probe(
        "update_message",
        "update_message (content)",
        "each",
        lambda f, i: f.adapter.update_message(f.main.id, f.edited, {"content": f"edited {i}"}),
    ),
    _Probe(
        "update_message_tokens",
        "update_message (token_count)",
        "each",
        lambda f, i: f.adapter.update_message(f.main.id, f.edited, {"token_count": 100 + i}),
    ),
    _Probe(
        "delete_message",
        "delete_message",
        "each",
        lambda f, _: f.adapter.delete_message(f.main.id, f.added.pop()),
    ),
    _Probe(
        "get_context_window",
        f"get_context_window ({_CONTEXT_TOKENS:,} tokens)",
        "bulk",
        lambda f, _: f.adapter.get_context_window(f.main.id, _CONTEXT_TOKENS),
    ),
    _Probe("recount", "recount", "bulk", lambda f, _: f.adapter.recount(f.main.id)),
    _Probe(
        "list_sessions",
        "list_sessions (a user's newest 20)",
        "each",
        lambda f, _: f.adapter.list_sessions({"user_id": USER, "limit": 20}),
    ),
    _Probe("health", "health", "each", lambda f, _: f.adapter.health()),
    _Probe(
        "get_expired_sessions",
        "get_expired_sessions (scan)",
        "bulk",
        lambda f, _: f.adapter.get_expired_sessions(utc_now()),
    ),
    _Probe(
        "sweep_expired",
        "sweep_expired (1 expired session)",
        "once",
        lambda f, _: f.adapter.sweep_expired(),
    ),
    _Probe(
        "handle_stream_event",
        "handle_stream_event (1 TTL removal)",
        "once",
        lambda f, _: f.adapter.handle_stream_event(_stream_event(f.streamed.id)),
    ),
    _Probe(
        "delete_all_messages",
        "delete_all_messages",
        "once",
        lambda f, _: f.adapter.delete_all_messages(f.emptied.id),
    ),
    _Probe(
        "delete_session",
        "delete_session",
        "once",
        lambda f, _: f.adapter.delete_session(f.doomed.id),
    ),
)


@dataclass
class Measured:
    """What one method cost at one session size."""

    usage: Usage
    """Requests and capacity of the first timed call."""
    requests: list[int]
    """Requests of every timed call (they should all be equal)."""
    capacity: list[float | None]
    seconds: list[float]

    def requests_label(self) -> str:
        low, high = min(self.requests), max(self.requests)
        return format_count(low) if low == high else f"{low:,}-{high:,}"

    def capacity_label(self) -> str:
        known = [value for value in self.capacity if value is not None]
        if len(known) != len(self.capacity):
            return "n/a"
        low, high = min(known), max(known)
        return format_units(low) if low == high else f"{format_units(low)}-{format_units(high)}"


@dataclass
class CostResult:
    """Part 1's measurements and its table."""

    sizes: tuple[int, int]
    measured: dict[int, dict[str, Measured]]
    table: ResultTable

    def requests(self, size: int, key: str) -> list[int]:
        return self.measured[size][key].requests


def _repeat_count(repeats: Repeats, sizes: Sizes) -> int:
    if repeats == "each":
        return sizes.cost_repeats
    if repeats == "bulk":
        return sizes.cost_bulk_repeats
    return 1


def _fixture(adapter: DynamoDBAdapter, messages: int) -> _Fixture:
    main = seed_session(adapter, messages=messages, user_id=USER, active_agent_id=AGENT)
    seed_sessions(adapter, _OTHER_SESSIONS, user_id=USER)
    doomed, emptied, streamed = (seed_session(adapter, messages=messages) for _ in range(3))
    expired = seed_session(adapter, messages=messages, expires_at=utc_now() - timedelta(days=1))
    appended_to = adapter.create_session({"status": "active"}).id
    return _Fixture(adapter, main, doomed, emptied, expired, streamed, appended_to)


def _measure_size(bench: Bench, sizes: Sizes, messages: int, log: Log) -> dict[str, Measured]:
    results: dict[str, Measured] = {}
    with bench.table() as adapter:
        log(f"part 1: seeding sessions of {messages:,} messages")
        fixture = _fixture(adapter, messages)
        with Meter(adapter.models.client) as meter:
            for probe in _PROBES:
                log(f"part 1: {probe.label} on a session of {messages:,}")
                if probe.key == "handle_stream_event":
                    # What the TTL service does before the stream record arrives.
                    adapter.models.client.delete_item(
                        TableName=adapter.config.table_name,
                        Key={"PK": {"S": f"SESSION#{fixture.streamed.id}"}, "SK": {"S": "META"}},
                    )
                if probe.repeats == "each":
                    for index in range(_WARM_UP_CALLS):
                        probe.call(fixture, -1 - index)
                measured: Measured | None = None
                for index in range(_repeat_count(probe.repeats, sizes)):
                    with meter.measure() as usage:
                        seconds = stopwatch(partial(probe.call, fixture, index))
                    if measured is None:
                        measured = Measured(usage, [], [], [])
                    measured.requests.append(usage.requests)
                    measured.capacity.append(usage.capacity)
                    measured.seconds.append(seconds)
                assert measured is not None
                results[probe.key] = measured
    return results


def measure_costs(bench: Bench, sizes: Sizes, log: Log) -> CostResult:
    """Run part 1 at both session sizes; the table compares them with the TypeScript adapter."""
    small, large = sizes.cost_sessions
    measured = {size: _measure_size(bench, sizes, size, log) for size in (small, large)}
    return CostResult((small, large), measured, _table(bench, sizes, measured))


def _table(bench: Bench, sizes: Sizes, measured: dict[int, dict[str, Measured]]) -> ResultTable:
    small, large = sizes.cost_sessions
    columns = [
        Column("method", numeric=False),
        Column(f"requests ({small:,})"),
        Column(f"capacity units ({small:,})"),
        Column(f"ms ({small:,})"),
        Column(f"requests ({large:,})"),
        Column(f"capacity units ({large:,})"),
        Column(f"ms ({large:,})"),
        Column(f"DynamoDB calls ({large:,})", numeric=False),
        Column("TypeScript requests", numeric=False),
        Column("TypeScript time (order of magnitude)", numeric=False),
    ]
    table = ResultTable(
        key="cost",
        title="1. Cost per operation",
        intro=(
            f"One call of each method on a session of {small:,} and of {large:,} messages "
            f"({MESSAGE_DESCRIPTION}), on {bench.description}. *requests*: DynamoDB "
            "API calls the method made; *capacity units*: the sum of the `ConsumedCapacity` "
            "DynamoDB returned for them (`ReturnConsumedCapacity=TOTAL`, added to each request "
            "by the benchmark; table and indexes, transactional writes count double); *ms*: "
            f"median wall time of {sizes.cost_repeats} calls ({sizes.cost_bulk_repeats} for "
            "the calls that read a whole session or scan the table, 1 for the destructive "
            "ones), after 2 warm-up calls. Each size has a table of its own holding the session "
            "measured, 24 more sessions of its user, and one session of the same size for each "
            "destructive call, so the scans (`get_expired_sessions`, `sweep_expired`) read about "
            "five sessions' worth of messages.\n\n"
            "The TypeScript columns quote the TypeScript adapter for the same call "
            f"({REFERENCE_SOURCE}): its requests as its code spends them, and its time only "
            "as an order of magnitude, since it was measured on another machine. "
            "*n* is the session's message count; a *full listing* reads every message of "
            "the session, page after page."
        ),
        columns=columns,
    )
    for probe in _PROBES:
        few, many = measured[small][probe.key], measured[large][probe.key]
        reference = reference_for(probe.key)
        table.add_row(
            f"`{probe.label}`",
            few.requests_label(),
            few.capacity_label(),
            format_ms(median(few.seconds)),
            many.requests_label(),
            many.capacity_label(),
            format_ms(median(many.seconds)),
            many.usage.describe_operations(),
            reference.requests,
            reference.time_label(),
        )
    table.notes.extend(_findings(measured, small, large))
    return table


def _findings(measured: dict[int, dict[str, Measured]], small: int, large: int) -> list[str]:
    """Sentences drawn from the numbers: which calls grow with the session, and which do not."""

    def requests(size: int, probe: _Probe) -> list[int]:
        return measured[size][probe.key].requests

    constant = [
        f"`{probe.label}`"
        for probe in _PROBES
        if probe.repeats == "each" and requests(small, probe) == requests(large, probe)
    ]
    growing = [
        f"`{probe.label}` ({min(requests(large, probe)):,})"
        for probe in _PROBES
        if min(requests(large, probe)) > max(requests(small, probe))
    ]
    health = next(probe for probe in _PROBES if probe.key == "health")
    health_times = [median(measured[size]["health"].seconds) for size in (small, large)]
    return [
        f"The same requests at {small:,} and {large:,} messages: {', '.join(constant)}. "
        "Editing or deleting a message addresses it by the key derived from its id; the "
        "TypeScript adapter lists the whole session for it.",
        f"Requests that grow with the session (at {large:,} messages): "
        f"{', '.join(growing)}: they read or delete all of it, 1 MB pages at a time, "
        "deletes 25 a batch, up to 8 in flight (`delete_all_messages` then writes the counters "
        "once; a session of up to 99 messages goes in one transaction); the scans read the "
        "whole table.",
        f"`{health.label}` took {format_ms(health_times[0])} and "
        f"{format_ms(health_times[1])} ms for the same 2 requests: DynamoDB Local's "
        "`DescribeTable` takes longer on a bigger table.",
    ]
