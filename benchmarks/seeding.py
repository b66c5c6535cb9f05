"""Filling tables fast: sessions and messages written straight as items, 25 to a batch.

Ten thousand ``add_message`` calls would take a minute on DynamoDB Local;
the items they would leave are written here with ``BatchWriteItem`` instead,
built by the same models (``SessionMeta.from_domain``, ``Message.from_domain``)
so they are byte for byte what the adapter writes, counters included. Seeding
is never measured.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from session_store import models
from session_store._time import utc_now
from session_store.domain import Message, MessageRole, Session, SessionStatus
from session_store.dynamodb import DynamoDBAdapter
from session_store.ids import new_message_id
from session_store.planning import new_session_item

__all__ = [
    "MESSAGE",
    "MESSAGE_DESCRIPTION",
    "SeededSession",
    "seed_session",
    "seed_sessions",
    "write_items",
]

MESSAGE: dict[str, Any] = {"role": "user", "content": "hello world " * 8, "token_count": 9}
"""The message of every benchmark, the TypeScript reference figures' body included."""
MESSAGE_DESCRIPTION = (
    'every message `{"role": "user", "content": "hello world " * 8, "token_count": 9}`'
)

_BATCH = 25
_WRITERS = 4


@dataclass(frozen=True)
class SeededSession:
    """A session written by the seeder, and its messages' ids, oldest first."""

    id: str
    message_ids: list[str]


def write_batch(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    """One ``BatchWriteItem``, its unprocessed items sent again with backoff until none are left."""
    delay = 0.05
    while requests:
        response = client.batch_write_item(RequestItems={table: requests})
        requests = response.get("UnprocessedItems", {}).get(table, [])
        if requests:
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def write_items(adapter: DynamoDBAdapter, items: Sequence[dict[str, Any]]) -> None:
    """Put ``items`` into the adapter's table, 25 a request, a few requests at a time."""
    client: Any = adapter.models.client
    table = adapter.config.table_name
    batches = [items[start : start + _BATCH] for start in range(0, len(items), _BATCH)]

    def put(batch: Sequence[dict[str, Any]]) -> None:
        write_batch(client, table, [{"PutRequest": {"Item": item}} for item in batch])

    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        for _ in pool.map(put, batches):
            pass


def _session(
    *,
    messages: int,
    user_id: str | None,
    active_agent_id: str | None,
    created_at: datetime,
    expires_at: datetime | None,
) -> Session:
    return Session(
        id=str(uuid.uuid4()),
        user_id=user_id,
        active_agent_id=active_agent_id,
        status=SessionStatus.ACTIVE,
        created_at=created_at,
        last_activity_at=created_at,
        expires_at=expires_at,
        message_count=messages,
        token_count=messages * MESSAGE["token_count"],
        version=1,
    )


def _message_items(session_id: str, count: int) -> tuple[list[str], list[dict[str, Any]]]:
    ids: list[str] = []
    items: list[dict[str, Any]] = []
    for _ in range(count):
        message_id = new_message_id()
        message = Message(
            id=str(message_id),
            session_id=session_id,
            role=MessageRole(MESSAGE["role"]),
            content=MESSAGE["content"],
            token_count=MESSAGE["token_count"],
            created_at=message_id.datetime,
        )
        ids.append(message.id)
        items.append(models.Message.from_domain(message).serialize())
    return ids, items


def seed_session(
    adapter: DynamoDBAdapter,
    *,
    messages: int,
    user_id: str | None = None,
    active_agent_id: str | None = None,
    expires_at: datetime | None = None,
) -> SeededSession:
    """A session with ``messages`` identical messages and exact counters."""
    (seeded,) = seed_sessions(
        adapter,
        1,
        messages_each=messages,
        user_id=user_id,
        active_agent_id=active_agent_id,
        expires_at=expires_at,
    )
    return seeded


def seed_sessions(
    adapter: DynamoDBAdapter,
    count: int,
    *,
    messages_each: int = 0,
    user_id: str | None = None,
    active_agent_id: str | None = None,
    expires_at: datetime | None = None,
) -> list[SeededSession]:
    """``count`` sessions, created a millisecond apart (newest last), each with its messages."""
    start = utc_now() - timedelta(milliseconds=count)
    seeded: list[SeededSession] = []
    items: list[dict[str, Any]] = []
    for index in range(count):
        session = _session(
            messages=messages_each,
            user_id=user_id,
            active_agent_id=active_agent_id,
            created_at=start + timedelta(milliseconds=index),
            expires_at=expires_at,
        )
        # As create_session writes it, write-token list included.
        items.append(new_session_item(session, uuid.uuid4().hex))
        ids, message_items = _message_items(session.id, messages_each)
        items.extend(message_items)
        seeded.append(SeededSession(session.id, ids))
    write_items(adapter, items)
    return seeded
