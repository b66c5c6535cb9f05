"""MemoryAdapter: DynamoDBAdapter's semantics in process memory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_store import (
    ConcurrencyError,
    MessageNotFoundError,
    NewSession,
    SessionExistsError,
    SessionNotFoundError,
    SessionStatus,
    StorageAdapter,
    StorageError,
    ValidationError,
)
from session_store._time import to_millisecond
from session_store.keys import message_id_timestamp
from session_store.memory import MemoryAdapter

START = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = to_millisecond(self.now + timedelta(**delta))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memory(clock: Clock) -> MemoryAdapter:
    return MemoryAdapter(clock=clock)


@pytest.fixture
def expiring(clock: Clock) -> MemoryAdapter:
    return MemoryAdapter(clock=clock, session_ttl=timedelta(seconds=60))


def ttl_event(session_id: str, *, by_ttl: bool = True) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventName": "REMOVE",
        "dynamodb": {"Keys": {"PK": {"S": f"SESSION#{session_id}"}, "SK": {"S": "META"}}},
    }
    if by_ttl:
        record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    return {"Records": [record]}


# --- sessions -------------------------------------------------------------------------


def test_implements_the_protocol(memory: MemoryAdapter) -> None:
    assert isinstance(memory, StorageAdapter)


def test_create_session_sets_store_owned_fields(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active", "userId": "u1"})
    assert session.user_id == "u1"
    assert session.created_at == session.last_activity_at == START
    assert (session.version, session.message_count, session.token_count) == (1, 0, 0)
    assert session.expires_at is None
    assert memory.get_session(session.id) == session


def test_create_session_takes_a_model_and_a_caller_id(memory: MemoryAdapter) -> None:
    session = memory.create_session(NewSession(id="mine", status=SessionStatus.PAUSED))
    assert session.id == "mine"
    assert session.status is SessionStatus.PAUSED


def test_create_session_never_overwrites(memory: MemoryAdapter) -> None:
    memory.create_session({"id": "s", "status": "active", "metadata": {"title": "first"}})
    with pytest.raises(SessionExistsError) as raised:
        memory.create_session({"id": "s", "status": "paused"})
    assert raised.value.code == "SESSION_EXISTS"
    stored = memory.get_session("s")
    assert stored is not None
    assert stored.metadata.title == "first"


@pytest.mark.parametrize(
    "data",
    [
        {"status": "bogus"},
        {"status": "active", "id": ""},
        {"status": "active", "user_id": ""},
        {"status": "active", "version": 2},
        {"status": "active", "expires_at": datetime(2030, 1, 1)},  # naive
        {"status": "active", "id": "x" * 3000},
        {"status": "active", "metadata": {"custom": {"blob": "x" * 500_000}}},
    ],
)
def test_create_session_refuses_bad_input_and_stores_nothing(
    memory: MemoryAdapter, data: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        memory.create_session(data)
    assert memory.list_sessions({"include_expired": True}) == []


def test_session_ttl_gives_whole_second_expiry(expiring: MemoryAdapter, clock: Clock) -> None:
    clock.now = START + timedelta(milliseconds=999)
    session = expiring.create_session({"status": "active"})
    assert session.expires_at == START + timedelta(seconds=60)  # truncated


def test_explicit_expiry_is_kept_in_whole_seconds(expiring: MemoryAdapter) -> None:
    given = START + timedelta(seconds=5, milliseconds=700)
    session = expiring.create_session({"status": "active", "expires_at": given})
    assert session.expires_at == START + timedelta(seconds=5)


def test_a_session_is_gone_once_expires_at_is_reached(memory: MemoryAdapter, clock: Clock) -> None:
    session = memory.create_session(
        {"status": "active", "expires_at": START + timedelta(seconds=10)}
    )
    clock.advance(seconds=9, milliseconds=999)
    assert memory.get_session(session.id) is not None
    clock.advance(milliseconds=1)
    assert memory.get_session(session.id) is None
    with pytest.raises(SessionNotFoundError):
        memory.update_session(session.id, {"status": "paused"})
    with pytest.raises(SessionNotFoundError):
        memory.add_message(session.id, {"role": "user", "content": "late"})
    assert memory.list_sessions() == []
    assert [s.id for s in memory.list_sessions({"include_expired": True})] == [session.id]
    # An expired session's id can be used again at once: a new incarnation.
    again = memory.create_session({"id": session.id, "status": "paused"})
    assert (again.status.value, again.message_count, again.version) == ("paused", 0, 1)
    assert memory.get_session(session.id) == again


def test_update_session_increments_version_and_refreshes_activity(
    memory: MemoryAdapter, clock: Clock
) -> None:
    session = memory.create_session({"status": "active", "user_id": "u1", "active_agent_id": "a"})
    clock.advance(seconds=1)
    updated = memory.update_session(session.id, {"userId": None, "status": "paused"})
    assert updated.version == 2
    assert updated.user_id is None
    assert updated.active_agent_id == "a"
    assert updated.status is SessionStatus.PAUSED
    assert updated.last_activity_at == START + timedelta(seconds=1)
    assert updated.created_at == START
    assert memory.get_session(session.id) == updated
    assert memory.update_session(session.id, {}).version == 3


def test_update_session_with_expected_version(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})
    assert memory.update_session(session.id, {}, expected_version=1).version == 2
    with pytest.raises(ConcurrencyError) as raised:
        memory.update_session(session.id, {"status": "paused"}, expected_version=1)
    error = raised.value
    assert (error.session_id, error.expected_version, error.actual_version) == (session.id, 1, 2)
    assert error.code == "CONCURRENCY_CONFLICT"
    with pytest.raises(ConcurrencyError):
        memory.update_session(session.id, {}, expected_version=0)
    stored = memory.get_session(session.id)
    assert stored is not None
    assert (stored.version, stored.status) == (2, SessionStatus.ACTIVE)


def test_update_session_checks_existence_before_version(memory: MemoryAdapter) -> None:
    with pytest.raises(SessionNotFoundError):
        memory.update_session("nope", {}, expected_version=7)
    assert memory.list_sessions() == []  # never creates


@pytest.mark.parametrize(
    ("updates", "expected_version"),
    [
        ({"version": 5}, None),
        ({"tokenCount": 1}, None),
        ({"message_count": 1}, None),
        ({"id": "other"}, None),
        ({"createdAt": START}, None),
        ({"status": None}, None),
        ({"unknown": 1}, None),
        ({"active_agent_id": ""}, None),
        ({}, -1),
    ],
)
def test_update_session_refuses_bad_input_and_changes_nothing(
    memory: MemoryAdapter, updates: dict[str, Any], expected_version: int | None
) -> None:
    session = memory.create_session({"status": "active"})
    with pytest.raises(ValidationError):
        memory.update_session(session.id, updates, expected_version=expected_version)
    assert memory.get_session(session.id) == session


def test_update_session_slides_or_sets_expiry(expiring: MemoryAdapter, clock: Clock) -> None:
    session = expiring.create_session({"status": "active"})
    clock.advance(seconds=30)
    slid = expiring.update_session(session.id, {})
    assert slid.expires_at == START + timedelta(seconds=90)
    fixed = expiring.update_session(session.id, {"expires_at": START + timedelta(hours=1)})
    assert fixed.expires_at == START + timedelta(hours=1)
    forever = expiring.update_session(session.id, {"expires_at": None})
    assert forever.expires_at is None


def test_delete_session_removes_messages_and_is_idempotent(memory: MemoryAdapter) -> None:
    session = memory.create_session({"id": "s", "status": "active"})
    memory.add_message("s", {"role": "user", "content": "hi"})
    memory.delete_session("s")
    memory.delete_session("s")
    assert memory.get_session("s") is None
    assert memory.get_messages("s") == []
    again = memory.create_session({"id": "s", "status": "active"})
    assert again.message_count == 0
    assert again.version == session.version


def test_returned_values_are_copies(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active", "metadata": {"tags": ["a"]}})
    assert session.metadata.tags is not None
    session.metadata.tags.append("b")
    stored = memory.get_session(session.id)
    assert stored is not None
    assert stored.metadata.tags == ["a"]


# --- messages -------------------------------------------------------------------------


def test_add_message_counts_and_increments_version(expiring: MemoryAdapter, clock: Clock) -> None:
    session = expiring.create_session({"status": "active"})
    clock.advance(seconds=10)
    message = expiring.add_message(
        session.id,
        {"role": "assistant", "content": [{"type": "text", "text": "hi"}], "tokenCount": 5},
    )
    assert message_id_timestamp(message.id) == message.created_at
    assert message.session_id == session.id
    stored = expiring.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count, stored.version) == (1, 5, 2)
    assert stored.last_activity_at == START + timedelta(seconds=10)
    assert stored.expires_at == START + timedelta(seconds=70)
    assert expiring.get_messages(session.id) == [message]


def test_add_message_to_a_missing_session(memory: MemoryAdapter) -> None:
    with pytest.raises(SessionNotFoundError) as raised:
        memory.add_message("nope", {"role": "user", "content": "x"})
    assert raised.value.code == "SESSION_NOT_FOUND"
    assert memory.get_messages("nope") == []


def test_add_message_refuses_bad_input(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})
    for bad in (
        {"role": "bogus", "content": "x"},
        {"role": "user"},
        {"role": "user", "content": "x", "token_count": -1},
        {"role": "user", "content": "x" * 500_000},
    ):
        with pytest.raises(ValidationError):
            memory.add_message(session.id, bad)
    assert memory.get_messages(session.id) == []
    assert memory.get_session(session.id) == session


def fill(memory: MemoryAdapter, session_id: str, roles: str) -> list[str]:
    """One message per letter: u(ser), a(ssistant), s(ystem), t(ool); token_count = index."""
    names = {"u": "user", "a": "assistant", "s": "system", "t": "tool"}
    return [
        memory.add_message(session_id, {"role": names[r], "content": f"m{i}", "token_count": i}).id
        for i, r in enumerate(roles)
    ]


def test_get_messages_order_roles_limit_offset(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})
    ids = fill(memory, session.id, "usuaua")

    def listed(**query: Any) -> list[str]:
        return [m.id for m in memory.get_messages(session.id, query)]

    assert listed() == ids
    assert listed(order="desc") == ids[::-1]
    assert listed(roles=["assistant"]) == [ids[3], ids[5]]
    assert listed(roles=["user", "system"], offset=1, limit=2) == ids[1:3]
    assert listed(order="desc", limit=2, offset=1) == [ids[4], ids[3]]
    assert listed(limit=0) == []
    assert (
        list(memory.iter_messages(session.id, {"offset": 4})) == memory.get_messages(session.id)[4:]
    )


def test_get_messages_after_and_before_are_strict(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})
    messages = [memory.add_message(session.id, {"role": "user", "content": "x"}) for _ in range(3)]
    first, last = messages[0].created_at, messages[-1].created_at
    after = memory.get_messages(session.id, {"after": first})
    assert all(m.created_at > first for m in after)
    before = memory.get_messages(session.id, {"before": last})
    assert all(m.created_at < last for m in before)
    assert memory.get_messages(session.id, {"after": last, "before": first}) == []


def test_message_pages_walk_everything_once(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})
    ids = fill(memory, session.id, "uauauau")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = memory.get_messages_page(session.id, {"order": "desc"}, cursor=cursor, page_size=3)
        assert len(page.items) <= 3
        seen += [m.id for m in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ids[::-1]
    assert pages == 3


def test_limit_caps_the_whole_walk(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})
    ids = fill(memory, session.id, "uuuuuu")
    first = memory.get_messages_page(session.id, {"limit": 4, "offset": 1}, page_size=2)
    assert [m.id for m in first.items] == ids[1:3]
    assert first.next_cursor is not None
    second = memory.get_messages_page(
        session.id, {"limit": 4}, cursor=first.next_cursor, page_size=2
    )
    assert [m.id for m in second.items] == ids[3:5]
    assert second.next_cursor is None  # the limit is reached


def test_an_exact_last_page_has_no_cursor(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})
    fill(memory, session.id, "uu")
    page = memory.get_messages_page(session.id, page_size=2)
    assert len(page.items) == 2
    assert page.next_cursor is None


def altered(cursor: str) -> str:
    """``cursor`` with its middle character changed (always a different cursor)."""
    middle = len(cursor) // 2
    return cursor[:middle] + ("B" if cursor[middle] == "A" else "A") + cursor[middle + 1 :]


def test_cursor_misuse_is_a_validation_error(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})
    fill(memory, session.id, "uuuu")
    cursor = memory.get_messages_page(session.id, page_size=1).next_cursor
    assert cursor is not None
    other = memory.create_session({"status": "active"})
    bad_calls: list[Callable[[], object]] = [
        lambda: memory.get_messages_page(session.id, {"offset": 1}, cursor=cursor),
        lambda: memory.get_messages_page(session.id, {"order": "desc"}, cursor=cursor),
        lambda: memory.get_messages_page(other.id, cursor=cursor),
        lambda: memory.get_messages_page(session.id, cursor=altered(cursor)),
        lambda: memory.get_messages_page(session.id, cursor="garbage"),
        lambda: memory.get_messages_page(session.id, page_size=0),
        lambda: memory.list_sessions_page(cursor=cursor),
    ]
    for call in bad_calls:
        with pytest.raises(ValidationError):
            call()
    # A different page_size with the same query is fine.
    assert len(memory.get_messages_page(session.id, cursor=cursor, page_size=5).items) == 3


def test_update_message_keeps_the_token_total(memory: MemoryAdapter, clock: Clock) -> None:
    session = memory.create_session({"status": "active"})
    message = memory.add_message(session.id, {"role": "user", "content": "x", "token_count": 4})
    clock.advance(seconds=3)
    updated = memory.update_message(session.id, message.id, {"tokenCount": 10, "content": "y"})
    assert (updated.token_count, updated.content) == (10, "y")
    assert updated.updated_at == START + timedelta(seconds=3)
    assert updated.created_at == message.created_at
    stored = memory.get_session(session.id)
    assert stored is not None
    assert (stored.token_count, stored.version) == (10, 3)  # the append, the token edit
    memory.update_message(session.id, message.id, {"token_count": None})
    stored = memory.get_session(session.id)
    assert stored is not None
    assert stored.token_count == 0
    assert memory.get_messages(session.id)[0].token_count is None


def test_update_message_errors(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})
    message = memory.add_message(session.id, {"role": "user", "content": "x"})
    other = memory.create_session({"status": "active"})
    with pytest.raises(MessageNotFoundError) as raised:
        memory.update_message(other.id, message.id, {"content": "y"})
    assert raised.value.code == "MESSAGE_NOT_FOUND"
    with pytest.raises(MessageNotFoundError):
        memory.update_message(session.id, "not-a-ulid", {"content": "y"})
    for bad in ({"role": None}, {"id": "x"}, {"createdAt": START}, {"token_count": -1}):
        with pytest.raises(ValidationError):
            memory.update_message(session.id, message.id, bad)
    assert memory.get_messages(session.id) == [message]


def test_delete_message_uncounts_and_is_idempotent(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})
    ids = fill(memory, session.id, "uuu")  # tokens 0, 1, 2
    memory.delete_message(session.id, ids[2])
    memory.delete_message(session.id, ids[2])
    memory.delete_message(session.id, "not-a-ulid")
    stored = memory.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (2, 1)
    memory.delete_all_messages(session.id)
    stored = memory.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (0, 0)
    assert memory.get_messages(session.id) == []
    memory.delete_all_messages("nope")


def test_recount_reports_the_counters(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})
    fill(memory, session.id, "uau")
    recounted = memory.recount(session.id)
    # The counters were exact: nothing to correct, no write, no increment.
    assert (recounted.message_count, recounted.token_count, recounted.version) == (3, 3, 4)
    with pytest.raises(SessionNotFoundError):
        memory.recount("nope")


def test_concurrent_appends_are_all_counted(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})

    def append() -> None:
        for _ in range(25):
            memory.add_message(session.id, {"role": "user", "content": "x", "token_count": 2})

    threads = [threading.Thread(target=append) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = memory.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (200, 400)
    assert len(memory.get_messages(session.id)) == 200


# --- listing sessions -----------------------------------------------------------------


def test_list_sessions_by_user_is_newest_first(memory: MemoryAdapter, clock: Clock) -> None:
    made = []
    for i in range(4):
        clock.advance(seconds=1)
        made.append(memory.create_session({"status": "active", "user_id": "u" if i < 3 else "v"}))
    newest_first = [s.id for s in made[:3]][::-1]
    assert [s.id for s in memory.list_sessions({"user_id": "u"})] == newest_first
    assert [s.id for s in memory.list_sessions({"user_id": "u", "offset": 1, "limit": 1})] == [
        newest_first[1]
    ]
    window = memory.list_sessions(
        {"user_id": "u", "created_after": made[0].created_at, "created_before": made[2].created_at}
    )
    assert [s.id for s in window] == [made[1].id]


def test_list_sessions_by_agent_status_and_tags(memory: MemoryAdapter) -> None:
    a = memory.create_session(
        {"id": "a", "status": "paused", "active_agent_id": "x", "metadata": {"tags": ["red"]}}
    )
    b = memory.create_session({"id": "b", "status": "active", "active_agent_id": "x"})
    c = memory.create_session({"id": "c", "status": "active", "metadata": {"tags": ["blue"]}})
    assert memory.list_sessions({"active_agent_id": "x"}) == [a, b]  # by status, descending
    assert memory.list_sessions({"active_agent_id": "x", "status": "paused"}) == [a]
    assert memory.list_sessions({"tags": ["blue", "green"]}) == [c]
    assert memory.list_sessions({"tags": ["re"]}) == []  # exact tags only
    assert memory.list_sessions({"status": "active"}) == [b, c]
    assert memory.list_sessions() == [a, b, c]
    assert list(memory.iter_sessions({"limit": 2})) == [a, b]
    with pytest.raises(ValidationError):
        memory.list_sessions({"limit": -1})
    with pytest.raises(ValidationError):
        memory.list_sessions({"unknown": 1})


def test_session_pages(memory: MemoryAdapter) -> None:
    made = [memory.create_session({"id": f"s{i}", "status": "active"}) for i in range(5)]
    page = memory.list_sessions_page({"offset": 1}, page_size=2)
    assert page.items == made[1:3]
    assert page.next_cursor is not None
    rest = memory.list_sessions_page(cursor=page.next_cursor, page_size=10)
    assert rest.items == made[3:]
    assert rest.next_cursor is None
    with pytest.raises(ValidationError):
        memory.list_sessions_page({"status": "active"}, cursor=page.next_cursor)
    with pytest.raises(ValidationError):
        memory.list_sessions_page(page_size=0)


def test_page_resumes_after_the_last_item_even_if_items_move(memory: MemoryAdapter) -> None:
    for i in range(4):
        memory.create_session({"id": f"s{i}", "status": "active"})
    page = memory.list_sessions_page(page_size=2)
    memory.delete_session("s1")  # the last item handed out
    memory.create_session({"id": "s0a", "status": "active"})  # before the cursor
    rest = memory.list_sessions_page(cursor=page.next_cursor, page_size=5)
    assert [s.id for s in rest.items] == ["s2", "s3"]


# --- expiry ---------------------------------------------------------------------------


def test_get_expired_and_sweep(memory: MemoryAdapter, clock: Clock) -> None:
    soon = memory.create_session({"status": "active", "expires_at": START + timedelta(seconds=5)})
    memory.add_message(soon.id, {"role": "user", "content": "x"})
    later = memory.create_session({"status": "active", "expires_at": START + timedelta(hours=1)})
    memory.create_session({"status": "active"})
    assert memory.get_expired_sessions(START + timedelta(seconds=4, milliseconds=999)) == []
    assert memory.get_expired_sessions(START + timedelta(seconds=5)) == [soon.id]
    with pytest.raises(ValidationError):
        memory.get_expired_sessions(datetime(2030, 1, 1))  # naive
    assert memory.sweep_expired() == 0
    clock.advance(seconds=5)
    assert memory.sweep_expired() == 1
    assert memory.get_messages(soon.id) == []
    calls: list[tuple[int, int]] = []
    assert (
        memory.sweep_expired(START + timedelta(hours=2), progress=lambda *c: calls.append(c)) == 1
    )
    assert calls == [(0, 1), (1, 1)]
    assert memory.get_session(later.id) is None
    assert len(memory.list_sessions()) == 1


def test_handle_stream_event_acts_on_ttl_removals_only(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})
    fill(memory, session.id, "uau")
    assert memory.handle_stream_event(ttl_event(session.id, by_ttl=False)) == 0
    assert memory.handle_stream_event({"Records": [{"eventName": "INSERT"}]}) == 0
    assert memory.handle_stream_event({"Records": []}) == 0
    assert len(memory.get_messages(session.id)) == 3
    assert memory.handle_stream_event(ttl_event(session.id)) == 3
    assert memory.get_messages(session.id) == []
    assert memory.get_session(session.id) is None
    with pytest.raises(ValidationError):
        memory.handle_stream_event({"Records": "nope"})


# --- the rest -------------------------------------------------------------------------


def test_health_close_and_context_manager() -> None:
    with MemoryAdapter() as adapter:
        assert adapter.health().status == "healthy"
        assert adapter.create_table() is False
        assert adapter.migrate() == []
        session = adapter.create_session({"status": "active"})
    # Closed, like a closed DynamoDBAdapter: requests are refused, bad input still first.
    with pytest.raises(StorageError, match="closed"):
        adapter.get_session(session.id)
    with pytest.raises(StorageError):
        adapter.add_message(session.id, {"role": "user", "content": "x"})
    with pytest.raises(StorageError):
        adapter.list_sessions()
    with pytest.raises(ValidationError):
        adapter.get_session("")
    assert adapter.health().status == "unhealthy"
    adapter.close()  # idempotent


def test_context_window_keeps_system_messages_and_the_newest_run(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})

    def add(role: str, tokens: int | None) -> str:
        data: dict[str, Any] = {"role": role, "content": role}
        if tokens is not None:
            data["token_count"] = tokens
        return memory.add_message(session.id, data).id

    system = add("system", 10)
    old = add("user", 50)
    reply = add("assistant", 30)
    middle = add("user", 20)
    newest = add("assistant", None)  # counts 0

    def window(max_tokens: int, reserve: int = 0) -> list[str]:
        chosen = memory.get_context_window(session.id, max_tokens, reserve_tokens=reserve)
        return [m.id for m in chosen]

    assert window(200) == [system, old, reply, middle, newest]
    assert window(60) == [system, reply, middle, newest]
    assert window(59) == [system, middle, newest]
    assert window(29) == [system, newest]
    assert window(70, reserve=10) == [system, reply, middle, newest]
    assert window(5) == [system]  # the system messages come regardless
    assert memory.get_context_window("nope", 100) == []
    with pytest.raises(ValidationError):
        memory.get_context_window(session.id, -1)
    with pytest.raises(ValidationError):
        memory.get_context_window(session.id, 10, reserve_tokens=True)


def test_session_ttl_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        MemoryAdapter(session_ttl=timedelta(0))


@pytest.mark.parametrize("bad_id", ["", "x" * 3000])
def test_ids_are_checked(memory: MemoryAdapter, bad_id: str) -> None:
    with pytest.raises(ValidationError):
        memory.get_session(bad_id)
    with pytest.raises(ValidationError):
        memory.get_messages(bad_id)
    with pytest.raises(ValidationError):
        memory.delete_message("s", bad_id)


def test_constructor_arguments_are_checked() -> None:
    for ttl in (timedelta(days=40_000), 60):
        with pytest.raises(ValidationError):
            MemoryAdapter(session_ttl=ttl)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        MemoryAdapter(cursor_secret=b"")


def test_page_size_is_bounded(memory: MemoryAdapter) -> None:
    assert memory.list_sessions_page(page_size=10_000).items == []
    for size in (10_001, True, 1.5):
        with pytest.raises(ValidationError):
            memory.list_sessions_page(page_size=size)  # type: ignore[arg-type]


def test_filter_ids_are_checked(memory: MemoryAdapter) -> None:
    for filters in ({"user_id": ""}, {"active_agent_id": "x" * 3000}):
        with pytest.raises(ValidationError):
            memory.list_sessions(filters)
    with pytest.raises(ValidationError):
        memory.list_sessions([])  # type: ignore[arg-type]


def test_what_an_update_writes_is_checked_before_the_lookup(memory: MemoryAdapter) -> None:
    huge = "x" * 500_000
    with pytest.raises(ValidationError):
        memory.update_session("missing", {"metadata": {"title": huge}})
    with pytest.raises(ValidationError):
        memory.update_session("missing", {"metadata": {"title": "\ud800"}})  # lone surrogate
    with pytest.raises(ValidationError):
        memory.update_message("missing", "not-a-ulid", {"content": huge})
    session = memory.create_session({"status": "active"})
    message = memory.add_message(session.id, {"role": "user", "content": "x"})
    with pytest.raises(ValidationError):
        memory.update_message(session.id, message.id, {"content": "\udfff"})
    assert memory.get_messages(session.id) == [message]


def test_malformed_stream_records_are_refused_before_any_delete(memory: MemoryAdapter) -> None:
    session = memory.create_session({"status": "active"})
    fill(memory, session.id, "uu")
    good = ttl_event(session.id)["Records"][0]
    for bad in ("record", {"eventName": "REMOVE", "dynamodb": "keys"}):
        with pytest.raises(ValidationError):
            memory.handle_stream_event({"Records": [good, bad]})
    assert len(memory.get_messages(session.id)) == 2
    not_a_session = {**good, "dynamodb": {"Keys": {"PK": {"S": "SESSION#"}, "SK": {"S": "META"}}}}
    assert memory.handle_stream_event({"Records": [not_a_session]}) == 0
