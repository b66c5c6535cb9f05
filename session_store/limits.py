"""DynamoDB's item size limit, checked before a write is sent."""

from __future__ import annotations

from typing import Any

from session_store.errors import ValidationError

__all__ = ["MAX_ITEM_BYTES", "check_item_size", "item_size"]

MAX_ITEM_BYTES = 400 * 1024


def _value_size(typed: dict[str, Any]) -> int:
    # Sizes as DynamoDB counts them: UTF-8 bytes of strings, about one byte
    # per two digits of numbers, 3 bytes of overhead per map/list plus one per element.
    ((kind, raw),) = typed.items()
    if kind == "S":
        return _utf8_size(raw)
    if kind == "N":
        return len(raw.lstrip("-").replace(".", "")) // 2 + 2
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "B":
        return len(raw)
    if kind == "M":
        return 3 + sum(_utf8_size(k) + _value_size(v) + 1 for k, v in raw.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in raw)
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in raw)
    raise ValueError(f"unknown DynamoDB type {kind!r}")


class _NotUtf8(ValueError):
    """Text that UTF-8 cannot encode (a lone surrogate)."""


def _utf8_size(text: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise _NotUtf8 from None


def item_size(item: dict[str, dict[str, Any]]) -> int:
    """Bytes DynamoDB counts for ``item`` (attribute names plus values)."""
    return sum(len(name.encode("utf-8")) + _value_size(value) for name, value in item.items())


def check_item_size(item: dict[str, dict[str, Any]], what: str) -> None:
    """``ValidationError`` naming the largest field when ``item`` exceeds 400 KB.

    Also refuses text UTF-8 cannot encode (lone surrogates), naming the field.
    Given an update's values (placeholder -> value), it checks those alone.
    """
    for name, value in item.items():
        try:
            _value_size(value)
        except _NotUtf8:
            raise ValidationError(
                f"{what}: {name!r} holds text that is not valid unicode (a lone surrogate)"
            ) from None
    size = item_size(item)
    if size <= MAX_ITEM_BYTES:
        return
    largest = max(item, key=lambda name: _value_size(item[name]))
    raise ValidationError(
        f"{what} would be {size:,} bytes, over DynamoDB's {MAX_ITEM_BYTES:,}-byte item limit; "
        f"its largest field {largest!r} is {_value_size(item[largest]):,} bytes"
    )
