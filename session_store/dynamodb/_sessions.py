"""Session methods: create, read, update, delete and list sessions."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from session_store import keys, models
from session_store._expressions import Expression
from session_store._inputs import checked_non_negative, validated
from session_store._time import format_iso, to_epoch_seconds, to_whole_second
from session_store.attributes import dumps_compact, to_native
from session_store.cursor import fingerprint
from session_store.domain import (
    NewSession,
    Session,
    SessionFilters,
    SessionUpdate,
)
from session_store.dynamodb._core import (
    AGENT_INDEX_KEY,
    CONDITION_FAILED,
    MAX_TAG_PREFILTER,
    RECENT_WRITE_IDS,
    SESSION_KEY,
    USER_INDEX_KEY,
    AdapterCore,
    decode_session,
    expired,
    session_key,
)
from session_store.errors import (
    ConcurrencyError,
    SessionExistsError,
    SessionNotFoundError,
    error_code,
)
from session_store.limits import check_item_size

# The token history of ``update_session``, prepared once: ``#w1`` takes this
# call's token (``:token``), each older slot the one before it (every operand
# reads the item as it was before the update), a slot not written yet this
# token; the write is refused if the token is among them already.
_HISTORY_NAMES = {f"#w{n}": attribute for n, attribute in enumerate(RECENT_WRITE_IDS, start=1)}
_TOKEN = ":token"
_HISTORY_SHIFT = ", ".join(
    [
        f"#w1 = {_TOKEN}",
        *(
            f"{newer} = if_not_exists({older}, {_TOKEN})"
            for older, newer in itertools.pairwise(_HISTORY_NAMES)
        ),
    ]
)
_HISTORY_CONDITION = f"NOT ({_TOKEN} IN ({', '.join(_HISTORY_NAMES)}))"


class SessionMethods(AdapterCore):
    """Sessions: one item each, listed through GSI1, GSI2 or a scan."""

    # --- sessions -------------------------------------------------------------

    def create_session(self, data: NewSession | Mapping[str, Any]) -> Session:
        """Store a new session (1 request). Never overwrites: ``SessionExistsError``."""
        new = validated(NewSession, data)
        session_id = keys.check_session_id(new.id if new.id is not None else str(uuid.uuid4()))
        self._check_owner_ids(new.user_id, new.active_agent_id)
        now = self._now()
        fields = new.model_dump(exclude={"id"})
        # Whole seconds, as stored: the session returned equals what a read gives back.
        fields["expires_at"] = to_whole_second(
            self._expiry(now) if fields["expires_at"] is None else fields["expires_at"]
        )
        session = Session.model_validate(
            {**fields, "id": session_id, "created_at": now, "last_activity_at": now, "version": 1}
        )
        item = models.SessionMeta.encode(session)
        check_item_size(item, f"session {session_id!r}")
        expression = Expression()
        request = expression.into(
            {
                "TableName": self._table,
                "Item": item,
                "ConditionExpression": f"attribute_not_exists({expression.name('PK')})",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        )
        with self._storage("create_session"):
            try:
                self._write("put_item", **request)
            except ClientError as error:
                if error_code(error) != CONDITION_FAILED:
                    raise
                # A retry of our own put whose response was lost finds our item: success.
                if error.response.get("Item") != item:
                    raise SessionExistsError(session_id) from None
        return session

    def get_session(self, session_id: str) -> Session | None:
        """The session, or ``None`` when absent or expired (1 strongly consistent read)."""
        keys.check_session_id(session_id)
        with self._storage("get_session"):
            response = self._client.get_item(
                TableName=self._table, Key=session_key(session_id), ConsistentRead=True
            )
        item = response.get("Item")
        if item is None or expired(item, to_epoch_seconds(self._now())):
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
        token = os.urandom(8).hex()  # tells this call's write from the last 8 others
        e = Expression()
        sets: list[str] = []
        removes: list[str] = []
        assigned: dict[str, dict[str, Any]] = {}  # what the update writes, to size it

        def put(attribute: str, typed: dict[str, Any] | None) -> None:
            if typed is None:
                removes.append(e.name(attribute))
            else:
                sets.append(f"{e.name(attribute)} = {e.value(typed)}")
                assigned[attribute] = typed

        def text(value: str | None) -> dict[str, Any] | None:
            return None if value is None else {"S": value}

        def native(value: BaseModel | None) -> dict[str, Any] | None:
            if value is None:
                return None
            return to_native(models.json_shape(value))

        if "user_id" in given:
            put("userId", text(change.user_id))
            put("GSI1PK", text(keys.user_gsi_pk(change.user_id) if change.user_id else None))
        if "active_agent_id" in given:
            put("activeAgentId", text(change.active_agent_id))
            put(
                "GSI2PK",
                text(keys.agent_gsi_pk(change.active_agent_id) if change.active_agent_id else None),
            )
        if change.status is not None:
            put("status", {"S": change.status.value})
            put("GSI2SK", {"S": keys.status_gsi_sk(change.status.value)})
        if change.metadata is not None:
            put(
                "metadata",
                {"S": dumps_compact(models.json_shape(change.metadata))},
            )
        if change.participants is not None:
            put(
                "participants",
                {"S": dumps_compact([models.json_shape(p) for p in change.participants])},
            )
        if change.schema_version is not None:
            put("schemaVersion", {"N": str(change.schema_version)})
        for field, attribute in (
            ("token_budget", "tokenBudget"),
            ("compression", "compression"),
            ("compression_state", "compressionState"),
        ):
            if field in given:
                put(attribute, native(getattr(change, field)))
        expires_at = change.expires_at if "expires_at" in given else self._expiry(now)
        if "expires_at" in given or expires_at is not None:
            seconds = None if expires_at is None else {"N": str(to_epoch_seconds(expires_at))}
            put("expiresAt", seconds)
            put("ttl", seconds)
        put("lastActivityAt", {"S": format_iso(now)})
        e.fixed(_HISTORY_NAMES, {_TOKEN: {"S": token}})
        sets.append(_HISTORY_SHIFT)
        assigned[RECENT_WRITE_IDS[0]] = {"S": token}
        version = e.name("version")
        expires_name = e.name("expiresAt")
        conditions = [
            f"attribute_exists({e.name('PK')})",
            f"(attribute_not_exists({expires_name}) OR {expires_name} > "
            f"{e.number(to_epoch_seconds(now))})",
            _HISTORY_CONDITION,
        ]
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
                "TableName": self._table,
                "Key": session_key(session_id),
                "UpdateExpression": expression,
                "ConditionExpression": " AND ".join(conditions),
                "ReturnValues": "ALL_NEW",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        )
        with self._storage("update_session"):
            try:
                response = self._write("update_item", **request)
            except ClientError as error:
                if error_code(error) != CONDITION_FAILED:
                    raise
                old: Any = error.response.get("Item")
                if old is not None and any(
                    old.get(attribute) == {"S": token} for attribute in RECENT_WRITE_IDS
                ):
                    # Our own write, retried after a lost response: it was applied
                    # once; the session as stored now is the result.
                    return decode_session(old)
                if old is None or expired(old, to_epoch_seconds(now)):
                    raise SessionNotFoundError(session_id) from None
                actual = int(old["version"]["N"]) if "version" in old else 0
                if expected_version is not None and actual != expected_version:
                    raise ConcurrencyError(session_id, expected_version, actual) from None
                raise
        return decode_session(response["Attributes"])

    def delete_session(self, session_id: str) -> None:
        """Delete the session and all its messages; idempotent.

        The session item goes first, so no message can be added after the
        listing starts (``add_message`` requires the session); a crash
        midway leaves messages that calling ``delete_session`` again removes.
        """
        keys.check_session_id(session_id)
        with self._storage("delete_session"):
            self._write("delete_item", TableName=self._table, Key=session_key(session_id))
            self._delete_messages(session_id)

    # --- listing sessions ----------------------------------------------------

    def _session_listing(
        self, filters: SessionFilters
    ) -> tuple[str, dict[str, Any], tuple[str, ...], dict[str, str], bool]:
        """What to send for ``filters``.

        (operation, request, key attributes of the items read, the key values
        every one of them has, server-side filter present).
        """
        e = Expression()
        request: dict[str, Any] = {"TableName": self._table}
        conditions: list[str] = []
        key_names: tuple[str, ...]
        pinned: dict[str, str]

        def created() -> str:
            return e.name("createdAt")

        if filters.user_id is not None:
            operation, key_names = "Query", USER_INDEX_KEY
            pinned = {"GSI1PK": keys.user_gsi_pk(filters.user_id)}
            request["IndexName"] = models.USER_INDEX_NAME
            request["ScanIndexForward"] = False
            key = f"{e.name('GSI1PK')} = {e.string(keys.user_gsi_pk(filters.user_id))}"
            after, before = filters.created_after, filters.created_before
            sort = "GSI1SK"
            if after is not None and before is not None:
                key += (
                    f" AND {e.name(sort)} BETWEEN {e.string(keys.created_at_gsi_sk(after))}"
                    f" AND {e.string(keys.created_at_gsi_sk(before))}"
                )
                conditions.append(f"{created()} > {e.string(format_iso(after))}")
                conditions.append(f"{created()} < {e.string(format_iso(before))}")
            elif after is not None:
                key += f" AND {e.name(sort)} > {e.string(keys.created_at_gsi_sk(after))}"
            elif before is not None:
                key += f" AND {e.name(sort)} < {e.string(keys.created_at_gsi_sk(before))}"
            request["KeyConditionExpression"] = key
            if filters.active_agent_id is not None:
                conditions.append(
                    f"{e.name('activeAgentId')} = {e.string(filters.active_agent_id)}"
                )
            if filters.status is not None:
                conditions.append(f"{e.name('status')} = {e.string(filters.status.value)}")
        else:
            for bound, op in ((filters.created_after, ">"), (filters.created_before, "<")):
                if bound is not None:
                    conditions.append(f"{created()} {op} {e.string(format_iso(bound))}")
            if filters.active_agent_id is not None:
                operation, key_names = "Query", AGENT_INDEX_KEY
                pinned = {"GSI2PK": keys.agent_gsi_pk(filters.active_agent_id)}
                request["IndexName"] = models.AGENT_INDEX_NAME
                key = f"{e.name('GSI2PK')} = {e.string(keys.agent_gsi_pk(filters.active_agent_id))}"
                if filters.status is not None:
                    key += (
                        f" AND {e.name('GSI2SK')} = "
                        f"{e.string(keys.status_gsi_sk(filters.status.value))}"
                    )
                request["KeyConditionExpression"] = key
            else:
                operation, key_names = "Scan", SESSION_KEY
                pinned = {"SK": keys.META_SK}
                conditions.append(f"{e.name('SK')} = {e.string(keys.META_SK)}")
                conditions.append(f"begins_with({e.name('PK')}, {e.string(keys.SESSION_PREFIX)})")
                if filters.status is not None:
                    conditions.append(f"{e.name('status')} = {e.string(filters.status.value)}")
        if filters.tags and len(set(filters.tags)) <= MAX_TAG_PREFILTER:
            metadata = e.name("metadata")
            # A pre-filter on the JSON text; the exact check happens in _session_matches.
            any_tag = " OR ".join(
                f"contains({metadata}, {e.string(dumps_compact(tag))})"
                for tag in sorted(set(filters.tags))
            )
            conditions.append(f"({any_tag})")
        if not filters.include_expired:
            expires = e.name("expiresAt")
            conditions.append(
                f"(attribute_not_exists({expires}) OR {expires} > "
                f"{e.number(to_epoch_seconds(self._now()))})"
            )
        if conditions:
            request["FilterExpression"] = " AND ".join(conditions)
        return operation, e.into(request), key_names, pinned, bool(conditions)

    def _session_matches(self, session: Session, filters: SessionFilters) -> bool:
        if filters.tags and not set(filters.tags) & set(session.metadata.tags or ()):
            return False
        return (
            filters.include_expired
            or session.expires_at is None
            or (session.expires_at > self._now())
        )

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
