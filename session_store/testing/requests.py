"""Count the DynamoDB requests an adapter makes, from botocore's own events.

``count_requests(adapter)`` hooks the botocore client behind the adapter's
models (``before-call``: one per API call, whatever the retries below it)
and records each operation, so tests can assert request budgets exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["RequestLog", "count_requests"]


class _HasModels(Protocol):
    @property
    def models(self) -> Any: ...


@dataclass
class RequestLog:
    """The operations sent while the ``count_requests`` block was open, in order."""

    operations: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.operations)

    def by_operation(self) -> Counter[str]:
        return Counter(self.operations)

    def clear(self) -> None:
        self.operations.clear()


@contextmanager
def count_requests(adapter: _HasModels) -> Iterator[RequestLog]:
    """Record every DynamoDB API call the adapter makes inside the block."""
    log = RequestLog()
    events = adapter.models.client.meta.events

    def record(model: Any, **_: Any) -> None:
        log.operations.append(model.name)

    events.register("before-call.dynamodb", record, unique_id=f"session-store-count-{id(log)}")
    try:
        yield log
    finally:
        events.unregister("before-call.dynamodb", unique_id=f"session-store-count-{id(log)}")
