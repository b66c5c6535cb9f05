"""One session id, several lives: deleting or expiring one incarnation never touches the next.

Each incarnation's messages sort below the moment its item was seen gone or
expired (``planning.incarnation_end``), so whatever removes an old
incarnation's messages — ``delete_session``, ``sweep_expired``, the TTL
stream handler, ``create_session`` over an expired session — spares the
messages of a session re-created under the same id, however late it runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from session_store import DynamoDBAdapter, Message, Session, SessionExistsError
from session_store._time import utc_now
from session_store.dynamodb import _expiry, _sessions
from session_store.planning import delete_session_messages
from session_store.table import TableConfig
from session_store.testing.backends import Backend
from tests.assertions import assert_counters_exact
from tests.faults import FaultPlan, inject, lose_response
from tests.raw_items import put_uuid_message, remove_counters

SESSION_ID = "conversation-123"


@pytest.fixture
def other(adapter: DynamoDBAdapter, table_config: TableConfig) -> Iterator[DynamoDBAdapter]:
    """Another process's adapter on the same table (its own client)."""
    with DynamoDBAdapter(
        table_config.table_name, region=table_config.region, endpoint_url=table_config.endpoint_url
    ) as made:
        yield made


def session_key(session_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"SESSION#{session_id}"}, "SK": {"S": "META"}}


def remove_as_ttl_does(adapter: DynamoDBAdapter, session_id: str) -> int:
    """Let the session expire, then delete its item behind the adapter's back, as the TTL
    service does; when, in whole epoch seconds (as a stream record reports it)."""
    time.sleep(1 - time.time() % 1)  # into the next second: the expiry is whole seconds
    expire(adapter, session_id, ago=timedelta(0))
    adapter.models.client.delete_item(
        TableName=adapter.config.table_name, Key=session_key(session_id)
    )
    removed_at = int(time.time())
    time.sleep(0.005)  # the next incarnation's messages are stamped later
    return removed_at


def ttl_removal(session_id: str, removed_at: int) -> dict[str, Any]:
    """The stream event DynamoDB emits when its TTL service removed the session item."""
    return {
        "Records": [
            {
                "eventID": "1",
                "eventName": "REMOVE",
                "eventSource": "aws:dynamodb",
                "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
                "dynamodb": {
                    "ApproximateCreationDateTime": removed_at,
                    "Keys": session_key(session_id),
                    "StreamViewType": "KEYS_ONLY",
                    "SequenceNumber": "1",
                    "SizeBytes": 60,
                },
            }
        ]
    }


def new_life(adapter: DynamoDBAdapter) -> Message:
    """Re-create ``SESSION_ID`` and add one acknowledged message to it."""
    adapter.create_session({"id": SESSION_ID, "status": "active"})
    return adapter.add_message(SESSION_ID, {"role": "user", "content": "new", "token_count": 2})


# --- the TTL stream handler ------------------------------------------------------------


def test_a_late_stream_record_spares_the_next_incarnation(adapter: DynamoDBAdapter) -> None:
    adapter.create_session({"id": SESSION_ID, "status": "active"})
    adapter.add_message(SESSION_ID, {"role": "user", "content": "old", "token_count": 5})
    removed_at = remove_as_ttl_does(adapter, SESSION_ID)
    kept = new_life(adapter)
    # The record arrives after the re-creation, and once more later (streams deliver twice).
    assert adapter.handle_stream_event(ttl_removal(SESSION_ID, removed_at)) == 1
    assert adapter.get_messages(SESSION_ID) == [kept]
    assert adapter.handle_stream_event(ttl_removal(SESSION_ID, removed_at)) == 0
    assert adapter.get_messages(SESSION_ID) == [kept]
    stored = assert_counters_exact(adapter, SESSION_ID)
    assert (stored.message_count, stored.token_count) == (1, 2)


# --- delete_session and sweep_expired racing a re-creation ----------------------------


def recreating_first(
    monkeypatch: pytest.MonkeyPatch, module: Any, other: DynamoDBAdapter
) -> list[Message]:
    """Make ``module``'s message deletion re-create ``SESSION_ID`` (through ``other``) first:
    the re-creation lands between the old item's removal and the listing of its messages."""
    kept: list[Message] = []

    def racing(gateway: Any, session_id: str, **bounds: Any) -> int:
        if not kept:
            kept.append(new_life(other))
        return delete_session_messages(gateway, session_id, **bounds)

    monkeypatch.setattr(module, "delete_session_messages", racing)
    return kept


def test_delete_session_racing_a_re_creation_spares_the_new_message(
    adapter: DynamoDBAdapter, other: DynamoDBAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter.create_session({"id": SESSION_ID, "status": "active"})
    adapter.add_messages(SESSION_ID, [{"role": "user", "content": f"old {i}"} for i in range(3)])
    kept = recreating_first(monkeypatch, _sessions, other)
    adapter.delete_session(SESSION_ID)
    assert adapter.get_messages(SESSION_ID) == kept
    assert assert_counters_exact(adapter, SESSION_ID).message_count == 1


@pytest.mark.parametrize("expired_ago", [timedelta(seconds=2), timedelta(days=1)])
def test_sweep_expired_racing_a_re_creation_spares_the_new_message(
    adapter: DynamoDBAdapter,
    other: DynamoDBAdapter,
    monkeypatch: pytest.MonkeyPatch,
    expired_ago: timedelta,
) -> None:
    """Recently expired: item first, then messages; long expired: messages first."""
    adapter.create_session({"id": SESSION_ID, "status": "active"})
    adapter.add_messages(SESSION_ID, [{"role": "user", "content": f"old {i}"} for i in range(3)])
    expire(adapter, SESSION_ID, ago=expired_ago)
    kept = recreating_first(monkeypatch, _expiry, other)
    adapter.sweep_expired()
    assert adapter.get_messages(SESSION_ID) == kept
    assert assert_counters_exact(adapter, SESSION_ID).message_count == 1


def expire(adapter: DynamoDBAdapter, session_id: str, *, ago: timedelta) -> None:
    """Set the session's expiry ``ago`` in the past, as time passing would."""
    seconds = str(int((utc_now() - ago).timestamp()))
    adapter.models.client.update_item(
        TableName=adapter.config.table_name,
        Key=session_key(session_id),
        UpdateExpression="SET expiresAt = :s, #ttl = :s",
        ExpressionAttributeNames={"#ttl": "ttl"},
        ExpressionAttributeValues={":s": {"N": seconds}},
    )


# --- create_session --------------------------------------------------------------------


def test_an_expired_sessions_id_is_reused_at_once_with_nothing_of_the_old_life(
    adapter: DynamoDBAdapter,
) -> None:
    adapter.create_session({"id": SESSION_ID, "status": "active"})
    adapter.add_messages(SESSION_ID, [{"role": "user", "content": "old", "token_count": 4}] * 3)
    expire(adapter, SESSION_ID, ago=timedelta(seconds=1))
    created = adapter.create_session({"id": SESSION_ID, "status": "paused"})
    assert (created.message_count, created.token_count) == (0, 0)
    assert adapter.get_messages(SESSION_ID) == []
    added = adapter.add_message(SESSION_ID, {"role": "user", "content": "new", "token_count": 1})
    assert adapter.get_messages(SESSION_ID) == [added]
    stored = assert_counters_exact(adapter, SESSION_ID)
    assert (stored.status, stored.message_count, stored.token_count) == (created.status, 1, 1)


def create_race(adapters: list[DynamoDBAdapter], session_id: str) -> list[Session]:
    """``create_session`` of one id by every adapter, released together; the winners."""
    barrier = threading.Barrier(len(adapters))

    def create(adapter: DynamoDBAdapter) -> Session | None:
        barrier.wait()
        try:
            return adapter.create_session({"id": session_id, "status": "active"})
        except SessionExistsError:
            return None

    with ThreadPoolExecutor(len(adapters)) as pool:
        results = list(pool.map(create, adapters))
    return [result for result in results if result is not None]


@pytest.fixture
def four(table_config: TableConfig, adapter: DynamoDBAdapter) -> Iterator[list[DynamoDBAdapter]]:
    made = [
        DynamoDBAdapter(
            table_config.table_name,
            region=table_config.region,
            endpoint_url=table_config.endpoint_url,
        )
        for _ in range(4)
    ]
    yield made
    for each in made:
        each.close()


@pytest.mark.backends("local")
def test_create_session_races_have_exactly_one_winner(
    backend: Backend, adapter: DynamoDBAdapter, four: list[DynamoDBAdapter]
) -> None:
    for round_ in range(12):
        session_id = f"raced-{round_}"
        if round_ % 2:  # an expired session's id, replaced by exactly one of them
            adapter.create_session({"id": session_id, "status": "active"})
            adapter.add_message(session_id, {"role": "user", "content": "old"})
            expire(adapter, session_id, ago=timedelta(seconds=1))
        winners = create_race(four, session_id)
        assert len(winners) == 1, round_
        assert adapter.get_session(session_id) == winners[0]
        assert adapter.get_messages(session_id) == []


def test_create_session_retried_after_a_lost_response_and_another_writer_succeeds(
    adapter: DynamoDBAdapter, other: DynamoDBAdapter
) -> None:
    added: list[Message] = []

    def another_client_appends() -> None:
        added.append(other.add_message(SESSION_ID, {"role": "user", "content": "x"}))

    plan = FaultPlan(lose_response("PutItem", side_effect=another_client_appends))
    with inject(adapter, plan) as injector:
        created = adapter.create_session({"id": SESSION_ID, "status": "active"})
    injector.assert_exhausted()
    assert created.id == SESSION_ID
    assert adapter.get_messages(SESSION_ID) == added
    assert assert_counters_exact(adapter, SESSION_ID).message_count == 1


# --- sessions without counters ---------------------------------------------------------


@pytest.mark.backends("local")
def test_pop_without_counters_after_a_lost_delete_response_removes_exactly_the_newest(
    backend: Backend, adapter: DynamoDBAdapter
) -> None:
    """The fallback delete is a one-item transaction: botocore's retry carries its
    ClientRequestToken (moto ignores the token, so DynamoDB Local only)."""
    adapter.create_session({"id": SESSION_ID, "status": "active"})
    m0, m1, m2 = (
        adapter.add_message(SESSION_ID, {"role": "user", "content": f"m{i}"}) for i in range(3)
    )
    remove_counters(adapter, SESSION_ID)
    # The first transaction (delete and uncount) is cancelled: there are no counters.
    plan = FaultPlan(lose_response("TransactWriteItems", skip=1))
    with inject(adapter, plan) as injector:
        popped = adapter.pop_message(SESSION_ID)
    injector.assert_exhausted()
    assert popped == m2
    assert adapter.get_messages(SESSION_ID) == [m0, m1]
    assert assert_counters_exact(adapter, SESSION_ID).message_count == 2


def test_token_count_zero_on_an_uncounted_message_never_makes_counters_negative(
    adapter: DynamoDBAdapter,
) -> None:
    adapter.create_session({"id": SESSION_ID, "status": "active"})
    counted = adapter.add_message(SESSION_ID, {"role": "user", "content": "a", "token_count": 3})
    bare = put_uuid_message(adapter, SESSION_ID, tokenCount={"N": "10"})  # never counted
    updated = adapter.update_message(SESSION_ID, bare, {"token_count": 0})
    assert updated.token_count == 0
    raw = adapter.models.client.get_item(
        TableName=adapter.config.table_name, Key=session_key(SESSION_ID), ConsistentRead=True
    )["Item"]
    assert int(raw["tokenCount"]["N"]) == 3  # recounted: 3 + 0, never 3 - 10
    assert int(raw["messageCount"]["N"]) == 2
    assert counted.token_count == 3
    assert_counters_exact(adapter, SESSION_ID)
