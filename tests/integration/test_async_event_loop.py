"""AsyncDynamoDBAdapter under load: a pool sized for I/O, a loop that never waits.

Behaviour, not timing: which functions run on the event loop's thread (a
profiler on that thread records every call: the calls' work, and no wait),
how many requests are at the server at once and over how many connections
(counted by a proxy in front of DynamoDB Local).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from session_store import (
    DynamoDBAdapter,
    RetryPolicy,
    StorageError,
    TableConfig,
    ValidationError,
    _client,
)
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


def test_large_bodies_are_hashed_for_signing_off_the_loop_thread(
    aio: AsyncDynamoDBAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SigV4's SHA-256 of a body of 256 KB or more runs on an I/O thread, and botocore
    signs the digest handed to it as ``X-Amz-Content-SHA256``; small bodies and the sync
    adapter's requests are signed as botocore always does."""
    hashed_on: list[int] = []
    sha256 = _client.payload_sha256

    def recording_sha256(body: bytes | bytearray) -> str:
        hashed_on.append(threading.get_ident())
        return sha256(body)

    monkeypatch.setattr(_client, "payload_sha256", recording_sha256)
    sent: list[tuple[bytes, str | None]] = []

    def record(request: Any, **_: Any) -> None:
        body = request.body if isinstance(request.body, bytes) else b""
        header = request.headers.get("X-Amz-Content-SHA256")  # bytes once prepared
        sent.append((body, header.decode() if isinstance(header, bytes) else header))

    large = [{"role": "user", "content": f"{index} " + "x" * 100_000} for index in range(4)]

    async def scenario() -> tuple[int, list[Any]]:
        session = await aio.create_session({"status": "active"})
        events = aio.sync.models.client.meta.events
        events.register("before-send.dynamodb", record)
        try:
            added = await aio.add_messages(session.id, large)
        finally:
            events.unregister("before-send.dynamodb", record)
        return threading.get_ident(), added

    loop_thread, added = asyncio.run(scenario())
    large_bodies = [(body, header) for body, header in sent if len(body) >= 256 * 1024]
    assert large_bodies, "the write sent one body of 256 KB or more"
    for body, header in large_bodies:
        assert header == hashlib.sha256(body).hexdigest()
    assert hashed_on
    assert loop_thread not in hashed_on
    assert all(header is None for body, header in sent if len(body) < 256 * 1024)
    # The server took the signed request and the messages read back whole.
    read = aio.sync.get_messages(added[0].session_id)
    assert [m.content for m in read] == [m["content"] for m in large]

    hashed_on.clear()
    sent.clear()
    events = aio.sync.models.client.meta.events
    events.register("before-send.dynamodb", record)
    try:
        aio.sync.add_messages(added[0].session_id, large)
    finally:
        events.unregister("before-send.dynamodb", record)
    assert hashed_on == []
    assert any(len(body) >= 256 * 1024 for body, _ in sent)
    assert all(header is None for _, header in sent)


def test_the_client_is_built_off_the_loop_thread(
    aio: AsyncDynamoDBAdapter, table_config: TableConfig
) -> None:
    """Making a botocore client takes tens of milliseconds: the first call builds it on an
    I/O thread, and the loop's thread only runs the call itself."""
    fresh = make_async(table_config)  # on the table ``aio`` made, with a client of its own
    wait_for_io_threads()

    async def scenario() -> tuple[LoopThreadCalls, Any]:
        with LoopThreadCalls() as calls:
            created = await fresh.create_session({"status": "active"})
        return calls, created

    try:
        calls, created = asyncio.run(scenario())
    finally:
        asyncio.run(fresh.close())
    assert calls.ran("session_store.dynamodb")  # the call's own work ran on the loop thread
    assert calls.ran("botocore")  # the request's signing and parsing ran there too
    assert not calls.ran("botocore.session.Session.create_client")
    assert not calls.ran("botocore.client.ClientCreator.create_client")
    assert aio.sync.get_session(created.id) == created


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


# --- the loop's own HTTP client -------------------------------------------------------------


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` and its key."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class TlsFront:
    """A TLS-terminating relay to an HTTP endpoint, on a thread of its own."""

    def __init__(self, target: str, cert: Path, key: Path) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(cert, key)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.connections = 0
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TlsFront:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=self._context)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


@pytest.mark.backends("local")
def test_bridged_calls_speak_https_verifying_the_ca_bundle(
    table_config: TableConfig, tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over https the loop's client verifies the server as botocore would (its
    ``AWS_CA_BUNDLE`` here), and keeps its connections for the next calls."""
    cert, key = tls_files
    assert table_config.endpoint_url is not None
    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
    with TlsFront(table_config.endpoint_url, cert, key) as front:
        db = AsyncDynamoDBAdapter(
            table_config.table_name,
            region=table_config.region,
            endpoint_url=f"https://localhost:{front.port}",
            max_workers=4,
        )

        async def run() -> tuple[Any, list[Any], LoopThreadCalls]:
            async with db:
                await db.create_table()
                session = await db.create_session({"status": "active"})
                with LoopThreadCalls() as calls:
                    for n in range(5):
                        await db.add_message(session.id, {"role": "user", "content": f"m{n}"})
                    read = await db.get_messages(session.id)
                return await db.get_session(session.id), read, calls

        stored, read, calls = asyncio.run(run())
        assert stored is not None
        assert stored.message_count == 5
        assert [message.content for message in read] == [f"m{n}" for n in range(5)]
        assert calls.blocking() == []
        assert calls.ran("session_store._http")  # the loop's own client sent them
        assert front.connections <= 2  # kept alive between calls

        # Without the CA bundle the certificate is not trusted: the same error as sync.
        monkeypatch.delenv("AWS_CA_BUNDLE")
        endpoint = f"https://localhost:{front.port}"
        options: dict[str, Any] = {
            "region": table_config.region,
            "endpoint_url": endpoint,
            "retry": RetryPolicy(max_attempts=1),
        }
        with (
            DynamoDBAdapter(table_config.table_name, **options) as sync,
            pytest.raises(StorageError) as sync_error,
        ):
            sync.get_session("anything")
        untrusting = AsyncDynamoDBAdapter(table_config.table_name, max_workers=1, **options)

        async def refused() -> StorageError:
            async with untrusting:
                with pytest.raises(StorageError) as raised:
                    await untrusting.get_session("anything")
                return raised.value

        async_error = asyncio.run(refused())
        assert type(async_error) is type(sync_error.value)
        assert "certificate" in str(async_error).lower()
