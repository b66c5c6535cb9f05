"""Large messages kept in S3: the configuration, the payload format and the pointer (pure).

A message item that would exceed ``S3Offload.threshold_bytes`` keeps its key
and small attributes in the table; the attributes that make it large go to
one S3 object, and the item points to it. Nothing here sends a request:
``plan_offload`` says what to write, ``restore`` puts a read item back
together. The adapter writes the object before the item that points to it.

What moves. ``content`` always moves when a message is offloaded: the item
keeps ``content`` as a string (S) holding a preview of the text (at most
``PREVIEW_BYTES`` UTF-8 bytes) and a marker naming the object, so a reader
that does not know about offloading (the TypeScript adapter) still reads a
well-formed message that says where the rest is. ``metadata`` (tool calls,
tool results, annotations) moves as well when the item is still over the
threshold without the content.

The payload. Compact JSON ``{"format": 1, "attributes": {...}}`` whose
attributes are in DynamoDB's JSON form (``{"content": {"S": "..."}}``), so a
round trip is exact for every shape and any AWS SDK can unmarshall it. It is
compressed with gzip (``Content-Encoding`` ``gzip``, level 6, no timestamp,
so equal payloads give equal bytes) when that saves at least
``MIN_SAVING`` of its size; whether it would is first tried on a sample, so
incompressible payloads cost no full compression. The pointer records which
encoding the stored bytes have: ``"json"`` or ``"json+gzip"``.

The pointer is one attribute, ``payloadRef`` (S): compact JSON
``{"v": 1, "key": ..., "size": ..., "sha256": ..., "encoding": ..., "fields": [...]}``,
``size`` and ``sha256`` of the stored bytes, ``fields`` the attributes the
object holds. The bucket is the adapter's configuration, not the item's:
a table copied with its bucket keeps working.

Object keys: ``{prefix}{session}/{message}/{ULID}{.json|.json.gz}``. Each id
is percent-encoded (``/``, ``.``, ``~`` and every non-ASCII byte included),
or, when longer than ``MAX_KEY_SEGMENT`` encoded, written as ``~`` and its
SHA-256; the ULID makes every write's key new, so a replaced payload never
overwrites an object an older item still points to, and keys sort by write
time within a message.

This module is long because the payload format is one rule: what moves to S3, how it is
encoded, the pointer and the preview belong together. It sends nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from ulid import ULID

from session_store.errors import UnreadableItemError, ValidationError
from session_store.limits import MAX_ITEM_BYTES, item_size

__all__ = [
    "CONTENT_ATTRIBUTE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_THRESHOLD_BYTES",
    "MARKER_PREFIX",
    "MAX_OBJECT_BYTES",
    "METADATA_ATTRIBUTE",
    "MIN_THRESHOLD_BYTES",
    "POINTER_ATTRIBUTE",
    "PREVIEW_BYTES",
    "Encoding",
    "OffloadPlan",
    "Pointer",
    "S3Offload",
    "choose_encoding",
    "decode_payload",
    "encode_payload",
    "format_pointer",
    "marker",
    "message_prefix",
    "new_object_key",
    "parse_pointer",
    "plan_offload",
    "pointer_of",
    "restore",
    "session_prefix",
]

DEFAULT_THRESHOLD_BYTES = 350 * 1024
"""Offload above this item size: under DynamoDB's 400 KB, with room for later updates."""
MIN_THRESHOLD_BYTES = 4 * 1024
"""The lowest threshold: below it the preview and the pointer would be most of the item."""
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""The largest payload (uncompressed JSON) a message may have by default."""
MAX_OBJECT_BYTES = 5 * 1024**3
"""S3's limit for one PutObject."""
PREVIEW_BYTES = 1024
"""UTF-8 bytes of text the item keeps in ``content`` before the marker."""
MAX_KEY_SEGMENT = 200
"""The longest encoded id written as it is into an object key (S3 keys: 1,024 bytes)."""
MAX_PREFIX_BYTES = 256
MIN_SAVING = 0.1
"""Compress only when it saves at least this share of the payload's size."""
_SAMPLE_BYTES = 64 * 1024
_GZIP_LEVEL = 6

POINTER_ATTRIBUTE = "payloadRef"
CONTENT_ATTRIBUTE = "content"
METADATA_ATTRIBUTE = "metadata"
MARKER_PREFIX = "[session-store: content continues in "
"""Starts the marker after the preview: ``[session-store: content continues in
s3://bucket/key (N bytes, json+gzip)]``."""
_PAYLOAD_FORMAT = 1
_POINTER_VERSION = 1
_MOVABLE = (CONTENT_ATTRIBUTE, METADATA_ATTRIBUTE)

Encoding = Literal["json", "json+gzip"]
_SUFFIXES: dict[str, str] = {"json": ".json", "json+gzip": ".json.gz"}

# S3's bucket naming rules for general purpose buckets (directory buckets, ending
# in --x-s3, match them too).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--table-s3")
# Characters S3 documents as safe in keys; a prefix is written into every key as it is.
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"S3Offload.{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValidationError(
            f"S3Offload.{name} must be between {low:,} and {high:,}, got {value:,}"
        )
    return value


def _check_bucket(bucket: object) -> None:
    if not isinstance(bucket, str):
        raise ValidationError(f"S3Offload.bucket must be a string, got {type(bucket).__name__}")
    problem = None
    if not _BUCKET.match(bucket):
        problem = (
            "3 to 63 characters of lowercase letters, digits, dots and hyphens, "
            "starting and ending with a letter or digit"
        )
    elif ".." in bucket or ".-" in bucket or "-." in bucket:
        problem = "no two adjacent dots, and no dot next to a hyphen"
    elif bucket.startswith(_RESERVED_BUCKET_PREFIXES) or bucket.endswith(_RESERVED_BUCKET_SUFFIXES):
        problem = "not a prefix or suffix S3 reserves"
    else:
        try:
            ipaddress.ip_address(bucket)
            problem = "not an IP address"
        except ValueError:
            pass
    if problem is not None:
        raise ValidationError(f"invalid S3 bucket name {bucket!r}: it must be {problem}")


def _normalised_prefix(prefix: object) -> str:
    if not isinstance(prefix, str):
        raise ValidationError(f"S3Offload.prefix must be a string, got {type(prefix).__name__}")
    if prefix == "":
        return prefix
    if not prefix.endswith("/"):
        prefix += "/"
    problem = None
    if len(prefix.encode("utf-8")) > MAX_PREFIX_BYTES:
        problem = f"at most {MAX_PREFIX_BYTES} bytes"
    elif not _PREFIX.match(prefix):
        problem = "letters, digits and !-_.*'()/ only"
    elif prefix.startswith("/") or "//" in prefix:
        problem = "without a leading slash or empty path segments"
    elif any(part in (".", "..") for part in prefix.split("/")):
        problem = "without '.' or '..' segments"
    if problem is not None:
        raise ValidationError(f"invalid S3 key prefix {prefix!r}: it must be {problem}")
    return prefix


@dataclass(frozen=True)
class S3Offload:
    """Where and when large messages go to S3 (see the module docstring).

    ``prefix`` is normalised to end with ``/`` (an empty prefix stays empty).
    ``threshold_bytes``: a message item larger than this (DynamoDB's count)
    is offloaded; between ``MIN_THRESHOLD_BYTES`` and 400 KB. ``max_bytes``:
    the largest payload (its uncompressed JSON) accepted; larger messages are
    a ``ValidationError`` before any request. ``region``: the bucket's region
    (default: the adapter's). ``endpoint_url``: where S3 requests go (default:
    ``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL``, then AWS itself; never
    the adapter's DynamoDB endpoint). Every bad value is a ``ValidationError``
    at construction (a malformed endpoint when the adapter is made).
    """

    bucket: str
    prefix: str = ""
    threshold_bytes: int = DEFAULT_THRESHOLD_BYTES
    max_bytes: int = DEFAULT_MAX_BYTES
    region: str | None = None
    endpoint_url: str | None = None

    def __post_init__(self) -> None:
        for name in ("region", "endpoint_url"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValidationError(f"S3Offload.{name} must be a non-empty string or None")
        _check_bucket(self.bucket)
        object.__setattr__(self, "prefix", _normalised_prefix(self.prefix))
        _check_int("threshold_bytes", self.threshold_bytes, MIN_THRESHOLD_BYTES, MAX_ITEM_BYTES)
        _check_int("max_bytes", self.max_bytes, self.threshold_bytes, MAX_OBJECT_BYTES)


# --- object keys ----------------------------------------------------------------


def _segment(text: str, what: str) -> str:
    """``text`` as one key segment: percent-encoded, or ``~`` and its SHA-256 when long."""
    if not isinstance(text, str) or not text:
        raise ValidationError(f"{what} must be a non-empty string to name an S3 object")
    raw = text.encode("utf-8", "surrogatepass")
    # quote() leaves "." and "~" alone: encoded here so no segment is "." or ".." and "~"
    # marks hashed segments only.
    encoded = quote(raw, safe="").replace(".", "%2E").replace("~", "%7E")
    if len(encoded) <= MAX_KEY_SEGMENT:
        return encoded
    return "~" + hashlib.sha256(raw).hexdigest()


def session_prefix(config: S3Offload, session_id: str) -> str:
    """The key prefix of every object of one session (for listing and removal)."""
    return f"{config.prefix}{_segment(session_id, 'session id')}/"


def message_prefix(config: S3Offload, session_id: str, message_id: str) -> str:
    """The key prefix of every object ever written for one message."""
    return f"{session_prefix(config, session_id)}{_segment(message_id, 'message id')}/"


def new_object_key(
    config: S3Offload, session_id: str, message_id: str, encoding: Encoding = "json"
) -> str:
    """A key no earlier write used: the message's prefix, a new ULID and the encoding's suffix."""
    return f"{message_prefix(config, session_id, message_id)}{ULID()}{_SUFFIXES[encoding]}"


# --- the payload ----------------------------------------------------------------


def encode_payload(attributes: Mapping[str, Any]) -> bytes:
    """The uncompressed payload of ``attributes`` (DynamoDB-JSON values by stored name)."""
    try:
        text = json.dumps(
            {"format": _PAYLOAD_FORMAT, "attributes": dict(attributes)},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return text.encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as error:
        raise ValidationError(f"the message cannot be stored in S3: {error}") from None


def choose_encoding(payload: bytes) -> tuple[Encoding, bytes]:
    """The encoding to store ``payload`` with, and the bytes to store: gzip when it saves
    at least ``MIN_SAVING`` of the size (tried on the first ``_SAMPLE_BYTES`` first, so
    data that does not compress costs no full compression), else the JSON as it is."""
    if len(payload) > _SAMPLE_BYTES:
        sample = payload[:_SAMPLE_BYTES]
        if len(gzip.compress(sample, _GZIP_LEVEL, mtime=0)) > len(sample) * (1 - MIN_SAVING):
            return "json", payload
    packed = gzip.compress(payload, _GZIP_LEVEL, mtime=0)
    if len(packed) <= len(payload) * (1 - MIN_SAVING):
        return "json+gzip", packed
    return "json", payload


def decode_payload(stored: bytes, encoding: str) -> dict[str, Any]:
    """The attributes a stored payload holds; ``ValueError`` when it is not one."""
    if encoding == "json+gzip":
        try:
            stored = gzip.decompress(stored)
        except (OSError, EOFError) as error:
            raise ValueError(f"not gzip data: {error}") from None
    elif encoding != "json":
        raise ValueError(f"unknown encoding {encoding!r}")
    document = json.loads(stored.decode("utf-8"))
    if not isinstance(document, dict) or document.get("format") != _PAYLOAD_FORMAT:
        raise ValueError("not a session-store payload (format 1)")
    attributes = document.get("attributes")
    if not isinstance(attributes, dict):
        raise ValueError("the payload has no attributes")
    return attributes


# --- the pointer ----------------------------------------------------------------


@dataclass(frozen=True)
class Pointer:
    """Where an item's offloaded attributes are: an object key, and what its bytes must be."""

    key: str
    size: int
    """Bytes of the stored object."""
    sha256: str
    """Hex SHA-256 of the stored object."""
    encoding: Encoding
    fields: tuple[str, ...] = field(default=(CONTENT_ATTRIBUTE,))
    """The item attributes the object holds."""


def format_pointer(pointer: Pointer) -> dict[str, Any]:
    """The pointer attribute's value (DynamoDB JSON: one compact JSON string)."""
    text = json.dumps(
        {
            "v": _POINTER_VERSION,
            "key": pointer.key,
            "size": pointer.size,
            "sha256": pointer.sha256,
            "encoding": pointer.encoding,
            "fields": list(pointer.fields),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return {"S": text}


def _item_key(item: Mapping[str, Any]) -> str:
    pk = item.get("PK", {}).get("S", "?") if isinstance(item.get("PK"), dict) else "?"
    sk = item.get("SK", {}).get("S", "?") if isinstance(item.get("SK"), dict) else "?"
    return f"{pk!r}/{sk!r}"


def parse_pointer(value: Any, item: Mapping[str, Any]) -> Pointer:
    """The pointer in ``value`` (the pointer attribute of ``item``).

    ``UnreadableItemError`` naming the item's key and the attribute when it is malformed.
    """
    try:
        if not isinstance(value, dict) or not isinstance(value.get("S"), str):
            raise ValueError("it is not a string (S)")
        data = json.loads(value["S"])
        if not isinstance(data, dict) or data.get("v") != _POINTER_VERSION:
            raise ValueError("it is not a version 1 pointer")
        key, size, digest = data.get("key"), data.get("size"), data.get("sha256")
        encoding, fields = data.get("encoding"), data.get("fields")
        if not isinstance(key, str) or not key:
            raise ValueError("it has no object key")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError("its size is not a byte count")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise ValueError("its sha256 is not a hex digest")
        if encoding not in _SUFFIXES:
            raise ValueError(f"its encoding {encoding!r} is unknown")
        if (
            not isinstance(fields, list)
            or not fields
            or any(name not in _MOVABLE for name in fields)
        ):
            raise ValueError(f"its fields {fields!r} are not attributes that move to S3")
    except ValueError as error:
        key_text = _item_key(item)
        raise UnreadableItemError(
            f"item {key_text}: malformed {POINTER_ATTRIBUTE!r}: {error}",
            key=key_text,
            attribute=POINTER_ATTRIBUTE,
        ) from None
    return Pointer(key, size, digest, encoding, tuple(fields))


def pointer_of(item: Mapping[str, Any]) -> Pointer | None:
    """The pointer of a read item, or None when it holds all its attributes itself."""
    value = item.get(POINTER_ATTRIBUTE)
    return None if value is None else parse_pointer(value, item)


# --- planning and restoring -----------------------------------------------------


@dataclass(frozen=True)
class OffloadPlan:
    """What to write for one offloaded message: ``payload`` to ``pointer.key`` first, then
    ``item`` (which carries the pointer)."""

    item: dict[str, Any]
    payload: bytes
    pointer: Pointer


def _text_of(content: Mapping[str, Any]) -> str:
    """The text of a ``content`` value: the string, or its text blocks joined by newlines."""
    if isinstance(content.get("S"), str):
        return str(content["S"])
    texts = []
    for block in content.get("L", []):
        text = block.get("M", {}).get("text", {}).get("S") if isinstance(block, dict) else None
        if isinstance(text, str):
            texts.append(text)
    return "\n".join(texts)


def _preview(text: str) -> str:
    """At most ``PREVIEW_BYTES`` UTF-8 bytes of ``text``, cut on a character boundary."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= PREVIEW_BYTES:
        return text
    return raw[:PREVIEW_BYTES].decode("utf-8", "ignore")


def marker(config: S3Offload, pointer: Pointer) -> str:
    """The line after the preview that says where the rest of the message is."""
    return (
        f"{MARKER_PREFIX}s3://{config.bucket}/{pointer.key} "
        f"({pointer.size:,} bytes, {pointer.encoding})]"
    )


def plan_offload(item: Mapping[str, Any], config: S3Offload) -> OffloadPlan | None:
    """How to store the message item ``item`` (DynamoDB JSON, stored names), or None when it
    fits under ``config.threshold_bytes`` as it is.

    ``ValidationError`` (nothing is sent) when its payload exceeds ``config.max_bytes``,
    when it has no ``content``, or when it names no session or message.
    """
    try:
        size = item_size(dict(item))
    except ValueError:
        raise ValidationError(
            f"message item {_item_key(item)} holds text that is not valid unicode "
            "(a lone surrogate) or a value DynamoDB cannot store"
        ) from None
    if size <= config.threshold_bytes:
        return None
    if CONTENT_ATTRIBUTE not in item:
        raise ValidationError(
            f"message item {_item_key(item)} is {size:,} bytes, over the offload threshold, "
            "but has no content to offload"
        )
    session_id = item.get("sessionId", {}).get("S")
    message_id = item.get("id", {}).get("S")
    if not isinstance(session_id, str) or not isinstance(message_id, str):
        raise ValidationError(
            f"message item {_item_key(item)} names no sessionId and id to key its S3 object by"
        )
    moved = [CONTENT_ATTRIBUTE]
    small = {name: value for name, value in item.items() if name != CONTENT_ATTRIBUTE}
    # The preview, marker and pointer: what the item gains back (bounded).
    overhead = PREVIEW_BYTES + 1024 + len(config.bucket) + len(config.prefix) + 2 * MAX_KEY_SEGMENT
    if METADATA_ATTRIBUTE in small and item_size(small) + overhead > config.threshold_bytes:
        moved.append(METADATA_ATTRIBUTE)
        del small[METADATA_ATTRIBUTE]
    payload = encode_payload({name: item[name] for name in moved})
    if len(payload) > config.max_bytes:
        raise ValidationError(
            f"message {message_id!r} would store {len(payload):,} bytes in S3, over the "
            f"offload limit of {config.max_bytes:,} bytes (S3Offload.max_bytes); its "
            f"content is {item_size({CONTENT_ATTRIBUTE: item[CONTENT_ATTRIBUTE]}):,} bytes"
        )
    encoding, stored = choose_encoding(payload)
    pointer = Pointer(
        key=new_object_key(config, session_id, message_id, encoding),
        size=len(stored),
        sha256=hashlib.sha256(stored).hexdigest(),
        encoding=encoding,
        fields=tuple(moved),
    )
    preview = _preview(_text_of(item[CONTENT_ATTRIBUTE]))
    small[CONTENT_ATTRIBUTE] = {"S": f"{preview}\n\n{marker(config, pointer)}"}
    small[POINTER_ATTRIBUTE] = format_pointer(pointer)
    return OffloadPlan(small, stored, pointer)


def restore(item: Mapping[str, Any], pointer: Pointer, stored: bytes) -> dict[str, Any]:
    """The whole item: ``item`` with the attributes read back from the object's bytes
    ``stored``, without the pointer attribute.

    ``UnreadableItemError`` naming the item when the bytes are not what the
    pointer says (size, SHA-256) or not a payload holding the pointer's fields.
    """
    key_text = _item_key(item)

    def unreadable(problem: str) -> UnreadableItemError:
        return UnreadableItemError(
            f"item {key_text}: its S3 object {pointer.key!r} {problem}",
            key=key_text,
            attribute=POINTER_ATTRIBUTE,
        )

    if len(stored) != pointer.size:
        raise unreadable(f"is {len(stored):,} bytes, the pointer says {pointer.size:,}")
    if hashlib.sha256(stored).hexdigest() != pointer.sha256:
        raise unreadable("does not match the pointer's SHA-256")
    try:
        attributes = decode_payload(stored, pointer.encoding)
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError included
        raise unreadable(f"is not a readable payload: {error}") from None
    if sorted(attributes) != sorted(pointer.fields):
        raise unreadable(f"holds {sorted(attributes)}, the pointer says {list(pointer.fields)}")
    whole = {name: value for name, value in item.items() if name != POINTER_ATTRIBUTE}
    whole.update(attributes)
    return whole
