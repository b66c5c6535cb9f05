"""``AsyncDynamoDBAdapter``: the storage-adapter interface as coroutines.

Concurrency model
-----------------
Threads under the hood. Every coroutine runs the matching
:class:`~session_store.dynamodb.DynamoDBAdapter` method on a worker thread
of a :class:`concurrent.futures.ThreadPoolExecutor` that the adapter owns
(``max_workers``, default 16), and awaits it; the event loop never waits for
DynamoDB. Semantics, errors, request budgets and guarantees are exactly the
sync adapter's, because the sync adapter does the work.

- All workers share the wrapped adapter's botocore client. botocore clients
  are thread-safe; the client is created once, before the first request, and
  its connection pool is sized to ``max_workers``, so every worker has a
  connection of its own. The adapter is not bound to an event loop: it may
  serve several ``asyncio.run`` calls in turn, or several loops at once.
- One call occupies one worker for all of its requests, including botocore's
  retries with backoff and the adapter's own (transaction conflicts,
  unprocessed batch items): ``delete_session`` of a long conversation holds
  its worker for every page read and batch write. At most ``max_workers``
  calls run at a time; further calls wait in the pool's queue, first come
  first served. That bounds the requests in flight against the table.
- ``contextvars`` of the caller are visible to the method (copied, as
  :func:`asyncio.to_thread` does).
- ``iter_sessions`` and ``iter_messages`` are async iterators over the sync
  iterators: one worker hop fetches up to ``page_size`` items, so iteration
  sends exactly the DynamoDB requests the sync iterator sends, holds at most
  one batch in memory, and stops reading when the loop over it stops.

Cancellation
------------
Cancelling the coroutine that awaits a call (``task.cancel()``,
``asyncio.timeout``, ``wait_for``) never interrupts a request already sent:

- a call still queued for a worker is withdrawn and never runs;
- a call a worker has started runs to completion, retries included; its
  result or error is discarded.

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
submitted, then close the client (when this adapter made its sync adapter,
or ``from_sync(..., close_adapter=True)`` was asked for). After that every
method raises ``RuntimeError``.

This module is long because it has one typed coroutine for each adapter method, and the
concurrency model above.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import threading
from collections.abc import (
    AsyncGenerator,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, Unpack

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

DEFAULT_MAX_WORKERS = 16
"""Worker threads (and pooled connections) of an adapter unless told otherwise."""
DEFAULT_PAGE_SIZE = 50
"""Items fetched per worker hop by the async iterators."""

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{name} must be an int of at least 1")
    return value


class _Batches(Generic[_T]):
    """A sync iterator, made and read on worker threads, ``size`` items per call."""

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

    Takes ``DynamoDBAdapter``'s arguments plus ``max_workers``: the size of
    the worker pool that runs the calls and of the connection pool they
    share. See the module docstring for the concurrency model and what
    cancelling a call means. Use ``async with`` or ``await close()``.
    """

    _sync: DynamoDBAdapter
    _executor: ThreadPoolExecutor
    _max_workers: int
    _close_adapter: bool
    _lock: threading.Lock
    _client_ready: bool
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

        ``max_workers`` defaults to 16 for a table name, and to the wrapped
        adapter's ``config.max_pool_connections`` (whose pool is left as it is:
        give it at least ``max_workers`` connections). ``close()`` closes the
        sync adapter this one made; a wrapped one only with ``close_adapter=True``.
        """
        if isinstance(table, DynamoDBAdapter):
            if options:
                raise ValidationError(
                    f"options {sorted(options)} configure a new adapter, not a wrapped one"
                )
            workers = _positive_int(
                table.config.max_pool_connections if max_workers is None else max_workers,
                "max_workers",
            )
            self._setup(table, workers, close_adapter=bool(close_adapter))
            return
        workers = _positive_int(
            DEFAULT_MAX_WORKERS if max_workers is None else max_workers, "max_workers"
        )
        options.setdefault("max_pool_connections", workers)
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
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="session-store-aio"
        )
        self._lock = threading.Lock()
        self._client_ready = False
        self._closing = None

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
        """Create the shared botocore client once (PynamoDB creates it lazily, unlocked)."""
        if self._client_ready:
            return
        with self._lock:
            if not self._client_ready:
                _ = self._sync.models.client
                self._client_ready = True

    def _submit(
        self, function: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> Future[_T]:
        if self._closing is not None:
            raise RuntimeError("AsyncDynamoDBAdapter is closed")
        context = contextvars.copy_context()

        def work() -> _T:
            self._ensure_client()
            return function(*args, **kwargs)

        return self._executor.submit(context.run, work)

    async def _run(self, function: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``function`` on a worker and await it (cancelling withdraws it only if queued)."""
        return await asyncio.wrap_future(self._submit(function, *args, **kwargs))

    async def _iterate(
        self, make: Callable[[], Iterator[_T]], page_size: int
    ) -> AsyncGenerator[_T, None]:
        batches = _Batches(make, _positive_int(page_size, "page_size"))
        last: Future[list[_T]] | None = None
        try:
            while True:
                last = self._submit(batches.next_batch)
                batch = await asyncio.wrap_future(last)
                for item in batch:
                    yield item
                if len(batch) < page_size:
                    return
        finally:
            if last is None:
                batches.close()
            else:
                # Once no worker is reading it (at once, unless a cancelled hop still runs).
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

        ``progress(done, total)`` runs on the worker thread, as in the sync adapter.
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

        def shut_down() -> None:
            try:
                self._executor.shutdown(wait=True)
                if self._close_adapter:
                    self._sync.close()
            except BaseException as error:  # pragma: no cover - handed to the awaiters
                done.set_exception(error)
            else:
                done.set_result(None)

        threading.Thread(target=shut_down, name="session-store-aio-close", daemon=True).start()
        return done

    async def close(self) -> None:
        """Refuse new calls, wait for submitted ones, then release connections."""
        await asyncio.wrap_future(self._begin_close())

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
