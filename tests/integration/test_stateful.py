"""DynamoDBAdapter and MemoryAdapter agree on random sequences of operations.

A Hypothesis ``RuleBasedStateMachine`` drives both adapters side by side on
moto (each example on a freshly created table) and asserts after every step
that they gave the same result or raised the same kind of error, and that
every touched session's ``message_count``/``token_count`` equal the sum over
its stored messages, in both adapters.

Both adapters read one fake clock that the machine moves (a millisecond per
step, sometimes seconds, to cross expiry), so timestamps agree exactly. What
legitimately differs is mapped, not ignored: generated session ids (uuid4)
and message ids (ULIDs of two different calls; a message's ``created_at`` is
its id's wall-clock timestamp) are kept as (dynamo, memory) pairs. Where
DynamoDB leaves an order unspecified (a scan; equal GSI sort keys) listings
are compared as sets within each group of equal sort keys.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from pydantic.alias_generators import to_camel

from session_store import keys
from session_store._time import to_millisecond
from session_store.domain import Message, Page, Session
from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import ConcurrencyError, SessionError, ValidationError
from session_store.memory import MemoryAdapter
from session_store.testing.backends import Backend

T = TypeVar("T")
U = TypeVar("U")

START = datetime(2030, 1, 1, tzinfo=UTC)
TTLS = (None, timedelta(seconds=30))
USERS = ("u1", "u2")
AGENTS = ("a1", "a2")
TAGS = ("red", "green", "blue")
CALLER_IDS = ("s1", "s2", "s3")
STATUSES = ("active", "paused", "completed", "expired")
ROLES = ("user", "assistant", "system", "tool")
UNKNOWN_MESSAGE_IDS = (
    "01ARZ3NDEKTSV4RRFFQ69G5FAV",  # a ULID of 2016: addressed by its timestamp
    "000001700000000-000001-0b5f",  # a reference id: 15 digits of epoch ms
    "not-a-ulid",  # no timestamp: looked up by a query
)
STORE_OWNED_SESSION = ("id", "createdAt", "version", "token_count", "messageCount")

# --- the clock and the adapters ----------------------------------------------------


class FakeClock:
    """Both adapters' ``now``: moved only by the machine."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now = to_millisecond(self.now + delta)


@dataclass
class Environment:
    """One ``DynamoDBAdapter`` per TTL choice (a botocore client is slow to make)."""

    backend: Backend
    clock: FakeClock = field(default_factory=FakeClock)
    adapters: dict[timedelta | None, DynamoDBAdapter] = field(default_factory=dict)

    def fresh(self, ttl: timedelta | None) -> DynamoDBAdapter:
        """The adapter for ``ttl`` on a freshly created (empty) table."""
        adapter = self.adapters.get(ttl)
        if adapter is None:
            config = self.backend.table_config()
            adapter = DynamoDBAdapter(
                config.table_name,
                region=config.region,
                endpoint_url=config.endpoint_url,
                session_ttl=ttl,
                clock=self.clock,
            )
            self.adapters[ttl] = adapter
        else:
            with contextlib.suppress(ClientError):
                adapter.models.client.delete_table(TableName=adapter.config.table_name)
        adapter.create_table()
        return adapter

    def close(self) -> None:
        for adapter in self.adapters.values():
            adapter.close()


# --- references into both adapters -------------------------------------------------


@dataclass(frozen=True)
class SessionRef:
    """The same session in both adapters (ids differ when generated)."""

    dynamo: str
    memory: str

    def __repr__(self) -> str:
        if self.dynamo == self.memory:
            return f"SessionRef({self.dynamo!r})"
        return "SessionRef(<generated>)"


MISSING_SESSION = SessionRef("missing", "missing")


@dataclass
class Outcome(Generic[T]):
    value: T | None = None
    error: Exception | None = None


def attempt(call: Callable[[], T]) -> Outcome[T]:
    try:
        return Outcome(value=call())
    except Exception as error:  # compared by the caller, whatever it is
        return Outcome(error=error)


# --- strategies -------------------------------------------------------------------

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=4,
)
statuses = st.sampled_from(STATUSES)


def session_metadata(extra_values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "title": st.text(max_size=4),
            "tags": st.lists(st.sampled_from(TAGS), max_size=3),
            "custom": st.dictionaries(st.text(max_size=2), json_values, max_size=2),
            "extraKey": extra_values,  # unknown keys are kept
        },
    )


new_session_metadata = session_metadata(json_values)
updated_session_metadata = new_session_metadata
token_budgets = st.fixed_dictionaries(
    {
        "max_tokens": st.integers(0, 1000),
        "reserve_tokens": st.integers(0, 100),
        "overflow_strategy": st.sampled_from(["truncate", "compress", "error"]),
    }
)
participants = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.sampled_from(["p1", "p2"]),
            "role": st.sampled_from(["user", "agent", "observer"]),
            "joined_at": st.just(START),
        },
        optional={"metadata": st.dictionaries(st.text(max_size=2), json_values, max_size=2)},
    ),
    max_size=2,
)
compressions = st.fixed_dictionaries(
    {
        "strategy": st.sampled_from(["sliding_window", "summarization", "hybrid"]),
        "targetTokens": st.integers(0, 500),
    },
    optional={"minMessages": st.integers(0, 5), "summarizationPrompt": st.text(max_size=4)},
)
compression_states = st.fixed_dictionaries(
    {
        "strategy": st.sampled_from(["sliding_window", "summarization", "hybrid"]),
        "keptMessageIds": st.lists(st.sampled_from(UNKNOWN_MESSAGE_IDS), max_size=2),
        "signature": st.text(max_size=4),
        "compressedTokenCount": st.integers(0, 100),
        "updatedAt": st.just(START + timedelta(milliseconds=7)),
    },
    optional={"summary": st.text(max_size=4), "summaryTokenCount": st.integers(0, 9)},
)
expiry_offsets = st.sampled_from([600_000, 45_000, 5000, 1500, 0])
"""``expires_at`` relative to now, in ms (``None`` in an update removes the expiry)."""

new_sessions = st.fixed_dictionaries(
    {"status": statuses},
    optional={
        "id": st.sampled_from(CALLER_IDS),
        "user_id": st.sampled_from(USERS),
        "active_agent_id": st.sampled_from(AGENTS),
        "metadata": new_session_metadata,
        "participants": participants,
        "token_budget": token_budgets,
        "compression": compressions,
        "compression_state": compression_states,
        "expires_in_ms": expiry_offsets,
    },
)
session_updates = st.fixed_dictionaries(
    {},
    optional={
        "user_id": st.none() | st.sampled_from(USERS),
        "active_agent_id": st.none() | st.sampled_from(AGENTS),
        "status": statuses,
        "metadata": updated_session_metadata,
        "participants": participants,
        "schema_version": st.integers(1, 3),
        "token_budget": st.none() | token_budgets,
        "compression": st.none() | compressions,
        "compression_state": st.none() | compression_states,
        "expires_in_ms": st.none() | expiry_offsets,
    },
)
text_blocks = st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=4)})
image_blocks = st.fixed_dictionaries(
    {"type": st.just("image_url"), "image_url": st.fixed_dictionaries({"url": st.just("u")})}
)
message_metadata = st.fixed_dictionaries(
    {},
    optional={
        "annotations": st.dictionaries(st.text(max_size=2), json_values, max_size=2),
        "toolCalls": st.lists(
            st.fixed_dictionaries(
                {"id": st.just("c1"), "name": st.just("f"), "arguments": st.just("{}")}
            ),
            max_size=1,
        ),
        "toolResults": st.lists(
            st.fixed_dictionaries(
                {"toolCallId": st.just("c1"), "result": json_values},
                optional={"isError": st.booleans()},
            ),
            max_size=1,
        ),
    },
)
contents = st.text(max_size=6) | st.lists(text_blocks | image_blocks, max_size=2)
new_messages = st.fixed_dictionaries(
    {"role": st.sampled_from(ROLES), "content": contents},
    optional={
        "token_count": st.integers(0, 50),
        "sequence": st.integers(-3, 10),
        "metadata": message_metadata,
    },
)
message_updates = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(ROLES),
        "content": contents,
        "token_count": st.none() | st.integers(0, 50),
        "sequence": st.none() | st.integers(-3, 10),
        "metadata": st.none() | message_metadata,
    },
)
message_queries = st.fixed_dictionaries(
    {},
    optional={
        "limit": st.integers(0, 5),
        "offset": st.integers(0, 4),
        "order": st.sampled_from(["asc", "desc"]),
        "roles": st.lists(st.sampled_from(ROLES), max_size=2),
    },
)
session_filters = st.fixed_dictionaries(
    {},
    optional={
        "user_id": st.sampled_from(USERS),
        "active_agent_id": st.sampled_from(AGENTS),
        "status": statuses,
        "tags": st.lists(st.sampled_from(TAGS), max_size=2),
        "limit": st.integers(0, 4),
        "offset": st.integers(0, 3),
        "include_expired": st.booleans(),
        "created_after_ms_ago": st.integers(0, 25),
        "created_before_ms_ago": st.integers(0, 25),
    },
)


INVALID_CALLS: tuple[tuple[str, Any], ...] = (
    ("create_session", {"status": "bogus"}),
    ("create_session", {"status": "active", "user_id": ""}),
    ("create_session", {"status": "active", "id": ""}),
    ("create_session", {"status": "active", "version": 3}),
    ("create_session", {"status": "active", "expires_at": datetime(2030, 1, 1)}),  # naive
    *(("update_session", {name: 1}) for name in STORE_OWNED_SESSION),
    ("update_session", {"status": "bogus"}),
    ("update_session", {"status": None}),
    ("update_session", {"user_id": ""}),
    ("update_session", {"bogus": 1}),
    ("update_session", {"metadata": {"title": "\ud800"}}),  # a lone surrogate
    ("update_session", {"metadata": {"title": "x" * 410_000}}),
    ("expected_version", -1),
    ("add_message", {"role": "bogus", "content": "x"}),
    ("add_message", {"role": "user"}),
    ("add_message", {"role": "user", "content": "x", "token_count": -1}),
    ("add_message", {"role": "user", "content": "x", "id": "m"}),
    ("update_message", {"role": None}),
    ("update_message", {"content": None}),
    ("update_message", {"token_count": -2}),
    ("update_message", {"id": "x"}),
    ("update_message", {"createdAt": START}),
    ("update_message", {"content": "\udfff"}),
    ("update_message", {"content": "x" * 410_000}),
    ("get_messages", {"limit": -1}),
    ("get_messages", {"order": "sideways"}),
    ("get_messages", {"roles": ["bogus"]}),
    ("get_messages", []),
    ("list_sessions", {"limit": -1}),
    ("list_sessions", {"status": "bogus"}),
    ("list_sessions", {"bogus": 1}),
    ("list_sessions", {"user_id": ""}),
    ("stream_event", {"Records": ["not a record"]}),
    ("stream_event", {"Records": {}}),
    ("messages_page_size", 0),
    ("sessions_page_size", 0),
    ("sessions_page_size", 10_001),
    ("messages_cursor", "not a cursor"),
    ("sessions_cursor", ""),
    ("get_expired_sessions", datetime(2030, 1, 1)),  # naive
)
"""Calls that both adapters must refuse with ``ValidationError``: (what, bad argument)."""


def camel(data: dict[str, Any]) -> dict[str, Any]:
    return {to_camel(name): value for name, value in data.items()}


# --- comparing values --------------------------------------------------------------


def group_key(filters: dict[str, Any]) -> Callable[[Session], Any]:
    """The order DynamoDB guarantees: GSI1 by ``createdAt``, GSI2 by status, a scan none."""
    if filters.get("user_id") is not None:
        return lambda session: session.created_at
    if filters.get("active_agent_id") is not None:
        return lambda session: session.status.value
    return lambda _: None


def cuts_a_group(keys_in_order: Sequence[Any], start: int, stop: int) -> bool:
    """Whether the window ``[start, stop)`` splits a run of equal keys (its members then vary)."""
    return (
        0 < start < len(keys_in_order) and keys_in_order[start - 1] == keys_in_order[start]
    ) or (0 < stop < len(keys_in_order) and keys_in_order[stop - 1] == keys_in_order[stop])


class AdapterComparison(RuleBasedStateMachine):
    """Random operations on both adapters; results and counters must agree."""

    environment: ClassVar[Environment]

    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.clock = self.environment.clock
        self.clock.now = START
        self.dynamo: DynamoDBAdapter
        self.memory: MemoryAdapter
        self.to_dynamo_session: dict[str, str] = {}
        self.message_pairs: dict[str, str] = {}
        self.added: dict[SessionRef, list[tuple[str, str]]] = {}
        self.touched: set[SessionRef] = set()

    # --- helpers ------------------------------------------------------------------

    def tick(self) -> None:
        self.clock.advance(timedelta(milliseconds=1))

    def run(self, dynamo: Callable[[], T], memory: Callable[[], U]) -> tuple[T, U] | None:
        """Both calls' results, or ``None`` when both raised the same kind of error."""
        d, m = attempt(dynamo), attempt(memory)
        if d.error is None and m.error is None:
            return d.value, m.value  # type: ignore[return-value]
        assert d.error is not None, f"memory raised {m.error!r}, dynamo returned {d.value!r}"
        assert m.error is not None, f"dynamo raised {d.error!r}, memory returned {m.value!r}"
        assert type(d.error) is type(m.error), f"dynamo: {d.error!r}; memory: {m.error!r}"
        assert isinstance(d.error, SessionError), f"dynamo: {d.error!r}"
        assert isinstance(m.error, SessionError)
        assert d.error.code == m.error.code
        if isinstance(d.error, ConcurrencyError) and isinstance(m.error, ConcurrencyError):
            assert (d.error.expected_version, d.error.actual_version) == (
                m.error.expected_version,
                m.error.actual_version,
            )
        return None

    def session_view(self, session: Session | None, *, memory: bool) -> dict[str, Any] | None:
        if session is None:
            return None
        view = session.model_dump()
        if memory:
            view["id"] = self.to_dynamo_session.get(session.id, session.id)
        return view

    def assert_same_session(self, dynamo: Session | None, memory: Session | None) -> None:
        assert self.session_view(dynamo, memory=False) == self.session_view(memory, memory=True)

    def message_view(self, message: Message) -> dict[str, Any]:
        return message.model_dump(exclude={"id", "session_id", "created_at"})

    def assert_same_messages(self, dynamo: Sequence[Message], memory: Sequence[Message]) -> None:
        assert len(dynamo) == len(memory), (
            f"dynamo gave {len(dynamo)} messages, memory {len(memory)}"
        )
        for d, m in zip(dynamo, memory, strict=True):
            assert self.message_pairs.get(d.id) == m.id, "messages differ or are out of order"
            assert self.to_dynamo_session.get(m.session_id, m.session_id) == d.session_id
            assert self.message_view(d) == self.message_view(m)

    def assert_same_message(self, dynamo: Message, memory: Message) -> None:
        self.assert_same_messages([dynamo], [memory])

    def assert_same_listing(
        self,
        dynamo: Sequence[Session],
        memory: Sequence[Session],
        order: Callable[[Session], Any],
        window: tuple[Sequence[Session], int, int | None] | None = None,
    ) -> None:
        """Same sessions in the same guaranteed order (ties compared as sets).

        ``window`` is memory's full listing and the window's offset and limit:
        where the window splits a run of equal sort keys, which of them fall
        inside is DynamoDB's choice, so only the keys are compared there.
        """
        assert [order(s) for s in dynamo] == [order(s) for s in memory], "order differs"
        d_views = [self.session_view(s, memory=False) for s in dynamo]
        m_views = [self.session_view(s, memory=True) for s in memory]
        if window is not None:
            full, offset, limit = window
            stop = len(full) if limit is None else offset + limit
            if cuts_a_group([order(s) for s in full], offset, stop):
                full_views = [self.session_view(s, memory=True) for s in full]
                assert all(view in full_views for view in d_views)
                return
        assert sorted(d_views, key=repr) == sorted(m_views, key=repr)

    def filters_for(self, drawn: dict[str, Any]) -> dict[str, Any]:
        filters = dict(drawn)
        for name, bound in (
            ("created_after_ms_ago", "created_after"),
            ("created_before_ms_ago", "created_before"),
        ):
            if name in filters:
                filters[bound] = self.clock.now - timedelta(milliseconds=filters.pop(name))
        return filters

    def with_expiry(self, data: dict[str, Any]) -> dict[str, Any]:
        """``expires_in_ms`` (relative to now) as ``expires_at``."""
        data = dict(data)
        if "expires_in_ms" in data:
            offset = data.pop("expires_in_ms")
            data["expires_at"] = (
                None if offset is None else self.clock.now + timedelta(milliseconds=offset)
            )
        return data

    # --- set-up -------------------------------------------------------------------

    @initialize(
        target=sessions,
        ttl=st.sampled_from(TTLS),
        first=st.lists(
            st.tuples(new_sessions, st.lists(new_messages, max_size=4)), min_size=1, max_size=3
        ),
    )
    def set_up(
        self, ttl: timedelta | None, first: list[tuple[dict[str, Any], list[dict[str, Any]]]]
    ) -> Any:
        """Fresh adapters and a first few sessions with a few messages each."""
        self.dynamo = self.environment.fresh(ttl)
        self.memory = MemoryAdapter(session_ttl=ttl, clock=self.clock)
        made: list[SessionRef] = []
        for data, batch in first:
            ref = self._create(data, camel_case=False)
            if ref is not None:
                made.append(ref)
                self._add(ref, batch, camel_case=False)
        return multiple(*made)

    # --- sessions -----------------------------------------------------------------

    def _create(self, data: dict[str, Any], *, camel_case: bool) -> SessionRef | None:
        self.tick()
        given = self.with_expiry(data)
        if camel_case:
            given = camel(given)
        both = self.run(
            partial(self.dynamo.create_session, given), partial(self.memory.create_session, given)
        )
        if both is None:
            return None
        dynamo, memory = both
        if "id" in given:
            assert dynamo.id == memory.id == given["id"]
        self.to_dynamo_session[memory.id] = dynamo.id
        self.assert_same_session(dynamo, memory)
        ref = SessionRef(dynamo.id, memory.id)
        self.touched.add(ref)
        return ref

    @rule(target=sessions, data=new_sessions, camel_case=st.booleans())
    def create_session(self, data: dict[str, Any], camel_case: bool) -> Any:
        ref = self._create(data, camel_case=camel_case)
        return multiple() if ref is None else ref

    @rule(ref=sessions)
    def get_session(self, ref: SessionRef) -> None:
        self.tick()
        both = self.run(
            lambda: self.dynamo.get_session(ref.dynamo),
            lambda: self.memory.get_session(ref.memory),
        )
        assert both is not None
        self.assert_same_session(*both)

    @rule(
        ref=sessions,
        updates=session_updates,
        camel_case=st.booleans(),
        version=st.sampled_from([None, "current", None, "stale", "ahead", 0]),
    )
    def update_session(
        self, ref: SessionRef, updates: dict[str, Any], camel_case: bool, version: Any
    ) -> None:
        self.tick()
        given = self.with_expiry(updates)
        if camel_case:
            given = camel(given)
        expected: int | None = version if version is None or isinstance(version, int) else None
        if isinstance(version, str):
            current = self.memory.list_sessions({"include_expired": True})
            found = [s.version for s in current if s.id == ref.memory]
            known = found[0] if found else 1
            expected = {"current": known, "stale": known - 1, "ahead": known + 1}[version]
        self.touched.add(ref)
        both = self.run(
            lambda: self.dynamo.update_session(ref.dynamo, given, expected_version=expected),
            lambda: self.memory.update_session(ref.memory, given, expected_version=expected),
        )
        if both is not None:
            self.assert_same_session(*both)

    @rule(ref=sessions)
    def delete_session(self, ref: SessionRef) -> None:
        self.tick()
        self.touched.add(ref)
        self.run(
            lambda: self.dynamo.delete_session(ref.dynamo),
            lambda: self.memory.delete_session(ref.memory),
        )

    # --- messages -----------------------------------------------------------------

    @rule(
        ref=sessions,
        batch=st.lists(new_messages, min_size=1, max_size=3),
        camel_case=st.booleans(),
    )
    def add_messages(self, ref: SessionRef, batch: list[dict[str, Any]], camel_case: bool) -> None:
        """``add_message`` once per item of ``batch``."""
        self._add(ref, batch, camel_case=camel_case)

    def _add(self, ref: SessionRef, batch: list[dict[str, Any]], *, camel_case: bool) -> None:
        self.touched.add(ref)
        for data in batch:
            self.tick()
            given = camel(data) if camel_case else data
            both = self.run(
                partial(self.dynamo.add_message, ref.dynamo, given),
                partial(self.memory.add_message, ref.memory, given),
            )
            if both is None:
                continue
            dynamo, memory = both
            self.message_pairs[dynamo.id] = memory.id
            self.assert_same_message(dynamo, memory)
            self.added.setdefault(ref, []).append((dynamo.id, memory.id))

    def message_ids(self, ref: SessionRef, pick: int) -> tuple[str, str]:
        """A message added to the session (perhaps deleted since), or an unknown id."""
        added = self.added.get(ref, [])
        if added and pick < 7:
            return added[pick % len(added)]
        unknown = UNKNOWN_MESSAGE_IDS[pick % len(UNKNOWN_MESSAGE_IDS)]
        return unknown, unknown

    @rule(ref=sessions, query=message_queries)
    def get_messages(self, ref: SessionRef, query: dict[str, Any]) -> None:
        self.tick()
        both = self.run(
            lambda: self.dynamo.get_messages(ref.dynamo, query),
            lambda: self.memory.get_messages(ref.memory, query),
        )
        assert both is not None
        self.assert_same_messages(*both)

    @rule(
        ref=sessions,
        query=message_queries,
        page_size=st.integers(1, 3),
        misuse=st.sampled_from([None, "other query", "offset", "swapped"]),
    )
    def walk_message_pages(
        self, ref: SessionRef, query: dict[str, Any], page_size: int, misuse: str | None
    ) -> None:
        """Page through ``get_messages``; at the second page, maybe misuse the cursor."""
        self.tick()
        walked: tuple[list[Message], list[Message]] = ([], [])
        cursors: tuple[str | None, str | None] = (None, None)
        first = True
        while first or cursors[0] is not None:
            later = {k: v for k, v in query.items() if k != "offset"} if not first else query
            if not first and misuse is not None:
                misuse_query = dict(later)
                if misuse == "other query":
                    misuse_query["order"] = "desc" if query.get("order") != "desc" else "asc"
                elif misuse == "offset":
                    misuse_query["offset"] = 1
                d_cursor, m_cursor = cursors
                if misuse == "swapped":  # each adapter given the other's cursor
                    d_cursor, m_cursor = m_cursor, d_cursor
                refused = self.run(
                    partial(
                        self.dynamo.get_messages_page,
                        ref.dynamo,
                        misuse_query,
                        cursor=d_cursor,
                        page_size=page_size,
                    ),
                    partial(
                        self.memory.get_messages_page,
                        ref.memory,
                        misuse_query,
                        cursor=m_cursor,
                        page_size=page_size,
                    ),
                )
                assert refused is None, "a misused cursor was accepted"
                misuse = None
            pages = self.run(
                partial(
                    self.dynamo.get_messages_page,
                    ref.dynamo,
                    later,
                    cursor=cursors[0],
                    page_size=page_size,
                ),
                partial(
                    self.memory.get_messages_page,
                    ref.memory,
                    later,
                    cursor=cursors[1],
                    page_size=page_size,
                ),
            )
            if pages is None:
                return
            d_page, m_page = pages
            assert len(d_page.items) <= page_size
            assert (d_page.next_cursor is None) == (m_page.next_cursor is None), "cursors differ"
            self.assert_same_messages(d_page.items, m_page.items)
            walked[0].extend(d_page.items)
            walked[1].extend(m_page.items)
            cursors = (d_page.next_cursor, m_page.next_cursor)
            first = False
        # The walk hands out exactly what get_messages returns, in each adapter.
        assert [m.id for m in walked[0]] == [
            m.id for m in self.dynamo.get_messages(ref.dynamo, query)
        ]
        assert [m.id for m in walked[1]] == [
            m.id for m in self.memory.get_messages(ref.memory, query)
        ]

    @rule(
        ref=sessions,
        max_tokens=st.integers(0, 120),
        reserve_tokens=st.sampled_from([0, 0, 10]),
    )
    def get_context_window(self, ref: SessionRef, max_tokens: int, reserve_tokens: int) -> None:
        self.tick()
        both = self.run(
            partial(
                self.dynamo.get_context_window,
                ref.dynamo,
                max_tokens,
                reserve_tokens=reserve_tokens,
            ),
            partial(
                self.memory.get_context_window,
                ref.memory,
                max_tokens,
                reserve_tokens=reserve_tokens,
            ),
        )
        assert both is not None
        self.assert_same_messages(*both)

    @rule(
        ref=sessions,
        pick=st.integers(0, 9),
        other_session=st.none() | sessions,
        updates=message_updates,
        camel_case=st.booleans(),
    )
    def update_message(
        self,
        ref: SessionRef,
        pick: int,
        other_session: SessionRef | None,
        updates: dict[str, Any],
        camel_case: bool,
    ) -> None:
        """Update a message, asking its own session or (``other_session``) another one."""
        self.tick()
        dynamo_id, memory_id = self.message_ids(ref, pick)
        session = other_session or ref
        given = camel(updates) if camel_case else updates
        self.touched.add(session)
        both = self.run(
            partial(self.dynamo.update_message, session.dynamo, dynamo_id, given),
            partial(self.memory.update_message, session.memory, memory_id, given),
        )
        if both is not None:
            self.assert_same_message(*both)

    @rule(ref=sessions, pick=st.integers(0, 9), token_count=st.none() | st.integers(0, 50))
    def change_token_count(self, ref: SessionRef, pick: int, token_count: int | None) -> None:
        """``update_message`` of ``token_count`` alone: the session's total must follow."""
        self.tick()
        dynamo_id, memory_id = self.message_ids(ref, pick)
        self.touched.add(ref)
        change = {"tokenCount": token_count}
        both = self.run(
            partial(self.dynamo.update_message, ref.dynamo, dynamo_id, change),
            partial(self.memory.update_message, ref.memory, memory_id, change),
        )
        if both is not None:
            self.assert_same_message(*both)

    @rule(ref=sessions, pick=st.integers(0, 9), other_session=st.none() | sessions)
    def delete_message(self, ref: SessionRef, pick: int, other_session: SessionRef | None) -> None:
        self.tick()
        dynamo_id, memory_id = self.message_ids(ref, pick)
        session = other_session or ref
        self.touched.add(session)
        self.run(
            partial(self.dynamo.delete_message, session.dynamo, dynamo_id),
            partial(self.memory.delete_message, session.memory, memory_id),
        )

    @rule(ref=sessions)
    def pop_message(self, ref: SessionRef) -> None:
        self.tick()
        self.touched.add(ref)
        both = self.run(
            lambda: self.dynamo.pop_message(ref.dynamo),
            lambda: self.memory.pop_message(ref.memory),
        )
        if both is not None:
            dynamo, memory = both
            assert (dynamo is None) == (memory is None)
            if dynamo is not None and memory is not None:
                self.assert_same_message(dynamo, memory)

    @rule(ref=sessions)
    def delete_all_messages(self, ref: SessionRef) -> None:
        self.tick()
        self.touched.add(ref)
        self.run(
            lambda: self.dynamo.delete_all_messages(ref.dynamo),
            lambda: self.memory.delete_all_messages(ref.memory),
        )

    @rule(
        operation=st.sampled_from(
            [
                "get_session",
                "update_session",
                "add_message",
                "get_messages",
                "update_message",
                "delete_message",
                "pop_message",
                "delete_all_messages",
                "delete_session",
                "recount",
            ]
        )
    )
    def use_missing_session(self, operation: str) -> None:
        """An id that was never created: ``None``, ``[]``, no-ops or not-found errors alike."""
        self.tick()
        message_id = UNKNOWN_MESSAGE_IDS[0]

        def call(adapter: DynamoDBAdapter | MemoryAdapter) -> object:
            session_id = MISSING_SESSION.dynamo
            if operation == "update_session":
                return adapter.update_session(session_id, {"status": "paused"})
            if operation == "add_message":
                return adapter.add_message(session_id, {"role": "user", "content": "x"})
            if operation == "update_message":
                return adapter.update_message(session_id, message_id, {"content": "y"})
            if operation == "delete_message":
                return adapter.delete_message(session_id, message_id)
            method: Callable[[str], object] = getattr(adapter, operation)
            return method(session_id)

        both = self.run(partial(call, self.dynamo), partial(call, self.memory))
        if both is not None:
            assert both[0] == both[1]
            assert not both[0]

    @rule(ref=sessions, call=st.sampled_from(INVALID_CALLS))
    def refuse_invalid_input(self, ref: SessionRef, call: tuple[str, Any]) -> None:
        """Bad input is ``ValidationError`` in both adapters, before anything changes."""
        self.tick()
        self.touched.add(ref)
        what, bad = call
        message_id = UNKNOWN_MESSAGE_IDS[0]

        def attempt_on(adapter: DynamoDBAdapter | MemoryAdapter, session_id: str) -> object:
            if what == "create_session":
                return adapter.create_session(bad)
            if what == "update_session":
                return adapter.update_session(session_id, bad)
            if what == "expected_version":
                return adapter.update_session(session_id, {}, expected_version=bad)
            if what == "add_message":
                return adapter.add_message(session_id, bad)
            if what == "update_message":
                return adapter.update_message(session_id, message_id, bad)
            if what == "get_messages":
                return adapter.get_messages(session_id, bad)
            if what == "list_sessions":
                return adapter.list_sessions(bad)
            if what == "messages_page_size":
                return adapter.get_messages_page(session_id, page_size=bad)
            if what == "sessions_page_size":
                return adapter.list_sessions_page(page_size=bad)
            if what == "messages_cursor":
                return adapter.get_messages_page(session_id, cursor=bad)
            if what == "sessions_cursor":
                return adapter.list_sessions_page(cursor=bad)
            if what == "stream_event":
                return adapter.handle_stream_event(bad)
            assert what == "get_expired_sessions"
            return adapter.get_expired_sessions(bad)

        d, m = (
            attempt(partial(attempt_on, self.dynamo, ref.dynamo)),
            attempt(partial(attempt_on, self.memory, ref.memory)),
        )
        assert isinstance(d.error, ValidationError), f"dynamo: {d.error or d.value!r}"
        assert isinstance(m.error, ValidationError), f"memory: {m.error or m.value!r}"

    # --- listing sessions ---------------------------------------------------------

    @rule(drawn=session_filters)
    def list_sessions(self, drawn: dict[str, Any]) -> None:
        self.tick()
        filters = self.filters_for(drawn)
        both = self.run(
            lambda: self.dynamo.list_sessions(filters),
            lambda: self.memory.list_sessions(filters),
        )
        if both is None:
            return
        unwindowed = {k: v for k, v in filters.items() if k not in ("limit", "offset")}
        full = self.memory.list_sessions(unwindowed)
        offset = int(filters.get("offset", 0))
        assert both[1] == full[offset:][: filters.get("limit")]  # the model is self-consistent
        self.assert_same_listing(
            *both, group_key(filters), window=(full, offset, filters.get("limit"))
        )

    @rule(drawn=session_filters, page_size=st.integers(1, 3))
    def walk_session_pages(self, drawn: dict[str, Any], page_size: int) -> None:
        self.tick()
        filters = self.filters_for(drawn)
        walked: tuple[list[Session], list[Session]] = ([], [])
        cursors: tuple[str | None, str | None] = (None, None)
        first = True
        while first or cursors[0] is not None:
            later = filters if first else {k: v for k, v in filters.items() if k != "offset"}
            pages: tuple[Page[Session], Page[Session]] | None = self.run(
                partial(
                    self.dynamo.list_sessions_page, later, cursor=cursors[0], page_size=page_size
                ),
                partial(
                    self.memory.list_sessions_page, later, cursor=cursors[1], page_size=page_size
                ),
            )
            assert pages is not None
            d_page, m_page = pages
            assert len(d_page.items) == len(m_page.items) <= page_size
            assert (d_page.next_cursor is None) == (m_page.next_cursor is None), "cursors differ"
            walked[0].extend(d_page.items)
            walked[1].extend(m_page.items)
            cursors = (d_page.next_cursor, m_page.next_cursor)
            first = False
        unwindowed = {k: v for k, v in filters.items() if k not in ("limit", "offset")}
        full = self.memory.list_sessions(unwindowed)
        offset = int(filters.get("offset", 0))
        assert walked[1] == self.memory.list_sessions(filters)
        self.assert_same_listing(
            *walked, group_key(filters), window=(full, offset, filters.get("limit"))
        )

    # --- expiry and maintenance -----------------------------------------------------

    @rule(seconds=st.sampled_from([1, 2, 5, 31, 3600]))
    def advance_time(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    @rule()
    def get_expired_sessions(self) -> None:
        self.tick()
        both = self.run(
            lambda: self.dynamo.get_expired_sessions(self.clock.now),
            lambda: self.memory.get_expired_sessions(self.clock.now),
        )
        assert both is not None
        mapped = {self.to_dynamo_session.get(i, i) for i in both[1]}
        assert sorted(both[0]) == sorted(mapped)
        assert len(both[1]) == len(mapped)

    @rule()
    def sweep_expired(self) -> None:
        self.tick()
        both = self.run(self.dynamo.sweep_expired, self.memory.sweep_expired)
        assert both is not None
        assert both[0] == both[1]

    @rule(ref=sessions)
    def ttl_removes_session(self, ref: SessionRef) -> None:
        """The TTL service deletes an expired session item; the stream handler cleans up."""
        self.tick()
        if ref.memory not in self.memory.get_expired_sessions(self.clock.now):
            return  # TTL deletes expired items only
        self.touched.add(ref)

        def event(session_id: str) -> dict[str, Any]:
            keys_of = {
                "PK": {"S": keys.session_pk(session_id)},
                "SK": {"S": keys.META_SK},
            }
            return {
                "Records": [
                    {"eventName": "REMOVE", "dynamodb": {"Keys": keys_of}},  # an app's delete
                    {
                        "eventName": "REMOVE",
                        "userIdentity": {
                            "type": "Service",
                            "principalId": "dynamodb.amazonaws.com",
                        },
                        "dynamodb": {"Keys": keys_of},
                    },
                ]
            }

        self.dynamo.models.client.delete_item(
            TableName=self.dynamo.config.table_name,
            Key={"PK": {"S": keys.session_pk(ref.dynamo)}, "SK": {"S": keys.META_SK}},
        )
        both = self.run(
            lambda: self.dynamo.handle_stream_event(event(ref.dynamo)),
            lambda: self.memory.handle_stream_event(event(ref.memory)),
        )
        assert both is not None
        assert both[0] == both[1]

    @rule(ref=sessions)
    def recount(self, ref: SessionRef) -> None:
        self.tick()
        both = self.run(
            lambda: self.dynamo.recount(ref.dynamo), lambda: self.memory.recount(ref.memory)
        )
        if both is not None:
            self.assert_same_session(*both)

    @rule()
    def compare_everything(self) -> None:
        """Every stored session (expired ones too) and every message, in both adapters."""
        everything = {"include_expired": True}
        dynamo = self.dynamo.list_sessions(everything)
        memory = self.memory.list_sessions(everything)
        self.assert_same_listing(dynamo, memory, group_key({}))
        by_id = {self.to_dynamo_session.get(s.id, s.id): s.id for s in memory}
        for session in dynamo:
            self.assert_same_messages(
                self.dynamo.get_messages(session.id),
                self.memory.get_messages(by_id[session.id]),
            )

    # --- invariants ---------------------------------------------------------------

    @invariant()
    def counters_match_messages(self) -> None:
        """Each touched session's counters are the sums over its messages, in both adapters."""
        if not self.touched:
            return
        stored_memory = {s.id: s for s in self.memory.list_sessions({"include_expired": True})}
        for ref in self.touched:
            memory = stored_memory.get(ref.memory)
            dynamo = self._stored_dynamo_session(ref.dynamo)
            self.assert_same_session(dynamo, memory)
            for session, adapter in ((dynamo, self.dynamo), (memory, self.memory)):
                if session is None:
                    continue
                messages: Iterable[Message] = adapter.get_messages(session.id)
                listed = list(messages)
                assert session.message_count == len(listed), f"{adapter!r}: message_count"
                assert session.token_count == sum(m.token_count or 0 for m in listed), (
                    f"{adapter!r}: token_count"
                )
        self.touched.clear()

    def _stored_dynamo_session(self, session_id: str) -> Session | None:
        """The stored session item, expired or not (``get_session`` hides expired ones)."""
        model = self.dynamo.models.SessionMeta
        try:
            item = model.get(keys.session_pk(session_id), keys.META_SK, consistent_read=True)
        except model.DoesNotExist:
            return None
        return item.to_domain()


EXAMPLES = 100 if settings.get_current_profile_name() == "ci" else 200
"""Sequences per run. CI's profile replays a fixed set (derandomized), so there half of
them keep the suite's time in bounds; elsewhere each run searches 200 new ones."""


@pytest.mark.backends("moto")
def test_dynamodb_and_memory_adapters_agree(backend: Backend) -> None:
    environment = Environment(backend)

    class Machine(AdapterComparison):
        pass

    Machine.environment = environment
    try:
        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        environment.close()
