"""Give every session a version and exact message/token counters.

The TypeScript adapter writes ``version``, ``messageCount`` and ``tokenCount``
as 0 or not at all and never updates them. This scans the table for session
items (``SESSION#…`` / ``META``, keys only, every page) and recounts each one
from its messages with ``session_store.counters.recount_session``, which also
sets ``version`` to 0 where it is missing and leaves an existing one alone.
The scan reads the whole table, messages included. Records how many sessions
it recounted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from session_store import keys
from session_store.counters import recount_session
from session_store.table import BoundModels


def session_ids(bound: BoundModels) -> Iterator[str]:
    """The id of every session item, from a paginated scan projecting only the keys."""
    request: dict[str, Any] = {
        "TableName": bound.config.table_name,
        "FilterExpression": "#sk = :meta AND begins_with(#pk, :session)",
        "ProjectionExpression": "#pk, #sk",
        "ExpressionAttributeNames": {"#pk": "PK", "#sk": "SK"},
        "ExpressionAttributeValues": {
            ":meta": {"S": keys.META_SK},
            ":session": {"S": keys.SESSION_PREFIX},
        },
        "ConsistentRead": True,
    }
    while True:
        page = bound.client.scan(**request)
        for item in page.get("Items", []):
            yield keys.parse_session_pk(item["PK"]["S"])
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def up(bound: BoundModels) -> dict[str, object]:
    recounted = vanished = 0
    for session_id in session_ids(bound):
        if recount_session(bound, session_id) is None:
            vanished += 1  # deleted between the scan and its recount
        else:
            recounted += 1
    return {"sessionsRecounted": recounted, "sessionsGone": vanished}
