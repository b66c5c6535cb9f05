"""DynamoDBChatMessageHistory on every backend: parity with LangChain's in-memory history.

Tests are plain functions that call ``asyncio.run``: no async plugin needed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.chat_history import BaseChatMessageHistory, InMemoryChatMessageHistory
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    ChatMessageChunk,
    FunctionMessage,
    FunctionMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    RemoveMessage,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
)
from langchain_core.messages.tool import invalid_tool_call, tool_call, tool_call_chunk
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory

from session_store import (
    DynamoDBAdapter,
    MemoryAdapter,
    Message,
    StorageAdapter,
    ToolCall,
    ToolResult,
    ValidationError,
    keys,
)
from session_store._bridge import bridged
from session_store.aio import AsyncDynamoDBAdapter
from session_store.integrations.langchain import (
    LANGCHAIN_ANNOTATION,
    DynamoDBChatMessageHistory,
)
from session_store.testing import strategies as sst
from session_store.testing.requests import count_requests
from tests.loop_calls import LoopThreadCalls

# LangChain marks its chat-history API deprecated (since 1.6.4, removal in 2.0):
# the in-memory reference and RunnableWithMessageHistory warn when made.
pytestmark = pytest.mark.filterwarnings(
    "ignore::langchain_core._api.deprecation.LangChainDeprecationWarning"
)


def fresh_id() -> str:
    return f"chat-{uuid.uuid4()}"


@pytest.fixture
def aio(adapter: DynamoDBAdapter) -> Iterator[AsyncDynamoDBAdapter]:
    """An ``AsyncDynamoDBAdapter`` over the test's adapter (same table, same client)."""
    wrapped = AsyncDynamoDBAdapter.from_sync(adapter, max_workers=4)
    yield wrapped
    asyncio.run(wrapped.close())


def annotation_of(message: Message) -> dict[str, Any]:
    """The serialized LangChain message a stored message carries."""
    assert message.metadata is not None
    assert message.metadata.annotations is not None
    serialized = message.metadata.annotations[LANGCHAIN_ANNOTATION]
    assert isinstance(serialized, dict)
    return serialized


def stored_of(adapter: StorageAdapter, session_id: str) -> list[tuple[str, Any]]:
    """What the plain adapter sees: (role, content) of every message."""
    return [(m.role.value, m.content) for m in adapter.get_messages(session_id)]


# --- realistic messages -------------------------------------------------------------

texts = sst.texts(max_size=30)
message_ids = st.none() | sst.identifiers(max_size=20)
names = st.none() | sst.texts(min_size=1, max_size=12)
extras = sst.json_objects(max_size=3)
urls = st.sampled_from(["https://example.com/a.png", "data:image/png;base64,iVBORw0KGgo="])

content_parts: st.SearchStrategy[str | dict[str, Any]] = st.one_of(
    texts,
    texts.map(lambda text: {"type": "text", "text": text}),
    urls.map(lambda url: {"type": "image_url", "image_url": {"url": url}}),
)
contents: st.SearchStrategy[str | list[str | dict[str, Any]]] = texts | st.lists(
    content_parts, max_size=3
)
tool_calls = st.lists(
    st.builds(
        lambda name, args, call_id: tool_call(name=name, args=args, id=call_id),
        st.sampled_from(["lookup_refund", "search", "get_weather"]),
        extras,
        st.none() | st.uuids().map(lambda u: f"call_{u.hex[:12]}"),
    ),
    max_size=2,
)
usage = st.none() | st.builds(
    lambda given, produced: {
        "input_tokens": given,
        "output_tokens": produced,
        "total_tokens": given + produced,
    },
    st.integers(0, 5000),
    st.integers(0, 500),
)


@st.composite
def chat_messages(draw: st.DrawFn) -> BaseMessage:
    """One message of a realistic agent conversation, any class LangChain round trips."""
    common: dict[str, Any] = {
        "content": draw(contents),
        "id": draw(message_ids),
        "additional_kwargs": draw(extras),
        "response_metadata": draw(extras),
    }
    kind = draw(st.sampled_from(["human", "ai", "system", "tool", "chat", "function", "ai_chunk"]))
    if kind == "human":
        return HumanMessage(**common, name=draw(names))
    if kind == "ai":
        return AIMessage(
            **common,
            name=draw(names),
            tool_calls=draw(tool_calls),
            usage_metadata=draw(usage),
        )
    if kind == "system":
        return SystemMessage(**common)
    if kind == "tool":
        return ToolMessage(
            **common,
            tool_call_id=f"call_{draw(st.integers(0, 99))}",
            status=draw(st.sampled_from(["success", "error"])),
            artifact=draw(st.none() | sst.json_values(max_leaves=4)),
        )
    if kind == "chat":
        return ChatMessage(**common, role=draw(st.sampled_from(["moderator", "User", "developer"])))
    if kind == "function":
        return FunctionMessage(**common, name=draw(st.sampled_from(["lookup", "search"])))
    return AIMessageChunk(**common)


Step = tuple[str, list[BaseMessage]]
steps: st.SearchStrategy[Step] = st.one_of(
    st.tuples(
        st.sampled_from(["add_messages", "aadd_messages"]), st.lists(chat_messages(), max_size=3)
    ),
    st.tuples(st.just("add_message"), st.lists(chat_messages(), min_size=1, max_size=1)),
    st.tuples(st.sampled_from(["messages", "aget_messages", "clear", "aclear"]), st.just([])),
)


def apply(history: BaseChatMessageHistory, step: Step) -> list[BaseMessage] | None:
    """Run one step on a history; the messages it read, if it read."""
    name, messages = step
    if name == "add_messages":
        history.add_messages(messages)
    elif name == "aadd_messages":
        asyncio.run(history.aadd_messages(messages))
    elif name == "add_message":
        history.add_message(messages[0])
    elif name == "clear":
        history.clear()
    elif name == "aclear":
        asyncio.run(history.aclear())
    elif name == "messages":
        return history.messages
    else:
        return asyncio.run(history.aget_messages())
    return None


def assert_parity(history: DynamoDBChatMessageHistory, plan: Sequence[Step]) -> None:
    reference = InMemoryChatMessageHistory()
    for step in plan:
        read = apply(history, step)
        if read is not None:
            assert read == reference.messages
        apply(reference, step)
        assert history.messages == reference.messages


parity_settings = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


# --- parity with InMemoryChatMessageHistory ----------------------------------------


@parity_settings
@given(plan=st.lists(steps, max_size=8), through_async_adapter=st.booleans())
def test_parity_with_the_in_memory_history(
    adapter: DynamoDBAdapter,
    aio: AsyncDynamoDBAdapter,
    plan: list[Step],
    through_async_adapter: bool,
) -> None:
    history = DynamoDBChatMessageHistory(fresh_id(), aio if through_async_adapter else adapter)
    assert_parity(history, plan)


@parity_settings
@given(plan=st.lists(steps, max_size=8))
def test_parity_on_the_memory_adapter(plan: list[Step]) -> None:
    assert_parity(DynamoDBChatMessageHistory(fresh_id(), MemoryAdapter()), plan)


EVERY_CLASS: list[BaseMessage] = [
    SystemMessage("Tu es un agent de facturation. Réponds brièvement.", id="sys-1"),
    HumanMessage(
        [
            {"type": "text", "text": "Wo ist meine Rückerstattung? 🧾"},
            {"type": "image_url", "image_url": {"url": "https://example.com/receipt.png"}},
            "order 1042",
        ],
        name="alice",
        additional_kwargs={"locale": "de-DE", "nested": [1, 2.5, None, {"ok": True}]},
    ),
    AIMessage(
        "",
        tool_calls=[tool_call(name="lookup_refund", args={"order": 1042}, id="call_1")],
        invalid_tool_calls=[
            invalid_tool_call(name="search", args="{not json", id="call_2", error="bad json")
        ],
        usage_metadata={"input_tokens": 120, "output_tokens": 18, "total_tokens": 138},
        response_metadata={"model_name": "gpt-test", "finish_reason": "tool_calls"},
        id="run-1",
    ),
    ToolMessage(
        "refund sent 2026-11-20",
        tool_call_id="call_1",
        artifact={"refund": {"amount": 42.5, "currency": "EUR"}},
        name="lookup_refund",
    ),
    ToolMessage([{"type": "text", "text": "no such order"}], tool_call_id="call_2", status="error"),
    AIMessage([{"type": "text", "text": "Your refund was sent on Nov 20."}], id="run-2"),
    ChatMessage(content="Escalation approved.", role="moderator"),
    ChatMessage(content="Follow the refund policy.", role="developer"),
    FunctionMessage(content='{"status": "sent"}', name="lookup_refund"),
    AIMessageChunk(
        content="partial",
        tool_call_chunks=[tool_call_chunk(name="search", args='{"q": "refu', id="c3", index=0)],
    ),
    HumanMessageChunk(content="typing…"),
    SystemMessageChunk(content="sys chunk"),
    ToolMessageChunk(content="tool chunk", tool_call_id="call_9"),
    ChatMessageChunk(content="chat chunk", role="observer"),
    FunctionMessageChunk(content="fn chunk", name="search"),
    RemoveMessage(id="run-1"),
]


def test_every_message_class_reads_back_equal(adapter: DynamoDBAdapter) -> None:
    history = DynamoDBChatMessageHistory(fresh_id(), adapter)
    history.add_messages(EVERY_CLASS)
    read = history.messages
    assert read == EVERY_CLASS
    assert [type(m) for m in read] == [type(m) for m in EVERY_CLASS]
    assert asyncio.run(history.aget_messages()) == EVERY_CLASS


# --- what the plain adapter sees ---------------------------------------------------


def test_the_plain_adapter_sees_mapped_roles_and_readable_fields(adapter: DynamoDBAdapter) -> None:
    session_id = fresh_id()
    DynamoDBChatMessageHistory(fresh_id(), adapter)  # another session: not seen below
    history = DynamoDBChatMessageHistory(session_id, adapter)
    history.add_messages(EVERY_CLASS)
    stored = adapter.get_messages(session_id)
    assert [m.role.value for m in stored] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "user",  # a custom ChatMessage role
        "system",  # ChatMessage role "developer"
        "tool",  # FunctionMessage
        "assistant",
        "user",
        "system",
        "tool",
        "user",
        "tool",
        "user",  # RemoveMessage
    ]
    # List content is readable as its text parts; string content is stored as it is.
    assert stored[1].content == "Wo ist meine Rückerstattung? 🧾order 1042"
    assert stored[0].content == "Tu es un agent de facturation. Réponds brièvement."
    call = stored[2]
    assert call.metadata is not None
    assert call.metadata.tool_calls == [
        ToolCall(id="call_1", name="lookup_refund", arguments='{"order":1042}')
    ]
    assert call.token_count == 18  # the output tokens: the message's own size
    result = stored[3]
    assert result.metadata is not None
    assert result.metadata.tool_results == [
        ToolResult(tool_call_id="call_1", result="refund sent 2026-11-20", is_error=False)
    ]
    failed = stored[4]
    assert failed.metadata is not None
    assert failed.metadata.tool_results == [
        ToolResult(tool_call_id="call_2", result="no such order", is_error=True)
    ]
    assert [annotation_of(m)["type"] for m in stored] == [m.type for m in EVERY_CLASS]
    # String content is stored once (as the content), list content kept exactly.
    assert "content" not in annotation_of(stored[0])["data"]
    assert annotation_of(stored[1])["data"]["content"] == EVERY_CLASS[1].content
    session = adapter.get_session(session_id)
    assert session is not None
    assert (session.message_count, session.token_count) == (len(EVERY_CLASS), 18)


def test_an_edit_of_string_content_through_the_adapter_shows_in_langchain(
    adapter: DynamoDBAdapter,
) -> None:
    session_id = fresh_id()
    history = DynamoDBChatMessageHistory(session_id, adapter)
    history.add_messages([HumanMessage("Where is my refnud?", id="q1"), AIMessage("Checking.")])
    question = adapter.get_messages(session_id)[0]
    adapter.update_message(session_id, question.id, {"content": "Where is my refund?"})
    assert history.messages == [
        HumanMessage("Where is my refund?", id="q1"),
        AIMessage("Checking."),
    ]


def test_messages_written_without_langchain_are_read_by_role(adapter: DynamoDBAdapter) -> None:
    session = adapter.create_session({"status": "active"})
    plain: list[dict[str, Any]] = [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": "",
            "metadata": {
                "tool_calls": [
                    {"id": "call_1", "name": "lookup", "arguments": '{"order": 1042}'},
                    {"id": "call_2", "name": "lookup", "arguments": "not json"},
                    {"id": "", "name": "ping", "arguments": "{}"},
                ]
            },
        },
        {
            "role": "tool",
            "content": "timeout",
            "metadata": {"tool_results": [{"tool_call_id": "call_1", "is_error": True}]},
        },
        {"role": "tool", "content": "orphan"},
        {
            "role": "assistant",
            "content": "done",
            # An annotation that is not a message LangChain rebuilds: read the fields.
            "metadata": {
                "annotations": {LANGCHAIN_ANNOTATION: {"type": "no-such-type", "data": {}}}
            },
        },
    ]
    written = [adapter.add_message(session.id, data) for data in plain]
    ids = [m.id for m in written]
    assert DynamoDBChatMessageHistory(session.id, adapter).messages == [
        SystemMessage("be brief", id=ids[0]),
        HumanMessage(
            [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
            ],
            id=ids[1],
        ),
        AIMessage(
            "",
            id=ids[2],
            tool_calls=[
                tool_call(name="lookup", args={"order": 1042}, id="call_1"),
                tool_call(name="ping", args={}, id=None),
            ],
            invalid_tool_calls=[
                invalid_tool_call(
                    name="lookup",
                    args="not json",
                    id="call_2",
                    error="arguments are not a JSON object",
                )
            ],
        ),
        ToolMessage("timeout", tool_call_id="call_1", status="error", id=ids[3]),
        ToolMessage("orphan", tool_call_id="", id=ids[4]),
        AIMessage("done", id=ids[5]),
    ]


def test_two_histories_on_one_table_are_isolated(adapter: DynamoDBAdapter) -> None:
    first = DynamoDBChatMessageHistory(fresh_id(), adapter)
    second = DynamoDBChatMessageHistory(fresh_id(), adapter)
    first.add_messages([HumanMessage("one"), AIMessage("uno")])
    second.add_messages([HumanMessage("two")])
    asyncio.run(first.aadd_messages([HumanMessage("eins")]))
    assert first.messages == [HumanMessage("one"), AIMessage("uno"), HumanMessage("eins")]
    assert second.messages == [HumanMessage("two")]
    first.clear()
    assert first.messages == []
    assert second.messages == [HumanMessage("two")]
    assert stored_of(adapter, second.session_id) == [("user", "two")]


# --- the session item ------------------------------------------------------------


def test_the_session_is_created_on_the_first_write_only(adapter: DynamoDBAdapter) -> None:
    session_id = fresh_id()
    history = DynamoDBChatMessageHistory(
        session_id,
        adapter,
        new_session={"user_id": "u-42", "active_agent_id": "triage", "metadata": {"tags": ["lc"]}},
    )
    with count_requests(adapter) as log:
        assert history.messages == []
        history.clear()
        asyncio.run(history.aclear())
    assert adapter.get_session(session_id) is None
    # The read finds no session item and stops there; the clears query the messages.
    assert log.operations == ["GetItem", "Query", "Query"]

    with count_requests(adapter) as log:
        history.add_message(HumanMessage("hi"))
    # Tried first, created on SessionNotFoundError, tried again.
    assert log.operations == ["TransactWriteItems", "PutItem", "TransactWriteItems"]
    with count_requests(adapter) as log:
        history.add_messages([AIMessage("hello"), HumanMessage("refund?")])
    assert log.operations == ["TransactWriteItems"]  # one transaction for the batch

    session = adapter.get_session(session_id)
    assert session is not None
    assert (session.id, session.status.value, session.user_id, session.active_agent_id) == (
        session_id,
        "active",
        "u-42",
        "triage",
    )
    assert session.metadata.tags == ["lc"]
    assert session.message_count == 3
    assert [s.id for s in adapter.list_sessions({"user_id": "u-42"})] == [session_id]


def test_the_first_async_write_creates_the_session_too(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    session_id = fresh_id()
    history = DynamoDBChatMessageHistory(session_id, aio, new_session={"status": "paused"})
    with count_requests(adapter) as log:
        asyncio.run(history.aadd_messages([HumanMessage("hi"), AIMessage("hello")]))
    assert log.operations == ["TransactWriteItems", "PutItem", "TransactWriteItems"]
    session = adapter.get_session(session_id)
    assert session is not None
    assert (session.status.value, session.message_count) == ("paused", 2)


def test_a_concurrent_creator_winning_the_race_is_fine(adapter: DynamoDBAdapter) -> None:
    session_id = fresh_id()
    history = DynamoDBChatMessageHistory(session_id, adapter, new_session={"user_id": "late"})
    config = adapter.config
    events = adapter.models.client.meta.events

    def other_process_creates_it(**_: Any) -> None:
        events.unregister("before-call.dynamodb.PutItem", unique_id="race")
        with DynamoDBAdapter(
            config.table_name, region=config.region, endpoint_url=config.endpoint_url
        ) as other:
            other.create_session({"id": session_id, "status": "active", "user_id": "first"})

    # Just before this history's create is sent, another writer creates the session.
    events.register("before-call.dynamodb.PutItem", other_process_creates_it, unique_id="race")
    with count_requests(adapter) as log:
        history.add_message(HumanMessage("hi"))
    assert log.operations == ["TransactWriteItems", "PutItem", "TransactWriteItems"]
    session = adapter.get_session(session_id)
    assert session is not None
    assert (session.user_id, session.message_count) == ("first", 1)
    assert history.messages == [HumanMessage("hi")]


def test_clear_empties_the_history_and_keeps_the_session(adapter: DynamoDBAdapter) -> None:
    history = DynamoDBChatMessageHistory(fresh_id(), adapter)
    history.add_messages(
        [
            HumanMessage("hi"),
            AIMessage(
                "hello", usage_metadata={"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
            ),
        ]
    )
    history.clear()
    assert history.messages == []
    session = adapter.get_session(history.session_id)
    assert session is not None
    assert (session.message_count, session.token_count) == (0, 0)
    history.add_message(HumanMessage("again"))
    assert history.messages == [HumanMessage("again")]
    asyncio.run(history.aclear())
    assert adapter.get_messages(history.session_id) == []


# --- checks before any request ------------------------------------------------------


class NotesMessage(HumanMessage):
    """A subclass LangChain's ``messages_from_dict`` cannot rebuild as itself."""


@pytest.mark.parametrize(
    "bad",
    [
        ToolMessage("raw", tool_call_id="c1", artifact=b"\x89PNG"),
        ToolMessage("pair", tool_call_id="c1", artifact=(1, 2)),
        HumanMessage("nan", additional_kwargs={"score": float("nan")}),
        AIMessage("keys", response_metadata={"by_id": {1: "one"}}),
        NotesMessage(content="custom class"),
    ],
    ids=["bytes", "tuple", "nan", "int-key", "subclass"],
)
def test_messages_that_cannot_round_trip_are_refused_before_any_write(
    adapter: DynamoDBAdapter, bad: BaseMessage
) -> None:
    history = DynamoDBChatMessageHistory(fresh_id(), adapter)
    with count_requests(adapter) as log:
        with pytest.raises(ValidationError, match="cannot be stored exactly"):
            history.add_messages([HumanMessage("fine"), bad])
        with pytest.raises(ValidationError):
            asyncio.run(history.aadd_messages([bad]))
    assert log.total == 0
    assert history.messages == []


def test_bad_arguments_are_refused(adapter: DynamoDBAdapter) -> None:
    bad_arguments: list[dict[str, Any]] = [
        {"max_messages": 0},
        {"max_messages": True},
        {"max_tokens": -1},
        {"reserve_tokens": -1},
        {"max_messages": 5, "max_tokens": 100},
        {"new_session": {"id": "another"}},
        {"new_session": {"status": "sleeping"}},
    ]
    for arguments in bad_arguments:
        with pytest.raises(ValidationError):
            DynamoDBChatMessageHistory("chat", adapter, **arguments)
    with pytest.raises(ValidationError):
        DynamoDBChatMessageHistory("", adapter)
    with pytest.raises(ValidationError):
        DynamoDBChatMessageHistory("chat", object())  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        DynamoDBChatMessageHistory("chat", adapter).add_messages(HumanMessage("one"))  # type: ignore[arg-type]


# --- windows, on read -----------------------------------------------------------------


def test_the_newest_messages_window_reads_one_query(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    session_id = fresh_id()
    full = DynamoDBChatMessageHistory(session_id, adapter)
    conversation: list[BaseMessage] = [
        HumanMessage(f"question {i}") if i % 2 == 0 else AIMessage(f"answer {i}") for i in range(60)
    ]
    full.add_messages(conversation)
    window = DynamoDBChatMessageHistory(session_id, adapter, max_messages=5)
    async_window = DynamoDBChatMessageHistory(session_id, aio, max_messages=5)
    with count_requests(adapter) as log:
        assert window.messages == conversation[-5:]
    assert log.operations == ["GetItem", "Query"]  # is the session live? then one query
    with count_requests(adapter) as log:
        assert asyncio.run(async_window.aget_messages()) == conversation[-5:]
    assert sorted(log.operations) == ["GetItem", "Query"]

    # Writing through a window appends to the whole history; nothing is deleted.
    window.add_messages([HumanMessage("one more")])
    assert window.messages == [*conversation[-4:], HumanMessage("one more")]
    assert full.messages == [*conversation, HumanMessage("one more")]
    assert len(adapter.get_messages(session_id)) == 61
    assert DynamoDBChatMessageHistory(session_id, adapter, max_messages=100).messages == (
        full.messages
    )


def test_the_token_budget_window_keeps_system_messages(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    session_id = fresh_id()

    def words(message: BaseMessage) -> int:
        return len(message.text.split())

    writer = DynamoDBChatMessageHistory(session_id, adapter, token_counter=words)
    system = SystemMessage("you are a careful billing agent")  # 6
    turns: list[BaseMessage] = [
        HumanMessage("where is my refund"),  # 4
        AIMessage("it was sent on monday"),  # 5
        HumanMessage("thanks a lot"),  # 3
        AIMessage("you are welcome"),  # 3
    ]
    writer.add_messages([system, *turns])
    budget = DynamoDBChatMessageHistory(session_id, adapter, max_tokens=15, reserve_tokens=2)
    with count_requests(adapter) as log:
        # 13 tokens: 6 for the system prompt, room for the last two turns (3 + 3).
        assert budget.messages == [system, *turns[-2:]]
    assert log.operations == ["GetItem", "Query", "Query"]
    async_budget = DynamoDBChatMessageHistory(session_id, aio, max_tokens=6)
    assert asyncio.run(async_budget.aget_messages()) == [system]
    assert writer.messages == [system, *turns]
    assert len(adapter.get_messages(session_id)) == 5


def test_usage_metadata_gives_ai_messages_their_token_count(adapter: DynamoDBAdapter) -> None:
    session_id = fresh_id()
    history = DynamoDBChatMessageHistory(session_id, adapter)
    reply = AIMessage(
        "short answer",
        usage_metadata={"input_tokens": 900, "output_tokens": 4, "total_tokens": 904},
    )
    history.add_messages([HumanMessage("a long question"), reply])
    assert [m.token_count for m in adapter.get_messages(session_id)] == [None, 4]
    assert DynamoDBChatMessageHistory(session_id, adapter, max_tokens=4).messages == [
        HumanMessage("a long question"),  # uncounted: 0
        reply,
    ]
    assert DynamoDBChatMessageHistory(session_id, adapter, max_tokens=3).messages == []


# --- async: the loop never waits for a request -----------------------------------------


@pytest.mark.parametrize("flavour", ["sync adapter", "async adapter"])
def test_async_methods_never_wait_for_a_request_on_the_event_loop(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter, flavour: str
) -> None:
    """A sync adapter's requests are made on worker threads; an async adapter's on the
    loop's thread, inside bridged calls, whose waits the loop awaits."""
    history = DynamoDBChatMessageHistory(
        fresh_id(), adapter if flavour == "sync adapter" else aio, max_messages=10
    )
    senders: list[tuple[int, bool]] = []

    def record(**_: Any) -> None:
        senders.append((threading.get_ident(), bridged()))

    async def run() -> tuple[int, LoopThreadCalls]:
        with LoopThreadCalls() as calls:
            await history.aadd_messages([HumanMessage("hi"), AIMessage("hello")])
            assert await history.aget_messages() == [HumanMessage("hi"), AIMessage("hello")]
            await history.aclear()
        return threading.get_ident(), calls

    events = adapter.models.client.meta.events
    events.register("before-call.dynamodb", record, unique_id="senders")
    try:
        loop_thread, calls = asyncio.run(run())
    finally:
        events.unregister("before-call.dynamodb", unique_id="senders")
    # 3 for the first add (creates the session), 2 for the read (session, messages), clear x2
    assert len(senders) == 7
    if flavour == "sync adapter":
        assert all(thread != loop_thread for thread, _ in senders)
    else:
        assert senders == [(loop_thread, True)] * 7
    assert calls.blocking() == []


# --- LangChain wiring --------------------------------------------------------------


def test_the_readme_snippet_runs(adapter: DynamoDBAdapter) -> None:
    store = adapter
    # The README's three lines:
    from session_store.integrations.langchain import DynamoDBChatMessageHistory

    history = DynamoDBChatMessageHistory("chat-42", store)
    history.add_messages([HumanMessage("Where is my refund?"), AIMessage("Let me check.")])

    assert history.messages == [HumanMessage("Where is my refund?"), AIMessage("Let me check.")]
    assert stored_of(store, "chat-42") == [
        ("user", "Where is my refund?"),
        ("assistant", "Let me check."),
    ]


def test_runnable_with_message_history_keeps_the_conversation(adapter: DynamoDBAdapter) -> None:
    replies = [
        AIMessage(
            "Your refund was sent on Nov 20.",
            usage_metadata={"input_tokens": 12, "output_tokens": 9, "total_tokens": 21},
        ),
        AIMessage("You asked about your refund."),
        AIMessage("Anything else?"),
    ]
    prompts: list[list[BaseMessage]] = []

    def seen(prompt: PromptValue) -> PromptValue:
        prompts.append(prompt.to_messages())
        return prompt

    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You are a billing agent."),
            MessagesPlaceholder("history"),
            ("human", "{question}"),
        ]
    )
    chain = prompt | RunnableLambda(seen) | FakeMessagesListChatModel(responses=replies)
    with_history = RunnableWithMessageHistory(
        chain,
        lambda session_id: DynamoDBChatMessageHistory(session_id, adapter),
        input_messages_key="question",
        history_messages_key="history",
    )
    config: Any = {"configurable": {"session_id": "chat-runnable"}}
    first = with_history.invoke({"question": "Where is my refund?"}, config=config)
    second = with_history.invoke({"question": "What did I ask?"}, config=config)
    third = asyncio.run(with_history.ainvoke({"question": "Thanks!"}, config=config))

    conversation = [
        HumanMessage("Where is my refund?"),
        first,
        HumanMessage("What did I ask?"),
        second,
        HumanMessage("Thanks!"),
        third,
    ]
    assert [m.text for m in conversation[1::2]] == [r.text for r in replies]
    assert DynamoDBChatMessageHistory("chat-runnable", adapter).messages == conversation
    # The model saw the stored history before each new question.
    assert prompts[1][1:-1] == conversation[:2]
    assert prompts[2][1:-1] == conversation[:4]
    assert [m.token_count for m in adapter.get_messages("chat-runnable")][1] == 9


# --- the core install does not need LangChain ------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )


def test_the_core_package_never_imports_langchain() -> None:
    done = run_python(
        "import importlib, pkgutil, sys\n"
        "import session_store\n"
        "for module in pkgutil.walk_packages(session_store.__path__, 'session_store.'):\n"
        "    if not module.name.startswith('session_store.integrations.'):\n"
        "        importlib.import_module(module.name)\n"
        "frameworks = ('langchain_core', 'langchain')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in frameworks)\n"
        "print(loaded)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_langchain_the_import_error_says_what_to_install() -> None:
    done = run_python(
        "import sys\n"
        "sys.modules['langchain_core'] = None  # as if not installed\n"
        "try:\n"
        "    import session_store.integrations.langchain\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "install session-store[langchain]" in done.stdout


# --- assignment and unreadable messages ------------------------------------------------


def test_messages_is_assignable_as_in_memory(adapter: DynamoDBAdapter) -> None:
    history = DynamoDBChatMessageHistory(fresh_id(), adapter)
    reference = InMemoryChatMessageHistory()
    first = [HumanMessage("one"), AIMessage("two")]
    second = [SystemMessage("be brief"), HumanMessage("three")]
    for chat in (history, reference):
        chat.add_messages(first)
        chat.messages = second
    assert history.messages == reference.messages == second
    stored = adapter.get_session(history.session_id)
    assert stored is not None
    assert stored.message_count == 2


def test_assigning_a_bad_message_keeps_the_history(adapter: DynamoDBAdapter) -> None:
    history = DynamoDBChatMessageHistory(fresh_id(), adapter)
    history.add_messages([HumanMessage("kept")])
    with pytest.raises(ValidationError):
        history.messages = [HumanMessage("new"), HumanMessage("x", additional_kwargs={"t": (1,)})]
    assert history.messages == [HumanMessage("kept")]


def _corrupt(adapter: DynamoDBAdapter, session_id: str, message_id: str) -> None:
    """The message's ``metadata`` is no longer JSON, as a foreign writer could leave it."""
    created = next(m for m in adapter.get_messages(session_id) if m.id == message_id).created_at
    adapter.models.client.update_item(
        TableName=adapter.config.table_name,
        Key={
            "PK": {"S": keys.session_pk(session_id)},
            "SK": {"S": keys.message_sk(created, message_id)},
        },
        UpdateExpression="SET #m = :bad",
        ExpressionAttributeNames={"#m": "metadata"},
        ExpressionAttributeValues={":bad": {"S": "not valid json {{{"}},
    )


@pytest.mark.parametrize("window", [None, 2])
def test_an_unreadable_message_is_skipped_and_kept(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter, window: int | None
) -> None:
    session_id = fresh_id()
    writer = DynamoDBChatMessageHistory(session_id, adapter)
    writer.add_messages([HumanMessage("a"), AIMessage("b"), HumanMessage("c")])
    newest = adapter.get_messages(session_id, {"order": "desc", "limit": 1})[0]
    _corrupt(adapter, session_id, newest.id)
    expected = [HumanMessage("a"), AIMessage("b")][-(window or 2) :]
    for adapter_kind in (adapter, aio):
        history = DynamoDBChatMessageHistory(session_id, adapter_kind, max_messages=window)
        assert history.messages == expected
        assert asyncio.run(history.aget_messages()) == expected
    stored = adapter.get_session(session_id)
    assert stored is not None
    assert stored.message_count == 3  # nothing was deleted
