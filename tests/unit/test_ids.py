"""Message ids (SPEC §3 ``add_message``): ULIDs, monotonic within the process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ulid import ULID

from session_store import ids
from session_store.ids import MonotonicUlidGenerator, new_message_id
from session_store.keys import message_id_timestamp

T0 = datetime(2026, 11, 24, 13, 13, 22, 316000, tzinfo=UTC)
T0_MS = 1795526002316


class ScriptedClock:
    """Stands in for ``datetime`` in ``session_store.ids``: ``now()`` follows a script."""

    def __init__(self, instants: Iterable[datetime]) -> None:
        self._instants = iter(instants)

    def now(self, tz: tzinfo | None = None) -> datetime:
        assert tz is UTC
        return next(self._instants)


def random_part(ulid: ULID) -> int:
    return int.from_bytes(ulid.bytes[6:], "big")


def assert_strictly_increasing(sequence: list[ULID]) -> None:
    for earlier, later in pairwise(sequence):
        assert earlier < later
        assert str(earlier) < str(later)  # the text sorts the same way (sort keys use it)
        assert earlier.bytes < later.bytes


def test_tight_loop_is_strictly_increasing() -> None:
    generator = MonotonicUlidGenerator()
    made = [generator.new() for _ in range(10_000)]
    assert_strictly_increasing(made)
    assert len({str(ulid) for ulid in made}) == 10_000


def test_threads_get_unique_ids_each_thread_increasing() -> None:
    generator = MonotonicUlidGenerator()
    threads_count, per_thread = 8, 2_000
    start = threading.Barrier(threads_count)
    results: list[list[ULID]] = [[] for _ in range(threads_count)]

    def work(index: int) -> None:
        start.wait()
        own = results[index]
        for _ in range(per_thread):
            own.append(generator.new())

    threads = [threading.Thread(target=work, args=(index,)) for index in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for own in results:
        assert len(own) == per_thread
        assert_strictly_increasing(own)
    every = [str(ulid) for own in results for ulid in own]
    assert len(set(every)) == threads_count * per_thread


def test_timestamp_is_now() -> None:
    generator = MonotonicUlidGenerator()
    before_ms = time.time_ns() // 1_000_000
    made = generator.new()
    after_ms = time.time_ns() // 1_000_000
    assert before_ms - 2 <= made.milliseconds <= after_ms + 2
    assert abs(made.datetime - datetime.now(UTC)) < timedelta(seconds=1)


def test_id_timestamp_is_what_keys_read_back() -> None:
    made = new_message_id()
    text = str(made)
    assert len(text) == 26
    assert message_id_timestamp(text) == made.datetime


def test_ids_take_the_clock_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "datetime", ScriptedClock([T0 + timedelta(microseconds=999)]))
    made = MonotonicUlidGenerator().new()
    assert made.milliseconds == T0_MS
    assert made.datetime == T0


def test_same_millisecond_increments_the_random_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "datetime", ScriptedClock([T0] * 5))
    generator = MonotonicUlidGenerator()
    made = [generator.new() for _ in range(5)]
    assert [ulid.milliseconds for ulid in made] == [T0_MS] * 5
    first = random_part(made[0])
    assert [random_part(ulid) for ulid in made] == [first + step for step in range(5)]
    # a fresh millisecond starts low enough that increments cannot overflow soon
    assert first < 1 << 79


@pytest.mark.parametrize(
    ("offsets_ms", "expected_ms"),
    [
        # clock steps back by 5 s, then catches up
        ([0, 0, -5000, -5000, -4999, 1, 2], [0, 0, 0, 0, 0, 1, 2]),
        # one millisecond back
        ([10, 9, 10, 11], [10, 10, 10, 11]),
        # a step back to before 1970's ids would ever be
        ([0, -(10**12), 3], [0, 0, 3]),
        # forward jumps are taken as they come
        ([0, 60_000, 59_999, 120_000], [0, 60_000, 60_000, 120_000]),
    ],
)
def test_clock_stepping_back_never_makes_ids_go_back(
    monkeypatch: pytest.MonkeyPatch, offsets_ms: list[int], expected_ms: list[int]
) -> None:
    clock = ScriptedClock(T0 + timedelta(milliseconds=offset) for offset in offsets_ms)
    monkeypatch.setattr(ids, "datetime", clock)
    generator = MonotonicUlidGenerator()
    made = [generator.new() for _ in offsets_ms]
    assert_strictly_increasing(made)
    assert [ulid.milliseconds - T0_MS for ulid in made] == expected_ms


def test_random_part_overflow_moves_to_the_next_millisecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ids, "datetime", ScriptedClock([T0, T0]))
    generator = MonotonicUlidGenerator()
    first = generator.new()
    generator._last_random = (1 << 80) - 1  # as if 2**80 ids were made in this millisecond
    largest = ULID.from_bytes(T0_MS.to_bytes(6, "big") + b"\xff" * 10)
    second = generator.new()
    assert first < largest < second
    assert second.milliseconds == T0_MS + 1
    assert random_part(second) == 0


def test_new_message_id_is_process_wide_and_increasing() -> None:
    made = [new_message_id() for _ in range(1_000)]
    assert all(isinstance(ulid, ULID) for ulid in made)
    assert_strictly_increasing(made)


@pytest.mark.parametrize(
    "value",
    [
        0,
        1,
        31,
        32,
        (1 << 80) - 1,
        1 << 80,
        T0_MS << 80,
        (T0_MS << 80) | 0xABCDEF,
        1 << 127,
        (1 << 128) - 1,
    ],
)
def test_ulid_text_is_the_ulid_s_own_text(value: int) -> None:
    assert ids.ulid_text(value) == str(ULID.from_bytes(value.to_bytes(16, "big")))


def test_new_text_is_what_new_would_have_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "datetime", ScriptedClock([T0, T0]))
    generator = MonotonicUlidGenerator()
    text, at = generator.new_text()
    following = generator.new()
    assert at == T0 == following.datetime
    assert len(text) == 26
    made = ULID.from_str(text)
    assert made.datetime == at
    assert int(following) == int(made) + 1  # same millisecond: the random part went up by one


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _instant_or_none(text: str) -> datetime | None:
    try:
        return ULID.from_str(text).datetime
    except ValueError:
        return None


@given(
    st.integers(0, 2**128 - 1).map(ids.ulid_text)
    | st.text(alphabet=_CROCKFORD + "ilouIL!é-", min_size=25, max_size=27)
    | st.text(alphabet=_CROCKFORD, min_size=26, max_size=26)
)
def test_ulid_instant_is_the_ulid_s_own_instant_or_none_where_it_raises(text: str) -> None:
    assert ids.ulid_instant(text) == _instant_or_none(text)


@pytest.mark.parametrize(
    "text",
    ["7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "8000000000000000000000000", "01arz3ndektsv4rrffq69g5fav"],
)
def test_ulid_instant_refuses_what_ulids_refuse(text: str) -> None:
    assert ids.ulid_instant(text) is None
    assert _instant_or_none(text) is None
