"""``delete_all_messages`` beyond one transaction: parallel batches, then exact counters.

A session of more than 99 messages has its messages deleted by
``BatchWriteItem`` requests side by side, then one guarded ``UpdateItem``
zeroes the counters; whatever moved meanwhile (racing writes, drifted
counters, a failure midway, a lost response) ends in counters equal to a
recount, with ``version`` moved by each write of the session item only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from session_store import DynamoDBAdapter, StorageError
from session_store.counters import count_messages
from session_store.domain import Session
from session_store.gateway import BATCH_SIZE, Gateway
from session_store.models import SessionMeta
from session_store.table import RetryPolicy, TableConfig
from session_store.testing.requests import count_requests
from tests.assertions import assert_counters_exact
from tests.faults import INTERNAL_ERROR, FaultPlan, fail, inject, lose_response
from tests.integration.test_parallel_deletes import batches_in_flight

MANY = 130
"""More than one transaction holds (99 deletes and the counters)."""


@pytest.fixture
def other(table_config: TableConfig) -> Iterator[Callable[..., DynamoDBAdapter]]:
    made: list[DynamoDBAdapter] = []

    def make(max_attempts: int = 3) -> DynamoDBAdapter:
        adapter = DynamoDBAdapter(
            table_config.table_name,
            region=table_config.region,
            endpoint_url=table_config.endpoint_url,
            retry=RetryPolicy(max_attempts=max_attempts, mode="standard"),
        )
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


def filled(adapter: DynamoDBAdapter, count: int = MANY) -> Session:
    """A session of ``count`` messages of 1 to 5 tokens, written by ``add_messages``."""
    session = adapter.create_session({"status": "active"})
    messages = [
        {"role": "user", "content": f"m{index}", "token_count": index % 5 + 1}
        for index in range(count)
    ]
    for start in range(0, count, 99):
        adapter.add_messages(session.id, messages[start : start + 99])
    stored = adapter.get_session(session.id)
    assert stored is not None
    return stored


def stored_version(adapter: DynamoDBAdapter, session_id: str) -> int:
    stored = adapter.get_session(session_id)
    assert stored is not None
    return stored.version


def before_first_batch(
    monkeypatch: pytest.MonkeyPatch, gateway: Gateway, action: Callable[[], None]
) -> list[bool]:
    """Run ``action`` once, after the listing, before the first batch of deletes is sent."""
    ran: list[bool] = []
    original = gateway.batch_write

    def batch_write(requests: Any) -> None:
        if not ran:
            ran.append(True)
            action()
        original(requests)

    monkeypatch.setattr(gateway, "batch_write", batch_write)
    return ran


def test_batches_in_parallel_then_one_counter_write(adapter: DynamoDBAdapter) -> None:
    session = filled(adapter)
    with count_requests(adapter) as log, batches_in_flight(adapter.models.client) as seen:
        adapter.delete_all_messages(session.id)
    batches = -(-MANY // BATCH_SIZE)
    assert log.operations[0] == "Query"
    assert sorted(log.operations[1:]) == sorted(["BatchWriteItem"] * batches + ["UpdateItem"])
    assert log.operations[-1] == "UpdateItem"
    assert seen.most > 1
    assert adapter.get_messages(session.id) == []
    assert assert_counters_exact(adapter, session.id).message_count == 0
    assert stored_version(adapter, session.id) == session.version + 1


def test_ninety_nine_messages_still_go_in_one_transaction(adapter: DynamoDBAdapter) -> None:
    session = filled(adapter, 99)
    with count_requests(adapter) as log:
        adapter.delete_all_messages(session.id)
    assert log.operations == ["Query", "TransactWriteItems"]
    assert assert_counters_exact(adapter, session.id).message_count == 0


@pytest.mark.parametrize("race", ["token update", "delete and append", "append"])
def test_writes_racing_the_batches_leave_exact_counters(
    adapter: DynamoDBAdapter,
    other: Callable[..., DynamoDBAdapter],
    monkeypatch: pytest.MonkeyPatch,
    race: str,
) -> None:
    session = filled(adapter)
    listed = adapter.get_messages(session.id, {"limit": 2})
    writer = other()
    late: list[str] = []

    def act() -> None:
        if race == "token update":
            writer.update_message(session.id, listed[0].id, {"token_count": 50})
            return
        if race == "delete and append":
            writer.delete_message(session.id, listed[1].id)
        late.append(
            writer.add_message(session.id, {"role": "user", "content": "late", "token_count": 7}).id
        )

    ran = before_first_batch(monkeypatch, adapter.models.gateway, act)
    adapter.delete_all_messages(session.id)
    assert ran
    assert [message.id for message in adapter.get_messages(session.id)] == late
    stored = assert_counters_exact(adapter, session.id)
    assert (stored.message_count, stored.token_count) == (len(late), 7 * len(late))


def test_a_failure_midway_leaves_exact_counters_and_a_retry_finishes(
    adapter: DynamoDBAdapter, other: Callable[..., DynamoDBAdapter]
) -> None:
    session = filled(adapter)
    deleter = other(max_attempts=2)
    plan = FaultPlan(fail("BatchWriteItem", with_=INTERNAL_ERROR, skip=1, times=None))
    with inject(deleter, plan), pytest.raises(StorageError):
        deleter.delete_all_messages(session.id)
    left = assert_counters_exact(adapter, session.id)  # recounted before raising
    assert 0 < left.message_count < MANY
    deleter.delete_all_messages(session.id)  # the same call, retried
    assert adapter.get_messages(session.id) == []
    assert assert_counters_exact(adapter, session.id).message_count == 0


def test_a_lost_counter_response_moves_the_version_once(
    adapter: DynamoDBAdapter, other: Callable[..., DynamoDBAdapter]
) -> None:
    session = filled(adapter)
    deleter = other()
    with inject(deleter, FaultPlan(lose_response("UpdateItem"))) as injector:
        deleter.delete_all_messages(session.id)
    injector.assert_exhausted()
    assert assert_counters_exact(adapter, session.id).message_count == 0
    assert stored_version(adapter, session.id) == session.version + 1


def _set_counters(adapter: DynamoDBAdapter, session_id: str, expression: str) -> None:
    client: Any = adapter.models.client
    values = {"ExpressionAttributeValues": {":v": {"N": "3"}}} if ":v" in expression else {}
    client.update_item(
        TableName=adapter.config.table_name,
        Key=SessionMeta.key(session_id),
        UpdateExpression=expression,
        **values,
    )


@pytest.mark.parametrize(
    "expression",
    ["REMOVE messageCount, tokenCount, version", "SET messageCount = :v", "SET tokenCount = :v"],
    ids=["no counters (TypeScript)", "message count drifted", "token count drifted"],
)
def test_counters_that_did_not_match_are_recounted(
    adapter: DynamoDBAdapter, expression: str
) -> None:
    session = filled(adapter)
    _set_counters(adapter, session.id, expression)
    adapter.delete_all_messages(session.id)
    assert adapter.get_messages(session.id) == []
    assert assert_counters_exact(adapter, session.id).message_count == 0


def test_messages_without_a_session_item_are_deleted(adapter: DynamoDBAdapter) -> None:
    session = filled(adapter)
    adapter.models.client.delete_item(
        TableName=adapter.config.table_name, Key=SessionMeta.key(session.id)
    )
    adapter.delete_all_messages(session.id)
    assert count_messages(adapter.models.gateway, session.id).message_count == 0
    assert adapter.get_session(session.id) is None  # no session item is written


def test_a_killed_call_leaves_counters_above_the_truth_never_below(
    adapter: DynamoDBAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process stopped between batches (no recount runs): counters say more than is
    stored until the call is repeated, which makes them exact."""
    session = filled(adapter)
    gateway = adapter.models.gateway
    original = gateway.batch_write
    sent: list[bool] = []

    class Killed(BaseException):
        pass

    def batch_write(requests: Any) -> None:
        if sent:
            raise Killed
        sent.append(True)
        original(requests)

    monkeypatch.setattr(gateway, "batch_write", batch_write)
    monkeypatch.setattr("session_store.counters.recount_session", lambda *_, **__: None)
    with contextlib.suppress(Killed):
        adapter.delete_all_messages(session.id)
    monkeypatch.undo()
    stored = adapter.get_session(session.id)
    assert stored is not None
    left = count_messages(adapter.models.gateway, session.id)
    assert left.message_count < stored.message_count == MANY
    adapter.delete_all_messages(session.id)
    assert assert_counters_exact(adapter, session.id).message_count == 0
