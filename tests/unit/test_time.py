"""Time on the wire (SPEC §1): ISO strings as JavaScript writes them, whole epoch seconds.

Expected strings were produced by Node's ``new Date(...).toISOString()``.

Decision on pre-1970 instants: ``to_epoch_seconds`` gives the start of the
whole second that contains the instant (floor, as JavaScript's
``Math.floor(date.getTime() / 1000)``), so ``1969-12-31T23:59:59.500Z`` is
``-1``, not ``0``. For every instant from 1970 on, floor and truncation agree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest

from session_store._time import (
    format_iso,
    from_epoch_seconds,
    parse_iso,
    to_epoch_seconds,
    to_millisecond,
    utc_now,
)

IST = timezone(timedelta(hours=5, minutes=30))
PST = timezone(timedelta(hours=-8))
CET = timezone(timedelta(hours=1))
NEPAL = timezone(timedelta(hours=5, minutes=45))


class NoOffset(tzinfo):
    """A tzinfo that does not know its offset: still no instant."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


# --- format_iso == Date.prototype.toISOString ---------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 11, 24, 13, 8, 53, 123000, tzinfo=UTC), "2026-11-24T13:08:53.123Z"),
        (datetime(1970, 1, 1, tzinfo=UTC), "1970-01-01T00:00:00.000Z"),
        (datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC), "1969-07-20T20:17:40.000Z"),
        (datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC), "2024-02-29T23:59:59.999Z"),
        (datetime(2000, 1, 1, tzinfo=UTC), "2000-01-01T00:00:00.000Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), "9999-12-31T23:59:59.999Z"),
        (datetime(1000, 1, 1, tzinfo=UTC), "1000-01-01T00:00:00.000Z"),
        # sub-millisecond digits are dropped, never rounded
        (datetime(2026, 11, 24, 13, 8, 53, 123999, tzinfo=UTC), "2026-11-24T13:08:53.123Z"),
        (datetime(2026, 11, 24, 13, 8, 53, 1, tzinfo=UTC), "2026-11-24T13:08:53.000Z"),
        (datetime(2026, 11, 24, 13, 8, 53, 999, tzinfo=UTC), "2026-11-24T13:08:53.000Z"),
        (datetime(2026, 11, 24, 13, 8, 53, 1000, tzinfo=UTC), "2026-11-24T13:08:53.001Z"),
        (datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "2026-12-31T23:59:59.999Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999Z"),
        # other offsets are converted to UTC (also across a day and a year)
        (datetime(2026, 11, 24, 18, 38, 53, 123000, tzinfo=IST), "2026-11-24T13:08:53.123Z"),
        (datetime(2026, 11, 23, 21, 0, tzinfo=PST), "2026-11-24T05:00:00.000Z"),
        (datetime(2026, 1, 1, 0, 59, 59, 999999, tzinfo=CET), "2025-12-31T23:59:59.999Z"),
        (datetime(2026, 11, 24, 18, 53, 53, 123456, tzinfo=NEPAL), "2026-11-24T13:08:53.123Z"),
        (
            datetime(2026, 11, 24, 13, 8, 53, 123000, tzinfo=timezone(timedelta(0), "GMT")),
            "2026-11-24T13:08:53.123Z",
        ),
    ],
)
def test_format_iso_is_javascript_to_iso_string(value: datetime, expected: str) -> None:
    assert format_iso(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 24, 13, 8, 53, 123456, tzinfo=UTC),
        datetime(2026, 11, 24, 13, 8, 53, tzinfo=PST),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_format_iso_has_the_fixed_shape(value: datetime) -> None:
    text = format_iso(value)
    assert len(text) == 24
    assert text[10] == "T"
    assert text[19] == "."
    assert text.endswith("Z")


def test_format_iso_strings_sort_like_instants() -> None:
    base = datetime(2026, 11, 24, 13, 8, 53, 123000, tzinfo=UTC)
    steps = [-(10**10), -86_400_000, -1000, -1, 0, 1, 999, 1000, 60_000, 86_400_000]
    instants = [base + timedelta(milliseconds=step) for step in steps]
    texts = [format_iso(instant) for instant in instants]
    assert sorted(texts) == texts


# --- parse_iso ----------------------------------------------------------------

EXPECTED = datetime(2026, 11, 24, 13, 8, 53, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24T13:08:53.123Z", EXPECTED),
        ("2026-11-24T13:08:53.123+00:00", EXPECTED),
        ("2026-11-24T13:08:53.123-00:00", EXPECTED),
        ("2026-11-24T18:38:53.123+05:30", EXPECTED),
        ("2026-11-24T05:08:53.123-08:00", EXPECTED),
        ("2026-11-25T00:08:53.123+11:00", EXPECTED),
        # a missing zone is taken as UTC (lenient reader)
        ("2026-11-24T13:08:53.123", EXPECTED),
        # finer precision is truncated to the millisecond
        ("2026-11-24T13:08:53.123999Z", EXPECTED),
        ("2026-11-24T13:08:53.123456+00:00", EXPECTED),
        # coarser precision is fine
        ("2026-11-24T13:08:53Z", datetime(2026, 11, 24, 13, 8, 53, tzinfo=UTC)),
        ("2026-11-24T13:08:53.1Z", datetime(2026, 11, 24, 13, 8, 53, 100000, tzinfo=UTC)),
        ("1970-01-01T00:00:00.000Z", datetime(1970, 1, 1, tzinfo=UTC)),
        ("1969-07-20T20:17:40.000Z", datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC)),
    ],
)
def test_parse_iso(text: str, expected: datetime) -> None:
    parsed = parse_iso(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC
    assert parsed.microsecond % 1000 == 0


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 24, 13, 8, 53, 123000, tzinfo=UTC),
        datetime(2026, 11, 24, 13, 8, 53, 123999, tzinfo=IST),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1000, 1, 1, tzinfo=UTC),
    ],
)
def test_parse_iso_reads_format_iso(value: datetime) -> None:
    assert parse_iso(format_iso(value)) == to_millisecond(value)


@pytest.mark.parametrize(
    "text", ["", "garbage", "2026-13-01T00:00:00Z", "2026-11-24T25:00:00Z", "24/11/2026"]
)
def test_parse_iso_refuses_non_iso(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is datetime's own
        parse_iso(text)


# --- to_millisecond / utc_now -------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            datetime(2026, 11, 24, 13, 8, 53, 123999, tzinfo=UTC),
            datetime(2026, 11, 24, 13, 8, 53, 123000, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 24, 18, 38, 53, 999999, tzinfo=IST),
            datetime(2026, 11, 24, 13, 8, 53, 999000, tzinfo=UTC),
        ),
        (
            datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        ),
    ],
)
def test_to_millisecond(value: datetime, expected: datetime) -> None:
    result = to_millisecond(value)
    assert result == expected
    assert result.tzinfo is UTC


def test_utc_now_is_aware_utc_milliseconds() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    now = utc_now()
    after = datetime.now(UTC)
    assert now.tzinfo is UTC
    assert now.microsecond % 1000 == 0
    assert before <= now <= after


# --- epoch seconds ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), 0),
        (datetime(1970, 1, 1, 0, 0, 0, 999999, tzinfo=UTC), 0),
        (datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), 1),
        (datetime(2026, 11, 24, 13, 13, 22, tzinfo=UTC), 1795526002),
        (datetime(2026, 11, 24, 13, 13, 22, 316000, tzinfo=UTC), 1795526002),
        (datetime(2026, 11, 24, 13, 13, 22, 999999, tzinfo=UTC), 1795526002),
        (datetime(2026, 11, 24, 18, 43, 22, 999000, tzinfo=IST), 1795526002),
        (datetime(2026, 11, 24, 5, 13, 22, 500000, tzinfo=PST), 1795526002),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 253402300799),
        # before 1970: the start of the containing second (floor), as Math.floor in JavaScript
        (datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), -1),
        (datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC), -1),
        (datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), -1),
        (datetime(1969, 12, 31, 23, 59, 58, 1000, tzinfo=UTC), -2),
        (datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC), -14182940),
    ],
)
def test_to_epoch_seconds(value: datetime, expected: int) -> None:
    seconds = to_epoch_seconds(value)
    assert type(seconds) is int
    assert seconds == expected
    # the whole second is the instant with its fraction cut off
    assert from_epoch_seconds(seconds) == value.astimezone(UTC).replace(microsecond=0)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (1795526002, datetime(2026, 11, 24, 13, 13, 22, tzinfo=UTC)),
        (1795526002.999, datetime(2026, 11, 24, 13, 13, 22, tzinfo=UTC)),
        (-1, datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (253402300799, datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_from_epoch_seconds(seconds: float, expected: datetime) -> None:
    value = from_epoch_seconds(seconds)
    assert value == expected
    assert value.tzinfo is UTC


@pytest.mark.parametrize("seconds", [0, 1, -1, 1795526002, 4102444800, -14182940])
def test_epoch_seconds_round_trip(seconds: int) -> None:
    assert to_epoch_seconds(from_epoch_seconds(seconds)) == seconds


# --- naive datetimes ----------------------------------------------------------

NAIVE = [
    pytest.param(datetime(2026, 11, 24, 13, 8, 53, 123000), id="naive"),
    pytest.param(datetime(2026, 11, 24, 13, 8, 53, tzinfo=NoOffset()), id="offsetless-tzinfo"),
]


@pytest.mark.parametrize("value", NAIVE)
@pytest.mark.parametrize(
    "function",
    [format_iso, to_epoch_seconds, to_millisecond],
    ids=["format_iso", "to_epoch_seconds", "to_millisecond"],
)
def test_naive_datetimes_raise(function: Callable[[datetime], object], value: datetime) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        function(value)
