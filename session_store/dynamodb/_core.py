"""The adapter's core: configuration, request plumbing, paging and maintenance.

The method groups (sessions, messages, expiry) build on ``AdapterCore``;
``DynamoDBAdapter`` puts them together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import Any, Self, TypedDict

from session_store import _item_decoding, keys, models
from session_store._listings import walk_start
from session_store._time import utc_now
from session_store.counters import message_items, recount_session
from session_store.cursor import Cursor, CursorCodec
from session_store.domain import HealthStatus, Message, Session
from session_store.errors import (
    SessionNotFoundError,
    StorageError,
    TableNotFoundError,
    ValidationError,
)
from session_store.gateway import Gateway, aws_code
from session_store.migrations import migrate
from session_store.offload import POINTER_ATTRIBUTE, S3Offload
from session_store.offloader import DEFAULT_GRACE, Offloader, OrphanReport
from session_store.table import (
    TTL_ATTRIBUTE,
    BoundModels,
    ProvisionedThroughput,
    RetryPolicy,
    TableConfig,
    bind_models,
    create_table,
)

DEFAULT_CURSOR_SECRET = b"session-store-cursor"
"""Cursor checksum key: catches edits and misuse; set your own to make cursors unforgeable."""

_MAX_TTL = timedelta(days=36_500)
MAX_TAG_PREFILTER = 20
"""Above this many tags the server-side pre-filter is dropped (expression size limits)."""
_FILTERED_LIMIT_CAP = 10_000
"""Largest Limit of a filtered page: beyond it, 1 MB pages are the bound anyway."""
PREFETCH = 16
"""Offloaded messages of a page restored at once (their objects fetched in parallel)."""
CONTEXT_PAGE = 100
"""Items evaluated per page by the newest-first read of ``get_context_window``."""


class AdapterOptions(TypedDict, total=False):
    """``DynamoDBAdapter``'s keyword options, declared once: the async adapter takes the
    same (``AsyncDynamoDBAdapter(table_name, **options)``)."""

    region: str | None
    endpoint_url: str | None
    session_ttl: timedelta | None
    retry: RetryPolicy | None
    provisioned: ProvisionedThroughput | None
    stream: bool
    cursor_secret: bytes
    clock: Callable[[], datetime]
    max_pool_connections: int
    offload: S3Offload | None


decode_session: Callable[[Mapping[str, Any]], Session] = _item_decoding.decode_session
"""The session stored in an item: exactly ``models.SessionMeta.decode``, on a fast path."""
decode_message: Callable[[Mapping[str, Any]], Message] = _item_decoding.decode_message
"""The message stored in an item: exactly ``models.Message.decode``, on a fast path."""


_PAGE_DECODERS: dict[Callable[..., Any], Callable[[list[dict[str, Any]]], list[Any]]] = {
    decode_session: _item_decoding.decode_sessions,
    decode_message: _item_decoding.decode_messages,
}
"""A whole page decoded in one pydantic pass, for the item decoders that have one."""

_WIRE_PAGE_DECODERS: dict[Callable[..., Any], Callable[[list[dict[str, Any]]], list[Any]]] = {
    decode_message: _item_decoding.decode_wire_messages,
}
"""Whole reads by these item decoders take pages of wire JSON (``Gateway.wire_pages``)."""


def _page_decoder(
    decode: Callable[[Mapping[str, Any]], Any],
) -> Callable[[list[dict[str, Any]]], list[Any]]:
    page_decode = _PAGE_DECODERS.get(decode)
    if page_decode is not None:
        return page_decode
    return lambda page: [decode(item) for item in page]


@dataclass
class _WalkState:
    """Progress of one listing walk: items passed (skipped or handed out), the next cursor."""

    passed: int = 0
    next_cursor: str | None = None
    filtered_reads: int = 0
    """Pages requested so far under a server-side filter (each asks for more items)."""


class AdapterCore:
    """Configuration, the gateway, paging, maintenance."""

    def __init__(
        self,
        table_name: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        session_ttl: timedelta | None = None,
        retry: RetryPolicy | None = None,
        provisioned: ProvisionedThroughput | None = None,
        stream: bool = False,
        cursor_secret: bytes = DEFAULT_CURSOR_SECRET,
        clock: Callable[[], datetime] = utc_now,
        max_pool_connections: int = 10,
        offload: S3Offload | None = None,
    ) -> None:
        if session_ttl is not None and (
            not isinstance(session_ttl, timedelta) or not timedelta(0) < session_ttl <= _MAX_TTL
        ):
            raise ValidationError("session_ttl must be a timedelta between 0 and 100 years")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ValidationError("retry must be a RetryPolicy")
        if not isinstance(cursor_secret, bytes) or not cursor_secret:
            raise ValidationError("cursor_secret must be non-empty bytes")
        self.config = TableConfig(
            table_name,
            region=region,
            endpoint_url=endpoint_url,
            retry=retry or RetryPolicy(),
            provisioned=provisioned,
            stream=stream,
            max_pool_connections=max_pool_connections,
        )
        self.models: BoundModels = bind_models(self.config)
        self.config = self.models.config  # region and endpoint resolved
        self.session_ttl = session_ttl
        self._table = table_name
        self._cursors = CursorCodec(cursor_secret)
        self._clock = clock
        self._closed = False
        self._offloader = (
            None
            if offload is None
            else Offloader(
                offload,
                region=self.config.region,
                max_pool_connections=self.config.max_pool_connections,
            )
        )

    def __repr__(self) -> str:
        config = self.config
        return (
            f"DynamoDBAdapter(table_name={self._table!r}, region={config.region!r}, "
            f"endpoint_url={config.endpoint_url!r})"
        )

    # --- plumbing -------------------------------------------------------------

    @property
    def _gateway(self) -> Gateway:
        """The one sender of this adapter's requests; refuses once the adapter is closed."""
        if self._closed:
            raise StorageError("the adapter is closed")
        return self.models.gateway

    @property
    def offload(self) -> S3Offload | None:
        """Where large messages go (``S3Offload``), or ``None``: then an item over 400 KB
        is a ``ValidationError``, as without offloading."""
        return None if self._offloader is None else self._offloader.config

    def _restored(
        self, raw: dict[str, Any], ahead: list[dict[str, Any]], wholes: dict[int, dict[str, Any]]
    ) -> dict[str, Any]:
        """The offloaded item ``raw`` put back together. Only items handed out are
        restored (not those an offset skips, nor the one read to see if a page follows);
        the first restores the next offloaded ones of its page, ``ahead``, at once (their
        objects fetched in parallel, up to ``PREFETCH``) into ``wholes``."""
        assert self._offloader is not None
        if id(raw) not in wholes:
            window = [item for item in ahead if POINTER_ATTRIBUTE in item][:PREFETCH]
            if not window or window[0] is not raw:
                window = [raw]
            restored = self._offloader.restore_all(window)
            wholes.update(zip(map(id, window), restored, strict=True))
        return wholes.pop(id(raw))

    @property
    def offloader(self) -> Offloader | None:
        """The S3 side of offloading (``session_store.offloader``), for tools that read or
        write items themselves (export, import): ``restore`` an item read, ``plan`` and
        ``write`` one before putting it. ``None`` without ``offload``."""
        return self._offloader

    @property
    def _pointer(self) -> tuple[str, ...]:
        """The pointer attribute, for reads that must see it: none without offloading."""
        return () if self._offloader is None else (POINTER_ATTRIBUTE,)

    def _objects_removal(self) -> dict[str, Any]:
        """``delete_session_messages`` options that remove offloaded messages' objects too."""
        if self._offloader is None:
            return {}
        return {"pointer": POINTER_ATTRIBUTE, "removed": self._offloader.remove}

    def _now(self) -> datetime:
        return self._clock()

    def _expiry(self, now: datetime) -> datetime | None:
        return None if self.session_ttl is None else now + self.session_ttl

    # --- table ----------------------------------------------------------------

    def create_table(self, *, stream: bool | None = None) -> bool:
        """Create the table from the models if missing (GSIs, TTL); waits until ACTIVE.

        ``stream=True`` gives a new table a KEYS_ONLY stream (for
        ``handle_stream_event``); the default is the adapter's ``stream`` setting.
        """
        self._gateway  # noqa: B018 (refuses on a closed adapter)
        return create_table(self.models, stream=stream)

    def migrate(self) -> list[str]:
        """Apply pending migrations (creating or adopting the table first); their names."""
        self._gateway  # noqa: B018 (refuses on a closed adapter)
        return migrate(self.models)

    def _message_items(self, session_id: str) -> Iterator[dict[str, Any]]:
        """Every message item of a session: keys and ``tokenCount`` only, oldest first."""
        return message_items(self._gateway, session_id)

    def _walk(
        self,
        *,
        kind: str,
        query: str,
        operation: str,
        request: dict[str, Any],
        key_names: tuple[str, ...],
        pinned: Mapping[str, str],
        filtered: bool,
        cursor: str | None,
        page_size: int | None,
        limit: int | None,
        offset: int,
        decode: Callable[[Mapping[str, Any]], Any],
        accept: Callable[[Any], bool] | None,
    ) -> tuple[Iterator[Any], Callable[[], str | None]]:
        """Walk a listing: skip ``offset``, stop at ``limit`` (across cursors), page it.

        A cursor's start key must have exactly ``key_names`` and the values in
        ``pinned`` (the partition the query reads): a cursor signed for this
        query but pointing elsewhere is refused, not sent.

        Returns the items and a function giving the next cursor once they are consumed.
        """
        begin = walk_start(
            self._cursors,
            kind=kind,
            query=query,
            cursor=cursor,
            offset=offset,
            limit=limit,
            page_size=page_size,
        )
        returned, skip, take = begin.returned, begin.skip, begin.take
        if begin.position is not None:
            start = begin.position.start_key
            if set(start) != set(key_names) or any(
                start[name] != {"S": value} for name, value in pinned.items()
            ):
                raise ValidationError("cursor does not point into this listing")
            request = {**request, "ExclusiveStartKey": start}
        state = _WalkState()

        def wanted() -> int | None:
            if take is None:
                return None
            # One more than needed tells whether another page exists.
            needed = skip + take - state.passed + (1 if page_size is not None else 0)
            if not filtered:
                return needed
            # A filter drops items after the Limit has counted them: ask for twice what
            # is missing, and twice as much again on every further page. A listing whose
            # items mostly pass reads one small page (not 1 MB to return 20); one whose
            # items mostly fail reaches 1 MB pages after a few requests.
            state.filtered_reads += 1
            return min(max(needed, 1) << state.filtered_reads, _FILTERED_LIMIT_CAP)

        def items() -> Iterator[Any]:
            count = skipped = 0
            last_raw: Mapping[str, Any] | None = None  # its key is the cursor's, if one is made
            if take == 0:
                return
            decode_page = _page_decoder(decode)
            for page in self._gateway.pages(operation, request, limit=wanted):
                wholes: dict[int, dict[str, Any]] = {}  # offloaded items of the page, restored
                # A whole page in one pass; each value keeps its item (the cursor needs its key).
                for index, (decoded, raw) in enumerate(zip(decode_page(page), page, strict=True)):
                    if accept is not None and not accept(decoded):
                        continue
                    if skipped < skip:
                        skipped += 1
                        state.passed = skipped + count
                        continue
                    if take is not None and count == take:
                        # There is more: the cursor resumes after the last item handed out.
                        if page_size is not None and last_raw is not None:
                            last_key = models.key_of(last_raw, key_names)
                            state.next_cursor = self._cursors.encode(
                                Cursor(kind, query, last_key, returned + count)
                            )
                        return
                    value = decoded
                    if self._offloader is not None and POINTER_ATTRIBUTE in raw:
                        ahead = page[index : index + (len(page) if take is None else take - count)]
                        value = decode(self._restored(raw, ahead, wholes))
                    count += 1
                    state.passed = skipped + count
                    last_raw = raw
                    yield value
                    walk_done = limit is not None and returned + count >= limit
                    if count == take and (page_size is None or walk_done):
                        return  # nothing more to hand out, and no cursor to make

        def whole_read() -> Iterator[Iterable[Any]]:
            # Each page's values: the decoded page itself unless something in it is offloaded.
            decode_page = _page_decoder(decode)
            wire_decode = _WIRE_PAGE_DECODERS.get(decode)
            pages: Iterator[tuple[list[dict[str, Any]], bool]]
            if wire_decode is None:
                pages = ((page, False) for page in self._gateway.pages(operation, request))
            else:
                pages = self._gateway.wire_pages(operation, request)
            for page, wire in pages:
                # A wire page's decoder leaves its items as botocore parses them (or
                # regular): the keys and the pointer read below are those.
                decoded = (
                    wire_decode(page) if wire and wire_decode is not None else decode_page(page)
                )
                if self._offloader is None or not any(POINTER_ATTRIBUTE in raw for raw in page):
                    yield decoded if accept is None else filter(accept, decoded)
                else:
                    yield restored(page, decoded)

        def restored(page: list[dict[str, Any]], decoded: list[Any]) -> Iterator[Any]:
            wholes: dict[int, dict[str, Any]] = {}  # as in items(): restored when handed out
            for index, (value, raw) in enumerate(zip(decoded, page, strict=True)):
                if accept is not None and not accept(value):
                    continue
                if POINTER_ATTRIBUTE in raw:
                    yield decode(self._restored(raw, page[index:], wholes))
                else:
                    yield value

        if take is None and not skip:
            # A whole read: no count to keep and no cursor to make. Pages chained, not
            # through items(): no generator step for every item.
            return chain.from_iterable(whole_read()), lambda: None
        return items(), lambda: state.next_cursor

    # --- maintenance ----------------------------------------------------------

    def recount(self, session_id: str) -> Session:
        """Recompute ``message_count``/``token_count`` from the messages."""
        keys.check_session_id(session_id)
        result = recount_session(self._gateway, session_id)
        if result is None:
            raise SessionNotFoundError(session_id)
        return result

    def collect_orphans(self, older_than: timedelta = DEFAULT_GRACE) -> OrphanReport:
        """Remove the S3 objects of offloaded messages that no item points to any more.

        Only objects last modified more than ``older_than`` ago count (a write
        in flight puts its object before its item). Objects a failed delete
        left behind, or a crash between an object's write and its item's, are
        what this finds. Reads every pointer in the table (one strongly
        consistent, projected Scan, every page) once there is any candidate.
        ``ValidationError`` without an ``offload`` configuration.
        """
        if self._offloader is None:
            raise ValidationError("collect_orphans needs an offload=S3Offload(...) configuration")
        return self._offloader.collect_orphans(
            self._gateway, older_than=older_than, now=self._now()
        )

    def health(self) -> HealthStatus:
        """``healthy``, ``degraded`` (a GSI or TTL not active) or ``unhealthy`` (no table)."""
        started = time.perf_counter()
        details: dict[str, Any] = {"table": self._table}
        if self._closed:
            return HealthStatus(status="unhealthy", details={**details, "error": "closed"})
        try:
            table = self._gateway.describe_table()
            latency = (time.perf_counter() - started) * 1000
            if table is None:
                raise TableNotFoundError(f"{self._gateway.where} does not exist")
            ttl = self._gateway.describe_ttl()
        except StorageError as error:
            cause = error.__cause__
            details["error"] = aws_code(error) or (
                type(cause).__name__ if cause is not None else "ResourceNotFoundException"
            )
            return HealthStatus(
                status="unhealthy",
                latency_ms=(time.perf_counter() - started) * 1000,
                details=details,
            )
        indexes = {
            i["IndexName"]: i.get("IndexStatus") for i in table.get("GlobalSecondaryIndexes", [])
        }
        details.update(
            table_status=table.get("TableStatus"), indexes=indexes, ttl=ttl.get("TimeToLiveStatus")
        )
        problems = [
            f"{name} missing"
            for name in (models.USER_INDEX_NAME, models.AGENT_INDEX_NAME)
            if name not in indexes
        ]
        problems += [f"{name} {state}" for name, state in indexes.items() if state != "ACTIVE"]
        if table.get("TableStatus") != "ACTIVE":
            problems.append(f"table {table.get('TableStatus')}")
        if ttl.get("TimeToLiveStatus") != "ENABLED" or ttl.get("AttributeName") != TTL_ATTRIBUTE:
            problems.append("TTL not enabled on 'ttl'")
        if problems:
            details["problems"] = problems
        return HealthStatus(
            status="degraded" if problems else "healthy", latency_ms=latency, details=details
        )

    def _check_owner_ids(self, user_id: str | None, agent_id: str | None) -> None:
        if user_id is not None:
            keys.check_user_id(user_id)
        if agent_id is not None:
            keys.check_agent_id(agent_id)

    def close(self) -> None:
        """Release the client's connections; the adapter refuses requests afterwards."""
        self._closed = True
        self.models.close()
        if self._offloader is not None:
            self._offloader.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
