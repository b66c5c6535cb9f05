"""Writers racing each other: nothing acknowledged is lost, counters stay exact.

Deterministic races hook the other writer into the first writer's request
(a ``side_effect`` of a fault injected below botocore's retries: it runs
after the request was built, before botocore sends it again); free-running
races use threads behind a ``threading.Barrier`` on DynamoDB Local.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from session_store import DynamoDBAdapter, StorageError
from session_store.table import RetryPolicy, TableConfig
from session_store.testing.backends import Backend
from tests.assertions import assert_counters_exact
from tests.faults import INTERNAL_ERROR, FaultPlan, fail, inject

MakeAdapter = Callable[..., DynamoDBAdapter]


@pytest.fixture
def make_adapter(adapter: DynamoDBAdapter, table_config: TableConfig) -> Iterator[MakeAdapter]:
    """More adapters on the adapter's table, each with its own client (thread-safe)."""
    made: list[DynamoDBAdapter] = []
    lock = threading.Lock()

    def make(max_attempts: int = 3) -> DynamoDBAdapter:
        other = DynamoDBAdapter(
            table_config.table_name,
            region=table_config.region,
            endpoint_url=table_config.endpoint_url,
            retry=RetryPolicy(max_attempts=max_attempts, mode="standard"),
        )
        with lock:
            made.append(other)
        return other

    yield make
    for other in made:
        other.close()


def messages(count: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"m{i}", "token_count": i + 1} for i in range(count)]


# --- delete_all_messages racing delete_message --------------------------------------


def test_delete_all_messages_racing_a_delete_message_keeps_counters_exact(
    adapter: DynamoDBAdapter, make_adapter: MakeAdapter
) -> None:
    session = adapter.create_session({"status": "active"})
    added = adapter.add_messages(session.id, messages(30))
    other = make_adapter()

    def racing_delete() -> None:
        other.delete_message(session.id, added[10].id)

    # The delete lands after the listing, before the transaction reaches DynamoDB.
    plan = FaultPlan(
        fail("TransactWriteItems", with_=INTERNAL_ERROR, times=1, side_effect=racing_delete)
    )
    with inject(adapter, plan) as injector:
        adapter.delete_all_messages(session.id)
    injector.assert_exhausted()
    assert adapter.get_messages(session.id) == []
    assert assert_counters_exact(adapter, session.id).message_count == 0


def test_delete_all_messages_failing_after_a_race_is_finished_by_a_retry_with_exact_counters(
    adapter: DynamoDBAdapter, make_adapter: MakeAdapter
) -> None:
    """A failure midway (every BatchWriteItem after the first fails, beyond botocore's
    retries) leaves counters that a retry of the same call brings to what is left."""
    session = adapter.create_session({"status": "active"})
    added = adapter.add_messages(session.id, messages(30))
    deleter, other = make_adapter(max_attempts=2), make_adapter()

    def racing_delete() -> None:
        other.delete_message(session.id, added[10].id)

    plan = FaultPlan(
        fail("TransactWriteItems", with_=INTERNAL_ERROR, times=1, side_effect=racing_delete),
        fail("BatchWriteItem", with_=INTERNAL_ERROR, skip=1, times=None),
    )
    with inject(deleter, plan), contextlib.suppress(StorageError):
        deleter.delete_all_messages(session.id)
    assert_counters_exact(deleter, session.id)
    deleter.delete_all_messages(session.id)  # the same call, retried
    assert deleter.get_messages(session.id) == []
    assert assert_counters_exact(deleter, session.id).message_count == 0


def delete_all_against_deleters(adapter: DynamoDBAdapter, deleters: list[DynamoDBAdapter]) -> str:
    """One round: ``delete_all_messages`` and ``delete_message`` threads released together
    on a session of 40 messages; the session's id."""
    session = adapter.create_session({"status": "active"})
    added = adapter.add_messages(session.id, messages(40))
    barrier = threading.Barrier(len(deleters) + 1)

    def delete_all() -> None:
        barrier.wait()
        adapter.delete_all_messages(session.id)

    def delete_some(index: int) -> None:
        barrier.wait()
        for message in added[index :: len(deleters)]:
            deleters[index].delete_message(session.id, message.id)

    with ThreadPoolExecutor(len(deleters) + 1) as pool:
        futures = [pool.submit(delete_all)]
        futures += [pool.submit(delete_some, index) for index in range(len(deleters))]
        for future in futures:
            future.result()
    return session.id


@pytest.mark.backends("local")
def test_delete_all_messages_racing_delete_message_threads_keeps_counters_exact(
    backend: Backend, adapter: DynamoDBAdapter, make_adapter: MakeAdapter
) -> None:
    deleters = [make_adapter() for _ in range(3)]
    for _ in range(4):
        session_id = delete_all_against_deleters(adapter, deleters)
        assert adapter.get_messages(session_id) == []
        assert assert_counters_exact(adapter, session_id).message_count == 0
