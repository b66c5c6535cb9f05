"""Session methods: create, read, update, delete and list sessions.

Somewhat over 450 lines: every session method of the adapter is one class here; the
procedures other writers share live in ``planning`` and ``counters``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from session_store import keys, models
from session_store._expressions import Expression
from session_store._inputs import checked_non_negative, validated
from session_store._time import format_iso, to_epoch_seconds
from session_store.attributes import dumps_compact, to_native
from session_store.cursor import fingerprint
from session_store.domain import (
    NewSession,
    Session,
    SessionFilters,
    SessionUpdate,
)
from session_store.dynamodb._core import (
    MAX_TAG_PREFILTER,
    AdapterCore,
    decode_session,
)
from session_store.errors import (
    ConcurrencyError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
    ValidationError,
)
from session_store.gateway import ConditionFailed
from session_store.limits import check_item_size, update_too_large
from session_store.models import (
    AGENT_INDEX_KEY,
    TABLE_KEY,
    USER_INDEX_KEY,
    WRITE_TOKEN_SLOTS,
    SessionMeta,
    is_expired,
)
from session_store.planning import (
    delete_session_messages,
    expired_by,
    has_expired,
    incarnation_end,
    new_session,
    new_session_item,
    not_expired,
)

_TOKENS = SessionMeta.write_tokens.attr_name


def _new_token() -> str:
    """A write token: tells this call's write from every other writer's."""
    return os.urandom(8).hex()


def _own_write(item: Mapping[str, Any] | None, token: str) -> bool:
    """Whether ``item`` (as stored) carries this call's write token."""
    if item is None:
        return False
    stored = item.get(_TOKENS, {}).get("L", [])
    return {"S": token} in stored


class SessionMethods(AdapterCore):
    """Sessions: one item each, listed through GSI1, GSI2 or a scan."""

    # --- sessions -------------------------------------------------------------

    def create_session(self, data: NewSession | Mapping[str, Any]) -> Session:
        """Store a new session (1 request). Never overwrites a live session: ``SessionExistsError``.

        The id of an expired session may be used again at once: its item is
        replaced by the new incarnation (counters from zero) after the
        earlier incarnation's messages are removed, so none of them is ever
        returned as the new one's. The write carries a token of this call, so
        a retry after a lost response recognises its own write, even when
        another writer changed the session since.
        """
        new = validated(NewSession, data)
        session_id = keys.check_session_id(new.id if new.id is not None else str(uuid.uuid4()))
        self._check_owner_ids(new.user_id, new.active_agent_id)
        now = self._now()
        # Whole seconds, as stored: the session returned equals what a read gives back.
        session = new_session(new, session_id, now=now, expires_at=self._expiry(now))
        token = _new_token()
        item = new_session_item(session, token)
        check_item_size(item, f"session {session_id!r}")
        e = Expression()
        request = e.into(
            {
                "Item": item,
                "ConditionExpression": f"attribute_not_exists({e.name(SessionMeta.pk)})",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        )
        for _ in range(2):
            try:
                self._gateway.put(request)
                return session
            except ConditionFailed as failed:
                stored = failed.item
            if _own_write(stored, token):
                return session  # our own put, retried after a lost response
            if stored is None or not is_expired(stored, to_epoch_seconds(now)):
                raise SessionExistsError(session_id) from None
            request = self._replacing_expired(session_id, stored, request, now)
        raise SessionExistsError(session_id)

    def _replacing_expired(
        self, session_id: str, stored: Mapping[str, Any], request: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        """Remove an expired incarnation's messages; the put that then replaces its item.

        The put is conditioned on the item still being that expired one (its
        ``version`` as read), so a live session is never replaced; a crash in
        between leaves an expired session with fewer messages, which the same
        ``create_session`` call, retried, finishes.
        """
        # Only what that incarnation had: a concurrent creator that replaced it first
        # writes its messages above the bound.
        delete_session_messages(
            self._gateway,
            session_id,
            sort_key_below=incarnation_end(stored, now),
            **self._objects_removal(),
        )
        e = Expression()
        version = e.name(SessionMeta.version)
        same = (
            f"{version} = {e.value(stored[SessionMeta.version.attr_name])}"
            if SessionMeta.version.attr_name in stored
            else f"attribute_not_exists({version})"
        )
        return e.into(
            {
                "Item": request["Item"],
                "ConditionExpression": f"{same} AND {expired_by(e, to_epoch_seconds(now))}",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        )

    def get_session(self, session_id: str) -> Session | None:
        """The session, or ``None`` when absent or expired (1 strongly consistent read)."""
        keys.check_session_id(session_id)
        item = self._gateway.get(SessionMeta.key(session_id))
        if item is None or is_expired(item, to_epoch_seconds(self._now())):
            return None
        return decode_session(item)

    def update_session(
        self,
        session_id: str,
        updates: SessionUpdate | Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> Session:
        """Apply ``updates`` in one conditional write; returns the stored session.

        ``version`` goes up by one; ``last_activity_at`` (and, with
        ``session_ttl``, ``expires_at``) is refreshed; GSI keys follow
        user/agent/status. With ``expected_version`` the write happens only if
        the stored version matches (``0`` matches a session without one),
        else ``ConcurrencyError`` carrying the version found. A missing or
        expired session is ``SessionNotFoundError``: an update never creates.
        A session written by another writer without write tokens costs one
        more request the first time.
        """
        keys.check_session_id(session_id)
        change = validated(SessionUpdate, updates)
        if expected_version is not None:
            checked_non_negative("expected_version", expected_version)
        given = change.model_fields_set
        self._check_owner_ids(
            change.user_id if "user_id" in given else None,
            change.active_agent_id if "active_agent_id" in given else None,
        )
        now = self._now()
        token = _new_token()
        shift = True  # the item has its token list (every session this package writes does)
        for _ in range(3):
            request, assigned = self._session_update(
                session_id,
                change,
                now=now,
                token=token,
                expected_version=expected_version,
                shift_tokens=shift,
            )
            try:
                return decode_session(self._gateway.update(request)["Attributes"])
            except ConditionFailed as failed:
                old = failed.item
            except ValidationError as refused:  # the item with the change would pass 400 KB
                raise update_too_large(f"update of session {session_id!r}", assigned) from refused
            if old is not None and _own_write(old, token):
                # Our own write, retried after a lost response: it was applied
                # once; the session as stored now is the result.
                return decode_session(old)
            if old is None or is_expired(old, to_epoch_seconds(now)):
                raise SessionNotFoundError(session_id) from None
            actual = models.number_of(old, SessionMeta.version)
            if expected_version is not None and actual != expected_version:
                raise ConcurrencyError(session_id, expected_version, actual) from None
            # Written without a token list (by the TypeScript adapter): start one.
            shift = _TOKENS in old
        raise StorageError(f"update_session of {session_id!r} kept racing other writers")

    def _session_update(
        self,
        session_id: str,
        change: SessionUpdate,
        *,
        now: datetime,
        token: str,
        expected_version: int | None,
        shift_tokens: bool,
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """The ``UpdateItem`` of ``update_session``, and the values it sets (by attribute).

        ``shift_tokens``: the item has its token list, which this write
        shifts (every operand reads the item as it was before the update);
        otherwise the write starts the list, on the condition that there is none.
        """
        given = change.model_fields_set
        e = Expression()
        sets: list[str] = []
        removes: list[str] = []
        assigned: dict[str, dict[str, Any]] = {}  # what the update writes, to size it

        def put(attribute: Any, typed: dict[str, Any] | None) -> None:
            if typed is None:
                removes.append(e.name(attribute))
            else:
                sets.append(f"{e.name(attribute)} = {e.value(typed)}")
                assigned[attribute.attr_name] = typed

        def text(value: str | None) -> dict[str, Any] | None:
            return None if value is None else {"S": value}

        def native(value: BaseModel | None) -> dict[str, Any] | None:
            return None if value is None else to_native(models.json_shape(value))

        if "user_id" in given:
            put(SessionMeta.user_id, text(change.user_id))
            put(
                SessionMeta.gsi1pk,
                text(keys.user_gsi_pk(change.user_id) if change.user_id else None),
            )
        if "active_agent_id" in given:
            agent = change.active_agent_id
            put(SessionMeta.active_agent_id, text(agent))
            put(SessionMeta.gsi2pk, text(keys.agent_gsi_pk(agent) if agent else None))
        if change.status is not None:
            put(SessionMeta.status, {"S": change.status.value})
            put(SessionMeta.gsi2sk, {"S": keys.status_gsi_sk(change.status.value)})
        if change.metadata is not None:
            put(SessionMeta.metadata, {"S": dumps_compact(models.json_shape(change.metadata))})
        if change.participants is not None:
            shapes = [models.json_shape(p) for p in change.participants]
            put(SessionMeta.participants, {"S": dumps_compact(shapes)})
        if change.schema_version is not None:
            put(SessionMeta.schema_version, {"N": str(change.schema_version)})
        for attribute in (
            SessionMeta.token_budget,
            SessionMeta.compression,
            SessionMeta.compression_state,
        ):
            field = _FIELD_OF[attribute.attr_name]
            if field in given:
                put(attribute, native(getattr(change, field)))
        expires_at = change.expires_at if "expires_at" in given else self._expiry(now)
        if "expires_at" in given or expires_at is not None:
            seconds = None if expires_at is None else {"N": str(to_epoch_seconds(expires_at))}
            put(SessionMeta.expires_at, seconds)
            put(SessionMeta.ttl, seconds)
        put(SessionMeta.last_activity_at, {"S": format_iso(now)})
        tokens = e.name(SessionMeta.write_tokens)
        conditions = [f"attribute_exists({e.name(SessionMeta.pk)})", not_expired(e, now)]
        if shift_tokens:
            mine = e.string(token)
            sets.append(f"{tokens}[0] = {mine}")
            sets += [f"{tokens}[{n}] = {tokens}[{n - 1}]" for n in range(1, WRITE_TOKEN_SLOTS)]
            conditions.append(f"attribute_exists({tokens}) AND NOT contains({tokens}, {mine})")
        else:
            fresh = {"L": [{"S": token}] + [{"S": ""}] * (WRITE_TOKEN_SLOTS - 1)}
            sets.append(f"{tokens} = {e.value(fresh)}")
            conditions.append(f"attribute_not_exists({tokens})")
        version = e.name(SessionMeta.version)
        if expected_version is not None:
            expected = e.number(expected_version)
            if expected_version == 0:
                conditions.append(f"(attribute_not_exists({version}) OR {version} = {expected})")
            else:
                conditions.append(f"{version} = {expected}")
        expression = f"SET {', '.join(sets)} ADD {version} {e.number(1)}"
        if removes:
            expression += f" REMOVE {', '.join(removes)}"
        check_item_size(assigned, f"update of session {session_id!r}")
        request = e.into(
            {
                "Key": SessionMeta.key(session_id),
                "UpdateExpression": expression,
                "ConditionExpression": " AND ".join(conditions),
                "ReturnValues": "ALL_NEW",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        )
        return request, assigned

    def delete_session(self, session_id: str) -> None:
        """Delete the session and all its messages; idempotent.

        The session item goes first, so no message can be added after the
        listing starts (``add_message`` requires the session); a crash
        midway leaves messages that calling ``delete_session`` again removes.
        Only messages created up to the deletion go (by the sort key, which
        starts with the creation instant): a later session under the same id
        keeps its own (see RELIABILITY.md on clocks). Offloaded messages' objects
        are deleted once their items are (a crash between leaves orphans for
        ``collect_orphans``).
        """
        keys.check_session_id(session_id)
        old = self._gateway.delete(
            {"Key": SessionMeta.key(session_id), "ReturnValues": "ALL_OLD"}
        ).get("Attributes")
        delete_session_messages(
            self._gateway,
            session_id,
            sort_key_below=incarnation_end(old, self._now()),
            **self._objects_removal(),
        )

    # --- listing sessions ----------------------------------------------------

    def _session_listing(
        self, filters: SessionFilters
    ) -> tuple[str, dict[str, Any], tuple[str, ...], dict[str, str], bool]:
        """What to send for ``filters``.

        (operation, request, key attributes of the items read, the key values
        every one of them has, server-side filter present). Both index queries
        read newest first (``ScanIndexForward`` false), as the TypeScript adapter's do.
        """
        e = Expression()
        request: dict[str, Any] = {}
        conditions: list[str] = []
        key_names: tuple[str, ...]
        pinned: dict[str, str]
        created = SessionMeta.created_at

        if filters.user_id is not None:
            operation, key_names = "Query", USER_INDEX_KEY
            user_pk = keys.user_gsi_pk(filters.user_id)
            pinned = {SessionMeta.gsi1pk.attr_name: user_pk}
            request["IndexName"] = models.USER_INDEX_NAME
            request["ScanIndexForward"] = False
            key = f"{e.name(SessionMeta.gsi1pk)} = {e.string(user_pk)}"
            after, before = filters.created_after, filters.created_before
            sort = e.name(SessionMeta.gsi1sk) if (after or before) is not None else ""
            if after is not None and before is not None:
                key += (
                    f" AND {sort} BETWEEN {e.string(keys.created_at_gsi_sk(after))}"
                    f" AND {e.string(keys.created_at_gsi_sk(before))}"
                )
                conditions.append(f"{e.name(created)} > {e.string(format_iso(after))}")
                conditions.append(f"{e.name(created)} < {e.string(format_iso(before))}")
            elif after is not None:
                key += f" AND {sort} > {e.string(keys.created_at_gsi_sk(after))}"
            elif before is not None:
                key += f" AND {sort} < {e.string(keys.created_at_gsi_sk(before))}"
            request["KeyConditionExpression"] = key
            if filters.active_agent_id is not None:
                conditions.append(
                    f"{e.name(SessionMeta.active_agent_id)} = {e.string(filters.active_agent_id)}"
                )
            if filters.status is not None:
                conditions.append(
                    f"{e.name(SessionMeta.status)} = {e.string(filters.status.value)}"
                )
        else:
            for bound, op in ((filters.created_after, ">"), (filters.created_before, "<")):
                if bound is not None:
                    conditions.append(f"{e.name(created)} {op} {e.string(format_iso(bound))}")
            if filters.active_agent_id is not None:
                operation, key_names = "Query", AGENT_INDEX_KEY
                agent_pk = keys.agent_gsi_pk(filters.active_agent_id)
                pinned = {SessionMeta.gsi2pk.attr_name: agent_pk}
                request["IndexName"] = models.AGENT_INDEX_NAME
                request["ScanIndexForward"] = False
                key = f"{e.name(SessionMeta.gsi2pk)} = {e.string(agent_pk)}"
                if filters.status is not None:
                    key += (
                        f" AND {e.name(SessionMeta.gsi2sk)} = "
                        f"{e.string(keys.status_gsi_sk(filters.status.value))}"
                    )
                request["KeyConditionExpression"] = key
            else:
                operation, key_names = "Scan", TABLE_KEY
                pinned = {SessionMeta.sk.attr_name: keys.META_SK}
                conditions.append(f"{e.name(SessionMeta.sk)} = {e.string(keys.META_SK)}")
                conditions.append(
                    f"begins_with({e.name(SessionMeta.pk)}, {e.string(keys.SESSION_PREFIX)})"
                )
                if filters.status is not None:
                    conditions.append(
                        f"{e.name(SessionMeta.status)} = {e.string(filters.status.value)}"
                    )
        if filters.tags and len(set(filters.tags)) <= MAX_TAG_PREFILTER:
            metadata = e.name(SessionMeta.metadata)
            # A pre-filter on the JSON text; the exact check happens in _session_matches.
            any_tag = " OR ".join(
                f"contains({metadata}, {e.string(dumps_compact(tag))})"
                for tag in sorted(set(filters.tags))
            )
            conditions.append(f"({any_tag})")
        if not filters.include_expired:
            conditions.append(not_expired(e, self._now()))
        if conditions:
            request["FilterExpression"] = " AND ".join(conditions)
        return operation, e.into(request), key_names, pinned, bool(conditions)

    def _session_matches(self, session: Session, filters: SessionFilters) -> bool:
        if filters.tags and not set(filters.tags) & set(session.metadata.tags or ()):
            return False
        return filters.include_expired or not has_expired(session.expires_at, self._now())

    def _walk_sessions(
        self, filters: SessionFilters, cursor: str | None, page_size: int | None
    ) -> tuple[Iterator[Session], Callable[[], str | None]]:
        self._check_owner_ids(filters.user_id, filters.active_agent_id)
        after, before = filters.created_after, filters.created_before
        if after is not None and before is not None and after >= before:
            return iter(()), lambda: None  # strict bounds with nothing between them
        operation, request, key_names, pinned, filtered = self._session_listing(filters)
        query = fingerprint("sessions", filters.model_dump(mode="json", exclude={"offset"}))
        return self._walk(
            kind="sessions",
            query=query,
            operation=operation,
            request=request,
            key_names=key_names,
            pinned=pinned,
            filtered=filtered,
            cursor=cursor,
            page_size=page_size,
            limit=filters.limit,
            offset=filters.offset,
            decode=decode_session,
            accept=lambda session: self._session_matches(session, filters),
        )


_FIELD_OF = {attribute.attr_name: name for name, attribute in SessionMeta.get_attributes().items()}
"""Python field name of each stored session attribute."""
