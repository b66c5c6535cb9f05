"""Migrations and recounting, on every backend.

Covers a fresh table, a second run that changes nothing, adopting a table
made the way the TypeScript adapter makes it (only PK/SK, no GSIs, no TTL,
items without version or counters), and ``recount_session`` against drifted
counters and racing writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from session_store import counters, domain, keys, migrations
from session_store.counters import MessageTotals, recount_session
from session_store.errors import StorageError
from session_store.gateway import Gateway
from session_store.migrations import Migration, applied, migrate, pending
from session_store.table import BoundModels, TableConfig, bind_models, ttl_enabled
from session_store.testing.backends import Backend
from tests.reference_items import MESSAGES, SESSIONS

ALL = ["0001_create_table", "0002_backfill_counters"]


def scan_all(bound: BoundModels) -> list[dict[str, Any]]:
    """Every item of the table, in key order (strongly consistent, all pages)."""
    request: dict[str, Any] = {"TableName": bound.config.table_name, "ConsistentRead": True}
    items: list[dict[str, Any]] = []
    while True:
        page = bound.client.scan(**request)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda item: (item["PK"]["S"], item["SK"]["S"]))
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def raw_session(bound: BoundModels, session_id: str) -> dict[str, Any]:
    item: dict[str, Any] = bound.client.get_item(
        TableName=bound.config.table_name,
        Key={"PK": {"S": keys.session_pk(session_id)}, "SK": {"S": keys.META_SK}},
        ConsistentRead=True,
    )["Item"]
    return item


def put_message(bound: BoundModels, session_id: str, n: int, tokens: int | None) -> dict[str, Any]:
    """A message item written by hand, as the TypeScript adapter writes one (no counters moved)."""
    created = f"2026-11-24T13:13:{n:02d}.000Z"
    message_id = f"{1795526000000 + n:015d}-000000-{n:08d}-0000-4000-8000-000000000000"
    item: dict[str, Any] = {
        "PK": {"S": keys.session_pk(session_id)},
        "SK": {"S": f"MSG#{created}#{message_id}"},
        "id": {"S": message_id},
        "sessionId": {"S": session_id},
        "role": {"S": "user"},
        "content": {"S": f"message {n}"},
        "createdAt": {"S": created},
    }
    if tokens is not None:
        item["tokenCount"] = {"N": str(tokens)}
    bound.client.put_item(TableName=bound.config.table_name, Item=item)
    return item


def new_session(bound: BoundModels, session_id: str, **fields: Any) -> None:
    """A session item as this package writes one (version 1, counters 0)."""
    now = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    session = domain.Session.model_validate(
        {
            "id": session_id,
            "status": "active",
            "user_id": "user-1",
            "created_at": now,
            "last_activity_at": now,
            "schema_version": 1,
            "version": 1,
            "token_count": 0,
            "message_count": 0,
            **fields,
        }
    )
    item = bound.SessionMeta.from_domain(session).serialize()
    bound.client.put_item(TableName=bound.config.table_name, Item=item)


def create_keys_only_table(name: str, backend: Backend) -> Any:
    """A table made the way the TypeScript adapter's docs make it: keys only, no GSIs, no TTL."""
    client = boto3.client("dynamodb", region_name=backend.region, endpoint_url=backend.endpoint_url)
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
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    return client


@pytest.fixture
def unbound_table(table_config: TableConfig) -> Iterator[BoundModels]:
    """Models bound to a table name that does not exist yet."""
    models = bind_models(table_config)
    yield models
    models.close()


# --- migrate ----------------------------------------------------------------------------


def test_fresh_table_applies_and_records_both(unbound_table: BoundModels) -> None:
    bound = unbound_table
    assert applied(bound) == {}
    assert [m.name for m in pending(bound)] == ALL

    assert migrate(bound) == ALL

    table = bound.client.describe_table(TableName=bound.config.table_name)["Table"]
    assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {"GSI1", "GSI2"}
    assert ttl_enabled(bound.gateway)
    recorded = applied(bound)
    assert list(recorded) == ALL
    assert all(when.tzinfo is not None for when in recorded.values())
    assert pending(bound) == []
    first = bound.MigrationRecord.get(keys.MIGRATIONS_PK, keys.migration_sk(ALL[0]))
    assert first.name == ALL[0]
    assert first.detail["indexes"] == ["GSI1", "GSI2"]
    second = bound.MigrationRecord.get(keys.MIGRATIONS_PK, keys.migration_sk(ALL[1]))
    assert second.detail == {"sessionsRecounted": 0, "sessionsGone": 0}


def test_second_migrate_applies_nothing_and_changes_no_item(bound: BoundModels) -> None:
    for entry in SESSIONS + MESSAGES:
        bound.client.put_item(TableName=bound.config.table_name, Item=entry["item"])
    new_session(bound, "python-session")
    assert migrate(bound) == ALL
    before = scan_all(bound)

    assert migrate(bound) == []

    assert scan_all(bound) == before
    assert pending(bound) == []


def test_adopts_a_table_made_by_the_typescript_adapter(
    unbound_table: BoundModels, backend: Backend
) -> None:
    bound = unbound_table
    name = bound.config.table_name
    client = create_keys_only_table(name, backend)
    for entry in SESSIONS + MESSAGES:
        client.put_item(TableName=name, Item=entry["item"])
    stored_before = {keys.parse_session_pk(e["item"]["PK"]["S"]): e["item"] for e in SESSIONS}
    expected_counts: dict[str, tuple[int, int]] = dict.fromkeys(stored_before, (0, 0))
    for entry in MESSAGES:
        sid = keys.parse_session_pk(entry["item"]["PK"]["S"])
        messages, tokens = expected_counts[sid]
        token_count = int(entry["item"].get("tokenCount", {"N": "0"})["N"])
        expected_counts[sid] = (messages + 1, tokens + token_count)
    assert expected_counts["8d3d3e16-2e44-4187-82ab-3f2947db83bb"] == (6, 26)
    assert not ttl_enabled(bound.gateway)

    assert migrate(bound) == ALL

    table = bound.client.describe_table(TableName=name)["Table"]
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"GSI1", "GSI2"}
    assert all(index["IndexStatus"] == "ACTIVE" for index in indexes.values())
    assert ttl_enabled(bound.gateway)
    by_user = list(bound.SessionMeta.user_index.query("USER#user-42"))
    assert [item.id for item in by_user] == ["8d3d3e16-2e44-4187-82ab-3f2947db83bb"]
    by_agent = list(bound.SessionMeta.agent_index.query("AGENT#billing-agent"))
    assert [item.to_domain().status for item in by_agent] == ["paused"]

    for session_id, before in stored_before.items():
        after = raw_session(bound, session_id)
        messages, tokens = expected_counts[session_id]
        # A missing version reads as 0; a recount that corrects the counters adds 1 to it.
        corrected = (
            (
                int(before.get("messageCount", {"N": "0"})["N"]),
                int(before.get("tokenCount", {"N": "0"})["N"]),
            )
            != (messages, tokens)
            or "messageCount" not in before
            or "tokenCount" not in before
        )
        expected_version = int(before.get("version", {"N": "0"})["N"]) + int(corrected)
        assert after.get("version") == {"N": str(expected_version)}
        assert after["messageCount"] == {"N": str(messages)}
        assert after["tokenCount"] == {"N": str(tokens)}
        # Nothing else on the item changed.
        untouched = {
            k: v for k, v in after.items() if k not in ("version", "messageCount", "tokenCount")
        }
        assert untouched == {
            k: v for k, v in before.items() if k not in ("version", "messageCount", "tokenCount")
        }
        session = bound.SessionMeta.get(keys.session_pk(session_id), keys.META_SK).to_domain()
        assert (session.message_count, session.token_count) == (messages, tokens)
    versions = {sid: raw_session(bound, sid)["version"]["N"] for sid in stored_before}
    assert sorted(versions.values()) == ["1", "3", "6"]  # each corrected once
    record = bound.MigrationRecord.get(keys.MIGRATIONS_PK, keys.migration_sk(ALL[1]))
    assert record.detail == {"sessionsRecounted": 3, "sessionsGone": 0}


def test_a_failing_migration_stops_the_run_and_stays_pending(bound: BoundModels) -> None:
    calls: list[str] = []

    def ok(_: BoundModels) -> dict[str, object]:
        calls.append("ok")
        return {"done": True}

    def boom(_: BoundModels) -> None:
        calls.append("boom")
        raise RuntimeError("boom")

    here = Path(__file__)
    plan = [
        Migration(1, "0001_ok", "works", ok, here),
        Migration(2, "0002_boom", "fails", boom, here),
        Migration(3, "0003_after", "never reached", ok, here),
    ]
    with pytest.raises(RuntimeError, match="boom"):
        migrate(bound, plan)
    assert list(applied(bound)) == ["0001_ok"]
    assert [m.name for m in pending(bound, plan)] == ["0002_boom", "0003_after"]
    assert calls == ["ok", "boom"]
    record = bound.MigrationRecord.get(keys.MIGRATIONS_PK, keys.migration_sk("0001_ok"))
    assert record.detail == {"done": True}


def test_migrate_repairs_a_recorded_table_without_indexes_or_ttl(
    unbound_table: BoundModels, backend: Backend
) -> None:
    # Like a table restored from a backup: the records came back, TTL and GSIs did not.
    bound = unbound_table
    create_keys_only_table(bound.config.table_name, backend)
    for name in ALL:
        bound.MigrationRecord(
            keys.MIGRATIONS_PK, keys.migration_sk(name), name=name, applied_at=datetime.now(UTC)
        ).save()

    assert migrate(bound) == []

    table = bound.client.describe_table(TableName=bound.config.table_name)["Table"]
    assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {"GSI1", "GSI2"}
    assert ttl_enabled(bound.gateway)
    assert migrations.ensure_table(bound) == []


# --- recount ----------------------------------------------------------------------------


def test_recount_fixes_drifted_counters(bound: BoundModels) -> None:
    new_session(bound, "s1")
    other = [put_message(bound, "s2", n, 100) for n in range(2)]  # another session's messages
    assert other
    written = [put_message(bound, "s1", n, tokens) for n, tokens in enumerate([3, None, 5, 7])]

    result = recount_session(bound.gateway, "s1")

    assert result is not None
    # A correcting recount is a write of the session item: version goes up by one.
    assert (result.message_count, result.token_count, result.version) == (4, 15, 2)
    assert raw_session(bound, "s1")["messageCount"] == {"N": "4"}

    bound.client.delete_item(
        TableName=bound.config.table_name, Key={"PK": written[2]["PK"], "SK": written[2]["SK"]}
    )
    put_message(bound, "s1", 30, 11)
    result = recount_session(bound.gateway, "s1")
    assert result is not None
    assert (result.message_count, result.token_count, result.version) == (4, 21, 3)
    stored = raw_session(bound, "s1")
    assert (stored["messageCount"], stored["tokenCount"]) == ({"N": "4"}, {"N": "21"})


def test_recount_reads_every_page(bound: BoundModels, monkeypatch: pytest.MonkeyPatch) -> None:
    new_session(bound, "paged")
    for n in range(7):
        put_message(bound, "paged", n, n)
    query = bound.client.query
    pages: list[int] = []

    def small_pages(**request: Any) -> Any:
        page = query(**request, Limit=2)
        pages.append(len(page.get("Items", [])))
        return page

    monkeypatch.setattr(bound.client, "query", small_pages)
    result = recount_session(bound.gateway, "paged")
    assert result is not None
    assert (result.message_count, result.token_count) == (7, 21)
    assert len(pages) >= 4


def test_recount_gives_a_version_only_where_missing(bound: BoundModels) -> None:
    new_session(bound, "has-version")
    bound.client.put_item(
        TableName=bound.config.table_name,
        Item={
            "PK": {"S": "SESSION#no-version"},
            "SK": {"S": "META"},
            "status": {"S": "active"},
            "createdAt": {"S": "2026-11-24T13:00:00.000Z"},
        },
    )
    put_message(bound, "no-version", 1, 4)
    assert recount_session(bound.gateway, "has-version") is not None
    result = recount_session(bound.gateway, "no-version")
    assert result is not None
    # No version read as 0; the correcting write makes it 1.
    assert (result.version, result.message_count, result.token_count) == (1, 1, 4)
    assert raw_session(bound, "has-version")["version"] == {"N": "1"}


def test_recount_of_a_missing_session_returns_none(bound: BoundModels) -> None:
    put_message(bound, "ghost", 1, 5)  # messages without a session item
    assert recount_session(bound.gateway, "ghost") is None
    assert recount_session(bound.gateway, "never-existed") is None
    assert len(scan_all(bound)) == 1  # no partial session item was created


def _append(bound: BoundModels, session_id: str, n: int, tokens: int) -> dict[str, Any]:
    """What the adapter's append does: the message, and the counters moved with it."""
    item = put_message(bound, session_id, n, tokens)
    bound.client.update_item(
        TableName=bound.config.table_name,
        Key={"PK": {"S": keys.session_pk(session_id)}, "SK": {"S": keys.META_SK}},
        UpdateExpression="ADD #mc :one, #tc :tokens SET #la = :now",
        ExpressionAttributeNames={
            "#mc": "messageCount",
            "#tc": "tokenCount",
            "#la": "lastActivityAt",
        },
        ExpressionAttributeValues={
            ":one": {"N": "1"},
            ":tokens": {"N": str(tokens)},
            ":now": {"S": f"2026-11-24T14:00:{n:02d}.000Z"},
        },
    )
    return item


def test_recount_retries_when_an_append_races_it(
    bound: BoundModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_session(bound, "busy")
    put_message(bound, "busy", 1, 2)
    real_count = counters.count_messages
    calls: list[MessageTotals] = []

    def count_then_append(models: Gateway, session_id: str) -> MessageTotals:
        totals = real_count(models, session_id)
        calls.append(totals)
        if len(calls) == 1:
            _append(bound, session_id, 40, 10)  # lands after the count, before the write
        return totals

    monkeypatch.setattr(counters, "count_messages", count_then_append)
    result = recount_session(bound.gateway, "busy")
    assert result is not None
    assert (result.message_count, result.token_count) == (2, 12)
    assert calls == [MessageTotals(1, 2), MessageTotals(2, 12)]


def test_recount_is_not_fooled_by_an_append_and_a_delete_that_cancel_out(
    bound: BoundModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_session(bound, "aba")
    put_message(bound, "aba", 1, 2)
    real_count = counters.count_messages
    calls: list[MessageTotals] = []

    def append_count_delete(models: Gateway, session_id: str) -> MessageTotals:
        item = _append(bound, session_id, 41, 3) if not calls else None  # counted below ...
        totals = real_count(models, session_id)
        if item is not None:  # ... then deleted: the counters are back where they were read
            models.client.delete_item(
                TableName=models.table_name, Key={"PK": item["PK"], "SK": item["SK"]}
            )
            models.client.update_item(
                TableName=models.table_name,
                Key={"PK": {"S": keys.session_pk(session_id)}, "SK": {"S": keys.META_SK}},
                UpdateExpression="ADD #mc :minus_one, #tc :minus",
                ExpressionAttributeNames={"#mc": "messageCount", "#tc": "tokenCount"},
                ExpressionAttributeValues={":minus_one": {"N": "-1"}, ":minus": {"N": "-3"}},
            )
        calls.append(totals)
        return totals

    monkeypatch.setattr(counters, "count_messages", append_count_delete)
    result = recount_session(bound.gateway, "aba")
    assert result is not None
    assert (result.message_count, result.token_count) == (1, 2)
    assert len(calls) == 2


def test_recount_gives_up_when_counters_keep_moving(
    bound: BoundModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_session(bound, "hot")
    put_message(bound, "hot", 0, 1)  # drifted: a write is needed, and keeps failing
    real_count = counters.count_messages
    appended: list[int] = []

    def always_append(models: Gateway, session_id: str) -> MessageTotals:
        totals = real_count(models, session_id)
        appended.append(1)
        _append(bound, session_id, len(appended), 1)
        return totals

    monkeypatch.setattr(counters, "count_messages", always_append)
    with pytest.raises(StorageError, match="3 attempts"):
        recount_session(bound.gateway, "hot", max_attempts=3)
    assert len(appended) == 3


def test_recount_returns_none_when_the_session_is_deleted_meanwhile(
    bound: BoundModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_session(bound, "doomed")
    put_message(bound, "doomed", 1, 1)
    real_count = counters.count_messages

    def count_then_delete(models: Gateway, session_id: str) -> MessageTotals:
        totals = real_count(models, session_id)
        models.client.delete_item(
            TableName=models.table_name,
            Key={"PK": {"S": keys.session_pk(session_id)}, "SK": {"S": keys.META_SK}},
        )
        return totals

    monkeypatch.setattr(counters, "count_messages", count_then_delete)
    assert recount_session(bound.gateway, "doomed") is None
    with pytest.raises(KeyError):
        raw_session(bound, "doomed")


def test_recount_wraps_dynamodb_failures(unbound_table: BoundModels) -> None:
    with pytest.raises(StorageError) as caught:
        recount_session(unbound_table.gateway, "s1")  # the table does not exist
    assert caught.value.__cause__ is not None


def test_recount_of_exact_counters_writes_nothing(
    bound: BoundModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_session(bound, "exact")
    _append(bound, "exact", 1, 9)

    def no_writes(**_: Any) -> Any:
        raise AssertionError("recount wrote to a session whose counters were exact")

    monkeypatch.setattr(bound.client, "update_item", no_writes)
    result = recount_session(bound.gateway, "exact")
    assert result is not None
    assert (result.message_count, result.token_count, result.version) == (1, 9, 1)


def test_dynamodb_failures_inside_a_migration_become_storage_errors(bound: BoundModels) -> None:
    def broken(models: BoundModels) -> None:
        models.gateway.get({"PK": {"S": "x"}})  # no sort key: DynamoDB refuses the request

    plan = [Migration(1, "0001_broken", "reads a missing table", broken, Path(__file__))]
    with pytest.raises(StorageError, match="0001_broken") as caught:
        migrate(bound, plan)
    assert caught.value.__cause__ is not None
    assert applied(bound) == {}
