"""What an adapter spends: requests and capacity units, read from its botocore client's events.

``Meter(client)`` adds ``ReturnConsumedCapacity=TOTAL`` to every request
that accepts it (a ``provide-client-params`` handler: the adapter's own
parameters are otherwise sent unchanged) and adds up the ``ConsumedCapacity``
of the responses (``after-call``). Requests are counted once per API call
(``before-call``), whatever botocore's retries below it. The adapter does not
ask for capacity itself; only a metered client does.

``median`` and ``stopwatch`` are the timing helpers every part shares.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

__all__ = ["Meter", "Usage", "median", "stopwatch"]


@dataclass
class Usage:
    """Requests and capacity units spent while one ``Meter.measure`` block was open."""

    operations: Counter[str] = field(default_factory=Counter)
    capacity_units: float = 0.0
    responses_without_capacity: int = 0
    """Responses to requests that asked for capacity but carried none (moto, for some calls)."""

    @property
    def requests(self) -> int:
        return sum(self.operations.values())

    @property
    def capacity(self) -> float | None:
        """Capacity units, or ``None`` when the backend did not report all of them."""
        return None if self.responses_without_capacity else self.capacity_units

    def describe_operations(self) -> str:
        """``"DeleteItem, Query x3, BatchWriteItem x400"``, in the order first seen."""
        return ", ".join(
            name if count == 1 else f"{name} x{count:,}" for name, count in self.operations.items()
        )


class Meter:
    """Counts the requests and capacity units of one botocore DynamoDB client. Thread-safe."""

    def __init__(self, client: Any) -> None:
        self._events = client.meta.events
        self._lock = threading.Lock()
        self._usage: Usage | None = None
        self._id = f"session-store-bench-meter-{id(self)}"

    def _handlers(self) -> dict[str, Callable[..., None]]:
        return {
            "provide-client-params.dynamodb": self._ask_for_capacity,
            "before-call.dynamodb": self._count,
            "after-call.dynamodb": self._add_capacity,
        }

    def __enter__(self) -> Self:
        # botocore keeps one registration per unique id, whatever the event: one id each.
        for event, handler in self._handlers().items():
            self._events.register(event, handler, unique_id=f"{self._id}-{event}")
        return self

    def __exit__(self, *_: object) -> None:
        for event in self._handlers():
            self._events.unregister(event, unique_id=f"{self._id}-{event}")

    @contextmanager
    def measure(self) -> Iterator[Usage]:
        """Collect what the requests sent inside the block spend."""
        usage = Usage()
        with self._lock:
            self._usage = usage
        try:
            yield usage
        finally:
            with self._lock:
                self._usage = None

    # --- botocore handlers ---

    @staticmethod
    def _ask_for_capacity(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params["ReturnConsumedCapacity"] = "TOTAL"

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            if self._usage is not None:
                self._usage.operations[model.name] += 1

    def _add_capacity(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" not in model.input_shape.members:
            return
        consumed = parsed.get("ConsumedCapacity")
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        with self._lock:
            if self._usage is None or "Error" in parsed:
                return
            if not entries:
                self._usage.responses_without_capacity += 1
                return
            self._usage.capacity_units += sum(
                float(entry.get("CapacityUnits", 0.0)) for entry in entries
            )


def median(samples: Sequence[float]) -> float | None:
    return statistics.median(samples) if samples else None


def stopwatch(function: Callable[[], object]) -> float:
    """Seconds one call of ``function`` takes (wall clock)."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started
