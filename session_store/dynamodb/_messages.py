"""Message methods: append, read, page, edit and delete messages."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from session_store import keys, models
from session_store._expressions import Expression
from session_store._inputs import validated, validated_messages
from session_store._time import format_iso, to_epoch_seconds
from session_store.attributes import dumps_compact
from session_store.counters import recount_session
from session_store.cursor import fingerprint
from session_store.domain import (
    Message,
    MessageQuery,
    MessageUpdate,
    NewMessage,
)
from session_store.dynamodb._core import (
    CONDITION_FAILED,
    CONTEXT_PAGE,
    SESSION_KEY,
    AdapterCore,
    all_messages_of,
    decode_message,
    key_of,
    session_key,
    uncount,
)
from session_store.errors import (
    MessageNotFoundError,
    SessionNotFoundError,
    StorageError,
    error_code,
)
from session_store.ids import new_message_id
from session_store.limits import check_item_size, check_transaction_size

_RACE_ATTEMPTS = 64
"""Reads a ``delete_message``/``pop_message`` makes before giving up: each lost race
means another writer deleted or changed the message."""
_TRANSACTION_DELETES = 99
"""Deletes per ``delete_all_messages`` transaction: 100 items at most, one is the counters."""


class MessageMethods(AdapterCore):
    """Messages: one item each, addressed by a sort key derived from the id."""

    # --- messages -------------------------------------------------------------

    def add_message(self, session_id: str, data: NewMessage | Mapping[str, Any]) -> Message:
        """Append a message and count it on the session, in one transaction.

        ``SessionNotFoundError`` (nothing written) when the session is absent
        or expired. The session's ``version`` is left alone.
        """
        keys.check_session_id(session_id)
        return self._append(session_id, [validated(NewMessage, data)], "add_message")[0]

    def add_messages(
        self, session_id: str, messages: Sequence[NewMessage | Mapping[str, Any]]
    ) -> list[Message]:
        """Append up to ``MAX_APPEND`` (99) messages in one transaction: all of them or none.

        Ids follow the list's order; the session's counters go up by the
        messages and their tokens, as ``add_message`` does for one. An empty
        list sends nothing. ``SessionNotFoundError`` (nothing written) when the
        session is absent or expired; ``ValidationError`` before any request
        for a bad message, more than 99, or more than a transaction's 4 MB.
        """
        keys.check_session_id(session_id)
        return self._append(session_id, validated_messages(messages), "add_messages")

    def _append(self, session_id: str, news: list[NewMessage], call: str) -> list[Message]:
        """Put ``news`` and count them on the session, in one transaction."""
        if not news:
            return []
        appended: list[Message] = []
        puts: list[dict[str, Any]] = []
        for new in news:
            message_id = new_message_id()
            message = Message.model_validate(
                {
                    **new.model_dump(),
                    "id": str(message_id),
                    "session_id": session_id,
                    "created_at": message_id.datetime,
                }
            )
            item = models.Message.encode(message)
            check_item_size(item, f"message of session {session_id!r}")
            appended.append(message)
            puts.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": "PK"},
                    }
                }
            )
        if len(puts) > 1:
            check_transaction_size(
                [put["Put"]["Item"] for put in puts],
                f"{len(puts)} messages of session {session_id!r}",
            )
        now = self._now()
        e = Expression()
        sets = [f"{e.name('lastActivityAt')} = {e.string(format_iso(now))}"]
        expires_at = self._expiry(now)
        if expires_at is not None:
            seconds = e.number(to_epoch_seconds(expires_at))
            sets += [f"{e.name('expiresAt')} = {seconds}", f"{e.name('ttl')} = {seconds}"]
        expires = e.name("expiresAt")
        tokens = sum(message.token_count or 0 for message in appended)
        update = e.into(
            {
                "TableName": self._table,
                "Key": session_key(session_id),
                "UpdateExpression": f"SET {', '.join(sets)} ADD {e.name('messageCount')} "
                f"{e.number(len(appended))}, {e.name('tokenCount')} {e.number(tokens)}",
                "ConditionExpression": f"attribute_exists({e.name('PK')}) AND "
                f"(attribute_not_exists({expires}) OR {expires} > "
                f"{e.number(to_epoch_seconds(now))})",
            }
        )
        with self._storage(call):
            reasons = self._transact([*puts, {"Update": update}])
        if reasons is not None:
            *put_reasons, update_reason = reasons
            if update_reason == "ConditionalCheckFailed":
                raise SessionNotFoundError(session_id)
            if update_reason == "None" and all(r == "ConditionalCheckFailed" for r in put_reasons):
                # The messages' keys are this call's fresh ids: only our own earlier
                # attempt (a retry after a lost response) can have written them.
                return appended
            raise StorageError(f"{call} was cancelled: {reasons}")
        return appended

    def _message_request(self, session_id: str, query: MessageQuery) -> tuple[dict[str, Any], bool]:
        e = Expression()
        sort = e.name("SK")
        low = keys.message_sk_after(query.after) if query.after else keys.MESSAGE_PREFIX
        high = keys.message_sk_before(query.before) if query.before else keys.MESSAGE_SK_END
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": f"{e.name('PK')} = {e.string(keys.session_pk(session_id))}"
            f" AND {sort} BETWEEN {e.string(low)} AND {e.string(high)}",
            "ConsistentRead": True,
            "ScanIndexForward": query.order == "asc",
        }
        if query.roles:
            role = e.name("role")
            request["FilterExpression"] = (
                f"{role} IN ({', '.join(e.string(r) for r in sorted(set(query.roles)))})"
            )
        return e.into(request), bool(query.roles)

    def _walk_messages(
        self, session_id: str, query: MessageQuery, cursor: str | None, page_size: int | None
    ) -> tuple[Iterator[Message], Callable[[], str | None]]:
        keys.check_session_id(session_id)
        if query.after and query.before and query.after >= query.before:
            return iter(()), lambda: None
        request, filtered = self._message_request(session_id, query)
        fingerprint_of = fingerprint(
            "messages", session_id, query.model_dump(mode="json", exclude={"offset"})
        )
        return self._walk(
            kind="messages",
            query=fingerprint_of,
            operation="Query",
            request=request,
            key_names=SESSION_KEY,
            pinned={"PK": keys.session_pk(session_id)},
            filtered=filtered,
            cursor=cursor,
            page_size=page_size,
            limit=query.limit,
            offset=query.offset,
            decode=decode_message,
            accept=lambda _: True,
        )

    def _context_read(self, session_id: str, query: MessageQuery) -> Generator[Message, None, None]:
        # Pages of CONTEXT_PAGE items, not 1 MB: a window rarely needs more than the newest few.
        request, _ = self._message_request(session_id, query)
        with self._storage("get_context_window"):
            for raw in self._paged("Query", request, limit=lambda: CONTEXT_PAGE):
                yield decode_message(raw)

    def _message_key(self, session_id: str, message_id: str) -> dict[str, Any] | None:
        """The message's key, from its id alone; a listing only for ids without a timestamp."""
        sort_key = keys.message_sk_for_id(message_id)
        if sort_key is not None:
            return {"PK": {"S": keys.session_pk(session_id)}, "SK": {"S": sort_key}}
        e = Expression()
        request = e.into(
            {
                "TableName": self._table,
                "KeyConditionExpression": all_messages_of(e, session_id),
                "FilterExpression": f"{e.name('id')} = {e.string(message_id)}",
                "ProjectionExpression": f"{e.name('PK')}, {e.name('SK')}",
                "ConsistentRead": True,
            }
        )
        for item in self._paged("Query", request):
            return key_of(item, SESSION_KEY)
        return None

    def update_message(
        self,
        session_id: str,
        message_id: str,
        updates: MessageUpdate | Mapping[str, Any],
    ) -> Message:
        """Change a message in place (1 request; 2 when ``token_count`` changes).

        Sets ``updated_at``; keeps the session's ``token_count`` exact.
        ``MessageNotFoundError`` when there is no such message.
        """
        keys.check_session_id(session_id)
        keys.check_message_id(message_id)
        change = validated(MessageUpdate, updates)
        given = change.model_fields_set
        with self._storage("update_message"):
            now = self._now()
            e = Expression()
            sets: list[str] = []
            removes: list[str] = []
            if change.role is not None:
                sets.append(f"{e.name('role')} = {e.string(change.role.value)}")
            if change.content is not None:
                content = (
                    change.content
                    if isinstance(change.content, str)
                    else [block.model_dump(by_alias=True, mode="json") for block in change.content]
                )
                sets.append(
                    f"{e.name('content')} = {e.value(models.Message.content.typed(content))}"
                )
            if "sequence" in given:
                if change.sequence is None:
                    removes.append(e.name("sequence"))
                else:
                    sets.append(f"{e.name('sequence')} = {e.number(change.sequence)}")
            if "metadata" in given:
                if change.metadata is None:
                    removes.append(e.name("metadata"))
                else:
                    sets.append(
                        f"{e.name('metadata')} = "
                        f"{e.string(dumps_compact(models.json_shape(change.metadata)))}"
                    )
            sets.append(f"{e.name('updatedAt')} = {e.string(format_iso(now))}")
            if "token_count" in given:
                token_name = e.name("tokenCount")
                if change.token_count is None:
                    removes.append(token_name)
                else:
                    sets.append(f"{token_name} = {e.number(change.token_count)}")
            expression = f"SET {', '.join(sets)}"
            if removes:
                expression += f" REMOVE {', '.join(removes)}"
            check_item_size(e.assigned(sets), f"update of message {message_id!r}")
            key = self._message_key(session_id, message_id)
            if key is None:
                raise MessageNotFoundError(session_id, message_id)
            exists = f"attribute_exists({e.name('PK')})"
            if "token_count" not in given:
                request = e.into(
                    {
                        "TableName": self._table,
                        "Key": key,
                        "UpdateExpression": expression,
                        "ConditionExpression": exists,
                        "ReturnValues": "ALL_NEW",
                    }
                )
                try:
                    response = self._write("update_item", **request)
                except ClientError as error:
                    if error_code(error) == CONDITION_FAILED:
                        raise MessageNotFoundError(session_id, message_id) from None
                    raise
                return decode_message(response["Attributes"])
            return self._update_message_tokens(
                session_id=session_id,
                message_id=message_id,
                key=key,
                e=e,
                expression=expression,
                exists=exists,
                token_name=e.name("tokenCount"),
                change=change,
                now=now,
            )

    def _update_message_tokens(
        self,
        *,
        session_id: str,
        message_id: str,
        key: dict[str, Any],
        e: Expression,
        expression: str,
        exists: str,
        token_name: str,
        change: MessageUpdate,
        now: datetime,
    ) -> Message:
        """Read the message, then update it and the session's ``token_count`` atomically."""
        for _ in range(max(self.config.retry.max_attempts, 1) * 2):
            current = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
            item = current.get("Item")
            if item is None:
                raise MessageNotFoundError(session_id, message_id)
            old_tokens = int(item["tokenCount"]["N"]) if "tokenCount" in item else 0
            guard = Expression()
            guard.names.update(e.names)
            guard.values.update(e.values)
            if "tokenCount" in item:
                unchanged = f"{token_name} = {guard.value(item['tokenCount'])}"
            else:
                unchanged = f"attribute_not_exists({token_name})"
            message_update = guard.into(
                {
                    "TableName": self._table,
                    "Key": key,
                    "UpdateExpression": expression,
                    "ConditionExpression": f"{exists} AND {unchanged}",
                }
            )
            s = Expression()
            session_update = s.into(
                {
                    "TableName": self._table,
                    "Key": session_key(session_id),
                    "UpdateExpression": f"ADD {s.name('tokenCount')} "
                    f"{s.number((change.token_count or 0) - old_tokens)}",
                    "ConditionExpression": f"attribute_exists({s.name('PK')})",
                }
            )
            reasons = self._transact([{"Update": message_update}, {"Update": session_update}])
            if reasons is None:
                # A transaction returns no item: the result is what was read plus the change.
                changed = {name: getattr(change, name) for name in change.model_fields_set}
                return decode_message(item).model_copy(update={**changed, "updated_at": now})
            if reasons[1] == "ConditionalCheckFailed":
                raise SessionNotFoundError(session_id)
            # The message changed between read and write: read again.
        raise StorageError(f"update_message kept racing other writers on {message_id!r}")

    def delete_message(self, session_id: str, message_id: str) -> None:
        """Delete a message and uncount it (2 requests); idempotent."""
        keys.check_session_id(session_id)
        keys.check_message_id(message_id)
        with self._storage("delete_message"):
            key = self._message_key(session_id, message_id)
            if key is None:
                return

            def read() -> tuple[dict[str, Any], Mapping[str, Any]] | None:
                current = self._client.get_item(
                    TableName=self._table,
                    Key=key,
                    ConsistentRead=True,
                    ProjectionExpression="#t",
                    ExpressionAttributeNames={"#t": "tokenCount"},
                )
                return (key, current["Item"]) if "Item" in current else None

            self._remove_as_read(
                session_id, read, ("tokenCount",), f"delete_message of {message_id!r}"
            )

    def pop_message(self, session_id: str) -> Message | None:
        """Remove and return the session's newest message (2 requests); ``None`` if it has none.

        The newest message is read and deleted only if it is still as read, so
        concurrent pops (in any process) each remove and return a different
        message, and a message edited meanwhile comes back as edited. Counters
        stay exact. An unknown session has no messages: ``None``.
        """
        keys.check_session_id(session_id)
        request, _ = self._message_request(session_id, MessageQuery(order="desc"))
        request["Limit"] = 1

        def read() -> tuple[dict[str, Any], Mapping[str, Any]] | None:
            newest = self._client.query(**request).get("Items", [])
            return (key_of(newest[0], SESSION_KEY), newest[0]) if newest else None

        with self._storage("pop_message"):
            removed = self._remove_as_read(
                session_id,
                read,
                ("tokenCount", "updatedAt"),
                f"pop_message on session {session_id!r}",
            )
        return None if removed is None else decode_message(removed)

    def _remove_as_read(
        self,
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
        for attempt in range(_RACE_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, min(0.005 * 2**attempt, 0.25)))
            found = read()
            if found is None:
                return None
            key, item = found
            if self._remove_message(session_id, key, item, watched):
                return item
        raise StorageError(f"{what} kept racing other writers")

    def _remove_message(
        self,
        session_id: str,
        key: dict[str, Any],
        seen: Mapping[str, Any],
        watched: tuple[str, ...],
    ) -> bool:
        """Delete the message at ``key`` and uncount it, if ``watched`` still hold what was seen.

        ``seen`` is the message item as read (at least the ``watched``
        attributes). Returns ``False`` when the message went or changed
        meanwhile: read it again.
        """
        d = Expression()
        conditions = [f"attribute_exists({d.name('PK')})"]
        for attribute in watched:
            name = d.name(attribute)
            conditions.append(
                f"{name} = {d.value(seen[attribute])}"
                if attribute in seen
                else f"attribute_not_exists({name})"
            )
        delete = d.into(
            {"TableName": self._table, "Key": key, "ConditionExpression": " AND ".join(conditions)}
        )
        tokens = int(seen["tokenCount"]["N"]) if "tokenCount" in seen else 0
        reasons = self._transact(
            [{"Delete": delete}, {"Update": uncount(self._table, session_id, 1, tokens)}]
        )
        if reasons is None:
            return True
        if reasons[0] == "ConditionalCheckFailed":
            return False
        # Counters missing or drifted (or no session): delete alone, then recount.
        try:
            self._write("delete_item", **delete)
        except ClientError as error:
            if error_code(error) != CONDITION_FAILED:
                raise
            return False
        recount_session(self.models, session_id)
        return True

    def delete_all_messages(self, session_id: str) -> None:
        """Delete every message; counters go down by exactly what was removed.

        Messages go in transactions of up to 99 deletes plus the counter
        update, each delete conditioned on the message as listed, so a message
        edited, deleted or added meanwhile is never miscounted (appends racing
        the call stay counted). A session whose counters had drifted is
        recounted instead.
        """
        keys.check_session_id(session_id)
        with self._storage("delete_all_messages"):
            chunk: list[dict[str, Any]] = []
            for item in self._message_items(session_id):
                chunk.append(item)
                if len(chunk) == _TRANSACTION_DELETES:
                    self._delete_counted(session_id, chunk)
                    chunk = []
            if chunk:
                self._delete_counted(session_id, chunk)

    def _delete_counted(self, session_id: str, listed: list[dict[str, Any]]) -> None:
        """Delete listed messages and uncount exactly them, in one transaction."""
        pending = {item["SK"]["S"]: item for item in listed}
        for _ in range(max(self.config.retry.max_attempts, 1) * 2):
            if not pending:
                return
            items = list(pending.values())
            actions: list[dict[str, Any]] = []
            for item in items:
                d = Expression()
                tokens = d.name("tokenCount")
                unchanged = (
                    f"{tokens} = {d.value(item['tokenCount'])}"
                    if "tokenCount" in item
                    else f"attribute_not_exists({tokens})"
                )
                actions.append(
                    {
                        "Delete": d.into(
                            {
                                "TableName": self._table,
                                "Key": key_of(item, SESSION_KEY),
                                "ConditionExpression": (
                                    f"attribute_exists({d.name('PK')}) AND {unchanged}"
                                ),
                            }
                        )
                    }
                )
            total = sum(int(item["tokenCount"]["N"]) for item in items if "tokenCount" in item)
            actions.append({"Update": uncount(self._table, session_id, len(items), total)})
            reasons = self._transact(actions)
            if reasons is None:
                return
            if reasons[-1] == "ConditionalCheckFailed":
                # No session item, or counters that had drifted: delete, then recount.
                self._batch_delete([key_of(item, SESSION_KEY) for item in items])
                recount_session(self.models, session_id)
                return
            for item, reason in zip(items, reasons, strict=False):
                if reason != "ConditionalCheckFailed":
                    continue
                current = self._client.get_item(
                    TableName=self._table,
                    Key=key_of(item, SESSION_KEY),
                    ConsistentRead=True,
                    ProjectionExpression="#p, #s, #t",
                    ExpressionAttributeNames={"#p": "PK", "#s": "SK", "#t": "tokenCount"},
                ).get("Item")
                if current is None:
                    del pending[item["SK"]["S"]]  # deleted meanwhile, and uncounted by its deleter
                else:
                    pending[item["SK"]["S"]] = current  # edited meanwhile: count what is there
        raise StorageError("delete_all_messages kept racing other writers")
