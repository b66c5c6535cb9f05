"""``add_messages``: many messages appended in one transaction, all or none, on every backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_store import (
    AsyncDynamoDBAdapter,
    DynamoDBAdapter,
    MemoryAdapter,
    Session,
    SessionNotFoundError,
    StorageAdapter,
    ValidationError,
)
from session_store.dynamodb import MAX_APPEND
from session_store.keys import message_id_timestamp
from session_store.limits import MAX_ITEM_BYTES
from session_store.testing.requests import count_requests
from tests.faults import FaultPlan, inject, lose_response


@pytest.fixture
def session(adapter: DynamoDBAdapter) -> Session:
    return adapter.create_session({"status": "active", "user_id": "u"})


def batch(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}", "token_count": i + 1}
        | fields
        for i in range(count)
    ]


def test_appends_in_order_in_one_transaction_with_exact_counters(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    adapter.add_message(session.id, {"role": "system", "content": "be brief", "token_count": 3})
    with count_requests(adapter) as log:
        added = adapter.add_messages(session.id, batch(5))
    assert log.operations == ["TransactWriteItems"]
    assert [m.content for m in added] == [f"m{i}" for i in range(5)]
    assert [m.id for m in added] == sorted(m.id for m in added)  # ids keep the list's order
    assert all(message_id_timestamp(m.id) == m.created_at for m in added)
    assert adapter.get_messages(session.id)[1:] == added
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (6, 3 + sum(range(1, 6)))
    assert stored.version == session.version + 2  # two transactions, one increment each
    assert stored.last_activity_at >= session.last_activity_at


def test_the_largest_batch_is_still_one_request(adapter: DynamoDBAdapter, session: Session) -> None:
    with count_requests(adapter) as log:
        added = adapter.add_messages(session.id, batch(MAX_APPEND))
    assert log.operations == ["TransactWriteItems"]
    assert len(adapter.get_messages(session.id)) == MAX_APPEND == len(added)


def test_an_empty_batch_sends_nothing(adapter: DynamoDBAdapter, session: Session) -> None:
    with count_requests(adapter) as log:
        assert adapter.add_messages(session.id, []) == []
    assert log.operations == []


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param(batch(MAX_APPEND + 1), id="too-many"),
        pytest.param([*batch(3), {"role": "wizard", "content": "x"}], id="one-bad-role"),
        pytest.param([*batch(2), {"role": "user", "content": "x", "id": "mine"}], id="store-owned"),
        pytest.param(
            [{"role": "user", "content": "x" * (MAX_ITEM_BYTES - 10_000)}] * 11,  # > 4 MB
            id="over-the-transaction-size",
        ),
        pytest.param("not a list", id="a-string"),
        pytest.param({"role": "user", "content": "x"}, id="a-mapping"),
    ],
)
def test_bad_batches_are_refused_before_any_request(
    adapter: DynamoDBAdapter, session: Session, messages: Any
) -> None:
    with count_requests(adapter) as log, pytest.raises(ValidationError):
        adapter.add_messages(session.id, messages)
    assert log.operations == []
    assert adapter.get_messages(session.id) == []


def test_a_missing_or_expired_session_gets_nothing(adapter: DynamoDBAdapter) -> None:
    with pytest.raises(SessionNotFoundError):
        adapter.add_messages("nobody", batch(3))
    assert adapter.get_messages("nobody") == []
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = adapter.create_session({"status": "active", "expires_at": past})
    with pytest.raises(SessionNotFoundError):
        adapter.add_messages(expired.id, batch(3))
    assert adapter.get_messages(expired.id) == []


def test_a_lost_response_is_not_a_duplicate(adapter: DynamoDBAdapter, session: Session) -> None:
    with inject(adapter, FaultPlan(lose_response("TransactWriteItems"))) as injector:
        added = adapter.add_messages(session.id, batch(4))
    injector.assert_exhausted()
    assert adapter.get_messages(session.id) == added
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (4, 10)


def test_the_async_twin_and_the_memory_adapter_agree(adapter: DynamoDBAdapter) -> None:
    memory = MemoryAdapter()

    def appended(store: StorageAdapter) -> list[tuple[str, Any, int | None]]:
        made = store.create_session({"status": "active"})
        store.add_messages(made.id, batch(3))
        return [(m.role.value, m.content, m.token_count) for m in store.get_messages(made.id)]

    assert appended(adapter) == appended(memory)
    with pytest.raises(ValidationError):
        memory.add_messages("any", batch(MAX_APPEND + 1))

    async def through_async() -> list[str]:
        async with AsyncDynamoDBAdapter.from_sync(adapter) as db:
            made = await db.create_session({"status": "active"})
            added = await db.add_messages(made.id, batch(2))
            return [m.id for m in added]

    ids = asyncio.run(through_async())
    assert len(ids) == 2
