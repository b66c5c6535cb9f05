"""The reading methods every adapter shares, written once over its own page walk.

``iter_*``, ``list_sessions``/``get_messages`` and ``*_page`` differ only in
how much of one walk they consume, and ``get_context_window`` only in where
its newest-first read comes from. An adapter supplies the walks
(``_walk_sessions``, ``_walk_messages``) and inherits the public methods, so
their signatures, input checks and page handling cannot drift apart between
``DynamoDBAdapter`` and ``MemoryAdapter``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from session_store import keys
from session_store._inputs import checked_non_negative, checked_page_size, validated
from session_store.cursor import Cursor, CursorCodec
from session_store.domain import Message, MessageQuery, MessageRole, Page, Session, SessionFilters
from session_store.errors import ValidationError

__all__ = ["Listings", "Walk", "WalkStart", "walk_start"]

_T = TypeVar("_T")

Walk = tuple[Iterable[_T], Callable[[], str | None]]
"""A walk's items, and a function giving the next cursor once they are consumed."""

_NOT_SYSTEM = tuple(role for role in MessageRole if role is not MessageRole.SYSTEM)


@dataclass(frozen=True)
class WalkStart:
    """Where a page walk starts and how much it may hand out (the arithmetic both adapters
    share): the cursor's position (``None`` without one), the items handed out before it,
    the items to skip, and how many to take (``None``: all)."""

    position: Cursor | None
    returned: int
    skip: int
    take: int | None


def walk_start(
    cursors: CursorCodec,
    *,
    kind: str,
    query: str,
    cursor: str | None,
    offset: int,
    limit: int | None,
    page_size: int | None,
) -> WalkStart:
    """Decode ``cursor`` (checked against ``kind`` and ``query``) and size the walk:
    ``limit`` caps the whole walk across cursors, ``page_size`` one page, ``offset``
    skips from the start (and cannot be combined with a cursor)."""
    position = None
    returned = 0
    if cursor is not None:
        if offset:
            raise ValidationError("offset cannot be combined with a cursor")
        position = cursors.decode(cursor, kind=kind, query=query)
        returned = position.returned
    remaining = None if limit is None else max(limit - returned, 0)
    take = (
        remaining
        if page_size is None
        else (page_size if remaining is None else min(page_size, remaining))
    )
    return WalkStart(position, returned, offset if cursor is None else 0, take)


class Listings(ABC):
    """Listing, paging and context-window reads over ``_walk_sessions``/``_walk_messages``."""

    @abstractmethod
    def _walk_sessions(
        self, filters: SessionFilters, cursor: str | None, page_size: int | None
    ) -> Walk[Session]:
        """Walk the sessions matching ``filters`` from ``cursor``; all of them without a page size.

        Validates what the domain model does not (owner ids, the cursor) and
        honours ``filters.limit``/``offset`` across cursors.
        """

    @abstractmethod
    def _walk_messages(
        self, session_id: str, query: MessageQuery, cursor: str | None, page_size: int | None
    ) -> Walk[Message]:
        """Walk a session's messages as ``query`` asks, from ``cursor``, like ``_walk_sessions``."""

    def _context_read(self, session_id: str, query: MessageQuery) -> Generator[Message, None, None]:
        """``get_context_window``'s newest-first read of the messages ``query`` selects."""
        yield from self._walk_messages(session_id, query, None, None)[0]

    # --- sessions -------------------------------------------------------------

    def iter_sessions(
        self, filters: SessionFilters | Mapping[str, Any] | None = None
    ) -> Iterator[Session]:
        """Sessions matching ``filters``, read page by page as they are consumed.

        ``filters`` is validated when iteration starts.
        """
        chosen = validated(SessionFilters, {} if filters is None else filters)
        yield from self._walk_sessions(chosen, None, None)[0]

    def list_sessions(
        self, filters: SessionFilters | Mapping[str, Any] | None = None
    ) -> list[Session]:
        """Sessions matching ``filters``; ``limit``/``offset`` exact after filtering."""
        return list(self.iter_sessions(filters))

    def list_sessions_page(
        self,
        filters: SessionFilters | Mapping[str, Any] | None = None,
        *,
        cursor: str | None = None,
        page_size: int = 50,
    ) -> Page[Session]:
        """One page of ``list_sessions``; pass ``next_cursor`` back for the next."""
        chosen = validated(SessionFilters, {} if filters is None else filters)
        size = checked_page_size(page_size)
        items, next_cursor = self._walk_sessions(chosen, cursor, size)
        return Page[Session](items=list(items), next_cursor=next_cursor())

    # --- messages -------------------------------------------------------------

    def iter_messages(
        self, session_id: str, query: MessageQuery | Mapping[str, Any] | None = None
    ) -> Iterator[Message]:
        """Messages in sort-key order (``desc`` reverses), read page by page as consumed.

        The arguments are validated when iteration starts.
        """
        chosen = validated(MessageQuery, {} if query is None else query)
        yield from self._walk_messages(session_id, chosen, None, None)[0]

    def get_messages(
        self, session_id: str, query: MessageQuery | Mapping[str, Any] | None = None
    ) -> list[Message]:
        """Messages of a session (``[]`` for an unknown one); exact ``limit``/``offset``."""
        chosen = validated(MessageQuery, {} if query is None else query)
        # The walk itself, not iter_messages: one generator less for every message.
        return list(self._walk_messages(session_id, chosen, None, None)[0])

    def get_messages_page(
        self,
        session_id: str,
        query: MessageQuery | Mapping[str, Any] | None = None,
        *,
        cursor: str | None = None,
        page_size: int = 50,
    ) -> Page[Message]:
        """One page of ``get_messages``; pass ``next_cursor`` back for the next."""
        chosen = validated(MessageQuery, {} if query is None else query)
        size = checked_page_size(page_size)
        items, next_cursor = self._walk_messages(session_id, chosen, cursor, size)
        return Page[Message](items=list(items), next_cursor=next_cursor())

    def get_context_window(
        self, session_id: str, max_tokens: int, *, reserve_tokens: int = 0
    ) -> list[Message]:
        """What fits a model's context: system messages plus the newest run of the rest.

        Returns the session's system messages and the newest contiguous run
        of other messages whose stored ``token_count`` (missing counts 0)
        fits ``max_tokens - reserve_tokens`` together with them, oldest
        first. Reads the system messages in one filtered query, then the
        others newest first, stopping at the first page it does not need.
        """
        keys.check_session_id(session_id)
        checked_non_negative("max_tokens", max_tokens)
        checked_non_negative("reserve_tokens", reserve_tokens)
        system = self.get_messages(session_id, {"roles": [MessageRole.SYSTEM]})
        budget = max_tokens - reserve_tokens - sum(m.token_count or 0 for m in system)
        run: list[Message] = []
        newest_first = self._context_read(
            session_id, MessageQuery(order="desc", roles=list(_NOT_SYSTEM))
        )
        try:
            for message in newest_first:
                budget -= message.token_count or 0
                if budget < 0:
                    break
                run.append(message)
        finally:
            newest_first.close()  # let go of the read now, not when collected
        return sorted([*system, *run], key=lambda m: (m.created_at, m.id))
