"""Message methods of DynamoDBAdapter, on every backend."""

from __future__ import annotations

import uuid

import pytest

from session_store import (
    DynamoDBAdapter,
    Message,
    MessageNotFoundError,
    Session,
    SessionNotFoundError,
    ValidationError,
)
from session_store.keys import message_id_timestamp
from session_store.testing.requests import count_requests
from tests.raw_items import put_uuid_message, remove_counters


@pytest.fixture
def session(adapter: DynamoDBAdapter) -> Session:
    return adapter.create_session({"status": "active", "user_id": "u"})


def add(
    adapter: DynamoDBAdapter, session: Session, count: int, role: str = "user"
) -> list[Message]:
    return [
        adapter.add_message(session.id, {"role": role, "content": f"m{i}", "token_count": i + 1})
        for i in range(count)
    ]


def test_add_message_is_one_transaction_with_counters(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    with count_requests(adapter) as log:
        message = adapter.add_message(
            session.id,
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "hi"}],
                "tokenCount": 5,
                "sequence": 9,
                "metadata": {"toolCalls": [{"id": "c", "name": "f", "arguments": "{}"}]},
            },
        )
    assert log.operations == ["TransactWriteItems"]
    assert message_id_timestamp(message.id) == message.created_at
    assert message.sequence == 9
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count, stored.version) == (1, 5, session.version + 1)
    assert stored.last_activity_at >= session.last_activity_at
    assert adapter.get_messages(session.id) == [message]


def test_add_message_to_missing_session_writes_nothing(adapter: DynamoDBAdapter) -> None:
    with pytest.raises(SessionNotFoundError):
        adapter.add_message("ghost", {"role": "user", "content": "hello"})
    assert adapter.models.client.scan(TableName=adapter.config.table_name)["Items"] == []


def test_ids_are_monotonic_and_order_is_chronological(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    messages = add(adapter, session, 30)
    assert [m.id for m in messages] == sorted(m.id for m in messages)
    assert adapter.get_messages(session.id) == messages
    assert adapter.get_messages(session.id, {"order": "desc"}) == messages[::-1]


def test_limit_offset_roles_after_before(adapter: DynamoDBAdapter, session: Session) -> None:
    messages = []
    for i in range(12):
        messages.append(
            adapter.add_message(
                session.id, {"role": "user" if i % 3 else "system", "content": str(i)}
            )
        )
    assert adapter.get_messages(session.id, {"limit": 4, "offset": 3}) == messages[3:7]
    assert adapter.get_messages(session.id, {"order": "desc", "limit": 2}) == messages[:-3:-1]
    systems = [m for m in messages if m.role == "system"]
    assert adapter.get_messages(session.id, {"roles": ["system"]}) == systems
    assert (
        adapter.get_messages(session.id, {"roles": ["system"], "offset": 1, "limit": 2})
        == systems[1:3]
    )
    middle = messages[5]
    after = [m for m in messages if m.created_at > middle.created_at]
    before = [m for m in messages if m.created_at < middle.created_at]
    assert adapter.get_messages(session.id, {"after": middle.created_at}) == after
    assert adapter.get_messages(session.id, {"before": middle.created_at}) == before
    assert adapter.get_messages("unknown-session") == []


def test_pages_cover_everything_once(adapter: DynamoDBAdapter, session: Session) -> None:
    messages = add(adapter, session, 23)
    seen: list[Message] = []
    cursor = None
    pages = 0
    while True:
        page = adapter.get_messages_page(session.id, {"order": "desc"}, cursor=cursor, page_size=5)
        assert len(page.items) <= 5
        seen += page.items
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == messages[::-1]
    assert pages == 5


def test_exact_multiple_of_page_size_has_no_empty_last_page(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    add(adapter, session, 10)
    first = adapter.get_messages_page(session.id, cursor=None, page_size=5)
    second = adapter.get_messages_page(session.id, cursor=first.next_cursor, page_size=5)
    assert len(second.items) == 5
    assert second.next_cursor is None


def test_limit_caps_the_whole_walk(adapter: DynamoDBAdapter, session: Session) -> None:
    messages = add(adapter, session, 10)
    first = adapter.get_messages_page(session.id, {"limit": 7}, page_size=5)
    second = adapter.get_messages_page(
        session.id, {"limit": 7}, cursor=first.next_cursor, page_size=5
    )
    assert first.items + second.items == messages[:7]
    assert second.next_cursor is None


def test_cursor_misuse_is_a_validation_error(adapter: DynamoDBAdapter, session: Session) -> None:
    add(adapter, session, 4)
    page = adapter.get_messages_page(session.id, page_size=2)
    assert page.next_cursor is not None
    with count_requests(adapter) as log:
        with pytest.raises(ValidationError):
            adapter.get_messages_page(session.id, {"order": "desc"}, cursor=page.next_cursor)
        with pytest.raises(ValidationError):
            adapter.get_messages_page(session.id, {"offset": 1}, cursor=page.next_cursor)
        middle = len(page.next_cursor) // 2  # one character changed: always another cursor
        replacement = "B" if page.next_cursor[middle] == "A" else "A"
        tampered = page.next_cursor[:middle] + replacement + page.next_cursor[middle + 1 :]
        with pytest.raises(ValidationError):
            adapter.get_messages_page(session.id, cursor=tampered)
        with pytest.raises(ValidationError):
            adapter.get_messages_page(session.id, cursor="not a cursor")
        with pytest.raises(ValidationError):
            adapter.get_messages_page(session.id, page_size=0)
        with pytest.raises(ValidationError):
            adapter.list_sessions_page(cursor=page.next_cursor)
    assert log.total == 0


def test_update_message_costs_one_request(adapter: DynamoDBAdapter, session: Session) -> None:
    messages = add(adapter, session, 5)
    with count_requests(adapter) as log:
        updated = adapter.update_message(session.id, messages[2].id, {"content": "edited"})
    assert log.operations == ["UpdateItem"]
    assert updated.content == "edited"
    assert updated.updated_at is not None
    assert updated.created_at == messages[2].created_at
    assert adapter.get_messages(session.id)[2] == updated


def test_update_message_token_count_keeps_session_exact(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    messages = add(adapter, session, 3)  # tokens 1 + 2 + 3
    with count_requests(adapter) as log:
        updated = adapter.update_message(session.id, messages[1].id, {"token_count": 20})
    assert log.operations == ["GetItem", "TransactWriteItems"]
    assert updated.token_count == 20
    assert adapter.get_messages(session.id)[1] == updated
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert stored.token_count == 24


def test_update_missing_message(adapter: DynamoDBAdapter, session: Session) -> None:
    real = add(adapter, session, 1)[0].id
    # Same timestamp (same sort-key prefix), different random part: no such message.
    fake = real[:-1] + ("Y" if real.endswith("Z") else "Z")
    with pytest.raises(MessageNotFoundError):
        adapter.update_message(session.id, fake, {"content": "x"})
    with pytest.raises(MessageNotFoundError):
        adapter.update_message(session.id, str(uuid.uuid4()), {"content": "x"})


def test_delete_message_uncounts_and_is_idempotent(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    messages = add(adapter, session, 3)
    with count_requests(adapter) as log:
        adapter.delete_message(session.id, messages[1].id)
    assert log.operations == ["GetItem", "TransactWriteItems"]
    adapter.delete_message(session.id, messages[1].id)
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (2, 4)
    assert adapter.get_messages(session.id) == [messages[0], messages[2]]


def test_delete_all_messages(adapter: DynamoDBAdapter, session: Session) -> None:
    add(adapter, session, 30)
    with count_requests(adapter) as log:
        adapter.delete_all_messages(session.id)
    # One transaction deletes up to 99 messages and uncounts exactly them.
    assert log.operations == ["Query", "TransactWriteItems"]
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (0, 0)
    assert adapter.get_messages(session.id) == []


def stored_counters(adapter: DynamoDBAdapter, session: Session) -> tuple[int, int] | None:
    """The session item's raw ``messageCount``/``tokenCount``; ``None`` for a missing one."""
    item = adapter.models.client.get_item(
        TableName=adapter.config.table_name,
        Key={"PK": {"S": f"SESSION#{session.id}"}, "SK": {"S": "META"}},
        ConsistentRead=True,
    )["Item"]
    if "messageCount" not in item or "tokenCount" not in item:
        return None
    return int(item["messageCount"]["N"]), int(item["tokenCount"]["N"])


def test_delete_all_messages_of_a_session_without_counters(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    add(adapter, session, 3)  # tokens 1 + 2 + 3
    remove_counters(adapter, session.id)  # as the TypeScript adapter writes a session
    assert stored_counters(adapter, session) is None
    adapter.delete_all_messages(session.id)
    assert adapter.get_messages(session.id) == []
    # Never negative (ADD -3 to a missing attribute would store -3): recounted to 0/0.
    assert stored_counters(adapter, session) == (0, 0)
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (0, 0)


@pytest.mark.parametrize(
    ("drifted", "stored_before"),
    [
        ("messageCount", (1, 6)),
        ("tokenCount", (3, 2)),
    ],
)
def test_delete_all_messages_of_a_session_whose_counters_drifted_low(
    adapter: DynamoDBAdapter,
    session: Session,
    drifted: str,
    stored_before: tuple[int, int],
) -> None:
    add(adapter, session, 3)  # 3 messages, 6 tokens; one counter is made to say less
    value = stored_before[0] if drifted == "messageCount" else stored_before[1]
    adapter.models.client.update_item(
        TableName=adapter.config.table_name,
        Key={"PK": {"S": f"SESSION#{session.id}"}, "SK": {"S": "META"}},
        UpdateExpression="SET #c = :v",
        ExpressionAttributeNames={"#c": drifted},
        ExpressionAttributeValues={":v": {"N": str(value)}},
    )
    assert stored_counters(adapter, session) == stored_before
    adapter.delete_all_messages(session.id)
    assert adapter.get_messages(session.id) == []
    assert stored_counters(adapter, session) == (0, 0)
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (0, 0)
    # Exact afterwards: the next append counts from zero.
    adapter.add_message(session.id, {"role": "user", "content": "again", "token_count": 4})
    assert stored_counters(adapter, session) == (1, 4)


def test_reference_style_ids_are_addressed_without_listing(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    ref_id = "001795526002316-000000-ae79f939-b1ef-4f00-b773-5290f876e515"
    adapter.models.client.put_item(
        TableName=adapter.config.table_name,
        Item={
            "PK": {"S": f"SESSION#{session.id}"},
            "SK": {"S": f"MSG#2026-11-24T13:13:22.316Z#{ref_id}"},
            "role": {"S": "user"},
            "content": {"S": "old"},
            "tokenCount": {"N": "6"},
            "id": {"S": ref_id},
            "sessionId": {"S": session.id},
            "createdAt": {"S": "2026-11-24T13:13:22.316Z"},
        },
    )
    with count_requests(adapter) as log:
        updated = adapter.update_message(session.id, ref_id, {"content": "new"})
    assert log.operations == ["UpdateItem"]
    assert updated.content == "new"


def test_uuid_ids_fall_back_to_a_query(adapter: DynamoDBAdapter, session: Session) -> None:
    bare = put_uuid_message(adapter, session.id, role={"S": "system"}, sequence={"N": "7"})
    assert adapter.update_message(session.id, bare, {"content": "x"}).content == "x"
    adapter.delete_message(session.id, bare)
    assert adapter.get_messages(session.id) == []
