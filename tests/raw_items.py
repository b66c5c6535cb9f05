"""Items written behind the adapter's back, as the TypeScript adapter leaves them.

The tests use these to put the table in states the adapter never makes itself.
"""

from __future__ import annotations

import uuid
from typing import Any

from session_store import DynamoDBAdapter

REFERENCE_INSTANT = "2026-11-24T13:13:22.341Z"
"""The creation time of the bare-uuid messages below (a time from the reference items)."""


def remove_counters(adapter: DynamoDBAdapter, session_id: str) -> None:
    """Drop the session's ``messageCount``/``tokenCount``: the TypeScript adapter keeps none."""
    adapter.models.client.update_item(
        TableName=adapter.config.table_name,
        Key={"PK": {"S": f"SESSION#{session_id}"}, "SK": {"S": "META"}},
        UpdateExpression="REMOVE messageCount, tokenCount",
    )


def put_uuid_message(
    adapter: DynamoDBAdapter, session_id: str, **attributes: dict[str, Any]
) -> str:
    """A message with a bare uuid id (no timestamp in it), uncounted; its id.

    ``attributes`` (DynamoDB JSON) are added to, or replace, the defaults:
    role ``user``, content ``replayed``.
    """
    bare = str(uuid.uuid4())
    adapter.models.client.put_item(
        TableName=adapter.config.table_name,
        Item={
            "PK": {"S": f"SESSION#{session_id}"},
            "SK": {"S": f"MSG#{REFERENCE_INSTANT}#{bare}"},
            "role": {"S": "user"},
            "content": {"S": "replayed"},
            "id": {"S": bare},
            "sessionId": {"S": session_id},
            "createdAt": {"S": REFERENCE_INSTANT},
            **attributes,
        },
    )
    return bare
