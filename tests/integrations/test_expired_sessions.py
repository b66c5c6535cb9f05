"""Expired sessions in the framework integrations: empty, then started again on the next write.

As the OpenAI Agents SDK's ``RedisSession`` with a ``ttl`` (and LangChain's
Redis history) do, a conversation id outlives its session's expiry: reads
see no history, and the next write creates the session again under the same
id, a new incarnation with none of the old messages.

The writes rely on ``create_session`` replacing an expired session with a new
incarnation; until the adapter does, those tests are expected to fail
(``xfail(strict=True)``: they fail the run once they pass, so the marker goes).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from agents.items import TResponseInputItem
from langchain_core.messages import AIMessage, HumanMessage

from session_store import DynamoDBAdapter, TableConfig
from session_store.integrations.langchain import DynamoDBChatMessageHistory
from session_store.integrations.openai_agents import DynamoDBSession


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ttl_adapter(table_config: TableConfig, clock: Clock) -> Iterator[DynamoDBAdapter]:
    """An adapter whose sessions expire 5 minutes after their last activity, on a test clock."""
    with DynamoDBAdapter(
        table_config.table_name,
        region=table_config.region,
        endpoint_url=table_config.endpoint_url,
        session_ttl=timedelta(minutes=5),
        clock=clock,
    ) as adapter:
        adapter.create_table()
        yield adapter


def user(text: str) -> TResponseInputItem:
    return cast("TResponseInputItem", {"role": "user", "content": text})


def agents_session(adapter: DynamoDBAdapter) -> DynamoDBSession:
    return DynamoDBSession(f"conversation-{uuid.uuid4()}", adapter)


def test_an_expired_agents_session_reads_as_empty(
    ttl_adapter: DynamoDBAdapter, clock: Clock
) -> None:
    session = agents_session(ttl_adapter)

    async def scenario() -> list[Any]:
        await session.add_items([user("old 1"), user("old 2")])
        clock.now += timedelta(hours=1)
        return [
            await session.get_items(),
            await session.get_items(limit=1),
            await session.pop_item(),
        ]

    assert asyncio.run(scenario()) == [[], [], None]
    assert len(ttl_adapter.get_messages(session.session_id)) == 2  # pop_item removed nothing


def test_an_expired_agents_session_starts_again_on_the_next_write(
    ttl_adapter: DynamoDBAdapter, clock: Clock
) -> None:
    session = agents_session(ttl_adapter)

    async def scenario() -> list[Any]:
        await session.add_items([user("old")])
        clock.now += timedelta(hours=1)
        await session.add_items([user("new")])
        return await session.get_items()

    assert asyncio.run(scenario()) == [user("new")]
    started = ttl_adapter.get_session(session.session_id)
    assert started is not None
    assert started.message_count == 1


def test_an_expired_langchain_history_reads_as_empty(
    ttl_adapter: DynamoDBAdapter, clock: Clock
) -> None:
    history = DynamoDBChatMessageHistory(f"chat-{uuid.uuid4()}", ttl_adapter)
    history.add_messages([HumanMessage("old"), AIMessage("reply")])
    clock.now += timedelta(hours=1)
    assert history.messages == []
    assert asyncio.run(history.aget_messages()) == []


def test_an_expired_langchain_history_starts_again_on_the_next_write(
    ttl_adapter: DynamoDBAdapter, clock: Clock
) -> None:
    history = DynamoDBChatMessageHistory(f"chat-{uuid.uuid4()}", ttl_adapter)
    history.add_messages([HumanMessage("old")])
    clock.now += timedelta(hours=1)
    history.add_messages([HumanMessage("new")])
    assert history.messages == [HumanMessage("new")]
    started = ttl_adapter.get_session(history.session_id)
    assert started is not None
    assert started.message_count == 1
