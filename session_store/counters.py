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
   existing and on ``version``, ``messageCount``, ``tokenCount`` and
   ``lastActivityAt`` being exactly what step 1 read (or still absent). Every
   write of this package that adds or removes a message moves the counters
   and ``version`` (as the TypeScript ``SessionManager`` does), so no change
   slips through. If the condition fails, start again from step 1, at most
   ``max_attempts`` times, then raise ``StorageError``.

A correcting write adds 1 to ``version`` (missing counts as 0), as every
write that changes the session item does (SPEC §5). A session with exact
counters but no ``version`` (written by the TypeScript adapter) is given
``version = 0``; one with exact counters and a version is not written.
Messages written by the TypeScript adapter do not move the counters, so a
recount racing one of its appends can miss it; run it again.

``clear_messages`` deletes a session's messages in parallel batches and then
settles the counters with one write guarded the same way (steps 1 and 3 above,
the listing being step 2), recounting only when something moved.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from session_store import keys
from session_store._bridge import pause
from session_store._expressions import Expression
from session_store.domain import Session
from session_store.errors import StorageError, ValidationError
from session_store.gateway import ConditionFailed, Gateway
from session_store.models import TABLE_KEY, Message, SessionMeta, key_of, number_of, sort_key_of

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "MessageTotals",
    "clear_messages",
    "count_messages",
    "message_items",
    "recount_session",
]

DEFAULT_MAX_ATTEMPTS = 10
# The attributes the write is conditioned on: version, counters and the last append.
_GUARDED = (
    SessionMeta.version,
    SessionMeta.message_count,
    SessionMeta.token_count,
    SessionMeta.last_activity_at,
)


@dataclass(frozen=True)
class MessageTotals:
    """What a session's counters should say."""

    message_count: int
    token_count: int


def message_items(
    gateway: Gateway,
    session_id: str,
    *,
    with_session_item: bool = False,
    sort_key_below: str | None = None,
    also: tuple[str, ...] = (),
) -> Iterator[dict[str, Any]]:
    """Every message item of a session: keys and ``tokenCount`` only (and the attributes
    named in ``also``), oldest first.

    One strongly consistent query, every page, read as consumed. With
    ``with_session_item``, the session item comes first when there is one
    (``META`` sorts below ``MSG#``), with its counters, ``version`` and
    ``lastActivityAt`` (what ``clear_messages`` is given). ``sort_key_below``
    bounds the walk to the messages whose sort key is below it.
    """
    e = Expression()
    low = keys.META_SK if with_session_item else keys.MESSAGE_PREFIX
    high = keys.MESSAGE_SK_END if sort_key_below is None else sort_key_below
    guarded = _GUARDED if with_session_item else ()
    projected = (Message.pk, Message.sk, Message.token_count, *guarded, *also)
    request = e.into(
        {
            "KeyConditionExpression": f"{e.name(Message.pk)} = "
            f"{e.string(keys.session_pk(session_id))} AND {e.name(Message.sk)} BETWEEN "
            f"{e.string(low)} AND {e.string(high)}",
            "ProjectionExpression": ", ".join(dict.fromkeys(e.name(a) for a in projected)),
            "ConsistentRead": True,
        }
    )
    return gateway.items("Query", request)


def clear_messages(
    gateway: Gateway,
    session_id: str,
    session_item: dict[str, Any] | None,
    messages: Iterable[dict[str, Any]],
    *,
    parallel: int,
    pointer: str | None = None,
    removed: Callable[[list[dict[str, Any]]], None] | None = None,
) -> None:
    """Delete ``messages`` (listed after ``session_item`` was read, as ``message_items``
    gives them ``with_session_item``) with up to ``parallel`` batches in flight, then make
    the counters exact.

    When the counters read matched the messages listed and nothing moved since (the
    guard of ``recount_session``: ``version``, counters, ``lastActivityAt``), every
    counted message was listed and is gone: one ``UpdateItem`` sets both counters to 0
    and adds 1 to ``version``. Otherwise (counters that had drifted, a write racing the
    call) the session is recounted. Meanwhile the counters say more than is stored,
    never less; a call failing midway recounts before it raises, and one killed midway
    leaves counters above the truth until it is called again (or ``recount``).

    With ``pointer`` (an attribute name) and ``removed``, ``removed`` gets the
    deleted items that have it once every batch has succeeded (offloaded
    messages' objects go after their items; a failure leaves them to
    ``collect_orphans``, never an item pointing to a deleted object).
    """
    listed = MessageTotals(0, 0)
    pointing: list[dict[str, Any]] = []
    try:
        with gateway.deleter(parallel=parallel) as deleter:
            for item in messages:
                if not Message.is_kind(sort_key_of(item)):
                    continue
                deleter.add(key_of(item, TABLE_KEY))
                if pointer is not None and pointer in item:
                    pointing.append(item)
                listed = MessageTotals(
                    listed.message_count + 1,
                    listed.token_count + number_of(item, Message.token_count),
                )
    except BaseException:
        with contextlib.suppress(Exception):  # the failure raised is the one that matters
            recount_session(gateway, session_id)
        raise
    if pointing and removed is not None:
        removed(pointing)
    if session_item is None:
        return  # no session item: no counters to keep
    counted = (
        SessionMeta.message_count.attr_name in session_item
        and SessionMeta.token_count.attr_name in session_item
        and number_of(session_item, SessionMeta.message_count) == listed.message_count
        and number_of(session_item, SessionMeta.token_count) == listed.token_count
    )
    if counted:
        request = _update_request(session_item, MessageTotals(0, 0))
        if request is None:
            return
        try:
            gateway.update({"Key": SessionMeta.key(session_id), **request})
            return
        except ConditionFailed:
            pass  # something moved since the listing: count what is left
    recount_session(gateway, session_id)


def count_messages(gateway: Gateway, session_id: str) -> MessageTotals:
    """Count a session's messages and their tokens (strongly consistent, every page)."""
    messages = tokens = 0
    for item in message_items(gateway, session_id):
        messages += 1
        tokens += number_of(item, Message.token_count)
    return MessageTotals(messages, tokens)


def recount_session(
    gateway: Gateway, session_id: str, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS
) -> Session | None:
    """Make a session's ``message_count``/``token_count`` exact; ``None`` if it does not exist.

    Returns the session as stored after the recount. Expired sessions are recounted too (their
    items are still there). Raises ``ValidationError`` for a bad id,
    ``StorageError`` when DynamoDB fails or when the counters kept moving for
    ``max_attempts`` attempts (with jittered pauses between them).
    """
    session_id = keys.check_session_id(session_id)
    if max_attempts < 1:
        raise ValidationError("max_attempts must be at least 1")
    key = SessionMeta.key(session_id)
    for attempt in range(max_attempts):
        if attempt:
            pause(random.uniform(0, min(0.005 * 2**attempt, 0.25)))
        current = gateway.get(key)
        if current is None:
            return None
        totals = count_messages(gateway, session_id)
        request = _update_request(current, totals)
        if request is None:
            return SessionMeta.decode(current)
        try:
            stored = gateway.update({"Key": key, **request, "ReturnValues": "ALL_NEW"})
        except ConditionFailed:
            continue  # moved or deleted meanwhile: read again
        return SessionMeta.decode(stored["Attributes"])
    raise StorageError(
        f"recount of session {session_id!r} gave up after {max_attempts} attempts: "
        "its messages kept changing"
    )


def _update_request(current: dict[str, Any], totals: MessageTotals) -> dict[str, Any] | None:
    """``UpdateItem`` arguments: correct the counters if nothing moved since ``current`` was
    read; ``None`` when there is nothing to write."""
    version = SessionMeta.version.attr_name
    exact = (
        SessionMeta.message_count.attr_name in current
        and SessionMeta.token_count.attr_name in current
        and number_of(current, SessionMeta.message_count) == totals.message_count
        and number_of(current, SessionMeta.token_count) == totals.token_count
    )
    e = Expression()
    if exact and version in current:
        return None
    v = e.name(SessionMeta.version)
    if exact:
        update = f"SET {v} = {e.number(0)}"
    else:
        update = (
            f"SET {e.name(SessionMeta.message_count)} = {e.number(totals.message_count)}, "
            f"{e.name(SessionMeta.token_count)} = {e.number(totals.token_count)}, "
            f"{v} = if_not_exists({v}, {e.number(0)}) + {e.number(1)}"
        )
    conditions = [f"attribute_exists({e.name(SessionMeta.pk)})"]
    for attribute in _GUARDED:
        stored = current.get(attribute.attr_name)
        name = e.name(attribute)
        conditions.append(
            f"attribute_not_exists({name})" if stored is None else f"{name} = {e.value(stored)}"
        )
    return e.into({"UpdateExpression": update, "ConditionExpression": " AND ".join(conditions)})
