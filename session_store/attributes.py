"""PynamoDB attributes for the wire format shared with the TypeScript adapter.

Each attribute writes exactly the encoding the TypeScript adapter writes and
reads leniently: JSON text may also arrive as a native map or list, numbers
may carry a fraction, optional attributes may be missing.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from pynamodb.attributes import Attribute
from pynamodb.constants import BOOLEAN, LIST, MAP, NULL, NUMBER, STRING

from session_store._time import format_iso, from_epoch_seconds, parse_iso, to_epoch_seconds

__all__ = [
    "ContentAttribute",
    "EpochSecondsAttribute",
    "IntegerAttribute",
    "IsoDateTimeAttribute",
    "JsonTextAttribute",
    "NativeMapAttribute",
    "from_native",
    "loads_text",
    "to_native",
]

_NUMBER_SET = "NS"
_STRING_SET = "SS"


def _number(text: str) -> int | float:
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


def from_native(typed: dict[str, Any]) -> Any:
    """Python value of one DynamoDB-JSON value (``{"S": ...}``, ``{"M": ...}``, ...)."""
    ((kind, raw),) = typed.items()
    if kind == STRING:
        return raw
    if kind == NUMBER:
        return _number(raw)
    if kind == BOOLEAN:
        return bool(raw)
    if kind == NULL:
        return None
    if kind == MAP:
        return {key: from_native(value) for key, value in raw.items()}
    if kind == LIST:
        return [from_native(value) for value in raw]
    if kind == _STRING_SET:
        return list(raw)
    if kind == _NUMBER_SET:
        return [_number(value) for value in raw]
    raise ValueError(f"unsupported DynamoDB type {kind!r}")


def to_native(value: Any) -> dict[str, Any]:
    """DynamoDB-JSON of a JSON-like Python value (maps, lists, numbers, strings)."""
    if value is None:
        return {NULL: True}
    if isinstance(value, bool):
        return {BOOLEAN: value}
    if isinstance(value, str):
        return {STRING: value}
    if isinstance(value, int | float | Decimal):
        return {NUMBER: _format_number(value)}
    if isinstance(value, dict):
        return {MAP: {str(key): to_native(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return {LIST: [to_native(item) for item in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def _format_number(value: float | Decimal) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("NaN and infinite numbers cannot be stored")
        return repr(value)
    return str(value)


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""Made once: ``json.dumps`` with these options builds an encoder on every call."""


def dumps_compact(value: Any) -> str:
    """JSON text as JavaScript's ``JSON.stringify`` writes it: compact, unescaped unicode."""
    return _COMPACT.encode(value)


_LONG_DIGIT_RUN = re.compile(r"\d{19}")


def loads_text(text: str) -> Any:
    """``json.loads(text)``, through ``orjson`` where it gives the same value: everywhere
    but integers past 64 bits (read as floats: a run of 19 digits takes ``json``) and what
    it refuses (NaN, out-of-range floats, lone surrogates), which ``json`` reads."""
    if _LONG_DIGIT_RUN.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


class IsoDateTimeAttribute(Attribute[datetime]):
    """An instant stored as ``2026-11-24T13:08:53.123Z`` (S)."""

    attr_type = STRING

    def serialize(self, value: datetime) -> str:
        return format_iso(value)

    def deserialize(self, value: str) -> datetime:
        return parse_iso(value)


class EpochSecondsAttribute(Attribute[datetime]):
    """An instant stored as whole epoch seconds (N), truncated.

    Read leniently: the TypeScript adapter's ``updateSession`` stores the
    same instant as an ISO-8601 string (S), which reads as that instant.
    """

    attr_type = NUMBER

    def serialize(self, value: datetime) -> str:
        return str(to_epoch_seconds(value))

    def get_value(self, value: dict[str, Any]) -> Any:
        return value

    def deserialize(self, value: Any) -> datetime:
        if isinstance(value, str):  # called with the bare number by PynamoDB's own paths
            return from_epoch_seconds(int(Decimal(value)))
        if STRING in value:
            return parse_iso(value[STRING])
        return from_epoch_seconds(int(Decimal(value[NUMBER])))


class IntegerAttribute(Attribute[int]):
    """A whole number (N); a stored fraction is truncated on read."""

    attr_type = NUMBER

    def serialize(self, value: int) -> str:
        return str(int(value))

    def deserialize(self, value: str) -> int:
        return int(Decimal(value))


class JsonTextAttribute(Attribute[Any]):
    """A JSON value stored as compact JSON text (S); a native M/L is read too."""

    attr_type = STRING

    def serialize(self, value: Any) -> str:
        return dumps_compact(value)

    def get_value(self, value: dict[str, Any]) -> Any:
        # Hand the typed value itself to deserialize, whatever its type.
        return value

    def deserialize(self, value: Any) -> Any:
        if STRING in value:
            return loads_text(value[STRING])
        return from_native(value)


class NativeMapAttribute(Attribute[dict[str, Any]]):
    """A JSON object stored as a native map (M); JSON text is read too."""

    attr_type = MAP

    def serialize(self, value: dict[str, Any]) -> dict[str, Any]:
        return to_native(value)[MAP]  # type: ignore[no-any-return]

    def get_value(self, value: dict[str, Any]) -> Any:
        return value

    def deserialize(self, value: Any) -> dict[str, Any]:
        if STRING in value:
            return loads_text(value[STRING])  # type: ignore[no-any-return]
        return from_native(value)  # type: ignore[no-any-return]


class ContentAttribute(Attribute[str | list[dict[str, Any]]]):
    """Message content: a string as S, a list of content blocks as L of M.

    PynamoDB writes one type tag per attribute, so ``typed()`` gives the
    tagged value and the models route their serialisation through it.
    """

    attr_type = STRING

    def typed(self, value: str | list[dict[str, Any]]) -> dict[str, Any]:
        if isinstance(value, str):
            return {STRING: value}
        return to_native(list(value))

    def serialize(self, value: str | list[dict[str, Any]]) -> Any:
        ((_, raw),) = self.typed(value).items()
        return raw

    def get_value(self, value: dict[str, Any]) -> Any:
        return value

    def deserialize(self, value: Any) -> str | list[dict[str, Any]]:
        if STRING in value:
            return value[STRING]  # type: ignore[no-any-return]
        return from_native(value)  # type: ignore[no-any-return]
