"""Domain value -> DynamoDB item -> domain value is the identity (property tests).

The models are the unbound ones from ``session_store.models``: ``serialize``
and ``from_raw_data`` make no requests. Besides the identity, every item
drawn is checked against the contract's attribute names and type tags
(SPEC §1), and must be plain DynamoDB JSON.

Nulls that carry meaning survive: a tool result of ``null`` and an unknown
metadata key holding ``null`` are written and read back as they are.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings

from session_store import domain, models
from session_store.attributes import dumps_compact
from session_store.testing import strategies as sst

FAST = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# SPEC §1: the attribute names each item may carry, and their type tags.
SESSION_ATTRIBUTES: dict[str, set[str]] = {
    "PK": {"S"},
    "SK": {"S"},
    "GSI1PK": {"S"},
    "GSI1SK": {"S"},
    "GSI2PK": {"S"},
    "GSI2SK": {"S"},
    "id": {"S"},
    "userId": {"S"},
    "activeAgentId": {"S"},
    "status": {"S"},
    "schemaVersion": {"N"},
    "createdAt": {"S"},
    "lastActivityAt": {"S"},
    "expiresAt": {"N"},
    "ttl": {"N"},
    "participants": {"S"},
    "metadata": {"S"},
    "tokenBudget": {"M"},
    "compression": {"M"},
    "compressionState": {"M"},
    "tokenCount": {"N"},
    "messageCount": {"N"},
    "version": {"N"},
}
MESSAGE_ATTRIBUTES: dict[str, set[str]] = {
    "PK": {"S"},
    "SK": {"S"},
    "id": {"S"},
    "sessionId": {"S"},
    "role": {"S"},
    "content": {"S", "L"},
    "tokenCount": {"N"},
    "sequence": {"N"},
    "metadata": {"S"},
    "createdAt": {"S"},
    "updatedAt": {"S"},
}
JSON_TEXT = ("participants", "metadata")
_TYPE_TAGS = {"S", "N", "M", "L", "BOOL", "NULL"}


def _check_typed(value: dict[str, Any]) -> None:
    """One DynamoDB-JSON value: exactly one known type tag, nested values likewise."""
    assert len(value) == 1, value
    ((tag, raw),) = value.items()
    assert tag in _TYPE_TAGS, value
    if tag == "M":
        for nested in raw.values():
            _check_typed(nested)
    elif tag == "L":
        for nested in raw:
            _check_typed(nested)
    elif tag in ("N", "S"):
        assert isinstance(raw, str)


def _check_item(item: dict[str, dict[str, Any]], contract: dict[str, set[str]]) -> None:
    assert set(item) <= set(contract), set(item) - set(contract)
    for name, value in item.items():
        _check_typed(value)
        assert set(value) <= contract[name], (name, value)
    for name in JSON_TEXT:
        if name in item:
            text = item[name]["S"]
            assert dumps_compact(json.loads(text)) == text, "JSON text must be compact"
    json.dumps(item)  # plain DynamoDB JSON: no Decimals, sets or datetimes


def _truncated_expiry(session: domain.Session) -> domain.Session:
    if session.expires_at is None:
        return session
    return session.model_copy(update={"expires_at": session.expires_at.replace(microsecond=0)})


# --- sessions -----------------------------------------------------------------------


@FAST
@given(sst.sessions(whole_second_expiry=True))
def test_session_round_trips_through_its_item(session: domain.Session) -> None:
    item = models.SessionMeta.from_domain(session).serialize()
    _check_item(item, SESSION_ATTRIBUTES)
    assert models.SessionMeta.from_raw_data(item).to_domain() == session


@FAST
@given(sst.sessions())
def test_session_item_keys_and_expiry_follow_the_contract(session: domain.Session) -> None:
    item = models.SessionMeta.from_domain(session).serialize()
    assert item["PK"] == {"S": f"SESSION#{session.id}"}
    assert item["SK"] == {"S": "META"}
    assert ("GSI1PK" in item) == (session.user_id is not None)
    assert ("GSI2PK" in item) == (session.active_agent_id is not None)
    assert item["GSI1SK"]["S"].startswith("CREATED_AT#")
    assert item["GSI2SK"] == {"S": f"STATUS#{session.status.value}"}
    if session.expires_at is None:
        assert "expiresAt" not in item
        assert "ttl" not in item
    else:
        # Whole epoch seconds, truncated; ``ttl`` is the same instant.
        seconds = str(int(session.expires_at.replace(microsecond=0).timestamp()))
        assert item["expiresAt"] == item["ttl"] == {"N": seconds}
    # A millisecond expiry reads back truncated to the second, everything else unchanged.
    assert models.SessionMeta.from_raw_data(item).to_domain() == _truncated_expiry(session)


@FAST
@given(sst.sessions())
def test_session_json_round_trip(session: domain.Session) -> None:
    dumped = session.model_dump(by_alias=True, mode="json")
    assert domain.Session.model_validate(dumped) == session
    assert domain.Session.model_validate(json.loads(json.dumps(dumped))) == session


# --- messages -----------------------------------------------------------------------


@FAST
@given(sst.messages())
def test_message_round_trips_through_its_item(message: domain.Message) -> None:
    item = models.Message.from_domain(message).serialize()
    _check_item(item, MESSAGE_ATTRIBUTES)
    assert item["PK"] == {"S": f"SESSION#{message.session_id}"}
    assert item["SK"]["S"].startswith("MSG#")
    assert item["SK"]["S"].endswith(f"#{message.id}")
    assert set(item["content"]) == ({"S"} if isinstance(message.content, str) else {"L"})
    assert models.Message.from_raw_data(item).to_domain() == message


@FAST
@given(sst.messages())
def test_message_json_round_trip(message: domain.Message) -> None:
    dumped = message.model_dump(by_alias=True, mode="json")
    assert domain.Message.model_validate(dumped) == message
    assert domain.Message.model_validate(json.loads(json.dumps(dumped))) == message


@FAST
@given(sst.new_sessions(), sst.new_messages())
def test_input_strategies_give_valid_inputs(
    new_session: domain.NewSession, new_message: domain.NewMessage
) -> None:
    assert domain.NewSession.model_validate(new_session.model_dump()) == new_session
    assert domain.NewMessage.model_validate(new_message.model_dump(by_alias=True)) == new_message


# --- examples: nulls that carry meaning ---------------------------------------------

_WHEN = datetime(2026, 11, 24, 13, 8, 53, 123_000, tzinfo=UTC)


def _message(**changes: Any) -> domain.Message:
    base: dict[str, Any] = {
        "id": "01JDRS6X3PZ4Q6W1V8K2C5M7N9",
        "session_id": "s1",
        "role": "tool",
        "content": "null",
        "created_at": _WHEN,
    }
    return domain.Message.model_validate({**base, **changes})


def _message_round_trip(message: domain.Message) -> domain.Message:
    return models.Message.from_raw_data(models.Message.from_domain(message).serialize()).to_domain()


def test_tool_result_of_null_round_trips() -> None:
    message = _message(metadata={"toolResults": [{"toolCallId": "call_1", "result": None}]})
    assert _message_round_trip(message) == message


def test_unknown_metadata_key_holding_null_round_trips() -> None:
    session = domain.Session(
        id="s1",
        status=domain.SessionStatus.ACTIVE,
        metadata=domain.SessionMetadata.model_validate({"title": "t", "archivedBy": None}),
        created_at=_WHEN,
        last_activity_at=_WHEN,
    )
    item = models.SessionMeta.from_domain(session).serialize()
    assert models.SessionMeta.from_raw_data(item).to_domain() == session


def test_instant_before_year_1000_round_trips() -> None:
    # Four-digit years, as toISOString() writes them (format_iso once wrote "999-...").
    message = _message(content="old", created_at=datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert _message_round_trip(message) == message
