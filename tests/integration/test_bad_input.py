"""Bad input is refused with ``ValidationError`` before any request is sent (SPEC §4).

Every case calls a public method of ``DynamoDBAdapter`` with one bad input
and asserts three things: ``session_store.ValidationError`` is raised, its
code is ``VALIDATION_ERROR``, and ``count_requests`` saw no DynamoDB request.

Validation never depends on the backend, so these cases share one moto
table (module scope) seeded with two sessions, messages and real cursors.
The few cases whose failure only shows on a real DynamoDB (expression
limits) run on every backend, on the per-test ``adapter`` fixture.

Limits are DynamoDB's, computed here rather than read from the adapter: a
partition key holds at most 2048 UTF-8 bytes, a sort key 1024, an item
400 KB.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from session_store import (
    DynamoDBAdapter,
    MessageQuery,
    NewMessage,
    NewSession,
    Page,
    SessionFilters,
    SessionUpdate,
    ValidationError,
)
from session_store.dynamodb import DEFAULT_CURSOR_SECRET
from session_store.testing.backends import Backend, MotoBackend, unique_table_name
from session_store.testing.requests import count_requests

# --- DynamoDB's limits (not the adapter's constants) --------------------------

PARTITION_KEY_BYTES = 2048
SORT_KEY_BYTES = 1024
ITEM_BYTES = 400 * 1024
ISO = "2026-11-24T13:08:53.123Z"
MAX_SESSION_ID = PARTITION_KEY_BYTES - len("SESSION#")
MAX_USER_ID = PARTITION_KEY_BYTES - len("USER#")
MAX_AGENT_ID = PARTITION_KEY_BYTES - len("AGENT#")
MAX_MESSAGE_ID = SORT_KEY_BYTES - len("MSG#") - len(ISO) - len("#")
ABSURD = 1_000_001  # SPEC: limits/offsets above 1,000,000 are mistakes

NAN = float("nan")
INF = float("inf")
NAIVE = datetime(2026, 1, 1, 12, 0, 0)
AWARE = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
# Aware, but outside datetime's range once converted to UTC.
BEYOND_MAX = datetime.max.replace(tzinfo=timezone(timedelta(hours=-1)))
BEFORE_MIN = datetime.min.replace(tzinfo=timezone(timedelta(hours=1)))
HIGH_SURROGATE = "a\ud800b"
LOW_SURROGATE = "\udfffz"

_MAC_BYTES = 12


@dataclass(frozen=True)
class Seed:
    """A moto table with two sessions of user ``u-1`` and real cursors into it."""

    adapter: DynamoDBAdapter
    session_id: str
    other_session_id: str
    message_id: str
    sessions_cursor: str
    user_cursor: str
    messages_cursor: str
    foreign_cursor: str
    """A cursor of the same listing, made by an adapter with another ``cursor_secret``."""


Call = Callable[[Seed], object]
Invoke = Callable[[Seed, Any], object]


def bind(invoke: Invoke, value: object) -> Call:
    """A ``Call`` that hands ``value`` to ``invoke``."""
    return lambda s: invoke(s, value)


def loose(seed: Seed) -> Any:
    """The adapter, typed loosely: for calls that pass deliberately wrong types."""
    return seed.adapter


@pytest.fixture(scope="module")
def seed() -> Iterator[Seed]:
    with MotoBackend().active():
        name = unique_table_name()
        adapter = DynamoDBAdapter(name, region="us-east-1")
        adapter.create_table()
        first = adapter.create_session(
            {"id": "s-1", "status": "active", "user_id": "u-1", "active_agent_id": "a-1"}
        )
        second = adapter.create_session({"id": "s-2", "status": "paused", "user_id": "u-1"})
        message = adapter.add_message(first.id, {"role": "user", "content": "hello"})
        adapter.add_message(first.id, {"role": "assistant", "content": "hi", "token_count": 3})
        adapter.add_message(second.id, {"role": "user", "content": "other"})
        adapter.add_message(second.id, {"role": "user", "content": "other again"})
        pages: list[Page[Any]] = [
            adapter.list_sessions_page({}, page_size=1),
            adapter.list_sessions_page({"user_id": "u-1"}, page_size=1),
            adapter.get_messages_page(first.id, {}, page_size=1),
        ]
        with DynamoDBAdapter(name, region="us-east-1", cursor_secret=b"another secret") as other:
            pages.append(other.list_sessions_page({}, page_size=1))
        cursors = [page.next_cursor for page in pages]
        sessions_cursor, user_cursor, messages_cursor, foreign_cursor = (
            cursor for cursor in cursors if cursor is not None
        )
        yield Seed(
            adapter=adapter,
            session_id=first.id,
            other_session_id=second.id,
            message_id=message.id,
            sessions_cursor=sessions_cursor,
            user_cursor=user_cursor,
            messages_cursor=messages_cursor,
            foreign_cursor=foreign_cursor,
        )
        adapter.close()


def refused(seed: Seed, call: Call) -> ValidationError:
    """Run ``call``: it must raise ``ValidationError`` without sending a request."""
    with count_requests(seed.adapter) as log, pytest.raises(ValidationError) as raised:
        call(seed)
    assert log.total == 0, f"sent {log.operations} before refusing"
    assert raised.value.code == "VALIDATION_ERROR"
    assert str(raised.value)
    return raised.value


def cases(table: dict[str, Call]) -> list[Any]:
    """``pytest.param``s from ``{id: call}``."""
    return [pytest.param(call, id=name) for name, call in table.items()]


def session(**fields: Any) -> dict[str, Any]:
    """A valid ``NewSession`` mapping with ``fields`` changed."""
    return {"status": "active", **fields}


def message(**fields: Any) -> dict[str, Any]:
    """A valid ``NewMessage`` mapping with ``fields`` changed."""
    return {"role": "user", "content": "hello", **fields}


def participant(**fields: Any) -> dict[str, Any]:
    return {"id": "p-1", "role": "user", "joined_at": AWARE, **fields}


# --- unknown status / role / enum values --------------------------------------

ENUMS: dict[str, Call] = {
    "create-status-unknown": lambda s: s.adapter.create_session(session(status="archived")),
    "create-status-wrong-case": lambda s: s.adapter.create_session(session(status="ACTIVE")),
    "create-status-empty": lambda s: s.adapter.create_session(session(status="")),
    "create-status-none": lambda s: s.adapter.create_session(session(status=None)),
    "create-status-int": lambda s: s.adapter.create_session(session(status=1)),
    "create-status-missing": lambda s: s.adapter.create_session({"user_id": "u"}),
    "create-participant-role": lambda s: s.adapter.create_session(
        session(participants=[participant(role="admin")])
    ),
    "create-overflow-strategy": lambda s: s.adapter.create_session(
        session(
            token_budget={"max_tokens": 10, "reserve_tokens": 1, "overflow_strategy": "explode"}
        )
    ),
    "create-compression-strategy": lambda s: s.adapter.create_session(
        session(compression={"strategy": "zip", "target_tokens": 10})
    ),
    "update-status-unknown": lambda s: s.adapter.update_session(
        s.session_id, {"status": "archived"}
    ),
    "update-participant-role": lambda s: s.adapter.update_session(
        s.session_id, {"participants": [participant(role="owner")]}
    ),
    "filters-status-unknown": lambda s: s.adapter.list_sessions({"status": "archived"}),
    "filters-status-unknown-page": lambda s: s.adapter.list_sessions_page({"status": "gone"}),
    "filters-status-unknown-iter": lambda s: list(s.adapter.iter_sessions({"status": "x"})),
    "add-role-unknown": lambda s: s.adapter.add_message(s.session_id, message(role="robot")),
    "add-role-wrong-case": lambda s: s.adapter.add_message(s.session_id, message(role="User")),
    "add-role-empty": lambda s: s.adapter.add_message(s.session_id, message(role="")),
    "add-role-missing": lambda s: s.adapter.add_message(s.session_id, {"content": "x"}),
    "add-content-block-type": lambda s: s.adapter.add_message(
        s.session_id, message(content=[{"type": "audio", "data": "x"}])
    ),
    "update-message-role": lambda s: s.adapter.update_message(
        s.session_id, s.message_id, {"role": "robot"}
    ),
    "query-roles-unknown": lambda s: s.adapter.get_messages(s.session_id, {"roles": ["robot"]}),
    "query-roles-string": lambda s: s.adapter.get_messages(s.session_id, {"roles": "user"}),
    "query-order-unknown": lambda s: s.adapter.get_messages(s.session_id, {"order": "random"}),
    "query-roles-page": lambda s: s.adapter.get_messages_page(s.session_id, {"roles": ["x"]}),
    "query-roles-iter": lambda s: list(s.adapter.iter_messages(s.session_id, {"roles": ["x"]})),
}


@pytest.mark.parametrize("call", cases(ENUMS))
def test_unknown_status_role_and_enum_values_are_refused(seed: Seed, call: Call) -> None:
    refused(seed, call)


# --- ids --------------------------------------------------------------------


def bad_ids(max_bytes: int) -> dict[str, object]:
    """Ids no DynamoDB key can hold (or that are not ids at all)."""
    return {
        "empty": "",
        "over-limit-ascii": "x" * (max_bytes + 1),
        # Fewer characters than the limit, more UTF-8 bytes.
        "over-limit-utf8": "é" * (max_bytes // 2 + 1),
        "over-limit-emoji": "🤖" * (max_bytes // 4 + 1),
        "lone-high-surrogate": HIGH_SURROGATE,
        "lone-low-surrogate": LOW_SURROGATE,
        "int": 7,
        "none": None,
        "bytes": b"s-1",
        "list": ["s-1"],
    }


SESSION_ID_METHODS: dict[str, Invoke] = {
    "create_session": lambda s, i: s.adapter.create_session(session(id=i)),
    "get_session": lambda s, i: s.adapter.get_session(i),
    "update_session": lambda s, i: s.adapter.update_session(i, {"status": "paused"}),
    "delete_session": lambda s, i: s.adapter.delete_session(i),
    "add_message": lambda s, i: s.adapter.add_message(i, message()),
    "get_messages": lambda s, i: s.adapter.get_messages(i),
    "iter_messages": lambda s, i: list(s.adapter.iter_messages(i)),
    "get_messages_page": lambda s, i: s.adapter.get_messages_page(i),
    "update_message": lambda s, i: s.adapter.update_message(i, s.message_id, {"content": "x"}),
    "delete_message": lambda s, i: s.adapter.delete_message(i, s.message_id),
    "pop_message": lambda s, i: s.adapter.pop_message(i),
    "delete_all_messages": lambda s, i: s.adapter.delete_all_messages(i),
    "recount": lambda s, i: s.adapter.recount(i),
}
MESSAGE_ID_METHODS: dict[str, Invoke] = {
    "update_message": lambda s, i: s.adapter.update_message(s.session_id, i, {"content": "x"}),
    "delete_message": lambda s, i: s.adapter.delete_message(s.session_id, i),
}
USER_ID_METHODS: dict[str, Invoke] = {
    "create_session": lambda s, i: s.adapter.create_session(session(user_id=i)),
    "update_session": lambda s, i: s.adapter.update_session(s.session_id, {"user_id": i}),
    "list_sessions": lambda s, i: s.adapter.list_sessions({"user_id": i}),
    "list_sessions_page": lambda s, i: s.adapter.list_sessions_page({"user_id": i}),
    "iter_sessions": lambda s, i: list(s.adapter.iter_sessions({"userId": i})),
}
AGENT_ID_METHODS: dict[str, Invoke] = {
    "create_session": lambda s, i: s.adapter.create_session(session(active_agent_id=i)),
    "update_session": lambda s, i: s.adapter.update_session(s.session_id, {"activeAgentId": i}),
    "list_sessions": lambda s, i: s.adapter.list_sessions({"active_agent_id": i}),
    "list_sessions_page": lambda s, i: s.adapter.list_sessions_page({"active_agent_id": i}),
    "iter_sessions": lambda s, i: list(s.adapter.iter_sessions({"activeAgentId": i})),
}


def id_cases(
    kind: str,
    methods: dict[str, Invoke],
    max_bytes: int,
    *,
    none_means_absent: frozenset[str] = frozenset(),
    in_mapping: frozenset[str] = frozenset(),
) -> list[Any]:
    """Every bad id through every method; ``None`` is skipped where it means "absent"."""
    table: dict[str, Call] = {}
    for method, invoke in methods.items():
        for label, value in bad_ids(max_bytes).items():
            if value is None and method in none_means_absent:
                continue
            if isinstance(value, bytes) and method in in_mapping:
                continue  # pydantic's lax mode decodes UTF-8 bytes in a mapping to str
            name = f"{kind}-{method}-{label}"
            table[name] = bind(invoke, value)
    return cases(table)


ID_CASES = [
    # A NewSession without an id gets a new one.
    *id_cases(
        "session-id",
        SESSION_ID_METHODS,
        MAX_SESSION_ID,
        none_means_absent=frozenset({"create_session"}),
        in_mapping=frozenset({"create_session"}),
    ),
    *id_cases("message-id", MESSAGE_ID_METHODS, MAX_MESSAGE_ID),
    # No user/agent: none given, removed by an update, no filter on it.
    *id_cases(
        "user-id",
        USER_ID_METHODS,
        MAX_USER_ID,
        none_means_absent=frozenset(USER_ID_METHODS),
        in_mapping=frozenset(USER_ID_METHODS),
    ),
    *id_cases(
        "agent-id",
        AGENT_ID_METHODS,
        MAX_AGENT_ID,
        none_means_absent=frozenset(AGENT_ID_METHODS),
        in_mapping=frozenset(AGENT_ID_METHODS),
    ),
]


@pytest.mark.parametrize("call", ID_CASES)
def test_ids_that_no_key_can_hold_are_refused(seed: Seed, call: Call) -> None:
    refused(seed, call)


def test_id_refusal_names_the_limit(seed: Seed) -> None:
    error = refused(seed, lambda s: s.adapter.get_session("é" * (MAX_SESSION_ID // 2 + 1)))
    assert "bytes" in str(error)


# --- naive datetimes and instants out of range ---------------------------------

DATETIMES: dict[str, Call] = {
    "create-expires_at": lambda s: s.adapter.create_session(session(expires_at=NAIVE)),
    "create-expiresAt-iso-without-zone": lambda s: s.adapter.create_session(
        session(expiresAt="2026-01-01T12:00:00")
    ),
    "create-expires_at-out-of-range": lambda s: s.adapter.create_session(
        session(expires_at=BEYOND_MAX)
    ),
    "create-participant-joined_at": lambda s: s.adapter.create_session(
        session(participants=[participant(joined_at=NAIVE)])
    ),
    "create-participant-left_at": lambda s: s.adapter.create_session(
        session(participants=[participant(left_at=NAIVE)])
    ),
    "create-compression_state-updated_at": lambda s: s.adapter.create_session(
        session(
            compression_state={
                "strategy": "hybrid",
                "kept_message_ids": [],
                "signature": "sig",
                "compressed_token_count": 0,
                "updated_at": NAIVE,
            }
        )
    ),
    "update-expires_at": lambda s: s.adapter.update_session(s.session_id, {"expires_at": NAIVE}),
    "update-participant-joined_at": lambda s: s.adapter.update_session(
        s.session_id, {"participants": [participant(joinedAt=NAIVE)]}
    ),
    "filters-created_after": lambda s: s.adapter.list_sessions({"created_after": NAIVE}),
    "filters-created_before": lambda s: s.adapter.list_sessions({"createdBefore": NAIVE}),
    "filters-created_after-by-user": lambda s: s.adapter.list_sessions(
        {"user_id": "u-1", "created_after": NAIVE}
    ),
    "filters-created_before-page": lambda s: s.adapter.list_sessions_page(
        {"created_before": NAIVE}
    ),
    "filters-created_after-iter": lambda s: list(s.adapter.iter_sessions({"created_after": NAIVE})),
    "filters-created_after-out-of-range": lambda s: s.adapter.list_sessions(
        {"created_after": BEFORE_MIN}
    ),
    "query-after": lambda s: s.adapter.get_messages(s.session_id, {"after": NAIVE}),
    "query-before": lambda s: s.adapter.get_messages(s.session_id, {"before": NAIVE}),
    "query-after-page": lambda s: s.adapter.get_messages_page(s.session_id, {"after": NAIVE}),
    "query-before-iter": lambda s: list(s.adapter.iter_messages(s.session_id, {"before": NAIVE})),
    "query-after-out-of-range": lambda s: s.adapter.get_messages(
        s.session_id, {"after": BEYOND_MAX}
    ),
    "get_expired_sessions-naive": lambda s: s.adapter.get_expired_sessions(NAIVE),
    "get_expired_sessions-str": lambda s: loose(s).get_expired_sessions("2026-01-01T00:00:00Z"),
    "get_expired_sessions-date": lambda s: loose(s).get_expired_sessions(date(2026, 1, 1)),
    "get_expired_sessions-epoch-int": lambda s: loose(s).get_expired_sessions(1_700_000_000),
    "get_expired_sessions-none": lambda s: loose(s).get_expired_sessions(None),
    "get_expired_sessions-beyond-max": lambda s: s.adapter.get_expired_sessions(BEYOND_MAX),
    "get_expired_sessions-before-min": lambda s: s.adapter.get_expired_sessions(BEFORE_MIN),
    "sweep_expired-naive": lambda s: s.adapter.sweep_expired(NAIVE),
    "sweep_expired-str": lambda s: loose(s).sweep_expired("yesterday"),
    "sweep_expired-beyond-max": lambda s: s.adapter.sweep_expired(BEYOND_MAX),
}


@pytest.mark.parametrize(
    "call",
    cases(DATETIMES),
)
def test_naive_and_out_of_range_datetimes_are_refused(seed: Seed, call: Call) -> None:
    refused(seed, call)


# --- limits, offsets, page sizes, versions -------------------------------------

BAD_COUNTS: dict[str, object] = {
    "negative": -1,
    "absurd": ABSURD,
    "huge": 10**30,
    "fraction": 2.5,
    "nan": NAN,
    "inf": INF,
    "word": "ten",
    "list": [1],
}
LISTINGS: dict[str, Invoke] = {
    "list_sessions": lambda s, q: s.adapter.list_sessions(q),
    "list_sessions_page": lambda s, q: s.adapter.list_sessions_page(q),
    "iter_sessions": lambda s, q: list(s.adapter.iter_sessions(q)),
    "get_messages": lambda s, q: s.adapter.get_messages(s.session_id, q),
    "get_messages_page": lambda s, q: s.adapter.get_messages_page(s.session_id, q),
    "iter_messages": lambda s, q: list(s.adapter.iter_messages(s.session_id, q)),
}
LIMITS: dict[str, Call] = {
    f"{method}-{field}-{label}": bind(listing, {field: value})
    for method, listing in LISTINGS.items()
    for field in ("limit", "offset")
    for label, value in BAD_COUNTS.items()
}
LIMITS["list_sessions-offset-none"] = lambda s: s.adapter.list_sessions({"offset": None})
LIMITS["get_messages-offset-none"] = lambda s: s.adapter.get_messages(
    s.session_id, {"offset": None}
)


@pytest.mark.parametrize("call", cases(LIMITS))
def test_negative_and_absurd_limits_and_offsets_are_refused(seed: Seed, call: Call) -> None:
    refused(seed, call)


BAD_PAGE_SIZES: dict[str, object] = {
    "zero": 0,
    "negative": -1,
    "true": True,
    "false": False,
    "float": 1.0,
    "fraction": 2.5,
    "nan": NAN,
    "str": "10",
    "none": None,
    "absurd": ABSURD,
    "int32-overflow": 2**31,
}
PAGED: dict[str, Invoke] = {
    "list_sessions_page": lambda s, v: s.adapter.list_sessions_page({}, page_size=v),
    "get_messages_page": lambda s, v: s.adapter.get_messages_page(s.session_id, {}, page_size=v),
}
PAGE_SIZES: dict[str, Call] = {
    f"{method}-{label}": bind(paged, size)
    for method, paged in PAGED.items()
    for label, size in BAD_PAGE_SIZES.items()
}


@pytest.mark.parametrize(
    "call",
    cases(PAGE_SIZES),
)
def test_page_size_must_be_an_int_of_at_least_one(seed: Seed, call: Call) -> None:
    refused(seed, call)


@pytest.mark.parametrize("version", [-1, True, False, "1", 1.0, NAN, [1]])
def test_expected_version_must_be_a_non_negative_int(seed: Seed, version: object) -> None:
    refused(
        seed,
        lambda s: loose(s).update_session(s.session_id, {}, expected_version=version),
    )


@pytest.mark.parametrize(
    ("session_id", "max_tokens", "reserve_tokens"),
    [
        pytest.param("s-1", -1, 0, id="negative-max_tokens"),
        pytest.param("s-1", True, 0, id="bool-max_tokens"),
        pytest.param("s-1", "100", 0, id="str-max_tokens"),
        pytest.param("s-1", NAN, 0, id="nan-max_tokens"),
        pytest.param("s-1", 100.0, 0, id="float-max_tokens"),
        pytest.param("s-1", None, 0, id="none-max_tokens"),
        pytest.param("s-1", 100, -1, id="negative-reserve_tokens"),
        pytest.param("s-1", 100, True, id="bool-reserve_tokens"),
        pytest.param("s-1", 100, "5", id="str-reserve_tokens"),
        pytest.param("", 100, 0, id="empty-session-id"),
        pytest.param(HIGH_SURROGATE, 100, 0, id="surrogate-session-id"),
    ],
)
def test_context_window_arguments_are_checked(
    seed: Seed, session_id: object, max_tokens: object, reserve_tokens: object
) -> None:
    refused(
        seed,
        lambda s: loose(s).get_context_window(
            session_id, max_tokens, reserve_tokens=reserve_tokens
        ),
    )


# --- cursors ------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _payload(cursor: str) -> dict[str, Any]:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    data: dict[str, Any] = json.loads(raw[:-_MAC_BYTES])
    return data


def signed(payload: bytes, secret: bytes = DEFAULT_CURSOR_SECRET) -> str:
    """A cursor whose checksum is right: what anyone who knows the secret can make.

    The default ``cursor_secret`` is a constant in the source, so anyone can.
    """
    mac = hmac.new(secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return _b64(payload + mac)


def forged(cursor: str, **changes: Any) -> str:
    data = {**_payload(cursor), **changes}
    return signed(json.dumps(data, separators=(",", ":")).encode())


def tampered(cursor: str) -> str:
    """The same cursor with one character in the middle changed."""
    middle = len(cursor) // 2
    replacement = "A" if cursor[middle] != "A" else "B"
    return cursor[:middle] + replacement + cursor[middle + 1 :]


GARBAGE_CURSORS: dict[str, Callable[[Seed], object]] = {
    "empty": lambda s: "",
    "words": lambda s: "not a cursor",
    "punctuation": lambda s: "!!!!",
    "non-ascii": lambda s: "é",
    "short-base64": lambda s: "AAAA",
    "padding-only": lambda s: "====",
    "json-without-mac": lambda s: _b64(b'{"v":1,"k":"sessions","q":"x","s":{},"n":0}'),
    "int": lambda s: 5,
    "bytes": lambda s: s.sessions_cursor.encode(),
    "dict": lambda s: {"cursor": s.sessions_cursor},
}
CURSOR_TAKERS: dict[str, Invoke] = {
    "sessions": lambda s, c: s.adapter.list_sessions_page({}, cursor=c),
    "messages": lambda s, c: s.adapter.get_messages_page(s.session_id, {}, cursor=c),
}


def with_cursor(take: Invoke, make: Callable[[Seed], object]) -> Call:
    return lambda s: take(s, make(s))


CURSORS: dict[str, Call] = {
    f"{kind}-{label}": with_cursor(take, make)
    for kind, take in CURSOR_TAKERS.items()
    for label, make in GARBAGE_CURSORS.items()
}
CURSORS.update(
    {
        "sessions-truncated-end": lambda s: s.adapter.list_sessions_page(
            {}, cursor=s.sessions_cursor[:-4]
        ),
        "sessions-truncated-to-8": lambda s: s.adapter.list_sessions_page(
            {}, cursor=s.sessions_cursor[:8]
        ),
        "sessions-extended": lambda s: s.adapter.list_sessions_page(
            {}, cursor=s.sessions_cursor + "AAAA"
        ),
        "sessions-one-char-changed": lambda s: s.adapter.list_sessions_page(
            {}, cursor=tampered(s.sessions_cursor)
        ),
        "sessions-other-secret": lambda s: s.adapter.list_sessions_page(
            {}, cursor=s.foreign_cursor
        ),
        "sessions-edited-count-unsigned": lambda s: s.adapter.list_sessions_page(
            {},
            cursor=_b64(
                json.dumps({**_payload(s.sessions_cursor), "n": 0}).encode() + b"\0" * _MAC_BYTES
            ),
        ),
        "sessions-cursor-of-another-filter": lambda s: s.adapter.list_sessions_page(
            {"status": "active"}, cursor=s.sessions_cursor
        ),
        "sessions-cursor-of-another-limit": lambda s: s.adapter.list_sessions_page(
            {"limit": 5}, cursor=s.sessions_cursor
        ),
        "sessions-user-cursor-on-scan": lambda s: s.adapter.list_sessions_page(
            {}, cursor=s.user_cursor
        ),
        "sessions-user-cursor-other-user": lambda s: s.adapter.list_sessions_page(
            {"user_id": "u-2"}, cursor=s.user_cursor
        ),
        "sessions-cursor-with-offset": lambda s: s.adapter.list_sessions_page(
            {"offset": 1}, cursor=s.sessions_cursor
        ),
        "sessions-messages-cursor": lambda s: s.adapter.list_sessions_page(
            {}, cursor=s.messages_cursor
        ),
        "messages-sessions-cursor": lambda s: s.adapter.get_messages_page(
            s.session_id, {}, cursor=s.sessions_cursor
        ),
        "messages-user-cursor": lambda s: s.adapter.get_messages_page(
            s.session_id, {}, cursor=s.user_cursor
        ),
        "messages-cursor-of-another-session": lambda s: s.adapter.get_messages_page(
            s.other_session_id, {}, cursor=s.messages_cursor
        ),
        "messages-cursor-of-another-order": lambda s: s.adapter.get_messages_page(
            s.session_id, {"order": "desc"}, cursor=s.messages_cursor
        ),
        "messages-cursor-of-another-roles": lambda s: s.adapter.get_messages_page(
            s.session_id, {"roles": ["user"]}, cursor=s.messages_cursor
        ),
        "messages-cursor-with-offset": lambda s: s.adapter.get_messages_page(
            s.session_id, {"offset": 2}, cursor=s.messages_cursor
        ),
        "messages-truncated": lambda s: s.adapter.get_messages_page(
            s.session_id, {}, cursor=s.messages_cursor[:-1]
        ),
        "messages-one-char-changed": lambda s: s.adapter.get_messages_page(
            s.session_id, {}, cursor=tampered(s.messages_cursor)
        ),
    }
)
# Signed with the right secret, but not a payload the adapter ever writes.
SIGNED_PAYLOADS: dict[str, Call] = {
    "start-key-int": lambda s: s.adapter.list_sessions_page(
        {}, cursor=forged(s.sessions_cursor, s=5)
    ),
    "start-key-list": lambda s: s.adapter.list_sessions_page(
        {}, cursor=forged(s.sessions_cursor, s=[1])
    ),
    "start-key-null": lambda s: s.adapter.list_sessions_page(
        {}, cursor=forged(s.sessions_cursor, s=None)
    ),
    "start-key-empty": lambda s: s.adapter.list_sessions_page(
        {}, cursor=forged(s.sessions_cursor, s={})
    ),
    "start-key-untyped": lambda s: s.adapter.list_sessions_page(
        {}, cursor=forged(s.sessions_cursor, s={"PK": "SESSION#s-1", "SK": "META"})
    ),
    "start-key-of-another-session": lambda s: s.adapter.get_messages_page(
        s.session_id,
        {},
        cursor=forged(
            s.messages_cursor,
            s={**_payload(s.messages_cursor)["s"], "PK": {"S": f"SESSION#{s.other_session_id}"}},
        ),
    ),
    "start-key-of-a-message-in-a-session-listing": lambda s: s.adapter.list_sessions_page(
        {},
        cursor=forged(
            s.sessions_cursor,
            s={"PK": {"S": f"SESSION#{s.session_id}"}, "SK": {"S": "MSG#000000000000001#x"}},
        ),
    ),
    "start-key-missing-its-sort-key": lambda s: s.adapter.get_messages_page(
        s.session_id,
        {},
        cursor=forged(s.messages_cursor, s={"PK": {"S": f"SESSION#{s.session_id}"}}),
    ),
    "count-str": lambda s: s.adapter.list_sessions_page(
        {}, cursor=forged(s.sessions_cursor, n="x")
    ),
    "count-null": lambda s: s.adapter.list_sessions_page(
        {}, cursor=forged(s.sessions_cursor, n=None)
    ),
    "count-negative": lambda s: s.adapter.list_sessions_page(
        {}, cursor=forged(s.sessions_cursor, n=-5)
    ),
    "count-fraction": lambda s: s.adapter.list_sessions_page(
        {}, cursor=forged(s.sessions_cursor, n=1.5)
    ),
    "payload-list": lambda s: s.adapter.list_sessions_page({}, cursor=signed(b"[1,2]")),
    "payload-not-json": lambda s: s.adapter.list_sessions_page({}, cursor=signed(b"\xff\xfe{")),
}


@pytest.mark.parametrize(
    "call",
    [
        *cases(CURSORS),
        *cases(
            {f"signed-{name}": call for name, call in SIGNED_PAYLOADS.items()},
        ),
    ],
)
def test_malformed_and_misused_cursors_are_refused(seed: Seed, call: Call) -> None:
    refused(seed, call)


def test_a_valid_cursor_still_works_with_another_page_size(seed: Seed) -> None:
    """The control for the cursor cases: page_size may change between pages."""
    page = seed.adapter.list_sessions_page({}, cursor=seed.sessions_cursor, page_size=5)
    assert page.items
    messages = seed.adapter.get_messages_page(
        seed.session_id, {}, cursor=seed.messages_cursor, page_size=7
    )
    assert messages.items[0].content == "hi"  # the seed's second message of s-1


# --- items over 400 KB --------------------------------------------------------

BIG = "x" * (ITEM_BYTES + 1)
HALF = "y" * (ITEM_BYTES // 2 + 1)
# 140,000 characters, 420,000 UTF-8 bytes: the limit counts bytes.
BIG_UTF8 = "€" * 140_000

OVERSIZED: dict[str, tuple[Call, tuple[str, ...], int]] = {
    "session-title": (
        lambda s: s.adapter.create_session(session(metadata={"title": BIG})),
        ("metadata",),
        len(BIG),
    ),
    "session-custom-utf8": (
        lambda s: s.adapter.create_session(session(metadata={"custom": {"notes": BIG_UTF8}})),
        ("metadata",),
        len(BIG_UTF8.encode()),
    ),
    "session-tags": (
        lambda s: s.adapter.create_session(session(metadata={"tags": ["t" * 1000] * 420})),
        ("metadata",),
        420_000,
    ),
    "session-participants": (
        lambda s: s.adapter.create_session(
            session(
                participants=[
                    participant(id=f"p-{i}", metadata={"bio": "b" * 1000}) for i in range(420)
                ]
            )
        ),
        ("participants",),
        420_000,
    ),
    "session-compression-prompt": (
        lambda s: s.adapter.create_session(
            session(
                compression={
                    "strategy": "summarization",
                    "target_tokens": 1,
                    "summarization_prompt": BIG,
                }
            )
        ),
        ("compression",),
        len(BIG),
    ),
    "session-two-fields-together": (
        lambda s: s.adapter.create_session(
            session(metadata={"title": HALF}, participants=[participant(id=HALF)])
        ),
        ("metadata", "participants"),
        len(HALF),
    ),
    "message-content": (
        lambda s: s.adapter.add_message(s.session_id, message(content=BIG)),
        ("content",),
        len(BIG),
    ),
    "message-content-utf8": (
        lambda s: s.adapter.add_message(s.session_id, message(content=BIG_UTF8)),
        ("content",),
        len(BIG_UTF8.encode()),
    ),
    "message-content-blocks": (
        lambda s: s.adapter.add_message(
            s.session_id, message(content=[{"type": "text", "text": "z" * 1000}] * 420)
        ),
        ("content",),
        420_000,
    ),
    "message-annotations": (
        lambda s: s.adapter.add_message(
            s.session_id, message(metadata={"annotations": {"blob": BIG}})
        ),
        ("metadata",),
        len(BIG),
    ),
    "message-tool-calls": (
        lambda s: s.adapter.add_message(
            s.session_id,
            message(
                role="assistant",
                metadata={"tool_calls": [{"id": "c", "name": "n", "arguments": BIG}]},
            ),
        ),
        ("metadata",),
        len(BIG),
    ),
}
OVERSIZED_UPDATES: dict[str, tuple[Call, tuple[str, ...], int]] = {
    "update_session-metadata": (
        lambda s: s.adapter.update_session(s.session_id, {"metadata": {"title": BIG}}),
        ("metadata",),
        len(BIG),
    ),
    "update_session-participants": (
        lambda s: s.adapter.update_session(
            s.session_id, {"participants": [participant(id=BIG_UTF8)]}
        ),
        ("participants",),
        len(BIG_UTF8.encode()),
    ),
    "update_message-content": (
        lambda s: s.adapter.update_message(s.session_id, s.message_id, {"content": BIG}),
        ("content",),
        len(BIG),
    ),
    "update_message-metadata-with-tokens": (
        lambda s: s.adapter.update_message(
            s.session_id,
            s.message_id,
            {"metadata": {"annotations": {"blob": BIG}}, "token_count": 5},
        ),
        ("metadata",),
        len(BIG),
    ),
}


def _size_cases() -> list[Any]:
    cases = {**OVERSIZED, **OVERSIZED_UPDATES}
    return [pytest.param(*case, id=name) for name, case in cases.items()]


@pytest.mark.parametrize(("call", "fields", "at_least"), _size_cases())
def test_items_over_400_kb_are_refused_naming_the_field_and_its_size(
    seed: Seed, call: Call, fields: tuple[str, ...], at_least: int
) -> None:
    error = str(refused(seed, call))
    named = [f for f in fields if re.search(rf"\b{f}\b", error)]
    assert named, f"the message names none of {fields}: {error}"
    sizes = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?= ?bytes)", error)]
    # The field's size is reported in bytes, and it is at least what the field holds.
    field_part = error[error.find(named[0]) :]
    field_sizes = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?= ?bytes)", field_part)]
    assert field_sizes, f"no byte count after the field name: {error}"
    assert field_sizes[0] >= at_least, error
    assert max(sizes) > ITEM_BYTES, f"the item's size is not reported: {error}"


def test_an_item_just_under_400_kb_is_accepted(adapter: DynamoDBAdapter, backend: Backend) -> None:
    """The control for the size cases: the check does not refuse what DynamoDB accepts.

    DynamoDB (and DynamoDB Local) take items up to 409,600 bytes; moto stops at 400,000.
    """
    limit = 400_000 if backend.name == "moto" else ITEM_BYTES
    created = adapter.create_session({"status": "active"})
    # A message item's other attributes take well under 600 bytes.
    content = "x" * (limit - 600)
    with count_requests(adapter) as log:
        stored = adapter.add_message(created.id, message(content=content))
    assert log.operations == ["TransactWriteItems"]
    assert adapter.get_messages(created.id)[0].content == stored.content == content


# --- NaN, infinities, and values JSON cannot carry ------------------------------


class _Opaque:
    """An object with no JSON form."""


def _circular() -> dict[str, Any]:
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop
    return loop


NON_JSON: dict[str, Callable[[], object]] = {
    "nan": lambda: NAN,
    "inf": lambda: INF,
    "minus-inf": lambda: -INF,
    "nested-nan": lambda: [1, {"deep": [NAN]}],
    "decimal-nan": lambda: Decimal("NaN"),
    "decimal": lambda: Decimal("1.5"),
    "set": lambda: {1, 2},
    "frozenset": lambda: frozenset({"a"}),
    "bytes": lambda: b"\x00\x01",
    "bytearray": lambda: bytearray(b"x"),
    "object": _Opaque,
    "datetime": lambda: AWARE,
    "complex": lambda: 1j,
    "int-keyed-map": lambda: {1: "one"},
    "tuple-keyed-map": lambda: {(1, 2): "pair"},
    "circular": _circular,
}
# Where free-form JSON goes: each builds a call from a value.
JSON_HOLES: dict[str, Invoke] = {
    "session-custom": lambda s, v: s.adapter.create_session(
        session(metadata={"custom": {"value": v}})
    ),
    "session-unknown-metadata-key": lambda s, v: s.adapter.create_session(
        session(metadata={"extra": v})
    ),
    "participant-metadata": lambda s, v: s.adapter.create_session(
        session(participants=[participant(metadata={"value": v})])
    ),
    "update-custom": lambda s, v: s.adapter.update_session(
        s.session_id, {"metadata": {"custom": {"value": v}}}
    ),
    "message-annotations": lambda s, v: s.adapter.add_message(
        s.session_id, message(metadata={"annotations": {"value": v}})
    ),
    "message-unknown-metadata-key": lambda s, v: s.adapter.add_message(
        s.session_id, message(metadata={"extra": v})
    ),
    "message-tool-result": lambda s, v: s.adapter.add_message(
        s.session_id,
        message(role="tool", metadata={"tool_results": [{"tool_call_id": "c", "result": v}]}),
    ),
    "update-message-annotations": lambda s, v: s.adapter.update_message(
        s.session_id, s.message_id, {"metadata": {"annotations": {"value": v}}}
    ),
}


def with_fresh(put: Invoke, make: Callable[[], object]) -> Call:
    """A ``Call`` that hands a freshly made value to ``put``."""
    return lambda s: put(s, make())


JSON_CASES: dict[str, Call] = {
    f"{hole}-{label}": with_fresh(put, make)
    for hole, put in JSON_HOLES.items()
    for label, make in NON_JSON.items()
}


@pytest.mark.parametrize(
    "call",
    cases(JSON_CASES),
)
def test_nan_inf_and_non_json_values_in_free_form_metadata_are_refused(
    seed: Seed, call: Call
) -> None:
    refused(seed, call)


NUMBER_HOLES: dict[str, Invoke] = {
    "add-token_count": lambda s, v: s.adapter.add_message(s.session_id, message(token_count=v)),
    "add-sequence": lambda s, v: s.adapter.add_message(s.session_id, message(sequence=v)),
    "update-message-token_count": lambda s, v: s.adapter.update_message(
        s.session_id, s.message_id, {"tokenCount": v}
    ),
    "create-schema_version": lambda s, v: s.adapter.create_session(session(schema_version=v)),
    "create-token_budget": lambda s, v: s.adapter.create_session(
        session(token_budget={"max_tokens": v, "reserve_tokens": 0, "overflow_strategy": "error"})
    ),
    "update-compression": lambda s, v: s.adapter.update_session(
        s.session_id, {"compression": {"strategy": "hybrid", "target_tokens": v}}
    ),
}
NUMBERS: dict[str, Call] = {
    f"{hole}-{label}": bind(put, value)
    for hole, put in NUMBER_HOLES.items()
    for label, value in {"nan": NAN, "inf": INF, "minus-inf": -INF, "nan-str": "nan"}.items()
}
NUMBERS["add-token_count-negative"] = lambda s: s.adapter.add_message(
    s.session_id, message(token_count=-1)
)
NUMBERS["update-message-token_count-negative"] = lambda s: s.adapter.update_message(
    s.session_id, s.message_id, {"token_count": -5}
)


@pytest.mark.parametrize("call", cases(NUMBERS))
def test_nan_inf_and_negative_counts_are_refused(seed: Seed, call: Call) -> None:
    refused(seed, call)


def _deep(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


OTHER_VALUES: dict[str, Call] = {
    "deep-custom": lambda s: s.adapter.create_session(session(metadata={"custom": _deep(3000)})),
    "deep-annotations": lambda s: s.adapter.add_message(
        s.session_id, message(metadata={"annotations": _deep(3000)})
    ),
    "deep-unknown-metadata-key": lambda s: s.adapter.create_session(
        session(metadata={"extra": _deep(3000)})
    ),
    "surrogate-key-in-custom": lambda s: s.adapter.create_session(
        session(metadata={"custom": {HIGH_SURROGATE: 1}})
    ),
    "surrogate-key-in-annotations": lambda s: s.adapter.add_message(
        s.session_id, message(metadata={"annotations": {LOW_SURROGATE: 1}})
    ),
}


@pytest.mark.parametrize(
    "call",
    cases(OTHER_VALUES),
)
def test_deep_and_unencodable_json_is_refused(seed: Seed, call: Call) -> None:
    refused(seed, call)


# --- lone surrogates in stored strings ------------------------------------------

SURROGATES: dict[str, Call] = {
    "session-title": lambda s: s.adapter.create_session(
        session(metadata={"title": HIGH_SURROGATE})
    ),
    "session-tag": lambda s: s.adapter.create_session(session(metadata={"tags": [LOW_SURROGATE]})),
    "session-custom-value": lambda s: s.adapter.create_session(
        session(metadata={"custom": {"k": HIGH_SURROGATE}})
    ),
    "session-participant-id": lambda s: s.adapter.create_session(
        session(participants=[participant(id=HIGH_SURROGATE)])
    ),
    "message-content": lambda s: s.adapter.add_message(
        s.session_id, message(content=HIGH_SURROGATE)
    ),
    "message-text-block": lambda s: s.adapter.add_message(
        s.session_id, message(content=[{"type": "text", "text": LOW_SURROGATE}])
    ),
    "message-tool-call-arguments": lambda s: s.adapter.add_message(
        s.session_id,
        message(metadata={"tool_calls": [{"id": "c", "name": "n", "arguments": HIGH_SURROGATE}]}),
    ),
    "update-session-title": lambda s: s.adapter.update_session(
        s.session_id, {"metadata": {"title": HIGH_SURROGATE}}
    ),
    "update-message-content": lambda s: s.adapter.update_message(
        s.session_id, s.message_id, {"content": LOW_SURROGATE}
    ),
    "filters-tag": lambda s: s.adapter.list_sessions({"tags": [HIGH_SURROGATE]}),
}


@pytest.mark.parametrize("call", cases(SURROGATES))
def test_lone_surrogates_in_stored_strings_are_refused(seed: Seed, call: Call) -> None:
    refused(seed, call)


# --- store-owned fields in updates, unknown fields ------------------------------

STORE_OWNED_SESSION = {
    "id": "other",
    "created_at": AWARE,
    "createdAt": ISO,
    "version": 9,
    "token_count": 0,
    "tokenCount": 0,
    "message_count": 0,
    "messageCount": 0,
}
STORE_OWNED_MESSAGE = {
    "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "session_id": "s-2",
    "sessionId": "s-2",
    "created_at": AWARE,
    "createdAt": ISO,
    "updated_at": AWARE,
    "updatedAt": ISO,
}
UPDATERS: dict[str, Invoke] = {
    "update_session": lambda s, u: s.adapter.update_session(s.session_id, u),
    "update_message": lambda s, u: s.adapter.update_message(s.session_id, s.message_id, u),
}
OWNED: dict[str, Call] = {}
for _field, _value in STORE_OWNED_SESSION.items():
    OWNED[f"update_session-{_field}"] = bind(UPDATERS["update_session"], {_field: _value})
    OWNED[f"update_session-{_field}-with-valid-fields"] = bind(
        UPDATERS["update_session"], {"status": "paused", _field: _value}
    )
for _field, _value in STORE_OWNED_MESSAGE.items():
    OWNED[f"update_message-{_field}"] = bind(
        UPDATERS["update_message"], {"content": "x", _field: _value}
    )
OWNED.update(
    {
        "update_session-last_activity_at": lambda s: s.adapter.update_session(
            s.session_id, {"last_activity_at": AWARE}
        ),
        "create_session-version": lambda s: s.adapter.create_session(session(version=5)),
        "create_session-created_at": lambda s: s.adapter.create_session(session(created_at=AWARE)),
        "create_session-message_count": lambda s: s.adapter.create_session(session(messageCount=3)),
        "add_message-id": lambda s: s.adapter.add_message(
            s.session_id, message(id="01ARZ3NDEKTSV4RRFFQ69G5FAV")
        ),
        "add_message-created_at": lambda s: s.adapter.add_message(
            s.session_id, message(createdAt=ISO)
        ),
        "add_message-session_id": lambda s: s.adapter.add_message(
            s.session_id, message(session_id="s-2")
        ),
        "create_session-misspelt-field": lambda s: s.adapter.create_session(session(user="u-1")),
        "create_session-snake-and-camel-together": lambda s: s.adapter.create_session(
            session(user_id="u-1", userId="u-2")
        ),
        "filters-misspelt-field": lambda s: s.adapter.list_sessions({"userid": "u-1"}),
        "query-misspelt-field": lambda s: s.adapter.get_messages(s.session_id, {"sort": "asc"}),
        "update_session-remove-status": lambda s: s.adapter.update_session(
            s.session_id, {"status": None}
        ),
        "update_session-remove-metadata": lambda s: s.adapter.update_session(
            s.session_id, {"metadata": None}
        ),
        "update_session-remove-participants": lambda s: s.adapter.update_session(
            s.session_id, {"participants": None}
        ),
        "update_message-remove-content": lambda s: s.adapter.update_message(
            s.session_id, s.message_id, {"content": None}
        ),
        "update_message-remove-role": lambda s: s.adapter.update_message(
            s.session_id, s.message_id, {"role": None}
        ),
    }
)


@pytest.mark.parametrize("call", cases(OWNED))
def test_store_owned_unknown_and_unremovable_fields_are_refused(seed: Seed, call: Call) -> None:
    error = refused(seed, call)
    assert str(error)


def test_the_refusal_of_a_store_owned_field_names_it(seed: Seed) -> None:
    error = refused(seed, lambda s: s.adapter.update_session(s.session_id, {"tokenCount": 1}))
    assert "tokenCount" in str(error)


# --- inputs that are not mappings -------------------------------------------------

NOT_MAPPINGS: dict[str, object] = {
    "list": [("status", "active")],
    "str": "status=active",
    "none": None,
    "int": 1,
    "tuple": (("status", "active"),),
    "set": {"status"},
    "bytes": b"{}",
}
REQUIRED_MAPPING: dict[str, Invoke] = {
    "create_session": lambda s, v: s.adapter.create_session(v),
    "update_session": lambda s, v: s.adapter.update_session(s.session_id, v),
    "add_message": lambda s, v: s.adapter.add_message(s.session_id, v),
    "update_message": lambda s, v: s.adapter.update_message(s.session_id, s.message_id, v),
    "handle_stream_event": lambda s, v: s.adapter.handle_stream_event(v),
}
# None means "no filters" / "no query" here.
OPTIONAL_MAPPING: dict[str, Invoke] = {
    "list_sessions": lambda s, v: s.adapter.list_sessions(v),
    "list_sessions_page": lambda s, v: s.adapter.list_sessions_page(v),
    "iter_sessions": lambda s, v: list(s.adapter.iter_sessions(v)),
    "get_messages": lambda s, v: s.adapter.get_messages(s.session_id, v),
    "get_messages_page": lambda s, v: s.adapter.get_messages_page(s.session_id, v),
    "iter_messages": lambda s, v: list(s.adapter.iter_messages(s.session_id, v)),
}
SHAPES: dict[str, Call] = {
    f"{method}-{label}": bind(take, value)
    for method, take in {**REQUIRED_MAPPING, **OPTIONAL_MAPPING}.items()
    for label, value in NOT_MAPPINGS.items()
    if value is not None or method in REQUIRED_MAPPING
}
SHAPES.update(
    {
        "create_session-SessionUpdate": lambda s: loose(s).create_session(SessionUpdate()),
        "create_session-NewMessage": lambda s: loose(s).create_session(
            NewMessage.model_validate(message())
        ),
        "add_message-NewSession": lambda s: loose(s).add_message(
            s.session_id, NewSession.model_validate(session())
        ),
        "update_session-NewSession": lambda s: loose(s).update_session(
            s.session_id, NewSession.model_validate(session())
        ),
        "update_message-NewMessage": lambda s: loose(s).update_message(
            s.session_id, s.message_id, NewMessage.model_validate(message())
        ),
        "list_sessions-MessageQuery": lambda s: loose(s).list_sessions(MessageQuery()),
        "get_messages-SessionFilters": lambda s: loose(s).get_messages(
            s.session_id, SessionFilters()
        ),
        "metadata-str": lambda s: s.adapter.create_session(session(metadata="title")),
        "metadata-list": lambda s: s.adapter.create_session(session(metadata=[])),
        "custom-list": lambda s: s.adapter.create_session(session(metadata={"custom": [1]})),
        "custom-str": lambda s: s.adapter.create_session(session(metadata={"custom": "x"})),
        "participants-map": lambda s: s.adapter.create_session(
            session(participants={"id": "p", "role": "user"})
        ),
        "participants-str": lambda s: s.adapter.create_session(session(participants="p-1")),
        "participant-none": lambda s: s.adapter.create_session(session(participants=[None])),
        "token_budget-list": lambda s: s.adapter.create_session(session(token_budget=[1, 2])),
        "tags-str": lambda s: s.adapter.create_session(session(metadata={"tags": "billing"})),
        "tags-ints": lambda s: s.adapter.create_session(session(metadata={"tags": [1, 2]})),
        "filters-tags-str": lambda s: s.adapter.list_sessions({"tags": "billing"}),
        "content-map": lambda s: s.adapter.add_message(
            s.session_id, message(content={"type": "text", "text": "x"})
        ),
        "content-none": lambda s: s.adapter.add_message(s.session_id, message(content=None)),
        "content-block-str": lambda s: s.adapter.add_message(s.session_id, message(content=["x"])),
        "annotations-list": lambda s: s.adapter.add_message(
            s.session_id, message(metadata={"annotations": [1]})
        ),
        "message-metadata-str": lambda s: s.adapter.add_message(
            s.session_id, message(metadata="meta")
        ),
        "stream-records-str": lambda s: s.adapter.handle_stream_event({"Records": "x"}),
        "stream-records-map": lambda s: s.adapter.handle_stream_event({"Records": {}}),
    }
)
SHAPES.update(
    {
        "stream-record-none": lambda s: s.adapter.handle_stream_event({"Records": [None]}),
        "stream-record-str": lambda s: s.adapter.handle_stream_event({"Records": ["REMOVE"]}),
        "stream-identity-str": lambda s: s.adapter.handle_stream_event(
            {"Records": [{"eventName": "REMOVE", "userIdentity": "dynamodb"}]}
        ),
        "stream-key-int": lambda s: s.adapter.handle_stream_event(
            {
                "Records": [
                    {
                        "eventName": "REMOVE",
                        "userIdentity": {
                            "type": "Service",
                            "principalId": "dynamodb.amazonaws.com",
                        },
                        "dynamodb": {"Keys": {"PK": {"S": 7}, "SK": {"S": "META"}}},
                    }
                ]
            }
        ),
    }
)
FALSY = {"str": "", "list": [], "tuple": (), "int": 0, "false": False}
FALSY_CASES: dict[str, Call] = {
    f"{method}-falsy-{label}": bind(take, value)
    for method, take in OPTIONAL_MAPPING.items()
    for label, value in FALSY.items()
}


@pytest.mark.parametrize(
    "call",
    [*cases(SHAPES), *cases(FALSY_CASES)],
)
def test_inputs_that_are_not_mappings_where_one_is_required_are_refused(
    seed: Seed, call: Call
) -> None:
    refused(seed, call)


def test_a_session_key_without_an_id_is_skipped_or_refused(seed: Seed) -> None:
    """``SESSION#`` names no session: skipping the record or refusing it are both fine."""
    event = {
        "Records": [
            {
                "eventName": "REMOVE",
                "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
                "dynamodb": {"Keys": {"PK": {"S": "SESSION#"}, "SK": {"S": "META"}}},
            }
        ]
    }
    with count_requests(seed.adapter) as log:
        try:
            deleted = seed.adapter.handle_stream_event(event)
        except ValidationError:
            pass
        else:
            assert deleted == 0
    assert log.total == 0, f"sent {log.operations}"


# --- the constructor ------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"table_name": "ab"}, id="table-name-too-short"),
        pytest.param({"table_name": "t" * 256}, id="table-name-too-long"),
        pytest.param({"table_name": None}, id="table-name-none"),
        pytest.param({"session_ttl": timedelta(0)}, id="ttl-zero"),
        pytest.param({"session_ttl": timedelta(seconds=-1)}, id="ttl-negative"),
        pytest.param({"table_name": "has spaces!"}, id="table-name-bad-characters"),
        pytest.param({"session_ttl": 3600}, id="ttl-int"),
        pytest.param({"session_ttl": timedelta.max}, id="ttl-absurd"),
        pytest.param({"retry": "fast"}, id="retry-str"),
        pytest.param({"cursor_secret": "text"}, id="cursor-secret-str"),
    ],
)
def test_bad_constructor_arguments_are_refused(options: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"table_name": "session-store-bad-input", **options}
    with pytest.raises(ValidationError):
        DynamoDBAdapter(region="us-east-1", **arguments).close()


# --- limits only DynamoDB enforces (every backend) -------------------------------


def test_many_roles_are_not_sent_as_an_overlong_in_list(adapter: DynamoDBAdapter) -> None:
    """Either refused before sending, or answered correctly: never a StorageError."""
    created = adapter.create_session({"status": "active"})
    adapter.add_message(created.id, message(role="user"))
    adapter.add_message(created.id, message(role="system"))
    with count_requests(adapter) as log:
        try:
            found = adapter.get_messages(created.id, {"roles": ["user", "tool"] * 60})
        except ValidationError:
            assert log.total == 0
            return
    assert [m.role for m in found] == ["user"]


def test_many_tags_do_not_overflow_the_filter_expression(adapter: DynamoDBAdapter) -> None:
    """Either refused before sending, or answered correctly: never a StorageError."""
    tagged = adapter.create_session(session(metadata={"tags": ["tag-299"]}))
    adapter.create_session(session(metadata={"tags": ["elsewhere"]}))
    with count_requests(adapter) as log:
        try:
            found = adapter.list_sessions({"tags": [f"tag-{i}" for i in range(300)]})
        except ValidationError:
            assert log.total == 0
            return
    assert [s.id for s in found] == [tagged.id]
