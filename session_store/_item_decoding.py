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

Regular messages skip pydantic altogether (``_regular_messages``): an item as
the adapter writes it (string content, a known role, whole counts in range,
UTC millisecond instants, metadata as JSON text of an object) holds values
already of the types validation would give, so the ``Message`` is built from
them directly, the way ``BaseModel.model_construct`` builds one (only the
metadata object is validated, by its own model). Every other item, and any
doubt, takes the validated path above, so results and errors are unchanged;
``tests/unit/test_item_decoding.py`` compares both, field by field. A whole
page goes through one loop, written out (``get_messages`` of 1,000 messages
spends most of its own time there): no call per item, each instance's own
``__dict__`` filled in place, and the digit strings of counts read once.

Somewhat over 450 lines: the readers, the validated path and the regular-message
path are one rule (what a stored item means) and are checked against each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import TypeAdapter
from pynamodb.attributes import (
    Attribute,
    ListAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.constants import LIST, NULL, NUMBER, STRING
from pynamodb.models import Model

from session_store import _wire, domain, keys, models
from session_store._construct import (
    require_constructible,
    set_extra,
    set_fields_set,
    set_private,
)
from session_store.attributes import (
    ContentAttribute,
    EpochSecondsAttribute,
    IntegerAttribute,
    IsoDateTimeAttribute,
    loads_text,
)
from session_store.errors import StorageError

__all__ = [
    "decode_message",
    "decode_messages",
    "decode_session",
    "decode_sessions",
    "decode_wire_messages",
]

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
# (``{"N": digits}``), an instant (``{"S": iso}``), epoch seconds (``{"N": digits}``), or
# nothing (always the codec's way). ``ttl`` and the write tokens are not part of the
# domain value: their fast path only makes sure the codec could read them (it would
# raise otherwise), for the commonest encodings.
_TEXT, _WHOLE_NUMBER, _INSTANT, _EPOCH_SECONDS, _TTL, _STRING_LIST, _OTHER = range(7)
_MAX_EPOCH_DIGITS: Final = 10
"""Whole epoch seconds up to 9,999,999,999 (year 2286): ``datetime.fromtimestamp`` reads them."""


def _kind(attribute: Attribute[Any]) -> int:
    kind = type(attribute)
    if kind is UnicodeAttribute or kind is ContentAttribute:
        return _TEXT
    if kind is IntegerAttribute or kind is VersionAttribute:
        return _WHOLE_NUMBER
    if kind is IsoDateTimeAttribute:
        return _INSTANT
    if kind is EpochSecondsAttribute:
        return _EPOCH_SECONDS
    if kind is TTLAttribute:
        return _TTL
    if kind is ListAttribute and getattr(attribute, "element_type", None) is UnicodeAttribute:
        return _STRING_LIST
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
            elif kind in (_EPOCH_SECONDS, _TTL):
                text = typed.get(NUMBER)
                if (
                    text.__class__ is str
                    and len(text) <= _MAX_EPOCH_DIGITS
                    and _is_canonical_whole_number(text)
                ):
                    # What from_epoch_seconds gives; the ttl's value is not used.
                    values[name] = None if kind == _TTL else datetime.fromtimestamp(int(text), UTC)
                    continue
            elif kind == _STRING_LIST:
                entries = typed.get(LIST)
                if entries.__class__ is list and all(
                    entry.__class__ is dict
                    and len(entry) == 1
                    and entry.get(STRING).__class__ is str
                    for entry in entries
                ):
                    values[name] = None  # readable; not part of the domain value
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


def _validated_message(item: Mapping[str, Any]) -> domain.Message:
    """``models.Message.decode(item)`` through one pydantic validation of its fields."""
    try:
        return domain.Message.model_validate(_message_fields(item))
    except Exception:  # whatever the fast path trips on, the models decide (and name it)
        return models.Message.decode(item)


def decode_message(item: Mapping[str, Any]) -> domain.Message:
    """Exactly ``models.Message.decode(item)``, faster."""
    message = _regular_message(item)
    return _validated_message(item) if message is None else message


_MESSAGE_LIST: Final = TypeAdapter(list[domain.Message])


def _validated_messages(items: list[Mapping[str, Any]]) -> list[domain.Message]:
    """``[_validated_message(item) for item in items]``, validated in one pydantic call."""
    try:
        return _MESSAGE_LIST.validate_python([_message_fields(item) for item in items])
    except Exception:  # find the first item that fails, and fail as it does
        return [_validated_message(item) for item in items]


def decode_messages(items: Iterable[Mapping[str, Any]]) -> list[domain.Message]:
    """``[decode_message(item) for item in items]``: regular items built directly, the
    others validated in one pydantic call.

    Raises what the first undecodable item raises through ``decode_message``
    (a regular item never fails, so that item is among the others).
    """
    listed = list(items)
    decoded, irregular = _regular_messages(listed)
    if irregular:
        validated = _validated_messages([listed[index] for index in irregular])
        for index, message in zip(irregular, validated, strict=True):
            decoded[index] = message
    return decoded  # type: ignore[return-value]  # no None is left


def decode_wire_messages(items: list[dict[str, Any]]) -> list[domain.Message]:
    """``decode_messages`` of items as ``_wire.wire_items`` hands them over (wire JSON).

    A regular item is read as it is (``_regular_messages`` accepts a value only as
    ``{"S": str}``/``{"N": str}``, which botocore's parse leaves as it is); every
    other item is first made botocore's parse in place (``_wire.finish_item``), so
    the page's items are what callers may read afterwards too (keys, the pointer).
    """
    decoded, irregular = _regular_messages(items)
    if irregular:
        try:
            finished: list[Mapping[str, Any]] = [_wire.finish_item(items[i]) for i in irregular]
        except ValueError as error:
            raise StorageError(f"unexpected item in a DynamoDB response: {error}") from error
        for index, message in zip(irregular, _validated_messages(finished), strict=True):
            decoded[index] = message
    return decoded  # type: ignore[return-value]  # no None is left


# --- regular messages, built without validation ----------------------------------------------


_MESSAGE_FIELD_ORDER: Final = (
    "id",
    "session_id",
    "role",
    "content",
    "token_count",
    "sequence",
    "metadata",
    "created_at",
    "updated_at",
)
_HANDLED_MESSAGE_ATTRIBUTES: Final = frozenset(
    {"pk", "sk", *(name for name in _MESSAGE_FIELD_ORDER)}
)
_MESSAGE: Final = domain.Message
require_constructible(_MESSAGE)
_ALL_MESSAGE_FIELDS: Final = set(_MESSAGE_FIELD_ORDER)
"""Copied into every regular message as its ``model_fields_set`` (never changed itself)."""
_new_instance: Final = object.__new__
_ROLES: Final = {role.value: role for role in domain.MessageRole}
_M = models.Message
_PK, _SK, _ID, _SESSION_ID, _ROLE = (
    _M.pk.attr_name,
    _M.sk.attr_name,
    _M.id.attr_name,
    _M.session_id.attr_name,
    _M.role.attr_name,
)
_CONTENT, _TOKENS, _SEQUENCE = (
    _M.content.attr_name,
    _M.token_count.attr_name,
    _M.sequence.attr_name,
)
_METADATA, _CREATED, _UPDATED = (
    _M.metadata.attr_name,
    _M.created_at.attr_name,
    _M.updated_at.attr_name,
)
_REQUIRED_ATTRIBUTES: Final = 7
"""``PK``, ``SK``, ``id``, ``sessionId``, ``role``, ``content``, ``createdAt``: each read below."""
_UNHANDLED_MESSAGE_ATTRIBUTES: Final = tuple(
    attribute.attr_name
    for name, attribute in _M.get_attributes().items()
    if name not in _HANDLED_MESSAGE_ATTRIBUTES
)
"""Attributes of the model this path does not read: an item holding one takes the validated path."""
_REGULAR_MESSAGES: Final = tuple(domain.Message.model_fields) == _MESSAGE_FIELD_ORDER
"""Whether ``domain.Message`` has exactly the fields built here (else this path is never taken)."""
_MAX_DIGITS: Final = len(str(domain.MAX_NUMBER))
_METADATA_MODEL: Final = domain.MessageMetadata
_MESSAGE_PREFIX: Final = keys.MESSAGE_PREFIX
_PREFIX_LENGTH: Final = len(_MESSAGE_PREFIX)
_from_iso: Final = datetime.fromisoformat
_S, _N = STRING, NUMBER

_KNOWN_COUNTS: dict[str, int] = {}
"""Digit strings already read as counts, and their values: a session's token counts repeat."""
_MAX_KNOWN_COUNTS: Final = 1024


def _count(text: Any) -> int | None:
    """The value of canonical digits (a count DynamoDB holds, what both ``IntegerAttribute``
    and validation give as they are): ``text`` as ``{"N": text}`` holds it; ``None`` for
    anything else."""
    if (
        text.__class__ is str
        and len(text) <= _MAX_DIGITS
        and text.isdigit()
        and text.isascii()
        and (text[0] != "0" or len(text) == 1)
    ):
        value = int(text)
        if len(_KNOWN_COUNTS) < _MAX_KNOWN_COUNTS:
            _KNOWN_COUNTS[text] = value
        return value
    return None


def _is_message_sk(sk: str) -> bool:
    """What ``keys.parse_message_sk`` accepts: the prefix, then ``#`` before a non-empty id."""
    return sk[:_PREFIX_LENGTH] == _MESSAGE_PREFIX and "#" in sk[_PREFIX_LENGTH:-1]


def _rarer_values(item: Mapping[str, Any], present: int) -> tuple[Any, Any, Any]:
    """``(sequence, updated_at, metadata)`` of a regular item holding more than the
    ``present`` attributes already read; raises ``_Irregular`` (or what reading raises) for
    an item the regular path does not take."""
    sequence = updated_at = metadata = None
    if _SEQUENCE in item:
        typed = item[_SEQUENCE]
        text = typed[_N]
        sequence = _KNOWN_COUNTS.get(text)
        if len(typed) != 1 or (sequence is None and (sequence := _count(text)) is None):
            raise _Irregular
        present += 1
    if _UPDATED in item:
        typed = item[_UPDATED]
        updated_at = _from_iso(typed[_S])
        if len(typed) != 1 or updated_at.tzinfo is not UTC or updated_at.microsecond % 1000:
            raise _Irregular
        present += 1
    if _METADATA in item:
        typed = item[_METADATA]
        text = typed[_S]
        if text.__class__ is not str or len(typed) != 1:
            raise _Irregular
        parsed = loads_text(text)
        if parsed.__class__ is not dict:
            raise _Irregular
        metadata = _METADATA_MODEL.model_validate(parsed)
        present += 1
    if len(item) != present and any(name in item for name in _UNHANDLED_MESSAGE_ATTRIBUTES):
        raise _Irregular
    return sequence, updated_at, metadata


def _regular_messages(
    items: Iterable[Mapping[str, Any]],
) -> tuple[list[domain.Message | None], list[int]]:
    """The message of each item in the adapter's own regular shape, built without
    validation, ``None`` for any other item (the validated path decides those); and the
    indexes of those others.

    Each value is checked to be exactly what validation would return for it. Written
    out as one loop on purpose: it runs for every item of every page, and a call, a
    lookup or a check less per item shows in ``get_messages``.
    """
    if not _REGULAR_MESSAGES:
        listed = list(items)
        return [None] * len(listed), list(range(len(listed)))
    built: list[domain.Message | None] = []
    irregular: list[int] = []
    append = built.append
    for item in items:
        try:
            # A missing attribute or tag raises KeyError, a value of another shape TypeError,
            # an unknown role KeyError, a time fromisoformat cannot read ValueError.
            pk_typed, sk_typed, id_typed = item[_PK], item[_SK], item[_ID]
            session_typed, role_typed = item[_SESSION_ID], item[_ROLE]
            content_typed, created_typed = item[_CONTENT], item[_CREATED]
            pk, sk, message_id = pk_typed[_S], sk_typed[_S], id_typed[_S]
            session_id, role, content = session_typed[_S], _ROLES[role_typed[_S]], content_typed[_S]
            created_text = created_typed[_S]
            created_at = _from_iso(created_text)
            if (
                # Each of the seven holds S, so they hold nothing else when seven tags in all.
                len(pk_typed)
                + len(sk_typed)
                + len(id_typed)
                + len(session_typed)
                + len(role_typed)
                + len(content_typed)
                + len(created_typed)
                != _REQUIRED_ATTRIBUTES
                or pk.__class__ is not str
                or message_id.__class__ is not str
                or session_id.__class__ is not str
                or content.__class__ is not str
                # What parse_iso and UtcDateTime give unchanged: UTC at whole milliseconds.
                or created_at.tzinfo is not UTC
                or created_at.microsecond % 1000
                # The key the adapter writes is valid; any other is checked as parse_message_sk.
                or not (
                    (message_id and sk == f"{_MESSAGE_PREFIX}{created_text}#{message_id}")
                    or _is_message_sk(sk)
                )
            ):
                raise _Irregular
            present = _REQUIRED_ATTRIBUTES
            token_count = None
            if _TOKENS in item:
                typed = item[_TOKENS]
                text = typed[_N]
                token_count = _KNOWN_COUNTS.get(text)
                if len(typed) != 1 or (
                    token_count is None and (token_count := _count(text)) is None
                ):
                    raise _Irregular
                present += 1
            sequence = updated_at = metadata = None
            if len(item) != present:  # more than a plain message: the rarer attributes
                sequence, updated_at, metadata = _rarer_values(item, present)
        except Exception:  # not in the regular shape (or not metadata): the validated path decides
            irregular.append(len(built))
            append(None)
            continue
        # What BaseModel.model_construct does with every field given, written out: the
        # instance's own __dict__ filled in field order, then pydantic's three slots.
        message = _new_instance(_MESSAGE)
        fields = message.__dict__
        fields["id"] = message_id
        fields["session_id"] = session_id
        fields["role"] = role
        fields["content"] = content
        fields["token_count"] = token_count
        fields["sequence"] = sequence
        fields["metadata"] = metadata
        fields["created_at"] = created_at
        fields["updated_at"] = updated_at
        set_fields_set(message, _ALL_MESSAGE_FIELDS.copy())
        set_extra(message, None)
        set_private(message, None)
        append(message)
    return built, irregular


def _regular_message(item: Mapping[str, Any]) -> domain.Message | None:
    """``_regular_messages`` of one item."""
    return _regular_messages((item,))[0][0]


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
