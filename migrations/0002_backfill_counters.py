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

from session_store import keys
from session_store._expressions import Expression
from session_store.counters import recount_session
from session_store.models import SessionMeta
from session_store.table import BoundModels


def session_ids(bound: BoundModels) -> Iterator[str]:
    """The id of every session item, from a paginated scan projecting only the keys."""
    e = Expression()
    request = e.into(
        {
            "FilterExpression": f"{e.name(SessionMeta.sk)} = {e.string(keys.META_SK)} AND "
            f"begins_with({e.name(SessionMeta.pk)}, {e.string(keys.SESSION_PREFIX)})",
            "ProjectionExpression": f"{e.name(SessionMeta.pk)}, {e.name(SessionMeta.sk)}",
            "ConsistentRead": True,
        }
    )
    for item in bound.gateway.items("Scan", request):
        yield keys.parse_session_pk(item[SessionMeta.pk.attr_name]["S"])


def up(bound: BoundModels) -> dict[str, object]:
    recounted = vanished = 0
    for session_id in session_ids(bound):
        if recount_session(bound.gateway, session_id) is None:
            vanished += 1  # deleted between the scan and its recount
        else:
            recounted += 1
    return {"sessionsRecounted": recounted, "sessionsGone": vanished}
