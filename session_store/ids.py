"""Message ids: ULIDs, monotonic within the process.

A ULID's first 48 bits are its creation time in milliseconds, so a message's
``created_at`` can always be recovered from its id (``keys.message_sk_for_id``
relies on this to address a message without listing the session).
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

from ulid import ULID

__all__ = ["MonotonicUlidGenerator", "new_message_id", "new_message_id_text", "ulid_instant"]

_RANDOM_BITS = 80
_RANDOM_MAX = (1 << _RANDOM_BITS) - 1
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# A ULID's text is its 128 bits as 26 Crockford base32 digits (130 bits, the top two 0):
# 13 pairs of digits, each pair 10 bits, looked up in a table of all 1,024 pairs.
_DIGIT_PAIRS = tuple(high + low for high in _CROCKFORD for low in _CROCKFORD)
_PAIR_SHIFTS = tuple(range(120, -1, -10))
_TEXT_LENGTH = 26
_from_timestamp = datetime.fromtimestamp  # bound once: tests script ``datetime.now`` alone


def ulid_text(value: int) -> str:
    """``str(ULID)`` of the 128-bit ``value``, without making the ``ULID``."""
    pairs = _DIGIT_PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


_ULID_DIGITS = frozenset(_CROCKFORD)
_TIME_DIGITS = 10
# Crockford's digits to ``int(text, 32)``'s, which are in the same order.
_FROM_CROCKFORD = str.maketrans(_CROCKFORD, "0123456789abcdefghijklmnopqrstuv")


def ulid_instant(text: str) -> datetime | None:
    """``ULID.from_str(text).datetime``, or ``None`` where that raises ``ValueError`` (not
    26 of its digits, a first digit past 7, an instant past year 9999), without decoding
    the random part."""
    if len(text) != _TEXT_LENGTH or text[0] > "7" or not _ULID_DIGITS.issuperset(text):
        return None
    millis = int(text[:_TIME_DIGITS].translate(_FROM_CROCKFORD), 32)
    try:
        return _from_timestamp(millis / 1000, UTC)
    except ValueError:
        return None


class MonotonicUlidGenerator:
    """Hands out strictly increasing ULIDs, even within one millisecond.

    Within a millisecond the random part is incremented; if the clock steps
    back, the last millisecond is reused, so ids never go backwards in this
    process. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0

    def new(self) -> ULID:
        ms, random = self._next()
        return ULID.from_bytes(ms.to_bytes(6, "big") + random.to_bytes(10, "big"))

    def new_text(self) -> tuple[str, datetime]:
        """A new id as ``new()`` would make it, as its text and its instant
        (``str(ulid)``, ``ulid.datetime``): what an append needs, at a fraction of the cost."""
        ms, random = self._next()
        return ulid_text(ms << _RANDOM_BITS | random), _from_timestamp(ms / 1000, UTC)

    def _next(self) -> tuple[int, int]:
        """The next id's millisecond and random part."""
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        with self._lock:
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                # Leave headroom so increments within the millisecond never overflow.
                self._last_random = int.from_bytes(os.urandom(10), "big") >> 1
            else:
                self._last_random += 1
                if self._last_random > _RANDOM_MAX:  # pragma: no cover - 2**79 ids in 1 ms
                    self._last_ms += 1
                    self._last_random = 0
            return self._last_ms, self._last_random


_default_generator = MonotonicUlidGenerator()


def new_message_id() -> ULID:
    """A new message id from the process-wide monotonic generator."""
    return _default_generator.new()


def new_message_id_text() -> tuple[str, datetime]:
    """A new message id from the process-wide generator, as its text and its instant."""
    return _default_generator.new_text()
