"""PynamoDB models of the one table: ``SessionMeta``, ``Message`` and ``MigrationRecord``.

Model attributes carry the snake_case domain names and store the camelCase
names the TypeScript adapter writes (``user_id`` is stored as ``userId``).
The classes here are unbound: ``session_store.table.bind_models`` derives
per-table subclasses, so two adapters on two tables never share a
connection. ``SessionMeta.user_index`` (GSI1) and ``SessionMeta.agent_index``
(GSI2) are usable from every bound subclass.

This module is longer than most here because it keeps, beside the three
declarations, the invariants of PynamoDB's own writes (``save``/``update``/
``delete`` of each model, and each model reading only its own items): a rule
and its declaration belong together. The item codec lives in ``_codec``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Protocol, Self, cast

from pynamodb.attributes import (
    Attribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.connection import TableConnection
from pynamodb.constants import NULL, NUMBER, STRING
from pynamodb.exceptions import AttributeDeserializationError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path, Value
from pynamodb.expressions.update import Action, RemoveAction, SetAction
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator

from session_store import _codec, domain, keys
from session_store._codec import (
    Codec,
    json_shape,
    message_of,
    message_values,
    session_of,
    session_values,
)
from session_store._time import parse_iso, utc_now
from session_store.attributes import (
    ContentAttribute,
    EpochSecondsAttribute,
    IntegerAttribute,
    IsoDateTimeAttribute,
    JsonTextAttribute,
    NativeMapAttribute,
)
from session_store.errors import UnreadableItemError, ValidationError
from session_store.offload import POINTER_ATTRIBUTE


class InvariantWrites(Protocol):
    """The writes of several requests that the models' own ``save``/``delete`` make to keep
    the invariants; implemented (and bound to a table) by ``planning.ModelWrites``."""

    def delete_session_messages(self, session_id: str, old_item: Mapping[str, Any]) -> None:
        """Delete the messages of the session incarnation ``old_item`` was (now deleted)."""

    def save_message(
        self, session_id: str, item: dict[str, Any], condition: Condition | None
    ) -> None:
        """Put a message item and count it on its session, in one transaction."""

    def delete_message(self, session_id: str, key: dict[str, Any]) -> None:
        """Delete the message at ``key`` and uncount it."""


__all__ = [
    "AgentIndex",
    "Message",
    "MigrationRecord",
    "SessionMeta",
    "UnboundModelError",
    "UserIndex",
    "json_shape",
]

USER_INDEX_NAME = "GSI1"
AGENT_INDEX_NAME = "GSI2"
WRITE_TOKEN_SLOTS = 8
"""How many recent write tokens a session item keeps (``SessionMeta.write_tokens``)."""


class UnboundModelError(RuntimeError):
    """An unbound model was used for a request; bind it to a table first."""


class _TableModel(Model):
    """Base of the table's models: refuses requests until bound to a table.

    The table holds several kinds of item in one partition (a session's META
    item and its messages), so each model reads only its own kind:
    ``query`` without a sort-key condition and ``scan`` add one for the
    model's kind, and an item of another kind handed to ``from_raw_data``
    (say, by a user's own sort-key condition) is refused with a
    ``ValidationError`` naming the model to use instead.
    """

    class Meta:
        table_name: ClassVar[str | None] = None

    _writes: ClassVar[InvariantWrites | None] = None
    """Set on the bound subclasses (``table.bind_models``): the multi-request writes that
    keep the invariants (``planning.ModelWrites``)."""

    pk = UnicodeAttribute(hash_key=True, attr_name="PK")
    sk = UnicodeAttribute(range_key=True, attr_name="SK")

    @classmethod
    def _get_connection(cls) -> TableConnection:
        if not getattr(cls.Meta, "table_name", None):
            raise UnboundModelError(
                f"{cls.__name__} is not bound to a table: use adapter.models or "
                "session_store.table.bind_models(config)"
            )
        return super()._get_connection()

    @classmethod
    def bound_writes(cls) -> InvariantWrites:
        if cls._writes is None:
            cls._get_connection()  # raises UnboundModelError
            raise UnboundModelError(f"{cls.__name__} is bound without its writes")
        return cls._writes

    @classmethod
    def kind_condition(cls) -> Condition:
        """The sort-key condition that selects this model's items in a partition."""
        raise NotImplementedError

    @classmethod
    def is_kind(cls, sort_key: str) -> bool:
        raise NotImplementedError

    @classmethod
    def query(
        cls,
        hash_key: Any,
        range_key_condition: Condition | None = None,
        filter_condition: Condition | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> ResultIterator[Any]:
        """PynamoDB's ``query``; on the table (not an index) and without a sort-key
        condition, only this model's items are read."""
        if range_key_condition is None and kwargs.get("index_name") is None:
            range_key_condition = cls.kind_condition()
        return super().query(hash_key, range_key_condition, filter_condition, *args, **kwargs)

    @classmethod
    def scan(
        cls, filter_condition: Condition | None = None, *args: Any, **kwargs: Any
    ) -> ResultIterator[Any]:
        """PynamoDB's ``scan`` of this model's items only (on the table; an index as given)."""
        if kwargs.get("index_name") is None:
            kind = cls.kind_condition()
            filter_condition = kind if filter_condition is None else kind & filter_condition
        return super().scan(filter_condition, *args, **kwargs)

    @classmethod
    def from_raw_data(cls, data: dict[str, Any]) -> Self:
        sort_key = data.get(cls.sk.attr_name, {}).get(STRING)
        if isinstance(sort_key, str) and not cls.is_kind(sort_key):
            owner = next((m for m in _KINDS if m.is_kind(sort_key)), None)
            raise ValidationError(
                f"item {_codec.key_text(data, TABLE_KEY)} is not a {cls.__name__}"
                + (f": read it as {owner.__name__}" if owner is not None else "")
            )
        try:
            return super().from_raw_data(data)
        except (AttributeDeserializationError, ValueError, TypeError, KeyError) as error:
            raise undecodable(data, cls._unreadable_attribute(data), error) from error

    @classmethod
    def _unreadable_attribute(cls, data: Mapping[str, Any]) -> str:
        """The stored name of the first attribute of ``data`` this model cannot read."""
        for attribute in cls.get_attributes().values():
            typed = data.get(attribute.attr_name)
            if not typed or NULL in typed:
                continue
            try:
                value = attribute.get_value(typed)
                attribute.deserialize(value)
            except Exception:
                return attribute.attr_name
        return "?"

    def _values(self) -> dict[str, Any]:
        """The attribute values of this instance, by Python name."""
        return {name: getattr(self, name) for name in self.get_attributes()}


class UserIndex(GlobalSecondaryIndex["SessionMeta"]):
    """GSI1: a user's sessions by creation time. Sparse: only sessions with a user."""

    class Meta:
        index_name = USER_INDEX_NAME
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True, attr_name="GSI1PK")
    gsi1sk = UnicodeAttribute(range_key=True, attr_name="GSI1SK")


class AgentIndex(GlobalSecondaryIndex["SessionMeta"]):
    """GSI2: an agent's sessions by status. Sparse: only sessions with an active agent."""

    class Meta:
        index_name = AGENT_INDEX_NAME
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True, attr_name="GSI2PK")
    gsi2sk = UnicodeAttribute(range_key=True, attr_name="GSI2SK")


class SessionMeta(_TableModel):
    """A session item: ``SESSION#{id}`` / ``META``.

    Invariants kept on every write through PynamoDB's own calls (``save``,
    ``update``, ``delete``) as through the adapter: the GSI keys and ``ttl``
    are derived from the fields (``user_id`` → ``GSI1PK``, ``created_at`` →
    ``GSI1SK``, ``active_agent_id`` → ``GSI2PK``, ``status`` → ``GSI2SK``,
    ``expires_at`` → ``ttl``), ``id`` from the key and a missing
    ``created_at``/``last_activity_at`` from the clock; ``version`` goes up by
    one on every write (PynamoDB's ``VersionAttribute``); ``delete`` removes
    the session's messages too, as ``delete_session`` does.
    """

    user_index = UserIndex()
    agent_index = AgentIndex()

    gsi1pk = UnicodeAttribute(null=True, attr_name="GSI1PK")
    gsi1sk = UnicodeAttribute(null=True, attr_name="GSI1SK")
    gsi2pk = UnicodeAttribute(null=True, attr_name="GSI2PK")
    gsi2sk = UnicodeAttribute(null=True, attr_name="GSI2SK")

    id = UnicodeAttribute(null=True, attr_name="id")
    user_id = UnicodeAttribute(null=True, attr_name="userId")
    active_agent_id = UnicodeAttribute(null=True, attr_name="activeAgentId")
    status = UnicodeAttribute(null=True, attr_name="status")
    schema_version = IntegerAttribute(null=True, attr_name="schemaVersion")
    created_at = IsoDateTimeAttribute(null=True, attr_name="createdAt")
    last_activity_at = IsoDateTimeAttribute(null=True, attr_name="lastActivityAt")
    expires_at = EpochSecondsAttribute(null=True, attr_name="expiresAt")
    ttl = TTLAttribute(null=True, attr_name="ttl")
    participants = JsonTextAttribute(null=True, attr_name="participants")
    metadata = JsonTextAttribute(null=True, attr_name="metadata")
    token_budget = NativeMapAttribute(null=True, attr_name="tokenBudget")
    compression = NativeMapAttribute(null=True, attr_name="compression")
    compression_state = NativeMapAttribute(null=True, attr_name="compressionState")
    token_count = IntegerAttribute(null=True, attr_name="tokenCount")
    message_count = IntegerAttribute(null=True, attr_name="messageCount")
    version = VersionAttribute(null=True, attr_name="version")
    write_tokens = ListAttribute(of=UnicodeAttribute, null=True, attr_name="writeTokens")
    """The tokens of the item's last ``WRITE_TOKEN_SLOTS`` writes by ``create_session`` and
    ``update_session``, newest first: a retry after a lost response recognises its own write
    by its token (the one bookkeeping attribute on the item; see ``planning``)."""

    @classmethod
    def kind_condition(cls) -> Condition:
        return cls.sk == keys.META_SK

    @classmethod
    def is_kind(cls, sort_key: str) -> bool:
        return sort_key == keys.META_SK

    @classmethod
    def key(cls, session_id: str) -> dict[str, dict[str, str]]:
        """The typed key of the session item of ``session_id``."""
        return {
            cls.pk.attr_name: {STRING: keys.session_pk(session_id)},
            cls.sk.attr_name: {STRING: keys.META_SK},
        }

    @classmethod
    def from_domain(cls, session: domain.Session) -> SessionMeta:
        """The item of ``session``, keys and GSI keys included."""
        return cls(**session_values(session))

    @classmethod
    def encode(cls, session: domain.Session) -> dict[str, dict[str, Any]]:
        """``from_domain(session).serialize()``, without the model instance (a hot path)."""
        return _SESSION_CODEC.serialized(session_values(session))

    @classmethod
    def decode(cls, item: Mapping[str, Any]) -> domain.Session:
        """``from_raw_data(item).to_domain()``, without the model instance (a hot path).

        ``StorageError`` naming the key and the attribute when the item cannot be read.
        """
        return session_of(_SESSION_CODEC.deserialized(item), item, _SESSION_CODEC)

    def to_domain(self) -> domain.Session:
        """The session this item stands for; missing counters and version read as 0."""
        return session_of(self._values(), self._key_item(), _SESSION_CODEC)

    def _key_item(self) -> dict[str, Any]:
        return {
            type(self).pk.attr_name: {STRING: self.pk},
            type(self).sk.attr_name: {STRING: self.sk},
        }

    # --- invariants on PynamoDB's own writes ----------------------------------

    def _derive(self) -> None:
        """Set what follows from the fields: id, default times, GSI keys, ttl."""
        if self.sk is None:
            self.sk = keys.META_SK
        if self.id is None and self.pk is not None:
            self.id = keys.parse_session_pk(self.pk)
        if self.created_at is None:
            self.created_at = utc_now()
        if self.last_activity_at is None:
            self.last_activity_at = self.created_at
        self.gsi1pk = keys.user_gsi_pk(self.user_id) if self.user_id else None
        self.gsi1sk = keys.created_at_gsi_sk(self.created_at)
        self.gsi2pk = keys.agent_gsi_pk(self.active_agent_id) if self.active_agent_id else None
        self.gsi2sk = keys.status_gsi_sk(self.status) if self.status else None
        self.ttl = self.expires_at

    def save(
        self, condition: Condition | None = None, *, add_version_condition: bool = True
    ) -> dict[str, Any]:
        """PynamoDB's ``save`` with the derived attributes set first."""
        self._derive()
        return super().save(condition, add_version_condition=add_version_condition)

    def update(
        self,
        actions: list[Action],
        condition: Condition | None = None,
        *,
        add_version_condition: bool = True,
    ) -> Any:
        """PynamoDB's ``update``, with the actions that keep the derived attributes in step.

        Setting ``status``, ``user_id``, ``active_agent_id``, ``created_at``
        or ``expires_at`` (or removing the optional ones) also sets or removes
        the GSI key or ``ttl`` derived from it. Those fields take plain values
        only (``ValidationError`` for an expression such as ``if_not_exists``).
        """
        cls = type(self)
        derived = [*actions, *_derived_actions(cls, actions)]
        return super().update(derived, condition, add_version_condition=add_version_condition)

    def delete(
        self, condition: Condition | None = None, *, add_version_condition: bool = True
    ) -> Any:
        """PynamoDB's ``delete``, then the session's messages (as ``delete_session``).

        Messages acknowledged to a later session under the same id are left
        alone: only those created before the next incarnation could exist go.
        """
        result = super().delete(condition, add_version_condition=add_version_condition)
        type(self).bound_writes().delete_session_messages(
            keys.parse_session_pk(self.pk), self.serialize(null_check=False)
        )
        return result


def _derived_actions(cls: type[SessionMeta], actions: Sequence[Action]) -> list[Action]:
    """The actions that keep GSI keys and ``ttl`` in step with ``actions``."""
    derived: list[Action] = []
    rules: dict[str, tuple[Attribute[Any], Attribute[Any], Any]] = {
        cls.user_id.attr_name: (cls.user_id, cls.gsi1pk, keys.user_gsi_pk),
        cls.active_agent_id.attr_name: (cls.active_agent_id, cls.gsi2pk, keys.agent_gsi_pk),
        cls.status.attr_name: (cls.status, cls.gsi2sk, keys.status_gsi_sk),
        cls.created_at.attr_name: (cls.created_at, cls.gsi1sk, keys.created_at_gsi_sk),
        cls.expires_at.attr_name: (cls.expires_at, cls.ttl, None),
    }
    for action in actions:
        path = action.values[0]
        if not isinstance(path, Path) or len(path.path) != 1 or path.path[0] not in rules:
            continue
        source, target, derive = rules[path.path[0]]
        if isinstance(action, RemoveAction):
            if source.attr_name in (cls.status.attr_name, cls.created_at.attr_name):
                raise ValidationError(f"{source.attr_name} cannot be removed from a session")
            derived.append(target.remove())
            continue
        value = action.values[1] if isinstance(action, SetAction) else None
        if not isinstance(value, Value):
            raise ValidationError(
                f"{source.attr_name} of a session takes a plain value in update(): "
                "its GSI key or ttl is derived from it"
            )
        ((_, raw),) = value.value.items()
        if derive is None:  # expires_at → ttl: the same whole seconds
            derived.append(target.set(source.deserialize(source.get_value(value.value))))
        else:
            plain = (
                source.deserialize(source.get_value(value.value))
                if derive is keys.created_at_gsi_sk
                else raw
            )
            derived.append(target.set(derive(plain)))
    return derived


class Message(_TableModel):
    """A message item: ``SESSION#{sessionId}`` / ``MSG#{createdAt}#{id}``.

    ``Message.query(pk)`` reads only the partition's messages (the session's
    META item shares it). Writes through PynamoDB's own calls keep the
    session's counters exact, as the adapter's do: ``save`` of a message
    counts it (or its change of ``token_count``) on the session and
    ``delete`` uncounts it, each in one transaction that also increments the
    session's ``version``; ``update`` refuses a ``token_count`` change (use
    ``adapter.update_message``, which keeps ``token_count`` exact).
    """

    id = UnicodeAttribute(null=True, attr_name="id")
    session_id = UnicodeAttribute(null=True, attr_name="sessionId")
    role = UnicodeAttribute(null=True, attr_name="role")
    content = ContentAttribute(null=True, attr_name="content")
    token_count = IntegerAttribute(null=True, attr_name="tokenCount")
    sequence = IntegerAttribute(null=True, attr_name="sequence")
    metadata = JsonTextAttribute(null=True, attr_name="metadata")
    created_at = IsoDateTimeAttribute(null=True, attr_name="createdAt")
    updated_at = IsoDateTimeAttribute(null=True, attr_name="updatedAt")
    payload_ref = UnicodeAttribute(null=True, attr_name=POINTER_ATTRIBUTE)
    """An offloaded message's pointer to its S3 object (``session_store.offload``): declared
    so that an item read and saved again through the ORM keeps it (its ``content`` is
    then the preview; the adapter's reads return the whole message)."""

    @classmethod
    def kind_condition(cls) -> Condition:
        return cls.sk.startswith(keys.MESSAGE_PREFIX)

    @classmethod
    def is_kind(cls, sort_key: str) -> bool:
        return sort_key.startswith(keys.MESSAGE_PREFIX)

    @classmethod
    def key(cls, session_id: str, sort_key: str) -> dict[str, dict[str, str]]:
        """The typed key of a message item."""
        return {
            cls.pk.attr_name: {STRING: keys.session_pk(session_id)},
            cls.sk.attr_name: {STRING: sort_key},
        }

    def _container_serialize(self, null_check: bool = True) -> dict[str, dict[str, Any]]:
        values = super()._container_serialize(null_check=null_check)
        if self.content is not None:
            # A string is S, content blocks are L: one attribute, two type tags.
            values[Message.content.attr_name] = Message.content.typed(self.content)
        return values

    @classmethod
    def from_domain(cls, message: domain.Message) -> Message:
        """The item of ``message``, keys included."""
        return cls(**message_values(message))

    @classmethod
    def encode(cls, message: domain.Message) -> dict[str, dict[str, Any]]:
        """``from_domain(message).serialize()``, without the model instance (a hot path)."""
        values = message_values(message)
        item = _MESSAGE_CODEC.serialized(values)
        # As in _container_serialize: a string is S, content blocks are L.
        item[Message.content.attr_name] = Message.content.typed(values["content"])
        return item

    @classmethod
    def decode(cls, item: Mapping[str, Any]) -> domain.Message:
        """``from_raw_data(item).to_domain()``, without the model instance (a hot path).

        ``StorageError`` naming the key and the attribute when the item cannot be read.
        """
        return message_of(_MESSAGE_CODEC.deserialized(item), item, _MESSAGE_CODEC)

    def to_domain(self) -> domain.Message:
        """The message this item stands for; id and time fall back to the sort key."""
        cls = type(self)
        key = {cls.pk.attr_name: {STRING: self.pk}, cls.sk.attr_name: {STRING: self.sk}}
        return message_of(self._values(), key, _MESSAGE_CODEC)

    # --- invariants on PynamoDB's own writes ----------------------------------

    def save(
        self, condition: Condition | None = None, *, add_version_condition: bool = True
    ) -> dict[str, Any]:
        """Write the message and count it (or its new ``token_count``) on its session.

        One transaction; ``SessionNotFoundError`` when the session does not
        exist. ``session_id``, ``id`` and ``created_at`` default to what the key says.
        """
        del add_version_condition  # messages carry no version
        created_at, message_id = keys.parse_message_sk(self.sk)
        session_id = keys.parse_session_pk(self.pk)
        if self.session_id is None:
            self.session_id = session_id
        if self.id is None:
            self.id = message_id
        if self.created_at is None:
            self.created_at = parse_iso(created_at)
        type(self).bound_writes().save_message(session_id, self.serialize(), condition)
        return {}

    def update(
        self,
        actions: list[Action],
        condition: Condition | None = None,
        *,
        add_version_condition: bool = True,
    ) -> Any:
        """PynamoDB's ``update``; a ``token_count`` change is refused (``ValidationError``)."""
        for action in actions:
            path = action.values[0]
            if isinstance(path, Path) and path.path[:1] == [type(self).token_count.attr_name]:
                raise ValidationError(
                    "token_count of a message changes through adapter.update_message, "
                    "which keeps the session's token_count exact"
                )
        return super().update(actions, condition, add_version_condition=add_version_condition)

    def delete(
        self, condition: Condition | None = None, *, add_version_condition: bool = True
    ) -> Any:
        """Delete the message and uncount it on its session (as ``delete_message``)."""
        del condition, add_version_condition
        session_id = keys.parse_session_pk(self.pk)
        type(self).bound_writes().delete_message(session_id, type(self).key(session_id, self.sk))
        return {}


class MigrationRecord(_TableModel):
    """One applied migration: ``SCHEMA#MIGRATIONS`` / ``MIGRATION#{name}``."""

    name = UnicodeAttribute(attr_name="name")
    applied_at = IsoDateTimeAttribute(attr_name="appliedAt")
    detail = JsonTextAttribute(null=True, attr_name="detail")

    @classmethod
    def kind_condition(cls) -> Condition:
        return cls.sk.startswith(keys.MIGRATION_PREFIX)

    @classmethod
    def is_kind(cls, sort_key: str) -> bool:
        return sort_key.startswith(keys.MIGRATION_PREFIX)


_SESSION_CODEC = Codec(SessionMeta)
_MESSAGE_CODEC = Codec(Message)
_KINDS: tuple[type[_TableModel], ...] = (SessionMeta, Message, MigrationRecord)

TABLE_KEY = (_TableModel.pk.attr_name, _TableModel.sk.attr_name)
"""The stored names of the table's key attributes."""
USER_INDEX_KEY = (*TABLE_KEY, UserIndex.gsi1pk.attr_name, UserIndex.gsi1sk.attr_name)
"""The key attributes of an item read through GSI1 (its ``LastEvaluatedKey``)."""
AGENT_INDEX_KEY = (*TABLE_KEY, AgentIndex.gsi2pk.attr_name, AgentIndex.gsi2sk.attr_name)
"""The key attributes of an item read through GSI2."""


def undecodable(
    item: Mapping[str, Any], attribute: str, error: BaseException
) -> UnreadableItemError:
    """The error for an item of this table that cannot be read: names its key and attribute."""
    return _codec.undecodable(item, attribute, error, TABLE_KEY)


def key_of(item: Mapping[str, Any], names: Iterable[str] = TABLE_KEY) -> dict[str, Any]:
    """The key attributes ``names`` of ``item`` (those it has)."""
    return {name: item[name] for name in names if name in item}


def sort_key_of(item: Mapping[str, Any]) -> str:
    return cast("str", item[_TableModel.sk.attr_name][STRING])


def number_of(item: Mapping[str, Any], attribute: Attribute[Any]) -> int:
    """A whole-number attribute of a raw item; absent, NULL or not a number: 0."""
    typed = item.get(attribute.attr_name)
    if not typed or NUMBER not in typed:
        return 0
    try:
        return int(Decimal(str(typed[NUMBER])))
    except (InvalidOperation, ValueError, OverflowError):
        return 0


def expiry_of(item: Mapping[str, Any]) -> datetime | None:
    """The session item's ``expiresAt``, whichever encoding the writer used (N from
    ``create_session``, an ISO string from the TypeScript ``updateSession``)."""
    typed = item.get(SessionMeta.expires_at.attr_name)
    if not typed or NULL in typed:
        return None
    try:
        return SessionMeta.expires_at.deserialize(typed)
    except Exception as error:
        raise undecodable(item, SessionMeta.expires_at.attr_name, error) from error


def expiry_seconds(item: Mapping[str, Any]) -> int | None:
    """``expiry_of(item)`` in whole epoch seconds (truncated), as the TTL service reads it."""
    expires = expiry_of(item)
    return None if expires is None else int(expires.timestamp() // 1)


def is_expired(item: Mapping[str, Any], now_seconds: int) -> bool:
    """Whether the session item had expired by epoch ``now_seconds`` (``planning.has_expired``'s
    rule, on a raw item)."""
    expires = expiry_seconds(item)
    return expires is not None and expires <= now_seconds


# Keep mypy's view of the numeric base used by VersionAttribute explicit.
_ = NumberAttribute
