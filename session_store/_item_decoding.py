"""Typed items straight into domain objects: ``models.*.decode`` on a fast path.

``decode_message(item)`` and ``decode_session(item)`` return exactly what
``models.Message.decode(item)`` and ``models.SessionMeta.decode(item)``
return, and raise the same error class for an item they cannot decode.

How: each attribute of the model (names and encodings read from the model's
attributes, ``get_attributes()`` -> ``attr_name``) gets a reader that turns
the common encodings into values directly: ``{"S": text}`` for strings and
content, canonical digits for whole numbers, ``2026-11-24T13:08:53.123Z`` for
instants (``datetime.fromisoformat`` gives the UTC millisecond instant that
``parse_iso`` would, checked on the result). Every other encoding goes through
the model attribute's own ``get_value``/``deserialize``, as the models'
codec does. The values are then put together as ``models`` does and
validated by pydantic once.

Undecodable items: whenever the fast path meets something it does not
expect (or raises), the item is decoded by ``models.*.decode`` itself, so
its error is exactly that one's. When the fast path succeeds, pydantic
validates the very mapping ``models`` would have validated, so its errors
are the same too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import TypeAdapter
from pynamodb.attributes import Attribute, UnicodeAttribute, VersionAttribute
from pynamodb.constants import NULL, NUMBER, STRING
from pynamodb.models import Model

from session_store import domain, keys, models
from session_store.attributes import ContentAttribute, IntegerAttribute, IsoDateTimeAttribute

__all__ = ["decode_message", "decode_messages", "decode_session", "decode_sessions"]

Reader = Callable[[Any], Any]
"""A typed attribute value (``None`` when absent) to the value ``models``' codec reads from it."""


class _Irregular(Exception):
    """An encoding the fast path leaves to ``models.*.decode``."""


def _generic(attribute: Attribute[Any]) -> Reader:
    """The models' codec for one attribute: absent or NULL is ``None``."""

    def read(typed: Any) -> Any:
        if typed is None:
            return None
        if typed.__class__ is not dict:
            raise _Irregular("a typed value that is not a map")
        if not typed or NULL in typed:
            return None
        return attribute.deserialize(attribute.get_value(typed))

    return read


def _is_canonical_whole_number(text: str) -> bool:
    """Digits, no leading zero: ``int(text)`` is ``int(Decimal(text))`` and ``json.loads(text)``."""
    return text.isascii() and text.isdigit() and (text[0] != "0" or len(text) == 1)


# What an attribute's fast path reads: a string (``{"S": text}``), a whole number
# (``{"N": digits}``), an instant (``{"S": iso}``), or nothing (always the codec's way).
_TEXT, _WHOLE_NUMBER, _INSTANT, _OTHER = range(4)


def _kind(attribute: Attribute[Any]) -> int:
    kind = type(attribute)
    if kind is UnicodeAttribute or kind is ContentAttribute:
        return _TEXT
    if kind is IntegerAttribute or kind is VersionAttribute:
        return _WHOLE_NUMBER
    if kind is IsoDateTimeAttribute:
        return _INSTANT
    return _OTHER


_Plan = tuple[tuple[str, str, int, Reader], ...]


def _plan(model: type[Model]) -> _Plan:
    """``(Python name, stored name, fast-path kind, codec reader)`` of each model attribute."""
    return tuple(
        (name, attribute.attr_name, _kind(attribute), _generic(attribute))
        for name, attribute in model.get_attributes().items()
    )


_MESSAGE_PLAN: Final = _plan(models.Message)
_SESSION_PLAN: Final = _plan(models.SessionMeta)


def _values(plan: _Plan, item: Mapping[str, Any]) -> dict[str, Any]:
    """The attribute values the models' codec reads from ``item``, by Python name.

    One loop with the fast paths inline: this runs for every item of every page.
    """
    get = item.get
    values: dict[str, Any] = {}
    for name, stored, kind, generic in plan:
        typed = get(stored)
        if typed is None:
            values[name] = None
            continue
        if typed.__class__ is dict and len(typed) == 1:
            if kind == _TEXT:
                text = typed.get(STRING)
                if text.__class__ is str:
                    values[name] = text
                    continue
            elif kind == _WHOLE_NUMBER:
                text = typed.get(NUMBER)
                if text.__class__ is str and _is_canonical_whole_number(text):
                    values[name] = int(text)
                    continue
            elif kind == _INSTANT:
                text = typed.get(STRING)
                if text.__class__ is str:
                    instant = datetime.fromisoformat(text)
                    # parse_iso gives this very instant when it is UTC at whole milliseconds.
                    if instant.tzinfo is UTC and not instant.microsecond % 1000:
                        values[name] = instant
                        continue
        values[name] = generic(typed)
    return values


# --- messages ------------------------------------------------------------------------------


def _message_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping ``models.Message.decode(item)`` validates; raises on anything irregular."""
    v = _values(_MESSAGE_PLAN, item)
    sk = v["sk"]
    if sk.__class__ is not str:
        raise _Irregular("no sort key")
    sk_created_at, sk_id = keys.parse_message_sk(sk)
    session_id = v["session_id"]
    if session_id is None:
        session_id = keys.parse_session_pk(v["pk"])
    content = v["content"]
    created_at = v["created_at"]
    return {
        "id": sk_id if v["id"] is None else v["id"],
        "session_id": session_id,
        "role": v["role"],
        "content": "" if content is None else content,
        "token_count": v["token_count"],
        "sequence": v["sequence"],
        "metadata": v["metadata"],
        "created_at": sk_created_at if created_at is None else created_at,
        "updated_at": v["updated_at"],
    }


def decode_message(item: Mapping[str, Any]) -> domain.Message:
    """Exactly ``models.Message.decode(item)``, faster."""
    try:
        return domain.Message.model_validate(_message_fields(item))
    except Exception:  # whatever the fast path trips on, the models decide (and name it)
        return models.Message.decode(item)


_MESSAGE_LIST: Final = TypeAdapter(list[domain.Message])


def decode_messages(items: Iterable[Mapping[str, Any]]) -> list[domain.Message]:
    """``[decode_message(item) for item in items]``, validated in one pydantic call.

    Raises what the first undecodable item raises through ``decode_message``.
    """
    listed = list(items)
    try:
        return _MESSAGE_LIST.validate_python([_message_fields(item) for item in listed])
    except Exception:  # find the first item that fails, and fail as it does
        return [decode_message(item) for item in listed]


# --- sessions ------------------------------------------------------------------------------


def _session_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping ``models.SessionMeta.decode(item)`` validates; raises on anything irregular."""
    v = _values(_SESSION_PLAN, item)
    session_id = v["id"]
    if session_id is None:
        session_id = keys.parse_session_pk(v["pk"])
    metadata = v["metadata"]
    participants = v["participants"]
    schema_version = v["schema_version"]
    created_at = v["created_at"]
    last_activity_at = v["last_activity_at"]
    return {
        "id": session_id,
        "user_id": v["user_id"],
        "active_agent_id": v["active_agent_id"],
        "status": v["status"],
        "metadata": {} if metadata is None else metadata,
        "participants": [] if participants is None else participants,
        "schema_version": 1 if schema_version is None else schema_version,
        "created_at": created_at,
        "last_activity_at": created_at if last_activity_at is None else last_activity_at,
        "expires_at": v["expires_at"],
        "token_budget": v["token_budget"],
        "compression": v["compression"],
        "compression_state": v["compression_state"],
        "token_count": v["token_count"] or 0,
        "message_count": v["message_count"] or 0,
        "version": v["version"] or 0,
    }


def decode_session(item: Mapping[str, Any]) -> domain.Session:
    """Exactly ``models.SessionMeta.decode(item)``, faster."""
    try:
        return domain.Session.model_validate(_session_fields(item))
    except Exception:  # whatever the fast path trips on, the models decide (and name it)
        return models.SessionMeta.decode(item)


_SESSION_LIST: Final = TypeAdapter(list[domain.Session])


def decode_sessions(items: Iterable[Mapping[str, Any]]) -> list[domain.Session]:
    """``[decode_session(item) for item in items]``, validated in one pydantic call."""
    listed = list(items)
    try:
        return _SESSION_LIST.validate_python([_session_fields(item) for item in listed])
    except Exception:  # find the first item that fails, and fail as it does
        return [decode_session(item) for item in listed]
