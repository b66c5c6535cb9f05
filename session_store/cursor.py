"""Opaque, checked pagination cursors.

A cursor carries where the next page starts (the key of the last item
handed out), how many items the walk has returned (so ``limit`` caps the
whole walk) and a fingerprint of the query that produced it. It is
base64url JSON with a keyed checksum: a cursor from another query, or one
that was edited, is refused with ``ValidationError``. The checksum guards
against mistakes and casual edits; pass ``cursor_secret`` to the adapter to
make cursors unforgeable across processes that share the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from session_store.errors import ValidationError

__all__ = ["Cursor", "CursorCodec", "check_start_between", "fingerprint"]

_VERSION = 1
_MAC_BYTES = 12


def fingerprint(*parts: Any) -> str:
    """A short digest of the query a cursor belongs to."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Cursor:
    kind: str
    query: str
    start_key: dict[str, Any]
    returned: int


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, cursor: Cursor) -> str:
        payload = json.dumps(
            {
                "v": _VERSION,
                "k": cursor.kind,
                "q": cursor.query,
                "s": cursor.start_key,
                "n": cursor.returned,
            },
            separators=(",", ":"),
        ).encode()
        token = payload + self._mac(payload)
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def decode(self, text: object, *, kind: str, query: str) -> Cursor:
        if not isinstance(text, str) or not text:
            raise ValidationError("cursor must be a non-empty string")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise ValidationError("malformed cursor") from None
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, self._mac(payload)):
            raise ValidationError("malformed or altered cursor")
        try:
            data = json.loads(payload)
        except ValueError:  # JSON and UTF-8 decoding errors alike
            raise ValidationError("malformed cursor") from None
        if not isinstance(data, dict):
            raise ValidationError("malformed cursor")
        if data.get("v") != _VERSION or data.get("k") != kind:
            raise ValidationError("cursor belongs to another kind of listing")
        if data.get("q") != query:
            raise ValidationError("cursor belongs to another query")
        start, returned = data.get("s"), data.get("n")
        if (
            isinstance(returned, bool)
            or not isinstance(returned, int)
            or returned < 0
            or not isinstance(start, dict)
            or not start
            or not all(
                isinstance(name, str) and _is_string_value(value) for name, value in start.items()
            )
        ):
            raise ValidationError("malformed cursor")
        return Cursor(kind, query, start, returned)


def check_start_between(cursor: Cursor, name: str, low: str, high: str) -> None:
    """``ValidationError`` unless the cursor's start key holds a string ``name`` from ``low``
    to ``high`` (inclusive): the key range its query reads.

    A cursor signed for the query (the default secret is public) could point
    anywhere in the partition, such as at the session item; DynamoDB refuses a
    start key outside the query's key condition, so it is refused here first.
    """
    value = cursor.start_key.get(name)
    text = value.get("S") if isinstance(value, dict) else None
    if not isinstance(text, str) or not low <= text <= high:
        raise ValidationError("cursor does not point into this listing's range")


def _is_string_value(value: object) -> bool:
    """A DynamoDB-JSON string: every key attribute of this table is one."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("S"), str)
