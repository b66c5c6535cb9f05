"""AsyncDynamoDBAdapter under load: a pool sized for I/O, a loop that runs none of the work.

Behaviour, not timing: which functions run on the event loop's thread (a
profiler on that thread records every call), how many requests are at the
server at once and over how many connections (counted by a proxy in front
of DynamoDB Local).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from session_store import DynamoDBAdapter, TableConfig, ValidationError
from session_store.aio import DEFAULT_MAX_WORKERS, AsyncDynamoDBAdapter
from tests.inflight import InFlightGate

# Work that belongs on a worker thread: the sync adapter and everything under it.
WORKER_ONLY = (
    "session_store.dynamodb",
    "session_store.gateway",
    "session_store.planning",
    "session_store.models",
    "session_store.domain",
    "session_store._",  # _client, _wire, _item_decoding, ...
    "botocore",
    "pynamodb",
    "pydantic",
    "urllib3",
    "json",
    "hashlib",
    "hmac",
)


def make_async(config: TableConfig, **options: Any) -> AsyncDynamoDBAdapter:
    return AsyncDynamoDBAdapter(
        config.table_name, region=config.region, endpoint_url=config.endpoint_url, **options
    )


def wait_for_worker_start() -> None:
    """Join the threads that start adapters' workers (they end once all are started)."""
    for thread in threading.enumerate():
        if thread.name == "session-store-aio-start":
            thread.join(30)


class LoopThreadCalls:
    """Every function called on the current thread while active: ``module.qualname``."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def _record(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            module = frame.f_globals.get("__name__", "?")
            self.names.add(f"{module}.{frame.f_code.co_qualname}")
        elif event == "c_call":
            module = getattr(arg, "__module__", None) or type(getattr(arg, "__self__", None))
            self.names.add(f"{module}.{getattr(arg, '__qualname__', repr(arg))}")

    def __enter__(self) -> LoopThreadCalls:
        sys.setprofile(self._record)
        return self

    def __exit__(self, *_: object) -> None:
        sys.setprofile(None)

    def of_workers(self) -> list[str]:
        """The calls recorded that belong to the workers' side."""
        return sorted(
            name
            for name in self.names
            if name.startswith(WORKER_ONLY) or name.startswith("threading.Thread.start")
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
    wait_for_worker_start()


# --- what runs on the loop ---------------------------------------------------------------


def test_large_writes_are_checked_and_encoded_off_the_event_loop(
    aio: AsyncDynamoDBAdapter,
) -> None:
    """``add_messages`` of 10 x 350 KB: validation, size checks, encoding all on a worker."""
    large = [{"role": "user", "content": f"{index} " + "x" * 350_000} for index in range(10)]
    wait_for_worker_start()

    async def scenario() -> tuple[LoopThreadCalls, LoopThreadCalls, list[Any], list[Any]]:
        session = await aio.create_session({"status": "active"})
        with LoopThreadCalls() as control:
            aio.sync.get_session(session.id)  # the measure works: a sync call is seen
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
    assert any(name.startswith("session_store.dynamodb") for name in control.of_workers())
    assert any(name.startswith("botocore") for name in control.of_workers())
    assert "session_store.aio.AsyncDynamoDBAdapter._run" in calls.names
    assert calls.of_workers() == []
    assert [m.content for m in read] == [m["content"] for m in large]
    assert [m.id for m in read] == [m.id for m in added]


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
