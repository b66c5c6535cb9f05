"""The factory-boy factories: valid inputs, traits, determinism, creating through an adapter."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import factory.random
import pytest

from session_store import DynamoDBAdapter, domain
from session_store.testing import MessageFactory, SessionFactory
from session_store.testing import factories as factories_module

_WHEN = datetime(2026, 11, 24, 13, 8, 53, 123_000, tzinfo=UTC)


class RecordingAdapter:
    """Duck-typed stand-in for the adapter: stores what it is given."""

    def __init__(self) -> None:
        self.sessions: list[domain.NewSession] = []
        self.messages: list[tuple[str, domain.NewMessage]] = []

    def create_session(self, data: domain.NewSession) -> domain.Session:
        self.sessions.append(data)
        fields = data.model_dump(exclude={"id"})
        return domain.Session(
            **fields,
            id=data.id or f"s-{len(self.sessions)}",
            created_at=_WHEN,
            last_activity_at=_WHEN,
            version=1,
        )

    def add_message(self, session_id: str, data: domain.NewMessage) -> domain.Message:
        self.messages.append((session_id, data))
        return domain.Message(
            **data.model_dump(),
            id=f"m-{len(self.messages)}",
            session_id=session_id,
            created_at=_WHEN,
        )


class AsyncRecordingAdapter:
    def __init__(self) -> None:
        self.inner = RecordingAdapter()

    async def create_session(self, data: domain.NewSession) -> domain.Session:
        await asyncio.sleep(0)
        return self.inner.create_session(data)

    async def add_message(self, session_id: str, data: domain.NewMessage) -> domain.Message:
        await asyncio.sleep(0)
        return self.inner.add_message(session_id, data)


def reseed(seed: int) -> None:
    """factory-boy's own reseeding (it seeds Faker's shared generator too)."""
    factory.random.reseed_random(seed)  # type: ignore[no-untyped-call]


@pytest.fixture(autouse=True)
def _seeded() -> None:
    reseed(20261124)


# --- builds are valid and realistic ---------------------------------------------------


def test_session_builds_are_valid_and_realistic() -> None:
    built = SessionFactory.build_batch(50)
    for new in built:
        assert isinstance(new, domain.NewSession)
        assert domain.NewSession.model_validate(new.model_dump()) == new
        assert domain.NewSession.model_validate(new.model_dump(by_alias=True, mode="json")) == new
        assert new.id is None  # the store picks one
        assert new.status is domain.SessionStatus.ACTIVE
        assert new.user_id is not None
        assert new.user_id.startswith("user-")
        assert new.active_agent_id in factories_module.AGENT_IDS
        assert new.metadata.title
        assert new.metadata.source
        assert new.metadata.custom is not None
        assert set(new.metadata.tags or []) <= set(factories_module._TAGS)
        roles = [p.role for p in new.participants]
        assert roles[:2] == [domain.ParticipantRole.USER, domain.ParticipantRole.AGENT]
        assert [p.id for p in new.participants[:2]] == [new.user_id, new.active_agent_id]
        assert all(p.joined_at.tzinfo is not None for p in new.participants)
        assert all(p.left_at is None or p.left_at > p.joined_at for p in new.participants)
    # Varied, not one value repeated; the optional configs appear some of the time.
    assert len({new.metadata.title for new in built}) > 10
    assert 0 < sum(new.token_budget is not None for new in built) < len(built)
    assert 0 < sum(new.compression is not None for new in built) < len(built)


def test_message_builds_are_valid_and_realistic() -> None:
    built = MessageFactory.build_batch(100)
    for new in built:
        assert isinstance(new, domain.NewMessage)
        assert domain.NewMessage.model_validate(new.model_dump(by_alias=True, mode="json")) == new
        assert new.role in (domain.MessageRole.USER, domain.MessageRole.ASSISTANT)
        assert new.token_count is not None
        assert new.token_count > 0
        assert new.sequence is None
    assert any(isinstance(new.content, list) for new in built)  # content blocks sometimes
    assert any(isinstance(new.content, str) and new.content for new in built)
    assert any(new.metadata is not None and new.metadata.annotations for new in built)


def test_overrides_win() -> None:
    new = SessionFactory.build(status="paused", user_id="u-1", metadata={"title": "Mine"})
    assert new.status is domain.SessionStatus.PAUSED
    assert new.user_id == "u-1"
    assert new.participants[0].id == "u-1"
    assert new.metadata == domain.SessionMetadata(title="Mine")
    message = MessageFactory.build(role="system", content="Be brief.", token_count=3, sequence=7)
    assert (message.role, message.content, message.token_count, message.sequence) == (
        domain.MessageRole.SYSTEM,
        "Be brief.",
        3,
        7,
    )


# --- session traits ---------------------------------------------------------------------


def test_anonymous_and_agentless() -> None:
    anonymous = SessionFactory.build(anonymous=True)
    assert anonymous.user_id is None
    assert domain.ParticipantRole.USER not in [p.role for p in anonymous.participants]
    assert anonymous.active_agent_id is not None
    agentless = SessionFactory.build(agentless=True)
    assert agentless.active_agent_id is None
    assert domain.ParticipantRole.AGENT not in [p.role for p in agentless.participants]


def test_minimal_is_only_the_status() -> None:
    for _ in range(20):
        new = SessionFactory.build(minimal=True)
        assert new.model_dump(exclude_defaults=True) == {"status": domain.SessionStatus.ACTIVE}


def test_budget_compression_and_state() -> None:
    for _ in range(10):
        new = SessionFactory.build(with_budget=True, with_compression=True)
        assert new.token_budget is not None
        assert new.token_budget.reserve_tokens < new.token_budget.max_tokens
        assert new.compression is not None
        assert new.compression_state is None
    compressed = SessionFactory.build(compressed=True)
    assert compressed.compression is not None
    state = compressed.compression_state
    assert state is not None
    assert state.strategy is compressed.compression.strategy
    assert state.kept_message_ids
    assert state.signature == (
        f"{len(state.kept_message_ids)}:{state.kept_message_ids[-1]}::"
        f"{compressed.compression.target_tokens}"
    )
    assert state.compressed_token_count <= compressed.compression.target_tokens


def test_expiry_traits() -> None:
    now = datetime.now(UTC)
    expiring = SessionFactory.build(expiring=True)
    assert expiring.expires_at is not None
    assert expiring.expires_at.microsecond == 0
    assert now < expiring.expires_at <= now + timedelta(days=1, seconds=1)
    expired = SessionFactory.build(expired=True)
    assert expired.expires_at is not None
    assert expired.expires_at.microsecond == 0
    assert expired.expires_at < now
    assert SessionFactory.build().expires_at is None


def test_with_id() -> None:
    new = SessionFactory.build(with_id=True)
    assert new.id is not None
    assert uuid.UUID(new.id).version == 4


# --- message traits ---------------------------------------------------------------------


def test_tool_call() -> None:
    for _ in range(20):
        new = MessageFactory.build(tool_call=True, tool_call_id="call_1")
        assert new.role is domain.MessageRole.ASSISTANT
        assert isinstance(new.content, str)
        assert new.metadata is not None
        calls = new.metadata.tool_calls
        assert calls
        assert calls[0].id == "call_1"
        assert len({call.id for call in calls}) == len(calls)
        for call in calls:
            assert isinstance(json.loads(call.arguments), dict)
        assert new.token_count is not None
        assert new.token_count > sum(len(call.arguments) for call in calls) // 4


def test_tool_result_pairs_with_its_call() -> None:
    new = MessageFactory.build(tool_result=True, tool_call_id="call_1", tool_name="get_weather")
    assert new.role is domain.MessageRole.TOOL
    assert new.metadata is not None
    assert new.metadata.tool_results is not None
    (result,) = new.metadata.tool_results
    assert result.tool_call_id == "call_1"
    assert result.is_error is not True
    assert isinstance(result.result, dict)
    assert set(result.result) == {"temperature", "conditions", "humidity"}
    assert isinstance(new.content, str)
    assert json.loads(new.content) == result.result


def test_tool_error_and_explicit_output() -> None:
    failed = MessageFactory.build(tool_error=True)
    assert failed.role is domain.MessageRole.TOOL
    assert failed.metadata is not None
    assert failed.metadata.tool_results is not None
    assert failed.metadata.tool_results[0].is_error is True
    given = MessageFactory.build(tool_result=True, tool_output="$30")
    assert given.content == "$30"
    assert given.metadata is not None
    assert given.metadata.tool_results is not None
    assert given.metadata.tool_results[0].result == "$30"


def test_system_blocks_and_uncounted() -> None:
    system = MessageFactory.build(system=True)
    assert system.role is domain.MessageRole.SYSTEM
    assert isinstance(system.content, str)
    assert system.content.startswith("You are")
    assert system.metadata is None
    for _ in range(10):
        blocks = MessageFactory.build(blocks=True, role="user")
        assert isinstance(blocks.content, list)
        assert isinstance(blocks.content[0], domain.TextBlock)
        assert isinstance(blocks.content[-1], domain.ImageUrlBlock)
        assert blocks.content[-1].image_url.url.startswith("https://")
    assert isinstance(MessageFactory.build(use_blocks=False).content, str)
    assert MessageFactory.build(uncounted=True).token_count is None


def test_conversation_is_plausible() -> None:
    conversation = MessageFactory.build_conversation(3)
    assert conversation[0].role is domain.MessageRole.SYSTEM
    assert conversation[1].role is domain.MessageRole.USER
    calls = {
        call.id
        for message in conversation
        if message.metadata is not None
        for call in message.metadata.tool_calls or ()
    }
    results = {
        result.tool_call_id
        for message in conversation
        if message.metadata is not None
        for result in message.metadata.tool_results or ()
    }
    assert calls
    assert calls == results
    assert sum(message.role is domain.MessageRole.USER for message in conversation) == 3
    assert conversation[-1].role is domain.MessageRole.ASSISTANT
    plain = MessageFactory.build_conversation(2, system_prompt=False, tools=False)
    assert [m.role.value for m in plain] == ["user", "assistant", "user", "assistant"]
    with pytest.raises(ValueError, match="turns"):
        MessageFactory.build_conversation(-1)


# --- determinism --------------------------------------------------------------------------


def _sample() -> list[Any]:
    return [
        *SessionFactory.build_batch(5),
        SessionFactory.build(compressed=True, with_id=True, expired=True),
        *MessageFactory.build_batch(10),
        MessageFactory.build(tool_call=True),
        MessageFactory.build(tool_result=True),
        *MessageFactory.build_conversation(2),
    ]


def test_reseeding_repeats_the_values() -> None:
    reseed(7)
    first = _sample()
    reseed(7)
    second = _sample()
    assert first == second
    reseed(8)
    assert _sample() != first


# --- creating through an adapter --------------------------------------------------------


def test_create_goes_through_the_adapter() -> None:
    adapter = RecordingAdapter()
    session = SessionFactory.create(adapter=adapter, user_id="u-9")
    assert isinstance(session, domain.Session)
    assert session.user_id == "u-9"
    assert adapter.sessions[0].user_id == "u-9"
    message = MessageFactory.create(adapter=adapter, session_id=session.id, tool_call=True)
    assert isinstance(message, domain.Message)
    assert message.session_id == session.id
    assert adapter.messages == [(session.id, adapter.messages[0][1])]
    assert adapter.messages[0][1].metadata is not None

    assert len(SessionFactory.create_batch(3, adapter=adapter)) == 3
    assert len(MessageFactory.create_batch(4, adapter=adapter, session_id=session.id)) == 4
    before = len(adapter.messages)
    stored = MessageFactory.create_conversation(adapter, session.id, 2)
    assert len(stored) == len(adapter.messages) - before > 0
    assert [m.role for m in stored] == [new.role for _, new in adapter.messages[before:]]


def test_create_without_an_adapter_is_an_error() -> None:
    with pytest.raises(TypeError, match="adapter"):
        SessionFactory.create()
    with pytest.raises(TypeError, match="session_id"):
        MessageFactory.create(adapter=RecordingAdapter())


def test_acreate_awaits_the_async_adapter() -> None:
    adapter = AsyncRecordingAdapter()

    async def scenario() -> tuple[domain.Session, domain.Message, list[domain.Message]]:
        session = await SessionFactory.acreate(adapter, status="paused")
        message = await MessageFactory.acreate(adapter, session.id, system=True)
        conversation = await MessageFactory.acreate_conversation(adapter, session.id, 1)
        return session, message, conversation

    session, message, conversation = asyncio.run(scenario())
    assert session.status is domain.SessionStatus.PAUSED
    assert message.role is domain.MessageRole.SYSTEM
    assert len(conversation) == len(adapter.inner.messages) - 1


@pytest.mark.backends("moto")
def test_create_through_a_real_adapter(adapter: DynamoDBAdapter) -> None:
    session = SessionFactory.create(adapter=adapter, compressed=True, with_budget=True)
    assert adapter.get_session(session.id) == session
    added = MessageFactory.create_conversation(adapter, session.id, 2)
    added.append(MessageFactory.create(adapter=adapter, session_id=session.id, blocks=True))
    assert adapter.get_messages(session.id) == added
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert stored.message_count == len(added)
    assert stored.token_count == sum(m.token_count or 0 for m in added)


def test_importing_the_package_does_not_import_factory_boy() -> None:
    code = (
        "import sys, session_store, session_store.testing, session_store.testing.plugin\n"
        "assert 'factory' not in sys.modules, 'factory-boy imported eagerly'\n"
        "from session_store.testing import SessionFactory\n"
        "assert 'factory' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert SessionFactory is factories_module.SessionFactory
