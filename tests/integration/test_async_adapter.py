"""AsyncDynamoDBAdapter on every backend: every method, concurrency, a free event loop.

Tests are plain functions that call ``asyncio.run``: no async plugin needed.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Iterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_store import (
    ConcurrencyError,
    DynamoDBAdapter,
    SessionExistsError,
    SessionNotFoundError,
    StorageAdapter,
    TableConfig,
    ValidationError,
)
from session_store._bridge import wait_for_io
from session_store.aio import DEFAULT_MAX_WORKERS, AsyncDynamoDBAdapter, AsyncStorageAdapter
from session_store.dynamodb._core import AdapterOptions
from session_store.testing.backends import Backend
from session_store.testing.requests import count_requests


def make_async(config: TableConfig, **options: Any) -> AsyncDynamoDBAdapter:
    return AsyncDynamoDBAdapter(
        config.table_name, region=config.region, endpoint_url=config.endpoint_url, **options
    )


@pytest.fixture
def aio(table_config: TableConfig) -> Iterator[AsyncDynamoDBAdapter]:
    """An ``AsyncDynamoDBAdapter`` on a fresh, created table."""
    made = make_async(table_config)
    asyncio.run(made.create_table())
    yield made
    asyncio.run(made.close())


class SlowRequests:
    """Make every DynamoDB call of an adapter sleep first (on the worker that sends it)."""

    def __init__(self, adapter: AsyncDynamoDBAdapter, seconds: float) -> None:
        self._events = adapter.models.client.meta.events
        self._seconds = seconds

    def _sleep(self, **_: Any) -> None:
        time.sleep(self._seconds)

    def __enter__(self) -> None:
        self._events.register("before-call.dynamodb", self._sleep, unique_id="test-slow")

    def __exit__(self, *_: object) -> None:
        self._events.unregister("before-call.dynamodb", unique_id="test-slow")


# --- shape --------------------------------------------------------------------


def test_it_mirrors_the_sync_adapter() -> None:
    sync_public = {
        name
        for name, _ in inspect.getmembers(DynamoDBAdapter, inspect.isfunction)
        if not name.startswith("_")
    }
    for name in sync_public:
        method = getattr(AsyncDynamoDBAdapter, name, None)
        assert method is not None, f"AsyncDynamoDBAdapter lacks {name}"
        if name.startswith("iter_"):
            assert inspect.isasyncgenfunction(method), name
        else:
            assert inspect.iscoroutinefunction(method), name
        sync_parameters = inspect.signature(getattr(DynamoDBAdapter, name)).parameters
        async_parameters = inspect.signature(method).parameters
        for parameter in sync_parameters.values():
            assert async_parameters[parameter.name].kind == parameter.kind, (name, parameter)
            assert async_parameters[parameter.name].default == parameter.default, (name, parameter)
    # The constructor takes DynamoDBAdapter's options as declared once (AdapterOptions,
    # checked against the sync signature below), sized by max_workers (16 by default).
    constructor = inspect.signature(AsyncDynamoDBAdapter.__init__).parameters
    assert constructor["options"].kind is inspect.Parameter.VAR_KEYWORD
    assert AsyncDynamoDBAdapter("t-async-defaults", region="us-east-1").max_workers == (
        DEFAULT_MAX_WORKERS
    )
    for name in vars(StorageAdapter):
        if not name.startswith("_"):
            assert name in vars(AsyncStorageAdapter), name
    assert inspect.iscoroutinefunction(AsyncDynamoDBAdapter.aclose)


def test_bad_worker_counts_are_refused() -> None:
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValidationError):
            AsyncDynamoDBAdapter("table", region="us-east-1", max_workers=bad)  # type: ignore[arg-type]


# --- every method ---------------------------------------------------------------


def ttl_removal(session_id: str) -> dict[str, Any]:
    """A DynamoDB Streams event saying the TTL service removed a session item."""
    return {
        "Records": [
            {
                "eventName": "REMOVE",
                "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
                "dynamodb": {
                    "Keys": {"PK": {"S": f"SESSION#{session_id}"}, "SK": {"S": "META"}},
                    "StreamViewType": "KEYS_ONLY",
                },
            }
        ]
    }


def test_every_method_works_through_the_async_adapter(table_config: TableConfig) -> None:
    async def tour() -> AsyncDynamoDBAdapter:
        async with make_async(table_config, session_ttl=timedelta(hours=1), max_workers=4) as db:
            protocol: AsyncStorageAdapter = db
            assert isinstance(protocol, AsyncStorageAdapter)
            assert isinstance(db.sync, DynamoDBAdapter)
            assert db.models is db.sync.models
            assert db.config.max_pool_connections == db.max_workers == 4

            assert await db.create_table() is True
            assert await db.create_table() is False
            await db.migrate()
            assert await db.migrate() == []
            assert (await db.health()).status == "healthy"

            session = await db.create_session(
                {"status": "active", "user_id": "u1", "active_agent_id": "a1"}
            )
            assert await db.get_session(session.id) == session
            with pytest.raises(SessionExistsError):
                await db.create_session({"id": session.id, "status": "active"})
            updated = await db.update_session(session.id, {"status": "paused"}, expected_version=1)
            assert (updated.version, updated.status.value) == (2, "paused")
            with pytest.raises(ConcurrencyError) as conflict:
                await db.update_session(session.id, {"status": "active"}, expected_version=1)
            assert conflict.value.actual_version == 2

            assert await db.list_sessions({"user_id": "u1"}) == [updated]
            page = await db.list_sessions_page({"active_agent_id": "a1"}, page_size=1)
            assert (page.items, page.next_cursor) == ([updated], None)
            assert [s async for s in db.iter_sessions({"status": "paused"})] == [updated]

            messages = [
                await db.add_message(
                    session.id, {"role": "user", "content": f"m{i}", "token_count": i + 1}
                )
                for i in range(3)
            ]
            assert await db.get_messages(session.id) == messages
            first = await db.get_messages_page(session.id, {"order": "desc"}, page_size=2)
            assert first.items == [messages[2], messages[1]]
            rest = await db.get_messages_page(
                session.id, {"order": "desc"}, cursor=first.next_cursor, page_size=2
            )
            assert (rest.items, rest.next_cursor) == ([messages[0]], None)
            assert [m async for m in db.iter_messages(session.id, {"roles": ["user"]})] == messages

            edited = await db.update_message(
                session.id, messages[0].id, {"content": "edited", "token_count": 10}
            )
            assert (edited.content, edited.token_count) == ("edited", 10)
            await db.delete_message(session.id, messages[1].id)
            await db.delete_message(session.id, messages[1].id)  # idempotent
            counted = await db.recount(session.id)
            assert (counted.message_count, counted.token_count) == (2, 10 + 3)
            with pytest.raises(SessionNotFoundError):
                await db.add_message("ghost", {"role": "user", "content": "x"})
            with pytest.raises(ValidationError):
                await db.get_messages_page(session.id, page_size=0)

            await db.delete_all_messages(session.id)
            emptied = await db.get_session(session.id)
            assert emptied is not None
            assert (emptied.message_count, emptied.token_count) == (0, 0)

            later = datetime.now(UTC) + timedelta(days=1)
            assert await db.get_expired_sessions(later) == [session.id]
            await db.add_message(session.id, {"role": "user", "content": "left behind"})
            assert await db.handle_stream_event(ttl_removal(session.id)) == 1
            assert await db.get_messages(session.id) == []
            swept: list[tuple[int, int]] = []
            assert await db.sweep_expired(later, progress=lambda *c: swept.append(c)) == 1
            assert swept == [(0, 1), (1, 1)]
            assert await db.get_session(session.id) is None

            other = await db.create_session({"status": "active"})
            await db.add_message(other.id, {"role": "user", "content": "bye"})
            await db.delete_session(other.id)
            await db.delete_session(other.id)  # idempotent
            assert await db.get_session(other.id) is None
            assert await db.get_messages(other.id) == []
        return db

    db = asyncio.run(tour())
    assert db.closed

    async def after_close() -> None:
        await db.aclose()  # closing twice is fine
        with pytest.raises(RuntimeError, match="closed"):
            await db.get_session("anything")

    asyncio.run(after_close())


def test_from_sync_wraps_and_leaves_the_adapter_usable(adapter: DynamoDBAdapter) -> None:
    wrapped = AsyncDynamoDBAdapter.from_sync(adapter)
    assert wrapped.sync is adapter
    assert wrapped.max_workers == adapter.config.max_pool_connections

    async def use() -> str:
        async with wrapped:
            return (await wrapped.create_session({"status": "active"})).id

    session_id = asyncio.run(use())
    assert adapter.get_session(session_id) is not None
    with pytest.raises(ValidationError):
        AsyncDynamoDBAdapter.from_sync(adapter, max_workers=0)


# --- concurrency ------------------------------------------------------------------


def test_concurrent_appends_leave_exact_counts(aio: AsyncDynamoDBAdapter) -> None:
    sessions_count, messages_count = 10, 200

    async def run() -> None:
        sessions = await asyncio.gather(
            *(aio.create_session({"status": "active"}) for _ in range(sessions_count))
        )
        appended = await asyncio.gather(
            *(
                aio.add_message(
                    sessions[i % sessions_count].id,
                    {"role": "user", "content": f"m{i}", "token_count": i},
                )
                for i in range(messages_count)
            )
        )
        assert len({m.id for m in appended}) == messages_count
        for index, session in enumerate(sessions):
            stored = await aio.get_session(session.id)
            assert stored is not None
            mine = [i for i in range(messages_count) if i % sessions_count == index]
            assert stored.message_count == len(mine) == messages_count // sessions_count
            assert stored.token_count == sum(mine)
            assert stored.version == 1 + len(mine)  # one increment per append
            listed = await aio.get_messages(session.id)
            assert sorted(m.id for m in listed) == sorted(
                m.id for m in appended if m.session_id == session.id
            )

    asyncio.run(run())


def test_concurrent_versioned_updates_have_one_winner(aio: AsyncDynamoDBAdapter) -> None:
    async def run() -> None:
        session = await aio.create_session({"status": "active"})
        outcomes = await asyncio.gather(
            *(
                aio.update_session(session.id, {"metadata": {"title": f"t{i}"}}, expected_version=1)
                for i in range(20)
            ),
            return_exceptions=True,
        )
        winners = [o for o in outcomes if not isinstance(o, BaseException)]
        losers = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(o, ConcurrencyError) and o.actual_version == 2 for o in losers)
        stored = await aio.get_session(session.id)
        assert stored == winners[0]

    asyncio.run(run())


# --- the event loop stays free ---------------------------------------------------


def test_event_loop_keeps_running_while_calls_wait_on_dynamodb(aio: AsyncDynamoDBAdapter) -> None:
    """A heartbeat ticking every 5 ms keeps ticking while slow calls are awaited."""

    async def run() -> None:
        session = await aio.create_session({"status": "active"})
        ticks = 0

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        beat = asyncio.create_task(heartbeat())
        await asyncio.sleep(0.02)
        try:
            with SlowRequests(aio, 0.02):
                # The measure works: the sync adapter called on the loop stops the heartbeat.
                before = ticks
                for _ in range(3):
                    aio.sync.get_session(session.id)
                assert ticks == before

                before = ticks
                for i in range(10):
                    await aio.add_message(session.id, {"role": "user", "content": f"m{i}"})
                await asyncio.gather(
                    *(aio.get_messages(session.id) for _ in range(5)),
                    aio.list_sessions(),
                    aio.recount(session.id),
                )
                during = ticks - before
        finally:
            beat.cancel()
        assert during >= 5  # typically dozens; a blocked loop manages at most one or two
        stored = await aio.get_session(session.id)
        assert stored is not None
        assert stored.message_count == 10

    asyncio.run(run())


def test_cancelling_the_caller_withdraws_queued_calls_but_not_started_ones(
    table_config: TableConfig,
) -> None:
    entered, release = threading.Event(), threading.Event()
    armed = False

    def gate(**_: Any) -> None:
        # A request held on the network: the call waits for I/O, the loop goes on.
        nonlocal armed
        if armed:
            armed = False
            entered.set()
            wait_for_io(release.wait, 10)

    async def run() -> None:
        nonlocal armed
        async with make_async(table_config, max_workers=1) as db:
            await db.create_table()
            session = await db.create_session({"status": "active"})
            db.models.client.meta.events.register("before-call.dynamodb", gate)
            armed = True
            started = asyncio.create_task(
                db.add_message(session.id, {"role": "user", "content": "sent"})
            )
            assert await asyncio.to_thread(entered.wait, 10)  # its request is under way
            queued = asyncio.create_task(db.create_session({"id": "queued", "status": "active"}))
            await asyncio.sleep(0)
            queued.cancel()
            with pytest.raises(asyncio.CancelledError):
                await queued
            started.cancel()
            release.set()
            with pytest.raises(asyncio.CancelledError):
                await started
            # One call at a time, first come first served: this runs after the started write.
            stored = await db.get_session(session.id)
            assert stored is not None
            assert stored.message_count == 1  # the started write was applied anyway
            assert await db.get_session("queued") is None  # the queued one never ran

    asyncio.run(run())


# --- async iteration ------------------------------------------------------------------


def test_async_iteration_walks_every_page(aio: AsyncDynamoDBAdapter, backend: Backend) -> None:
    # About 1.2 MB of messages: more than one DynamoDB page (1 MB each) on a real backend.
    blob = "x" * 40_000

    async def run() -> None:
        session = await aio.create_session({"status": "active", "user_id": "u1"})
        messages = [
            await aio.add_message(session.id, {"role": "user", "content": f"{i}:{blob}"})
            for i in range(30)
        ]
        with count_requests(aio) as log:
            walked = [m async for m in aio.iter_messages(session.id, page_size=7)]
        assert walked == messages
        if backend.name == "local":
            assert log.by_operation()["Query"] >= 2
        newest = [
            m.id
            async for m in aio.iter_messages(
                session.id, {"order": "desc", "limit": 11}, page_size=4
            )
        ]
        assert newest == [m.id for m in messages[::-1][:11]]

        taken = []
        async with aclosing(aio.iter_messages(session.id, page_size=5)) as stream:
            async for message in stream:
                taken.append(message)
                if len(taken) == 6:
                    break
        assert taken == messages[:6]

        with pytest.raises(ValidationError):
            [m async for m in aio.iter_messages(session.id, page_size=0)]

        for _ in range(30):
            await aio.create_session(
                {"status": "active", "user_id": "u2", "metadata": {"custom": {"blob": blob}}}
            )
        by_user = [s async for s in aio.iter_sessions({"user_id": "u2"}, page_size=4)]
        assert by_user == await aio.list_sessions({"user_id": "u2"})
        assert len(by_user) == 30
        scanned = [s async for s in aio.iter_sessions(page_size=8)]
        assert sorted(s.id for s in scanned) == sorted([session.id, *(s.id for s in by_user)])
        limited = [s async for s in aio.iter_sessions({"limit": 5, "offset": 3}, page_size=2)]
        assert limited == (await aio.list_sessions())[3:8]

    asyncio.run(run())


def test_the_options_are_declared_once() -> None:
    # AdapterOptions lists DynamoDBAdapter's keyword options; the async adapter takes them.
    parameters = inspect.signature(DynamoDBAdapter.__init__).parameters
    keywords = {name for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY}
    assert set(AdapterOptions.__annotations__) == keywords


def test_an_adapter_wraps_a_sync_adapter_given_in_place_of_a_table(
    adapter: DynamoDBAdapter,
) -> None:
    wrapped = AsyncDynamoDBAdapter(adapter, max_workers=2)
    assert (wrapped.sync, wrapped.max_workers) == (adapter, 2)
    asyncio.run(wrapped.close())
    assert adapter.get_session("absent") is None  # still open: it was not this one's to close
    with pytest.raises(ValidationError, match="wrapped"):
        AsyncDynamoDBAdapter(adapter, session_ttl=timedelta(days=1))
