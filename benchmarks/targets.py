"""Part 5: the speed targets, each as a ratio measured in this run, met or missed.

Every target is a ratio to raw botocore sending the same requests, measured
side by side in one run (the TypeScript adapter cannot be installed here; its
ratios from the side-by-side reference run stand beside ours):

- reads (``benchmarks.decode``, on the benchmark's backend): all pages of a
  session's messages through ``get_messages`` at most 0.5x raw botocore's
  wall time, a user's newest 20 sessions through ``list_sessions`` at most
  1.0x;
- client overhead (part 2's measurement, replayed responses, CPU time):
  ``get_session``, ``add_message``, ``update_session`` and ``update_message``
  at most 1.1x (taken from part 2 when it ran in the same run);
- deletes through a latency proxy (``benchmarks.deletes``: 10 ms each way in
  front of DynamoDB Local): ``delete_session``, ``sweep_expired`` and
  ``delete_all_messages`` at least 3x faster than raw botocore sending the
  same requests one after another (DynamoDB Local only: the proxy needs a
  server to forward to).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmarks.environment import Bench, Log
from benchmarks.overhead import TARGET_RATIO, OverheadResult
from benchmarks.report import Column, ResultTable, format_ratio
from benchmarks.sizes import Sizes

if TYPE_CHECKING:  # imported when measuring: both modules also run as ``python -m``
    from benchmarks.decode import DecodeResult, Timing
    from benchmarks.deletes import DeleteTiming

__all__ = ["READ_TARGETS", "TargetRow", "TargetsResult", "measure_targets"]

READ_TARGETS = {"get_messages": 0.5, "list_sessions": 1.0}
"""The most each read may take, as a multiple of raw botocore's time for the same requests."""
DELETE_SPEED_UP = 3.0
"""How many times faster than the same requests one after another each bulk delete must be."""
_PROXY_DELAY = 0.010
_STORAGE_BOUND = 0.6
"""The share of the wall time DynamoDB Local's storage thread was busy from which the
deletes are said to be bound by it (the rest is the steps before the first batch, and the
thread waiting for the cores it shares)."""
_OVERHEAD_TARGETED = ("get_session", "add_message", "update_session", "update_message")

# session_store / TypeScript ratios from the side-by-side reference run
# (../shared/anchors/reference-timings.md, 2026-12-02): the TypeScript adapter's time over
# raw botocore's for the same query in that run.
_TYPESCRIPT_RATIOS = {"get_messages": 17528 / 33003, "list_sessions": 2568 / 2570}


@dataclass(frozen=True)
class TargetRow:
    """One target: what was measured, the ratio, and whether it is met."""

    key: str
    label: str
    ours: str
    raw: str
    ratio: float | None
    """Ours over raw botocore (reads, overhead); raw over ours for the delete speed-ups."""
    goal: str
    met: bool | None
    """``None``: not measured in this run."""


@dataclass
class TargetsResult:
    rows: list[TargetRow]
    reads: DecodeResult | None
    deletes: list[DeleteTiming] | None
    table: ResultTable

    def row(self, key: str) -> TargetRow:
        return next(row for row in self.rows if row.key == key)


def _timing(timings: list[Timing], path: str) -> Timing:
    return next(timing for timing in timings if timing.path == path)


def _read_row(key: str, label: str, timings: list[Timing]) -> TargetRow:
    raw, ours = _timing(timings, "raw botocore"), _timing(timings, "adapter")
    ratio = ours.median_ms / raw.median_ms
    limit = READ_TARGETS[key]
    return TargetRow(
        key,
        label,
        f"{ours.median_ms:.2f} ms",
        f"{raw.median_ms:.2f} ms",
        ratio,
        f"≤ {limit}x",
        ratio <= limit,
    )


def _overhead_rows(overhead: OverheadResult | None) -> list[TargetRow]:
    rows = []
    for key in _OVERHEAD_TARGETED:
        label = f"`{key}` client overhead (part 2)"
        goal = f"≤ {TARGET_RATIO}x"
        if overhead is None:
            rows.append(TargetRow(key, label, "—", "—", None, goal, None))
            continue
        result = overhead.result(key)
        rows.append(
            TargetRow(
                key,
                f"`{result.case.label}` client overhead (part 2)",
                f"{result.adapter_seconds * 1e6:,.0f} µs",
                f"{result.raw_seconds * 1e6:,.0f} µs",
                result.ratio,
                goal,
                result.ratio <= TARGET_RATIO,
            )
        )
    return rows


def _delete_rows(deletes: list[DeleteTiming] | None, messages: int) -> list[TargetRow]:
    from benchmarks.deletes import (
        DELETE_MESSAGES,
        DELETE_SESSION,
        RAW_MESSAGES,
        RAW_SESSION,
        RAW_SWEEP,
        SWEEP,
    )

    goal = f"≥ {DELETE_SPEED_UP:g}x faster"
    cases = (
        ("delete_session", DELETE_SESSION, RAW_SESSION),
        ("sweep_expired", SWEEP, RAW_SWEEP),
        ("delete_all_messages", DELETE_MESSAGES, RAW_MESSAGES),
    )
    if deletes is None:
        return [
            TargetRow(key, f"`{key}`, {messages:,} messages", "—", "—", None, goal, None)
            for key, _, _ in cases
        ]
    by_label = {timing.label: timing for timing in deletes}
    rows = []
    for key, ours_label, raw_label in cases:
        ours, raw = by_label[ours_label], by_label[raw_label]
        speed_up = raw.seconds / ours.seconds
        rows.append(
            TargetRow(
                key,
                f"`{key}`, {messages:,} messages, through the proxy (speed-up)",
                f"{ours.seconds:.2f} s, {ours.requests:,} requests",
                f"{raw.seconds:.2f} s, {raw.requests:,} requests",
                speed_up,
                goal,
                speed_up >= DELETE_SPEED_UP,
            )
        )
    return rows


def measure_targets(
    bench: Bench, sizes: Sizes, log: Log, overhead: OverheadResult | None
) -> TargetsResult:
    """Run part 5: the reads and the deletes here, the overhead taken from part 2's result."""
    from benchmarks.decode import measure_decode
    from benchmarks.deletes import measure_deletes

    messages, sessions = sizes.target_read_messages, sizes.target_read_sessions
    log(f"part 5: reads of {messages:,} messages and of {sessions:,} sessions, paths alternating")
    reads = measure_decode(bench, messages=messages, sessions=sessions, rounds=sizes.target_rounds)
    rows = [
        _read_row(
            "get_messages", f"`get_messages`, all pages of {messages:,} messages", reads.messages
        ),
        _read_row(
            "list_sessions", f"`list_sessions`, a user's newest 20 of {sessions:,}", reads.sessions
        ),
        *_overhead_rows(overhead),
    ]
    deletes = None
    endpoint = bench.backend.endpoint_url
    if endpoint is not None:
        log(f"part 5: deletes of {sizes.target_delete_messages:,} messages through the proxy")
        deletes = measure_deletes(
            endpoint,
            bench.backend.region,
            sizes.target_delete_messages,
            sizes.target_delete_repeats,
            _PROXY_DELAY,
            server_pid=bench.server_pid,
        )
    rows += _delete_rows(deletes, sizes.target_delete_messages)
    return TargetsResult(rows, reads, deletes, _table(bench, sizes, rows, reads, deletes))


def _verdict(row: TargetRow) -> str:
    if row.met is None:
        return "not measured in this run"
    return "met" if row.met else "**missed**"


def _table(
    bench: Bench,
    sizes: Sizes,
    rows: list[TargetRow],
    reads: DecodeResult,
    deletes: list[DeleteTiming] | None,
) -> ResultTable:
    table = ResultTable(
        key="targets",
        title="5. Speed targets (same-run ratios to raw botocore)",
        intro=(
            "Each target as a ratio measured in this run against raw botocore sending the "
            "same requests, alternating, so load from other processes hits both alike. "
            f"*Reads* on {bench.description}: wall time per call, the median of "
            f"{sizes.target_rounds} rounds (5 times as many for the listing), *ratio* = "
            "ours / raw botocore (raw botocore: a plain client sending the adapter's very "
            "requests, items left as DynamoDB JSON). *Client overhead*: part 2's CPU time on "
            "replayed responses. *Deletes*: through a proxy adding "
            f"{_PROXY_DELAY * 1000:.0f} ms each way in front of DynamoDB Local, the best of "
            f"{sizes.target_delete_repeats} session(s) each way after an untimed round of "
            "each way, the proxy in a process of its own; *ratio* = raw botocore sending "
            "the same requests one after another / ours (a speed-up). The TypeScript column "
            "is the TypeScript adapter's time over raw botocore's for the same query in the "
            "side-by-side reference run (same machine type, 2026-12-02)."
        ),
        columns=[
            Column("target", numeric=False),
            Column("ours"),
            Column("raw botocore"),
            Column("ratio"),
            Column("TypeScript / raw (reference run)"),
            Column("goal", numeric=False),
            Column("verdict", numeric=False),
        ],
    )
    for row in rows:
        typescript = _TYPESCRIPT_RATIOS.get(row.key)
        table.add_row(
            row.label,
            row.ours,
            row.raw,
            format_ratio(row.ratio),
            "—" if typescript is None else format_ratio(typescript),
            row.goal,
            _verdict(row),
        )
    raw_messages = _timing(reads.messages, "raw botocore").median_ms
    table.notes.append(
        "Where the whole-session read's time goes (medians, ratio to raw botocore): "
        + ", ".join(
            f"{timing.path} {timing.median_ms / raw_messages:.2f}x" for timing in reads.messages
        )
        + "."
    )
    read = next((row for row in rows if row.key == "get_messages"), None)
    if read is not None and read.met is False and read.ratio is not None:
        floor = _timing(reads.messages, "botocore + fast decode").median_ms / raw_messages
        table.notes.append(
            f"What bounds `get_messages` here: botocore with the fast decode path alone, the "
            f"items left as DynamoDB JSON, already takes {floor:.2f}x, the server's time on "
            "the same two cores, the transport and signing, which no layer on top removes; "
            + (
                f"turning the items into messages adds the other {read.ratio - floor:.2f}x. "
                if read.ratio > floor
                else "the adapter, items turned into messages, is no slower than that. "
            )
            + "The server's share of that wall time moves from run to run (the client's CPU "
            "per read does not), so the ratio moves with it."
        )
    _add_delete_note(table, deletes)
    missed = [row for row in rows if row.met is False]
    table.notes.append(
        "Every target measured here is met."
        if not missed
        else "Missed: "
        + "; ".join(f"{row.label} at {format_ratio(row.ratio)} ({row.goal})" for row in missed)
        + "."
    )
    return table


def _add_delete_note(table: ResultTable, deletes: list[DeleteTiming] | None) -> None:
    """DynamoDB Local's CPU time during each way of deleting, where it was read."""
    from benchmarks.deletes import RAW_MESSAGES, RAW_SESSION, RAW_SWEEP

    timed = [timing for timing in deletes or () if timing.server_seconds is not None]
    if not timed:
        return
    note = (
        "DynamoDB Local's CPU time while each way deleted, the whole server's / its storage "
        "thread's (one thread runs all of its SQLite statements, one after another): "
        + "; ".join(
            f"{timing.label} {timing.server_seconds:.2f} s / {_seconds(timing.storage_seconds)} "
            f"in {timing.seconds:.2f} s"
            for timing in timed
        )
    )
    busiest = max(
        (
            timing.storage_seconds / timing.seconds
            for timing in timed
            if timing.label not in (RAW_SESSION, RAW_MESSAGES, RAW_SWEEP)
            and timing.storage_seconds is not None
        ),
        default=0.0,
    )
    if busiest >= _STORAGE_BOUND:
        note += (
            f". With the batches side by side the storage thread was busy up to {busiest:.0%} "
            "of the wall time: that one thread's time per batch, not the round trips, bounds "
            "the speed-up on this machine, however many batches are in flight"
        )
    table.notes.append(note + ".")


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"
