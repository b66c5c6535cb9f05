"""Parallel batch deletes: bounded, complete, stopped by a failure, within the sort-key bound."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest

from session_store import keys
from session_store.counters import count_messages
from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import StorageError, ValidationError
from session_store.gateway import BATCH_SIZE
from session_store.models import Message as MessageItem
from session_store.planning import delete_session_messages
from session_store.table import BoundModels, RetryPolicy, TableConfig, bind_models
from tests.faults import FaultPlan, inject, unprocessed


@dataclass
class InFlight:
    """``BatchWriteItem`` calls in flight at once, as botocore's call events see them."""

    now: int = 0
    most: int = 0
    calls: int = 0


@contextmanager
def batches_in_flight(client: Any) -> Iterator[InFlight]:
    seen = InFlight()
    lock = threading.Lock()

    def started(**_: Any) -> None:
        with lock:
            seen.now += 1
            seen.calls += 1
            seen.most = max(seen.most, seen.now)
        time.sleep(0.005)  # widens each call so overlapping ones do overlap here

    def ended(**_: Any) -> None:
        with lock:
            seen.now -= 1

    events = client.meta.events
    events.register("before-call.dynamodb.BatchWriteItem", started, unique_id="in-flight-start")
    events.register("after-call.dynamodb.BatchWriteItem", ended, unique_id="in-flight-end")
    try:
        yield seen
    finally:
        events.unregister("before-call.dynamodb.BatchWriteItem", unique_id="in-flight-start")
        events.unregister("after-call.dynamodb.BatchWriteItem", unique_id="in-flight-end")


def _seed(bound: BoundModels, session_id: str, count: int) -> list[dict[str, Any]]:
    """``count`` message items of one session, written directly (keys and a token count)."""
    items = [
        {
            "PK": {"S": keys.session_pk(session_id)},
            "SK": {"S": f"{keys.MESSAGE_PREFIX}2026-01-01T00:00:{index // 1000:02d}.{index:06d}"},
            MessageItem.token_count.attr_name: {"N": "1"},
        }
        for index in range(count)
    ]
    bound.gateway.batch_put(items)
    return items


def _all_of(session_id: str) -> dict[str, Any]:
    return {
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": keys.session_pk(session_id)}},
        "ConsistentRead": True,
    }


def test_parallel_batch_delete_deletes_everything_with_bounded_batches(
    bound: BoundModels,
) -> None:
    items = _seed(bound, "parallel", 12 * BATCH_SIZE + 7)
    keys_only = [{"PK": item["PK"], "SK": item["SK"]} for item in items]
    with batches_in_flight(bound.client) as seen:
        bound.gateway.batch_delete(keys_only, parallel=4)
    assert seen.calls == 13  # the same batches as one after the other
    assert 1 < seen.most <= 4
    assert count_messages(bound.gateway, "parallel").message_count == 0


def test_one_batch_is_sent_on_the_calling_thread(bound: BoundModels) -> None:
    items = _seed(bound, "small", 10)
    callers: list[str] = []
    bound.client.meta.events.register(
        "before-call.dynamodb.BatchWriteItem",
        lambda **_: callers.append(threading.current_thread().name),
        unique_id="caller",
    )
    bound.gateway.batch_delete([{"PK": i["PK"], "SK": i["SK"]} for i in items], parallel=8)
    assert callers == [threading.current_thread().name]


def test_a_failed_batch_stops_the_deletes_and_raises(
    bound: BoundModels, table_config: TableConfig
) -> None:
    items = _seed(bound, "failing", 20 * BATCH_SIZE)
    keys_only = [{"PK": item["PK"], "SK": item["SK"]} for item in items]
    # One attempt a call: the gateway resends unprocessed items 2 x 1 x 2 = 4 times, then fails.
    impatient = bind_models(replace(table_config, retry=RetryPolicy(max_attempts=1)))
    plan = FaultPlan(unprocessed(hold_back=1, times=None))
    with (
        inject(impatient.client, plan),
        batches_in_flight(impatient.client) as seen,
        pytest.raises(StorageError, match="unprocessed"),
    ):
        impatient.gateway.batch_delete(keys_only, parallel=2)
    impatient.close()
    # The two batches in flight ran their rounds; none was started after the first failed.
    assert seen.calls == 2 * 4
    assert count_messages(bound.gateway, "failing").message_count == len(items) - 2 * 24


def test_parallel_must_be_a_positive_integer(bound: BoundModels) -> None:
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValidationError):
            bound.gateway.batch_delete([], parallel=bad)  # type: ignore[arg-type]


def test_deleting_a_sessions_messages_stays_below_the_sort_key_bound(
    bound: BoundModels,
) -> None:
    items = _seed(bound, "reused", 9 * BATCH_SIZE)
    # Between two messages: the later ones belong to a later session under the same id.
    bound_key = items[5 * BATCH_SIZE + 3]["SK"]["S"] + "#"
    deleted = delete_session_messages(bound.gateway, "reused", sort_key_below=bound_key)
    assert deleted == 5 * BATCH_SIZE + 4
    remaining = [item["SK"] for item in bound.gateway.items("Query", _all_of("reused"))]
    assert remaining == [item["SK"] for item in items[5 * BATCH_SIZE + 4 :]]
    assert count_messages(bound.gateway, "reused").message_count == len(items) - deleted


def test_delete_session_removes_every_message_in_parallel(adapter: DynamoDBAdapter) -> None:
    session = adapter.create_session({"status": "active"})
    adapter.add_messages(session.id, [{"role": "user", "content": "x"}] * 20)
    _seed(adapter.models, session.id, 8 * BATCH_SIZE)
    with batches_in_flight(adapter.models.client) as seen:
        adapter.delete_session(session.id)
    assert seen.most > 1
    assert count_messages(adapter.models.gateway, session.id).message_count == 0
