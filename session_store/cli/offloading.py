"""Offloaded payloads in export and import: inline in the JSON lines, in S3 in the table.

An export is self-contained: a message item that points to an S3 object
(``offload.POINTER_ATTRIBUTE``) is written whole, its object's attributes
read back in place of the preview and the pointer. An import stores a
message whose item is over the threshold as the adapter would: the object
first, then the item that points to it; once the item is written, the object
of the item it replaced is removed (a failure there is logged and leaves an
orphan for ``gc``, never a dangling pointer). The S3 side is an
``Offloader``, the adapter's own. An offloaded item already in the table
counts as unchanged when its small attributes and its payload's SHA-256
equal what the line would store, so importing twice writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from session_store import models
from session_store._codec import key_text
from session_store.errors import UnreadableItemError, ValidationError
from session_store.offload import (
    CONTENT_ATTRIBUTE,
    POINTER_ATTRIBUTE,
    OffloadPlan,
    Pointer,
    pointer_of,
)
from session_store.offloader import Offloader

__all__ = ["same_offloaded", "stored_pointer", "whole_item"]


def whole_item(item: dict[str, Any], offloader: Offloader | None) -> dict[str, Any]:
    """``item`` with its offloaded attributes back in place (itself when it has none).

    ``ValidationError`` when it points to S3 and no bucket is configured;
    ``ObjectNotFound`` or ``UnreadableItemError`` when its object is missing or
    is not what the pointer says.
    """
    if POINTER_ATTRIBUTE not in item:
        return item
    if offloader is None:
        raise ValidationError(
            f"item {key_text(item, models.TABLE_KEY)} keeps its payload in S3: pass "
            "--offload-bucket (the bucket it was written to) to export it whole"
        )
    return offloader.restore(item)


def stored_pointer(item: Mapping[str, Any] | None) -> Pointer | None:
    """The pointer of a stored item, or ``None`` (none, or one that cannot be read)."""
    if item is None:
        return None
    try:
        return pointer_of(item)
    except UnreadableItemError:
        return None


def _small_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: value
        for name, value in item.items()
        if name not in (CONTENT_ATTRIBUTE, POINTER_ATTRIBUTE)
    }


def same_offloaded(stored: Mapping[str, Any] | None, plan: OffloadPlan) -> bool:
    """Whether ``stored`` already holds what ``plan`` would write: the same attributes
    besides the preview, and a pointer to a payload of the same bytes (SHA-256)."""
    pointer = stored_pointer(stored)
    if stored is None or pointer is None:
        return False
    ours = plan.pointer
    return (pointer.sha256, pointer.size, pointer.encoding, pointer.fields) == (
        ours.sha256,
        ours.size,
        ours.encoding,
        ours.fields,
    ) and _small_attributes(stored) == _small_attributes(plan.item)
