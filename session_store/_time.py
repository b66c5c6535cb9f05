"""Time on the wire: ISO-8601 millisecond UTC strings and whole epoch seconds.

The TypeScript adapter writes dates with JavaScript's ``Date.toISOString()``
(``2026-11-24T13:08:53.123Z``) and expiry as whole epoch seconds; these pure
functions are the only place that knows either encoding.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = [
    "format_iso",
    "from_epoch_seconds",
    "parse_iso",
    "to_epoch_seconds",
    "to_millisecond",
    "to_whole_second",
    "utc_now",
]


def to_millisecond(value: datetime) -> datetime:
    """The same instant in UTC, truncated to whole milliseconds.

    Raises ``ValueError`` for a naive datetime: an instant needs a zone.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def utc_now() -> datetime:
    """Now, in UTC, at millisecond precision."""
    return to_millisecond(datetime.now(UTC))


def format_iso(value: datetime) -> str:
    """``2026-11-24T13:08:53.123Z``: exactly JavaScript's ``toISOString()``."""
    if value.tzinfo is not UTC:
        value = to_millisecond(value)
    # isoformat truncates to milliseconds as toISOString does, and ends in "+00:00" in UTC.
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_iso(text: str) -> datetime:
    """Read an ISO-8601 instant; a missing zone is taken as UTC (lenient reader)."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return to_millisecond(parsed)


def to_epoch_seconds(value: datetime) -> int:
    """Whole epoch seconds, truncated (the encoding of ``expiresAt`` and ``ttl``)."""
    return int(to_millisecond(value).timestamp() // 1)


def from_epoch_seconds(seconds: int | float) -> datetime:
    """The UTC instant of whole epoch seconds."""
    return datetime.fromtimestamp(int(seconds), UTC)


def to_whole_second(value: datetime | None) -> datetime | None:
    """``value`` truncated to whole seconds, as the table stores ``expiresAt``."""
    return None if value is None else from_epoch_seconds(to_epoch_seconds(value))
