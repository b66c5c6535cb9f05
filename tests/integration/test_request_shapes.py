"""The requests the adapter sends: consistency and shape (SPEC §3).

Reads of one session's items (``get_session``, ``get_messages``, the read
inside any write) are strongly consistent; GSI queries are not (DynamoDB
rejects ``ConsistentRead`` on a global secondary index). ``list_sessions``
reads GSI1 for ``user_id`` (``created_after``/``created_before`` as key
conditions), GSI2 for ``active_agent_id`` (``status`` as a key condition),
else scans; the remaining filters are server-side. ``get_messages`` puts
``after``/``before`` in the key condition and ``roles`` in the filter.

Every request is captured with its parameters from botocore's
``before-parameter-build`` event (once per API call, above the retries, like
``count_requests``'s ``before-call``). Expressions use placeholders, so the
assertions resolve them and check which clause names which attribute, not
exact strings: a refactor that keeps the semantics still passes.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import pytest

from session_store import DynamoDBAdapter, Message, Session
from tests.raw_items import put_uuid_message

EVENT = "before-parameter-build.dynamodb"
KEY = "KeyConditionExpression"
FILTER = "FilterExpression"
READS = ("GetItem", "Query", "BatchGetItem", "TransactGetItems")


@dataclass(frozen=True)
class Sent:
    operation: str
    params: dict[str, Any]


@dataclass
class Requests:
    """Every API call made while capturing: operation and parameters, in order."""

    sent: list[Sent] = field(default_factory=list)

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.sent.append(Sent(model.name, copy.deepcopy(params)))

    @property
    def operations(self) -> list[str]:
        return [request.operation for request in self.sent]

    def of(self, *operations: str) -> list[dict[str, Any]]:
        return [request.params for request in self.sent if request.operation in operations]


@contextmanager
def captured(adapter: DynamoDBAdapter) -> Iterator[Requests]:
    log = Requests()
    events = adapter.models.client.meta.events
    unique = f"request-shapes-{id(log)}"
    events.register(EVENT, log.record, unique_id=unique)
    try:
        yield log
    finally:
        events.unregister(EVENT, unique_id=unique)


# --- expressions, placeholders resolved -------------------------------------------------------

_TOKEN = re.compile(r"[#:][A-Za-z0-9_]+|[A-Za-z_][A-Za-z0-9_]*")
_WORDS = {
    "and",
    "or",
    "not",
    "between",
    "in",
    "begins_with",
    "contains",
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "size",
}


def names_in(request: dict[str, Any], clause: str) -> set[str]:
    """The attribute names ``request[clause]`` refers to (placeholders resolved)."""
    expression = request.get(clause)
    if not expression:
        return set()
    names = request.get("ExpressionAttributeNames", {})
    found: set[str] = set()
    for token in _TOKEN.findall(expression):
        if token.startswith("#"):
            found.add(names[token])
        elif not token.startswith(":") and token.lower() not in _WORDS:
            found.add(token)
    return found


def values_in(request: dict[str, Any], clause: str) -> list[str]:
    """The values ``request[clause]`` compares with, as text (placeholders resolved)."""
    expression = request.get(clause)
    if not expression:
        return []
    values = request.get("ExpressionAttributeValues", {})
    found = []
    for token in _TOKEN.findall(expression):
        if token.startswith(":"):
            (value,) = values[token].values()
            found.append(value.value if isinstance(value, Enum) else str(value))
    return found


def mentions(request: dict[str, Any], clause: str, text: str) -> bool:
    """Whether one of the values in ``request[clause]`` contains ``text``."""
    return any(text in value for value in values_in(request, clause))


def iso(instant: datetime) -> str:
    """The stored form of an instant (SPEC §1), written here independently."""
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def only(requests: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(requests) == 1, requests
    return requests[0]


# --- fixtures ---------------------------------------------------------------------------------


@dataclass
class Seeded:
    session: Session
    messages: list[Message]
    bare_id: str = ""
    """A message id without a timestamp (put only where a test asks for it)."""


def add_spaced(adapter: DynamoDBAdapter, session_id: str, data: dict[str, Any]) -> Message:
    """Add a message in a millisecond of its own (distinct ``created_at``)."""
    message = adapter.add_message(session_id, data)
    time.sleep(0.003)
    return message


@pytest.fixture
def seeded(adapter: DynamoDBAdapter) -> Seeded:
    session = adapter.create_session({"status": "active", "user_id": "u1", "active_agent_id": "a1"})
    messages = [
        add_spaced(adapter, session.id, {"role": "system", "content": "rules", "token_count": 2}),
        add_spaced(adapter, session.id, {"role": "user", "content": "hi", "token_count": 3}),
        add_spaced(adapter, session.id, {"role": "assistant", "content": "yo", "token_count": 4}),
        add_spaced(adapter, session.id, {"role": "user", "content": "bye", "token_count": 5}),
    ]
    return Seeded(session, messages)


# --- strong consistency of one session's reads ------------------------------------------------

Call = Callable[[DynamoDBAdapter, Seeded], object]


def _update_tokens(adapter: DynamoDBAdapter, s: Seeded) -> object:
    return adapter.update_message(s.session.id, s.messages[1].id, {"token_count": 30})


def _update_uuid(adapter: DynamoDBAdapter, s: Seeded) -> object:
    return adapter.update_message(s.session.id, s.bare_id, {"content": "x"})


def _delete_uuid(adapter: DynamoDBAdapter, s: Seeded) -> object:
    adapter.delete_message(s.session.id, s.bare_id)
    return None


SESSION_READS: dict[str, tuple[Call, set[str]]] = {
    "get_session": (lambda a, s: a.get_session(s.session.id), {"GetItem"}),
    "get_messages": (lambda a, s: a.get_messages(s.session.id), {"Query"}),
    "get_messages-filtered": (
        lambda a, s: a.get_messages(
            s.session.id,
            {
                "order": "desc",
                "roles": ["user"],
                "after": s.messages[0].created_at,
                "limit": 1,
                "offset": 1,
            },
        ),
        {"Query"},
    ),
    "get_messages_page": (
        lambda a, s: a.get_messages_page(s.session.id, {"roles": ["user"]}, page_size=1),
        {"Query"},
    ),
    "get_messages_page-cursor": (
        lambda a, s: a.get_messages_page(
            s.session.id,
            None,
            cursor=a.get_messages_page(s.session.id, None, page_size=2).next_cursor,
            page_size=2,
        ),
        {"Query"},
    ),
    "iter_messages": (lambda a, s: list(a.iter_messages(s.session.id)), {"Query"}),
    "delete_message": (
        lambda a, s: a.delete_message(s.session.id, s.messages[1].id),
        {"GetItem"},
    ),
    "delete_message-uuid-id": (_delete_uuid, {"Query", "GetItem"}),
    "update_message-token_count": (_update_tokens, {"GetItem"}),
    "update_message-uuid-id": (_update_uuid, {"Query"}),
    "pop_message": (lambda a, s: a.pop_message(s.session.id), {"Query"}),
    "get_context_window": (
        lambda a, s: a.get_context_window(s.session.id, 8, reserve_tokens=1),
        {"Query"},
    ),
    "recount": (lambda a, s: a.recount(s.session.id), {"GetItem", "Query"}),
    "delete_all_messages": (lambda a, s: a.delete_all_messages(s.session.id), {"Query"}),
    "delete_session": (lambda a, s: a.delete_session(s.session.id), {"Query"}),
}


@pytest.mark.parametrize(
    ("call", "expected_reads"), SESSION_READS.values(), ids=list(SESSION_READS)
)
def test_reads_of_one_session_are_strongly_consistent(
    adapter: DynamoDBAdapter, seeded: Seeded, call: Call, expected_reads: set[str]
) -> None:
    # Put behind the adapter's back, so uncounted: delete_all_messages then also takes
    # its recount path (counters below the truth), whose reads must be consistent too.
    seeded.bare_id = put_uuid_message(adapter, seeded.session.id, tokenCount={"N": "1"})
    with captured(adapter) as log:
        call(adapter, seeded)
    reads = [request for request in log.sent if request.operation in READS]
    assert expected_reads <= {request.operation for request in reads}, log.operations
    for request in reads:
        assert "IndexName" not in request.params, request
        assert request.params.get("ConsistentRead") is True, request


def test_get_session_is_one_consistent_get_item(adapter: DynamoDBAdapter, seeded: Seeded) -> None:
    with captured(adapter) as log:
        stored = adapter.get_session(seeded.session.id)
    assert stored is not None
    assert stored.message_count == len(seeded.messages)
    assert log.operations == ["GetItem"]
    assert only(log.of("GetItem"))["ConsistentRead"] is True


LISTINGS: dict[str, tuple[dict[str, Any], str]] = {
    "user": ({"user_id": "u1"}, "GSI1"),
    "user-status-tags": ({"user_id": "u1", "status": "active", "tags": ["t"]}, "GSI1"),
    "user-and-agent": ({"user_id": "u1", "active_agent_id": "a1"}, "GSI1"),
    "agent": ({"active_agent_id": "a1"}, "GSI2"),
    "agent-status": ({"active_agent_id": "a1", "status": "active"}, "GSI2"),
}


@pytest.mark.parametrize(("filters", "index"), LISTINGS.values(), ids=list(LISTINGS))
@pytest.mark.parametrize("how", ["list", "page"])
def test_index_queries_are_not_consistent_reads(
    adapter: DynamoDBAdapter, seeded: Seeded, filters: dict[str, Any], index: str, how: str
) -> None:
    with captured(adapter) as log:
        if how == "list":
            adapter.list_sessions(filters)
        else:
            adapter.list_sessions_page(filters, page_size=1)
    assert set(log.operations) == {"Query"}, log.operations
    for request in log.of("Query"):
        assert request.get("IndexName") == index
        assert request.get("ConsistentRead") is not True


# --- list_sessions: which index, which clause ------------------------------------------------


@pytest.mark.parametrize("bounds", ["after", "before", "both"])
def test_user_listing_bounds_are_key_conditions_on_gsi1(
    adapter: DynamoDBAdapter, seeded: Seeded, bounds: str
) -> None:
    created = seeded.session.created_at
    after, before = created - timedelta(seconds=5), created + timedelta(seconds=5)
    filters: dict[str, Any] = {"user_id": "u1"}
    if bounds in ("after", "both"):
        filters["created_after"] = after
    if bounds in ("before", "both"):
        filters["created_before"] = before
    with captured(adapter) as log:
        found = adapter.list_sessions(filters)
    assert [session.id for session in found] == [seeded.session.id]
    assert set(log.operations) == {"Query"}, log.operations
    request = only(log.of("Query"))
    assert request["IndexName"] == "GSI1"
    assert names_in(request, KEY) == {"GSI1PK", "GSI1SK"}
    assert "USER#u1" in values_in(request, KEY)
    for bound, given in (("after", after), ("before", before)):
        if bounds in (bound, "both"):
            assert mentions(request, KEY, f"CREATED_AT#{iso(given)}"), request
    # The range is served by the index's sort key, not by filtering what was read.
    assert "GSI1SK" not in names_in(request, FILTER)
    if bounds != "both":
        assert "createdAt" not in names_in(request, FILTER), request
        assert not any(
            iso(given) in value for value in values_in(request, FILTER) for given in (after, before)
        )


def test_user_listing_narrows_other_filters_server_side(
    adapter: DynamoDBAdapter, seeded: Seeded
) -> None:
    with captured(adapter) as log:
        adapter.list_sessions(
            {"user_id": "u1", "active_agent_id": "a1", "status": "active", "tags": ["t1", "t2"]}
        )
    request = only(log.of("Query"))
    assert request["IndexName"] == "GSI1"
    assert names_in(request, KEY) == {"GSI1PK"}
    assert {"activeAgentId", "status", "metadata"} <= names_in(request, FILTER)
    assert "a1" in values_in(request, FILTER)
    assert "active" in values_in(request, FILTER)
    assert mentions(request, FILTER, "t1")
    assert mentions(request, FILTER, "t2")


@pytest.mark.parametrize("status", ["active", "paused"])
def test_agent_listing_reads_gsi2_with_status_as_key_condition(
    adapter: DynamoDBAdapter, seeded: Seeded, status: str
) -> None:
    with captured(adapter) as log:
        found = adapter.list_sessions({"active_agent_id": "a1", "status": status})
    assert [session.id for session in found] == ([seeded.session.id] if status == "active" else [])
    assert set(log.operations) == {"Query"}, log.operations
    request = only(log.of("Query"))
    assert request["IndexName"] == "GSI2"
    assert names_in(request, KEY) == {"GSI2PK", "GSI2SK"}
    assert {"AGENT#a1", f"STATUS#{status}"} <= set(values_in(request, KEY))
    assert not names_in(request, FILTER) & {"status", "GSI2SK"}


def test_agent_listing_without_status_has_only_the_partition_key(
    adapter: DynamoDBAdapter, seeded: Seeded
) -> None:
    with captured(adapter) as log:
        adapter.list_sessions(
            {"active_agent_id": "a1", "created_after": datetime(2020, 1, 1, tzinfo=UTC)}
        )
    request = only(log.of("Query"))
    assert request["IndexName"] == "GSI2"
    assert names_in(request, KEY) == {"GSI2PK"}
    assert "createdAt" in names_in(request, FILTER)  # no range key for it on GSI2: server-side


@pytest.mark.parametrize(
    ("filters", "filtered_on"),
    [
        ({}, set()),
        ({"status": "active"}, {"status"}),
        ({"tags": ["t1"]}, {"metadata"}),
        ({"created_after": datetime(2020, 1, 1, tzinfo=UTC)}, {"createdAt"}),
        ({"status": "paused", "tags": ["t1", "t2"]}, {"status", "metadata"}),
    ],
    ids=["none", "status", "tags", "created_after", "status-tags"],
)
def test_listing_without_owner_scans_with_server_side_filters(
    adapter: DynamoDBAdapter, seeded: Seeded, filters: dict[str, Any], filtered_on: set[str]
) -> None:
    with captured(adapter) as log:
        adapter.list_sessions(filters)
    assert set(log.operations) == {"Scan"}, log.operations
    request = only(log.of("Scan"))
    assert "IndexName" not in request
    assert filtered_on <= names_in(request, FILTER)
    if "status" in filters:
        assert filters["status"] in values_in(request, FILTER)
    for tag in filters.get("tags", []):
        assert mentions(request, FILTER, tag)


@pytest.mark.parametrize("owner", [{}, {"user_id": "u1"}, {"active_agent_id": "a1"}])
def test_tags_are_filtered_server_side_and_exactly(
    adapter: DynamoDBAdapter, owner: dict[str, Any]
) -> None:
    base = {"status": "active", "user_id": "u1", "active_agent_id": "a1"}
    tagged = adapter.create_session({**base, "metadata": {"tags": ["billing"]}})
    adapter.create_session({**base, "metadata": {"tags": ["billing-extra"]}})
    adapter.create_session({**base, "metadata": {"tags": ["other"]}})
    with captured(adapter) as log:
        found = adapter.list_sessions({**owner, "tags": ["billing"]})
    assert [session.id for session in found] == [tagged.id]
    (request,) = log.of("Query", "Scan")
    assert "metadata" in names_in(request, FILTER)
    assert mentions(request, FILTER, "billing")
    assert "metadata" not in names_in(request, KEY)


# --- get_messages: key conditions and filters -------------------------------------------------


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_message_bounds_are_key_conditions(
    adapter: DynamoDBAdapter, seeded: Seeded, order: str
) -> None:
    first, second, third, _ = seeded.messages
    with captured(adapter) as log:
        found = adapter.get_messages(
            seeded.session.id,
            {"after": first.created_at, "before": third.created_at, "order": order},
        )
    assert [message.id for message in found] == [second.id]
    request = only(log.of("Query"))
    assert "IndexName" not in request
    assert {"PK", "SK"} <= names_in(request, KEY)
    assert mentions(request, KEY, iso(first.created_at))
    assert mentions(request, KEY, iso(third.created_at))
    assert not names_in(request, FILTER) & {"SK", "createdAt", "id"}
    assert not any(
        iso(m.created_at) in value for value in values_in(request, FILTER) for m in (first, third)
    )


@pytest.mark.parametrize("bound", ["after", "before"])
def test_one_message_bound_is_a_key_condition(
    adapter: DynamoDBAdapter, seeded: Seeded, bound: str
) -> None:
    pivot = seeded.messages[1]
    with captured(adapter) as log:
        found = adapter.get_messages(seeded.session.id, {bound: pivot.created_at})
    expected = seeded.messages[2:] if bound == "after" else seeded.messages[:1]
    assert [message.id for message in found] == [message.id for message in expected]
    request = only(log.of("Query"))
    assert "SK" in names_in(request, KEY)
    assert mentions(request, KEY, iso(pivot.created_at))
    assert FILTER not in request or not names_in(request, FILTER) & {"SK", "createdAt"}


def test_roles_are_a_server_side_filter(adapter: DynamoDBAdapter, seeded: Seeded) -> None:
    with captured(adapter) as log:
        found = adapter.get_messages(
            seeded.session.id,
            {"roles": ["system", "assistant"], "after": seeded.messages[0].created_at},
        )
    assert [message.id for message in found] == [seeded.messages[2].id]
    request = only(log.of("Query"))
    assert "role" in names_in(request, FILTER)
    assert {"system", "assistant"} <= set(values_in(request, FILTER))
    assert "user" not in values_in(request, FILTER)
    assert "role" not in names_in(request, KEY)
    assert "SK" in names_in(request, KEY)


def test_messages_without_query_read_only_message_items(
    adapter: DynamoDBAdapter, seeded: Seeded
) -> None:
    """No filter at all: the key condition alone keeps the session's META item out."""
    with captured(adapter) as log:
        assert len(adapter.get_messages(seeded.session.id)) == 4
    request = only(log.of("Query"))
    assert {"PK", "SK"} <= names_in(request, KEY)
    assert not names_in(request, FILTER)
