"""Hostile ids and values are data, never syntax (every backend).

Ids and values that look like expression syntax (quotes, ``#``, ``:v0``,
``#n0``), like the table's own keys (``SESSION#other``, ``META``, ``MSG#``)
or that are merely unusual (unicode, emoji, NUL, 1000 characters, exactly
DynamoDB's key limits) are used as session, user and agent ids, tags,
titles, custom metadata and message content. Each must round-trip exactly,
listings by a hostile user, agent or tag return exactly the matching
sessions, and nothing done to a hostile session touches a normal session
(``other``, whose raw items are compared before and after).

Every request is captured from botocore's ``before-call`` event (the JSON
body as sent) and checked: each ``*Expression`` is made only of
placeholders defined in the same request, DynamoDB keywords and functions,
and punctuation, so no value ever becomes syntax; attribute names are the
schema's; and no hostile value appears inside any expression.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_store import (
    DynamoDBAdapter,
    MessageNotFoundError,
    Session,
    SessionStatus,
)
from session_store.testing.requests import count_requests

NORMAL_ID = "other"
NORMAL_USER = "u-normal"
NORMAL_AGENT = "a-normal"

HOSTILE = [
    'x" OR "1"="1',
    "#",
    ":v0",
    "#n0",
    "#n0 = :v0 OR attribute_exists(#n1)",
    f"SESSION#{NORMAL_ID}",
    f"{NORMAL_ID}#META",
    "META",
    "MSG#",
    "$",
    f"USER#{NORMAL_USER}",
    "🤖 Ünïcödé 中文 \u202ertl\u202c",
    "nul\x00byte",
    "a" * 1000,
]

# DynamoDB's key limits: partition keys 2048 UTF-8 bytes, sort keys 1024.
MAX_SESSION_ID = "é" * ((2048 - len("SESSION#")) // 2)  # 2040 bytes, 1020 characters
MAX_USER_ID = "中" * 681  # 2043 bytes: USER# + id = 2048
MAX_AGENT_ID = "🤖" * 510 + "ab"  # 2042 bytes: AGENT# + id = 2048
MAX_MESSAGE_ID = "m" * (1024 - len("MSG#") - len("2026-11-24T13:08:53.123Z") - len("#"))

_EXPRESSION_WORDS = {
    "SET",
    "ADD",
    "REMOVE",
    "DELETE",
    "AND",
    "OR",
    "NOT",
    "BETWEEN",
    "IN",
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
    "size",
    "if_not_exists",
    "list_append",
}
_TOKEN = re.compile(r"#\w+|:\w+|[A-Za-z_]\w*|<>|<=|>=|[=<>(),.\[\]]|\S")
_PLACEHOLDER = re.compile(r"[#:]\w+")


@dataclass
class Capture:
    """Every request body the adapter sent, as decoded JSON, with its operation."""

    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        body = params.get("body") or b"{}"
        self.requests.append((model.name, json.loads(body)))


@pytest.fixture
def capture(adapter: DynamoDBAdapter) -> Iterator[Capture]:
    captured = Capture()
    events = adapter.models.client.meta.events
    events.register("before-call.dynamodb", captured.record, unique_id="hostile-ids-capture")
    yield captured
    events.unregister("before-call.dynamodb", unique_id="hostile-ids-capture")


def schema_attributes(adapter: DynamoDBAdapter) -> set[str]:
    bound = adapter.models
    names = {
        attribute.attr_name
        for model in (bound.SessionMeta, bound.Message, bound.MigrationRecord)
        for attribute in model.get_attributes().values()
    }
    return names | {"writeTokens"}  # the writes' idempotency tokens


def _expression_scopes(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping that carries expressions (a request, or one transaction item)."""
    if isinstance(node, dict):
        if any(key.endswith("Expression") for key in node):
            yield node
        for value in node.values():
            yield from _expression_scopes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _expression_scopes(value)


def _items(node: Any) -> Iterator[dict[str, Any]]:
    """Every ``Item``/``Key`` map in a request."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("Item", "Key", "ExclusiveStartKey") and isinstance(value, dict):
                yield value
            else:
                yield from _items(value)
    elif isinstance(node, list):
        for value in node:
            yield from _items(value)


def assert_expressions_hold_no_data(
    capture: Capture, adapter: DynamoDBAdapter, values: list[str]
) -> None:
    """Expressions are grammar and placeholders only; names are the schema's; no value leaks."""
    schema = schema_attributes(adapter)
    assert capture.requests, "no request was captured"
    checked = 0
    for operation, request in capture.requests:
        for scope in _expression_scopes(request):
            names = scope.get("ExpressionAttributeNames", {})
            defined = set(names) | set(scope.get("ExpressionAttributeValues", {}))
            assert set(names.values()) <= schema, (operation, names)
            for key, expression in scope.items():
                if not key.endswith("Expression"):
                    continue
                checked += 1
                for token in _TOKEN.findall(expression):
                    if _PLACEHOLDER.fullmatch(token):
                        assert token in defined, (operation, key, expression, token)
                    elif re.fullmatch(r"[A-Za-z_]\w*", token):
                        assert token in _EXPRESSION_WORDS or token in schema, (
                            operation,
                            key,
                            expression,
                            token,
                        )
                    elif token.isdigit():  # a list index: the write tokens' slots
                        assert f"[{token}]" in expression, (operation, key, expression)
                    else:
                        assert token in {
                            *("<>", "<=", ">=", "=", "<", ">", "(", ")", ",", "."),
                            *("[", "]", "+"),  # list slots, if_not_exists(...) + 1
                        }, (
                            operation,
                            key,
                            expression,
                            token,
                        )
                for value in values:
                    if _PLACEHOLDER.fullmatch(value) or not value.strip("# "):
                        continue  # made of grammar: covered by the token check above
                    assert value not in expression, (operation, key, expression, value)
        for item in _items(request):
            assert set(item) <= schema, (operation, sorted(set(item) - schema))
    assert checked, "no expression was captured"


def raw_partition(adapter: DynamoDBAdapter, session_id: str) -> list[dict[str, Any]]:
    """Every item of a session's partition, as stored (read around the adapter)."""
    client = adapter.models.client
    request: dict[str, Any] = {
        "TableName": adapter.config.table_name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": "PK"},
        "ExpressionAttributeValues": {":pk": {"S": f"SESSION#{session_id}"}},
        "ConsistentRead": True,
    }
    items: list[dict[str, Any]] = []
    while True:
        page = client.query(**request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass
class Normal:
    """The normal session every hostile operation must leave alone."""

    session: Session
    items: list[dict[str, Any]]
    by_user: list[str]
    by_agent: list[str]
    by_tag: list[str]


def make_normal(adapter: DynamoDBAdapter) -> Normal:
    adapter.create_session(
        {
            "id": NORMAL_ID,
            "status": "active",
            "user_id": NORMAL_USER,
            "active_agent_id": NORMAL_AGENT,
            "metadata": {"title": "normal", "tags": ["normal"]},
        }
    )
    for n in range(3):
        adapter.add_message(NORMAL_ID, {"role": "user", "content": f"n{n}", "token_count": 1})
    return snapshot(adapter)


def snapshot(adapter: DynamoDBAdapter) -> Normal:
    session = adapter.get_session(NORMAL_ID)
    assert session is not None
    return Normal(
        session=session,
        items=raw_partition(adapter, NORMAL_ID),
        by_user=[s.id for s in adapter.list_sessions({"user_id": NORMAL_USER})],
        by_agent=[s.id for s in adapter.list_sessions({"active_agent_id": NORMAL_AGENT})],
        by_tag=[s.id for s in adapter.list_sessions({"tags": ["normal"]})],
    )


def hostile_session(value: str, *, joined: datetime) -> dict[str, Any]:
    return {
        "id": value,
        "status": "active",
        "user_id": value,
        "active_agent_id": value,
        "metadata": {"title": value, "tags": [value], "source": value, "custom": {value: value}},
        "participants": [{"id": value, "role": "user", "joined_at": joined, "metadata": {}}],
    }


def test_hostile_values_round_trip_and_never_touch_another_session(
    adapter: DynamoDBAdapter, capture: Capture
) -> None:
    normal = make_normal(adapter)
    joined = datetime(2026, 1, 1, tzinfo=UTC)
    for value in HOSTILE:
        created = adapter.create_session(hostile_session(value, joined=joined))
        assert created.id == value
        assert adapter.get_session(value) == created, value
        assert created.metadata.custom == {value: value}
        assert created.participants[0].id == value

        first = adapter.add_message(
            value,
            {
                "role": "user",
                "content": value,
                "token_count": 2,
                "metadata": {"annotations": {value: value}},
            },
        )
        second = adapter.add_message(
            value, {"role": "assistant", "content": [{"type": "text", "text": value}]}
        )
        assert adapter.get_messages(value) == [first, second], value
        page = adapter.get_messages_page(value, page_size=1)
        assert page.items == [first]
        assert page.next_cursor is not None
        assert adapter.get_messages_page(value, cursor=page.next_cursor).items == [second]

        updated = adapter.update_message(value, first.id, {"content": value + value})
        assert updated.content == value + value
        changed = adapter.update_session(
            value, {"metadata": {"title": value, "tags": [value, "x"]}}, expected_version=3
        )
        assert changed.version == 4  # created, two appends, this update
        assert changed.metadata.tags == [value, "x"]
        recounted = adapter.recount(value)
        assert (recounted.message_count, recounted.token_count) == (2, 2)
        window = adapter.get_context_window(value, 100)
        assert [m.id for m in window] == [first.id, second.id]
        adapter.delete_message(value, second.id)
        assert [m.id for m in adapter.get_messages(value)] == [first.id]
        assert adapter.pop_message(value) == updated
        assert adapter.get_messages(value) == []
        adapter.add_message(value, {"role": "user", "content": value})
        adapter.delete_all_messages(value)
        assert adapter.get_messages(value) == []
        adapter.delete_session(value)
        assert adapter.get_session(value) is None

    assert snapshot(adapter) == normal
    assert_expressions_hold_no_data(capture, adapter, HOSTILE)


def test_listing_by_a_hostile_user_agent_or_tag_returns_only_theirs(
    adapter: DynamoDBAdapter, capture: Capture
) -> None:
    normal = make_normal(adapter)
    joined = datetime(2026, 1, 1, tzinfo=UTC)
    owned: dict[str, list[str]] = {}
    for value in HOSTILE:
        first = adapter.create_session(hostile_session(value, joined=joined))
        second = adapter.create_session(
            {"status": "paused", "user_id": value, "metadata": {"title": value}}
        )
        owned[value] = [first.id, second.id]
    for value, sessions in owned.items():
        by_user = adapter.list_sessions({"user_id": value})
        # Newest first; two sessions made in one millisecond may come in either order.
        assert sorted(s.id for s in by_user) == sorted(sessions), value
        assert [s.created_at for s in by_user] == sorted(
            (s.created_at for s in by_user), reverse=True
        )
        assert {s.user_id for s in by_user} == {value}
        assert [s.id for s in adapter.list_sessions({"active_agent_id": value})] == [value]
        by_agent_and_status = adapter.list_sessions(
            {"active_agent_id": value, "status": SessionStatus.ACTIVE}
        )
        assert [s.id for s in by_agent_and_status] == [value]
        assert adapter.list_sessions({"active_agent_id": value, "status": "paused"}) == []
        assert [s.id for s in adapter.list_sessions({"tags": [value]})] == [value], value
        first_page = adapter.list_sessions_page({"user_id": value}, page_size=1)
        assert len(first_page.items) == 1
        assert first_page.next_cursor is not None
        rest = adapter.list_sessions_page({"user_id": value}, cursor=first_page.next_cursor)
        assert [s.id for s in [*first_page.items, *rest.items]] == [s.id for s in by_user]
    scanned = {s.id for s in adapter.list_sessions()}
    assert scanned == {NORMAL_ID} | {i for ids in owned.values() for i in ids}

    assert snapshot(adapter) == normal
    assert_expressions_hold_no_data(capture, adapter, HOSTILE)


def test_hostile_message_ids_touch_nothing(adapter: DynamoDBAdapter, capture: Capture) -> None:
    normal = make_normal(adapter)
    adapter.create_session({"id": "hostile", "status": "active"})
    hostile_message = adapter.add_message("hostile", {"role": "user", "content": "x"})
    normal_message = normal.items[1]["id"]["S"]
    # Within the message-id limit (995 bytes), with room for the "?" that makes them miss.
    message_ids = [value[:990] for value in (*HOSTILE, normal_message, f"MSG#{normal_message}")]
    for message_id in message_ids:
        with pytest.raises(MessageNotFoundError):
            adapter.update_message(NORMAL_ID, message_id + "?", {"content": "changed"})
        adapter.delete_message(NORMAL_ID, message_id + "?")
        # A message id of the normal session, used with another session: not found there.
        with pytest.raises(MessageNotFoundError):
            adapter.update_message("hostile", message_id, {"content": "changed"})
        adapter.delete_message("hostile", message_id)
    # The hostile session's message, addressed through the normal session: not found.
    with pytest.raises(MessageNotFoundError):
        adapter.update_message(NORMAL_ID, hostile_message.id, {"content": "changed"})
    adapter.delete_message(NORMAL_ID, hostile_message.id)
    assert adapter.get_messages("hostile") == [hostile_message]

    assert snapshot(adapter) == normal
    assert_expressions_hold_no_data(capture, adapter, message_ids)


def test_expiry_and_stream_cleanup_of_hostile_sessions_spare_the_others(
    adapter: DynamoDBAdapter, capture: Capture
) -> None:
    normal = make_normal(adapter)
    soon = datetime.now(UTC) + timedelta(hours=1)
    later = soon + timedelta(hours=1)
    expiring = HOSTILE[:6]
    for value in expiring:
        adapter.create_session({"id": value, "status": "active", "expires_at": soon})
        adapter.add_message(value, {"role": "user", "content": value})
    assert set(adapter.get_expired_sessions(later)) == set(expiring)
    assert adapter.sweep_expired(later) == len(expiring)
    assert adapter.get_expired_sessions(later) == []
    for value in expiring:
        assert raw_partition(adapter, value) == []

    removed = HOSTILE[6:]
    for value in removed:
        adapter.create_session({"id": value, "status": "active"})
        adapter.add_message(value, {"role": "user", "content": value})
    ttl_service = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    event = {
        "Records": [
            {
                "eventName": "REMOVE",
                "userIdentity": ttl_service,
                "dynamodb": {"Keys": {"PK": {"S": f"SESSION#{value}"}, "SK": {"S": "META"}}},
            }
            for value in removed
        ]
    }
    assert adapter.handle_stream_event(event) == len(removed)
    for value in removed:
        assert adapter.get_messages(value) == []

    assert snapshot(adapter) == normal
    assert_expressions_hold_no_data(capture, adapter, HOSTILE)


def test_ids_exactly_at_dynamodb_key_limits_work(adapter: DynamoDBAdapter) -> None:
    assert len(MAX_SESSION_ID.encode()) == 2040
    assert len(MAX_USER_ID.encode()) == 2043
    assert len(MAX_AGENT_ID.encode()) == 2042
    normal = make_normal(adapter)
    created = adapter.create_session(
        {
            "id": MAX_SESSION_ID,
            "status": "active",
            "user_id": MAX_USER_ID,
            "active_agent_id": MAX_AGENT_ID,
        }
    )
    assert adapter.get_session(MAX_SESSION_ID) == created
    message = adapter.add_message(MAX_SESSION_ID, {"role": "user", "content": "x"})
    assert adapter.get_messages(MAX_SESSION_ID) == [message]
    assert [s.id for s in adapter.list_sessions({"user_id": MAX_USER_ID})] == [MAX_SESSION_ID]
    by_agent = adapter.list_sessions({"active_agent_id": MAX_AGENT_ID, "status": "active"})
    assert [s.id for s in by_agent] == [MAX_SESSION_ID]
    with count_requests(adapter) as log, pytest.raises(MessageNotFoundError):
        adapter.update_message(MAX_SESSION_ID, MAX_MESSAGE_ID, {"content": "y"})
    assert log.operations == ["Query"]  # not a ULID: looked up, and not refused
    updated = adapter.update_session(MAX_SESSION_ID, {"user_id": MAX_USER_ID[:-1] + "a"})
    assert updated.user_id == MAX_USER_ID[:-1] + "a"
    adapter.delete_session(MAX_SESSION_ID)
    assert adapter.get_session(MAX_SESSION_ID) is None
    assert snapshot(adapter) == normal
