"""Application code writing through the ORM (``adapter.models``) keeps every invariant.

GSI keys and ``ttl`` follow the fields on ``save()`` and ``update()``, ``version``
goes up on every write of the session item, message writes keep the counters,
``delete()`` takes the messages along, and each model reads only its own items.
Each write is followed by the facade's reads and listings, which must agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from session_store import DynamoDBAdapter, Session, StorageError, ValidationError, keys
from session_store.errors import SessionNotFoundError, UnreadableItemError
from session_store.models import SessionMeta


def _item(adapter: DynamoDBAdapter, session: Session) -> SessionMeta:
    return adapter.models.SessionMeta.get(
        keys.session_pk(session.id), keys.META_SK, consistent_read=True
    )


def _ids(sessions: list[Session]) -> list[str]:
    return [session.id for session in sessions]


@pytest.fixture
def session(adapter: DynamoDBAdapter) -> Session:
    return adapter.create_session(
        {"status": "active", "user_id": "u-1", "active_agent_id": "triage"}
    )


def test_a_status_set_through_update_moves_the_agent_index(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    model = adapter.models.SessionMeta
    _item(adapter, session).update(actions=[model.status.set("paused")])
    by_status = {"active_agent_id": "triage", "status": "paused"}
    assert _ids(adapter.list_sessions(by_status)) == [session.id]
    assert adapter.list_sessions({"active_agent_id": "triage", "status": "active"}) == []
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.status.value, stored.version) == ("paused", session.version + 1)


def test_user_and_agent_changes_through_update_move_both_indexes(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    model = adapter.models.SessionMeta
    item = _item(adapter, session)
    item.update(actions=[model.user_id.set("u-2"), model.active_agent_id.set("billing")])
    assert _ids(adapter.list_sessions({"user_id": "u-2"})) == [session.id]
    assert adapter.list_sessions({"user_id": "u-1"}) == []
    assert _ids(adapter.list_sessions({"active_agent_id": "billing"})) == [session.id]
    assert adapter.list_sessions({"active_agent_id": "triage"}) == []

    item.update(actions=[model.user_id.remove(), model.active_agent_id.remove()])
    assert adapter.list_sessions({"user_id": "u-2"}) == []
    assert adapter.list_sessions({"active_agent_id": "billing"}) == []
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.user_id, stored.active_agent_id) == (None, None)
    assert stored.version == session.version + 2
    assert _ids(adapter.list_sessions()) == [session.id]  # still listed by the scan


def test_an_expiry_set_through_update_sets_ttl_too(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    model = adapter.models.SessionMeta
    past = datetime.now(UTC) - timedelta(minutes=5)
    _item(adapter, session).update(actions=[model.expires_at.set(past)])
    raw = adapter.models.client.get_item(
        TableName=adapter.config.table_name, Key=SessionMeta.key(session.id), ConsistentRead=True
    )["Item"]
    assert raw["ttl"] == raw["expiresAt"] == {"N": str(int(past.timestamp()))}
    assert adapter.get_session(session.id) is None
    assert adapter.get_expired_sessions(datetime.now(UTC)) == [session.id]


def test_derived_fields_take_plain_values_only(adapter: DynamoDBAdapter, session: Session) -> None:
    model = adapter.models.SessionMeta
    with pytest.raises(ValidationError, match="status"):
        _item(adapter, session).update(actions=[model.status.set(model.status | "paused")])
    with pytest.raises(ValidationError, match="status"):
        _item(adapter, session).update(actions=[model.status.remove()])
    stored = adapter.get_session(session.id)
    assert stored == session  # nothing was sent


def test_a_session_saved_without_created_at_reads_everywhere(adapter: DynamoDBAdapter) -> None:
    model = adapter.models.SessionMeta
    before = datetime.now(UTC) - timedelta(seconds=1)
    model(keys.session_pk("orm-1"), keys.META_SK, status="active", user_id="u-9").save()
    stored = adapter.get_session("orm-1")
    assert stored is not None
    assert stored.id == "orm-1"
    assert stored.created_at >= before
    assert stored.last_activity_at == stored.created_at
    assert stored.version == 1  # VersionAttribute: the first save writes 1
    assert (stored.message_count, stored.token_count) == (0, 0)
    assert _ids(adapter.list_sessions()) == ["orm-1"]
    assert _ids(adapter.list_sessions({"user_id": "u-9"})) == ["orm-1"]
    message = adapter.add_message("orm-1", {"role": "user", "content": "hi", "token_count": 2})
    assert adapter.get_messages("orm-1") == [message]
    assert adapter.recount("orm-1").message_count == 1


def test_delete_through_the_orm_takes_the_messages_along(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    for n in range(30):
        adapter.add_message(session.id, {"role": "user", "content": f"m{n}"})
    _item(adapter, session).delete()
    assert adapter.get_session(session.id) is None
    assert adapter.get_messages(session.id) == []
    assert adapter.list_sessions({"user_id": "u-1"}) == []
    with pytest.raises(SessionNotFoundError):
        adapter.recount(session.id)


def test_message_writes_through_the_orm_keep_the_counters(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    model = adapter.models.Message
    sort_key = keys.message_sk(datetime(2026, 11, 24, 13, 0, tzinfo=UTC), "m-1")
    item = model(keys.session_pk(session.id), sort_key, role="user", content="hi", token_count=3)
    item.save()
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (1, 3)
    assert stored.version == session.version + 1
    (message,) = adapter.get_messages(session.id)
    assert (message.id, message.session_id, message.content) == ("m-1", session.id, "hi")

    item.token_count = 10
    item.save()  # a replacement: the count stays, the tokens move by the difference
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (1, 10)
    with pytest.raises(ValidationError, match="update_message"):
        item.update(actions=[model.token_count.set(1)])
    item.update(actions=[model.content.set("edited")])
    assert adapter.get_messages(session.id)[0].content == "edited"

    item.delete()
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (0, 0)
    assert stored.version == session.version + 3
    assert adapter.recount(session.id) == stored  # nothing to correct

    orphan = model(keys.session_pk("no-such-session"), sort_key, role="user", content="x")
    with pytest.raises(SessionNotFoundError):
        orphan.save()
    assert adapter.get_messages("no-such-session") == []


def test_each_model_reads_only_its_own_items(adapter: DynamoDBAdapter, session: Session) -> None:
    adapter.add_message(session.id, {"role": "user", "content": "hi"})
    adapter.migrate()  # a migration record in the table too
    sessions, messages = adapter.models.SessionMeta, adapter.models.Message
    pk = keys.session_pk(session.id)
    assert [item.to_domain() for item in sessions.query(pk, consistent_read=True)] == [
        adapter.get_session(session.id)
    ]
    assert [item.to_domain() for item in messages.query(pk, consistent_read=True)] == (
        adapter.get_messages(session.id)
    )
    assert [item.id for item in sessions.scan()] == [session.id]
    assert len(list(messages.scan())) == 1
    with pytest.raises(ValidationError, match="read it as Message"):
        list(sessions.query(pk, sessions.sk.startswith(keys.MESSAGE_PREFIX)))


def test_an_undecodable_item_names_its_key_and_attribute(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    adapter.models.client.update_item(
        TableName=adapter.config.table_name,
        Key=SessionMeta.key(session.id),
        UpdateExpression="SET #c = :bad",
        ExpressionAttributeNames={"#c": "createdAt"},
        ExpressionAttributeValues={":bad": {"S": "not a date"}},
    )
    for read in (
        lambda: adapter.get_session(session.id),
        adapter.list_sessions,
        lambda: adapter.list_sessions({"user_id": "u-1"}),
        lambda: adapter.list_sessions({"active_agent_id": "triage"}),
    ):
        with pytest.raises(UnreadableItemError) as raised:
            read()
        assert isinstance(raised.value, StorageError)
        assert f"SESSION#{session.id}" in str(raised.value)
        assert raised.value.attribute == "createdAt"


def test_a_message_saved_with_a_condition_that_fails_changes_nothing(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    model = adapter.models.Message
    sort_key = keys.message_sk(datetime(2026, 11, 24, 13, 0, tzinfo=UTC), "m-2")
    item = model(keys.session_pk(session.id), sort_key, role="user", content="hi", token_count=3)
    item.save()
    item.token_count = 7
    with pytest.raises(ValidationError, match="condition"):
        item.save(condition=model.role == "assistant")
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (1, 3)
    assert adapter.get_messages(session.id)[0].token_count == 3
