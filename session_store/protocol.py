"""The storage-adapter interface that agent runtimes program against."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

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

__all__ = ["StorageAdapter"]

SessionInput = NewSession | Mapping[str, Any]
SessionUpdateInput = SessionUpdate | Mapping[str, Any]
MessageInput = NewMessage | Mapping[str, Any]
MessageUpdateInput = MessageUpdate | Mapping[str, Any]
FiltersInput = SessionFilters | Mapping[str, Any] | None
QueryInput = MessageQuery | Mapping[str, Any] | None


@runtime_checkable
class StorageAdapter(Protocol):
    """Sessions and their messages. Every input also accepts a plain mapping."""

    def create_session(self, data: SessionInput) -> Session: ...
    def get_session(self, session_id: str) -> Session | None: ...
    def update_session(
        self, session_id: str, updates: SessionUpdateInput, *, expected_version: int | None = None
    ) -> Session: ...
    def delete_session(self, session_id: str) -> None: ...
    def list_sessions(self, filters: FiltersInput = None) -> list[Session]: ...
    def iter_sessions(self, filters: FiltersInput = None) -> Iterator[Session]: ...
    def list_sessions_page(
        self, filters: FiltersInput = None, *, cursor: str | None = None, page_size: int = 50
    ) -> Page[Session]: ...
    def add_message(self, session_id: str, data: MessageInput) -> Message: ...
    def add_messages(self, session_id: str, messages: Sequence[MessageInput]) -> list[Message]: ...
    def get_messages(self, session_id: str, query: QueryInput = None) -> list[Message]: ...
    def iter_messages(self, session_id: str, query: QueryInput = None) -> Iterator[Message]: ...
    def get_messages_page(
        self,
        session_id: str,
        query: QueryInput = None,
        *,
        cursor: str | None = None,
        page_size: int = 50,
    ) -> Page[Message]: ...
    def update_message(
        self, session_id: str, message_id: str, updates: MessageUpdateInput
    ) -> Message: ...
    def delete_message(self, session_id: str, message_id: str) -> None: ...
    def pop_message(self, session_id: str) -> Message | None: ...
    def delete_all_messages(self, session_id: str) -> None: ...
    def get_context_window(
        self, session_id: str, max_tokens: int, *, reserve_tokens: int = 0
    ) -> list[Message]: ...
    def get_expired_sessions(self, before: datetime) -> list[str]: ...
    def sweep_expired(
        self,
        before: datetime | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> int: ...
    def recount(self, session_id: str) -> Session: ...
    def health(self) -> HealthStatus: ...
    def close(self) -> None: ...
