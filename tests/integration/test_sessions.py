"""Session methods of DynamoDBAdapter, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from session_store import (
    ConcurrencyError,
    DynamoDBAdapter,
    NewSession,
    SessionExistsError,
    SessionNotFoundError,
    SessionStatus,
    StorageError,
    ValidationError,
)
from session_store.testing.requests import count_requests
from session_store.testing.strategies import new_sessions


def raw_item(adapter: DynamoDBAdapter, session_id: str) -> dict[str, Any]:
    item = adapter.models.client.get_item(
        TableName=adapter.config.table_name,
        Key={"PK": {"S": f"SESSION#{session_id}"}, "SK": {"S": "META"}},
        ConsistentRead=True,
    ).get("Item")
    assert item is not None
    return dict(item)


@pytest.mark.backends("moto")
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(new=new_sessions())
def test_create_session_returns_what_a_read_gives_back(
    adapter: DynamoDBAdapter, new: NewSession
) -> None:
    """Returned without reading the item back: it must equal the stored item, decoded."""
    created = adapter.create_session(new.model_copy(update={"id": None}))
    stored = adapter.models.SessionMeta.get(f"SESSION#{created.id}", "META", consistent_read=True)
    assert stored.to_domain() == created


def test_create_then_get_returns_the_same_session(adapter: DynamoDBAdapter) -> None:
    with count_requests(adapter) as log:
        created = adapter.create_session(
            {
                "status": "active",
                "userId": "u-1",
                "active_agent_id": "agent-a",
                "metadata": {"title": "Billing", "tags": ["billing"]},
            }
        )
    assert log.operations == ["PutItem"]
    assert created.version == 1
    assert created.message_count == created.token_count == 0
    assert created.created_at == created.last_activity_at
    with count_requests(adapter) as log:
        assert adapter.get_session(created.id) == created
    assert log.operations == ["GetItem"]
    item = raw_item(adapter, created.id)
    assert item["GSI1PK"] == {"S": "USER#u-1"}
    assert item["GSI2PK"] == {"S": "AGENT#agent-a"}
    assert item["GSI2SK"] == {"S": "STATUS#active"}


def test_create_never_overwrites(adapter: DynamoDBAdapter) -> None:
    adapter.create_session({"id": "fixed", "status": "active", "metadata": {"title": "first"}})
    with pytest.raises(SessionExistsError) as raised:
        adapter.create_session({"id": "fixed", "status": "paused"})
    assert raised.value.code == "SESSION_EXISTS"
    stored = adapter.get_session("fixed")
    assert stored is not None
    assert stored.metadata.title == "first"


def test_get_missing_session_is_none(adapter: DynamoDBAdapter) -> None:
    assert adapter.get_session("missing") is None


def test_update_increments_version_and_keeps_gsi_keys_in_step(adapter: DynamoDBAdapter) -> None:
    created = adapter.create_session({"status": "active", "user_id": "u", "active_agent_id": "a1"})
    with count_requests(adapter) as log:
        updated = adapter.update_session(
            created.id, {"status": "paused", "activeAgentId": "a2", "user_id": None}
        )
    assert log.operations == ["UpdateItem"]
    assert updated.version == 2
    assert updated.status is SessionStatus.PAUSED
    assert updated.user_id is None
    assert updated.active_agent_id == "a2"
    assert updated.last_activity_at >= created.last_activity_at
    assert adapter.get_session(created.id) == updated
    item = raw_item(adapter, created.id)
    assert "GSI1PK" not in item
    assert "userId" not in item
    assert item["GSI2PK"] == {"S": "AGENT#a2"}
    assert item["GSI2SK"] == {"S": "STATUS#paused"}
    assert item["GSI1SK"] == {"S": f"CREATED_AT#{item['createdAt']['S']}"}


def test_expected_version_conflict_reports_actual_version(adapter: DynamoDBAdapter) -> None:
    created = adapter.create_session({"status": "active"})
    adapter.update_session(created.id, {"status": "paused"}, expected_version=1)
    with count_requests(adapter) as log, pytest.raises(ConcurrencyError) as raised:
        adapter.update_session(created.id, {"status": "active"}, expected_version=1)
    assert log.total == 1
    assert (raised.value.expected_version, raised.value.actual_version) == (1, 2)
    assert raised.value.session_id == created.id
    stored = adapter.get_session(created.id)
    assert stored is not None
    assert stored.status is SessionStatus.PAUSED


def test_expected_version_zero_matches_a_session_without_version(adapter: DynamoDBAdapter) -> None:
    created = adapter.create_session({"status": "active"})
    adapter.models.client.update_item(
        TableName=adapter.config.table_name,
        Key={"PK": {"S": f"SESSION#{created.id}"}, "SK": {"S": "META"}},
        UpdateExpression="REMOVE #v",
        ExpressionAttributeNames={"#v": "version"},
    )
    assert adapter.get_session(created.id).version == 0  # type: ignore[union-attr]
    updated = adapter.update_session(created.id, {"status": "completed"}, expected_version=0)
    assert updated.version == 1


def test_update_never_creates(adapter: DynamoDBAdapter) -> None:
    with pytest.raises(SessionNotFoundError):
        adapter.update_session("ghost", {"status": "paused"})
    assert adapter.models.client.scan(TableName=adapter.config.table_name)["Items"] == []


@pytest.mark.parametrize(
    "field", ["id", "created_at", "createdAt", "version", "token_count", "message_count"]
)
def test_update_refuses_store_owned_fields(adapter: DynamoDBAdapter, field: str) -> None:
    created = adapter.create_session({"status": "active"})
    with count_requests(adapter) as log, pytest.raises(ValidationError, match=field):
        adapter.update_session(created.id, {field: 3})
    assert log.total == 0


def test_session_ttl_sets_and_slides_expiry(table_config: object, adapter: DynamoDBAdapter) -> None:
    clock = [datetime(2030, 1, 1, tzinfo=UTC)]
    ttl_adapter = DynamoDBAdapter(
        adapter.config.table_name,
        region=adapter.config.region,
        endpoint_url=adapter.config.endpoint_url,
        session_ttl=timedelta(hours=1),
        clock=lambda: clock[0],
    )
    created = ttl_adapter.create_session({"status": "active"})
    assert created.expires_at == datetime(2030, 1, 1, 1, tzinfo=UTC)
    item = raw_item(adapter, created.id)
    assert item["ttl"] == item["expiresAt"] == {"N": str(int(created.expires_at.timestamp()))}
    clock[0] += timedelta(minutes=30)
    updated = ttl_adapter.update_session(created.id, {"metadata": {"title": "t"}})
    assert updated.expires_at == datetime(2030, 1, 1, 1, 30, tzinfo=UTC)
    ttl_adapter.add_message(created.id, {"role": "user", "content": "hi"})
    clock[0] += timedelta(hours=2)
    assert ttl_adapter.get_session(created.id) is None
    with pytest.raises(SessionNotFoundError):
        ttl_adapter.update_session(created.id, {"status": "paused"})
    with pytest.raises(SessionNotFoundError):
        ttl_adapter.add_message(created.id, {"role": "user", "content": "late"})
    ttl_adapter.close()


def test_delete_session_removes_every_message(adapter: DynamoDBAdapter) -> None:
    created = adapter.create_session({"status": "active"})
    other = adapter.create_session({"status": "active"})
    adapter.add_message(other.id, {"role": "user", "content": "keep me"})
    for index in range(60):
        adapter.add_message(created.id, {"role": "user", "content": f"m{index}"})
    with count_requests(adapter) as log:
        adapter.delete_session(created.id)
    counts = log.by_operation()
    assert counts["BatchWriteItem"] == 3  # ceil(60 / 25)
    assert counts["DeleteItem"] == 1
    assert counts["Query"] >= 1
    assert adapter.get_session(created.id) is None
    assert adapter.get_messages(created.id) == []
    assert [m.content for m in adapter.get_messages(other.id)] == ["keep me"]
    adapter.delete_session(created.id)  # idempotent


def test_delete_session_finishes_after_a_crash(adapter: DynamoDBAdapter) -> None:
    created = adapter.create_session({"status": "active"})
    for index in range(5):
        adapter.add_message(created.id, {"role": "user", "content": f"m{index}"})
    # A crash right after the session item went: its messages are still there.
    adapter.models.client.delete_item(
        TableName=adapter.config.table_name,
        Key={"PK": {"S": f"SESSION#{created.id}"}, "SK": {"S": "META"}},
    )
    adapter.delete_session(created.id)
    assert adapter.models.client.scan(TableName=adapter.config.table_name)["Items"] == []


def test_health_is_healthy_for_a_created_table(adapter: DynamoDBAdapter) -> None:
    status = adapter.health()
    assert status.status == "healthy"
    assert status.latency_ms is not None
    assert status.latency_ms >= 0


def test_health_is_unhealthy_for_a_missing_table(adapter: DynamoDBAdapter) -> None:
    missing = DynamoDBAdapter(
        "no-such-table-here", region=adapter.config.region, endpoint_url=adapter.config.endpoint_url
    )
    assert missing.health().status == "unhealthy"
    missing.close()


def test_health_is_degraded_without_an_index(
    table_config: object, adapter: DynamoDBAdapter
) -> None:
    client = adapter.models.client
    name = adapter.config.table_name + "-bare"
    client.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        bare = DynamoDBAdapter(
            name, region=adapter.config.region, endpoint_url=adapter.config.endpoint_url
        )
        status = bare.health()
        assert status.status == "degraded"
        assert status.details is not None
        assert "GSI1 missing" in status.details["problems"]
        bare.close()
    finally:
        client.delete_table(TableName=name)


def test_recount_fixes_drifted_counters(adapter: DynamoDBAdapter) -> None:
    created = adapter.create_session({"status": "active"})
    for tokens in (3, 4):
        adapter.add_message(created.id, {"role": "user", "content": "x", "token_count": tokens})
    adapter.models.client.update_item(
        TableName=adapter.config.table_name,
        Key={"PK": {"S": f"SESSION#{created.id}"}, "SK": {"S": "META"}},
        UpdateExpression="SET messageCount = :m, tokenCount = :t",
        ExpressionAttributeValues={":m": {"N": "40"}, ":t": {"N": "1"}},
    )
    fixed = adapter.recount(created.id)
    assert (fixed.message_count, fixed.token_count) == (2, 7)
    with pytest.raises(SessionNotFoundError):
        adapter.recount("ghost")


def test_update_keeps_null_values_under_unknown_metadata_keys(adapter: DynamoDBAdapter) -> None:
    created = adapter.create_session({"status": "active"})
    updated = adapter.update_session(created.id, {"metadata": {"title": "t", "archivedBy": None}})
    assert updated.metadata.model_extra == {"archivedBy": None}
    assert adapter.get_session(created.id) == updated


def test_health_of_a_closed_adapter_is_unhealthy(adapter: DynamoDBAdapter) -> None:
    closed = DynamoDBAdapter(
        adapter.config.table_name,
        region=adapter.config.region,
        endpoint_url=adapter.config.endpoint_url,
    )
    closed.close()
    assert closed.health().status == "unhealthy"


def test_close_sends_nothing_and_a_closed_adapter_refuses_requests(
    adapter: DynamoDBAdapter,
) -> None:
    session = adapter.create_session({"status": "active"})
    with DynamoDBAdapter(
        adapter.config.table_name,
        region=adapter.config.region,
        endpoint_url=adapter.config.endpoint_url,
    ) as other:
        assert other.get_session(session.id) == session
        with count_requests(other) as log:
            other.close()
            other.close()  # idempotent
        assert log.total == 0
        with pytest.raises(StorageError):
            other.get_session(session.id)
    assert adapter.get_session(session.id) == session  # the other adapter's table is untouched
