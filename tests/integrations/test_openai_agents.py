"""DynamoDBSession: the OpenAI Agents SDK's session protocol, checked against its SQLiteSession.

Tests are plain functions that call ``asyncio.run``: no async plugin needed.
Every test gets a fresh table on each backend (``adapter`` fixture).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from agents import Agent, RunConfig, Runner, SQLiteSession, Usage, function_tool
from agents.items import ModelResponse, TResponseInputItem
from agents.memory import Session, SessionSettings
from agents.models.interface import Model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputItem,
    ResponseOutputMessage,
    ResponseOutputText,
)

from session_store import (
    AsyncDynamoDBAdapter,
    DynamoDBAdapter,
    TableConfig,
    ValidationError,
)
from session_store._bridge import wait_for_io
from session_store.integrations.openai_agents import (
    CONTENT_LIMIT,
    ITEM_ANNOTATION,
    DynamoDBSession,
    items_of,
)
from session_store.testing.requests import count_requests

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def aio(adapter: DynamoDBAdapter) -> Iterator[AsyncDynamoDBAdapter]:
    """An async twin of the test's adapter (same client, so requests are counted)."""
    wrapper = AsyncDynamoDBAdapter.from_sync(adapter)
    yield wrapper
    asyncio.run(wrapper.close())


def fresh_id(prefix: str = "conversation") -> str:
    return f"{prefix}-{uuid.uuid4()}"


def items(value: list[dict[str, Any]]) -> list[TResponseInputItem]:
    return cast("list[TResponseInputItem]", value)


# --- realistic items ------------------------------------------------------------------


def user_text(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant_reply(message_id: str, *texts: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []} for text in texts],
    }


def function_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": json.dumps(arguments, ensure_ascii=False),
        "status": "completed",
    }


def function_output(call_id: str, output: Any) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


CONVERSATION = [
    {"role": "developer", "content": "Answer in one sentence."},
    user_text("Wie wird das Wetter in Zürich? ☔"),
    function_call("call_1", "get_weather", {"city": "Zürich", "days": 2}),
    function_output("call_1", "Regen, 12 °C"),
    {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "Rain expected."}],
    },
    assistant_reply("msg_1", "Es regnet, 12 °C.", "Nimm einen Schirm mit."),
    {
        "type": "message",
        "role": "user",
        "content": [
            {"type": "input_text", "text": "And here?"},
            {"type": "input_image", "image_url": "https://example.com/sky.png", "detail": "auto"},
        ],
    },
    {"type": "mcp_list_tools", "id": "mcpl_1", "server_label": "docs", "tools": [], "error": None},
]


# --- the protocol -----------------------------------------------------------------------


def test_it_is_an_sdk_session(aio: AsyncDynamoDBAdapter) -> None:
    session: Session = DynamoDBSession(fresh_id(), aio)
    assert isinstance(session, Session)
    assert session.session_settings == SessionSettings()
    configured = DynamoDBSession(fresh_id(), aio, session_settings={"limit": 2})
    assert configured.session_settings == SessionSettings(limit=2)


def test_items_come_back_exactly_as_added(aio: AsyncDynamoDBAdapter) -> None:
    session = DynamoDBSession(fresh_id(), aio)

    async def scenario() -> None:
        assert await session.get_items() == []
        assert await session.pop_item() is None
        await session.add_items(items(CONVERSATION[:4]))
        await session.add_items(items(CONVERSATION[4:]))
        assert await session.get_items() == CONVERSATION
        assert await session.get_items(3) == CONVERSATION[-3:]
        assert await session.get_items(0) == []
        assert await session.get_items(-1) == CONVERSATION
        assert await session.get_items(100) == CONVERSATION
        assert await session.pop_item() == CONVERSATION[-1]
        assert await session.pop_item() == CONVERSATION[-2]
        assert await session.get_items() == CONVERSATION[:-2]
        await session.clear_session()
        assert await session.get_items() == []
        assert await session.pop_item() is None
        await session.add_items(items([user_text("again")]))
        assert await session.get_items() == [user_text("again")]

    asyncio.run(scenario())


def test_session_settings_limit_is_the_default(aio: AsyncDynamoDBAdapter) -> None:
    session = DynamoDBSession(fresh_id(), aio, session_settings=SessionSettings(limit=2))

    async def scenario() -> None:
        await session.add_items(items(CONVERSATION))
        assert await session.get_items() == CONVERSATION[-2:]
        assert await session.get_items(5) == CONVERSATION[-5:]

    asyncio.run(scenario())


# --- parity with the SDK's SQLiteSession -----------------------------------------------

_text = st.text(max_size=24)
_ids = st.text(alphabet="abcdef0123456789", min_size=3, max_size=6)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_input_parts = st.lists(
    st.one_of(
        _text.map(lambda text: {"type": "input_text", "text": text}),
        _ids.map(
            lambda name: {
                "type": "input_image",
                "image_url": f"https://example.com/{name}.png",
                "detail": "auto",
            }
        ),
    ),
    min_size=1,
    max_size=3,
)
_items = st.one_of(
    st.builds(
        lambda role, text: {"role": role, "content": text},
        st.sampled_from(["user", "assistant", "system", "developer"]),
        _text,
    ),
    st.builds(
        lambda role, parts: {"type": "message", "role": role, "content": parts},
        st.sampled_from(["user", "system", "developer"]),
        _input_parts,
    ),
    st.builds(
        lambda message_id, texts: assistant_reply(f"msg_{message_id}", *texts),
        _ids,
        st.lists(_text, min_size=1, max_size=2),
    ),
    st.builds(
        lambda call_id, name, arguments: function_call(f"call_{call_id}", name, arguments),
        _ids,
        st.sampled_from(["get_weather", "search_docs", "book_table"]),
        st.dictionaries(st.sampled_from(["city", "query", "people"]), _json, max_size=3),
    ),
    st.builds(
        lambda call_id, output: function_output(f"call_{call_id}", output),
        _ids,
        st.one_of(_text, _input_parts),
    ),
    st.builds(
        lambda item_id, texts: {
            "type": "reasoning",
            "id": f"rs_{item_id}",
            "summary": [{"type": "summary_text", "text": text} for text in texts],
        },
        _ids,
        st.lists(_text, max_size=2),
    ),
    st.builds(
        lambda kind, payload: {"type": kind, "payload": payload},
        st.sampled_from(["mcp_call", "web_search_call", "a_future_item"]),
        _json,
    ),
)
_limits = st.sampled_from([None, 0, 1, 2, 3, 5, 100, -1, 2_000_000])
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(_items, max_size=3)),
        st.tuples(st.just("get"), _limits),
        st.tuples(st.just("pop"), st.none()),
        st.tuples(st.just("clear"), st.none()),
    ),
    min_size=1,
    max_size=12,
)


async def apply(session: Session, step: tuple[str, Any]) -> Any:
    """Run one step of a parity sequence; what it returns is compared across sessions."""
    action, argument = step
    if action == "add":
        return await session.add_items(argument)
    if action == "get":
        return await session.get_items(argument)
    if action == "pop":
        return await session.pop_item()
    return await session.clear_session()


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=_steps, default_limit=st.sampled_from([None, 1, 3]))
def test_parity_with_sqlite_session(
    aio: AsyncDynamoDBAdapter, steps: list[tuple[str, Any]], default_limit: int | None
) -> None:
    async def both() -> None:
        chosen = SessionSettings(limit=default_limit)
        reference = SQLiteSession("parity", session_settings=chosen)
        ours = DynamoDBSession(fresh_id("parity"), aio, session_settings=chosen)
        try:
            for number, step in enumerate(steps):
                expected = await apply(reference, step)
                assert await apply(ours, step) == expected, f"step {number}: {step}"
            assert await ours.get_items(-1) == await reference.get_items(-1)
        finally:
            reference.close()

    asyncio.run(both())


# --- requests -------------------------------------------------------------------------------


def test_get_items_reads_only_the_newest_messages(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    session = DynamoDBSession(fresh_id(), aio)
    added = [user_text(f"turn {index}") for index in range(60)]
    asyncio.run(session.add_items(items(added)))
    # The session item (is it live?) and one query, sent together.
    with count_requests(adapter) as log:
        assert asyncio.run(session.get_items(3)) == added[-3:]
    assert sorted(log.operations) == ["GetItem", "Query"]
    with count_requests(adapter) as log:
        assert asyncio.run(session.get_items()) == added
    assert sorted(log.operations) == ["GetItem", "Query"]
    with count_requests(adapter) as log:
        assert asyncio.run(session.get_items(0)) == []
    assert log.total == 0


def test_pop_item_costs_the_same_whatever_the_size(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    small, large = DynamoDBSession(fresh_id(), aio), DynamoDBSession(fresh_id(), aio)
    asyncio.run(small.add_items(items([user_text("a"), user_text("b")])))
    asyncio.run(large.add_items(items([user_text(f"m{index}") for index in range(80)])))
    for session, newest in ((small, "b"), (large, "m79")):
        # The session and the newest message (readable?), then the conditional pop.
        with count_requests(adapter) as log:
            assert asyncio.run(session.pop_item()) == user_text(newest)
        assert sorted(log.operations[:2]) == ["GetItem", "Query"]
        assert log.operations[2:] == ["Query", "TransactWriteItems"]
    assert adapter.get_session(large.session_id).message_count == 79  # type: ignore[union-attr]
    with count_requests(adapter) as log:
        assert asyncio.run(DynamoDBSession(fresh_id(), aio).pop_item()) is None
    assert sorted(log.operations) == ["GetItem", "Query"]


def test_writes_create_the_session_once(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    session = DynamoDBSession(fresh_id(), aio)
    with count_requests(adapter) as log:
        asyncio.run(session.add_items([]))
    assert log.total == 0
    with count_requests(adapter) as log:
        asyncio.run(session.add_items(items([user_text("hi"), assistant_reply("msg_1", "hello")])))
    # The first append finds no session; it is created, then the batch is one transaction.
    assert log.operations == ["TransactWriteItems", "PutItem", "TransactWriteItems"]
    with count_requests(adapter) as log:
        asyncio.run(session.add_items(items([user_text("more")])))
    assert log.operations == ["TransactWriteItems"]
    stored = adapter.get_session(session.session_id)
    assert stored is not None
    assert stored.message_count == 3


def test_clear_session_keeps_the_session_item(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    session = DynamoDBSession(fresh_id(), aio, user_id="u-1")
    asyncio.run(session.add_items(items(CONVERSATION)))
    asyncio.run(session.clear_session())
    stored = adapter.get_session(session.session_id)
    assert stored is not None
    assert (stored.user_id, stored.message_count) == ("u-1", 0)
    assert adapter.get_messages(session.session_id) == []
    with count_requests(adapter) as log:
        asyncio.run(session.add_items(items([user_text("fresh start")])))
    assert log.operations == ["TransactWriteItems"]
    assert asyncio.run(session.get_items()) == [user_text("fresh start")]


# --- what the table holds ----------------------------------------------------------------


def test_items_are_messages_with_mapped_roles_and_readable_content(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    session = DynamoDBSession(fresh_id(), aio)
    asyncio.run(session.add_items(items(CONVERSATION)))
    messages = adapter.get_messages(session.session_id)
    assert [(message.role.value, message.content) for message in messages] == [
        ("system", "Answer in one sentence."),
        ("user", "Wie wird das Wetter in Zürich? ☔"),
        ("assistant", 'get_weather({"city": "Zürich", "days": 2})'),
        ("tool", "Regen, 12 °C"),
        ("assistant", "Rain expected."),
        ("assistant", "Es regnet, 12 °C.\nNimm einen Schirm mit."),
        ("user", "And here?\n[image]"),
        ("assistant", "[mcp_list_tools]"),
    ]
    for message, item in zip(messages, CONVERSATION, strict=True):
        assert message.metadata is not None
        assert message.metadata.annotations == {ITEM_ANNOTATION: item}
        assert message.token_count is None
    assert items_of(messages) == CONVERSATION


def test_other_item_kinds_map_to_roles(adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter) -> None:
    expected: list[tuple[str, dict[str, Any]]] = [
        ("tool", {"type": "computer_call_output", "call_id": "c", "output": {"type": "x"}}),
        ("tool", {"type": "local_shell_call_output", "id": "l", "output": "ok"}),
        ("user", {"type": "mcp_approval_response", "approval_request_id": "a", "approve": True}),
        ("assistant", {"type": "web_search_call", "id": "ws", "status": "completed"}),
        ("assistant", {"role": "critic", "content": "an unknown role"}),
        ("assistant", {"type": "item_reference", "id": "msg_0"}),
    ]
    session = DynamoDBSession(fresh_id(), aio)
    asyncio.run(session.add_items(items([item for _, item in expected])))
    messages = adapter.get_messages(session.session_id)
    assert [message.role.value for message in messages] == [role for role, _ in expected]
    assert [message.content for message in messages] == [
        "[x]",
        "ok",
        "[mcp_approval_response]",
        "[web_search_call]",
        "an unknown role",
        "[item_reference]",
    ]


def test_long_text_is_cut_in_content_but_kept_whole_in_the_item(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    session = DynamoDBSession(fresh_id(), aio)
    long_text = "ü" * (CONTENT_LIMIT * 3)
    asyncio.run(session.add_items(items([function_output("call_9", long_text)])))
    (message,) = adapter.get_messages(session.session_id)
    assert isinstance(message.content, str)
    assert len(message.content) == CONTENT_LIMIT
    assert message.content.endswith("…")
    assert asyncio.run(session.get_items()) == [function_output("call_9", long_text)]


def test_the_first_write_creates_the_session_with_the_given_owner(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    session = DynamoDBSession(
        fresh_id(),
        aio,
        user_id="user-7",
        active_agent_id="triage",
        metadata={"title": "Weather", "tags": ["support"]},
    )
    assert adapter.get_session(session.session_id) is None
    asyncio.run(session.add_items(items([user_text("hello")])))
    stored = adapter.get_session(session.session_id)
    assert stored is not None
    assert (stored.user_id, stored.active_agent_id, stored.status.value) == (
        "user-7",
        "triage",
        "active",
    )
    assert (stored.metadata.title, stored.metadata.tags) == ("Weather", ["support"])
    default = DynamoDBSession(fresh_id(), aio)
    asyncio.run(default.add_items(items([user_text("hello")])))
    made = adapter.get_session(default.session_id)
    assert made is not None
    assert made.metadata.source == "openai-agents"
    assert made.user_id is None


def test_an_existing_session_is_used_as_it_is(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    existing = adapter.create_session({"status": "paused", "user_id": "owner"})
    session = DynamoDBSession(existing.id, aio, user_id="someone-else")
    with count_requests(adapter) as log:
        asyncio.run(session.add_items(items([user_text("hello")])))
    assert log.operations == ["TransactWriteItems"]
    stored = adapter.get_session(existing.id)
    assert stored is not None
    # Untouched but for the append, which moves the version by one.
    assert (stored.user_id, stored.status.value, stored.version) == ("owner", "paused", 2)


def test_sessions_on_one_table_do_not_see_each_other(aio: AsyncDynamoDBAdapter) -> None:
    first, second = DynamoDBSession(fresh_id(), aio), DynamoDBSession(fresh_id(), aio)

    async def scenario() -> None:
        await first.add_items(items([user_text("first 1"), user_text("first 2")]))
        await second.add_items(items([user_text("second 1")]))
        assert await first.get_items() == [user_text("first 1"), user_text("first 2")]
        assert await second.get_items() == [user_text("second 1")]
        assert await second.pop_item() == user_text("second 1")
        assert await first.get_items(1) == [user_text("first 2")]
        await first.clear_session()
        assert await second.get_items() == []
        await second.add_items(items([user_text("second 2")]))
        assert await first.get_items() == []
        assert await second.get_items() == [user_text("second 2")]

    asyncio.run(scenario())


def test_messages_written_by_other_code_read_as_plain_messages(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    stored = adapter.create_session({"status": "active"})
    adapter.add_message(stored.id, {"role": "system", "content": "be kind"})
    adapter.add_message(
        stored.id,
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        },
    )
    adapter.add_message(
        stored.id, {"role": "assistant", "content": [{"type": "text", "text": "ok"}]}
    )
    adapter.add_message(stored.id, {"role": "tool", "content": "42"})
    session = DynamoDBSession(stored.id, aio)
    asyncio.run(session.add_items(items([user_text("and now?")])))
    assert asyncio.run(session.get_items()) == [
        {"role": "system", "content": "be kind"},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
            ],
        },
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "42"},
        user_text("and now?"),
    ]
    assert asyncio.run(session.get_items(2)) == [
        {"role": "user", "content": "42"},
        user_text("and now?"),
    ]


# --- bad input ----------------------------------------------------------------------------


def test_a_batch_with_a_bad_item_writes_nothing(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    session = DynamoDBSession(fresh_id(), aio)
    huge = function_output("call_1", "x" * 450_000)
    bad_batches: list[list[Any]] = [
        [user_text("fine"), huge],
        [user_text("fine"), {"type": "function_call_output", "output": float("nan")}],
        [user_text("fine"), {"role": "user", "content": object()}],
        [user_text("fine"), "not an item"],
        [user_text("fine"), user_text("lone \ud800 surrogate")],
    ]
    for batch in bad_batches:
        with count_requests(adapter) as log, pytest.raises(ValidationError):
            asyncio.run(session.add_items(cast("list[TResponseInputItem]", batch)))
        assert log.total == 0
    with pytest.raises(
        ValidationError, match=r"OpenAI Agents item .* over DynamoDB's 409,600-byte"
    ):
        asyncio.run(session.add_items(items([huge])))
    assert adapter.get_session(session.session_id) is None
    assert asyncio.run(session.get_items()) == []


@pytest.mark.parametrize(
    ("session_id", "options"),
    [
        ("", {}),
        ("x" * 3000, {}),
        ("ok", {"user_id": ""}),
        ("ok", {"active_agent_id": "a" * 3000}),
        ("ok", {"metadata": {"tags": "not a list"}}),
    ],
)
def test_bad_construction_is_refused(
    aio: AsyncDynamoDBAdapter, session_id: str, options: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        DynamoDBSession(session_id, aio, **options)


def test_bad_settings_are_refused_as_the_sdk_refuses_them(aio: AsyncDynamoDBAdapter) -> None:
    with pytest.raises(ValueError, match="limit") as sdk_error:
        SQLiteSession("s", session_settings={"limit": "many"})
    with pytest.raises(type(sdk_error.value), match="limit"):
        DynamoDBSession("s", aio, session_settings={"limit": "many"})


def test_it_refuses_what_is_not_an_adapter() -> None:
    with pytest.raises(ValidationError, match="AsyncDynamoDBAdapter"):
        DynamoDBSession("s", cast("Any", object()))


# --- concurrency, cancellation, lifecycle -------------------------------------------------


def test_concurrent_pops_on_one_session_return_different_items(aio: AsyncDynamoDBAdapter) -> None:
    session = DynamoDBSession(fresh_id(), aio)

    async def scenario() -> None:
        await session.add_items(items([user_text(f"m{index}") for index in range(6)]))
        popped = await asyncio.gather(*(session.pop_item() for _ in range(4)))
        assert sorted(cast("list[dict[str, Any]]", popped), key=str) == sorted(
            [user_text(f"m{index}") for index in range(2, 6)], key=str
        )
        assert await session.get_items() == [user_text("m0"), user_text("m1")]

    asyncio.run(scenario())


def test_pops_from_separate_instances_return_different_items(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    """No shared lock between them: the store's conditional delete keeps pops apart."""
    session_id = fresh_id()
    seeded = [user_text(f"m{index}") for index in range(12)]
    asyncio.run(DynamoDBSession(session_id, aio).add_items(items(seeded)))

    async def scenario() -> list[Any]:
        sessions = [DynamoDBSession(session_id, aio) for _ in range(8)]
        return await asyncio.gather(*(session.pop_item() for session in sessions))

    popped = asyncio.run(scenario())
    assert sorted(map(str, popped)) == sorted(map(str, seeded[4:]))
    left = adapter.get_session(session_id)
    assert left is not None
    assert (left.message_count, len(adapter.get_messages(session_id))) == (
        4,
        4,
    )


def test_a_cancelled_add_items_still_stores_every_item(
    adapter: DynamoDBAdapter, aio: AsyncDynamoDBAdapter
) -> None:
    session = DynamoDBSession(fresh_id(), aio)
    asyncio.run(session.add_items(items([user_text("before")])))
    started, cancelled = threading.Event(), threading.Event()

    def hold_until_cancelled(**_: Any) -> None:
        started.set()
        # The request is sent only once the task is cancelled. On the loop thread (a
        # bridged call) the wait goes to an I/O thread, so the loop can cancel the task.
        wait_for_io(cancelled.wait, 30)

    events = adapter.models.client.meta.events
    events.register("before-call.dynamodb", hold_until_cancelled, unique_id="test-started")
    batch = [user_text(f"batch {index}") for index in range(3)]

    async def scenario() -> None:
        task = asyncio.create_task(session.add_items(items(batch)))
        await asyncio.to_thread(started.wait)  # the append is in flight
        task.cancel()
        cancelled.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(scenario())
    finally:
        events.unregister("before-call.dynamodb", unique_id="test-started")
    assert asyncio.run(session.get_items()) == [user_text("before"), *batch]


def test_a_sync_adapter_is_used_on_worker_threads_and_left_open(adapter: DynamoDBAdapter) -> None:
    session = DynamoDBSession(fresh_id(), adapter)
    assert session.adapter is adapter

    async def scenario() -> None:
        await session.add_items(items([user_text("hello")]))
        assert await session.get_items() == [user_text("hello")]

    asyncio.run(scenario())
    session.close()
    assert [m.content for m in adapter.get_messages(session.session_id)] == ["hello"]


def test_an_async_adapter_passed_in_stays_open(aio: AsyncDynamoDBAdapter) -> None:
    session = DynamoDBSession(fresh_id(), aio)
    asyncio.run(session.add_items(items([user_text("one")])))
    session.close()
    assert not aio.closed
    assert asyncio.run(DynamoDBSession(session.session_id, aio).get_items()) == [user_text("one")]


# --- with the SDK's Runner (a scripted model instead of the OpenAI API) ------------------


class ScriptedModel(Model):
    """A model that first calls ``get_weather``, then answers; it records what it was sent."""

    def __init__(self) -> None:
        self.inputs: list[list[TResponseInputItem]] = []

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        *args: Any,
        **kwargs: Any,
    ) -> ModelResponse:
        sent = [cast("TResponseInputItem", user_text(input))] if isinstance(input, str) else input
        self.inputs.append(list(sent))
        turn = len(self.inputs)
        last = sent[-1]
        output: ResponseOutputItem
        if isinstance(last, dict) and last.get("type") != "function_call_output":
            output = ResponseFunctionToolCall(
                type="function_call",
                id=f"fc_{turn}",
                call_id=f"call_{turn}",
                name="get_weather",
                arguments=json.dumps({"city": "Zürich"}),
                status="completed",
            )
        else:
            output = ResponseOutputMessage(
                id=f"msg_{turn}",
                type="message",
                role="assistant",
                status="completed",
                content=[ResponseOutputText(type="output_text", text="Rain.", annotations=[])],
            )
        return ModelResponse(output=[output], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError("the tests run without streaming")


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Regen in {city}"


async def converse(session: Session) -> tuple[list[str], ScriptedModel]:
    """Two runs of an agent with a tool on ``session``; the final outputs and the model."""
    model = ScriptedModel()
    agent = Agent(name="weather", instructions="Be brief.", model=model, tools=[get_weather])
    config = RunConfig(tracing_disabled=True)
    outputs = []
    for question in ("Wetter in Zürich?", "Und morgen?"):
        result = await Runner.run(agent, question, session=session, run_config=config)
        outputs.append(str(result.final_output))
    return outputs, model


def test_runner_history_matches_sqlite_session(aio: AsyncDynamoDBAdapter) -> None:
    async def both() -> None:
        reference = SQLiteSession("runner")
        ours = DynamoDBSession(fresh_id(), aio)
        try:
            expected_outputs, expected_model = await converse(reference)
            outputs, model = await converse(ours)
            assert outputs == expected_outputs == ["Rain.", "Rain."]
            assert model.inputs == expected_model.inputs
            history = await ours.get_items()
            assert history == await reference.get_items()
            kinds = [item.get("type", item.get("role")) for item in cast("list[Any]", history)]
            assert kinds.count("function_call") == 2
            assert kinds.count("function_call_output") == 2
            # The second run's model saw the first run's conversation from the table.
            assert model.inputs[2][: len(history) // 2] == history[: len(history) // 2]
        finally:
            reference.close()

    asyncio.run(both())


def test_the_readme_snippet_runs(table_config: TableConfig) -> None:
    # The README's three lines; region and endpoint come from the test backend here.
    async def snippet() -> list[str]:
        adapter = AsyncDynamoDBAdapter(
            table_config.table_name,
            region=table_config.region,
            endpoint_url=table_config.endpoint_url,
        )
        session = DynamoDBSession("conversation-123", adapter)
        await adapter.create_table()
        outputs, _ = await converse(session)
        await adapter.close()
        return outputs

    assert asyncio.run(snippet()) == ["Rain.", "Rain."]


# --- packaging --------------------------------------------------------------------------------


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_the_core_install_does_not_import_the_sdk() -> None:
    done = _python(
        "import sys, session_store, session_store.integrations, session_store.cli\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'agents'))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    importers = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "session_store").rglob("*.py")
        if any(
            line.lstrip().startswith(("import agents", "from agents"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert importers == ["session_store/integrations/openai_agents.py"]


def test_a_missing_sdk_names_the_extra() -> None:
    done = _python(
        "import sys\n"
        "sys.modules['agents'] = None\n"
        "import session_store.integrations.openai_agents\n"
    )
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert "install session-store[openai-agents]" in done.stderr
