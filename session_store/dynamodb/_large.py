"""``update_message`` of messages whose payload is, or is to be, offloaded to S3.

An update that changes ``content`` or ``metadata`` (what moves to S3) on an
adapter with offloading reads the item, puts the message back together as
far as the change leaves it (fetching the old object only when the change
does not replace everything it holds), applies the change, plans the result
again (``Offloader.plan``) and writes the new object first. The item is then
updated on the condition that its pointer is still the one read (and its
``tokenCount``, when the session's counter moves too): a racing writer that
replaced the payload meanwhile makes this one read again, and the object it
wrote is removed. Once the item points to the new object (or holds the
message itself), the old object is deleted: every write uses a new key, so
no reader is ever left pointing to a deleted object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from session_store import models
from session_store._expressions import Expression
from session_store.counters import recount_session
from session_store.domain import Message
from session_store.dynamodb._core import AdapterCore, decode_message
from session_store.errors import MessageNotFoundError, SessionNotFoundError, StorageError
from session_store.gateway import ConditionFailed
from session_store.limits import check_item_size, item_size
from session_store.models import TABLE_KEY, SessionMeta, number_of
from session_store.offload import (
    CONTENT_ATTRIBUTE,
    METADATA_ATTRIBUTE,
    POINTER_ATTRIBUTE,
    pointer_of,
)
from session_store.planning import RACE_ATTEMPTS, unchanged

M = models.Message
_TOKENS = M.token_count.attr_name
MOVABLE = frozenset((CONTENT_ATTRIBUTE, METADATA_ATTRIBUTE))
"""The attributes an offloaded item keeps in its object."""


def _updated(
    item: Mapping[str, Any], assigned: Mapping[str, dict[str, Any]], removed: list[str]
) -> dict[str, Any]:
    """``item`` as an update setting ``assigned`` and removing ``removed`` leaves it."""
    updated = {**item, **assigned}
    for name in removed:
        updated.pop(name, None)
    return updated


def _size(item: Mapping[str, Any], name: str) -> int:
    return item_size({name: item[name]}) if name in item else 0


class LargeMessageUpdates(AdapterCore):
    """The read-plan-write update of messages that are, or become, offloaded."""

    def _whole_for_update(self, item: Mapping[str, Any], replaced: set[str]) -> dict[str, Any]:
        """``item`` put back together as far as an update replacing ``replaced`` needs: its
        object is read only when it holds an attribute the update keeps."""
        assert self._offloader is not None
        pointer = pointer_of(item)
        if pointer is None:
            return dict(item)
        if set(pointer.fields) <= replaced:
            return {name: value for name, value in item.items() if name != POINTER_ATTRIBUTE}
        return self._offloader.restore(item)

    def _update_offloaded(
        self,
        session_id: str,
        message_id: str,
        key: dict[str, Any],
        *,
        assigned: Mapping[str, dict[str, Any]],
        removed: list[str],
        count_tokens: bool,
        first: Mapping[str, Any] | None = None,
        replan: bool = False,
    ) -> Message:
        """Set ``assigned`` and remove ``removed`` on the message at ``key``, offloading the
        result when it is large (see the module docstring). ``count_tokens``: the change
        moves ``tokenCount``, so the session's counter moves with it in one transaction.
        ``first``: the item as already read (saves a read). ``replan``: plan the item again
        even though the change moves nothing (it was applied, and left the item large)."""
        offloader = self._offloader
        assert offloader is not None
        replaced = {name for name in (*assigned, *removed) if name in MOVABLE}
        what = f"update of message {message_id!r}"
        item = first
        for _ in range(RACE_ATTEMPTS):
            if item is None:
                item = self._gateway.get(key)
                if item is None:
                    raise MessageNotFoundError(session_id, message_id)
            if replaced or replan:
                whole = _updated(self._whole_for_update(item, replaced), assigned, removed)
                plan = offloader.plan(whole)
                target = whole if plan is None else plan.item
            else:  # the payload stays where it is; the result is returned whole
                plan = None
                target = _updated(item, assigned, removed)
                whole = _updated(offloader.restore(item), assigned, removed)
            check_item_size(target, what)
            e = Expression()
            removes = [e.name(name) for name in item if name not in target]
            changed = [
                name
                for name, value in target.items()
                if name not in TABLE_KEY and item.get(name) != value
            ]
            # What shrinks first (removals, then the smallest growth): the item never passes
            # 400 KB midway, for emulators that check the size after each action.
            before = item
            changed.sort(key=lambda name: _size(target, name) - _size(before, name))
            sets = [f"{e.name(name)} = {e.value(target[name])}" for name in changed]
            if not sets and not removes:
                return decode_message(whole)
            expression = " ".join(
                part
                for part in (
                    f"REMOVE {', '.join(removes)}" if removes else "",
                    f"SET {', '.join(sets)}" if sets else "",
                )
                if part
            )
            watched = (_TOKENS, POINTER_ATTRIBUTE) if count_tokens else (POINTER_ATTRIBUTE,)
            update = {
                "Key": key,
                "UpdateExpression": expression,
                "ConditionExpression": unchanged(e, item, watched),
            }
            e.into(update)
            if plan is not None:
                offloader.write([plan])  # the object before the item that points to it
            written = (
                self._counted_update(session_id, item, whole, update)
                if count_tokens
                else self._single_update(update)
            )
            if written is not True:
                if plan is not None:
                    offloader.discard([plan])  # the item was not changed: nothing points to it
                if written is False:
                    raise MessageNotFoundError(session_id, message_id)
                item = written  # changed meanwhile: the item as it is now
                continue
            offloader.replaced(pointer_of(item), pointer_of(target))
            return decode_message(whole)
        raise StorageError(f"update_message kept racing other writers on {message_id!r}")

    def _single_update(self, update: dict[str, Any]) -> bool | dict[str, Any]:
        """Send the message's update: ``True`` when applied, else the item as it is now
        (``False`` when there is none)."""
        try:
            self._gateway.update({**update, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"})
        except ConditionFailed as failed:
            return False if failed.item is None else dict(failed.item)
        return True

    def _counted_update(
        self,
        session_id: str,
        item: Mapping[str, Any],
        whole: Mapping[str, Any],
        update: dict[str, Any],
    ) -> bool | dict[str, Any]:
        """The message's update and the session's ``tokenCount`` moved by the difference,
        in one transaction: ``True`` when applied, else the item as it is now (``False``
        when there is none). Counters below what the message claims (written by the
        TypeScript adapter): the message alone, then a recount."""
        delta = number_of(whole, M.token_count) - number_of(item, M.token_count)
        s = Expression()
        counter = s.name(SessionMeta.token_count)
        conditions = [f"attribute_exists({s.name(SessionMeta.pk)})"]
        if delta < 0:
            conditions.append(f"{counter} >= {s.number(-delta)}")
        session_update = s.into(
            {
                "Key": SessionMeta.key(session_id),
                "UpdateExpression": f"ADD {counter} {s.number(delta)}, "
                f"{s.name(SessionMeta.version)} {s.number(1)}",
                "ConditionExpression": " AND ".join(conditions),
            }
        )
        outcome = self._gateway.transact([{"Update": update}, {"Update": session_update}])
        if outcome.committed:
            return True
        message, _ = outcome.reasons
        if not message.condition_failed:
            if self._gateway.get(SessionMeta.key(session_id)) is None:
                raise SessionNotFoundError(session_id)
            if self._gateway.transact([{"Update": update}]).committed:
                recount_session(self._gateway, session_id)
                return True
        current = self._gateway.get(update["Key"])
        return False if current is None else current
