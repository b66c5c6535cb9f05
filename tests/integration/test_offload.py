"""Large messages offloaded to S3: every read returns exactly what was added; what the
table holds is what the TypeScript adapter can read; request budgets."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest

from session_store import DynamoDBAdapter, Message, S3Offload, ValidationError
from session_store.limits import item_size
from session_store.offload import (
    DEFAULT_THRESHOLD_BYTES,
    MARKER_PREFIX,
    POINTER_ATTRIBUTE,
    PREVIEW_BYTES,
)
from session_store.table import TableConfig
from session_store.testing.requests import count_requests
from tests.integration.offload_fixtures import (
    KB,
    MB,
    bucket_keys,
    count_s3,
    pointed_keys,
    raw_messages,
)


def screenshot(size: int) -> str:
    """Base64 text of random bytes, ``size`` characters: a screenshot as agents store it."""
    return base64.b64encode(os.urandom(size * 3 // 4 + 3)).decode()[:size]


def text_of(size: int) -> str:
    """Compressible text of ``size`` characters (a long tool output)."""
    line = "INFO 2026-12-03 request served in 12 ms by worker-7 — ok ✓\n"
    return (line * (size // len(line) + 1))[:size]


def content_cases(size: int) -> dict[str, dict[str, Any]]:
    return {
        "text": {"role": "tool", "content": text_of(size), "token_count": 7},
        "screenshot": {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is on this screen?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64," + screenshot(size)},
                },
            ],
            "token_count": 3,
            "sequence": 4,
        },
        "metadata": {
            "role": "assistant",
            "content": "the tool returned a large result",
            "metadata": {
                "tool_results": [{"tool_call_id": "c1", "result": text_of(size)}],
                "annotations": {"source": "crawler"},
            },
        },
    }


def assert_reads_equal(adapter: DynamoDBAdapter, session_id: str, added: Message) -> None:
    assert adapter.get_messages(session_id) == [added]
    assert adapter.get_messages_page(session_id, page_size=1).items == [added]
    assert list(adapter.iter_messages(session_id)) == [added]
    assert adapter.get_context_window(session_id, 1_000) == [added]


@pytest.mark.parametrize(
    "size", [10 * KB, 300 * KB, 1 * MB, 10 * MB], ids=["10KB", "300KB", "1MB", "10MB"]
)
@pytest.mark.parametrize("case", ["text", "screenshot", "metadata"])
def test_round_trip(offload_adapter: DynamoDBAdapter, size: int, case: str) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    given = content_cases(size)[case]
    added = adapter.add_message(session.id, given)
    assert (
        added.content
        == Message.model_validate(
            {**given, "id": "x", "session_id": "s", "created_at": added.created_at}
        ).content
    )
    assert_reads_equal(adapter, session.id, added)
    (item,) = raw_messages(adapter, session.id)
    assert item_size(item) <= DEFAULT_THRESHOLD_BYTES
    offloaded = POINTER_ATTRIBUTE in item
    assert offloaded == (size > 300 * KB)
    assert len(bucket_keys(adapter)) == (1 if offloaded else 0)
    assert adapter.pop_message(session.id) == added
    assert bucket_keys(adapter) == set()
    assert adapter.get_messages(session.id) == []


def test_the_item_is_what_the_typescript_adapter_reads(offload_adapter: DynamoDBAdapter) -> None:
    """``content`` stays a string (S): a bounded preview and a marker naming the object;
    the pointer is one attribute; everything else as the TypeScript adapter writes it."""
    adapter = offload_adapter
    config = adapter.offload
    assert config is not None
    session = adapter.create_session({"status": "active"})
    text = "é" * MB  # two UTF-8 bytes each: the preview is cut on a character boundary
    added = adapter.add_message(session.id, {"role": "user", "content": text, "token_count": 9})
    (item,) = raw_messages(adapter, session.id)
    preview, marker = item["content"]["S"].split("\n\n")
    assert preview == "é" * (PREVIEW_BYTES // 2)
    pointer = json.loads(item[POINTER_ATTRIBUTE]["S"])
    assert marker.startswith(f"{MARKER_PREFIX}s3://{config.bucket}/{pointer['key']} ")
    assert pointer["key"].startswith(f"{config.prefix}{session.id}/{added.id}/")
    assert pointer["fields"] == ["content"]
    assert pointer["encoding"] == "json+gzip"  # repeated text compresses
    assert set(pointer) == {"v", "key", "size", "sha256", "encoding", "fields"}
    assert item["tokenCount"] == {"N": "9"}
    assert item["role"] == {"S": "user"}
    assert item["id"] == {"S": added.id}
    assert item_size(item) < 4 * KB
    assert pointed_keys(adapter, session.id) == bucket_keys(adapter)


def test_a_payload_over_max_bytes_is_refused_before_any_request(
    table_config: TableConfig, offload: S3Offload
) -> None:
    small = S3Offload(offload.bucket, endpoint_url=offload.endpoint_url, max_bytes=512 * KB)
    with DynamoDBAdapter(
        table_config.table_name,
        region=table_config.region,
        endpoint_url=table_config.endpoint_url,
        offload=small,
    ) as adapter:
        adapter.create_table()
        session = adapter.create_session({"status": "active"})
        message = adapter.add_message(session.id, {"role": "user", "content": "short"})
        with count_requests(adapter) as log, count_s3(adapter) as s3:
            with pytest.raises(ValidationError, match="max_bytes"):
                adapter.add_message(session.id, {"role": "user", "content": screenshot(MB)})
            with pytest.raises(ValidationError, match="max_bytes"):
                adapter.add_messages(session.id, [{"role": "user", "content": screenshot(MB)}])
            with pytest.raises(ValidationError, match="max_bytes"):
                adapter.update_message(session.id, message.id, {"content": screenshot(MB)})
        assert log.operations == []
        assert s3.operations == []


def test_without_offload_an_item_over_400_kb_is_still_refused(adapter: DynamoDBAdapter) -> None:
    assert adapter.offload is None
    session = adapter.create_session({"status": "active"})
    with (
        count_requests(adapter) as log,
        pytest.raises(ValidationError, match="409,600-byte item limit"),
    ):
        adapter.add_message(session.id, {"role": "user", "content": "x" * 500 * KB})
    assert log.operations == []


def test_request_budgets(offload_adapter: DynamoDBAdapter) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    with count_requests(adapter) as log, count_s3(adapter) as s3:
        small = adapter.add_message(session.id, {"role": "user", "content": "inline"})
        adapter.get_messages(session.id)
    # Inline messages cost exactly what they cost without offloading.
    assert log.operations == ["TransactWriteItems", "Query"]
    assert s3.operations == []
    with count_requests(adapter) as log, count_s3(adapter) as s3:
        big = adapter.add_message(session.id, {"role": "user", "content": screenshot(MB)})
    assert (log.operations, s3.operations) == (["TransactWriteItems"], ["PutObject"])
    with count_requests(adapter) as log, count_s3(adapter) as s3:
        assert adapter.get_messages(session.id) == [small, big]
    assert (log.operations, s3.operations) == (["Query"], ["GetObject"])
    with count_requests(adapter) as log, count_s3(adapter) as s3:
        adapter.delete_message(session.id, big.id)
    assert (log.operations, s3.operations) == (["GetItem", "TransactWriteItems"], ["DeleteObject"])
    many = [{"role": "user", "content": screenshot(MB)} for _ in range(3)]
    with count_requests(adapter) as log, count_s3(adapter) as s3:
        added = adapter.add_messages(session.id, many)
    assert (log.operations, s3.operations) == (["TransactWriteItems"], ["PutObject"] * 3)
    with count_requests(adapter) as log, count_s3(adapter) as s3:
        assert adapter.get_messages(session.id) == [small, *added]
    assert (log.operations, s3.operations) == (["Query"], ["GetObject"] * 3)
    with count_requests(adapter) as log, count_s3(adapter) as s3:
        adapter.delete_session(session.id)
    assert s3.operations == ["DeleteObjects"]
    assert bucket_keys(adapter) == set()


def test_add_messages_offloads_until_the_transaction_fits(offload_adapter: DynamoDBAdapter) -> None:
    """Twenty 300 KB messages (each under the threshold) are 6 MB together: the largest
    go to S3 until the transaction is under 4 MB."""
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    added = adapter.add_messages(
        session.id, [{"role": "user", "content": screenshot(300 * KB + i)} for i in range(20)]
    )
    items = raw_messages(adapter, session.id)
    assert sum(item_size(item) for item in items) <= 4 * MB
    assert 0 < len(pointed_keys(adapter, session.id)) < 20
    assert adapter.get_messages(session.id) == added
    assert adapter.get_session(session.id).message_count == 20  # type: ignore[union-attr]


def test_reads_fetch_only_the_objects_of_messages_handed_out(
    offload_adapter: DynamoDBAdapter,
) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    added = adapter.add_messages(
        session.id,
        [{"role": "user", "content": screenshot(MB), "token_count": 10} for _ in range(4)],
    )
    with count_s3(adapter) as s3:
        page = adapter.get_messages_page(session.id, page_size=1)
    assert (page.items, s3.operations) == ([added[0]], ["GetObject"])
    with count_s3(adapter) as s3:
        assert adapter.get_messages(session.id, {"offset": 3}) == [added[3]]
    assert s3.operations == ["GetObject"]
    with count_s3(adapter) as s3:
        assert adapter.get_messages(session.id, {"limit": 3}) == added[:3]
    assert s3.operations == ["GetObject"] * 3
    with count_s3(adapter) as s3:
        assert adapter.get_context_window(session.id, 25) == added[2:]
    assert s3.operations == ["GetObject"] * 3  # the two that fit, and the one that did not
