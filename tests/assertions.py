"""Assertions shared by the integration tests."""

from __future__ import annotations

from session_store import DynamoDBAdapter, Session
from session_store.counters import count_messages


def assert_counters_exact(adapter: DynamoDBAdapter, session_id: str) -> Session:
    """The session's counters equal its messages and their tokens; the session as stored."""
    stored = adapter.get_session(session_id)
    assert stored is not None
    totals = count_messages(adapter.models.gateway, session_id)
    assert (stored.message_count, stored.token_count) == (
        totals.message_count,
        totals.token_count,
    )
    return stored
