"""Request budgets on a large session: constant-cost operations stay constant."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from session_store import DynamoDBAdapter, Message, Session
from session_store.ids import new_message_id
from session_store.models import Message as MessageItem
from session_store.testing.requests import count_requests

SIZE = 1000


@pytest.fixture
def big_session(adapter: DynamoDBAdapter) -> tuple[Session, list[Message]]:
    """A session of 1,000 messages, written in batches (the budget under test is not the writes)."""
    session = adapter.create_session({"status": "active", "user_id": "big"})
    messages = []
    for index in range(SIZE):
        message_id = new_message_id()
        messages.append(
            Message(
                id=str(message_id),
                session_id=session.id,
                role="user",
                content=f"message {index}",
                token_count=2,
                created_at=message_id.datetime,
            )
        )
    client = adapter.models.client
    for start in range(0, SIZE, 25):
        client.batch_write_item(
            RequestItems={
                adapter.config.table_name: [
                    {"PutRequest": {"Item": MessageItem.from_domain(m).serialize()}}
                    for m in messages[start : start + 25]
                ]
            }
        )
    adapter.recount(session.id)
    return session, messages


def test_constant_cost_operations_on_a_big_session(
    adapter: DynamoDBAdapter, big_session: tuple[Session, list[Message]]
) -> None:
    session, messages = big_session
    target = messages[SIZE // 2]
    with count_requests(adapter) as log:
        adapter.update_message(session.id, target.id, {"content": "edited"})
    assert log.operations == ["UpdateItem"]
    with count_requests(adapter) as log:
        adapter.update_message(session.id, target.id, {"token_count": 5})
    assert log.operations == ["GetItem", "TransactWriteItems"]
    with count_requests(adapter) as log:
        newest = adapter.get_messages(session.id, {"limit": 20, "order": "desc"})
    assert log.operations == ["Query"]
    assert [m.id for m in newest] == [m.id for m in messages[:-21:-1]]
    with count_requests(adapter) as log:
        adapter.delete_message(session.id, messages[0].id)
    assert log.operations == ["GetItem", "TransactWriteItems"]
    with count_requests(adapter) as log:
        adapter.add_message(session.id, {"role": "assistant", "content": "ok", "token_count": 1})
    assert log.operations == ["TransactWriteItems"]
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (SIZE, 2 * SIZE + 3 - 2 + 1)


def test_page_reads_stop_at_what_is_needed(
    adapter: DynamoDBAdapter, big_session: tuple[Session, list[Message]]
) -> None:
    session, messages = big_session
    with count_requests(adapter) as log:
        page = adapter.get_messages_page(session.id, page_size=50)
    assert log.operations == ["Query"]
    assert page.items == messages[:50]
    with count_requests(adapter) as log:
        everything = adapter.get_messages(session.id)
    assert everything == messages
    # Whole-session reads take DynamoDB's 1 MB pages: 1,000 small messages are one.
    assert log.operations == ["Query"]


def test_pop_message_costs_two_requests_on_a_big_session(
    adapter: DynamoDBAdapter, big_session: tuple[Session, list[Message]]
) -> None:
    session, messages = big_session
    with count_requests(adapter) as log:
        popped = adapter.pop_message(session.id)
    assert log.operations == ["Query", "TransactWriteItems"]
    assert popped == messages[-1]
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (SIZE - 1, 2 * (SIZE - 1))


def raw_pages(adapter: DynamoDBAdapter, session_id: str) -> int:
    """How many 1 MB pages DynamoDB itself needs for every message of the session."""
    request: dict[str, Any] = {
        "TableName": adapter.config.table_name,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :msg)",
        "ExpressionAttributeValues": {":pk": {"S": f"SESSION#{session_id}"}, ":msg": {"S": "MSG#"}},
        "ConsistentRead": True,
    }
    pages = 0
    while True:
        pages += 1
        response = adapter.models.client.query(**request)
        if "LastEvaluatedKey" not in response:
            return pages
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def test_whole_session_reads_take_exactly_the_pages_dynamodb_needs(
    adapter: DynamoDBAdapter,
) -> None:
    session = adapter.create_session({"status": "active"})
    for batch in range(4):  # 40 messages of 90 KB: about 3.6 MB, several pages
        adapter.add_messages(
            session.id,
            [{"role": "user", "content": f"{batch}-{i} " + "x" * 90_000} for i in range(10)],
        )
    pages = raw_pages(adapter, session.id)
    assert pages > 1
    with count_requests(adapter) as log:
        everything = adapter.get_messages(session.id)
    assert len(everything) == 40
    assert log.operations == ["Query"] * pages
    with count_requests(adapter) as log:
        assert len(list(adapter.iter_messages(session.id, {"order": "desc"}))) == 40
    assert log.operations == ["Query"] * pages


def test_delete_session_budget(
    adapter: DynamoDBAdapter, big_session: tuple[Session, list[Message]]
) -> None:
    session, _ = big_session
    with count_requests(adapter) as log:
        adapter.delete_session(session.id)
    counts = log.by_operation()
    assert counts["BatchWriteItem"] == SIZE // 25
    assert counts["DeleteItem"] == 1
    assert counts["Query"] <= 2
    assert log.total == SIZE // 25 + counts["Query"] + 1


def test_user_listing_of_twenty_is_one_query(adapter: DynamoDBAdapter) -> None:
    for _ in range(60):
        adapter.create_session({"status": "active", "user_id": "many"})
    with count_requests(adapter) as log:
        listed = adapter.list_sessions({"user_id": "many", "limit": 20})
    assert log.operations == ["Query"]
    assert len(listed) == 20
    assert timedelta(0) <= listed[0].created_at - listed[-1].created_at
