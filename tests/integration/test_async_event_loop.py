"""AsyncDynamoDBAdapter under load: a pool sized for I/O, a loop that never waits.

Behaviour, not timing: which functions run on the event loop's thread (a
profiler on that thread records every call: the calls' work, and no wait),
how many requests are at the server at once and over how many connections
(counted by a proxy in front of DynamoDB Local).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from session_store import DynamoDBAdapter, TableConfig, ValidationError
from session_store.aio import DEFAULT_MAX_WORKERS, AsyncDynamoDBAdapter
from session_store.testing.backends import Backend
from tests.faults import THROTTLING, TRANSACTION_CONFLICT, FaultPlan, fail, inject
from tests.inflight import InFlightGate
from tests.loop_calls import LoopThreadCalls, wait_for_io_threads


def make_async(config: TableConfig, **options: Any) -> AsyncDynamoDBAdapter:
    return AsyncDynamoDBAdapter(
        config.table_name, region=config.region, endpoint_url=config.endpoint_url, **options
    )


@pytest.fixture
def aio(table_config: TableConfig) -> Iterator[AsyncDynamoDBAdapter]:
    made = make_async(table_config)
    asyncio.run(made.create_table())
    yield made
    asyncio.run(made.close())


# --- the pool ------------------------------------------------------------------------


def test_the_default_pool_is_sized_for_io_and_matches_the_connection_pool() -> None:
    assert DEFAULT_MAX_WORKERS >= 64
    adapter = AsyncDynamoDBAdapter("t-pool", region="us-east-1", endpoint_url="http://x:1")
    assert adapter.max_workers == DEFAULT_MAX_WORKERS
    assert adapter.config.max_pool_connections == DEFAULT_MAX_WORKERS
    # The botocore client's own pool (making the client sends no request).
    client_config: Any = adapter.models.client.meta.config
    assert client_config.max_pool_connections == DEFAULT_MAX_WORKERS
    asyncio.run(adapter.close())

    sized = AsyncDynamoDBAdapter("t-pool", region="us-east-1", max_workers=8)
    assert sized.config.max_pool_connections == sized.max_workers == 8
    asyncio.run(sized.close())
    roomy = AsyncDynamoDBAdapter("t-pool", region="us-east-1", max_pool_connections=100)
    assert (roomy.max_workers, roomy.config.max_pool_connections) == (DEFAULT_MAX_WORKERS, 100)
    asyncio.run(roomy.close())


def test_a_connection_pool_smaller_than_the_workers_is_refused() -> None:
    with pytest.raises(ValidationError, match="max_pool_connections"):
        AsyncDynamoDBAdapter("t-pool", region="us-east-1", max_pool_connections=10)
    with pytest.raises(ValidationError, match="max_pool_connections"):
        AsyncDynamoDBAdapter("t-pool", region="us-east-1", max_workers=20, max_pool_connections=19)
    sync = DynamoDBAdapter("t-pool", region="us-east-1", max_pool_connections=10)
    with pytest.raises(ValidationError, match="max_pool_connections"):
        AsyncDynamoDBAdapter(sync, max_workers=11)
    wrapped = AsyncDynamoDBAdapter(sync, max_workers=10)
    asyncio.run(wrapped.close())
    sync.close()


def test_closing_while_the_workers_start_ends_cleanly() -> None:
    for _ in range(3):
        adapter = AsyncDynamoDBAdapter("t-pool", region="us-east-1")
        asyncio.run(adapter.close())
        assert adapter.closed
    wait_for_io_threads()


# --- what runs on the loop ---------------------------------------------------------------


def test_large_writes_and_reads_never_block_the_loop(
    aio: AsyncDynamoDBAdapter, backend: Backend
) -> None:
    """``add_messages`` of 10 x 350 KB and reads back: the calls' work runs on the loop's
    thread (between its other steps), their HTTP exchanges on the I/O threads."""
    large = [{"role": "user", "content": f"{index} " + "x" * 350_000} for index in range(10)]
    wait_for_io_threads()

    async def scenario() -> tuple[LoopThreadCalls, LoopThreadCalls, list[Any], list[Any]]:
        session = await aio.create_session({"status": "active"})
        with LoopThreadCalls() as control:
            aio.sync.get_session(session.id)  # the measure works: a blocking call is seen
        with LoopThreadCalls() as calls:
            added = await aio.add_messages(session.id, large)
            read = await aio.get_messages(session.id)
            await asyncio.gather(
                *(aio.add_message(session.id, {"role": "user", "content": "s"}) for _ in range(5)),
                aio.update_message(session.id, added[0].id, {"content": "y" * 40_000}),
                aio.get_session(session.id),
            )
        return control, calls, added, read

    control, calls, added, read = asyncio.run(scenario())
    if backend.name == "local":  # in-process moto answers without a socket
        assert any(name.startswith("urllib3") for name in control.blocking())
    assert calls.ran("session_store.dynamodb")
    assert calls.ran("botocore")
    assert calls.blocking() == []  # and no wait
    assert [m.content for m in read] == [m["content"] for m in large]
    assert [m.id for m in read] == [m.id for m in added]


def test_retry_backoff_is_awaited_not_slept(aio: AsyncDynamoDBAdapter) -> None:
    """botocore's backoff after throttling, and the adapter's own after a transaction
    conflict, wait as ``asyncio.sleep``: the loop runs other work meanwhile."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    async def scenario() -> tuple[LoopThreadCalls, Any]:
        session = await aio.create_session({"status": "active"})
        counter = asyncio.create_task(ticker())
        plan = FaultPlan(
            fail("GetItem", times=2, with_=THROTTLING),
            fail("TransactWriteItems", times=2, with_=TRANSACTION_CONFLICT),
        )
        with inject(aio.sync, plan) as injector, LoopThreadCalls() as calls:
            read = await aio.get_session(session.id)
            await aio.add_message(session.id, {"role": "user", "content": "after a conflict"})
        counter.cancel()
        injector.assert_exhausted()
        return calls, read

    calls, read = asyncio.run(scenario())
    assert read is not None
    assert calls.blocking() == []
    assert "asyncio.tasks.sleep" in calls.names
    assert ticks > 0
    stored = aio.sync.get_session(read.id)
    assert stored is not None
    assert stored.message_count == 1


# --- the requests overlap -------------------------------------------------------------------


@pytest.mark.backends("local")
def test_default_settings_keep_a_full_pool_of_requests_at_the_server(
    table_config: TableConfig, adapter: DynamoDBAdapter
) -> None:
    """``2 x max_workers`` calls at once: exactly ``max_workers`` at the server together,
    each worker on a connection of its own, kept for the next calls."""
    session = adapter.create_session({"status": "active"})
    assert table_config.endpoint_url is not None
    with InFlightGate(table_config.endpoint_url, hold_until=DEFAULT_MAX_WORKERS) as gate:
        db = AsyncDynamoDBAdapter(
            table_config.table_name, region=table_config.region, endpoint_url=gate.endpoint_url
        )

        async def run() -> list[Any]:
            async with db:
                first = await asyncio.gather(
                    *(db.get_session(session.id) for _ in range(2 * DEFAULT_MAX_WORKERS))
                )
                again = await asyncio.gather(
                    *(
                        db.add_message(session.id, {"role": "user", "content": f"m{i}"})
                        for i in range(DEFAULT_MAX_WORKERS)
                    )
                )
                return [*first, *again]

        results = asyncio.run(run())
    assert len(results) == 3 * DEFAULT_MAX_WORKERS
    assert gate.requests == 3 * DEFAULT_MAX_WORKERS  # no retries: nothing timed out
    assert gate.max_in_flight == DEFAULT_MAX_WORKERS  # overlapped, and never more
    assert gate.connections == DEFAULT_MAX_WORKERS  # one each, reused: none dropped
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert stored.message_count == DEFAULT_MAX_WORKERS
