"""``DynamoDBAdapter``: the storage-adapter interface over the PynamoDB models.

Requests are built from the models' wire format and sent through the bound
models' botocore client, so each method spends exactly the requests the
specification allows (see the README's cost table). Reads of one session's
items are strongly consistent; GSI listings (by user, by agent) are
eventually consistent on AWS.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from session_store import keys, models
from session_store._expressions import Expression
from session_store._time import format_iso, to_epoch_seconds, utc_now
from session_store.attributes import dumps_compact, to_native
from session_store.counters import recount_session
from session_store.cursor import Cursor, CursorCodec, fingerprint
from session_store.domain import (
    HealthStatus,
    Message,
    MessageQuery,
    MessageRole,
    MessageUpdate,
    NewMessage,
    NewSession,
    Page,
    Session,
    SessionFilters,
    SessionUpdate,
)
from session_store.errors import (
    ConcurrencyError,
    MessageNotFoundError,
    SessionError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
    ValidationError,
    error_code,
    storage_error,
)
from session_store.ids import new_message_id
from session_store.limits import check_item_size
from session_store.migrations import migrate
from session_store.table import (
    BoundModels,
    ProvisionedThroughput,
    RetryPolicy,
    TableConfig,
    bind_models,
    create_table,
)

__all__ = ["DEFAULT_CURSOR_SECRET", "DynamoDBAdapter"]

DEFAULT_CURSOR_SECRET = b"session-store-cursor"
"""Cursor checksum key: catches edits and misuse; set your own to make cursors unforgeable."""

_M = TypeVar("_M", bound=BaseModel)
_BATCH_SIZE = 25
_CONTEXT_PAGE = 100
"""Items evaluated per page by the newest-first read of ``get_context_window``."""
_WRITE_TOKEN = "lastWriteId"
"""Per-call token on the session item: lets a retried update recognise its own write."""
_CONDITION_FAILED = "ConditionalCheckFailedException"
_TRANSACTION_CANCELLED = "TransactionCanceledException"
_SESSION_KEY = ("PK", "SK")
_USER_INDEX_KEY = ("PK", "SK", "GSI1PK", "GSI1SK")
_AGENT_INDEX_KEY = ("PK", "SK", "GSI2PK", "GSI2SK")


def _validated(model: type[_M], data: object) -> _M:
    """``data`` as ``model``; a plain mapping is validated, bad input is ``ValidationError``."""
    if isinstance(data, model):
        return data
    if not isinstance(data, Mapping):
        raise ValidationError(f"expected {model.__name__} or a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(dict(data))
    except PydanticValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or model.__name__}: {e['msg']}"
            for e in error.errors()
        )
        raise ValidationError(f"invalid {model.__name__}: {problems}") from error


def _page_size(page_size: object) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ValidationError("page_size must be an int of at least 1")
    return page_size


def _key_of(item: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: item[name] for name in names if name in item}


def _session_key(session_id: str) -> dict[str, Any]:
    return {"PK": {"S": keys.session_pk(session_id)}, "SK": {"S": keys.META_SK}}


def _all_messages_of(e: Expression, session_id: str) -> str:
    """Key condition: every message item of the session (not its META item)."""
    return (
        f"{e.name('PK')} = {e.string(keys.session_pk(session_id))}"
        f" AND begins_with({e.name('SK')}, {e.string(keys.MESSAGE_PREFIX)})"
    )


def _uncount(table: str, session_id: str, messages: int, tokens: int) -> dict[str, Any]:
    """Update taking ``messages``/``tokens`` off the session's counters, never below zero."""
    e = Expression()
    count_name, tokens_name = e.name("messageCount"), e.name("tokenCount")
    return e.into(
        {
            "TableName": table,
            "Key": _session_key(session_id),
            "UpdateExpression": f"ADD {count_name} {e.number(-messages)}, "
            f"{tokens_name} {e.number(-tokens)}",
            # A session whose counters drifted below the truth is recounted instead.
            "ConditionExpression": f"{count_name} >= {e.number(messages)} AND "
            f"{tokens_name} >= {e.number(tokens)}",
        }
    )


def _decode_session(item: Mapping[str, Any]) -> Session:
    return models.SessionMeta.from_raw_data(dict(item)).to_domain()


def _decode_message(item: Mapping[str, Any]) -> Message:
    return models.Message.from_raw_data(dict(item)).to_domain()


def _expired(item: Mapping[str, Any], now_seconds: int) -> bool:
    expires = item.get("expiresAt")
    return expires is not None and int(float(expires["N"])) <= now_seconds


@dataclass
class _WalkState:
    """Progress of one listing walk: items passed (skipped or handed out), the next cursor."""

    passed: int = 0
    next_cursor: str | None = None


class DynamoDBAdapter:
    """Sessions and messages in one DynamoDB table.

    ``table_name``, ``region`` and ``endpoint_url`` are chosen per adapter;
    credentials come from the standard AWS chain. With ``session_ttl``, a
    session expires that long after its last activity (sliding expiry).
    ``retry`` sets botocore's retry policy (attempts, backoff mode, timeouts).
    """

    def __init__(
        self,
        table_name: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        session_ttl: timedelta | None = None,
        retry: RetryPolicy | None = None,
        provisioned: ProvisionedThroughput | None = None,
        stream: bool = False,
        cursor_secret: bytes = DEFAULT_CURSOR_SECRET,
        clock: Callable[[], datetime] = utc_now,
        max_pool_connections: int = 10,
    ) -> None:
        if session_ttl is not None and session_ttl <= timedelta(0):
            raise ValidationError("session_ttl must be positive")
        self.config = TableConfig(
            table_name,
            region=region,
            endpoint_url=endpoint_url,
            retry=retry or RetryPolicy(),
            provisioned=provisioned,
            stream=stream,
            max_pool_connections=max_pool_connections,
        )
        self.models: BoundModels = bind_models(self.config)
        self.session_ttl = session_ttl
        self._table = table_name
        self._cursors = CursorCodec(cursor_secret)
        self._clock = clock
        self._closed = False

    def __repr__(self) -> str:
        endpoint = self.config.endpoint_url
        return f"DynamoDBAdapter(table_name={self._table!r}, endpoint_url={endpoint!r})"

    # --- plumbing -------------------------------------------------------------

    @property
    def _client(self) -> Any:
        if self._closed:
            raise StorageError("the adapter is closed")
        return self.models.client

    @contextmanager
    def _storage(self, operation: str) -> Iterator[None]:
        """Turn unexpected DynamoDB failures into ``StorageError`` (cause kept)."""
        try:
            yield
        except SessionError:
            raise
        except (ClientError, BotoCoreError) as error:
            raise storage_error(error, operation) from error

    def _now(self) -> datetime:
        return self._clock()

    def _expiry(self, now: datetime) -> datetime | None:
        return None if self.session_ttl is None else now + self.session_ttl

    # --- table ----------------------------------------------------------------

    def create_table(self) -> bool:
        """Create the table from the models if missing (GSIs, TTL); waits until ACTIVE."""
        with self._storage("create_table"):
            return create_table(self.models)

    def migrate(self) -> list[str]:
        """Apply pending migrations (creating or adopting the table first); their names."""
        with self._storage("migrate"):
            return migrate(self.models)

    # --- sessions -------------------------------------------------------------

    def create_session(self, data: NewSession | Mapping[str, Any]) -> Session:
        """Store a new session (1 request). Never overwrites: ``SessionExistsError``."""
        new = _validated(NewSession, data)
        session_id = keys.check_session_id(new.id if new.id is not None else str(uuid.uuid4()))
        self._check_owner_ids(new.user_id, new.active_agent_id)
        now = self._now()
        fields = new.model_dump(exclude={"id"})
        if fields["expires_at"] is None:
            fields["expires_at"] = self._expiry(now)
        session = Session.model_validate(
            {**fields, "id": session_id, "created_at": now, "last_activity_at": now, "version": 1}
        )
        item = models.SessionMeta.from_domain(session).serialize()
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
                self._client.put_item(**request)
            except ClientError as error:
                if error_code(error) != _CONDITION_FAILED:
                    raise
                # A retry of our own put whose response was lost finds our item: success.
                if error.response.get("Item") != item:
                    raise SessionExistsError(session_id) from None
        # Decoded from the item, so the value equals what a read returns (expiry in whole seconds).
        return _decode_session(item)

    def get_session(self, session_id: str) -> Session | None:
        """The session, or ``None`` when absent or expired (1 strongly consistent read)."""
        keys.check_session_id(session_id)
        with self._storage("get_session"):
            response = self._client.get_item(
                TableName=self._table, Key=_session_key(session_id), ConsistentRead=True
            )
        item = response.get("Item")
        if item is None or _expired(item, to_epoch_seconds(self._now())):
            return None
        return _decode_session(item)

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
        change = _validated(SessionUpdate, updates)
        if expected_version is not None and (
            isinstance(expected_version, bool)
            or not isinstance(expected_version, int)
            or expected_version < 0
        ):
            raise ValidationError("expected_version must be a non-negative int")
        given = change.model_fields_set
        self._check_owner_ids(
            change.user_id if "user_id" in given else None,
            change.active_agent_id if "active_agent_id" in given else None,
        )
        now = self._now()
        token = uuid.uuid4().hex
        e = Expression()
        sets: list[str] = []
        removes: list[str] = []

        def put(attribute: str, typed: dict[str, Any] | None) -> None:
            if typed is None:
                removes.append(e.name(attribute))
            else:
                sets.append(f"{e.name(attribute)} = {e.value(typed)}")

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
                {
                    "S": dumps_compact(
                        change.metadata.model_dump(by_alias=True, mode="json", exclude_none=True)
                    )
                },
            )
        if change.participants is not None:
            put(
                "participants",
                {
                    "S": dumps_compact(
                        [
                            p.model_dump(by_alias=True, mode="json", exclude_none=True)
                            for p in change.participants
                        ]
                    )
                },
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
        put(_WRITE_TOKEN, {"S": token})
        version = e.name("version")
        token_name = e.name(_WRITE_TOKEN)
        token_value = e.string(token)
        expires_name = e.name("expiresAt")
        conditions = [
            f"attribute_exists({e.name('PK')})",
            f"(attribute_not_exists({expires_name}) OR {expires_name} > "
            f"{e.number(to_epoch_seconds(now))})",
            f"(attribute_not_exists({token_name}) OR {token_name} <> {token_value})",
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
        request = e.into(
            {
                "TableName": self._table,
                "Key": _session_key(session_id),
                "UpdateExpression": expression,
                "ConditionExpression": " AND ".join(conditions),
                "ReturnValues": "ALL_NEW",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        )
        with self._storage("update_session"):
            try:
                response = self._client.update_item(**request)
            except ClientError as error:
                if error_code(error) != _CONDITION_FAILED:
                    raise
                old: Any = error.response.get("Item")
                if old is not None and old.get(_WRITE_TOKEN) == {"S": token}:
                    return _decode_session(old)  # our own write, retried after a lost response
                if old is None or _expired(old, to_epoch_seconds(now)):
                    raise SessionNotFoundError(session_id) from None
                actual = int(old["version"]["N"]) if "version" in old else 0
                if expected_version is not None and actual != expected_version:
                    raise ConcurrencyError(session_id, expected_version, actual) from None
                raise
        return _decode_session(response["Attributes"])

    def delete_session(self, session_id: str) -> None:
        """Delete the session and all its messages; idempotent.

        The session item goes first, so no message can be added after the
        listing starts (``add_message`` requires the session); a crash
        midway leaves messages that calling ``delete_session`` again removes.
        """
        keys.check_session_id(session_id)
        with self._storage("delete_session"):
            self._client.delete_item(TableName=self._table, Key=_session_key(session_id))
            self._delete_messages(session_id)

    def _delete_messages(self, session_id: str) -> tuple[int, int]:
        """Delete every message of a session; ``(messages, tokens)`` removed."""
        e = Expression()
        request = e.into(
            {
                "TableName": self._table,
                "KeyConditionExpression": _all_messages_of(e, session_id),
                "ProjectionExpression": f"{e.name('PK')}, {e.name('SK')}, {e.name('tokenCount')}",
                "ConsistentRead": True,
            }
        )
        count = tokens = 0
        batch: list[dict[str, Any]] = []
        for item in self._paged("Query", request):
            batch.append(_key_of(item, _SESSION_KEY))
            count += 1
            tokens += int(item["tokenCount"]["N"]) if "tokenCount" in item else 0
            if len(batch) == _BATCH_SIZE:
                self._batch_delete(batch)
                batch = []
        if batch:
            self._batch_delete(batch)
        return count, tokens

    def _batch_delete(self, item_keys: list[dict[str, Any]]) -> None:
        """One BatchWriteItem; unprocessed items are retried with backoff, never dropped."""
        requests = [{"DeleteRequest": {"Key": key}} for key in item_keys]
        delay = 0.05
        for _ in range(max(self.config.retry.max_attempts, 1) * 2):
            response = self._client.batch_write_item(RequestItems={self._table: requests})
            requests = response.get("UnprocessedItems", {}).get(self._table, [])
            if not requests:
                return
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        raise StorageError(
            f"BatchWriteItem left {len(requests)} items unprocessed after repeated retries"
        )

    def _paged(
        self,
        operation: str,
        request: dict[str, Any],
        *,
        limit: Callable[[], int | None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Items of a Query/Scan, page by page; ``limit`` says how many more are wanted."""
        call = self._client.query if operation == "Query" else self._client.scan
        kwargs = dict(request)
        while True:
            wanted = limit() if limit is not None else None
            if wanted is not None:
                kwargs["Limit"] = max(wanted, 1)
            response = call(**kwargs)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    # --- listing sessions ----------------------------------------------------

    def _session_listing(
        self, filters: SessionFilters
    ) -> tuple[str, dict[str, Any], tuple[str, ...], bool]:
        """(operation, request, key attributes, server-side filter present) for ``filters``."""
        e = Expression()
        request: dict[str, Any] = {"TableName": self._table}
        conditions: list[str] = []
        key_names: tuple[str, ...]

        def created() -> str:
            return e.name("createdAt")

        if filters.user_id is not None:
            operation, key_names = "Query", _USER_INDEX_KEY
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
                operation, key_names = "Query", _AGENT_INDEX_KEY
                request["IndexName"] = models.AGENT_INDEX_NAME
                key = f"{e.name('GSI2PK')} = {e.string(keys.agent_gsi_pk(filters.active_agent_id))}"
                if filters.status is not None:
                    key += (
                        f" AND {e.name('GSI2SK')} = "
                        f"{e.string(keys.status_gsi_sk(filters.status.value))}"
                    )
                request["KeyConditionExpression"] = key
            else:
                operation, key_names = "Scan", _SESSION_KEY
                conditions.append(f"{e.name('SK')} = {e.string(keys.META_SK)}")
                conditions.append(f"begins_with({e.name('PK')}, {e.string(keys.SESSION_PREFIX)})")
                if filters.status is not None:
                    conditions.append(f"{e.name('status')} = {e.string(filters.status.value)}")
        if filters.tags:
            metadata = e.name("metadata")
            # A pre-filter on the JSON text; the exact check happens in _session_matches.
            any_tag = " OR ".join(
                f"contains({metadata}, {e.string(dumps_compact(tag))})" for tag in filters.tags
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
        return operation, e.into(request), key_names, bool(conditions)

    def _session_matches(self, session: Session, filters: SessionFilters) -> bool:
        if filters.tags and not set(filters.tags) & set(session.metadata.tags or ()):
            return False
        return (
            filters.include_expired
            or session.expires_at is None
            or (session.expires_at > self._now())
        )

    def iter_sessions(
        self, filters: SessionFilters | Mapping[str, Any] | None = None
    ) -> Iterator[Session]:
        """Sessions matching ``filters``, read page by page as they are consumed."""
        chosen = _validated(SessionFilters, filters or {})
        yield from self._walk_sessions(chosen, None, None)[0]

    def list_sessions(
        self, filters: SessionFilters | Mapping[str, Any] | None = None
    ) -> list[Session]:
        """Sessions matching ``filters``; ``limit``/``offset`` exact after filtering."""
        return list(self.iter_sessions(filters))

    def list_sessions_page(
        self,
        filters: SessionFilters | Mapping[str, Any] | None = None,
        *,
        cursor: str | None = None,
        page_size: int = 50,
    ) -> Page[Session]:
        """One page of ``list_sessions``; pass ``next_cursor`` back for the next."""
        chosen = _validated(SessionFilters, filters or {})
        size = _page_size(page_size)
        items, next_cursor = self._walk_sessions(chosen, cursor, size)
        return Page[Session](items=list(items), next_cursor=next_cursor())

    def _walk_sessions(
        self, filters: SessionFilters, cursor: str | None, page_size: int | None
    ) -> tuple[Iterator[Session], Callable[[], str | None]]:
        after, before = filters.created_after, filters.created_before
        if after is not None and before is not None and after >= before:
            return iter(()), lambda: None  # strict bounds with nothing between them
        operation, request, key_names, filtered = self._session_listing(filters)
        query = fingerprint("sessions", filters.model_dump(mode="json", exclude={"offset"}))
        return self._walk(
            kind="sessions",
            query=query,
            operation=operation,
            request=request,
            key_names=key_names,
            filtered=filtered,
            cursor=cursor,
            page_size=page_size,
            limit=filters.limit,
            offset=filters.offset,
            decode=_decode_session,
            accept=lambda session: self._session_matches(session, filters),
        )

    # --- generic page walk ----------------------------------------------------

    def _walk(
        self,
        *,
        kind: str,
        query: str,
        operation: str,
        request: dict[str, Any],
        key_names: tuple[str, ...],
        filtered: bool,
        cursor: str | None,
        page_size: int | None,
        limit: int | None,
        offset: int,
        decode: Callable[[Mapping[str, Any]], Any],
        accept: Callable[[Any], bool],
    ) -> tuple[Iterator[Any], Callable[[], str | None]]:
        """Walk a listing: skip ``offset``, stop at ``limit`` (across cursors), page it.

        Returns the items and a function giving the next cursor once they are consumed.
        """
        returned = 0
        if cursor is not None:
            if offset:
                raise ValidationError("offset cannot be combined with a cursor")
            position = self._cursors.decode(cursor, kind=kind, query=query)
            request = {**request, "ExclusiveStartKey": position.start_key}
            returned = position.returned
        remaining = None if limit is None else max(limit - returned, 0)
        take = (
            remaining
            if page_size is None
            else (page_size if remaining is None else min(page_size, remaining))
        )
        state = _WalkState()
        skip = offset if cursor is None else 0

        def wanted() -> int | None:
            if filtered or take is None:
                return None
            # One more than needed tells whether another page exists.
            return skip + take - state.passed + (1 if page_size is not None else 0)

        def items() -> Iterator[Any]:
            count = skipped = 0
            last_key: dict[str, Any] | None = None
            if take == 0:
                return
            with self._storage(f"list {kind}"):
                for raw in self._paged(operation, request, limit=wanted):
                    value = decode(raw)
                    if not accept(value):
                        continue
                    if skipped < skip:
                        skipped += 1
                        state.passed = skipped + count
                        continue
                    if take is not None and count == take:
                        # There is more: the cursor resumes after the last item handed out.
                        if page_size is not None and last_key is not None:
                            state.next_cursor = self._cursors.encode(
                                Cursor(kind, query, last_key, returned + count)
                            )
                        return
                    count += 1
                    state.passed = skipped + count
                    last_key = _key_of(raw, key_names)
                    yield value
                    walk_done = limit is not None and returned + count >= limit
                    if count == take and (page_size is None or walk_done):
                        return  # nothing more to hand out, and no cursor to make

        return items(), lambda: state.next_cursor

    # --- messages -------------------------------------------------------------

    def add_message(self, session_id: str, data: NewMessage | Mapping[str, Any]) -> Message:
        """Append a message and count it on the session, in one transaction.

        ``SessionNotFoundError`` (nothing written) when the session is absent
        or expired. The session's ``version`` is left alone.
        """
        keys.check_session_id(session_id)
        new = _validated(NewMessage, data)
        message_id = new_message_id()
        message = Message.model_validate(
            {
                **new.model_dump(),
                "id": str(message_id),
                "session_id": session_id,
                "created_at": message_id.datetime,
            }
        )
        item = models.Message.from_domain(message).serialize()
        check_item_size(item, f"message of session {session_id!r}")
        now = self._now()
        e = Expression()
        sets = [f"{e.name('lastActivityAt')} = {e.string(format_iso(now))}"]
        expires_at = self._expiry(now)
        if expires_at is not None:
            seconds = e.number(to_epoch_seconds(expires_at))
            sets += [f"{e.name('expiresAt')} = {seconds}", f"{e.name('ttl')} = {seconds}"]
        expires = e.name("expiresAt")
        update = e.into(
            {
                "TableName": self._table,
                "Key": _session_key(session_id),
                "UpdateExpression": f"SET {', '.join(sets)} ADD {e.name('messageCount')} "
                f"{e.number(1)}, {e.name('tokenCount')} {e.number(new.token_count or 0)}",
                "ConditionExpression": f"attribute_exists({e.name('PK')}) AND "
                f"(attribute_not_exists({expires}) OR {expires} > "
                f"{e.number(to_epoch_seconds(now))})",
            }
        )
        put = {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": "PK"},
        }
        with self._storage("add_message"):
            reasons = self._transact([{"Put": put}, {"Update": update}])
        if reasons is not None:
            if reasons[1] == "ConditionalCheckFailed":
                raise SessionNotFoundError(session_id)
            raise StorageError(f"add_message was cancelled: {reasons}")
        return message

    def _transact(self, items: list[dict[str, Any]]) -> list[str] | None:
        """Run a transaction; ``None`` on success, else the cancellation reason codes.

        Transaction conflicts (not retried by botocore) are retried with backoff.
        botocore's ClientRequestToken makes retries after a lost response idempotent.
        """
        delay = 0.02
        attempts = max(self.config.retry.max_attempts, 1)
        for attempt in range(attempts):
            try:
                self._client.transact_write_items(TransactItems=items)
                return None
            except ClientError as error:
                if error_code(error) != _TRANSACTION_CANCELLED:
                    raise
                codes = [
                    r.get("Code", "None") for r in error.response.get("CancellationReasons", [])
                ]
                if "TransactionConflict" in codes and attempt + 1 < attempts:
                    time.sleep(delay)
                    delay *= 2
                    continue
                if "TransactionConflict" in codes:
                    raise
                return codes
        raise AssertionError("unreachable")  # pragma: no cover

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
                f"{role} IN ({', '.join(e.string(r.value) for r in query.roles)})"
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
            key_names=_SESSION_KEY,
            filtered=filtered,
            cursor=cursor,
            page_size=page_size,
            limit=query.limit,
            offset=query.offset,
            decode=_decode_message,
            accept=lambda _: True,
        )

    def iter_messages(
        self, session_id: str, query: MessageQuery | Mapping[str, Any] | None = None
    ) -> Iterator[Message]:
        """Messages in sort-key order (``desc`` reverses), read as consumed."""
        chosen = _validated(MessageQuery, query or {})
        yield from self._walk_messages(session_id, chosen, None, None)[0]

    def get_messages(
        self, session_id: str, query: MessageQuery | Mapping[str, Any] | None = None
    ) -> list[Message]:
        """Messages of a session (``[]`` for an unknown one); exact ``limit``/``offset``."""
        return list(self.iter_messages(session_id, query))

    def get_messages_page(
        self,
        session_id: str,
        query: MessageQuery | Mapping[str, Any] | None = None,
        *,
        cursor: str | None = None,
        page_size: int = 50,
    ) -> Page[Message]:
        """One page of ``get_messages``; pass ``next_cursor`` back for the next."""
        chosen = _validated(MessageQuery, query or {})
        size = _page_size(page_size)
        items, next_cursor = self._walk_messages(session_id, chosen, cursor, size)
        return Page[Message](items=list(items), next_cursor=next_cursor())

    def get_context_window(
        self, session_id: str, max_tokens: int, *, reserve_tokens: int = 0
    ) -> list[Message]:
        """What fits a model's context: system messages plus the newest run of the rest.

        Returns the session's system messages and the newest contiguous run
        of other messages whose stored ``token_count`` (missing counts 0)
        fits ``max_tokens - reserve_tokens`` together with them, oldest
        first. Reads the system messages in one filtered query, then the
        others newest first, stopping at the first page it does not need.
        """
        keys.check_session_id(session_id)
        for name, value in (("max_tokens", max_tokens), ("reserve_tokens", reserve_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(f"{name} must be a non-negative int")
        system = self.get_messages(session_id, {"roles": [MessageRole.SYSTEM]})
        budget = max_tokens - reserve_tokens - sum(m.token_count or 0 for m in system)
        others = [role for role in MessageRole if role is not MessageRole.SYSTEM]
        request, _ = self._message_request(session_id, MessageQuery(order="desc", roles=others))
        run: list[Message] = []
        with self._storage("get_context_window"):
            for raw in self._paged("Query", request, limit=lambda: _CONTEXT_PAGE):
                message = _decode_message(raw)
                budget -= message.token_count or 0
                if budget < 0:
                    break
                run.append(message)
        return sorted([*system, *run], key=lambda m: (m.created_at, m.id))

    def _message_key(self, session_id: str, message_id: str) -> dict[str, Any] | None:
        """The message's key, from its id alone; a listing only for ids without a timestamp."""
        sort_key = keys.message_sk_for_id(message_id)
        if sort_key is not None:
            return {"PK": {"S": keys.session_pk(session_id)}, "SK": {"S": sort_key}}
        e = Expression()
        request = e.into(
            {
                "TableName": self._table,
                "KeyConditionExpression": _all_messages_of(e, session_id),
                "FilterExpression": f"{e.name('id')} = {e.string(message_id)}",
                "ProjectionExpression": f"{e.name('PK')}, {e.name('SK')}",
                "ConsistentRead": True,
            }
        )
        for item in self._paged("Query", request):
            return _key_of(item, _SESSION_KEY)
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
        change = _validated(MessageUpdate, updates)
        given = change.model_fields_set
        with self._storage("update_message"):
            key = self._message_key(session_id, message_id)
            if key is None:
                raise MessageNotFoundError(session_id, message_id)
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
                    response = self._client.update_item(**request)
                except ClientError as error:
                    if error_code(error) == _CONDITION_FAILED:
                        raise MessageNotFoundError(session_id, message_id) from None
                    raise
                return _decode_message(response["Attributes"])
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
                    "Key": _session_key(session_id),
                    "UpdateExpression": f"ADD {s.name('tokenCount')} "
                    f"{s.number((change.token_count or 0) - old_tokens)}",
                    "ConditionExpression": f"attribute_exists({s.name('PK')})",
                }
            )
            reasons = self._transact([{"Update": message_update}, {"Update": session_update}])
            if reasons is None:
                # A transaction returns no item: the result is what was read plus the change.
                changed = {name: getattr(change, name) for name in change.model_fields_set}
                return _decode_message(item).model_copy(update={**changed, "updated_at": now})
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
            for _ in range(max(self.config.retry.max_attempts, 1) * 2):
                current = self._client.get_item(
                    TableName=self._table,
                    Key=key,
                    ConsistentRead=True,
                    ProjectionExpression="#t",
                    ExpressionAttributeNames={"#t": "tokenCount"},
                )
                if "Item" not in current:
                    return
                tokens = (
                    int(current["Item"]["tokenCount"]["N"])
                    if "tokenCount" in current["Item"]
                    else 0
                )
                d = Expression()
                token_name = d.name("tokenCount")
                unchanged = (
                    f"{token_name} = {d.number(tokens)}"
                    if "tokenCount" in current["Item"]
                    else f"attribute_not_exists({token_name})"
                )
                delete = d.into(
                    {
                        "TableName": self._table,
                        "Key": key,
                        "ConditionExpression": f"attribute_exists({d.name('PK')}) AND {unchanged}",
                    }
                )
                session_update = _uncount(self._table, session_id, 1, tokens)
                reasons = self._transact([{"Delete": delete}, {"Update": session_update}])
                if reasons is None:
                    return
                if reasons[0] == "ConditionalCheckFailed":
                    continue  # deleted or changed meanwhile: look again
                # Counters missing or drifted (or no session): delete alone, then recount.
                self._client.delete_item(**delete)
                recount_session(self.models, session_id)
                return
            raise StorageError(f"delete_message kept racing other writers on {message_id!r}")

    def delete_all_messages(self, session_id: str) -> None:
        """Delete every message; counters go down by exactly what was removed."""
        keys.check_session_id(session_id)
        with self._storage("delete_all_messages"):
            count, tokens = self._delete_messages(session_id)
            if count == 0:
                return
            try:
                self._client.update_item(**_uncount(self._table, session_id, count, tokens))
            except ClientError as error:
                if error_code(error) != _CONDITION_FAILED:
                    raise
                recount_session(self.models, session_id)

    # --- expiry ---------------------------------------------------------------

    def get_expired_sessions(self, before: datetime) -> list[str]:
        """Ids of sessions with ``expires_at <= before`` (every page of a scan)."""
        seconds = self._epoch(before)
        e = Expression()
        request = e.into(
            {
                "TableName": self._table,
                "FilterExpression": f"{e.name('SK')} = {e.string(keys.META_SK)} AND "
                f"{e.name('expiresAt')} <= {e.number(seconds)}",
                "ProjectionExpression": f"{e.name('PK')}",
            }
        )
        with self._storage("get_expired_sessions"):
            return [keys.parse_session_pk(item["PK"]["S"]) for item in self._paged("Scan", request)]

    @staticmethod
    def _epoch(instant: datetime) -> int:
        if not isinstance(instant, datetime):
            raise ValidationError("expected a datetime")
        try:
            return to_epoch_seconds(instant)
        except ValueError as error:
            raise ValidationError(str(error)) from None

    def sweep_expired(self, before: datetime | None = None) -> int:
        """Delete expired sessions with their messages; how many sessions were removed.

        A session whose expiry moved past ``before`` meanwhile (sliding TTL) is left alone.
        """
        moment = self._now() if before is None else before
        seconds = self._epoch(moment)
        removed = 0
        with self._storage("sweep_expired"):
            for session_id in self.get_expired_sessions(moment):
                e = Expression()
                expires = e.name("expiresAt")
                try:
                    self._client.delete_item(
                        **e.into(
                            {
                                "TableName": self._table,
                                "Key": _session_key(session_id),
                                "ConditionExpression": f"{expires} <= {e.number(seconds)}",
                            }
                        )
                    )
                except ClientError as error:
                    if error_code(error) != _CONDITION_FAILED:
                        raise
                    continue
                self._delete_messages(session_id)
                removed += 1
        return removed

    def handle_stream_event(self, event: Mapping[str, Any]) -> int:
        """Delete the messages of session items the TTL service removed; how many.

        Takes a DynamoDB Streams Lambda event (any view type: keys suffice).
        """
        if not isinstance(event, Mapping) or not isinstance(event.get("Records", []), list):
            raise ValidationError("expected a DynamoDB Streams event with a Records list")
        deleted = 0
        with self._storage("handle_stream_event"):
            for record in event.get("Records", []):
                if record.get("eventName") != "REMOVE":
                    continue
                identity = record.get("userIdentity") or {}
                if (
                    identity.get("type") != "Service"
                    or identity.get("principalId") != "dynamodb.amazonaws.com"
                ):
                    continue  # a delete by an application, not by TTL
                record_keys = (record.get("dynamodb") or {}).get("Keys") or {}
                pk = record_keys.get("PK", {}).get("S", "")
                if record_keys.get("SK", {}).get("S") != keys.META_SK or not pk.startswith(
                    keys.SESSION_PREFIX
                ):
                    continue
                deleted += self._delete_messages(keys.parse_session_pk(pk))[0]
        return deleted

    # --- maintenance ----------------------------------------------------------

    def recount(self, session_id: str) -> Session:
        """Recompute ``message_count``/``token_count`` from the messages."""
        keys.check_session_id(session_id)
        with self._storage("recount"):
            result = recount_session(self.models, session_id)
        if result is None:
            raise SessionNotFoundError(session_id)
        return result.to_domain()

    def health(self) -> HealthStatus:
        """``healthy``, ``degraded`` (a GSI or TTL not active) or ``unhealthy`` (no table)."""
        started = time.perf_counter()
        details: dict[str, Any] = {"table": self._table}
        try:
            table = self._client.describe_table(TableName=self._table)["Table"]
            latency = (time.perf_counter() - started) * 1000
            ttl = self._client.describe_time_to_live(TableName=self._table)["TimeToLiveDescription"]
        except (ClientError, BotoCoreError) as error:
            details["error"] = error_code(error) or type(error).__name__
            return HealthStatus(
                status="unhealthy",
                latency_ms=(time.perf_counter() - started) * 1000,
                details=details,
            )
        indexes = {
            i["IndexName"]: i.get("IndexStatus") for i in table.get("GlobalSecondaryIndexes", [])
        }
        details.update(
            table_status=table.get("TableStatus"), indexes=indexes, ttl=ttl.get("TimeToLiveStatus")
        )
        problems = [
            f"{name} missing"
            for name in (models.USER_INDEX_NAME, models.AGENT_INDEX_NAME)
            if name not in indexes
        ]
        problems += [f"{name} {state}" for name, state in indexes.items() if state != "ACTIVE"]
        if table.get("TableStatus") != "ACTIVE":
            problems.append(f"table {table.get('TableStatus')}")
        if ttl.get("TimeToLiveStatus") != "ENABLED" or ttl.get("AttributeName") != "ttl":
            problems.append("TTL not enabled on 'ttl'")
        if problems:
            details["problems"] = problems
        return HealthStatus(
            status="degraded" if problems else "healthy", latency_ms=latency, details=details
        )

    def _check_owner_ids(self, user_id: str | None, agent_id: str | None) -> None:
        if user_id is not None:
            keys.check_user_id(user_id)
        if agent_id is not None:
            keys.check_agent_id(agent_id)

    def close(self) -> None:
        """Release the client's connections; the adapter refuses requests afterwards."""
        self._closed = True
        self.models.close()

    def __enter__(self) -> DynamoDBAdapter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
