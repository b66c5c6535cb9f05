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

from botocore.exceptions import BotoCoreError, ClientError

from session_store import keys, models
from session_store.domain import Message
from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import SessionError, StorageError

__all__ = ["UnreadableItemError", "is_unreadable", "readable_messages"]

logger: Final = logging.getLogger("session_store.integrations")

_MESSAGE_PREFIX: Final = "MSG#"


class UnreadableItemError(StorageError):
    """A stored message cannot be decoded; it was left in the table as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="UNREADABLE_ITEM")


def is_unreadable(error: BaseException) -> bool:
    """Whether ``error`` comes from decoding a stored item, not from a failed request.

    The adapter reports an item it cannot decode as a ``StorageError`` without
    a botocore cause (or, in older versions, as the decoder's own
    ``ValueError``/``TypeError``/``KeyError``).
    """
    if isinstance(error, UnreadableItemError):
        return True
    if isinstance(error, SessionError):
        return type(error) is StorageError and not isinstance(
            error.__cause__, ClientError | BotoCoreError
        )
    return isinstance(error, ValueError | TypeError | KeyError)


def _decoded(item: Mapping[str, Any], session_id: str) -> Message | None:
    try:
        return models.Message.decode(item)
    except Exception as error:
        if not is_unreadable(error):
            raise
        sort_key = item.get("SK", {}).get("S", "?")
        logger.warning(
            "skipped an unreadable message %r of session %r: %s", sort_key, session_id, error
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
    request: dict[str, Any] = {
        "TableName": adapter.config.table_name,
        "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :msg)",
        "ExpressionAttributeNames": {"#pk": "PK", "#sk": "SK"},
        "ExpressionAttributeValues": {
            ":pk": {"S": keys.session_pk(session_id)},
            ":msg": {"S": _MESSAGE_PREFIX},
        },
        "ConsistentRead": True,
        "ScanIndexForward": newest is None,
    }
    found: list[Message] = []
    client = adapter.models.client
    try:
        while newest is None or len(found) < newest:
            page = client.query(**request)
            for item in page.get("Items", []):
                message = _decoded(item, session_id)
                if message is not None:
                    found.append(message)
                    if newest is not None and len(found) == newest:
                        break
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except (ClientError, BotoCoreError) as error:
        raise StorageError(f"reading the messages of session {session_id!r} failed") from error
    return found if newest is None else found[::-1]
