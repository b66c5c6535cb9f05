"""``pop_message``: the newest message removed and returned, on every backend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from session_store import (
    AsyncDynamoDBAdapter,
    DynamoDBAdapter,
    MemoryAdapter,
    Session,
    StorageAdapter,
    ValidationError,
)
from session_store.testing.backends import Backend
from session_store.testing.requests import count_requests
from tests.faults import (
    TRANSACTION_CONFLICT,
    FaultPlan,
    fail,
    inject,
    lose_response,
)
from tests.raw_items import remove_counters


@pytest.fixture
def session(adapter: DynamoDBAdapter) -> Session:
    return adapter.create_session({"status": "active", "user_id": "u"})


def batch(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}", "token_count": i + 1}
        for i in range(start, start + count)
    ]


def counters(adapter: StorageAdapter, session_id: str) -> tuple[int, int]:
    stored = adapter.get_session(session_id)
    assert stored is not None
    return stored.message_count, stored.token_count


def test_pops_newest_first_until_none_keeping_counters_exact(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    added = adapter.add_messages(session.id, batch(4))
    with count_requests(adapter) as log:
        newest = adapter.pop_message(session.id)
    assert log.operations == ["Query", "TransactWriteItems"]
    assert newest == added[-1]  # returned as it was stored
    assert adapter.get_messages(session.id) == added[:-1]
    assert counters(adapter, session.id) == (3, 1 + 2 + 3)
    assert [adapter.pop_message(session.id) for _ in range(3)] == added[-2::-1]
    assert counters(adapter, session.id) == (0, 0)
    with count_requests(adapter) as log:
        assert adapter.pop_message(session.id) is None
    assert log.operations == ["Query"]


def test_an_unknown_session_has_nothing_to_pop(adapter: DynamoDBAdapter) -> None:
    with count_requests(adapter) as log:
        assert adapter.pop_message("no-such-session") is None
    assert log.operations == ["Query"]


@pytest.mark.parametrize("session_id", ["", "x" * 3000, 7, None])
def test_a_bad_session_id_is_refused_before_any_request(
    adapter: DynamoDBAdapter, session_id: Any
) -> None:
    with count_requests(adapter) as log, pytest.raises(ValidationError):
        adapter.pop_message(session_id)
    assert log.total == 0


def test_an_edit_landing_between_read_and_delete_is_returned(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    """The delete is conditional on the message as read: an edit in between makes it read again."""
    *_, newest = adapter.add_messages(session.id, batch(3))

    def edit() -> None:
        adapter.update_message(session.id, newest.id, {"content": "edited meanwhile"})

    # The edit runs while the first transaction is "conflicting"; its retry then fails
    # the condition on updatedAt, and the pop reads the newest message again.
    plan = FaultPlan(fail("TransactWriteItems", with_=TRANSACTION_CONFLICT, side_effect=edit))
    with inject(adapter, plan) as injector:
        popped = adapter.pop_message(session.id)
    injector.assert_exhausted()
    assert popped is not None
    assert (popped.id, popped.content) == (newest.id, "edited meanwhile")
    assert [m.content for m in adapter.get_messages(session.id)] == ["m0", "m1"]
    assert counters(adapter, session.id) == (2, 1 + 2)


def test_a_pop_racing_another_pops_the_next_message(
    adapter: DynamoDBAdapter, session: Session, table_config: Any
) -> None:
    added = adapter.add_messages(session.id, batch(3))
    with DynamoDBAdapter(
        table_config.table_name, region=table_config.region, endpoint_url=table_config.endpoint_url
    ) as other:
        taken: list[Any] = []
        plan = FaultPlan(
            fail(
                "TransactWriteItems",
                with_=TRANSACTION_CONFLICT,
                side_effect=lambda: taken.append(other.pop_message(session.id)),
            )
        )
        with inject(adapter, plan):
            popped = adapter.pop_message(session.id)
    assert taken == [added[-1]]
    assert popped == added[-2]
    assert adapter.get_messages(session.id) == added[:1]
    assert counters(adapter, session.id) == (1, 1)


@pytest.mark.backends("local")
def test_a_lost_response_does_not_pop_twice(
    backend: Backend, adapter: DynamoDBAdapter, session: Session
) -> None:
    """botocore's retry carries the transaction's ClientRequestToken: DynamoDB answers it
    as the success it was (moto ignores the token, so this runs on DynamoDB Local only)."""
    added = adapter.add_messages(session.id, batch(3))
    with inject(adapter, FaultPlan(lose_response("TransactWriteItems"))) as injector:
        popped = adapter.pop_message(session.id)
    injector.assert_exhausted()
    assert popped == added[-1]
    assert adapter.get_messages(session.id) == added[:-1]
    assert counters(adapter, session.id) == (2, 1 + 2)


def test_a_session_without_counters_is_recounted(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    """Sessions the TypeScript adapter wrote keep no counters: the pop still happens."""
    added = adapter.add_messages(session.id, batch(3))
    remove_counters(adapter, session.id)
    assert adapter.pop_message(session.id) == added[-1]
    assert adapter.get_messages(session.id) == added[:-1]
    assert counters(adapter, session.id) == (2, 1 + 2)


def test_messages_without_a_session_can_be_popped(adapter: DynamoDBAdapter) -> None:
    """Orphans (a session item removed by TTL before its messages): popped, nothing recreated."""
    session = adapter.create_session({"status": "active"})
    added = adapter.add_messages(session.id, batch(2))
    adapter.models.client.delete_item(
        TableName=adapter.config.table_name,
        Key={"PK": {"S": f"SESSION#{session.id}"}, "SK": {"S": "META"}},
    )
    assert adapter.pop_message(session.id) == added[-1]
    assert adapter.get_messages(session.id) == added[:1]
    assert adapter.get_session(session.id) is None


def test_memory_and_async_adapters_pop_alike(adapter: DynamoDBAdapter) -> None:
    memory = MemoryAdapter()
    for store in (memory, adapter):
        session = store.create_session({"status": "active"})
        added = store.add_messages(session.id, batch(3))
        assert store.pop_message(session.id) == added[-1]
        assert counters(store, session.id) == (2, 1 + 2)
        assert store.pop_message("no-such-session") is None

    async def pop_async() -> None:
        async with AsyncDynamoDBAdapter.from_sync(adapter) as aio:
            session = await aio.create_session({"status": "active"})
            added = await aio.add_messages(session.id, batch(2))
            assert await aio.pop_message(session.id) == added[-1]
            assert await aio.pop_message(session.id) == added[0]
            assert await aio.pop_message(session.id) is None

    asyncio.run(pop_async())
