"""Write planning: what each write sends, from the models' attributes, whoever writes.

The DynamoDB adapter, the models' own ``save``/``delete`` (application code
writing through ``adapter.models``) and the migrations build their requests
here, so a rule such as "every counter change increments ``version``" or
"an expiry may be stored as N or as an ISO string" has one home. Pure
builders return request bodies for the ``Gateway`` (no ``TableName``); the
few procedures that need several requests take the gateway.

Versions: every write that changes a session item's counters adds 1 to its
``version`` in the same request (SPEC §5), so a TypeScript ``SessionManager``
that read the session before our write fails its ``version = :read``
condition and retries instead of overwriting our counters.

A little over 450 lines: every write's plan in one module is the point of it.
"""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.constants import STRING
from pynamodb.expressions.condition import Condition

from session_store import keys
from session_store._bridge import pause
from session_store._construct import constructor
from session_store._expressions import Expression
from session_store._time import (
    format_iso,
    from_epoch_seconds,
    to_epoch_seconds,
    to_whole_second,
    utc_now,
)
from session_store.counters import message_items, recount_session
from session_store.domain import Message as DomainMessage
from session_store.domain import NewMessage, NewSession, Session
from session_store.errors import SessionNotFoundError, StorageError, ValidationError
from session_store.gateway import Gateway
from session_store.ids import new_message_id_text
from session_store.models import (
    TABLE_KEY,
    WRITE_TOKEN_SLOTS,
    Message,
    SessionMeta,
    key_of,
    number_of,
)

__all__ = [
    "DELETE_PARALLELISM",
    "RACE_ATTEMPTS",
    "ModelWrites",
    "append_actions",
    "delete_message_counted",
    "delete_session_messages",
    "expired_by",
    "has_expired",
    "incarnation_end",
    "new_message",
    "new_session",
    "new_session_item",
    "not_expired",
    "remove_as_read",
    "save_message_counted",
    "token_change",
    "uncount",
]

RACE_ATTEMPTS = 64
"""Reads a remove-as-read loop makes before giving up: each lost race means another writer
deleted or changed the message."""
_LAST_MILLISECOND = timedelta(milliseconds=999)
DELETE_PARALLELISM = 8
"""``BatchWriteItem`` requests in flight at once while deleting a session's messages: each
waits a network round trip, so a few in flight divide the wall time; 8 stays below the
client's default pool of 10 connections."""


def new_session(
    new: NewSession, session_id: str, *, now: datetime, expires_at: datetime | None
) -> Session:
    """The session ``create_session`` stores for ``new`` (both adapters): created and last
    active ``now``, version 1, counters 0, ``expires_at`` (the given one, else the adapter's
    sliding expiry) in whole seconds as the table keeps it."""
    fields = new.model_dump(exclude={"id"})
    fields["expires_at"] = to_whole_second(
        expires_at if fields["expires_at"] is None else fields["expires_at"]
    )
    return Session.model_validate(
        {**fields, "id": session_id, "created_at": now, "last_activity_at": now, "version": 1}
    )


def new_message(new: NewMessage, session_id: str) -> DomainMessage:
    """The message an append stores for ``new`` (both adapters): a fresh time-sortable id,
    created at the id's instant."""
    message_id, at = new_message_id_text()
    if new.content.__class__ is str and new.metadata is None and _utc_millisecond(at):
        # The commonest append, from values already validated (``_construct``).
        return _NEW_MESSAGE(
            {
                "id": message_id,
                "session_id": session_id,
                "role": new.role,
                "content": new.content,
                "token_count": new.token_count,
                "sequence": new.sequence,
                "metadata": None,
                "created_at": at,
                "updated_at": None,
            }
        )
    fields = new.model_dump()
    return DomainMessage.model_validate(
        {**fields, "id": message_id, "session_id": session_id, "created_at": at}
    )


_NEW_MESSAGE = constructor(
    DomainMessage, {*NewMessage.model_fields, "id", "session_id", "created_at"}
)


def _utc_millisecond(instant: datetime) -> bool:
    return instant.tzinfo is UTC and not instant.microsecond % 1000


def new_session_item(session: Session, token: str) -> dict[str, Any]:
    """The item ``create_session`` writes for ``session``: its encoding, and the write-token
    list (``SessionMeta.write_tokens``) holding ``token``."""
    item = SessionMeta.encode(session)
    item[SessionMeta.write_tokens.attr_name] = {
        "L": [{"S": token}] + [{"S": ""}] * (WRITE_TOKEN_SLOTS - 1)
    }
    return item


def _not_expired_text(expires: str, number: str, text: str, seconds: str, next_second: str) -> str:
    """The not-expired condition over placeholders (the one rule; see ``not_expired``)."""
    return (
        f"(attribute_not_exists({expires})"
        f" OR (attribute_type({expires}, {number}) AND {expires} > {seconds})"
        f" OR (attribute_type({expires}, {text}) AND {expires} >= {next_second}))"
    )


@functools.lru_cache(maxsize=4)
def _iso_of_second(seconds: int) -> str:
    return format_iso(from_epoch_seconds(seconds))


def has_expired(expires_at: datetime | None, now: datetime) -> bool:
    """The expiry rule, in whole seconds as DynamoDB's TTL reads ``ttl``: expired once
    ``expires_at``'s second is not after ``now``'s (``not_expired`` is its condition form)."""
    return expires_at is not None and to_epoch_seconds(expires_at) <= to_epoch_seconds(now)


def not_expired(e: Expression, now: datetime) -> str:
    """Condition: the session item has no expiry, or it lies after ``now``.

    Both encodings count: epoch seconds (N) and the ISO string (S) the
    TypeScript ``updateSession`` writes; each comparison is guarded by the
    attribute's type.
    """
    seconds = to_epoch_seconds(now)
    return _not_expired_text(
        e.name(SessionMeta.expires_at),
        e.string("N"),
        e.string("S"),
        e.number(seconds),
        e.string(_iso_of_second(seconds + 1)),
    )


def expired_by(e: Expression, seconds: int) -> str:
    """Condition: the session item expires by epoch ``seconds`` (N or ISO string)."""
    expires = e.name(SessionMeta.expires_at)
    last = format_iso(from_epoch_seconds(seconds) + _LAST_MILLISECOND)
    return (
        f"((attribute_type({expires}, {e.string('N')}) AND {expires} <= {e.number(seconds)})"
        f" OR (attribute_type({expires}, {e.string('S')}) AND {expires} <= {e.string(last)}))"
    )


def _exists(e: Expression) -> str:
    return f"attribute_exists({e.name(SessionMeta.pk)})"


# The append's requests, prepared once from the models (the hot path of every conversation).
_NEW_ITEM = {
    "ConditionExpression": "attribute_not_exists(#pk)",
    "ExpressionAttributeNames": {"#pk": Message.pk.attr_name},
}
_APPEND_NAMES = {
    "#pk": SessionMeta.pk.attr_name,
    "#la": SessionMeta.last_activity_at.attr_name,
    "#mc": SessionMeta.message_count.attr_name,
    "#tc": SessionMeta.token_count.attr_name,
    "#v": SessionMeta.version.attr_name,
    "#ea": SessionMeta.expires_at.attr_name,
}
_APPEND_NAMES_SLIDING = {**_APPEND_NAMES, "#ttl": SessionMeta.ttl.attr_name}
_APPEND_COUNT = " ADD #mc :mc, #tc :tc, #v :one"
_APPEND_UPDATE = "SET #la = :la" + _APPEND_COUNT
_APPEND_UPDATE_SLIDING = "SET #la = :la, #ea = :ea, #ttl = :ea" + _APPEND_COUNT
_APPEND_CONDITION = "attribute_exists(#pk) AND " + _not_expired_text(
    "#ea", ":type_n", ":type_s", ":now", ":next"
)


def append_actions(
    session_id: str,
    items: list[dict[str, Any]],
    *,
    now: datetime,
    expires_at: datetime | None,
) -> list[dict[str, Any]]:
    """The transaction that stores new message ``items`` and counts them on the session.

    Each put requires a free key; the session update adds the messages and
    their tokens to the counters, 1 to ``version``, sets ``lastActivityAt``
    (and the sliding expiry), on the condition that the session exists and
    has not expired (``not_expired``'s rule, on prepared placeholders).
    """
    puts = [{"Put": {"Item": item, **_NEW_ITEM}} for item in items]
    tokens = sum(number_of(item, Message.token_count) for item in items)
    seconds = to_epoch_seconds(now)
    values: dict[str, Any] = {
        ":la": {"S": format_iso(now)},
        ":mc": {"N": str(len(items))},
        ":tc": {"N": str(tokens)},
        ":one": {"N": "1"},
        ":type_n": {"S": "N"},
        ":type_s": {"S": "S"},
        ":now": {"N": str(seconds)},
        ":next": {"S": _iso_of_second(seconds + 1)},
    }
    if expires_at is not None:
        values[":ea"] = {"N": str(to_epoch_seconds(expires_at))}
    update = {
        "Key": SessionMeta.key(session_id),
        "UpdateExpression": _APPEND_UPDATE if expires_at is None else _APPEND_UPDATE_SLIDING,
        "ConditionExpression": _APPEND_CONDITION,
        "ExpressionAttributeNames": _APPEND_NAMES if expires_at is None else _APPEND_NAMES_SLIDING,
        "ExpressionAttributeValues": values,
    }
    return [*puts, {"Update": update}]


def uncount(session_id: str, messages: int, tokens: int) -> dict[str, Any]:
    """Update taking ``messages``/``tokens`` off the session's counters (and adding 1 to
    ``version``), on the condition that neither goes below zero."""
    e = Expression()
    count_name, tokens_name = e.name(SessionMeta.message_count), e.name(SessionMeta.token_count)
    return e.into(
        {
            "Key": SessionMeta.key(session_id),
            "UpdateExpression": f"ADD {count_name} {e.number(-messages)}, "
            f"{tokens_name} {e.number(-tokens)}, {e.name(SessionMeta.version)} {e.number(1)}",
            # A session whose counters drifted below the truth is recounted instead.
            "ConditionExpression": f"{count_name} >= {e.number(messages)} AND "
            f"{tokens_name} >= {e.number(tokens)}",
        }
    )


def token_change(session_id: str, delta: int) -> dict[str, Any]:
    """Update adding ``delta`` to the session's ``tokenCount`` (and 1 to ``version``), on
    the condition that the session exists and the count does not go below zero."""
    e = Expression()
    counter = e.name(SessionMeta.token_count)
    conditions = [f"attribute_exists({e.name(SessionMeta.pk)})"]
    if delta < 0:
        conditions.append(f"{counter} >= {e.number(-delta)}")
    return e.into(
        {
            "Key": SessionMeta.key(session_id),
            "UpdateExpression": f"ADD {counter} {e.number(delta)}, "
            f"{e.name(SessionMeta.version)} {e.number(1)}",
            "ConditionExpression": " AND ".join(conditions),
        }
    )


def unchanged(e: Expression, seen: Mapping[str, Any], watched: tuple[str, ...]) -> str:
    """Condition: the item exists and its ``watched`` attributes still hold what was ``seen``."""
    conditions = [_exists(e)]
    for attribute in watched:
        name = e.name(attribute)
        conditions.append(
            f"{name} = {e.value(seen[attribute])}"
            if attribute in seen
            else f"attribute_not_exists({name})"
        )
    return " AND ".join(conditions)


def remove_counted(
    gateway: Gateway,
    session_id: str,
    key: dict[str, Any],
    seen: Mapping[str, Any],
    watched: tuple[str, ...],
) -> bool:
    """Delete the message at ``key`` and uncount it, if ``watched`` still hold what was seen.

    Returns ``False`` when the message went or changed meanwhile: read it again.
    A session whose counters are missing or drifted (or that is gone) has
    the message deleted alone and is recounted.
    """
    d = Expression()
    delete = d.into({"Key": key, "ConditionExpression": unchanged(d, seen, watched)})
    tokens = number_of(seen, Message.token_count)
    outcome = gateway.transact([{"Delete": delete}, {"Update": uncount(session_id, 1, tokens)}])
    if outcome.committed:
        return True
    removal, counters = outcome.reasons
    if removal.condition_failed:
        return False
    if not counters.condition_failed:
        raise StorageError(f"removing a message was cancelled: {outcome.describe()}")
    # A one-item transaction, not a DeleteItem: its ClientRequestToken makes botocore's
    # retry after a lost response succeed instead of failing its own condition (which
    # would read as "changed meanwhile" and make a pop remove the next message too).
    if not gateway.transact([{"Delete": delete}]).committed:
        return False
    recount_session(gateway, session_id)
    return True


def remove_as_read(
    gateway: Gateway,
    session_id: str,
    read: Callable[[], tuple[dict[str, Any], Mapping[str, Any]] | None],
    watched: tuple[str, ...],
    what: str,
) -> Mapping[str, Any] | None:
    """Read a message (its key and item), delete it if unchanged; again while others win.

    Returns the item removed, or ``None`` once ``read`` finds nothing. Each
    lost race means another writer deleted or changed the message, so the
    reads back off with jitter and only a crowd of racers exhausts them.
    """
    for attempt in range(RACE_ATTEMPTS):
        if attempt:
            pause(random.uniform(0, min(0.005 * 2**attempt, 0.25)))
        found = read()
        if found is None:
            return None
        key, item = found
        if remove_counted(gateway, session_id, key, item, watched):
            return item
    raise StorageError(f"{what} kept racing other writers")


def delete_message_counted(
    gateway: Gateway, session_id: str, key: dict[str, Any], *, also: tuple[str, ...] = ()
) -> Mapping[str, Any] | None:
    """Delete the message at ``key`` and uncount it; the item removed (its ``tokenCount``
    and the attributes named in ``also``, deleted only if those are unchanged), or
    ``None`` when there was none."""
    tokens = Message.token_count.attr_name
    watched = (tokens, *also)

    def read() -> tuple[dict[str, Any], Mapping[str, Any]] | None:
        e = Expression()
        projection = ", ".join(e.name(name) for name in watched)
        item = gateway.get(key, **e.into({"ProjectionExpression": projection}))
        return None if item is None else (key, item)

    return remove_as_read(gateway, session_id, read, watched, f"deleting {key}")


def save_message_counted(
    gateway: Gateway,
    session_id: str,
    item: dict[str, Any],
    condition: Condition | None = None,
) -> None:
    """Put a message item and count it on its session, in one transaction.

    A new message adds 1 to ``messageCount``; replacing one changes
    ``tokenCount`` by the difference. ``condition`` (a PynamoDB condition on
    the message) must hold as well. ``SessionNotFoundError`` when the
    session does not exist.
    """
    key = key_of(item, TABLE_KEY)
    tokens = Message.token_count.attr_name
    for _ in range(RACE_ATTEMPTS):
        e = Expression()
        old = gateway.get(
            key, **e.into({"ProjectionExpression": f"{e.name(Message.pk)}, {e.name(tokens)}"})
        )
        p = Expression()
        guard = (
            f"attribute_not_exists({p.name(Message.pk)})"
            if old is None
            else unchanged(p, old, (tokens,))
        )
        if condition is not None:
            names: dict[str, str] = {}
            values: dict[str, Any] = {}
            guard = f"{guard} AND ({condition.serialize(names, values)})"
            p.fixed({placeholder: name for name, placeholder in names.items()}, values)
        put = p.into({"Item": item, "ConditionExpression": guard})
        delta = number_of(item, Message.token_count) - (
            0 if old is None else number_of(old, Message.token_count)
        )
        u = Expression()
        counters = u.into(
            {
                "Key": SessionMeta.key(session_id),
                "UpdateExpression": f"ADD {u.name(SessionMeta.message_count)} "
                f"{u.number(1 if old is None else 0)}, {u.name(SessionMeta.token_count)} "
                f"{u.number(delta)}, {u.name(SessionMeta.version)} {u.number(1)}",
                "ConditionExpression": _exists(u),
            }
        )
        outcome = gateway.transact([{"Put": put}, {"Update": counters}])
        if outcome.committed:
            return
        message, session = outcome.reasons
        if session.condition_failed:
            raise SessionNotFoundError(session_id)
        if message.condition_failed and condition is not None:
            raise ValidationError(f"the save condition does not hold for message {key}")
    raise StorageError(f"saving message {key} kept racing other writers")


def incarnation_end(old: Mapping[str, Any] | None, now: datetime) -> str:
    """Sort-key bound above every message of a session incarnation seen gone or expired ``now``.

    Appends need a live session, so every message of an incarnation was
    written before the moment its item was seen deleted or expired, by the
    deleting process's clock (``now``) or, should an appender's clock run
    ahead, by the appender's own (its last append set ``lastActivityAt``,
    from ``old``, the item as it was). A later incarnation under the same id
    is created after that moment, so its messages sort above the bound as long
    as the writers' clocks agree within ``CLOCK_SKEW_ALLOWANCE``.
    """
    end = now
    last = None if old is None else old.get(SessionMeta.last_activity_at.attr_name)
    if last is not None and STRING in last:
        with contextlib.suppress(ValueError):  # unreadable: the clock alone bounds it
            end = max(end, SessionMeta.last_activity_at.deserialize(last[STRING]))
    return keys.message_sk_after(end)


def delete_session_messages(
    gateway: Gateway,
    session_id: str,
    *,
    sort_key_below: str | None = None,
    parallel: int = DELETE_PARALLELISM,
    pointer: str | None = None,
    removed: Callable[[list[dict[str, Any]]], None] | None = None,
) -> int:
    """Delete a session's messages (below ``sort_key_below``, if given), 25 a batch,
    uncounted; how many.

    Batches go out as the listing reads them, up to ``parallel`` in flight
    (``Gateway.deleter``); the listing never reads past ``sort_key_below``,
    so a later session under the same id keeps its messages. Items listed are
    behind the listing's cursor, so deleting them does not disturb its pages.

    With ``pointer`` (an attribute name) and ``removed``, the listing reads
    that attribute too, and ``removed`` gets the deleted items that have it,
    once every batch has succeeded (offloaded messages' objects go after their
    items, so no item is left pointing to a deleted object).
    """
    count = 0
    also = () if pointer is None else (pointer,)
    pointing: list[dict[str, Any]] = []
    with gateway.deleter(parallel=parallel) as deleter:
        for item in message_items(gateway, session_id, sort_key_below=sort_key_below, also=also):
            deleter.add(key_of(item, TABLE_KEY))
            count += 1
            if pointer is not None and pointer in item:
                pointing.append(item)
    if pointing and removed is not None:
        removed(pointing)
    return count


class ModelWrites:
    """``models.InvariantWrites`` on one gateway: what the bound models' own ``save`` and
    ``delete`` send (``table.bind_models`` sets it on them)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def delete_session_messages(self, session_id: str, old_item: Mapping[str, Any]) -> None:
        delete_session_messages(
            self.gateway, session_id, sort_key_below=incarnation_end(old_item, utc_now())
        )

    def save_message(
        self, session_id: str, item: dict[str, Any], condition: Condition | None
    ) -> None:
        save_message_counted(self.gateway, session_id, item, condition)

    def delete_message(self, session_id: str, key: dict[str, Any]) -> None:
        delete_message_counted(self.gateway, session_id, key)
