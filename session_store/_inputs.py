"""Input checks shared by the adapters: models from mappings, page sizes, stream records.

Everything here runs before any request and raises ``ValidationError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from session_store import keys
from session_store.domain import MAX_NUMBER, NewMessage
from session_store.errors import ValidationError
from session_store.limits import MAX_APPEND
from session_store.models import TABLE_KEY

__all__ = [
    "MAX_PAGE_SIZE",
    "checked_non_negative",
    "checked_page_size",
    "ttl_removed_session",
    "validated",
    "validated_messages",
]

_M = TypeVar("_M", bound=BaseModel)

MAX_PAGE_SIZE = 10_000
"""Largest page: more is a mistake (DynamoDB reads at most 1 MB a request anyway)."""


def validated(model: type[_M], data: object) -> _M:
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


def validated_messages(messages: object) -> list[NewMessage]:
    """A batch for ``add_messages``: a sequence of at most ``MAX_APPEND`` valid messages."""
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise ValidationError(f"expected a list of messages, got {type(messages).__name__}")
    if len(messages) > MAX_APPEND:
        raise ValidationError(
            f"{len(messages)} messages: one add_messages call appends at most {MAX_APPEND} "
            "(DynamoDB's 100 items a transaction, one of them the session)"
        )
    checked = []
    for index, message in enumerate(messages):
        try:
            checked.append(validated(NewMessage, message))
        except ValidationError as error:
            raise ValidationError(f"message {index}: {error}") from error.__cause__
    return checked


def checked_page_size(page_size: object) -> int:
    if (
        isinstance(page_size, bool)
        or not isinstance(page_size, int)
        or not 1 <= page_size <= MAX_PAGE_SIZE
    ):
        raise ValidationError(f"page_size must be an int from 1 to {MAX_PAGE_SIZE}")
    return page_size


def checked_non_negative(name: str, value: object) -> int:
    """``value`` if it is an int from 0 to ``MAX_NUMBER`` (38 digits, DynamoDB's most; not a
    bool), else ``ValidationError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_NUMBER:
        raise ValidationError(f"{name} must be a non-negative int of at most 38 digits")
    return value


def ttl_removed_session(record: object) -> tuple[str, float | None] | None:
    """The id of the session item a stream record says TTL removed, with the time of the
    removal (``ApproximateCreationDateTime``, epoch seconds, if present); else ``None``.

    Raises ``ValidationError`` for a record that is not shaped like a stream record,
    or whose session id no session could have (checked as the API checks ids).
    """
    if not isinstance(record, Mapping):
        raise ValidationError("a stream record must be a mapping")
    identity = record.get("userIdentity") or {}
    change = record.get("dynamodb") or {}
    if not isinstance(identity, Mapping) or not isinstance(change, Mapping):
        raise ValidationError("a stream record's userIdentity and dynamodb must be mappings")
    if record.get("eventName") != "REMOVE" or (
        identity.get("type"),
        identity.get("principalId"),
    ) != ("Service", "dynamodb.amazonaws.com"):
        return None  # not a removal, or a delete by an application rather than TTL
    record_keys = change.get("Keys") or {}
    if not isinstance(record_keys, Mapping):
        raise ValidationError("a stream record's Keys must be a mapping")
    if any(name not in record_keys for name in TABLE_KEY):
        return None  # not an item of this table's layout
    pk_text, sk_text = (_string_key(record_keys[name], name) for name in TABLE_KEY)
    if sk_text != keys.META_SK:
        return None
    try:
        session_id = keys.parse_session_pk(pk_text)
    except ValueError:
        return None  # not a session partition
    removed_at = change.get("ApproximateCreationDateTime")
    if removed_at is not None and (
        isinstance(removed_at, bool)
        or not isinstance(removed_at, int | float)
        or not 0 <= removed_at < 253402300800
    ):
        raise ValidationError("a stream record's ApproximateCreationDateTime must be epoch seconds")
    return keys.check_session_id(session_id), removed_at


def _string_key(value: object, name: str) -> str:
    """The text of a key attribute in DynamoDB JSON (``{"S": text}``), every key here is one."""
    text = value.get("S") if isinstance(value, Mapping) else None
    if not isinstance(text, str):
        raise ValidationError(
            f"a stream record's {name} key must be a DynamoDB string ({{'S': ...}})"
        )
    return text
