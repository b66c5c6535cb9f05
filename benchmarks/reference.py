"""What the TypeScript adapter spends: the reference columns of the cost table.

The TypeScript adapter (``@reaatech/session-continuity-storage-dynamodb``
0.1.0, AWS SDK v3, Node 20) cannot be installed by this benchmark, so its
figures are quoted, not measured here. Requests per call are those of its
code as measured on DynamoDB Local. Its times were measured on Amazon DynamoDB
Local 3.3.0 (in memory) on another 2-core machine, mean of 10 to 300 calls
after 5 warm-up calls, requests counted with SDK middleware, with the same
message body as here; they are shown only as an order of magnitude, since
times drift from machine to machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["REFERENCE", "ReferenceCost", "order_of_magnitude"]

REFERENCE_SOURCE = (
    "@reaatech/session-continuity-storage-dynamodb 0.1.0 (AWS SDK v3, Node 20) on "
    "Amazon DynamoDB Local 3.3.0, in memory, on another 2-core machine"
)


@dataclass(frozen=True)
class ReferenceCost:
    """The TypeScript adapter's cost for the call that matches one of ours."""

    requests: str
    """Requests per call, as its code spends them."""
    microseconds: float | None = None
    """Mean wall time per call where it was measured."""
    measured_on: str = ""
    """What the time was measured on, when it depends on the data (a 1,000-message session)."""

    def time_label(self) -> str:
        if self.microseconds is None:
            return "—"
        label = f"~{order_of_magnitude(self.microseconds / 1000)} ms"
        return f"{label} ({self.measured_on})" if self.measured_on else label


def order_of_magnitude(value: float) -> str:
    """``value`` to one significant figure: ``2679`` -> ``"3,000"``, ``15.43`` -> ``"20"``."""
    if value <= 0:
        return "0"
    exponent = math.floor(math.log10(value))
    rounded = round(value / 10**exponent) * 10**exponent
    return f"{rounded:,.0f}" if rounded >= 1 else f"{rounded:.{-exponent}f}"


_THOUSAND = "session of 1,000"
_NO_METHOD = ReferenceCost("— (no such method)")

REFERENCE: dict[str, ReferenceCost] = {
    "create_session": ReferenceCost("1", 2679),
    "get_session": ReferenceCost("1", 2139),
    "update_session": ReferenceCost("2 (update + get)", 4547),
    "add_message": ReferenceCost("1 (no counters, no session check)", 1692),
    "get_messages": ReferenceCost("1 per page", 15430, _THOUSAND),
    "get_messages_tail": ReferenceCost("1 per page", 2395, _THOUSAND),
    "get_messages_page": ReferenceCost("1 per page"),
    "update_message": ReferenceCost("2 full listings of the session + 1 update", 32856, _THOUSAND),
    "update_message_tokens": ReferenceCost("2 full listings of the session + 1 update"),
    "delete_message": ReferenceCost("1 full listing + 1 delete", 17510, _THOUSAND),
    "delete_session": ReferenceCost("1 listing + ⌈n/25⌉ batches + 1", 194036, _THOUSAND),
    "list_sessions": ReferenceCost("1", 2026, "20 of ~500"),
    "get_expired_sessions": ReferenceCost("fails"),
}
"""Keyed by the cost table's row keys; rows without an entry have no TypeScript counterpart."""


def reference_for(key: str) -> ReferenceCost:
    return REFERENCE.get(key, _NO_METHOD)
