"""Domain types (SPEC §2): aliases, dates, enums, content, inputs, limits, free-form maps."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from session_store.domain import (
    MAX_LIMIT,
    CompressionConfig,
    CompressionState,
    CompressionStrategy,
    HealthStatus,
    ImageUrlBlock,
    Message,
    MessageMetadata,
    MessageQuery,
    MessageRole,
    MessageUpdate,
    NewMessage,
    NewSession,
    OverflowStrategy,
    Page,
    Participant,
    ParticipantRole,
    Session,
    SessionFilters,
    SessionMetadata,
    SessionStatus,
    SessionUpdate,
    TextBlock,
    TokenBudgetConfig,
    ToolCall,
    ToolResult,
)

CREATED = datetime(2026, 11, 24, 13, 8, 53, 123000, tzinfo=UTC)
CREATED_ISO = "2026-11-24T13:08:53.123Z"
LATER = datetime(2026, 11, 24, 13, 13, 22, 316000, tzinfo=UTC)
LATER_ISO = "2026-11-24T13:13:22.316Z"
IST = timezone(timedelta(hours=5, minutes=30))

SESSION_MIN: dict[str, Any] = {
    "id": "s1",
    "status": "active",
    "createdAt": CREATED_ISO,
    "lastActivityAt": LATER_ISO,
}
MESSAGE_MIN: dict[str, Any] = {
    "id": "m1",
    "sessionId": "s1",
    "role": "user",
    "content": "hello",
    "createdAt": CREATED_ISO,
}

# A full session in the TypeScript JSON shape (every optional field set).
SESSION_WIRE: dict[str, Any] = {
    "id": "s1",
    "userId": "u1",
    "activeAgentId": "agent-1",
    "status": "paused",
    "metadata": {
        "title": "Trip planning",
        "tags": ["travel", "japan"],
        "source": "web",
        "custom": {"camelKey": 1, "snake_key": [1, 2.5, None, True, {"deep": "x"}]},
    },
    "participants": [
        {
            "id": "u1",
            "role": "user",
            "metadata": {"displayName": "Ann", "locale_hint": "en"},
            "joinedAt": CREATED_ISO,
            "leftAt": LATER_ISO,
        },
        {"id": "agent-1", "role": "agent", "joinedAt": CREATED_ISO},
    ],
    "schemaVersion": 2,
    "createdAt": CREATED_ISO,
    "lastActivityAt": LATER_ISO,
    "expiresAt": "2026-12-24T13:08:53.000Z",
    "tokenBudget": {"maxTokens": 8000, "reserveTokens": 500, "overflowStrategy": "compress"},
    "compression": {
        "strategy": "hybrid",
        "targetTokens": 4000,
        "minMessages": 4,
        "maxMessages": 200,
        "summarizationPrompt": "Summarize.",
        "summaryOverhead": 50,
    },
    "compressionState": {
        "strategy": "summarization",
        "summary": "They talked.",
        "summaryTokenCount": 3,
        "keptMessageIds": ["m1", "m2"],
        "signature": "abc",
        "compressedTokenCount": 120,
        "updatedAt": LATER_ISO,
    },
    "tokenCount": 1234,
    "messageCount": 10,
    "version": 7,
}

SESSION_SNAKE: dict[str, Any] = {
    "id": "s1",
    "user_id": "u1",
    "active_agent_id": "agent-1",
    "status": SessionStatus.PAUSED,
    "metadata": {
        "title": "Trip planning",
        "tags": ["travel", "japan"],
        "source": "web",
        "custom": {"camelKey": 1, "snake_key": [1, 2.5, None, True, {"deep": "x"}]},
    },
    "participants": [
        {
            "id": "u1",
            "role": ParticipantRole.USER,
            "metadata": {"displayName": "Ann", "locale_hint": "en"},
            "joined_at": CREATED,
            "left_at": LATER,
        },
        {"id": "agent-1", "role": "agent", "joined_at": CREATED},
    ],
    "schema_version": 2,
    "created_at": CREATED,
    "last_activity_at": LATER,
    "expires_at": datetime(2026, 12, 24, 13, 8, 53, tzinfo=UTC),
    "token_budget": {"max_tokens": 8000, "reserve_tokens": 500, "overflow_strategy": "compress"},
    "compression": {
        "strategy": CompressionStrategy.HYBRID,
        "target_tokens": 4000,
        "min_messages": 4,
        "max_messages": 200,
        "summarization_prompt": "Summarize.",
        "summary_overhead": 50,
    },
    "compression_state": {
        "strategy": "summarization",
        "summary": "They talked.",
        "summary_token_count": 3,
        "kept_message_ids": ["m1", "m2"],
        "signature": "abc",
        "compressed_token_count": 120,
        "updated_at": LATER,
    },
    "token_count": 1234,
    "message_count": 10,
    "version": 7,
}

MESSAGE_WIRE: dict[str, Any] = {
    "id": "01M86V11MCA50B783C2KESVEV3",
    "sessionId": "s1",
    "role": "assistant",
    "content": [
        {"type": "text", "text": "Here is the map"},
        {"type": "image_url", "image_url": {"url": "https://example.com/map.png"}},
    ],
    "tokenCount": 42,
    "sequence": 3,
    "metadata": {
        "toolCalls": [{"id": "call-1", "name": "lookup", "arguments": '{"q": "Kyoto"}'}],
        "toolResults": [{"toolCallId": "call-1", "result": {"hits": 3}, "isError": False}],
        "annotations": {"model": "x-1", "latency_ms": 12, "nested": {"aB": [1, 2]}},
    },
    "createdAt": CREATED_ISO,
    "updatedAt": LATER_ISO,
}

MESSAGE_SNAKE: dict[str, Any] = {
    "id": "01M86V11MCA50B783C2KESVEV3",
    "session_id": "s1",
    "role": MessageRole.ASSISTANT,
    "content": [
        TextBlock(text="Here is the map"),
        {"type": "image_url", "image_url": {"url": "https://example.com/map.png"}},
    ],
    "token_count": 42,
    "sequence": 3,
    "metadata": {
        "tool_calls": [{"id": "call-1", "name": "lookup", "arguments": '{"q": "Kyoto"}'}],
        "tool_results": [{"tool_call_id": "call-1", "result": {"hits": 3}, "is_error": False}],
        "annotations": {"model": "x-1", "latency_ms": 12, "nested": {"aB": [1, 2]}},
    },
    "created_at": CREATED,
    "updated_at": LATER,
}


def dump(model: BaseModel) -> Any:
    return model.model_dump(by_alias=True, mode="json")


def wire(model: BaseModel) -> Any:
    """The TypeScript JSON shape: camelCase, ISO dates, absent optionals left out."""
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def errors_of(raised: pytest.ExceptionInfo[PydanticValidationError]) -> str:
    return str(raised.value)


# --- camelCase and snake_case -------------------------------------------------


@pytest.mark.parametrize(
    ("model", "snake", "camel"),
    [
        pytest.param(Session, SESSION_SNAKE, SESSION_WIRE, id="Session"),
        pytest.param(Message, MESSAGE_SNAKE, MESSAGE_WIRE, id="Message"),
        pytest.param(
            NewSession,
            {"user_id": "u1", "active_agent_id": "a1", "status": "active", "schema_version": 3},
            {"userId": "u1", "activeAgentId": "a1", "status": "active", "schemaVersion": 3},
            id="NewSession",
        ),
        pytest.param(
            SessionUpdate,
            {"user_id": "u2", "expires_at": CREATED, "token_budget": None},
            {"userId": "u2", "expiresAt": CREATED_ISO, "tokenBudget": None},
            id="SessionUpdate",
        ),
        pytest.param(
            NewMessage,
            {"role": "tool", "content": "x", "token_count": 5},
            {"role": "tool", "content": "x", "tokenCount": 5},
            id="NewMessage",
        ),
        pytest.param(
            MessageUpdate,
            {"token_count": None, "sequence": 2},
            {"tokenCount": None, "sequence": 2},
            id="MessageUpdate",
        ),
        pytest.param(
            SessionFilters,
            {
                "user_id": "u1",
                "active_agent_id": "a1",
                "created_after": CREATED,
                "created_before": LATER,
                "include_expired": True,
                "limit": 5,
            },
            {
                "userId": "u1",
                "activeAgentId": "a1",
                "createdAfter": CREATED_ISO,
                "createdBefore": LATER_ISO,
                "includeExpired": True,
                "limit": 5,
            },
            id="SessionFilters",
        ),
        pytest.param(
            MessageQuery,
            {"after": CREATED, "before": LATER, "roles": ["user", "tool"], "order": "desc"},
            {"after": CREATED_ISO, "before": LATER_ISO, "roles": ["user", "tool"], "order": "desc"},
            id="MessageQuery",
        ),
        pytest.param(
            ToolResult,
            {"tool_call_id": "c1", "result": "ok", "is_error": True},
            {"toolCallId": "c1", "result": "ok", "isError": True},
            id="ToolResult",
        ),
        pytest.param(
            TokenBudgetConfig,
            {"max_tokens": 10, "reserve_tokens": 1, "overflow_strategy": "error"},
            {"maxTokens": 10, "reserveTokens": 1, "overflowStrategy": "error"},
            id="TokenBudgetConfig",
        ),
        pytest.param(
            HealthStatus,
            {"status": "degraded", "latency_ms": 3.5, "details": {"gsi": "CREATING"}},
            {"status": "degraded", "latencyMs": 3.5, "details": {"gsi": "CREATING"}},
            id="HealthStatus",
        ),
    ],
)
def test_snake_and_camel_give_the_same_model(
    model: type[BaseModel], snake: dict[str, Any], camel: dict[str, Any]
) -> None:
    from_snake = model.model_validate(snake)
    from_camel = model.model_validate(camel)
    assert from_snake == from_camel
    assert from_snake.model_fields_set == from_camel.model_fields_set


def test_mixed_snake_and_camel_keys() -> None:
    mixed = {**SESSION_MIN, "user_id": "u1", "activeAgentId": "a1", "message_count": 2}
    session = Session.model_validate(mixed)
    assert (session.user_id, session.active_agent_id, session.message_count) == ("u1", "a1", 2)


def test_keyword_construction_by_field_name() -> None:
    made = NewMessage(role=MessageRole.USER, content="hi", token_count=3)
    assert made.token_count == 3


# --- dumping: the TypeScript JSON shape ---------------------------------------


@pytest.mark.parametrize(
    ("model", "data", "expected"),
    [
        pytest.param(Session, SESSION_SNAKE, SESSION_WIRE, id="Session"),
        pytest.param(Message, MESSAGE_SNAKE, MESSAGE_WIRE, id="Message"),
        pytest.param(
            Session,
            SESSION_MIN,
            {
                **SESSION_MIN,
                "metadata": {},
                "participants": [],
                "schemaVersion": 1,
                "tokenCount": 0,
                "messageCount": 0,
                "version": 0,
            },
            id="Session-minimal",
        ),
        pytest.param(
            Page[Session],
            {"items": [SESSION_MIN], "next_cursor": "opaque"},
            {
                "items": [
                    {
                        **SESSION_MIN,
                        "metadata": {},
                        "participants": [],
                        "schemaVersion": 1,
                        "tokenCount": 0,
                        "messageCount": 0,
                        "version": 0,
                    }
                ],
                "nextCursor": "opaque",
            },
            id="Page",
        ),
    ],
)
def test_dump_by_alias_is_the_typescript_shape(
    model: type[BaseModel], data: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert wire(model.model_validate(data)) == expected


def test_dump_by_alias_keys_are_camel_case() -> None:
    dumped = dump(Session.model_validate(SESSION_SNAKE))
    assert set(dumped) == set(SESSION_WIRE)
    assert dumped["participants"][0]["joinedAt"] == CREATED_ISO
    assert dumped["compressionState"]["updatedAt"] == LATER_ISO
    assert dumped["tokenBudget"] == SESSION_WIRE["tokenBudget"]


def test_dump_without_alias_is_snake_case() -> None:
    dumped = Session.model_validate(SESSION_WIRE).model_dump(mode="json", exclude_none=True)
    assert "last_activity_at" in dumped
    assert "lastActivityAt" not in dumped
    assert dumped["token_budget"] == {
        "max_tokens": 8000,
        "reserve_tokens": 500,
        "overflow_strategy": "compress",
    }


def test_dump_round_trips() -> None:
    session = Session.model_validate(SESSION_WIRE)
    assert Session.model_validate(dump(session)) == session
    assert Session.model_validate_json(session.model_dump_json(by_alias=True)) == session
    message = Message.model_validate(MESSAGE_WIRE)
    assert Message.model_validate(dump(message)) == message


def test_python_dump_keeps_datetimes_and_enums() -> None:
    dumped = Session.model_validate(SESSION_WIRE).model_dump(by_alias=True)
    assert dumped["createdAt"] == CREATED
    assert dumped["status"] is SessionStatus.PAUSED


# --- datetimes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected_iso"),
    [
        (CREATED, CREATED_ISO),
        (datetime(2026, 11, 24, 13, 8, 53, 123999, tzinfo=UTC), CREATED_ISO),
        (datetime(2026, 11, 24, 18, 38, 53, 123456, tzinfo=IST), CREATED_ISO),
        ("2026-11-24T13:08:53.123Z", CREATED_ISO),
        ("2026-11-24T13:08:53.123999Z", CREATED_ISO),
        ("2026-11-24T13:08:53.123+00:00", CREATED_ISO),
        ("2026-11-24T05:08:53.123-08:00", CREATED_ISO),
        ("2026-11-24T13:08:53Z", "2026-11-24T13:08:53.000Z"),
    ],
)
def test_datetimes_are_utc_milliseconds(value: object, expected_iso: str) -> None:
    session = Session.model_validate({**SESSION_MIN, "createdAt": value})
    assert session.created_at.tzinfo == UTC
    assert session.created_at.utcoffset() == timedelta(0)
    assert session.created_at.microsecond % 1000 == 0
    assert dump(session)["createdAt"] == expected_iso


NAIVE = datetime(2026, 11, 24, 13, 8, 53, 123000)
PARTICIPANT = {"id": "p1", "role": "user", "joinedAt": CREATED_ISO}
COMPRESSION_STATE = {
    "strategy": "hybrid",
    "keptMessageIds": [],
    "signature": "s",
    "compressedTokenCount": 0,
    "updatedAt": CREATED_ISO,
}


@pytest.mark.parametrize("naive", [NAIVE, "2026-11-24T13:08:53.123"], ids=["datetime", "string"])
@pytest.mark.parametrize(
    ("model", "data", "path"),
    [
        (Session, {**SESSION_MIN, "createdAt": "N"}, ("createdAt",)),
        (Session, {**SESSION_MIN, "lastActivityAt": "N"}, ("lastActivityAt",)),
        (Session, {**SESSION_MIN, "expiresAt": "N"}, ("expiresAt",)),
        (Message, {**MESSAGE_MIN, "createdAt": "N"}, ("createdAt",)),
        (Message, {**MESSAGE_MIN, "updatedAt": "N"}, ("updatedAt",)),
        (NewSession, {"status": "active", "expiresAt": "N"}, ("expiresAt",)),
        (SessionUpdate, {"expiresAt": "N"}, ("expiresAt",)),
        (SessionFilters, {"createdAfter": "N"}, ("createdAfter",)),
        (SessionFilters, {"createdBefore": "N"}, ("createdBefore",)),
        (MessageQuery, {"after": "N"}, ("after",)),
        (MessageQuery, {"before": "N"}, ("before",)),
        (Participant, {**PARTICIPANT, "joinedAt": "N"}, ("joinedAt",)),
        (Participant, {**PARTICIPANT, "leftAt": "N"}, ("leftAt",)),
        (CompressionState, {**COMPRESSION_STATE, "updatedAt": "N"}, ("updatedAt",)),
        (
            NewSession,
            {"status": "active", "participants": [{**PARTICIPANT, "joinedAt": "N"}]},
            ("participants", 0, "joinedAt"),
        ),
    ],
)
def test_naive_datetimes_are_rejected(
    model: type[BaseModel], data: dict[str, Any], path: tuple[str | int, ...], naive: object
) -> None:
    def put(value: Any) -> Any:
        if value == "N":
            return naive
        if isinstance(value, dict):
            return {key: put(item) for key, item in value.items()}
        if isinstance(value, list):
            return [put(item) for item in value]
        return value

    with pytest.raises(PydanticValidationError) as raised:
        model.model_validate(put(data))
    [error] = raised.value.errors()
    assert error["loc"] == path
    assert "timezone-aware" in error["msg"]


# --- enums --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (Session, {**SESSION_MIN, "status": "archived"}, "status"),
        (Session, {**SESSION_MIN, "status": "Active"}, "status"),
        (Session, {**SESSION_MIN, "status": ""}, "status"),
        (NewSession, {"status": "deleted"}, "status"),
        (SessionUpdate, {"status": "ACTIVE"}, "status"),
        (SessionFilters, {"status": "open"}, "status"),
        (Message, {**MESSAGE_MIN, "role": "bot"}, "role"),
        (NewMessage, {"role": "function", "content": "x"}, "role"),
        (MessageUpdate, {"role": "User"}, "role"),
        (MessageQuery, {"roles": ["user", "developer"]}, "roles"),
        (MessageQuery, {"order": "DESC"}, "order"),
        (Participant, {**PARTICIPANT, "role": "assistant"}, "role"),
        (TokenBudgetConfig, {"maxTokens": 1, "reserveTokens": 0, "overflowStrategy": "drop"}, ""),
        (CompressionConfig, {"strategy": "zip", "targetTokens": 1}, "strategy"),
        (HealthStatus, {"status": "ok"}, "status"),
    ],
)
def test_unknown_enum_values_are_rejected(
    model: type[BaseModel], data: dict[str, Any], field: str
) -> None:
    with pytest.raises(PydanticValidationError) as raised:
        model.model_validate(data)
    assert field in errors_of(raised)


@pytest.mark.parametrize(
    ("enum", "values"),
    [
        (SessionStatus, ["active", "paused", "completed", "expired"]),
        (MessageRole, ["user", "assistant", "system", "tool"]),
        (ParticipantRole, ["user", "agent", "observer"]),
        (OverflowStrategy, ["truncate", "compress", "error"]),
        (CompressionStrategy, ["sliding_window", "summarization", "hybrid"]),
    ],
)
def test_enum_values_are_the_contract(enum: type[Any], values: list[str]) -> None:
    assert [member.value for member in enum] == values


# --- content ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected_type"),
    [
        ("plain text", str),
        ("", str),
        ([], list),
        ([{"type": "text", "text": "hi"}], list),
        ([{"type": "image_url", "image_url": {"url": "https://x/y.png"}}], list),
        (
            [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
            list,
        ),
    ],
)
def test_content_string_or_blocks(content: Any, expected_type: type[Any]) -> None:
    for model, base in ((NewMessage, {"role": "user"}), (Message, MESSAGE_MIN)):
        made = model.model_validate({**base, "content": content})
        assert isinstance(getattr(made, "content"), expected_type)  # noqa: B009
        assert dump(made)["content"] == content


def test_content_blocks_are_typed() -> None:
    made = NewMessage.model_validate(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            ],
        }
    )
    assert isinstance(made.content, list)
    text, image = made.content
    assert isinstance(text, TextBlock)
    assert text.text == "look"
    assert isinstance(image, ImageUrlBlock)
    assert image.image_url.url == "https://x/y.png"


def test_image_url_wire_key_stays_snake_case() -> None:
    block = ImageUrlBlock.model_validate({"type": "image_url", "image_url": {"url": "u"}})
    assert block.model_dump(by_alias=True) == {"type": "image_url", "image_url": {"url": "u"}}
    assert "imageUrl" not in str(dump(Message.model_validate(MESSAGE_WIRE)))


@pytest.mark.parametrize(
    "content",
    [
        [{"text": "no type"}],
        [{"type": "video", "url": "x"}],
        [{"type": "text"}],
        [{"type": "image_url"}],
        [{"type": "image_url", "image_url": {}}],
        [{"type": "image_url", "imageUrl": {"url": "camel is not the wire name"}}],
        ["bare string in a list"],
        {"type": "text", "text": "not in a list"},
        None,
        42,
    ],
)
def test_bad_content_is_rejected(content: Any) -> None:
    with pytest.raises(PydanticValidationError):
        NewMessage.model_validate({"role": "user", "content": content})


# --- NewSession ---------------------------------------------------------------


def test_new_session_defaults() -> None:
    made = NewSession.model_validate({"status": "active"})
    assert made.status is SessionStatus.ACTIVE
    assert made.metadata == SessionMetadata()
    assert wire(made.metadata) == {}
    assert made.participants == []
    assert made.schema_version == 1
    assert made.id is None
    assert made.user_id is None
    assert made.active_agent_id is None
    assert made.expires_at is None
    assert made.token_budget is None
    assert made.compression is None
    assert made.compression_state is None
    assert made.model_fields_set == {"status"}


def test_new_session_defaults_are_not_shared() -> None:
    first = NewSession(status=SessionStatus.ACTIVE)
    second = NewSession(status=SessionStatus.ACTIVE)
    first.participants.append(Participant(id="p", role=ParticipantRole.USER, joined_at=CREATED))
    assert second.participants == []
    assert first.metadata is not second.metadata


def test_new_session_requires_status() -> None:
    with pytest.raises(PydanticValidationError) as raised:
        NewSession.model_validate({})
    [error] = raised.value.errors()
    assert error["loc"] == ("status",)
    assert error["type"] == "missing"


def test_new_session_accepts_a_caller_id() -> None:
    assert NewSession.model_validate({"id": "mine", "status": "active"}).id == "mine"


def test_session_read_defaults_for_typescript_items() -> None:
    """Items written by the TypeScript adapter may lack version and counters."""
    session = Session.model_validate(SESSION_MIN)
    assert (session.version, session.message_count, session.token_count) == (0, 0, 0)
    assert session.metadata == SessionMetadata()
    assert session.participants == []
    assert session.schema_version == 1


def test_output_types_ignore_unknown_keys() -> None:
    session = Session.model_validate({**SESSION_MIN, "PK": "SESSION#s1", "GSI1PK": "USER#u1"})
    assert "PK" not in dump(session)
    message = Message.model_validate({**MESSAGE_MIN, "SK": "MSG#...", "futureField": 1})
    assert "futureField" not in dump(message)


# --- inputs forbid unknown keys -----------------------------------------------


@pytest.mark.parametrize(
    ("model", "data", "unknown"),
    [
        (NewSession, {"status": "active", "titel": "typo"}, "titel"),
        (NewSession, {"status": "active", "createdAt": CREATED_ISO}, "createdAt"),
        (NewSession, {"status": "active", "version": 1}, "version"),
        (NewSession, {"status": "active", "lastActivityAt": CREATED_ISO}, "lastActivityAt"),
        (SessionUpdate, {"lastActivityAt": CREATED_ISO}, "lastActivityAt"),
        (SessionUpdate, {"userID": "u1"}, "userID"),
        (NewMessage, {"role": "user", "content": "x", "createdAt": CREATED_ISO}, "createdAt"),
        (NewMessage, {"role": "user", "content": "x", "id": "m1"}, "id"),
        (MessageUpdate, {"contents": "x"}, "contents"),
        (SessionFilters, {"userid": "u1"}, "userid"),
        (SessionFilters, {"cursor": "x"}, "cursor"),
        (MessageQuery, {"sort": "desc"}, "sort"),
    ],
)
def test_inputs_forbid_unknown_keys(
    model: type[BaseModel], data: dict[str, Any], unknown: str
) -> None:
    with pytest.raises(PydanticValidationError) as raised:
        model.model_validate(data)
    [error] = raised.value.errors()
    assert error["type"] == "extra_forbidden"
    assert error["loc"] == (unknown,)


# --- store-owned fields in updates --------------------------------------------


@pytest.mark.parametrize(
    ("model", "data", "named"),
    [
        (SessionUpdate, {"id": "x"}, "id"),
        (SessionUpdate, {"created_at": CREATED}, "created_at"),
        (SessionUpdate, {"createdAt": CREATED_ISO}, "createdAt"),
        (SessionUpdate, {"version": 3}, "version"),
        (SessionUpdate, {"token_count": 3}, "token_count"),
        (SessionUpdate, {"tokenCount": 3}, "tokenCount"),
        (SessionUpdate, {"message_count": 3}, "message_count"),
        (SessionUpdate, {"messageCount": 3}, "messageCount"),
        (SessionUpdate, {"status": "paused", "version": None}, "version"),
        (SessionUpdate, {"status": "paused", "id": "x", "tokenCount": 1}, "id, tokenCount"),
        (MessageUpdate, {"id": "m"}, "id"),
        (MessageUpdate, {"session_id": "s"}, "session_id"),
        (MessageUpdate, {"sessionId": "s"}, "sessionId"),
        (MessageUpdate, {"createdAt": CREATED_ISO}, "createdAt"),
        (MessageUpdate, {"created_at": CREATED}, "created_at"),
        (MessageUpdate, {"updatedAt": CREATED_ISO}, "updatedAt"),
        (MessageUpdate, {"updated_at": CREATED}, "updated_at"),
    ],
)
def test_updates_refuse_store_owned_fields(
    model: type[BaseModel], data: dict[str, Any], named: str
) -> None:
    with pytest.raises(PydanticValidationError) as raised:
        model.model_validate(data)
    assert f"{named} cannot be set by an update" in errors_of(raised)
    assert "store owns" in errors_of(raised)


def test_session_update_refuses_store_owned_keywords() -> None:
    with pytest.raises(PydanticValidationError, match="version cannot be set by an update"):
        SessionUpdate(version=2)  # type: ignore[call-arg]


# --- unset vs None ------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "data", "fields_set"),
    [
        (SessionUpdate, {}, set()),
        (SessionUpdate, {"userId": None}, {"user_id"}),
        (SessionUpdate, {"user_id": None, "activeAgentId": None}, {"user_id", "active_agent_id"}),
        (SessionUpdate, {"expiresAt": None}, {"expires_at"}),
        (SessionUpdate, {"tokenBudget": None}, {"token_budget"}),
        (SessionUpdate, {"compression": None}, {"compression"}),
        (SessionUpdate, {"compressionState": None}, {"compression_state"}),
        (SessionUpdate, {"status": "completed"}, {"status"}),
        (SessionUpdate, {"metadata": {}}, {"metadata"}),
        (SessionUpdate, {"participants": []}, {"participants"}),
        (SessionUpdate, {"schemaVersion": 2}, {"schema_version"}),
        (MessageUpdate, {}, set()),
        (MessageUpdate, {"tokenCount": None}, {"token_count"}),
        (MessageUpdate, {"sequence": None}, {"sequence"}),
        (MessageUpdate, {"metadata": None}, {"metadata"}),
        (MessageUpdate, {"content": "edited"}, {"content"}),
        (MessageUpdate, {"role": "system"}, {"role"}),
    ],
)
def test_updates_know_which_fields_were_given(
    model: type[BaseModel], data: dict[str, Any], fields_set: set[str]
) -> None:
    made = model.model_validate(data)
    assert made.model_fields_set == fields_set
    given = made.model_dump(exclude_unset=True)
    assert set(given) == fields_set


def test_session_update_none_removes_but_unset_keeps() -> None:
    removing = SessionUpdate.model_validate({"userId": None})
    untouched = SessionUpdate.model_validate({})
    assert removing.user_id is None
    assert untouched.user_id is None
    assert removing.model_dump(by_alias=True, exclude_unset=True) == {"userId": None}
    assert untouched.model_dump(by_alias=True, exclude_unset=True) == {}


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (SessionUpdate, {"status": None}, "status"),
        (SessionUpdate, {"metadata": None}, "metadata"),
        (SessionUpdate, {"participants": None}, "participants"),
        (SessionUpdate, {"schemaVersion": None}, "schema_version"),
        (SessionUpdate, {"schema_version": None}, "schema_version"),
        (MessageUpdate, {"role": None}, "role"),
        (MessageUpdate, {"content": None}, "content"),
    ],
)
def test_updates_refuse_removing_required_fields(
    model: type[BaseModel], data: dict[str, Any], field: str
) -> None:
    with pytest.raises(PydanticValidationError) as raised:
        model.model_validate(data)
    assert f"{field} cannot be removed" in errors_of(raised)


# --- limits and offsets -------------------------------------------------------


@pytest.mark.parametrize("model", [SessionFilters, MessageQuery])
@pytest.mark.parametrize(
    ("data", "ok"),
    [
        ({}, True),
        ({"limit": None}, True),
        ({"limit": 0}, True),
        ({"limit": 1}, True),
        ({"limit": MAX_LIMIT}, True),
        ({"offset": 0}, True),
        ({"offset": MAX_LIMIT}, True),
        ({"limit": -1}, False),
        ({"limit": -(10**9)}, False),
        ({"limit": MAX_LIMIT + 1}, False),
        ({"limit": 10**18}, False),
        ({"offset": -1}, False),
        ({"offset": MAX_LIMIT + 1}, False),
        ({"offset": 10**18}, False),
        ({"offset": None}, False),
        ({"limit": 1.5}, False),
        ({"limit": "ten"}, False),
    ],
)
def test_limits_and_offsets(model: type[BaseModel], data: dict[str, Any], ok: bool) -> None:
    if ok:
        made = model.model_validate(data)
        for key, value in data.items():
            assert getattr(made, key) == value
    else:
        with pytest.raises(PydanticValidationError):
            model.model_validate(data)


def test_max_limit_is_a_million() -> None:
    assert MAX_LIMIT == 1_000_000


def test_query_defaults() -> None:
    filters = SessionFilters()
    assert (filters.limit, filters.offset, filters.include_expired) == (None, 0, False)
    query = MessageQuery()
    assert (query.limit, query.offset, query.order, query.roles) == (None, 0, "asc", None)


# --- NaN and infinities -------------------------------------------------------

NON_FINITE = [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("bad", NON_FINITE, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    ("model", "build"),
    [
        pytest.param(
            NewSession,
            lambda bad: {"status": "active", "metadata": {"custom": {"score": bad}}},
            id="custom",
        ),
        pytest.param(
            NewSession,
            lambda bad: {"status": "active", "metadata": {"custom": {"a": [1, {"b": [bad]}]}}},
            id="custom-nested",
        ),
        pytest.param(
            Session,
            lambda bad: {**SESSION_MIN, "metadata": {"custom": {"score": bad}}},
            id="session-custom",
        ),
        pytest.param(
            SessionUpdate,
            lambda bad: {"metadata": {"custom": {"score": bad}}},
            id="update-custom",
        ),
        pytest.param(
            NewMessage,
            lambda bad: {"role": "user", "content": "x", "metadata": {"annotations": {"s": bad}}},
            id="annotations",
        ),
        pytest.param(
            MessageUpdate,
            lambda bad: {"metadata": {"annotations": {"deep": {"list": [0, bad]}}}},
            id="update-annotations",
        ),
        pytest.param(
            Participant,
            lambda bad: {**PARTICIPANT, "metadata": {"weight": bad}},
            id="participant-metadata",
        ),
    ],
)
def test_non_finite_numbers_are_rejected(model: type[BaseModel], build: Any, bad: float) -> None:
    with pytest.raises(PydanticValidationError, match="NaN or infinite"):
        model.model_validate(build(bad))


# --- free-form maps keep unknown keys -----------------------------------------

FREE_FORM = {
    "camelCase": 1,
    "snake_case": "two",
    "UPPER": None,
    "with space": [1, 2.5, True, None, {"x": {"yZ": []}}],
    "nested": {"maxTokens": 3, "created_at": "2026-11-24T13:08:53.123456Z"},
    "": "empty key",
}


def test_custom_metadata_is_kept_as_is() -> None:
    session = Session.model_validate({**SESSION_MIN, "metadata": {"custom": FREE_FORM}})
    assert session.metadata.custom == FREE_FORM
    assert dump(session)["metadata"]["custom"] == FREE_FORM
    assert session.model_dump(mode="json")["metadata"]["custom"] == FREE_FORM


def test_annotations_are_kept_as_is() -> None:
    message = Message.model_validate({**MESSAGE_MIN, "metadata": {"annotations": FREE_FORM}})
    assert message.metadata is not None
    assert message.metadata.annotations == FREE_FORM
    assert dump(message)["metadata"]["annotations"] == FREE_FORM


def test_participant_metadata_is_kept_as_is() -> None:
    participant = Participant.model_validate({**PARTICIPANT, "metadata": FREE_FORM})
    assert participant.metadata == FREE_FORM
    assert dump(participant)["metadata"] == FREE_FORM


@pytest.mark.parametrize(
    "extra",
    [
        {"priority": "high"},
        {"someCamel": {"a": 1}, "some_snake": [1]},
        {"channel": None},
    ],
)
def test_session_metadata_keeps_unknown_top_level_keys(extra: dict[str, Any]) -> None:
    session = Session.model_validate({**SESSION_MIN, "metadata": {"title": "t", **extra}})
    assert dump(session)["metadata"] == {
        "title": "t",
        "tags": None,
        "source": None,
        "custom": None,
        **extra,
    }
    # a read-modify-write through an update keeps them too
    update = SessionUpdate.model_validate({"metadata": dump(session.metadata)})
    assert update.metadata is not None
    assert wire(update.metadata) == wire(session.metadata)


def test_message_metadata_keeps_unknown_top_level_keys() -> None:
    metadata = MessageMetadata.model_validate({"annotations": {"a": 1}, "traceId": "t-1"})
    assert dump(metadata) == {
        "toolCalls": None,
        "toolResults": None,
        "annotations": {"a": 1},
        "traceId": "t-1",
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"custom": {1: "int key"}}, "custom"),
        ({"custom": {"a": {1, 2}}}, "custom"),
        ({"custom": {"a": CREATED}}, "custom"),
        ({"custom": ["not", "an", "object"]}, "custom"),
        ({"tags": "travel"}, "tags"),
    ],
)
def test_session_metadata_rejects_non_json(data: dict[str, Any], field: str) -> None:
    with pytest.raises(PydanticValidationError) as raised:
        SessionMetadata.model_validate(data)
    assert raised.value.errors()[0]["loc"][0] == field


# --- nested shapes ------------------------------------------------------------


def test_tool_call_arguments_stay_a_string() -> None:
    call = ToolCall.model_validate({"id": "c", "name": "n", "arguments": '{"a": 1}'})
    assert call.arguments == '{"a": 1}'
    with pytest.raises(PydanticValidationError):
        ToolCall.model_validate({"id": "c", "name": "n", "arguments": {"a": 1}})


@pytest.mark.parametrize("result", ["text", 1, 2.5, None, True, [1, "a"], {"k": {"v": [None]}}])
def test_tool_result_takes_any_json(result: Any) -> None:
    made = ToolResult.model_validate({"toolCallId": "c", "result": result})
    assert dump(made) == {"toolCallId": "c", "result": result, "isError": None}


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (TokenBudgetConfig, {"maxTokens": -1, "reserveTokens": 0, "overflowStrategy": "error"}),
        (CompressionConfig, {"strategy": "hybrid", "targetTokens": -5}),
        (Session, {**SESSION_MIN, "tokenCount": -1}),
        (Session, {**SESSION_MIN, "messageCount": -1}),
        (Session, {**SESSION_MIN, "version": -1}),
        (NewMessage, {"role": "user", "content": "x", "tokenCount": -1}),
        (MessageUpdate, {"tokenCount": -1}),
    ],
)
def test_counts_are_never_negative(model: type[BaseModel], data: dict[str, Any]) -> None:
    with pytest.raises(PydanticValidationError, match="greater than or equal to 0"):
        model.model_validate(data)


# --- Page ---------------------------------------------------------------------


def test_page_of_sessions() -> None:
    page = Page[Session].model_validate({"items": [SESSION_WIRE, SESSION_MIN], "nextCursor": "c"})
    assert [type(item) for item in page.items] == [Session, Session]
    assert page.next_cursor == "c"
    assert dump(page)["nextCursor"] == "c"
    assert dump(page)["items"][0] == dump(Session.model_validate(SESSION_WIRE))


def test_page_by_field_name_and_defaults() -> None:
    session = Session.model_validate(SESSION_MIN)
    page = Page[Session](items=[session])
    assert page.next_cursor is None
    assert page.items == [session]
    assert Page[Session](items=[], next_cursor="x").next_cursor == "x"


def test_page_of_messages() -> None:
    page = Page[Message].model_validate({"items": [MESSAGE_WIRE], "next_cursor": None})
    assert isinstance(page.items[0], Message)
    assert dump(page) == {"items": [dump(Message.model_validate(MESSAGE_WIRE))], "nextCursor": None}


def test_page_validates_its_items() -> None:
    with pytest.raises(PydanticValidationError) as raised:
        Page[Session].model_validate({"items": [{"id": "s1"}]})
    assert {error["loc"][:2] for error in raised.value.errors()} == {("items", 0)}
