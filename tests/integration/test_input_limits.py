"""Input DynamoDB cannot take is refused before any request; stored oddities still read.

Every case runs on each backend: the refusals must send nothing (counted from
botocore's own events), and the controls just inside each limit must work.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from session_store import DynamoDBAdapter, MemoryAdapter, Session, ValidationError
from session_store.cursor import Cursor, CursorCodec
from session_store.dynamodb import DEFAULT_CURSOR_SECRET
from session_store.testing.requests import count_requests

DIGITS_38 = 10**38 - 1
"""The largest integer DynamoDB stores exactly: 38 nines."""
DIGITS_39 = 10**38 + 1
"""39 significant digits: more than DynamoDB keeps."""
KB = 1024
ITEM_BYTES = 400 * KB

Call = Callable[[DynamoDBAdapter, Session, str], object]
"""A call on the adapter, given a session and the id of one of its messages."""


@pytest.fixture
def session(adapter: DynamoDBAdapter) -> Session:
    return adapter.create_session({"status": "active", "user_id": "u-1"})


@pytest.fixture
def message_id(adapter: DynamoDBAdapter, session: Session) -> str:
    return adapter.add_message(session.id, {"role": "user", "content": "hello"}).id


def refused(adapter: DynamoDBAdapter, call: Callable[[], object]) -> ValidationError:
    """Run ``call``: it must raise ``ValidationError`` without sending a request."""
    with count_requests(adapter) as log, pytest.raises(ValidationError) as raised:
        call()
    assert log.total == 0, f"sent {log.operations} before refusing"
    return raised.value


# --- counters left negative by older versions ----------------------------------------


def set_counters(adapter: DynamoDBAdapter, session_id: str, messages: int, tokens: int) -> None:
    adapter.models.client.update_item(
        TableName=adapter.config.table_name,
        Key={"PK": {"S": f"SESSION#{session_id}"}, "SK": {"S": "META"}},
        UpdateExpression="SET messageCount = :m, tokenCount = :t",
        ExpressionAttributeValues={":m": {"N": str(messages)}, ":t": {"N": str(tokens)}},
    )


def test_negative_stored_counters_read_as_zero(
    adapter: DynamoDBAdapter, session: Session, message_id: str
) -> None:
    set_counters(adapter, session.id, -2, -7)
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (0, 0)
    assert [s.id for s in adapter.list_sessions({"user_id": "u-1"})] == [session.id]
    assert [s.id for s in adapter.list_sessions({})] == [session.id]
    # Writes go on, and a recount puts the counters right.
    adapter.add_message(session.id, {"role": "assistant", "content": "hi", "token_count": 4})
    recounted = adapter.recount(session.id)
    assert (recounted.message_count, recounted.token_count) == (2, 4)


# --- integers over 38 digits, page sizes, limits, offsets -----------------------------


def _budget(max_tokens: int, reserve_tokens: int = 0) -> dict[str, Any]:
    return {
        "max_tokens": max_tokens,
        "reserve_tokens": reserve_tokens,
        "overflow_strategy": "truncate",
    }


HUGE_NUMBERS: dict[str, Call] = {
    "add_message-sequence": lambda a, s, m: a.add_message(
        s.id, {"role": "user", "content": "x", "sequence": DIGITS_39}
    ),
    "add_message-negative-sequence": lambda a, s, m: a.add_message(
        s.id, {"role": "user", "content": "x", "sequence": -DIGITS_39}
    ),
    "add_message-token_count": lambda a, s, m: a.add_message(
        s.id, {"role": "user", "content": "x", "token_count": 10**38}
    ),
    "add_messages-token_count": lambda a, s, m: a.add_messages(
        s.id,
        [
            {"role": "user", "content": "ok"},
            {"role": "user", "content": "x", "token_count": 10**40},
        ],
    ),
    "update_message-sequence": lambda a, s, m: a.update_message(s.id, m, {"sequence": DIGITS_39}),
    "update_message-token_count": lambda a, s, m: a.update_message(
        s.id, m, {"token_count": 10**38}
    ),
    "create_session-schema_version": lambda a, s, m: a.create_session(
        {"status": "active", "schema_version": DIGITS_39}
    ),
    "create_session-token_budget": lambda a, s, m: a.create_session(
        {"status": "active", "token_budget": _budget(10**38)}
    ),
    "update_session-schema_version": lambda a, s, m: a.update_session(
        s.id, {"schema_version": -DIGITS_39}
    ),
    "update_session-token_budget": lambda a, s, m: a.update_session(
        s.id, {"token_budget": _budget(1, 10**39)}
    ),
    "update_session-compression": lambda a, s, m: a.update_session(
        s.id, {"compression": {"strategy": "sliding_window", "target_tokens": 10**38}}
    ),
    "update_session-expected_version": lambda a, s, m: a.update_session(
        s.id, {"status": "paused"}, expected_version=10**38
    ),
    "get_messages-limit": lambda a, s, m: a.get_messages(s.id, {"limit": 10**38}),
    "get_messages-offset": lambda a, s, m: a.get_messages(s.id, {"offset": 10**38}),
    "get_messages_page-page_size": lambda a, s, m: a.get_messages_page(s.id, {}, page_size=10**38),
    "list_sessions-limit": lambda a, s, m: a.list_sessions({"limit": 10**38}),
    "list_sessions-offset": lambda a, s, m: a.list_sessions({"offset": 10**38}),
    "list_sessions_page-page_size": lambda a, s, m: a.list_sessions_page({}, page_size=10**38),
    "get_context_window-max_tokens": lambda a, s, m: a.get_context_window(s.id, 10**38),
}


@pytest.mark.parametrize("call", [pytest.param(c, id=n) for n, c in HUGE_NUMBERS.items()])
def test_integers_dynamodb_cannot_hold_are_refused_before_any_request(
    adapter: DynamoDBAdapter, session: Session, message_id: str, call: Call
) -> None:
    refused(adapter, lambda: call(adapter, session, message_id))
    refused_in_memory = MemoryAdapter()
    in_memory = refused_in_memory.create_session({"status": "active", "user_id": "u-1"})
    kept = refused_in_memory.add_message(in_memory.id, {"role": "user", "content": "hello"})
    with pytest.raises(ValidationError):
        call(refused_in_memory, in_memory, kept.id)  # type: ignore[arg-type]


def test_integers_of_38_digits_are_stored_exactly(
    adapter: DynamoDBAdapter, session: Session, message_id: str
) -> None:
    added = adapter.add_message(
        session.id, {"role": "user", "content": "x", "sequence": -DIGITS_38}
    )
    updated = adapter.update_message(session.id, message_id, {"sequence": DIGITS_38})
    assert updated.sequence == DIGITS_38
    assert [m.sequence for m in adapter.get_messages(session.id)] == [DIGITS_38, added.sequence]
    stored = adapter.update_session(session.id, {"schema_version": DIGITS_38})
    assert stored.schema_version == DIGITS_38
    assert adapter.get_session(session.id) == stored


# --- cursors signed with the default secret, pointing outside the query ---------------


def _reforged(cursor: str, start_key: dict[str, Any]) -> str:
    """``cursor`` with another start key, signed as anyone knowing the default secret can."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    payload = json.loads(raw[:-12])
    codec = CursorCodec(DEFAULT_CURSOR_SECRET)
    return codec.encode(Cursor(payload["k"], payload["q"], start_key, payload["n"]))


def test_cursors_pointing_at_the_session_item_or_outside_the_range_are_refused(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    added = [
        adapter.add_message(session.id, {"role": "user", "content": f"m{i}"}) for i in range(4)
    ]
    pk = {"S": f"SESSION#{session.id}"}
    everything = adapter.get_messages_page(session.id, {}, page_size=1).next_cursor
    assert everything is not None
    ranged_query = {"after": added[0].created_at, "before": added[3].created_at}
    ranged = adapter.get_messages_page(session.id, ranged_query, page_size=1).next_cursor
    assert ranged is not None
    at_meta = _reforged(everything, {"PK": pk, "SK": {"S": "META"}})
    refused(adapter, lambda: adapter.get_messages_page(session.id, {}, cursor=at_meta))
    for outside in ("MSG#0000", "MSG#9999", "MSG$~"):
        forged = _reforged(ranged, {"PK": pk, "SK": {"S": outside}})
        refused(
            adapter,
            lambda forged=forged: adapter.get_messages_page(  # type: ignore[misc]
                session.id, ranged_query, cursor=forged
            ),
        )
    # The control: the real cursor of that range resumes it.
    page = adapter.get_messages_page(session.id, ranged_query, cursor=ranged)
    assert [m.id for m in page.items] == [added[2].id]


# --- tags filters larger than a filter expression carries -----------------------------


TAG_FILTERS: dict[str, list[str]] = {
    "20-tags-of-60-KB": [f"t{i}-" + "a" * 60 * KB for i in range(20)],
    "one-tag-of-3-MB": ["b" * 3 * KB * KB],
    "300-tags-of-2-KB": [f"t{i}-" + "c" * 2 * KB for i in range(300)],
}


@pytest.mark.parametrize("tags", [pytest.param(t, id=n) for n, t in TAG_FILTERS.items()])
def test_tags_filters_over_the_expression_limits_are_refused(
    adapter: DynamoDBAdapter, session: Session, tags: list[str]
) -> None:
    error = refused(adapter, lambda: adapter.list_sessions({"tags": tags}))
    assert "tags" in str(error)
    assert "bytes" in str(error)
    refused(adapter, lambda: adapter.list_sessions_page({"user_id": "u-1", "tags": tags}))
    with pytest.raises(ValidationError):
        MemoryAdapter().list_sessions({"tags": tags})


def test_a_tags_filter_just_under_the_limit_is_answered(adapter: DynamoDBAdapter) -> None:
    tags = [f"t{i}-" + "a" * 60 * KB for i in range(6)]  # about 360 KB together
    tagged = adapter.create_session({"status": "active", "metadata": {"tags": [tags[5]]}})
    adapter.create_session({"status": "active", "metadata": {"tags": ["elsewhere"]}})
    assert [s.id for s in adapter.list_sessions({"tags": tags})] == [tagged.id]


# --- updates that would grow an item past 400 KB -------------------------------------


def test_a_message_update_past_400_kb_names_the_field_and_its_size(
    adapter: DynamoDBAdapter, session: Session
) -> None:
    big = adapter.add_message(
        session.id,
        {"role": "user", "content": "x", "metadata": {"annotations": {"a": "z" * 250 * KB}}},
    )
    content = "c" * 200 * KB
    with count_requests(adapter) as log, pytest.raises(ValidationError) as raised:
        adapter.update_message(session.id, big.id, {"content": content})
    assert log.operations == ["UpdateItem"]
    assert "'content'" in str(raised.value)
    assert f"{200 * KB:,}" in str(raised.value)
    with count_requests(adapter) as log, pytest.raises(ValidationError) as raised:
        adapter.update_message(session.id, big.id, {"content": content, "token_count": 9})
    assert log.operations == ["GetItem"]  # refused before any write: no racing, no retries
    assert "'content'" in str(raised.value)
    assert f"{200 * KB:,}" in str(raised.value)
    assert adapter.get_messages(session.id) == [big]
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (1, 0)


def test_a_session_update_past_400_kb_names_the_field_and_its_size(
    adapter: DynamoDBAdapter,
) -> None:
    created = adapter.create_session(
        {"status": "active", "metadata": {"custom": {"notes": "n" * 250 * KB}}}
    )
    participant = {
        "id": "p-1",
        "role": "user",
        "joined_at": "2026-01-01T00:00:00Z",
        "metadata": {"bio": "b" * 200 * KB},
    }
    with count_requests(adapter) as log, pytest.raises(ValidationError) as raised:
        adapter.update_session(created.id, {"participants": [participant]})
    assert log.operations == ["UpdateItem"]
    assert "'participants'" in str(raised.value)
    assert "bytes" in str(raised.value)
    assert adapter.get_session(created.id) == created
