"""Items to domain values and back: the wire format of the models, without model instances.

``Codec`` turns a raw item into the attribute values its model holds (by Python
name) and back, with the same attributes' ``serialize``/``deserialize`` as
``Model.serialize``/``Model.from_raw_data``; ``session_values``/``session_of``
and ``message_values``/``message_of`` map those values onto the domain types.
The models (``session_store.models``) expose them as ``encode``/``decode``. An
item that cannot be read raises ``UnreadableItemError`` naming its key and the
attribute.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar, cast

import pydantic
from pydantic import BaseModel
from pynamodb.attributes import UnicodeAttribute
from pynamodb.constants import NULL, STRING
from pynamodb.exceptions import AttributeDeserializationError, AttributeNullError
from pynamodb.models import Model

from session_store import domain, keys
from session_store._time import format_iso
from session_store.errors import UnreadableItemError

__all__ = [
    "Codec",
    "json_shape",
    "key_text",
    "message_of",
    "message_values",
    "session_of",
    "session_values",
    "undecodable",
]


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


def key_text(item: Mapping[str, Any], key_names: tuple[str, str]) -> str:
    """``'PK'/'SK'`` of an item, for messages (``?`` where a key is missing)."""
    pk_name, sk_name = key_names
    pk = item.get(pk_name, {}).get(STRING, "?")
    sk = item.get(sk_name, {}).get(STRING, "?")
    return f"{pk!r}/{sk!r}"


class Codec:
    """Items to attribute values and back, without model instances (the adapter's hot paths).

    The same attributes' ``serialize``/``deserialize`` run on the same values
    as ``Model.serialize`` and ``Model.from_raw_data``; what is saved is
    PynamoDB's per-instance bookkeeping (defaults, descriptors, attribute
    name lookups). Only plain attributes are handled (the models have no
    MapAttribute or ListAttribute).
    """

    def __init__(self, model: type[Model]) -> None:
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
        """The values ``model.from_raw_data(item)`` holds, by Python name (absent or NULL: none).

        An attribute that cannot be read raises ``StorageError`` naming the
        item's key and the attribute.
        """
        values: dict[str, Any] = {}
        for stored_name, name, attribute, plain in self._attributes:
            typed = item.get(stored_name)
            if not typed or NULL in typed:
                continue
            if plain and STRING in typed:
                values[name] = typed[STRING]
                continue
            try:
                if plain:
                    raise AttributeDeserializationError(stored_name, STRING)
                values[name] = attribute.deserialize(attribute.get_value(typed))
            except Exception as error:  # any shape the attribute cannot read
                raise undecodable(item, stored_name, error, self.key_names) from error
        return values

    @property
    def key_names(self) -> tuple[str, str]:
        """The stored names of the table's key attributes."""
        return self.stored_name("pk"), self.stored_name("sk")

    def stored_name(self, name: str) -> str:
        """The stored (camelCase) name of the attribute with Python name ``name``."""
        for stored_name, python_name, _, _ in self._attributes:
            if python_name == name:
                return stored_name
        return name


def undecodable(
    item: Mapping[str, Any], attribute: str, error: BaseException, key_names: tuple[str, str]
) -> UnreadableItemError:
    """The error for an item that cannot be read: names its key and the attribute."""
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    key = key_text(item, key_names)
    return UnreadableItemError(
        f"cannot read item {key}: attribute {attribute!r}: {detail}", key=key, attribute=attribute
    )


_Domain = TypeVar("_Domain", bound=pydantic.BaseModel)


def _validated(
    model: type[_Domain], fields: dict[str, Any], item: Mapping[str, Any], codec: Codec
) -> _Domain:
    """``model.model_validate(fields)``; a failure names the item's key and stored attribute."""
    try:
        return model.model_validate(fields)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        raise undecodable(
            item, codec.stored_name(field), ValueError(first["msg"]), codec.key_names
        ) from None


def session_values(session: domain.Session) -> dict[str, Any]:
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


def session_of(values: Mapping[str, Any], item: Mapping[str, Any], codec: Codec) -> domain.Session:
    """The session a session item's attribute values (by Python name) stand for.

    ``item`` (at least its key) names the item in the ``StorageError`` for an
    item that cannot be read.
    """
    get = values.get
    session_id = get("id")
    if session_id is None:
        try:
            session_id = keys.parse_session_pk(cast("str", get("pk")))
        except (ValueError, TypeError) as error:
            raise undecodable(item, codec.key_names[0], error, codec.key_names) from None
    return _validated(
        domain.Session,
        {
            "id": session_id,
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
            # Older versions could leave counters below zero: read them as zero.
            "token_count": max(get("token_count") or 0, 0),
            "message_count": max(get("message_count") or 0, 0),
            "version": get("version") or 0,
        },
        item,
        codec,
    )


def message_values(message: domain.Message) -> dict[str, Any]:
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


def message_of(values: Mapping[str, Any], item: Mapping[str, Any], codec: Codec) -> domain.Message:
    """The message a message item's attribute values (by Python name) stand for."""
    get = values.get
    try:
        sk_created_at, sk_id = keys.parse_message_sk(cast("str", get("sk")))
        session_id = get("session_id")
        if session_id is None:
            session_id = keys.parse_session_pk(cast("str", get("pk")))
    except (ValueError, TypeError) as error:
        raise undecodable(item, codec.key_names[1], error, codec.key_names) from None
    return _validated(
        domain.Message,
        {
            "id": get("id") if get("id") is not None else sk_id,
            "session_id": session_id,
            "role": get("role"),
            "content": get("content") if get("content") is not None else "",
            "token_count": get("token_count"),
            "sequence": get("sequence"),
            "metadata": get("metadata"),
            "created_at": get("created_at") if get("created_at") is not None else sk_created_at,
            "updated_at": get("updated_at"),
        },
        item,
        codec,
    )
