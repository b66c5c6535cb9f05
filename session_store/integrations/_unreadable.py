"""Stored messages that cannot be decoded, as the framework integrations treat them.

A message item written behind the adapter's back can hold an attribute the
models cannot read (``metadata`` that is not JSON, say). The frameworks' own
stores skip such rows when they list a history; the integrations do the same
on reads, and refuse with :class:`UnreadableItemError` where skipping would
lose data (``pop_item`` never deletes what it could not return).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from session_store import keys, models
from session_store._expressions import Expression
from session_store.domain import Message
from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import UnreadableItemError

__all__ = ["UnreadableItemError", "is_unreadable", "readable_messages"]

logger: Final = logging.getLogger("session_store.integrations")


def is_unreadable(error: BaseException) -> bool:
    """Whether ``error`` comes from decoding a stored item, not from a failed request."""
    return isinstance(error, UnreadableItemError)


def _decoded(item: Mapping[str, Any], session_id: str) -> Message | None:
    try:
        return models.Message.decode(item)
    except UnreadableItemError as error:
        logger.warning(
            "skipped an unreadable message %s of session %r: %s", error.key, session_id, error
        )
        return None


def readable_messages(
    adapter: DynamoDBAdapter, session_id: str, *, newest: int | None = None
) -> list[Message]:
    """The session's messages that decode, oldest first; the others are skipped and logged.

    ``newest=n`` returns the newest ``n`` readable ones (read newest first, one
    page at a time, until ``n`` decode). The slow path of a history that holds
    an unreadable item: every read is strongly consistent, as the adapter's.
    """
    e = Expression()
    message = models.Message
    request = e.into(
        {
            "KeyConditionExpression": f"{e.name(message.pk)} = "
            f"{e.string(keys.session_pk(session_id))} AND begins_with({e.name(message.sk)}, "
            f"{e.string(keys.MESSAGE_PREFIX)})",
            "ConsistentRead": True,
            "ScanIndexForward": newest is None,
        }
    )
    found: list[Message] = []
    for item in adapter.models.gateway.items("Query", request):
        decoded = _decoded(item, session_id)
        if decoded is not None:
            found.append(decoded)
            if newest is not None and len(found) == newest:
                break
    return found if newest is None else found[::-1]
