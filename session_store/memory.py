"""``MemoryAdapter``: the storage-adapter interface in process memory.

Two uses:

* **Your unit tests.** Code written against ``StorageAdapter`` can be tested
  with ``MemoryAdapter()`` instead of a DynamoDB table (no moto, no network).
  Inject ``clock`` to control time (a session's ``created_at`` and
  ``last_activity_at``, a message's ``updated_at`` and every expiry check
  follow it) and ``session_ttl`` for sliding expiry, exactly as with
  ``DynamoDBAdapter``.
* **The model in property tests.** ``tests/integration/test_stateful.py``
  runs random operation sequences against ``DynamoDBAdapter`` and this class
  side by side and checks they agree.

Semantics are those of ``DynamoDBAdapter`` (see the specification, §3-§5):
inputs are validated through the same domain models and key checks (plain
mappings with snake_case or camelCase keys are accepted), every
``ValidationError`` is raised before anything changes, and the same errors
come out of the same situations: ``SessionExistsError``,
``SessionNotFoundError`` (missing or expired), ``ConcurrencyError`` carrying
the stored version, ``MessageNotFoundError``. ``version`` goes up by one on
every write of the session item (``update_session``, and each counter change
as ``DynamoDBAdapter`` makes it); ``message_count``/``token_count`` follow every
message write; ``expires_at`` is kept in whole seconds (truncated) as the
table keeps it, and a session is expired once ``expires_at <= now``.

Where DynamoDB leaves an order unspecified this class picks one:

* ``list_sessions`` by ``user_id`` is newest first by ``created_at`` (as
  GSI1), equal instants by descending id;
* by ``active_agent_id`` (no ``user_id``) it is by status (as GSI2's sort
  key ``STATUS#{status}``), then by id;
* otherwise (a scan in DynamoDB, in no useful order) it is by id.

Messages are in sort-key order (``MSG#{created_at}#{id}``, chronological;
``desc`` reverses). Message ids are ULIDs from the same process-wide
monotonic generator as ``DynamoDBAdapter``'s, so a message's ``created_at``
is its id's timestamp, i.e. wall-clock time, not the injected ``clock``
(exactly as in ``DynamoDBAdapter``).

Cursors are opaque and checked like ``DynamoDBAdapter``'s (a cursor is
valid only with the query that produced it, ``offset`` and ``page_size``
aside), but they are not interchangeable with DynamoDB cursors. Values
handed out are copies: changing them never changes what is stored. All
methods are thread-safe (one lock). After ``close()`` every request is
refused with ``StorageError``, as by a closed ``DynamoDBAdapter``; the adapter
is also a context manager.

This module is long because it is the whole adapter interface, kept agreeing with
``DynamoDBAdapter`` (a stateful test compares them); the rules both follow live in
``planning`` and ``_listings``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from session_store import keys, models
from session_store._inputs import (
    checked_non_negative,
    ttl_removed_session,
    validated,
    validated_messages,
)
from session_store._listings import Listings, walk_start
from session_store._time import (
    format_iso,
    from_epoch_seconds,
    to_epoch_seconds,
    to_whole_second,
    utc_now,
)
from session_store.cursor import Cursor, CursorCodec, fingerprint
from session_store.domain import (
    HealthStatus,
    Message,
    MessageQuery,
    MessageUpdate,
    NewMessage,
    NewSession,
    Session,
    SessionFilters,
    SessionUpdate,
)
from session_store.errors import (
    ConcurrencyError,
    MessageNotFoundError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
    ValidationError,
)
from session_store.limits import MAX_APPEND, check_item_size, check_transaction_size
from session_store.planning import has_expired, new_message, new_session

__all__ = ["MemoryAdapter"]

_M = TypeVar("_M", bound=BaseModel)
_T = TypeVar("_T")

_MAX_TTL = timedelta(days=36_500)
_EPOCH = from_epoch_seconds(0)
_PROBE_TIMES = {
    "session": {"created_at": _EPOCH, "last_activity_at": _EPOCH},
    "message": {"created_at": _EPOCH},
}
"""Stand-in instants for checking what an update writes before the item is read."""
_SESSIONS_KIND = "memory-sessions"
_MESSAGES_KIND = "memory-messages"


def _epoch(instant: object) -> int:
    """Whole epoch seconds of an aware datetime; ``ValidationError`` otherwise."""
    if not isinstance(instant, datetime):
        raise ValidationError("expected a datetime")
    try:
        return to_epoch_seconds(instant)
    except (ValueError, OverflowError) as error:
        raise ValidationError(f"invalid instant: {error}") from None


def _check_owner_ids(user_id: str | None, agent_id: str | None) -> None:
    if user_id is not None:
        keys.check_user_id(user_id)
    if agent_id is not None:
        keys.check_agent_id(agent_id)


def _check_session_size(session: Session) -> None:
    """The 400 KB item limit, measured on the item the table would hold."""
    item = models.SessionMeta.from_domain(session).serialize()
    check_item_size(item, f"session {session.id!r}")


def _check_message_size(message: Message) -> dict[str, Any]:
    """The message's item, once its size is checked."""
    item = models.Message.from_domain(message).serialize()
    check_item_size(item, f"message of session {message.session_id!r}")
    return item


def _message_sort_key(message: Message) -> str:
    return keys.message_sk(message.created_at, message.id)


def _start_key_of(position: tuple[str, ...]) -> dict[str, Any]:
    """A cursor's start key (string attributes, as DynamoDB keys) from a listing position."""
    return {f"k{index}": {"S": part} for index, part in enumerate(position)}


def _position_of(start_key: Mapping[str, Any]) -> tuple[str, ...]:
    """The listing position a cursor's start key holds; ``ValidationError`` if it holds none."""
    try:
        return tuple(start_key[f"k{index}"]["S"] for index in range(len(start_key)))
    except (KeyError, TypeError):
        raise ValidationError("malformed cursor") from None


@dataclass(frozen=True)
class _Listing(Generic[_T]):
    """Items in walk order, each with its position key (unique, ordered as the walk)."""

    items: list[tuple[tuple[str, ...], _T]]
    descending: bool


class MemoryAdapter(Listings):
    """Sessions and messages in process memory, with ``DynamoDBAdapter``'s semantics.

    ``session_ttl`` gives sliding expiry (``expires_at = now + ttl`` on
    create, update and every appended message); ``clock`` returns "now" (an
    aware datetime) and defaults to the wall clock at millisecond precision.
    """

    def __init__(
        self,
        *,
        session_ttl: timedelta | None = None,
        clock: Callable[[], datetime] = utc_now,
        cursor_secret: bytes = b"session-store-memory-cursor",
    ) -> None:
        if session_ttl is not None and (
            not isinstance(session_ttl, timedelta) or not timedelta(0) < session_ttl <= _MAX_TTL
        ):
            raise ValidationError("session_ttl must be a timedelta between 0 and 100 years")
        if not callable(clock):
            raise ValidationError("clock must be a callable returning an aware datetime")
        if not isinstance(cursor_secret, bytes) or not cursor_secret:
            raise ValidationError("cursor_secret must be non-empty bytes")
        self.session_ttl = session_ttl
        self._clock = clock
        self._cursors = CursorCodec(cursor_secret)
        self._lock = threading.RLock()
        self._sessions: dict[str, Session] = {}
        self._messages: dict[str, dict[str, Message]] = {}
        self._closed = False

    def __repr__(self) -> str:
        with self._lock:
            count = len(self._sessions)
        return f"MemoryAdapter(sessions={count})"

    # --- plumbing -------------------------------------------------------------

    @contextmanager
    def _request(self) -> Iterator[None]:
        """Hold the lock for one operation; a closed adapter refuses it (as DynamoDBAdapter)."""
        with self._lock:
            if self._closed:
                raise StorageError("the adapter is closed", adapter="memory")
            yield

    def _now(self) -> datetime:
        return self._clock()

    def _expiry(self, now: datetime) -> datetime | None:
        return None if self.session_ttl is None else now + self.session_ttl

    @staticmethod
    def _expired(session: Session, now: datetime) -> bool:
        return has_expired(session.expires_at, now)

    def _live(self, session_id: str, now: datetime) -> Session:
        """The stored, unexpired session; ``SessionNotFoundError`` otherwise."""
        session = self._sessions.get(session_id)
        if session is None or self._expired(session, now):
            raise SessionNotFoundError(session_id)
        return session

    def _store(self, session: Session) -> Session:
        self._sessions[session.id] = session
        return session.model_copy(deep=True)

    # --- table (no-ops, for code that also runs on DynamoDBAdapter) -----------

    def create_table(self, *, stream: bool | None = None) -> bool:
        """Nothing to create; ``False`` (as for a table that already exists)."""
        return False

    def migrate(self) -> list[str]:
        """Nothing to migrate; ``[]``."""
        return []

    # --- sessions -------------------------------------------------------------

    def create_session(self, data: NewSession | Mapping[str, Any]) -> Session:
        """Store a new session; never overwrites (``SessionExistsError``)."""
        new = validated(NewSession, data)
        session_id = keys.check_session_id(new.id if new.id is not None else str(uuid.uuid4()))
        _check_owner_ids(new.user_id, new.active_agent_id)
        with self._request():
            now = self._now()
            session = new_session(new, session_id, now=now, expires_at=self._expiry(now))
            _check_session_size(session)
            # A live session keeps its id; an expired one is replaced, its messages dropped.
            current = self._sessions.get(session_id)
            if current is not None and not self._expired(current, now):
                raise SessionExistsError(session_id)
            if current is not None:
                self._messages.pop(session_id, None)
            return self._store(session)

    def get_session(self, session_id: str) -> Session | None:
        """The session, or ``None`` when absent or expired."""
        keys.check_session_id(session_id)
        with self._request():
            session = self._sessions.get(session_id)
            if session is None or self._expired(session, self._now()):
                return None
            return session.model_copy(deep=True)

    def update_session(
        self,
        session_id: str,
        updates: SessionUpdate | Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> Session:
        """Apply ``updates``; ``version`` + 1, ``last_activity_at`` (and sliding expiry) refreshed.

        ``SessionNotFoundError`` for a missing or expired session (checked
        first), then ``ConcurrencyError`` when ``expected_version`` differs
        from the stored version.
        """
        keys.check_session_id(session_id)
        change = validated(SessionUpdate, updates)
        if expected_version is not None:
            checked_non_negative("expected_version", expected_version)
        given = change.model_fields_set
        _check_owner_ids(
            change.user_id if "user_id" in given else None,
            change.active_agent_id if "active_agent_id" in given else None,
        )
        # What the update writes is checked before the session is looked at (as DynamoDB).
        written = change.model_dump(include=given - {"expires_at"}, exclude_none=True)
        _check_session_size(
            Session.model_validate(
                {"status": "active", **written, "id": session_id, **_PROBE_TIMES["session"]}
            )
        )
        with self._request():
            now = self._now()
            current = self._live(session_id, now)
            if expected_version is not None and current.version != expected_version:
                raise ConcurrencyError(session_id, expected_version, current.version)
            data = current.model_dump()
            data.update(change.model_dump(include=given - {"expires_at"}))
            if "expires_at" in given:
                data["expires_at"] = to_whole_second(change.expires_at)
            elif self.session_ttl is not None:
                data["expires_at"] = to_whole_second(self._expiry(now))
            data["last_activity_at"] = now
            data["version"] = current.version + 1
            updated = Session.model_validate(data)
            _check_session_size(updated)
            return self._store(updated)

    def delete_session(self, session_id: str) -> None:
        """Remove the session and all its messages; idempotent."""
        keys.check_session_id(session_id)
        with self._request():
            self._sessions.pop(session_id, None)
            self._messages.pop(session_id, None)

    # --- listing sessions -----------------------------------------------------

    def _session_listing(self, filters: SessionFilters) -> _Listing[Session]:
        after, before = filters.created_after, filters.created_before
        if after is not None and before is not None and after >= before:
            return _Listing([], descending=False)
        now = self._now()
        chosen: list[Session] = []
        for session in self._sessions.values():
            if filters.user_id is not None and session.user_id != filters.user_id:
                continue
            if (
                filters.active_agent_id is not None
                and session.active_agent_id != filters.active_agent_id
            ):
                continue
            if filters.status is not None and session.status != filters.status:
                continue
            if after is not None and not session.created_at > after:
                continue
            if before is not None and not session.created_at < before:
                continue
            if filters.tags and not set(filters.tags) & set(session.metadata.tags or ()):
                continue
            if not filters.include_expired and self._expired(session, now):
                continue
            chosen.append(session)
        keyed: list[tuple[tuple[str, ...], Session]]
        if filters.user_id is not None:  # GSI1: newest first
            keyed = [((format_iso(s.created_at), s.id), s) for s in chosen]
            return _Listing(sorted(keyed, key=lambda pair: pair[0], reverse=True), True)
        if filters.active_agent_id is not None:  # GSI2: by status, descending
            keyed = [((s.status.value, s.id), s) for s in chosen]
            return _Listing(sorted(keyed, key=lambda pair: pair[0], reverse=True), True)
        # A scan: unordered in DynamoDB.
        keyed = [((s.id,), s) for s in chosen]
        return _Listing(sorted(keyed, key=lambda pair: pair[0]), descending=False)

    def _walk_sessions(
        self, filters: SessionFilters, cursor: str | None, page_size: int | None
    ) -> tuple[list[Session], Callable[[], str | None]]:
        _check_owner_ids(filters.user_id, filters.active_agent_id)
        query = fingerprint(_SESSIONS_KIND, filters.model_dump(mode="json", exclude={"offset"}))
        with self._request():
            listing = self._session_listing(filters)
            return self._walk(
                kind=_SESSIONS_KIND,
                query=query,
                listing=listing,
                cursor=cursor,
                page_size=page_size,
                limit=filters.limit,
                offset=filters.offset,
            )

    # --- generic page walk ----------------------------------------------------

    def _walk(
        self,
        *,
        kind: str,
        query: str,
        listing: _Listing[_M],
        cursor: str | None,
        page_size: int | None,
        limit: int | None,
        offset: int,
    ) -> tuple[list[_M], Callable[[], str | None]]:
        """Skip ``offset``, stop at ``limit`` (across cursors), cut a page; copies of the items."""
        items = listing.items
        begin = walk_start(
            self._cursors,
            kind=kind,
            query=query,
            cursor=cursor,
            offset=offset,
            limit=limit,
            page_size=page_size,
        )
        returned, take = begin.returned, begin.take
        if begin.position is not None:
            last = _position_of(begin.position.start_key)
            items = [
                pair for pair in items if (pair[0] < last if listing.descending else pair[0] > last)
            ]
        if take == 0:
            return [], lambda: None
        candidates = items[begin.skip :]
        page = candidates if take is None else candidates[:take]
        more = take is not None and len(candidates) > take
        walk_done = limit is not None and returned + len(page) >= limit
        next_cursor = None
        if page_size is not None and more and not walk_done and page:
            next_cursor = self._cursors.encode(
                Cursor(kind, query, _start_key_of(page[-1][0]), returned + len(page))
            )
        return [item.model_copy(deep=True) for _, item in page], lambda: next_cursor

    # --- messages -------------------------------------------------------------

    def add_message(self, session_id: str, data: NewMessage | Mapping[str, Any]) -> Message:
        """Append a message and count it on the session; the session's ``version`` goes up by one.

        ``SessionNotFoundError`` (nothing written) when the session is absent or expired.
        """
        keys.check_session_id(session_id)
        return self._append(session_id, [validated(NewMessage, data)])[0]

    def add_messages(
        self, session_id: str, messages: Sequence[NewMessage | Mapping[str, Any]]
    ) -> list[Message]:
        """Append up to ``MAX_APPEND`` messages at once, in order: all of them or none."""
        keys.check_session_id(session_id)
        return self._append(session_id, validated_messages(messages))

    def _append(self, session_id: str, news: list[NewMessage]) -> list[Message]:
        if not news:
            return []
        appended = [new_message(new, session_id) for new in news]
        items = [_check_message_size(message) for message in appended]
        check_transaction_size(items, f"{len(items)} messages of session {session_id!r}")
        with self._request():
            now = self._now()
            session = self._live(session_id, now)
            expires_at = to_whole_second(self._expiry(now))
            counted = session.model_copy(
                update={
                    "message_count": session.message_count + len(appended),
                    "token_count": session.token_count
                    + sum(message.token_count or 0 for message in appended),
                    "last_activity_at": now,
                    "version": session.version + 1,
                    **({"expires_at": expires_at} if expires_at is not None else {}),
                }
            )
            self._sessions[session_id] = counted
            stored = self._messages.setdefault(session_id, {})
            for message in appended:
                stored[message.id] = message
            return [message.model_copy(deep=True) for message in appended]

    def _message_listing(self, session_id: str, query: MessageQuery) -> _Listing[Message]:
        after, before = query.after, query.before
        if after is not None and before is not None and after >= before:
            return _Listing([], descending=False)
        roles = set(query.roles) if query.roles else None
        chosen = [
            (_message_sort_key(message), message)
            for message in self._messages.get(session_id, {}).values()
            if (after is None or message.created_at > after)
            and (before is None or message.created_at < before)
            and (roles is None or message.role in roles)
        ]
        descending = query.order == "desc"
        chosen.sort(key=lambda pair: pair[0], reverse=descending)
        return _Listing([((key,), message) for key, message in chosen], descending)

    def _walk_messages(
        self, session_id: str, query: MessageQuery, cursor: str | None, page_size: int | None
    ) -> tuple[list[Message], Callable[[], str | None]]:
        keys.check_session_id(session_id)
        query_fingerprint = fingerprint(
            _MESSAGES_KIND, session_id, query.model_dump(mode="json", exclude={"offset"})
        )
        with self._request():
            listing = self._message_listing(session_id, query)
            return self._walk(
                kind=_MESSAGES_KIND,
                query=query_fingerprint,
                listing=listing,
                cursor=cursor,
                page_size=page_size,
                limit=query.limit,
                offset=query.offset,
            )

    def update_message(
        self,
        session_id: str,
        message_id: str,
        updates: MessageUpdate | Mapping[str, Any],
    ) -> Message:
        """Change a message in place; sets ``updated_at``; keeps the session's ``token_count``.

        ``MessageNotFoundError`` when there is no such message. Changing
        ``token_count`` needs the session item (``SessionNotFoundError``
        otherwise; an expired but unswept session is still there).
        """
        keys.check_session_id(session_id)
        keys.check_message_id(message_id)
        change = validated(MessageUpdate, updates)
        given = change.model_fields_set
        # What the update writes is checked before the message is looked for (as DynamoDB).
        written = change.model_dump(include=given, exclude_none=True)
        probe = {"role": "user", "content": "", **written, **_PROBE_TIMES["message"]}
        _check_message_size(
            Message.model_validate({**probe, "id": message_id, "session_id": session_id})
        )
        with self._request():
            current = self._messages.get(session_id, {}).get(message_id)
            if current is None:
                raise MessageNotFoundError(session_id, message_id)
            now = self._now()
            session = self._sessions.get(session_id)
            if "token_count" in given and session is None:
                raise SessionNotFoundError(session_id)
            data = current.model_dump()
            data.update(change.model_dump(include=given))
            data["updated_at"] = now
            updated = Message.model_validate(data)
            _check_message_size(updated)
            if "token_count" in given and session is not None:
                delta = (updated.token_count or 0) - (current.token_count or 0)
                self._sessions[session_id] = session.model_copy(
                    update={
                        "token_count": max(session.token_count + delta, 0),
                        "version": session.version + 1,
                    }
                )
            self._messages[session_id][message_id] = updated
            return updated.model_copy(deep=True)

    def _uncount(self, session_id: str, removed: list[Message]) -> None:
        session = self._sessions.get(session_id)
        if session is None or not removed:
            return
        tokens = sum(message.token_count or 0 for message in removed)
        # One write of the session item per transaction of up to MAX_APPEND deletes.
        writes = -(-len(removed) // MAX_APPEND)
        self._sessions[session_id] = session.model_copy(
            update={
                "message_count": max(session.message_count - len(removed), 0),
                "token_count": max(session.token_count - tokens, 0),
                "version": session.version + writes,
            }
        )

    def delete_message(self, session_id: str, message_id: str) -> None:
        """Delete a message and uncount it; idempotent."""
        keys.check_session_id(session_id)
        keys.check_message_id(message_id)
        with self._request():
            removed = self._messages.get(session_id, {}).pop(message_id, None)
            if removed is not None:
                self._uncount(session_id, [removed])

    def pop_message(self, session_id: str) -> Message | None:
        """Remove and return the session's newest message; ``None`` when it has none."""
        keys.check_session_id(session_id)
        with self._request():
            messages = self._messages.get(session_id, {})
            if not messages:
                return None
            newest = max(messages.values(), key=_message_sort_key)
            del messages[newest.id]
            self._uncount(session_id, [newest])
            return newest

    def delete_all_messages(self, session_id: str) -> None:
        """Delete every message; counters go down by exactly what was removed."""
        keys.check_session_id(session_id)
        with self._request():
            removed = list(self._messages.pop(session_id, {}).values())
            self._uncount(session_id, removed)

    # --- expiry ---------------------------------------------------------------

    def get_expired_sessions(self, before: datetime) -> list[str]:
        """Ids of sessions with ``expires_at <= before`` (whole seconds), by id."""
        seconds = _epoch(before)
        with self._request():
            return sorted(
                session.id
                for session in self._sessions.values()
                if session.expires_at is not None
                and to_epoch_seconds(session.expires_at) <= seconds
            )

    def sweep_expired(
        self,
        before: datetime | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Delete expired sessions (``expires_at <= before``, default now) and their messages.

        ``progress(done, total)`` as in ``DynamoDBAdapter.sweep_expired``.
        """
        with self._request():
            moment = self._now() if before is None else before
            expired = self.get_expired_sessions(moment)
            if progress is not None:
                progress(0, len(expired))
            for done, session_id in enumerate(expired, start=1):
                self._sessions.pop(session_id, None)
                self._messages.pop(session_id, None)
                if progress is not None:
                    progress(done, len(expired))
            return len(expired)

    def handle_stream_event(self, event: Mapping[str, Any]) -> int:
        """Act on a DynamoDB Streams Lambda event as ``DynamoDBAdapter`` does; messages deleted.

        Only ``REMOVE`` records of session items (``SESSION#{id}`` / ``META``)
        made by the TTL service (``userIdentity`` of type ``Service``,
        ``dynamodb.amazonaws.com``) count. Such a record says the TTL service
        removed the session item; there is no TTL service here, so the session
        goes too (if still present), with its messages.
        """
        if not isinstance(event, Mapping) or not isinstance(event.get("Records", []), list):
            raise ValidationError("expected a DynamoDB Streams event with a Records list")
        # Every record is checked before anything is deleted.
        removed = [ttl_removed_session(record) for record in event.get("Records", [])]
        deleted = 0
        with self._request():
            for removal in removed:
                if removal is None:
                    continue
                session_id, removed_at = removal
                bound = self._now() if removed_at is None else from_epoch_seconds(removed_at)
                messages = self._messages.get(session_id, {})
                # Only the removed incarnation's messages: those created by the removal.
                gone = [m.id for m in messages.values() if m.created_at <= bound]
                for message_id in gone:
                    del messages[message_id]
                self._sessions.pop(session_id, None)
                deleted += len(gone)
        return deleted

    # --- maintenance ----------------------------------------------------------

    def recount(self, session_id: str) -> Session:
        """Recompute ``message_count``/``token_count`` from the messages (expired ones too)."""
        keys.check_session_id(session_id)
        with self._request():
            session = self._sessions.get(session_id)
            if session is None:
                raise SessionNotFoundError(session_id)
            messages = self._messages.get(session_id, {}).values()
            totals = (len(messages), sum(m.token_count or 0 for m in messages))
            if totals == (session.message_count, session.token_count):
                return session.model_copy(deep=True)
            return self._store(
                session.model_copy(
                    update={
                        "message_count": totals[0],
                        "token_count": totals[1],
                        "version": session.version + 1,  # a correcting write
                    }
                )
            )

    def health(self) -> HealthStatus:
        """``healthy`` (there is nothing to reach); ``unhealthy`` once closed."""
        with self._lock:
            if self._closed:
                return HealthStatus(
                    status="unhealthy",
                    latency_ms=0.0,
                    details={"adapter": "memory", "closed": True},
                )
            count = len(self._sessions)
        return HealthStatus(
            status="healthy", latency_ms=0.0, details={"adapter": "memory", "sessions": count}
        )

    def close(self) -> None:
        """Refuse requests from now on (``StorageError``), as a closed ``DynamoDBAdapter`` does."""
        with self._lock:
            self._closed = True

    def __enter__(self) -> MemoryAdapter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
