"""Every path that removes or replaces an offloaded message removes its object, after
the item: no object leaks, no pointer dangles. Faults on S3 calls, and the async adapter."""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_store import (
    AsyncDynamoDBAdapter,
    DynamoDBAdapter,
    Message,
    OrphanReport,
    S3Offload,
    SessionNotFoundError,
    StorageError,
)
from session_store.models import SessionMeta
from session_store.offload import POINTER_ATTRIBUTE
from session_store.table import TableConfig
from tests import s3_faults
from tests.faults import INTERNAL_ERROR, FaultPlan, fail, inject, lose_response
from tests.integration.offload_fixtures import (
    KB,
    MB,
    bucket_keys,
    count_s3,
    pointed_keys,
    raw_messages,
)


def big(size: int = MB) -> str:
    return base64.b64encode(os.urandom(size * 3 // 4)).decode()


def add_big(adapter: DynamoDBAdapter, session_id: str, count: int = 2) -> list[Message]:
    added = [
        adapter.add_message(session_id, {"role": "user", "content": big()}) for _ in range(count)
    ]
    added.append(adapter.add_message(session_id, {"role": "assistant", "content": "small"}))
    return added


def assert_consistent(adapter: DynamoDBAdapter, *session_ids: str) -> None:
    """Objects in the bucket are exactly those the sessions' items point to."""
    pointed: set[str] = set()
    for session_id in session_ids:
        pointed |= pointed_keys(adapter, session_id)
    assert bucket_keys(adapter) == pointed


def store_of(adapter: DynamoDBAdapter) -> Any:
    return adapter.offloader.store  # type: ignore[union-attr]


# --- removal paths ----------------------------------------------------------------


def test_delete_message_and_delete_all_messages(offload_adapter: DynamoDBAdapter) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    first, second, small = add_big(adapter, session.id)
    assert len(bucket_keys(adapter)) == 2
    adapter.delete_message(session.id, first.id)
    assert adapter.get_messages(session.id) == [second, small]
    assert_consistent(adapter, session.id)
    add_big(adapter, session.id, count=3)
    adapter.delete_all_messages(session.id)
    assert bucket_keys(adapter) == set()
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.token_count) == (0, 0)


def test_delete_session_and_sweep_expired(offload_adapter: DynamoDBAdapter) -> None:
    adapter = offload_adapter
    gone = adapter.create_session({"status": "active"})
    add_big(adapter, gone.id)
    expiring = adapter.create_session(
        {"status": "active", "expires_at": datetime.now(UTC) + timedelta(hours=1)}
    )
    add_big(adapter, expiring.id)
    kept = adapter.create_session({"status": "active"})
    kept_messages = add_big(adapter, kept.id)
    adapter.delete_session(gone.id)
    assert_consistent(adapter, kept.id, expiring.id)
    assert adapter.sweep_expired(datetime.now(UTC) + timedelta(hours=2)) == 1
    assert_consistent(adapter, kept.id)
    assert len(bucket_keys(adapter)) == 2
    assert adapter.get_messages(kept.id) == kept_messages


def test_ttl_removal_through_the_stream_handler(offload_adapter: DynamoDBAdapter) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    add_big(adapter, session.id)
    # What the TTL service does: the session item goes, its messages stay.
    adapter.models.client.delete_item(
        TableName=adapter.config.table_name, Key=SessionMeta.key(session.id)
    )
    removed_at = int(time.time()) + 1
    event = {
        "Records": [
            {
                "eventName": "REMOVE",
                "eventSource": "aws:dynamodb",
                "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
                "dynamodb": {
                    "ApproximateCreationDateTime": removed_at,
                    "Keys": SessionMeta.key(session.id),
                    "StreamViewType": "KEYS_ONLY",
                },
            }
        ]
    }
    assert adapter.handle_stream_event(event) == 3
    assert raw_messages(adapter, session.id) == []
    assert bucket_keys(adapter) == set()


def test_an_expired_session_replaced_under_its_id_loses_its_objects(
    offload_adapter: DynamoDBAdapter,
) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"id": "conversation-1", "status": "active"})
    add_big(adapter, session.id)
    past = int(time.time()) - 10
    adapter.models.client.update_item(
        TableName=adapter.config.table_name,
        Key=SessionMeta.key(session.id),
        UpdateExpression="SET expiresAt = :past, #ttl = :past",
        ExpressionAttributeNames={"#ttl": "ttl"},
        ExpressionAttributeValues={":past": {"N": str(past)}},
    )
    time.sleep(0.005)
    adapter.create_session({"id": "conversation-1", "status": "active"})
    assert bucket_keys(adapter) == set()
    newer = add_big(adapter, session.id, count=1)
    assert adapter.get_messages(session.id) == newer
    assert_consistent(adapter, session.id)


# --- update_message -------------------------------------------------------------------


def test_update_message_replaces_payloads_without_leaks(offload_adapter: DynamoDBAdapter) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    message = adapter.add_message(
        session.id, {"role": "user", "content": "small", "token_count": 1}
    )

    def check(updated: Message, offloaded: bool) -> None:
        assert adapter.get_messages(session.id) == [updated]
        (item,) = raw_messages(adapter, session.id)
        assert (POINTER_ATTRIBUTE in item) == offloaded
        assert_consistent(adapter, session.id)
        assert len(bucket_keys(adapter)) == (1 if offloaded else 0)

    content = big()
    updated = adapter.update_message(session.id, message.id, {"content": content})
    assert updated.content == content
    check(updated, offloaded=True)
    before = bucket_keys(adapter)
    content = big()
    updated = adapter.update_message(session.id, message.id, {"content": content})
    assert updated.content == content
    check(updated, offloaded=True)
    assert bucket_keys(adapter) != before  # a new key each write
    # Changes that leave the payload where it is keep its object.
    before = bucket_keys(adapter)
    updated = adapter.update_message(session.id, message.id, {"role": "tool", "sequence": 3})
    assert (updated.role.value, updated.sequence, updated.content) == ("tool", 3, content)
    check(updated, offloaded=True)
    updated = adapter.update_message(session.id, message.id, {"token_count": 40})
    assert (updated.token_count, updated.content) == (40, content)
    check(updated, offloaded=True)
    assert bucket_keys(adapter) == before
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert stored.token_count == 40
    # Metadata beside offloaded content; large metadata too.
    updated = adapter.update_message(
        session.id, message.id, {"metadata": {"annotations": {"a": 1}}}
    )
    assert updated.metadata is not None
    assert updated.content == content
    check(updated, offloaded=True)
    updated = adapter.update_message(
        session.id,
        message.id,
        {"content": "short again", "token_count": 2, "metadata": {"annotations": {"x": big()}}},
    )
    assert updated.content == "short again"
    check(updated, offloaded=True)
    updated = adapter.update_message(session.id, message.id, {"metadata": None})
    assert updated.metadata is None
    assert updated.content == "short again"
    check(updated, offloaded=False)
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert stored.token_count == 2


def test_an_inline_update_that_leaves_the_item_large_is_offloaded(
    offload_adapter: DynamoDBAdapter,
) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    message = adapter.add_message(session.id, {"role": "user", "content": "x" * 200 * KB})
    updated = adapter.update_message(
        session.id, message.id, {"metadata": {"annotations": {"log": "y" * 200 * KB}}}
    )
    assert adapter.get_messages(session.id) == [updated]
    (item,) = raw_messages(adapter, session.id)
    assert POINTER_ATTRIBUTE in item
    assert_consistent(adapter, session.id)


# --- faults on S3 -----------------------------------------------------------------------


def test_a_lost_put_object_response_loses_nothing(offload_adapter: DynamoDBAdapter) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    plan = FaultPlan(lose_response("PutObject", then=s3_faults.INTERNAL_ERROR))
    with inject(store_of(adapter).client, plan) as injector:
        added = adapter.add_message(session.id, {"role": "user", "content": big()})
    injector.assert_exhausted()
    assert adapter.get_messages(session.id) == [added]
    assert_consistent(adapter, session.id)
    assert len(bucket_keys(adapter)) == 1


def test_a_lost_update_response_leaves_no_dangling_pointer(
    offload_adapter: DynamoDBAdapter,
) -> None:
    """botocore retries an UpdateItem whose response was lost; its pointer condition then
    fails on our own write, which must be recognised, not undone by deleting the object."""
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    message = adapter.add_message(session.id, {"role": "user", "content": big()})
    content = big()
    with inject(adapter, FaultPlan(lose_response("UpdateItem", then=INTERNAL_ERROR))) as injector:
        updated = adapter.update_message(session.id, message.id, {"content": content})
    injector.assert_exhausted()
    assert updated.content == content
    assert adapter.get_messages(session.id) == [updated]
    assert_consistent(adapter, session.id)
    assert len(bucket_keys(adapter)) == 1


def test_a_refused_put_object_writes_no_item(offload_adapter: DynamoDBAdapter) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    plan = FaultPlan(fail("PutObject", with_=s3_faults.ACCESS_DENIED))
    with inject(store_of(adapter).client, plan), pytest.raises(StorageError, match="denied"):
        adapter.add_message(session.id, {"role": "user", "content": big()})
    assert raw_messages(adapter, session.id) == []
    assert bucket_keys(adapter) == set()
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert (stored.message_count, stored.version) == (0, 1)


def test_objects_of_a_cancelled_append_are_removed(offload_adapter: DynamoDBAdapter) -> None:
    adapter = offload_adapter
    with pytest.raises(SessionNotFoundError):
        adapter.add_message("no-such-session", {"role": "user", "content": big()})
    assert bucket_keys(adapter) == set()


def test_a_failed_delete_leaves_an_orphan_that_gc_removes(
    offload_adapter: DynamoDBAdapter,
) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    first, second, _ = add_big(adapter, session.id)
    denied = FaultPlan(
        fail("DeleteObject", with_=s3_faults.ACCESS_DENIED, times=None),
        fail("DeleteObjects", with_=s3_faults.DELETE_OBJECTS_REFUSED, times=None),
    )
    with inject(store_of(adapter).client, denied) as injector:
        adapter.delete_message(session.id, first.id)  # the call succeeds: the item is gone
        assert adapter.pop_message(session.id) is not None
        assert adapter.pop_message(session.id) == second
    assert injector.fired("DeleteObject") == 2
    assert raw_messages(adapter, session.id) == []
    assert len(bucket_keys(adapter)) == 2  # orphans, no dangling pointer
    assert adapter.collect_orphans() == OrphanReport(0, 0, 0)  # younger than the grace period
    assert adapter.collect_orphans(timedelta(0)) == OrphanReport(2, 2, 0)
    assert bucket_keys(adapter) == set()


def test_gc_reports_objects_s3_refused_to_delete(offload_adapter: DynamoDBAdapter) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    add_big(adapter, session.id)
    store_of(adapter).put(f"{adapter.offload.prefix}s/m/01JABCDEFGHJKMNPQRSTVWXYZ0.json", b"{}")  # type: ignore[union-attr]
    refused = FaultPlan(fail("DeleteObjects", with_=s3_faults.DELETE_OBJECTS_REFUSED))
    with inject(store_of(adapter).client, refused):
        assert adapter.collect_orphans(timedelta(0)) == OrphanReport(3, 0, 1)
    assert adapter.collect_orphans(timedelta(0)) == OrphanReport(3, 1, 0)
    assert_consistent(adapter, session.id)


# --- the async adapter ------------------------------------------------------------------


def test_the_async_adapter_offloads_too(table_config: TableConfig, offload: S3Offload) -> None:
    async def scenario() -> None:
        async with AsyncDynamoDBAdapter(
            table_config.table_name,
            region=table_config.region,
            endpoint_url=table_config.endpoint_url,
            offload=offload,
        ) as adapter:
            assert adapter.offload == offload
            await adapter.create_table()
            session = await adapter.create_session({"status": "active"})
            content = big(2 * MB)
            added = await adapter.add_message(session.id, {"role": "user", "content": content})
            assert added.content == content
            assert await adapter.get_messages(session.id) == [added]
            assert [m async for m in adapter.iter_messages(session.id)] == [added]
            with count_s3(adapter.sync) as s3:
                assert await adapter.pop_message(session.id) == added
            assert s3.operations == ["GetObject", "DeleteObject"]
            assert await adapter.collect_orphans(timedelta(0)) == OrphanReport(0, 0, 0)

    asyncio.run(scenario())


def test_racing_updates_of_one_offloaded_message_leave_one_object(
    offload_adapter: DynamoDBAdapter,
) -> None:
    """Writers replacing the same payload at once: each object written is either the one
    the item points to at the end or removed; the message reads as one of the writes."""
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    message = adapter.add_message(session.id, {"role": "user", "content": big(), "token_count": 1})
    written: list[str] = []

    def writer(number: int) -> None:
        for round_ in range(3):
            content = f"{number}-{round_}:" + big(400 * KB)
            written.append(content)
            tokens = {"token_count": number + round_} if number % 2 else {}
            adapter.update_message(session.id, message.id, {"content": content, **tokens})

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (final,) = adapter.get_messages(session.id)
    assert final.content in written
    assert_consistent(adapter, session.id)
    assert len(bucket_keys(adapter)) == 1
    stored = adapter.get_session(session.id)
    assert stored is not None
    assert stored.token_count == (final.token_count or 0)


def test_orm_writes_keep_the_pointer_and_gc_covers_orm_deletes(
    offload_adapter: DynamoDBAdapter,
) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    added = adapter.add_message(session.id, {"role": "user", "content": big()})
    (item,) = adapter.models.Message.query(f"SESSION#{session.id}")
    assert item.payload_ref is not None
    assert isinstance(item.content, str)
    assert item.content.endswith(")]")  # the preview and its marker
    item.role = "tool"
    item.save()
    (read,) = adapter.get_messages(session.id)
    assert (read.role.value, read.content) == ("tool", added.content)
    assert_consistent(adapter, session.id)
    item.delete()  # through the ORM: the object is left to collect_orphans
    assert raw_messages(adapter, session.id) == []
    assert adapter.collect_orphans(timedelta(0)) == OrphanReport(1, 1, 0)
    assert bucket_keys(adapter) == set()
