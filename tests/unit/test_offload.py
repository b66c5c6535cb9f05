"""The offload's pure parts: configuration, payload, pointer, object keys (no requests)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import string
from datetime import UTC, datetime
from typing import Any

import pytest

from session_store import domain, models
from session_store.errors import UnreadableItemError, ValidationError
from session_store.limits import MAX_ITEM_BYTES, item_size
from session_store.offload import (
    DEFAULT_MAX_BYTES,
    DEFAULT_THRESHOLD_BYTES,
    MARKER_PREFIX,
    MAX_KEY_SEGMENT,
    MIN_THRESHOLD_BYTES,
    POINTER_ATTRIBUTE,
    PREVIEW_BYTES,
    Pointer,
    S3Offload,
    choose_encoding,
    format_pointer,
    message_prefix,
    new_object_key,
    parse_pointer,
    plan_offload,
    pointer_of,
    restore,
    session_prefix,
)

CONFIG = S3Offload("session-payloads", prefix="offload")
CREATED = datetime(2026, 11, 24, 13, 8, 53, 123000, tzinfo=UTC)
KB = 1024


def _item(
    content: str | list[dict[str, Any]],
    *,
    metadata: dict[str, Any] | None = None,
    session_id: str = "s-1",
    message_id: str = "01JDM5V8RB0000000000000000",
) -> dict[str, Any]:
    message = domain.Message.model_validate(
        {
            "id": message_id,
            "session_id": session_id,
            "role": "assistant",
            "content": content,
            "token_count": 12,
            "sequence": 3,
            "metadata": metadata,
            "created_at": CREATED,
        }
    )
    item: dict[str, Any] = models.Message.from_domain(message).serialize()
    return item


def _prose(size: int) -> str:
    """Compressible text of ``size`` characters (words drawn from a small vocabulary)."""
    rng = random.Random(size)
    words = ["session", "message", "tool", "the", "agent", "a", "result", "ünïcode", "✓"]
    text = " ".join(rng.choice(words) for _ in range(size // 4 + 1))
    return text[:size]


def _noise(size: int) -> str:
    """Text that compresses poorly: random printable ASCII (gzip still saves ~15%)."""
    rng = random.Random(size)
    return "".join(rng.choice(string.printable) for _ in range(size))


def _round_trip(item: dict[str, Any], config: S3Offload = CONFIG) -> dict[str, Any]:
    plan = plan_offload(item, config)
    assert plan is not None
    assert item_size(plan.item) <= MAX_ITEM_BYTES
    pointer = pointer_of(plan.item)
    assert pointer == plan.pointer
    return restore(plan.item, pointer, plan.payload)


# --- configuration --------------------------------------------------------------


def test_defaults() -> None:
    config = S3Offload("my-bucket")
    assert config.prefix == ""
    assert config.threshold_bytes == DEFAULT_THRESHOLD_BYTES < MAX_ITEM_BYTES
    assert config.max_bytes == DEFAULT_MAX_BYTES == 64 * 1024 * 1024


def test_prefix_gets_a_trailing_slash() -> None:
    assert S3Offload("my-bucket", prefix="a/b").prefix == "a/b/"
    assert S3Offload("my-bucket", prefix="a/b/").prefix == "a/b/"


@pytest.mark.parametrize(
    "bucket",
    [
        "ab",
        "a" * 64,
        "My-Bucket",
        "-bucket",
        "bucket-",
        "bu..cket",
        "bu.-cket",
        "192.168.1.1",
        "xn--bucket",
        "bucket-s3alias",
        "bucket_name",
        "",
        7,
    ],
)
def test_bad_bucket_names_are_refused(bucket: Any) -> None:
    with pytest.raises(ValidationError, match="bucket"):
        S3Offload(bucket)


@pytest.mark.parametrize("prefix", ["/abs", "a//b", "a/../b", "./a", "sp ace", "é", "x" * 300, 5])
def test_bad_prefixes_are_refused(prefix: Any) -> None:
    with pytest.raises(ValidationError, match="prefix"):
        S3Offload("my-bucket", prefix=prefix)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"threshold_bytes": MIN_THRESHOLD_BYTES - 1}, "threshold_bytes"),
        ({"threshold_bytes": MAX_ITEM_BYTES + 1}, "threshold_bytes"),
        ({"threshold_bytes": 10_000.0}, "threshold_bytes"),
        ({"threshold_bytes": True}, "threshold_bytes"),
        ({"threshold_bytes": 8 * KB, "max_bytes": 4 * KB}, "max_bytes"),
        ({"max_bytes": 6 * 1024**3}, "max_bytes"),
    ],
)
def test_bad_sizes_are_refused(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        S3Offload("my-bucket", **options)


def test_the_threshold_may_be_set_low() -> None:
    assert S3Offload("my-bucket", threshold_bytes=MIN_THRESHOLD_BYTES).threshold_bytes == 4 * KB


# --- when and what to offload ---------------------------------------------------


def test_a_message_under_the_threshold_stays_in_the_item() -> None:
    assert plan_offload(_item(_prose(10 * KB)), CONFIG) is None
    small = S3Offload("my-bucket", threshold_bytes=8 * KB)
    assert plan_offload(_item(_prose(10 * KB)), small) is not None


@pytest.mark.parametrize("size", [10 * KB, 300 * KB, 1024 * KB, 10 * 1024 * KB])
def test_string_content_round_trips(size: int) -> None:
    config = S3Offload("my-bucket", threshold_bytes=8 * KB)
    item = _item(_prose(size))
    assert _round_trip(item, config) == item


@pytest.mark.parametrize("size", [300 * KB, 1024 * KB])
def test_noisy_content_round_trips(size: int) -> None:
    config = S3Offload("my-bucket", threshold_bytes=8 * KB)
    item = _item(_noise(size))
    assert _round_trip(item, config) == item


def test_compressible_content_is_gzipped() -> None:
    item = _item(_prose(1024 * KB))
    plan = plan_offload(item, CONFIG)
    assert plan is not None
    assert plan.pointer.encoding == "json+gzip"
    assert plan.pointer.key.endswith(".json.gz")
    unpacked = gzip.decompress(plan.payload)
    assert len(plan.payload) < len(unpacked) / 2
    assert json.loads(unpacked)["attributes"]["content"] == item["content"]


def test_compression_is_chosen_only_when_it_saves_a_tenth() -> None:
    compressible = json.dumps({"t": _prose(200 * KB)}).encode()
    assert choose_encoding(compressible)[0] == "json+gzip"
    # Bytes gzip cannot shrink (UTF-8 text always compresses some; the choice is on bytes).
    random_bytes = random.Random(1).randbytes(200 * KB)
    assert choose_encoding(random_bytes) == ("json", random_bytes)
    # A compressible start but a random rest: the sample says yes, the whole says no.
    mixed = b"a" * (64 * KB) + random_bytes * 4  # the tail repeats beyond gzip's window
    assert choose_encoding(mixed) == ("json", mixed)
    # A random start: the sample says no, and the rest is not compressed at all.
    head_random = random_bytes[: 64 * KB] + b"a" * (10 * 64 * KB)
    assert choose_encoding(head_random) == ("json", head_random)
    # Short payloads are tried whole.
    assert choose_encoding(b"a" * 1000)[0] == "json+gzip"
    assert choose_encoding(random_bytes[:1000])[0] == "json"


def test_a_noisy_payload_is_still_compressed_when_that_saves_a_tenth() -> None:
    plan = plan_offload(_item(_noise(500 * KB)), CONFIG)
    assert plan is not None
    unpacked = gzip.decompress(plan.payload)
    assert plan.pointer.encoding == "json+gzip"
    assert len(plan.payload) <= 0.9 * len(unpacked)


def test_equal_payloads_give_equal_bytes() -> None:
    item = _item(_prose(500 * KB))
    first, second = plan_offload(item, CONFIG), plan_offload(item, CONFIG)
    assert first is not None
    assert second is not None
    assert first.payload == second.payload
    assert first.pointer.sha256 == second.pointer.sha256
    assert first.pointer.key != second.pointer.key  # every write gets its own object


def test_pointer_describes_the_stored_bytes() -> None:
    plan = plan_offload(_item(_prose(500 * KB)), CONFIG)
    assert plan is not None
    assert plan.pointer.size == len(plan.payload)
    assert plan.pointer.sha256 == hashlib.sha256(plan.payload).hexdigest()
    assert plan.pointer.fields == ("content",)
    assert plan.item[POINTER_ATTRIBUTE] == format_pointer(plan.pointer)
    assert set(plan.item[POINTER_ATTRIBUTE]) == {"S"}


def test_content_blocks_round_trip() -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": _prose(200 * KB)},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + _noise(300 * KB)}},
        {"type": "text", "text": "the end"},
    ]
    item = _item(blocks)
    assert "L" in item["content"]
    restored = _round_trip(item)
    assert restored == item
    plan = plan_offload(item, CONFIG)
    assert plan is not None
    # The item keeps a string: the text blocks' preview, then the marker.
    assert set(plan.item["content"]) == {"S"}
    assert plan.item["content"]["S"].startswith(blocks[0]["text"][:100])


def test_large_tool_calls_move_with_the_content() -> None:
    metadata = {
        "toolCalls": [
            {"id": "c1", "name": "search", "arguments": json.dumps({"q": _prose(300 * KB)})}
        ],
        "toolResults": [{"toolCallId": "c1", "result": {"rows": [_prose(100 * KB)]}}],
        "annotations": {"nested": {"null": None, "n": 1.5}},
    }
    item = _item("short answer", metadata=metadata)
    plan = plan_offload(item, CONFIG)
    assert plan is not None
    assert plan.pointer.fields == ("content", "metadata")
    assert "metadata" not in plan.item
    assert _round_trip(item) == item


def test_small_metadata_stays_in_the_item() -> None:
    metadata = {"toolCalls": [{"id": "c1", "name": "search", "arguments": "{}"}]}
    item = _item(_prose(400 * KB), metadata=metadata)
    plan = plan_offload(item, CONFIG)
    assert plan is not None
    assert plan.pointer.fields == ("content",)
    assert plan.item["metadata"] == item["metadata"]
    assert _round_trip(item) == item


def test_the_item_keeps_its_other_attributes() -> None:
    item = _item(_prose(500 * KB))
    plan = plan_offload(item, CONFIG)
    assert plan is not None
    for name in ("PK", "SK", "id", "sessionId", "role", "tokenCount", "sequence", "createdAt"):
        assert plan.item[name] == item[name]


def test_preview_and_marker() -> None:
    text = "é" * (400 * KB)  # two bytes each: the cut must not split one
    plan = plan_offload(_item(text), CONFIG)
    assert plan is not None
    content = plan.item["content"]["S"]
    preview, marker = content.split("\n\n", 1)
    assert preview == "é" * (PREVIEW_BYTES // 2)
    assert marker.startswith(MARKER_PREFIX)
    assert f"s3://session-payloads/{plan.pointer.key}" in marker
    assert item_size(plan.item) < 4 * KB


def test_a_short_text_with_large_blocks_keeps_its_whole_text_as_preview() -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": "look at this"},
        {"type": "image_url", "image_url": {"url": "https://x/" + _noise(400 * KB)}},
    ]
    plan = plan_offload(_item(blocks), CONFIG)
    assert plan is not None
    assert plan.item["content"]["S"].startswith("look at this\n\n" + MARKER_PREFIX)


def test_over_max_bytes_is_refused() -> None:
    config = S3Offload("my-bucket", threshold_bytes=8 * KB, max_bytes=1024 * KB)
    with pytest.raises(ValidationError, match=r"max_bytes"):
        plan_offload(_item(_prose(1100 * KB)), config)
    assert plan_offload(_item(_prose(900 * KB)), config) is not None


def test_an_item_without_ids_is_refused() -> None:
    item = _item(_prose(400 * KB))
    del item["sessionId"]
    with pytest.raises(ValidationError, match="sessionId"):
        plan_offload(item, CONFIG)


def test_text_unicode_cannot_encode_is_refused() -> None:
    item = _item("x")
    item["content"] = {"S": "\ud800" + "x" * (400 * KB)}
    with pytest.raises(ValidationError, match="lone surrogate"):
        plan_offload(item, CONFIG)


# --- object keys ----------------------------------------------------------------

HOSTILE_IDS = [
    "plain-id",
    "a/b/../c",
    "..",
    ".",
    "~",
    "with space and ? # % & =",
    "ünïcödé ✓ 日本語",
    "emoji 🧪",
    "new\nline\ttab\x00nul",
    "x" * 1500,
    "/leading/and/trailing/",
]


@pytest.mark.parametrize("session_id", HOSTILE_IDS)
@pytest.mark.parametrize("message_id", ["01JDM5V8RB0000000000000000", "../evil", "é" * 300])
def test_hostile_ids_make_safe_keys(session_id: str, message_id: str) -> None:
    key = new_object_key(CONFIG, session_id, message_id, "json+gzip")
    assert key.startswith("offload/")
    assert key.startswith(message_prefix(CONFIG, session_id, message_id))
    assert message_prefix(CONFIG, session_id, message_id).startswith(
        session_prefix(CONFIG, session_id)
    )
    assert len(key.encode("utf-8")) <= 1024
    assert key.isascii()
    assert all(ord(c) >= 0x20 for c in key)
    segments = key.split("/")
    assert len(segments) == 4
    assert all(segment not in ("", ".", "..") for segment in segments)


def test_distinct_ids_get_distinct_prefixes() -> None:
    prefixes = {session_prefix(CONFIG, sid) for sid in HOSTILE_IDS}
    assert len(prefixes) == len(HOSTILE_IDS)
    # One session's prefix is never the start of another's.
    assert session_prefix(CONFIG, "a") != session_prefix(CONFIG, "a/")
    assert not session_prefix(CONFIG, "ab").startswith(session_prefix(CONFIG, "a"))


def test_long_ids_are_hashed() -> None:
    segment = session_prefix(CONFIG, "x" * 1500)[len("offload/") : -1]
    assert segment == "~" + hashlib.sha256(b"x" * 1500).hexdigest()
    assert len(session_prefix(CONFIG, "y" * MAX_KEY_SEGMENT)) < 2 * MAX_KEY_SEGMENT


def test_readable_ids_stay_readable() -> None:
    assert session_prefix(CONFIG, "sess-42_a") == "offload/sess-42_a/"
    assert session_prefix(S3Offload("my-bucket"), "s.1") == "s%2E1/"


def test_empty_ids_are_refused() -> None:
    with pytest.raises(ValidationError):
        new_object_key(CONFIG, "", "m")


def test_keys_of_one_message_are_unique_and_sort_by_write() -> None:
    keys = [new_object_key(CONFIG, "s", "m") for _ in range(50)]
    assert len(set(keys)) == 50


# --- pointers and restore ---------------------------------------------------------


def _planned(size: int = 400 * KB) -> tuple[dict[str, Any], Any]:
    item = _item(_prose(size))
    plan = plan_offload(item, CONFIG)
    assert plan is not None
    return item, plan


def test_an_item_without_a_pointer_has_none() -> None:
    assert pointer_of(_item("hi")) is None


@pytest.mark.parametrize(
    "value",
    [
        {"N": "1"},
        {"S": "not json"},
        {"S": "[]"},
        {"S": json.dumps({"v": 2})},
        {
            "S": json.dumps(
                {
                    "v": 1,
                    "key": "",
                    "size": 1,
                    "sha256": "0" * 64,
                    "encoding": "json",
                    "fields": ["content"],
                }
            )
        },
        {
            "S": json.dumps(
                {
                    "v": 1,
                    "key": "k",
                    "size": -1,
                    "sha256": "0" * 64,
                    "encoding": "json",
                    "fields": ["content"],
                }
            )
        },
        {
            "S": json.dumps(
                {
                    "v": 1,
                    "key": "k",
                    "size": 1,
                    "sha256": "xyz",
                    "encoding": "json",
                    "fields": ["content"],
                }
            )
        },
        {
            "S": json.dumps(
                {
                    "v": 1,
                    "key": "k",
                    "size": 1,
                    "sha256": "0" * 64,
                    "encoding": "zip",
                    "fields": ["content"],
                }
            )
        },
        {
            "S": json.dumps(
                {
                    "v": 1,
                    "key": "k",
                    "size": 1,
                    "sha256": "0" * 64,
                    "encoding": "json",
                    "fields": ["PK"],
                }
            )
        },
    ],
)
def test_a_malformed_pointer_names_the_item(value: dict[str, Any]) -> None:
    item = _item("hi")
    item[POINTER_ATTRIBUTE] = value
    with pytest.raises(UnreadableItemError, match="SESSION#s-1") as caught:
        pointer_of(item)
    assert caught.value.attribute == POINTER_ATTRIBUTE
    assert "MSG#" in caught.value.key


def test_pointer_round_trips() -> None:
    pointer = Pointer("p/k.json", 10, "a" * 64, "json", ("content", "metadata"))
    assert parse_pointer(format_pointer(pointer), {}) == pointer


def test_restore_refuses_bytes_that_are_not_the_payload() -> None:
    _, plan = _planned()
    wrong_size = plan.payload + b"x"
    with pytest.raises(UnreadableItemError, match="bytes"):
        restore(plan.item, plan.pointer, wrong_size)
    flipped = bytes([plan.payload[0] ^ 1]) + plan.payload[1:]
    with pytest.raises(UnreadableItemError, match="SHA-256"):
        restore(plan.item, plan.pointer, flipped)


def test_restore_refuses_a_payload_with_other_fields() -> None:
    _, plan = _planned()
    bogus = json.dumps({"format": 1, "attributes": {"metadata": {"S": "{}"}}}).encode()
    pointer = Pointer("k.json", len(bogus), hashlib.sha256(bogus).hexdigest(), "json")
    with pytest.raises(UnreadableItemError, match="holds"):
        restore(plan.item, pointer, bogus)
    garbage = os.urandom(100)
    pointer = Pointer("k.json.gz", 100, hashlib.sha256(garbage).hexdigest(), "json+gzip")
    with pytest.raises(UnreadableItemError, match="not a readable payload"):
        restore(plan.item, pointer, garbage)


def test_s3_offload_is_a_top_level_name() -> None:
    import session_store

    assert session_store.S3Offload is S3Offload
    assert "S3Offload" in session_store.__all__
