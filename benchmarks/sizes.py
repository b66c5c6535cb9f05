"""How big a run is: the full run that writes ``BENCHMARKS.md``, and the quick one CI runs.

Both run the same code; only the sizes and the number of timed repetitions
differ, so a quick run exercises every measurement the full run makes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FULL", "QUICK", "Sizes"]


@dataclass(frozen=True)
class Sizes:
    """Sizes and repetitions of one run."""

    name: str
    """``"full"`` or ``"quick"``: printed in the report."""

    cost_sessions: tuple[int, int]
    """Part 1: messages in the small and in the large session."""
    cost_repeats: int
    """Part 1: timed calls of an operation whose cost does not depend on the session's size."""
    cost_bulk_repeats: int
    """Part 1: timed calls of an operation that reads or scans a whole session or table."""

    overhead_calls: int
    """Part 2: calls in one timed block."""
    overhead_blocks: int
    """Part 2: timed blocks per side (adapter, raw botocore), alternating; the best counts."""

    scale_messages: tuple[int, int]
    """Part 3: messages of the session read and deleted, at the two sizes compared."""
    scale_sessions: tuple[int, int]
    """Part 3: sessions of the user whose newest 20 are listed."""
    scale_expired: tuple[int, int]
    """Part 3: expired sessions swept."""
    scale_repeats: int
    """Part 3: timed calls of the single-request reads."""
    scale_bulk_repeats: int
    """Part 3: timed reads of the whole session."""
    scale_delete_repeats: int
    """Part 3: sessions deleted each way; the fastest counts."""

    concurrent_sessions: int
    """Part 4: sessions written at the same time."""
    messages_per_session: int
    """Part 4: messages appended to each, one after the other."""
    concurrency_rounds: int
    """Part 4: rounds of each mode; the fastest counts."""

    target_read_messages: int
    """Part 5: messages of the session read whole."""
    target_read_sessions: int
    """Part 5: sessions of the user whose newest 20 are listed."""
    target_rounds: int
    """Part 5: alternating rounds of the whole-session read (5 times as many of the listing)."""
    target_delete_messages: int
    """Part 5: messages of each session deleted through the latency proxy."""
    target_delete_repeats: int
    """Part 5: sessions deleted each way; the fastest counts."""


FULL = Sizes(
    name="full",
    cost_sessions=(10, 10_000),
    cost_repeats=30,
    cost_bulk_repeats=3,
    overhead_calls=100,
    overhead_blocks=15,
    scale_messages=(1_000, 10_000),
    scale_sessions=(500, 5_000),
    scale_expired=(100, 1_000),
    scale_repeats=30,
    scale_bulk_repeats=3,
    scale_delete_repeats=2,
    concurrent_sessions=100,
    messages_per_session=20,
    concurrency_rounds=3,
    target_read_messages=1_000,
    target_read_sessions=500,
    target_rounds=15,
    target_delete_messages=5_000,
    target_delete_repeats=3,
)

QUICK = Sizes(
    name="quick",
    cost_sessions=(10, 120),
    cost_repeats=2,
    cost_bulk_repeats=1,
    overhead_calls=5,
    overhead_blocks=2,
    scale_messages=(30, 120),
    scale_sessions=(25, 60),
    scale_expired=(3, 12),
    scale_repeats=2,
    scale_bulk_repeats=1,
    scale_delete_repeats=1,
    concurrent_sessions=6,
    messages_per_session=3,
    concurrency_rounds=1,
    target_read_messages=60,
    target_read_sessions=30,
    target_rounds=2,
    target_delete_messages=120,
    target_delete_repeats=1,
)
