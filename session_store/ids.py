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

__all__ = ["MonotonicUlidGenerator", "new_message_id"]

_RANDOM_BITS = 80
_RANDOM_MAX = (1 << _RANDOM_BITS) - 1


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
            ms, random = self._last_ms, self._last_random
        return ULID.from_bytes(ms.to_bytes(6, "big") + random.to_bytes(10, "big"))


_default_generator = MonotonicUlidGenerator()


def new_message_id() -> ULID:
    """A new message id from the process-wide monotonic generator."""
    return _default_generator.new()
