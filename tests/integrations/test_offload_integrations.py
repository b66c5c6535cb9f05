"""The OpenAI Agents session and the LangChain history with an adapter that offloads large
messages to S3: a 2 MB item (a base64 image) goes in and comes back equal; on both
DynamoDB backends with moto's S3 (in process beside moto, over HTTP beside DynamoDB
Local)."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from session_store import AsyncDynamoDBAdapter, DynamoDBAdapter, S3Offload, ValidationError
from session_store.integrations.langchain import DynamoDBChatMessageHistory
from session_store.integrations.openai_agents import DynamoDBSession
from session_store.offload import POINTER_ATTRIBUTE
from session_store.table import TableConfig
from tests.integration.offload_fixtures import MB, bucket_keys, raw_messages

PNG_BASE64 = base64.b64encode(bytes(range(256)) * (3 * MB // 512)).decode()
"""About 2 MB of base64: a screenshot, say."""


def _image_item() -> dict[str, Any]:
    return {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "what is on this screen?"},
            {
                "type": "input_image",
                "image_url": f"data:image/png;base64,{PNG_BASE64}",
                "detail": "auto",
            },
        ],
    }


def _reply(text: str) -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex}",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


@pytest.fixture(params=["sync", "async"])
def agents_adapter(
    request: pytest.FixtureRequest, offload_adapter: DynamoDBAdapter
) -> Iterator[DynamoDBAdapter | AsyncDynamoDBAdapter]:
    """The offloading adapter, or its async twin."""
    if request.param == "sync":
        yield offload_adapter
        return
    wrapper = AsyncDynamoDBAdapter.from_sync(offload_adapter)
    yield wrapper
    asyncio.run(wrapper.close())


def test_an_agents_session_keeps_a_2_mb_item(
    agents_adapter: DynamoDBAdapter | AsyncDynamoDBAdapter, offload_adapter: DynamoDBAdapter
) -> None:
    session_id = f"agents-{uuid.uuid4()}"
    session = DynamoDBSession(session_id, agents_adapter)
    image, answer = _image_item(), _reply("a login form")
    assert len(str(image)) > 2 * MB

    async def scenario() -> None:
        await session.add_items([{"role": "user", "content": "hi"}, image, answer])  # type: ignore[list-item]
        assert await session.get_items() == [{"role": "user", "content": "hi"}, image, answer]
        assert await session.get_items(2) == [image, answer]
        stored = raw_messages(offload_adapter, session_id)
        assert [POINTER_ATTRIBUTE in item for item in stored] == [False, True, False]
        assert await session.pop_item() == answer
        assert await session.pop_item() == image
        assert await session.get_items() == [{"role": "user", "content": "hi"}]

    asyncio.run(scenario())
    assert bucket_keys(offload_adapter) == set()  # the popped message's object went with it


def test_without_offload_a_2_mb_item_is_refused_before_any_write(adapter: DynamoDBAdapter) -> None:
    session = DynamoDBSession(f"agents-{uuid.uuid4()}", adapter)
    with pytest.raises(ValidationError, match="item limit"):
        asyncio.run(session.add_items([{"role": "user", "content": "hi"}, _image_item()]))  # type: ignore[list-item]
    assert asyncio.run(session.get_items()) == []


def test_an_item_over_max_bytes_is_refused_before_any_write(
    table_config: TableConfig, offload: S3Offload
) -> None:
    limited = S3Offload(
        offload.bucket, prefix=offload.prefix, max_bytes=MB, endpoint_url=offload.endpoint_url
    )
    with DynamoDBAdapter(
        table_config.table_name,
        region=table_config.region,
        endpoint_url=table_config.endpoint_url,
        offload=limited,
    ) as adapter:
        adapter.create_table()
        session = DynamoDBSession(f"agents-{uuid.uuid4()}", adapter)
        with pytest.raises(ValidationError, match=r"over the offload limit of 1,048,576 bytes"):
            asyncio.run(session.add_items([{"role": "user", "content": "hi"}, _image_item()]))  # type: ignore[list-item]
        assert asyncio.run(session.get_items()) == []
        assert bucket_keys(adapter) == set()


def _image_message() -> HumanMessage:
    return HumanMessage(
        content=[
            {"type": "text", "text": "what is on this screen?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_BASE64}"}},
        ]
    )


def test_a_langchain_history_keeps_a_2_mb_message(offload_adapter: DynamoDBAdapter) -> None:
    session_id = f"chat-{uuid.uuid4()}"
    history = DynamoDBChatMessageHistory(session_id, offload_adapter)
    conversation = [SystemMessage("be brief"), _image_message(), AIMessage("a login form")]
    history.add_messages(conversation)
    assert history.messages == conversation
    stored = raw_messages(offload_adapter, session_id)
    assert [POINTER_ATTRIBUTE in item for item in stored] == [False, True, False]
    history.clear()
    assert history.messages == []
    assert bucket_keys(offload_adapter) == set()


def test_a_langchain_history_on_the_async_adapter_keeps_a_2_mb_message(
    offload_adapter: DynamoDBAdapter,
) -> None:
    wrapper = AsyncDynamoDBAdapter.from_sync(offload_adapter)
    history = DynamoDBChatMessageHistory(f"chat-{uuid.uuid4()}", wrapper)
    conversation = [_image_message(), AIMessage("a login form")]

    async def scenario() -> None:
        await history.aadd_messages(conversation)
        assert await history.aget_messages() == conversation

    try:
        asyncio.run(scenario())
    finally:
        asyncio.run(wrapper.close())
