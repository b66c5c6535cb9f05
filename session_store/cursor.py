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

__all__ = ["Cursor", "CursorCodec", "fingerprint"]

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
        data = json.loads(payload)
        if data.get("v") != _VERSION or data.get("k") != kind:
            raise ValidationError("cursor belongs to another kind of listing")
        if data.get("q") != query:
            raise ValidationError("cursor belongs to another query")
        return Cursor(kind, query, dict(data["s"]), int(data["n"]))
