"""Recounting a session's ``messageCount``/``tokenCount`` from its messages.

The counters on a session item are kept exact by every write of this package,
but the TypeScript adapter never maintains them and a hand edit can make them
drift. ``recount_session`` puts them right for one session at any time;
migration ``0002`` calls it for every session.

How it stays exact while other writers append or delete messages:

1. read the session item (strongly consistent);
2. count the messages with a paginated, strongly consistent query of
   ``SESSION#{id}`` / ``begins_with(SK, "MSG#")``, projecting only the keys
   and ``tokenCount`` (a missing ``tokenCount`` counts 0);
3. write both counters in one ``UpdateItem`` conditioned on the session still
   existing and on ``messageCount``, ``tokenCount`` and ``lastActivityAt``
   being exactly what step 1 read (or still absent). Every write of this
   package that adds or removes a message moves the counters, and an append
   also moves ``lastActivityAt`` (so an append followed by a delete of the
   same size cannot slip through). If the condition fails, start again from
   step 1, at most ``max_attempts`` times, then raise ``StorageError``.

The same ``UpdateItem`` sets ``version = if_not_exists(version, 0)``: a
recount never increments ``version`` (it is not a user update), but it gives
a session written by the TypeScript adapter a version to compare against.
When the stored counters are already exact and a version is present, nothing
is written. Messages written by the TypeScript adapter do not move the
counters, so a recount racing one of its appends can miss it; run it again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from session_store import keys
from session_store.errors import StorageError, ValidationError
from session_store.models import SessionMeta
from session_store.table import BoundModels

__all__ = ["DEFAULT_MAX_ATTEMPTS", "MessageTotals", "count_messages", "recount_session"]

DEFAULT_MAX_ATTEMPTS = 10

_NAMES = {
    "#pk": "PK",
    "#sk": "SK",
    "#mc": "messageCount",
    "#tc": "tokenCount",
    "#la": "lastActivityAt",
    "#v": "version",
}
# The attributes the write is conditioned on: counters and the last append.
_GUARDED = (("#mc", ":old_mc"), ("#tc", ":old_tc"), ("#la", ":old_la"))


@dataclass(frozen=True)
class MessageTotals:
    """What a session's counters should say."""

    message_count: int
    token_count: int


def message_items(bound: BoundModels, session_id: str) -> Iterator[dict[str, Any]]:
    """Every message item of a session, keys and ``tokenCount`` only, oldest first.

    Strongly consistent, every page, read as consumed.
    """
    request: dict[str, Any] = {
        "TableName": bound.config.table_name,
        "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :msg)",
        "ProjectionExpression": "#pk, #sk, #tc",
        "ExpressionAttributeNames": {name: _NAMES[name] for name in ("#pk", "#sk", "#tc")},
        "ExpressionAttributeValues": {
            ":pk": {"S": keys.session_pk(session_id)},
            ":msg": {"S": keys.MESSAGE_PREFIX},
        },
        "ConsistentRead": True,
    }
    while True:
        page = bound.client.query(**request)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def count_messages(bound: BoundModels, session_id: str) -> MessageTotals:
    """Count a session's messages and their tokens (strongly consistent, every page)."""
    messages = tokens = 0
    for item in message_items(bound, session_id):
        messages += 1
        tokens += _number(item.get("tokenCount"))
    return MessageTotals(messages, tokens)


def recount_session(
    bound: BoundModels, session_id: str, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS
) -> SessionMeta | None:
    """Make a session's ``message_count``/``token_count`` exact; ``None`` if it does not exist.

    Returns the stored session item after the recount (``.to_domain()`` gives
    the ``domain.Session``). Also gives the session ``version = 0`` when it has
    none; an existing version is left as it is. Expired sessions are recounted
    too (their items are still there). Raises ``ValidationError`` for a bad
    id, ``StorageError`` when DynamoDB fails or when the counters kept moving
    for ``max_attempts`` attempts.
    """
    session_id = keys.check_session_id(session_id)
    if max_attempts < 1:
        raise ValidationError("max_attempts must be at least 1")
    key = {"PK": {"S": keys.session_pk(session_id)}, "SK": {"S": keys.META_SK}}
    table_name = bound.config.table_name
    try:
        for _ in range(max_attempts):
            current = bound.client.get_item(TableName=table_name, Key=key, ConsistentRead=True).get(
                "Item"
            )
            if current is None:
                return None
            totals = count_messages(bound, session_id)
            if _is_exact(current, totals):
                return bound.SessionMeta.from_raw_data(current)
            try:
                response = bound.client.update_item(
                    TableName=table_name,
                    Key=key,
                    **_update_request(current, totals),
                    ReturnValues="ALL_NEW",
                )
            except ClientError as error:
                if _error_code(error) == "ConditionalCheckFailedException":
                    continue  # moved or deleted meanwhile: read again
                raise
            return bound.SessionMeta.from_raw_data(response["Attributes"])
    except (ClientError, BotoCoreError) as error:
        raise StorageError(f"recount of session {session_id!r} failed: {error}") from error
    raise StorageError(
        f"recount of session {session_id!r} gave up after {max_attempts} attempts: "
        "its messages kept changing"
    )


def _update_request(current: dict[str, Any], totals: MessageTotals) -> dict[str, Any]:
    """``UpdateItem`` arguments: set the counters if nothing moved since ``current`` was read."""
    values: dict[str, Any] = {
        ":mc": {"N": str(totals.message_count)},
        ":tc": {"N": str(totals.token_count)},
        ":zero": {"N": "0"},
    }
    conditions = ["attribute_exists(#pk)"]
    for name, placeholder in _GUARDED:
        stored = current.get(_NAMES[name])
        if stored is None:
            conditions.append(f"attribute_not_exists({name})")
        else:
            conditions.append(f"{name} = {placeholder}")
            values[placeholder] = stored
    return {
        "UpdateExpression": "SET #mc = :mc, #tc = :tc, #v = if_not_exists(#v, :zero)",
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeNames": {
            name: _NAMES[name] for name in ("#pk", "#mc", "#tc", "#la", "#v")
        },
        "ExpressionAttributeValues": values,
    }


def _is_exact(item: dict[str, Any], totals: MessageTotals) -> bool:
    """Whether the stored item already says ``totals`` and has a version."""
    return (
        "version" in item
        and "messageCount" in item
        and "tokenCount" in item
        and _number(item["messageCount"]) == totals.message_count
        and _number(item["tokenCount"]) == totals.token_count
    )


def _number(typed: Mapping[str, object] | None) -> int:
    """A stored whole number; absent (or not a number) counts 0, a fraction is truncated."""
    if typed is None or "N" not in typed:
        return 0
    return int(Decimal(str(typed["N"])))


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
