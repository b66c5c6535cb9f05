"""DynamoDB's item and transaction limits, checked before a write is sent."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from session_store._bridge import yield_to_loop
from session_store.errors import ValidationError

if TYPE_CHECKING:
    from session_store.domain import NewMessage

__all__ = [
    "MAX_APPEND",
    "MAX_ITEM_BYTES",
    "MAX_TRANSACTION_BYTES",
    "append_batches",
    "check_item_size",
    "check_transaction_size",
    "check_update_size",
    "item_size",
    "update_too_large",
]

MAX_ITEM_BYTES = 400 * 1024
MAX_TRANSACTION_ITEMS = 100
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
MAX_APPEND = MAX_TRANSACTION_ITEMS - 1
"""Messages one ``add_messages`` call appends: its transaction also updates the session."""


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


def _size_bound(item: dict[str, dict[str, Any]]) -> int:
    """At least ``item_size(item)``, cheaply: the length of the item's JSON, which spells
    every name and value in more bytes than DynamoDB counts for them (UTF-8 text, quotes
    and type tags around it). An over-limit size when ``orjson`` refuses the item (bytes,
    a lone surrogate), so that the exact check runs."""
    try:
        return len(orjson.dumps(item))
    except TypeError:
        return MAX_ITEM_BYTES + 1


_LARGE_ITEM_BYTES = 64 * 1024


def check_item_size(item: dict[str, dict[str, Any]], what: str) -> None:
    """``ValidationError`` naming the largest field when ``item`` exceeds 400 KB.

    Also refuses text UTF-8 cannot encode (lone surrogates), naming the field.
    Given an update's values (placeholder -> value), it checks those alone.
    """
    bound = _size_bound(item)
    if bound >= _LARGE_ITEM_BYTES:
        # An async adapter's call checks each large item in a loop step of its own: a
        # batch of items near the limit is megabytes of work before the request exists.
        yield_to_loop()
    if bound <= MAX_ITEM_BYTES:
        return
    sizes: dict[str, int] = {}
    for name, value in item.items():
        try:
            sizes[name] = _value_size(value)
        except _NotUtf8:
            raise ValidationError(
                f"{what}: {name!r} holds text that is not valid unicode (a lone surrogate)"
            ) from None
    size = sum(len(name.encode("utf-8")) + value_size for name, value_size in sizes.items())
    if size <= MAX_ITEM_BYTES:
        return
    largest = max(sizes, key=sizes.__getitem__)
    raise ValidationError(
        f"{what} would be {size:,} bytes, over DynamoDB's {MAX_ITEM_BYTES:,}-byte item limit; "
        f"its largest field {largest!r} is {sizes[largest]:,} bytes"
    )


def update_too_large(
    what: str, assigned: dict[str, dict[str, Any]], size: int | None = None
) -> ValidationError:
    """The ``ValidationError`` for an update that would grow an item past 400 KB: it names
    the largest field the update sets and that field's size.

    ``assigned`` maps each attribute the update sets to its value; ``size``
    is the item's size after the update, when known (when DynamoDB refused
    the update, raise this ``from`` its refusal).
    """
    sizes = {name: _value_size(value) for name, value in assigned.items()}
    total = "" if size is None else f" to {size:,} bytes,"
    limit = f"{what} would take the item{total} over DynamoDB's {MAX_ITEM_BYTES:,}-byte item limit"
    if not sizes:
        return ValidationError(limit)
    largest = max(sizes, key=sizes.__getitem__)
    return ValidationError(
        f"{limit}: it sets {largest!r} to {sizes[largest]:,} bytes, "
        "beside the fields already stored"
    )


def check_update_size(
    updated: dict[str, dict[str, Any]], assigned: dict[str, dict[str, Any]], what: str
) -> None:
    """``update_too_large`` when ``updated`` (the item as an update setting ``assigned``
    leaves it) exceeds 400 KB."""
    size = item_size(updated)
    if size > MAX_ITEM_BYTES:
        raise update_too_large(what, assigned, size)


def check_transaction_size(items: list[dict[str, dict[str, Any]]], what: str) -> None:
    """``ValidationError`` when ``items`` together exceed a transaction's 4 MB."""
    size = sum(item_size(item) for item in items)
    if size >= _LARGE_ITEM_BYTES:
        yield_to_loop()  # an async adapter's call encodes the request in a later step
    if size > MAX_TRANSACTION_BYTES:
        raise ValidationError(
            f"{what} would be {size:,} bytes in one transaction, over DynamoDB's "
            f"{MAX_TRANSACTION_BYTES:,}-byte limit: append fewer messages at a time"
        )


_BATCH_BYTES = MAX_TRANSACTION_BYTES * 7 // 8
_PER_MESSAGE_OVERHEAD = 512


def append_batches(messages: Sequence[NewMessage]) -> Iterator[list[NewMessage]]:
    """``messages`` cut into batches ``add_messages`` takes whole, in order.

    Each holds at most ``MAX_APPEND`` messages and stays under a
    transaction's 4 MB by an overestimate of each message's item (its JSON
    plus key and attribute overhead). For callers appending more than one
    transaction holds: each batch is atomic, the whole is not.
    """
    batch: list[NewMessage] = []
    size = 0
    for message in messages:
        estimate = len(message.model_dump_json().encode("utf-8")) + _PER_MESSAGE_OVERHEAD
        if batch and (len(batch) == MAX_APPEND or size + estimate > _BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(message)
        size += estimate
    if batch:
        yield batch
