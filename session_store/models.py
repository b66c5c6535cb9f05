"""PynamoDB models of the one table: ``SessionMeta``, ``Message`` and ``MigrationRecord``.

Model attributes carry the snake_case domain names and store the camelCase
names the TypeScript adapter writes (``user_id`` is stored as ``userId``).
The classes here are unbound: ``session_store.table.bind_models`` derives
per-table subclasses, so two adapters on two tables never share a
connection. ``SessionMeta.user_index`` (GSI1) and ``SessionMeta.agent_index``
(GSI2) are usable from every bound subclass.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, ClassVar

from pydantic import BaseModel
from pynamodb.attributes import (
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.connection import TableConnection
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
        item = cls(keys.session_pk(session.id), keys.META_SK)
        item.gsi1pk = keys.user_gsi_pk(session.user_id) if session.user_id else None
        item.gsi1sk = keys.created_at_gsi_sk(session.created_at)
        item.gsi2pk = (
            keys.agent_gsi_pk(session.active_agent_id) if session.active_agent_id else None
        )
        item.gsi2sk = keys.status_gsi_sk(session.status)
        item.id = session.id
        item.user_id = session.user_id
        item.active_agent_id = session.active_agent_id
        item.status = session.status.value
        item.schema_version = session.schema_version
        item.created_at = session.created_at
        item.last_activity_at = session.last_activity_at
        item.expires_at = session.expires_at
        item.ttl = session.expires_at
        item.participants = [json_shape(p) for p in session.participants]
        item.metadata = json_shape(session.metadata)
        item.token_budget = json_shape(session.token_budget) if session.token_budget else None
        item.compression = json_shape(session.compression) if session.compression else None
        item.compression_state = (
            json_shape(session.compression_state) if session.compression_state else None
        )
        item.token_count = session.token_count
        item.message_count = session.message_count
        item.version = session.version
        return item

    def to_domain(self) -> domain.Session:
        """The session this item stands for; missing counters and version read as 0."""
        return domain.Session.model_validate(
            {
                "id": self.id if self.id is not None else keys.parse_session_pk(self.pk),
                "user_id": self.user_id,
                "active_agent_id": self.active_agent_id,
                "status": self.status,
                "metadata": self.metadata if self.metadata is not None else {},
                "participants": self.participants if self.participants is not None else [],
                "schema_version": self.schema_version if self.schema_version is not None else 1,
                "created_at": self.created_at,
                "last_activity_at": self.last_activity_at
                if self.last_activity_at is not None
                else self.created_at,
                "expires_at": self.expires_at,
                "token_budget": self.token_budget,
                "compression": self.compression,
                "compression_state": self.compression_state,
                "token_count": self.token_count or 0,
                "message_count": self.message_count or 0,
                "version": self.version or 0,
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
        item = cls(
            keys.session_pk(message.session_id), keys.message_sk(message.created_at, message.id)
        )
        item.id = message.id
        item.session_id = message.session_id
        item.role = message.role.value
        item.content = (
            message.content
            if isinstance(message.content, str)
            else [json_shape(block) for block in message.content]
        )
        item.token_count = message.token_count
        item.sequence = message.sequence
        item.metadata = json_shape(message.metadata) if message.metadata is not None else None
        item.created_at = message.created_at
        item.updated_at = message.updated_at
        return item

    def to_domain(self) -> domain.Message:
        """The message this item stands for; id and time fall back to the sort key."""
        sk_created_at, sk_id = keys.parse_message_sk(self.sk)
        return domain.Message.model_validate(
            {
                "id": self.id if self.id is not None else sk_id,
                "session_id": self.session_id
                if self.session_id is not None
                else keys.parse_session_pk(self.pk),
                "role": self.role,
                "content": self.content if self.content is not None else "",
                "token_count": self.token_count,
                "sequence": self.sequence,
                "metadata": self.metadata,
                "created_at": self.created_at if self.created_at is not None else sk_created_at,
                "updated_at": self.updated_at,
            }
        )


class MigrationRecord(_TableModel):
    """One applied migration: ``SCHEMA#MIGRATIONS`` / ``MIGRATION#{name}``."""

    name = UnicodeAttribute(attr_name="name")
    applied_at = IsoDateTimeAttribute(attr_name="appliedAt")
    detail = JsonTextAttribute(null=True, attr_name="detail")


# Keep mypy's view of the numeric base used by VersionAttribute explicit.
_ = NumberAttribute
