"""``update_message``: a message changed in place, with the session's ``tokenCount`` when
its own changes, and messages whose payload is, or is to be, offloaded to S3.

Without offloading, an update is one ``UpdateItem`` (two requests when
``token_count`` changes: a read, then a transaction with the session's
counter). An update that changes ``content`` or ``metadata`` (what moves to S3) on an
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

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from session_store import keys, models
from session_store._expressions import Expression
from session_store._inputs import validated
from session_store._time import format_iso
from session_store.attributes import dumps_compact
from session_store.counters import recount_session
from session_store.domain import Message, MessageUpdate
from session_store.dynamodb._core import AdapterCore, decode_message
from session_store.errors import (
    MessageNotFoundError,
    SessionNotFoundError,
    StorageError,
    ValidationError,
)
from session_store.gateway import ConditionFailed
from session_store.limits import check_item_size, check_update_size, item_size, update_too_large
from session_store.models import TABLE_KEY, SessionMeta, key_of, number_of
from session_store.offload import (
    CONTENT_ATTRIBUTE,
    METADATA_ATTRIBUTE,
    POINTER_ATTRIBUTE,
    pointer_of,
)
from session_store.planning import RACE_ATTEMPTS, token_change, unchanged

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


def _pointer_key(item: Mapping[str, Any]) -> str | None:
    pointer = pointer_of(item)
    return None if pointer is None else pointer.key


def _size(item: Mapping[str, Any], name: str) -> int:
    return item_size({name: item[name]}) if name in item else 0


class MessageUpdates(AdapterCore):
    """``update_message``: in place, with the session's tokens, or read-plan-write for
    messages that are, or become, offloaded."""

    def _message_key(self, session_id: str, message_id: str) -> dict[str, Any] | None:
        """The message's key, from its id alone; a listing only for ids without a timestamp."""
        sort_key = keys.message_sk_for_id(message_id)
        if sort_key is not None:
            return M.key(session_id, sort_key)
        e = Expression()
        request = e.into(
            {
                "KeyConditionExpression": f"{e.name(M.pk)} = "
                f"{e.string(keys.session_pk(session_id))} AND begins_with({e.name(M.sk)}, "
                f"{e.string(keys.MESSAGE_PREFIX)})",
                "FilterExpression": f"{e.name(M.id)} = {e.string(message_id)}",
                "ProjectionExpression": f"{e.name(M.pk)}, {e.name(M.sk)}",
                "ConsistentRead": True,
            }
        )
        for item in self._gateway.items("Query", request):
            return key_of(item, TABLE_KEY)
        return None

    def update_message(
        self,
        session_id: str,
        message_id: str,
        updates: MessageUpdate | Mapping[str, Any],
    ) -> Message:
        """Change a message in place (1 request; 2 when ``token_count`` changes).

        Sets ``updated_at``; keeps the session's ``token_count`` exact (and
        increments its ``version``) when ``token_count`` changes. With
        offloading, a change of content or metadata that leaves the message
        small costs what it costs without; one that makes it large, or that
        changes an offloaded message, is read, planned and written (module
        docstring), and the replaced object deleted.
        ``MessageNotFoundError`` when there is no such message.
        """
        keys.check_session_id(session_id)
        keys.check_message_id(message_id)
        change = validated(MessageUpdate, updates)
        given = change.model_fields_set
        now = self._now()
        e = Expression()
        sets: list[str] = []
        removes: list[str] = []
        assigned: dict[str, dict[str, Any]] = {}  # what the update writes, to size it
        removed: list[str] = []

        def put(attribute: Any, typed: dict[str, Any] | None) -> None:
            if typed is None:
                removes.append(e.name(attribute))
                removed.append(attribute.attr_name)
            else:
                sets.append(f"{e.name(attribute)} = {e.value(typed)}")
                assigned[attribute.attr_name] = typed

        if change.role is not None:
            put(M.role, {"S": change.role.value})
        if change.content is not None:
            content = (
                change.content
                if isinstance(change.content, str)
                else [block.model_dump(by_alias=True, mode="json") for block in change.content]
            )
            put(M.content, M.content.typed(content))
        if "sequence" in given:
            put(M.sequence, None if change.sequence is None else {"N": str(change.sequence)})
        if "metadata" in given:
            metadata = change.metadata
            put(
                M.metadata,
                None if metadata is None else {"S": dumps_compact(models.json_shape(metadata))},
            )
        put(M.updated_at, {"S": format_iso(now)})
        if "token_count" in given:
            tokens = change.token_count
            put(M.token_count, None if tokens is None else {"N": str(tokens)})
        expression = f"SET {', '.join(sets)}"
        if removes:
            expression += f" REMOVE {', '.join(removes)}"
        what = f"update of message {message_id!r}"
        offloader = self._offloader
        movable = offloader is not None and bool(MOVABLE & {*assigned, *removed})
        if offloader is None:
            check_item_size(assigned, what)
        elif movable:
            offloader.check_payload(assigned)
        key = self._message_key(session_id, message_id)
        if key is None:
            raise MessageNotFoundError(session_id, message_id)
        if offloader is not None and (
            "token_count" in given or item_size(assigned) > offloader.config.threshold_bytes
        ):
            return self._update_offloaded(
                session_id,
                message_id,
                key,
                assigned=assigned,
                removed=removed,
                count_tokens="token_count" in given,
            )
        if "token_count" in given:
            return self._update_message_tokens(
                session_id,
                message_id,
                key=key,
                e=e,
                expression=expression,
                change=change,
                now=now,
                check_size=lambda item: check_update_size(
                    _updated(item, assigned, removed), assigned, what
                ),
            )
        condition = f"attribute_exists({e.name(M.pk)})"
        request: dict[str, Any] = {
            "Key": key,
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        if movable:
            # In place only while the message is whole in the table; else read, plan, write.
            condition += f" AND attribute_not_exists({e.name(POINTER_ATTRIBUTE)})"
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        request = e.into({**request, "ConditionExpression": condition})
        first: Mapping[str, Any] | None = None  # the item as read, when the update was refused
        try:
            response = self._gateway.update(request)
        except ConditionFailed as failed:
            if not movable or failed.item is None:
                raise MessageNotFoundError(session_id, message_id) from None
            first = failed.item  # offloaded already: read, plan, write
        except ValidationError as refused:  # the item with the change would pass 400 KB
            if not movable:
                raise update_too_large(what, assigned) from refused
        else:
            stored = response["Attributes"]
            if offloader is None:
                return decode_message(stored)
            if movable and item_size(stored) > offloader.config.threshold_bytes:
                # Applied, and large now: offload it (nothing left to change but the layout).
                return self._update_offloaded(
                    session_id,
                    message_id,
                    key,
                    assigned={},
                    removed=[],
                    count_tokens=False,
                    first=stored,
                    replan=True,
                )
            return decode_message(offloader.restore(stored))
        return self._update_offloaded(
            session_id,
            message_id,
            key,
            assigned=assigned,
            removed=removed,
            count_tokens=False,
            first=first,
        )

    def _update_message_tokens(
        self,
        session_id: str,
        message_id: str,
        *,
        key: dict[str, Any],
        e: Expression,
        expression: str,
        change: MessageUpdate,
        now: datetime,
        check_size: Callable[[dict[str, Any]], None],
    ) -> Message:
        """Read the message, then update it and the session's ``token_count`` atomically.

        The session's counter moves by the difference, never below zero: a
        message whose tokens were never counted (written by the TypeScript
        adapter) is updated alone and the session recounted. ``check_size(item)``
        refuses (``ValidationError``) an update that would take the item as read
        past 400 KB, before any write.
        """
        for _ in range(RACE_ATTEMPTS):
            item = self._gateway.get(key)
            if item is None:
                raise MessageNotFoundError(session_id, message_id)
            check_size(item)
            guard = e.copy()
            message_update = guard.into(
                {
                    "Key": key,
                    "UpdateExpression": expression,
                    "ConditionExpression": unchanged(guard, item, (_TOKENS,)),
                }
            )
            delta = (change.token_count or 0) - number_of(item, M.token_count)
            session_update = token_change(session_id, delta)
            outcome = self._gateway.transact(
                [{"Update": message_update}, {"Update": session_update}]
            )
            if not outcome.committed:
                message, _ = outcome.reasons
                if message.condition_failed:
                    continue  # the message changed between read and write: read again
                if self._gateway.get(SessionMeta.key(session_id)) is None:
                    raise SessionNotFoundError(session_id)
                # Counters below what this message claims: update it alone, then recount.
                if not self._gateway.transact([{"Update": message_update}]).committed:
                    continue
                recount_session(self._gateway, session_id)
            # A transaction returns no item: the result is what was read plus the change.
            changed = {name: getattr(change, name) for name in change.model_fields_set}
            return decode_message(item).model_copy(update={**changed, "updated_at": now})
        raise StorageError(f"update_message kept racing other writers on {message_id!r}")

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
            if (
                isinstance(written, dict)
                and plan is not None
                and _pointer_key(written) == plan.pointer.key
            ):
                written = True  # our own update, retried by botocore after a lost response
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
        session_update = token_change(session_id, delta)
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
