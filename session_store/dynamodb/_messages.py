"""Message methods: append, read, page and delete messages (edits: ``_updates``)."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from itertools import chain
from typing import Any

from session_store import keys, models
from session_store._expressions import Expression
from session_store._inputs import validated, validated_messages
from session_store.counters import clear_messages, message_items, recount_session
from session_store.cursor import check_start_between, fingerprint
from session_store.domain import (
    Message,
    MessageQuery,
    NewMessage,
)
from session_store.dynamodb._core import (
    CONTEXT_PAGE,
    decode_message,
)
from session_store.dynamodb._updates import MessageUpdates
from session_store.errors import (
    SessionNotFoundError,
    StorageError,
)
from session_store.limits import (
    check_item_size,
    check_transaction_size,
)
from session_store.models import TABLE_KEY, key_of, number_of
from session_store.offload import OffloadPlan
from session_store.planning import (
    DELETE_PARALLELISM,
    RACE_ATTEMPTS,
    append_actions,
    delete_message_counted,
    new_message,
    remove_as_read,
    unchanged,
    uncount,
)

M = models.Message
_TOKENS = M.token_count.attr_name
_TRANSACTION_DELETES = 99
"""Deletes per ``delete_all_messages`` transaction: 100 items at most, one is the counters."""


class MessageMethods(MessageUpdates):
    """Messages: one item each, addressed by a sort key derived from the id."""

    # --- messages -------------------------------------------------------------

    def add_message(self, session_id: str, data: NewMessage | Mapping[str, Any]) -> Message:
        """Append a message and count it on the session, in one transaction.

        ``SessionNotFoundError`` (nothing written) when the session is absent
        or expired. The session's ``version`` goes up by one (SPEC §5).
        """
        keys.check_session_id(session_id)
        return self._append(session_id, [validated(NewMessage, data)], "add_message")[0]

    def add_messages(
        self, session_id: str, messages: Sequence[NewMessage | Mapping[str, Any]]
    ) -> list[Message]:
        """Append up to ``MAX_APPEND`` (99) messages in one transaction: all of them or none.

        Ids follow the list's order; the session's counters go up by the
        messages and their tokens, and its ``version`` by one, as
        ``add_message`` does for one. An empty list sends nothing.
        ``SessionNotFoundError`` (nothing written) when the session is absent
        or expired; ``ValidationError`` before any request for a bad message,
        more than 99, or more than a transaction's 4 MB.
        """
        keys.check_session_id(session_id)
        return self._append(session_id, validated_messages(messages), "add_messages")

    def _append(self, session_id: str, news: list[NewMessage], call: str) -> list[Message]:
        """Put ``news`` and count them on the session, in one transaction."""
        if not news:
            return []
        appended = [new_message(new, session_id) for new in news]
        items = [M.encode(message) for message in appended]
        plans: list[OffloadPlan] = []
        if self._offloader is not None:
            items, plans = self._offloader.plan_batch(items)
        for item in items:
            check_item_size(item, f"message of session {session_id!r}")
        if len(items) > 1:
            check_transaction_size(items, f"{len(items)} messages of session {session_id!r}")
        now = self._now()
        actions = append_actions(session_id, items, now=now, expires_at=self._expiry(now))
        if plans:
            assert self._offloader is not None
            # Objects first: an item never points to an object that is not there.
            self._offloader.write(plans)
        outcome = self._gateway.transact(actions)
        if outcome.committed:
            return appended
        *puts, counters = outcome.reasons
        if counters.untouched and all(reason.condition_failed for reason in puts):
            # The messages' keys are this call's fresh ids: only our own earlier
            # attempt (a retry after a lost response) can have written them.
            return appended
        if plans:
            assert self._offloader is not None
            self._offloader.discard(plans)  # cancelled: no item points to them
        if counters.condition_failed:
            raise SessionNotFoundError(session_id)
        raise StorageError(f"{call} was cancelled: {outcome.describe()}")

    @staticmethod
    def _sort_key_range(query: MessageQuery) -> tuple[str, str]:
        """The sort keys ``query`` reads, both inclusive."""
        low = keys.message_sk_after(query.after) if query.after else keys.MESSAGE_PREFIX
        high = keys.message_sk_before(query.before) if query.before else keys.MESSAGE_SK_END
        return low, high

    def _message_request(self, session_id: str, query: MessageQuery) -> tuple[dict[str, Any], bool]:
        e = Expression()
        sort = e.name(M.sk)
        low, high = self._sort_key_range(query)
        request: dict[str, Any] = {
            "KeyConditionExpression": f"{e.name(M.pk)} = {e.string(keys.session_pk(session_id))}"
            f" AND {sort} BETWEEN {e.string(low)} AND {e.string(high)}",
            "ConsistentRead": True,
            "ScanIndexForward": query.order == "asc",
        }
        if query.roles:
            role = e.name(M.role)
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
        if cursor is not None:
            # Decoded here too (cheaply) to check its start key lies in the query's range.
            position = self._cursors.decode(cursor, kind="messages", query=fingerprint_of)
            check_start_between(position, M.sk.attr_name, *self._sort_key_range(query))
        return self._walk(
            kind="messages",
            query=fingerprint_of,
            operation="Query",
            request=request,
            key_names=TABLE_KEY,
            pinned={M.pk.attr_name: keys.session_pk(session_id)},
            filtered=filtered,
            cursor=cursor,
            page_size=page_size,
            limit=query.limit,
            offset=query.offset,
            decode=decode_message,
            accept=None,
        )

    def _context_read(self, session_id: str, query: MessageQuery) -> Generator[Message, None, None]:
        # Pages of CONTEXT_PAGE items, not 1 MB: a window rarely needs more than the newest few.
        request, _ = self._message_request(session_id, query)
        for raw in self._gateway.items("Query", request, limit=lambda: CONTEXT_PAGE):
            # One at a time: a window stops at the first message it does not need.
            yield decode_message(raw if self._offloader is None else self._offloader.restore(raw))

    def delete_message(self, session_id: str, message_id: str) -> None:
        """Delete a message and uncount it (2 requests); idempotent.

        An offloaded message's object is deleted after its item (one DeleteObject; a
        failure leaves an orphan for ``collect_orphans``, see ``session_store.offloader``).
        """
        keys.check_session_id(session_id)
        keys.check_message_id(message_id)
        key = self._message_key(session_id, message_id)
        if key is None:
            return
        removed = delete_message_counted(self._gateway, session_id, key, also=self._pointer)
        if removed is not None and self._offloader is not None:
            self._offloader.remove([removed])

    def pop_message(self, session_id: str) -> Message | None:
        """Remove and return the session's newest message (2 requests); ``None`` if it has none.

        The newest message is read and deleted only if it is still as read, so
        concurrent pops (in any process) each remove and return a different
        message, and a message edited meanwhile comes back as edited. Counters
        stay exact. An unknown session has no messages: ``None``. What is
        returned is exactly what was removed, lost responses included. An
        offloaded message is read whole before its item is removed (a GetObject)
        and its object deleted after (a DeleteObject).
        """
        keys.check_session_id(session_id)
        request, _ = self._message_request(session_id, MessageQuery(order="desc"))
        request["Limit"] = 1

        offloader = self._offloader
        whole: list[dict[str, Any]] = []  # the last message read, restored

        def read() -> tuple[dict[str, Any], Mapping[str, Any]] | None:
            newest = self._gateway.query(request).get("Items", [])
            if not newest:
                return None
            if offloader is not None:
                # Before it is removed: a pop returns the whole message or fails as a whole.
                whole[:] = [offloader.restore(newest[0])]
            return key_of(newest[0], TABLE_KEY), newest[0]

        removed = remove_as_read(
            self._gateway,
            session_id,
            read,
            (_TOKENS, M.updated_at.attr_name, *self._pointer),
            f"pop_message on session {session_id!r}",
        )
        if removed is None:
            return None
        if offloader is None:
            return decode_message(removed)
        offloader.remove([removed])
        return decode_message(whole[0])

    def delete_all_messages(self, session_id: str) -> None:
        """Delete every message; counters go down by exactly what was removed.

        Up to 99 messages: one transaction deletes them (each conditioned on the
        message as listed) and uncounts them. More: parallel batch deletes, then
        one guarded counter write, or a recount if anything moved meanwhile
        (``counters.clear_messages``). Racing appends stay counted; a retry after
        a failure finishes the job with exact counters. Offloaded messages'
        objects are deleted after their items.
        """
        keys.check_session_id(session_id)
        listing = message_items(
            self._gateway, session_id, with_session_item=True, also=self._pointer
        )
        session_item: dict[str, Any] | None = None
        chunk: list[dict[str, Any]] = []
        for item in listing:
            if models.SessionMeta.is_kind(models.sort_key_of(item)):
                session_item = item
            elif M.is_kind(models.sort_key_of(item)):
                chunk.append(item)
                if len(chunk) > _TRANSACTION_DELETES:
                    break
        if len(chunk) <= _TRANSACTION_DELETES:
            if chunk:  # all of them, in one transaction
                self._delete_counted(session_id, chunk)
            return
        clear_messages(
            self._gateway,
            session_id,
            session_item,
            chain(chunk, listing),
            parallel=DELETE_PARALLELISM,
            **self._objects_removal(),
        )

    def _delete_counted(self, session_id: str, listed: list[dict[str, Any]]) -> None:
        """Delete listed messages and uncount exactly them, in one transaction."""
        pending = {models.sort_key_of(item): item for item in listed}
        for _ in range(RACE_ATTEMPTS):
            if not pending:
                return
            items = list(pending.values())
            actions: list[dict[str, Any]] = []
            for item in items:
                d = Expression()
                actions.append(
                    {
                        "Delete": d.into(
                            {
                                "Key": key_of(item, TABLE_KEY),
                                "ConditionExpression": unchanged(
                                    d, item, (_TOKENS, *self._pointer)
                                ),
                            }
                        )
                    }
                )
            total = sum(number_of(item, M.token_count) for item in items)
            actions.append({"Update": uncount(session_id, len(items), total)})
            outcome = self._gateway.transact(actions)
            if outcome.committed:
                self._remove_objects(items)
                return
            *deletes, counters = outcome.reasons
            # Counters below what is listed: drifted, or a racing delete took one of these (its
            # delete failed too). Make them exact first, never delete uncounted: a failure
            # between such a delete and a recount would leave a later call's counters wrong.
            if counters.condition_failed and recount_session(self._gateway, session_id) is None:
                # No session item: no counters to keep.
                self._gateway.batch_delete([key_of(item, TABLE_KEY) for item in items])
                self._remove_objects(items)
                return
            for item, reason in zip(items, deletes, strict=True):
                if not reason.condition_failed:
                    continue
                e = Expression()
                projection = ", ".join(
                    e.name(a) for a in (M.pk.attr_name, M.sk.attr_name, _TOKENS, *self._pointer)
                )
                current = self._gateway.get(
                    key_of(item, TABLE_KEY), **e.into({"ProjectionExpression": projection})
                )
                if current is None:
                    del pending[models.sort_key_of(item)]  # deleted meanwhile, and uncounted
                else:
                    pending[models.sort_key_of(item)] = current  # edited: count what is there
        raise StorageError("delete_all_messages kept racing other writers")

    def _remove_objects(self, removed: list[dict[str, Any]]) -> None:
        """Delete the objects of removed message items, if they had any."""
        if self._offloader is not None:
            self._offloader.remove(removed)
