"""``AsyncDynamoDBAdapter``: the storage-adapter interface as coroutines.

Concurrency model
-----------------
Each coroutine runs the matching :class:`~session_store.dynamodb.DynamoDBAdapter`
method on the event loop's own thread, as a *bridged call* (``_bridge``): a
greenlet that runs the sync code and, wherever that code would wait, hands
the wait to the loop and resumes with its outcome. Semantics, errors,
request budgets and guarantees are exactly the sync adapter's, because the
sync adapter's code does the work. What changes is where it waits:

- an HTTP exchange (sending the request, reading the whole response) runs
  on the loop's own non-blocking sockets (``_http``: keep-alive connections
  per origin, TLS verified as botocore does), while the loop runs other
  steps. Requests that client does not take (through a proxy, with a client
  certificate, with a streamed body) go through botocore's own HTTP session
  on one of the adapter's I/O threads (``max_workers`` of them, started when
  the adapter is made);
- a retry backoff (botocore's, after throttling or a 5xx; the adapter's own,
  after a transaction conflict or unprocessed batch items) is an
  ``asyncio.sleep``;
- the parallel batch deletes of ``delete_session``, ``delete_all_messages``
  and ``sweep_expired`` are further bridged calls on the same loop.

Everything else of a call (validation, size checks, building and encoding
the request, signing it, parsing the response, decoding items) runs on the
loop's thread in the steps between those waits: a few hundred microseconds
for a typical call. Two things keep the large calls' steps short: a
request body of 256 KB or more is hashed for its signature on an I/O thread
(hashlib lets the loop run meanwhile; the digest goes to botocore's signer
as the ``X-Amz-Content-SHA256`` header), and each response page's items are
decoded in a step after the one that parsed it. BENCHMARKS.md part 6 gives
the longest step measured, in asyncio's debug mode.

- ``max_workers`` bounds the calls in progress on each event loop (further
  calls wait, first come first served; a call waiting for its turn has not
  started) and sizes the I/O threads, the loop's idle connections kept per
  origin and the botocore client's connection pool, so
  every call in progress has a connection of its own. All calls share the
  wrapped adapter's botocore client (made once, before the first request).
  The adapter is not bound to an event loop: it may serve several
  ``asyncio.run`` calls in turn, or several loops at once.
- One call stays one bridged call for all of its requests, retries included:
  ``delete_session`` of a long conversation holds its slot for every page
  read and batch write.
- ``contextvars`` of the caller are visible to the method (copied, as
  :func:`asyncio.to_thread` does).
- ``iter_sessions`` and ``iter_messages`` are async iterators over the sync
  iterators: one bridged call fetches up to ``page_size`` items, so
  iteration sends exactly the DynamoDB requests the sync iterator sends,
  holds at most one batch in memory, and stops reading when the loop over
  it stops.
- Callbacks the sync adapter takes (``sweep_expired``'s ``progress``) run on
  the loop's thread, inside the call: they must not block.
- In-process moto answers requests without a socket, inside the call's step:
  under it, a call is one step.

Why this design
---------------
Before this design, the calls ran whole on a pool of worker threads. Under latency
that worked (64 workers reach the machine's throughput through a 10 ms
proxy), but the loop thread shared the GIL with up to 64 threads running
Python: a worker that had waited a switch interval (5 ms) made the loop
thread give the GIL up mid-step, so steps that cost under 2 ms of the loop's
CPU took up to 130 ms of wall-clock time, which is what asyncio's debug
mode reports as slow callbacks. Now the only other threads are the I/O
threads, which spend their time in socket calls that release the GIL, and
the work is done once, on one thread, without contending for it.

Why 64: a call in progress waits for a whole round trip, so ``W`` slots
carry at most ``W / round_trip`` calls per second: 16 at 20 ms are 800
calls/s at best, less once queueing is added. One Python process spends a
few hundred microseconds of CPU per call, a few thousand calls per second at
most; 64 cover that at round trips up to about 20 to 30 ms (the same region,
or a nearby one) and stay a bounded load on the table and the connection
pool. Farther away, raise ``max_workers``: the rule is
``max_workers >= calls per second x round trip``. Idle I/O threads cost a
thread stack each; connections are opened only when calls need them.

A truly asynchronous transport was weighed: ``aiobotocore`` pins botocore to
a narrow range of patch releases (each of its releases allows only a few
weeks of botocore), so installing it would dictate the botocore/boto3
version of every application using this package, and PynamoDB's models run
on botocore's synchronous client anyway. The bridge keeps botocore's own
client (signing, credential chain, retries and their quota, error parsing,
the CRC32 check, ``--verbose`` logging) and only moves its waits; its one
dependency, ``greenlet`` (the mechanism of SQLAlchemy's asyncio support),
has no version coupling with botocore. The HTTP client of its own
(``_http``, about 250 lines of HTTP/1.1 over asyncio streams) is what lets
the loop do its network waiting with no thread at all: with I/O threads
instead, dozens of them waking for responses still took the GIL from the
loop mid-step.

Cancellation
------------
Cancelling the coroutine that awaits a call (``task.cancel()``,
``asyncio.timeout``, ``wait_for``) never interrupts a request already sent:

- a call still waiting for its turn (``max_workers`` in progress) is
  withdrawn and never runs;
- a call that has started runs to completion in a task of its own, retries
  included; its result or error is discarded.

For reads this only wastes the work. For writes it means the outcome is
unknown to the cancelled caller: the write may or may not have been applied.
Retrying blindly is safe for ``delete_session``, ``delete_message`` and
``delete_all_messages`` (idempotent) and for ``update_message`` without a
``token_count`` change; it is not for ``add_message`` (a retry stores a
second message with a new id), ``create_session`` with a caller-supplied
id (``SessionExistsError`` if the first attempt landed), or
``update_session`` (``version`` goes up twice; with ``expected_version``
the retry raises ``ConcurrencyError`` if the first attempt landed). Read the
state back before retrying such a write, or keep the write out of
cancellation's reach (``asyncio.shield`` around a task you keep a reference
to, and await that task later). To bound how long a request may take, set
the ``RetryPolicy`` timeouts rather than cancelling.

``close()``/``aclose()`` stop new calls, wait for the calls already
started, then close the client (when this adapter made its sync adapter,
or ``from_sync(..., close_adapter=True)`` was asked for). After that every
method raises ``RuntimeError``.

This module is long because it has one typed coroutine for each adapter method, and the
concurrency model above.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import weakref
from collections.abc import (
    AsyncGenerator,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, Unpack

from session_store._bridge import run_bridged, wait_for_io
from session_store._client import close_bridged_connections
from session_store.domain import (
    HealthStatus,
    Message,
    MessageQuery,
    MessageUpdate,
    NewMessage,
    NewSession,
    Page,
    Session,
    SessionFilters,
    SessionUpdate,
)
from session_store.dynamodb import DynamoDBAdapter
from session_store.dynamodb._core import AdapterOptions
from session_store.errors import ValidationError
from session_store.offload import S3Offload
from session_store.offloader import DEFAULT_GRACE, Offloader, OrphanReport
from session_store.protocol import AsyncStorageAdapter
from session_store.table import (
    BoundModels,
    TableConfig,
)

__all__ = ["DEFAULT_MAX_WORKERS", "AsyncDynamoDBAdapter", "AsyncStorageAdapter"]

DEFAULT_MAX_WORKERS = 64
"""Calls in progress per loop (I/O threads, pooled connections) unless told otherwise: sized for
calls that wait on a network round trip (see "Why this design" in the module docstring)."""
DEFAULT_PAGE_SIZE = 50
"""Items fetched per bridged call by the async iterators."""

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{name} must be an int of at least 1")
    return value


def _check_pool(connections: object, workers: int) -> None:
    """``ValidationError`` unless every call in progress can keep a pooled connection."""
    if isinstance(connections, int) and not isinstance(connections, bool) and connections < workers:
        raise ValidationError(
            f"max_pool_connections ({connections}) is below max_workers ({workers}): "
            "give the client at least one connection per call in progress"
        )


def _start_all(executor: ThreadPoolExecutor, workers: int) -> None:
    """Make ``executor`` start its ``workers`` threads now (runs on a thread of its own).

    A ``ThreadPoolExecutor`` starts a thread on ``submit`` when none is idle. Each
    task submitted here waits until all are submitted, so none is idle and every
    submit starts one (fewer when a worker finishes a real call meanwhile: the
    rest then start on demand, as before). Nothing waits on anything but this loop.
    """
    submitted = threading.Event()
    try:
        for _ in range(workers):
            executor.submit(submitted.wait)
    except RuntimeError:  # shut down meanwhile: the tasks submitted are released below
        pass
    finally:
        submitted.set()


class _Batches(Generic[_T]):
    """A sync iterator, made and read by bridged calls, ``size`` items per call."""

    def __init__(self, make: Callable[[], Iterator[_T]], size: int) -> None:
        self._make = make
        self._size = size
        self._source: Iterator[_T] | None = None

    def next_batch(self) -> list[_T]:
        if self._source is None:
            self._source = self._make()
        return list(itertools.islice(self._source, self._size))

    def close(self) -> None:
        """Close the sync generator (no request: it only unwinds)."""
        if isinstance(self._source, Generator):
            self._source.close()


class AsyncDynamoDBAdapter:
    """Sessions and messages in one DynamoDB table, as coroutines.

    Takes ``DynamoDBAdapter``'s arguments plus ``max_workers``: how many
    calls may be in progress on an event loop at once, and the number of I/O
    threads and pooled connections they share. See the module docstring for
    the concurrency model and what cancelling a call means. Use ``async with`` or ``await close()``.
    """

    _sync: DynamoDBAdapter
    _io: ThreadPoolExecutor
    _slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
    _calls: set[Future[None]]
    _max_workers: int
    _close_adapter: bool
    _lock: threading.Lock
    _client: Any
    _closing: Future[None] | None

    def __init__(
        self,
        table: str | DynamoDBAdapter,
        *,
        max_workers: int | None = None,
        close_adapter: bool | None = None,
        **options: Unpack[AdapterOptions],
    ) -> None:
        """``table``: a table name (with ``DynamoDBAdapter``'s keyword ``options``), or a
        ``DynamoDBAdapter`` to wrap (it stays usable on its own).

        ``max_workers`` defaults to ``DEFAULT_MAX_WORKERS`` (64) for a table name, with
        ``max_pool_connections`` defaulting to the same; and to the wrapped adapter's
        ``config.max_pool_connections`` (whose pool is left as it is). A connection pool
        smaller than ``max_workers`` is refused (``ValidationError``): the calls beyond
        it would open a connection each and drop it afterwards. ``close()`` closes the
        sync adapter this one made; a wrapped one only with ``close_adapter=True``.
        """
        if isinstance(table, DynamoDBAdapter):
            if options:
                raise ValidationError(
                    f"options {sorted(options)} configure a new adapter, not a wrapped one"
                )
            connections = table.config.max_pool_connections
            workers = _positive_int(
                connections if max_workers is None else max_workers, "max_workers"
            )
            _check_pool(connections, workers)
            self._setup(table, workers, close_adapter=bool(close_adapter))
            return
        workers = _positive_int(
            DEFAULT_MAX_WORKERS if max_workers is None else max_workers, "max_workers"
        )
        connections = options.setdefault("max_pool_connections", workers)
        _check_pool(connections, workers)
        adapter = DynamoDBAdapter(table, **options)
        self._setup(
            adapter, workers, close_adapter=True if close_adapter is None else close_adapter
        )

    @classmethod
    def from_sync(
        cls,
        adapter: DynamoDBAdapter,
        *,
        max_workers: int | None = None,
        close_adapter: bool = False,
    ) -> AsyncDynamoDBAdapter:
        """``AsyncDynamoDBAdapter(adapter, ...)``: wrap an existing ``DynamoDBAdapter``."""
        if not isinstance(adapter, DynamoDBAdapter):
            raise ValidationError(f"expected a DynamoDBAdapter, got {type(adapter).__name__}")
        return cls(adapter, max_workers=max_workers, close_adapter=close_adapter)

    def _setup(self, adapter: DynamoDBAdapter, workers: int, *, close_adapter: bool) -> None:
        self._sync = adapter
        self._max_workers = workers
        self._close_adapter = close_adapter
        self._io = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="session-store-io")
        self._slots = weakref.WeakKeyDictionary()
        self._calls = set()
        self._lock = threading.Lock()
        self._client_lock = threading.Lock()
        """Held while the client is built (on an I/O thread: never wanted by the loop's)."""
        self._client = None
        self._closing = None
        self._start_workers()

    def __repr__(self) -> str:
        return (
            f"AsyncDynamoDBAdapter(table_name={self.config.table_name!r}, "
            f"endpoint_url={self.config.endpoint_url!r}, max_workers={self._max_workers})"
        )

    # --- what it wraps ----------------------------------------------------------

    @property
    def sync(self) -> DynamoDBAdapter:
        """The wrapped sync adapter (for use from threads, or outside an event loop)."""
        return self._sync

    @property
    def models(self) -> BoundModels:
        """The PynamoDB models bound to this adapter's table (sync: call them off the loop)."""
        return self._sync.models

    @property
    def config(self) -> TableConfig:
        return self._sync.config

    @property
    def offload(self) -> S3Offload | None:
        """Where large messages go (``S3Offload``), or ``None``."""
        return self._sync.offload

    @property
    def offloader(self) -> Offloader | None:
        """The wrapped adapter's ``offloader`` (sync: call it off the loop)."""
        return self._sync.offloader

    @property
    def max_workers(self) -> int:
        return self._max_workers

    @property
    def closed(self) -> bool:
        return self._closing is not None

    # --- plumbing ---------------------------------------------------------------

    def _ensure_client(self) -> None:
        """Create the shared botocore client once (kept: ``close()`` closes its connections).

        Built on an I/O thread: making a botocore client takes tens of milliseconds (the
        first in a process about 90), one long loop step if built on the loop's thread.
        """
        if self._client is None:
            wait_for_io(self._build_client)

    def _build_client(self) -> None:
        with self._client_lock:  # the bound models install the bridge on every client they make
            if self._client is None:
                self._client = self._sync.models.client

    def _start_workers(self) -> None:
        """Start every I/O thread from a short-lived thread, so that no call's loop step does."""
        threading.Thread(
            target=_start_all,
            args=(self._io, self._max_workers),
            name="session-store-aio-start",
            daemon=True,
        ).start()

    def _slots_of(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        """The running-call slots of ``loop`` (asyncio's primitives belong to one loop)."""
        with self._lock:
            slots = self._slots.get(loop)
            if slots is None:
                slots = self._slots[loop] = asyncio.Semaphore(self._max_workers)
            return slots

    async def _start(
        self, function: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> asyncio.Task[_T]:
        """Wait for a slot, then start ``function`` as a bridged call in a task of its own.

        Cancelled while waiting for the slot, the call never starts. Once started, the
        task runs to its end whatever happens to the caller (``close()`` waits for it).
        """
        if self._closing is not None:
            raise RuntimeError("AsyncDynamoDBAdapter is closed")
        loop = asyncio.get_running_loop()
        slots = self._slots_of(loop)
        await slots.acquire()
        finished: Future[None] = Future()
        with self._lock:
            if self._closing is not None:
                slots.release()
                raise RuntimeError("AsyncDynamoDBAdapter is closed")
            self._calls.add(finished)

        def work() -> _T:
            self._ensure_client()
            return function(*args, **kwargs)

        task = loop.create_task(run_bridged(self._io, work))

        def settle(_: asyncio.Task[_T]) -> None:
            slots.release()
            with self._lock:
                self._calls.discard(finished)
            finished.set_result(None)

        task.add_done_callback(settle)
        return task

    async def _run(self, function: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``function`` as a bridged call and await it (see "Cancellation")."""
        task = await self._start(function, *args, **kwargs)
        return await asyncio.shield(task)

    async def _iterate(
        self, make: Callable[[], Iterator[_T]], page_size: int
    ) -> AsyncGenerator[_T, None]:
        batches = _Batches(make, _positive_int(page_size, "page_size"))
        last: asyncio.Task[list[_T]] | None = None
        try:
            while True:
                last = await self._start(batches.next_batch)
                batch = await asyncio.shield(last)
                for item in batch:
                    yield item
                if len(batch) < page_size:
                    return
        finally:
            if last is None or last.done():
                batches.close()
            else:
                # Once no call is reading it (a cancelled hop still runs to its end).
                last.add_done_callback(lambda _: batches.close())

    # --- table ------------------------------------------------------------------

    async def create_table(self, *, stream: bool | None = None) -> bool:
        """Create the table from the models if missing (GSIs, TTL); waits until ACTIVE."""
        return await self._run(self._sync.create_table, stream=stream)

    async def migrate(self) -> list[str]:
        """Apply pending migrations (creating or adopting the table first); their names."""
        return await self._run(self._sync.migrate)

    # --- sessions ---------------------------------------------------------------

    async def create_session(self, data: NewSession | Mapping[str, Any]) -> Session:
        """Store a new session (1 request). Never overwrites: ``SessionExistsError``."""
        return await self._run(self._sync.create_session, data)

    async def get_session(self, session_id: str) -> Session | None:
        """The session, or ``None`` when absent or expired (1 strongly consistent read)."""
        return await self._run(self._sync.get_session, session_id)

    async def update_session(
        self,
        session_id: str,
        updates: SessionUpdate | Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> Session:
        """Apply ``updates`` in one conditional write; see ``DynamoDBAdapter.update_session``."""
        return await self._run(
            self._sync.update_session, session_id, updates, expected_version=expected_version
        )

    async def delete_session(self, session_id: str) -> None:
        """Delete the session and all its messages; idempotent."""
        await self._run(self._sync.delete_session, session_id)

    async def list_sessions(
        self, filters: SessionFilters | Mapping[str, Any] | None = None
    ) -> list[Session]:
        """Sessions matching ``filters``; ``limit``/``offset`` exact after filtering."""
        return await self._run(self._sync.list_sessions, filters)

    async def list_sessions_page(
        self,
        filters: SessionFilters | Mapping[str, Any] | None = None,
        *,
        cursor: str | None = None,
        page_size: int = 50,
    ) -> Page[Session]:
        """One page of ``list_sessions``; pass ``next_cursor`` back for the next."""
        return await self._run(
            self._sync.list_sessions_page, filters, cursor=cursor, page_size=page_size
        )

    async def iter_sessions(
        self,
        filters: SessionFilters | Mapping[str, Any] | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncGenerator[Session, None]:
        """Sessions matching ``filters``, fetched ``page_size`` at a time off the loop."""
        sync = self._sync
        async for session in self._iterate(lambda: sync.iter_sessions(filters), page_size):
            yield session

    # --- messages ---------------------------------------------------------------

    async def add_message(self, session_id: str, data: NewMessage | Mapping[str, Any]) -> Message:
        """Append a message and count it on the session, in one transaction."""
        return await self._run(self._sync.add_message, session_id, data)

    async def add_messages(
        self, session_id: str, messages: Sequence[NewMessage | Mapping[str, Any]]
    ) -> list[Message]:
        """Append up to ``MAX_APPEND`` messages in one transaction: all of them or none."""
        return await self._run(self._sync.add_messages, session_id, messages)

    async def get_messages(
        self, session_id: str, query: MessageQuery | Mapping[str, Any] | None = None
    ) -> list[Message]:
        """Messages of a session (``[]`` for an unknown one); exact ``limit``/``offset``."""
        return await self._run(self._sync.get_messages, session_id, query)

    async def get_messages_page(
        self,
        session_id: str,
        query: MessageQuery | Mapping[str, Any] | None = None,
        *,
        cursor: str | None = None,
        page_size: int = 50,
    ) -> Page[Message]:
        """One page of ``get_messages``; pass ``next_cursor`` back for the next."""
        return await self._run(
            self._sync.get_messages_page, session_id, query, cursor=cursor, page_size=page_size
        )

    async def iter_messages(
        self,
        session_id: str,
        query: MessageQuery | Mapping[str, Any] | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncGenerator[Message, None]:
        """Messages in sort-key order (``desc`` reverses), fetched ``page_size`` at a time."""
        sync = self._sync
        async for message in self._iterate(
            lambda: sync.iter_messages(session_id, query), page_size
        ):
            yield message

    async def update_message(
        self,
        session_id: str,
        message_id: str,
        updates: MessageUpdate | Mapping[str, Any],
    ) -> Message:
        """Change a message in place; keeps the session's ``token_count`` exact."""
        return await self._run(self._sync.update_message, session_id, message_id, updates)

    async def delete_message(self, session_id: str, message_id: str) -> None:
        """Delete a message and uncount it; idempotent."""
        await self._run(self._sync.delete_message, session_id, message_id)

    async def pop_message(self, session_id: str) -> Message | None:
        """Remove and return the session's newest message; ``None`` when it has none."""
        return await self._run(self._sync.pop_message, session_id)

    async def delete_all_messages(self, session_id: str) -> None:
        """Delete every message; counters go down by exactly what was removed."""
        await self._run(self._sync.delete_all_messages, session_id)

    async def get_context_window(
        self, session_id: str, max_tokens: int, *, reserve_tokens: int = 0
    ) -> list[Message]:
        """System messages plus the newest run of the rest that fits the budget."""
        return await self._run(
            self._sync.get_context_window, session_id, max_tokens, reserve_tokens=reserve_tokens
        )

    # --- expiry -----------------------------------------------------------------

    async def get_expired_sessions(self, before: datetime) -> list[str]:
        """Ids of sessions with ``expires_at <= before`` (every page of a scan)."""
        return await self._run(self._sync.get_expired_sessions, before)

    async def sweep_expired(
        self,
        before: datetime | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Delete expired sessions with their messages; how many sessions were removed.

        ``progress(done, total)`` runs on the loop's thread, inside the call: it must
        not block.
        """
        return await self._run(self._sync.sweep_expired, before, progress=progress)

    async def handle_stream_event(self, event: Mapping[str, Any]) -> int:
        """Delete the messages of session items the TTL service removed; how many."""
        return await self._run(self._sync.handle_stream_event, event)

    # --- maintenance ------------------------------------------------------------

    async def recount(self, session_id: str) -> Session:
        """Recompute ``message_count``/``token_count`` from the messages."""
        return await self._run(self._sync.recount, session_id)

    async def collect_orphans(self, older_than: timedelta = DEFAULT_GRACE) -> OrphanReport:
        """Remove the S3 objects of offloaded messages no item points to (older than
        ``older_than``); see ``DynamoDBAdapter.collect_orphans``."""
        return await self._run(self._sync.collect_orphans, older_than)

    async def health(self) -> HealthStatus:
        """``healthy``, ``degraded`` (a GSI or TTL not active) or ``unhealthy`` (no table)."""
        return await self._run(self._sync.health)

    # --- closing ----------------------------------------------------------------

    def _begin_close(self) -> Future[None]:
        with self._lock:
            if self._closing is not None:
                return self._closing
            done: Future[None] = Future()
            done.set_running_or_notify_cancel()  # an awaiter's cancellation cannot cancel it
            self._closing = done
            running = set(self._calls)

        def shut_down() -> None:
            try:
                wait(running)  # calls started before closing, on any loop
                self._io.shutdown(wait=True)
                if self._close_adapter:
                    self._sync.close()
            except BaseException as error:  # pragma: no cover - handed to the awaiters
                done.set_exception(error)
            else:
                done.set_result(None)

        threading.Thread(target=shut_down, name="session-store-aio-close", daemon=True).start()
        return done

    async def close(self) -> None:
        """Refuse new calls, wait for started ones, then release connections (this
        loop's own at once; other loops' are closed by the garbage collector)."""
        await asyncio.wrap_future(self._begin_close())
        if self._client is not None:
            await close_bridged_connections(self._client)

    async def aclose(self) -> None:
        """The same as ``close()`` (for ``contextlib.aclosing``)."""
        await self.close()

    async def __aenter__(self) -> AsyncDynamoDBAdapter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
