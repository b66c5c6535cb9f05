"""PynamoDB models of the one table: ``SessionMeta``, ``Message`` and ``MigrationRecord``.

Model attributes carry the snake_case domain names and store the camelCase
names the TypeScript adapter writes (``user_id`` is stored as ``userId``).
The classes here are unbound: ``session_store.table.bind_models`` derives
per-table subclasses, so two adapters on two tables never share a
connection. ``SessionMeta.user_index`` (GSI1) and ``SessionMeta.agent_index``
(GSI2) are usable from every bound subclass.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, cast

from pydantic import BaseModel
from pynamodb.attributes import (
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.connection import TableConnection
from pynamodb.constants import NULL, STRING
from pynamodb.exceptions import AttributeDeserializationError, AttributeNullError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from session_store import domain, keys
from session_store._time import format_iso
from session_store.attributes import (
    ContentAttribute,
    EpochSecondsAttribute,
    IntegerAttribute,
    IsoDateTimeAttribute,
    JsonTextAttribute,
    NativeMapAttribute,
)

__all__ = [
    "AgentIndex",
    "Message",
    "MigrationRecord",
    "SessionMeta",
    "UnboundModelError",
    "UserIndex",
]

USER_INDEX_NAME = "GSI1"
AGENT_INDEX_NAME = "GSI2"


class UnboundModelError(RuntimeError):
    """An unbound model was used for a request; bind it to a table first."""


def json_shape(value: BaseModel) -> dict[str, Any]:
    """The TypeScript JSON shape of a domain value: camelCase keys, ISO dates.

    A declared field that is ``None`` is left out (TypeScript's optional
    property), unless the model lists it in ``keep_null``; nulls inside
    free-form JSON and under unknown keys are kept as they are.
    """
    keep_null: frozenset[str] = getattr(type(value), "keep_null", frozenset())
    shape: dict[str, Any] = {}
    for name, field in type(value).model_fields.items():
        item = getattr(value, name)
        if item is None and name not in keep_null:
            continue
        shape[field.alias or name] = _json_value(item)
    for key, item in (value.model_extra or {}).items():
        shape[key] = item
    return shape


def _json_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return json_shape(value)
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return format_iso(value)
    return value


class _TableModel(Model):
    """Base of the table's models: refuses requests until bound to a table."""

    class Meta:
        table_name: ClassVar[str | None] = None

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

    def _values(self) -> dict[str, Any]:
        """The attribute values of this instance, by Python name."""
        return {name: getattr(self, name) for name in self.get_attributes()}


class _Codec:
    """Items to attribute values and back, without model instances (the adapter's hot paths).

    The same attributes' ``serialize``/``deserialize`` run on the same values
    as ``Model.serialize`` and ``Model.from_raw_data``; what is saved is
    PynamoDB's per-instance bookkeeping (defaults, descriptors, attribute
    name lookups). Only plain attributes are handled (the models have no
    MapAttribute or ListAttribute).
    """

    def __init__(self, model: type[_TableModel]) -> None:
        # (stored name, Python name, attribute, whether it is a plain UnicodeAttribute,
        # whose serialize, get_value and deserialize reduce to reading "S").
        self._attributes = tuple(
            (attribute.attr_name, name, attribute, type(attribute) is UnicodeAttribute)
            for name, attribute in model.get_attributes().items()
        )

    def serialized(self, values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """What ``model(**values).serialize()`` returns."""
        item: dict[str, dict[str, Any]] = {}
        for stored_name, name, attribute, plain in self._attributes:
            value = values.get(name)
            if value is not None and plain:
                item[stored_name] = {STRING: value}
                continue
            serialized = None if value is None else attribute.serialize(value)
            if serialized is None:
                if not attribute.null:
                    raise AttributeNullError(name)
                continue
            item[stored_name] = {attribute.attr_type: serialized}
        return item

    def deserialized(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The values ``model.from_raw_data(item)`` holds, by Python name (absent or NULL: none)."""
        values: dict[str, Any] = {}
        for stored_name, name, attribute, plain in self._attributes:
            typed = item.get(stored_name)
            if not typed or NULL in typed:
                continue
            if not plain:
                values[name] = attribute.deserialize(attribute.get_value(typed))
            elif STRING in typed:
                values[name] = typed[STRING]
            else:
                raise AttributeDeserializationError(stored_name, STRING)
        return values


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
    """A session item: ``SESSION#{id}`` / ``META``."""

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

    @classmethod
    def from_domain(cls, session: domain.Session) -> SessionMeta:
        """The item of ``session``, keys and GSI keys included."""
        return cls(**_session_values(session))

    @classmethod
    def encode(cls, session: domain.Session) -> dict[str, dict[str, Any]]:
        """``from_domain(session).serialize()``, without the model instance (a hot path)."""
        return _SESSION_CODEC.serialized(_session_values(session))

    @classmethod
    def decode(cls, item: Mapping[str, Any]) -> domain.Session:
        """``from_raw_data(item).to_domain()``, without the model instance (a hot path)."""
        return _session_of(_SESSION_CODEC.deserialized(item))

    def to_domain(self) -> domain.Session:
        """The session this item stands for; missing counters and version read as 0."""
        return _session_of(self._values())


def _session_values(session: domain.Session) -> dict[str, Any]:
    """The attribute values of the item of ``session``, by Python name."""
    return {
        "pk": keys.session_pk(session.id),
        "sk": keys.META_SK,
        "gsi1pk": keys.user_gsi_pk(session.user_id) if session.user_id else None,
        "gsi1sk": keys.created_at_gsi_sk(session.created_at),
        "gsi2pk": keys.agent_gsi_pk(session.active_agent_id) if session.active_agent_id else None,
        "gsi2sk": keys.status_gsi_sk(session.status),
        "id": session.id,
        "user_id": session.user_id,
        "active_agent_id": session.active_agent_id,
        "status": session.status.value,
        "schema_version": session.schema_version,
        "created_at": session.created_at,
        "last_activity_at": session.last_activity_at,
        "expires_at": session.expires_at,
        "ttl": session.expires_at,
        "participants": [json_shape(p) for p in session.participants],
        "metadata": json_shape(session.metadata),
        "token_budget": json_shape(session.token_budget) if session.token_budget else None,
        "compression": json_shape(session.compression) if session.compression else None,
        "compression_state": (
            json_shape(session.compression_state) if session.compression_state else None
        ),
        "token_count": session.token_count,
        "message_count": session.message_count,
        "version": session.version,
    }


def _session_of(values: Mapping[str, Any]) -> domain.Session:
    """The session a session item's attribute values (by Python name) stand for."""
    get = values.get
    return domain.Session.model_validate(
        {
            "id": get("id")
            if get("id") is not None
            else keys.parse_session_pk(cast("str", get("pk"))),
            "user_id": get("user_id"),
            "active_agent_id": get("active_agent_id"),
            "status": get("status"),
            "metadata": get("metadata") if get("metadata") is not None else {},
            "participants": get("participants") if get("participants") is not None else [],
            "schema_version": get("schema_version") if get("schema_version") is not None else 1,
            "created_at": get("created_at"),
            "last_activity_at": get("last_activity_at")
            if get("last_activity_at") is not None
            else get("created_at"),
            "expires_at": get("expires_at"),
            "token_budget": get("token_budget"),
            "compression": get("compression"),
            "compression_state": get("compression_state"),
            "token_count": get("token_count") or 0,
            "message_count": get("message_count") or 0,
            "version": get("version") or 0,
        }
    )


class Message(_TableModel):
    """A message item: ``SESSION#{sessionId}`` / ``MSG#{createdAt}#{id}``.

    Query messages with ``Message.sk.startswith("MSG#")``: the session's META
    item shares the partition.
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

    def _container_serialize(self, null_check: bool = True) -> dict[str, dict[str, Any]]:
        values = super()._container_serialize(null_check=null_check)
        if self.content is not None:
            # A string is S, content blocks are L: one attribute, two type tags.
            values[Message.content.attr_name] = Message.content.typed(self.content)
        return values

    @classmethod
    def from_domain(cls, message: domain.Message) -> Message:
        """The item of ``message``, keys included."""
        return cls(**_message_values(message))

    @classmethod
    def encode(cls, message: domain.Message) -> dict[str, dict[str, Any]]:
        """``from_domain(message).serialize()``, without the model instance (a hot path)."""
        values = _message_values(message)
        item = _MESSAGE_CODEC.serialized(values)
        # As in _container_serialize: a string is S, content blocks are L.
        item[Message.content.attr_name] = Message.content.typed(values["content"])
        return item

    @classmethod
    def decode(cls, item: Mapping[str, Any]) -> domain.Message:
        """``from_raw_data(item).to_domain()``, without the model instance (a hot path)."""
        return _message_of(_MESSAGE_CODEC.deserialized(item))

    def to_domain(self) -> domain.Message:
        """The message this item stands for; id and time fall back to the sort key."""
        return _message_of(self._values())


def _message_values(message: domain.Message) -> dict[str, Any]:
    """The attribute values of the item of ``message``, by Python name."""
    return {
        "pk": keys.session_pk(message.session_id),
        "sk": keys.message_sk(message.created_at, message.id),
        "id": message.id,
        "session_id": message.session_id,
        "role": message.role.value,
        "content": message.content
        if isinstance(message.content, str)
        else [json_shape(block) for block in message.content],
        "token_count": message.token_count,
        "sequence": message.sequence,
        "metadata": json_shape(message.metadata) if message.metadata is not None else None,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
    }


def _message_of(values: Mapping[str, Any]) -> domain.Message:
    """The message a message item's attribute values (by Python name) stand for."""
    get = values.get
    sk_created_at, sk_id = keys.parse_message_sk(cast("str", get("sk")))
    return domain.Message.model_validate(
        {
            "id": get("id") if get("id") is not None else sk_id,
            "session_id": get("session_id")
            if get("session_id") is not None
            else keys.parse_session_pk(cast("str", get("pk"))),
            "role": get("role"),
            "content": get("content") if get("content") is not None else "",
            "token_count": get("token_count"),
            "sequence": get("sequence"),
            "metadata": get("metadata"),
            "created_at": get("created_at") if get("created_at") is not None else sk_created_at,
            "updated_at": get("updated_at"),
        }
    )


class MigrationRecord(_TableModel):
    """One applied migration: ``SCHEMA#MIGRATIONS`` / ``MIGRATION#{name}``."""

    name = UnicodeAttribute(attr_name="name")
    applied_at = IsoDateTimeAttribute(attr_name="appliedAt")
    detail = JsonTextAttribute(null=True, attr_name="detail")


_SESSION_CODEC = _Codec(SessionMeta)
_MESSAGE_CODEC = _Codec(Message)

# Keep mypy's view of the numeric base used by VersionAttribute explicit.
_ = NumberAttribute
