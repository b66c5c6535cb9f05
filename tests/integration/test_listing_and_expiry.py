"""list_sessions, expiry, sweeping and the TTL stream handler, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_store import DynamoDBAdapter, Session
from session_store.testing.requests import count_requests


def at(clock: list[datetime]) -> Any:
    return lambda: clock[0]


@pytest.fixture
def clock() -> list[datetime]:
    return [datetime(2031, 5, 1, 12, tzinfo=UTC)]


@pytest.fixture
def timed(adapter: DynamoDBAdapter, clock: list[datetime]) -> DynamoDBAdapter:
    return DynamoDBAdapter(
        adapter.config.table_name,
        region=adapter.config.region,
        endpoint_url=adapter.config.endpoint_url,
        clock=at(clock),
    )


def make_sessions(timed: DynamoDBAdapter, clock: list[datetime]) -> list[Session]:
    made = []
    for index in range(9):
        clock[0] += timedelta(seconds=1)
        made.append(
            timed.create_session(
                {
                    "status": ["active", "paused", "completed"][index % 3],
                    "user_id": "u1" if index < 6 else "u2",
                    "active_agent_id": "agent-a" if index % 2 else None,
                    "metadata": {"tags": ["vip"] if index in (1, 4) else ["std", "vip-not"]},
                }
            )
        )
    return made


def test_user_listing_uses_gsi1_newest_first(timed: DynamoDBAdapter, clock: list[datetime]) -> None:
    made = make_sessions(timed, clock)
    with count_requests(timed) as log:
        listed = timed.list_sessions({"user_id": "u1"})
    assert log.operations == ["Query"]
    assert listed == made[5::-1]
    assert timed.list_sessions({"user_id": "u1", "limit": 2, "offset": 1}) == made[4:2:-1]
    bounded = timed.list_sessions(
        {"user_id": "u1", "created_after": made[1].created_at, "created_before": made[4].created_at}
    )
    assert bounded == [made[3], made[2]]
    assert (
        timed.list_sessions({"user_id": "u1", "created_after": made[3].created_at}) == made[5:3:-1]
    )
    assert timed.list_sessions({"user_id": "u1", "status": "paused"}) == [made[4], made[1]]


def test_agent_listing_uses_gsi2(timed: DynamoDBAdapter, clock: list[datetime]) -> None:
    made = make_sessions(timed, clock)
    with count_requests(timed) as log:
        listed = timed.list_sessions({"active_agent_id": "agent-a", "status": "paused"})
    assert log.operations == ["Query"]
    assert {s.id for s in listed} == {made[1].id, made[7].id}


def test_scan_with_filters_and_exact_tags(timed: DynamoDBAdapter, clock: list[datetime]) -> None:
    made = make_sessions(timed, clock)
    assert {s.id for s in timed.list_sessions()} == {s.id for s in made}
    assert {s.id for s in timed.list_sessions({"tags": ["vip"]})} == {made[1].id, made[4].id}
    assert {s.id for s in timed.list_sessions({"status": "completed"})} == {
        made[2].id,
        made[5].id,
        made[8].id,
    }
    assert len(timed.list_sessions({"limit": 4})) == 4


def test_session_pages_resume_exactly(timed: DynamoDBAdapter, clock: list[datetime]) -> None:
    made = make_sessions(timed, clock)
    for filters in ({"user_id": "u1"}, {}, {"tags": ["std"]}):
        seen: list[Session] = []
        cursor = None
        while True:
            page = timed.list_sessions_page(filters, cursor=cursor, page_size=2)
            assert len(page.items) <= 2
            seen += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == timed.list_sessions(filters)
    assert len(seen) == 7
    assert all("std" in (s.metadata.tags or []) for s in seen)
    assert len(made) == 9


def test_expired_sessions_are_hidden_listed_and_swept(
    timed: DynamoDBAdapter, clock: list[datetime]
) -> None:
    soon = clock[0] + timedelta(minutes=5)
    expiring = timed.create_session({"status": "active", "user_id": "u", "expires_at": soon})
    lasting = timed.create_session(
        {"status": "active", "user_id": "u", "expires_at": soon + timedelta(days=1)}
    )
    forever = timed.create_session({"status": "active", "user_id": "u"})
    for _ in range(30):
        timed.add_message(expiring.id, {"role": "user", "content": "bye"})
    clock[0] = soon
    assert timed.get_session(expiring.id) is None
    assert {s.id for s in timed.list_sessions({"user_id": "u"})} == {lasting.id, forever.id}
    assert {s.id for s in timed.list_sessions({"user_id": "u", "include_expired": True})} == {
        expiring.id,
        lasting.id,
        forever.id,
    }
    assert timed.get_expired_sessions(soon) == [expiring.id]
    assert timed.get_expired_sessions(soon - timedelta(seconds=1)) == []
    assert timed.sweep_expired() == 1
    assert timed.get_messages(expiring.id) == []
    assert timed.get_expired_sessions(soon) == []
    assert timed.get_session(lasting.id) is not None


def test_sweep_leaves_a_session_whose_expiry_moved(
    timed: DynamoDBAdapter, clock: list[datetime]
) -> None:
    soon = clock[0] + timedelta(minutes=1)
    session = timed.create_session({"status": "active", "expires_at": soon})
    timed.update_session(session.id, {"expires_at": soon + timedelta(hours=1)})
    assert timed.sweep_expired(soon) == 0
    assert timed.get_session(session.id) is not None


def test_sweep_reports_progress_per_session_handled(
    timed: DynamoDBAdapter, clock: list[datetime]
) -> None:
    soon = clock[0] + timedelta(minutes=1)
    moved = timed.create_session({"status": "active", "expires_at": soon})
    timed.create_session({"status": "active", "expires_at": soon})
    timed.update_session(moved.id, {"expires_at": soon + timedelta(hours=1)})
    timed.create_session({"status": "active", "expires_at": soon - timedelta(seconds=1)})
    calls: list[tuple[int, int]] = []
    removed = timed.sweep_expired(soon, progress=lambda done, total: calls.append((done, total)))
    assert removed == 2
    assert calls == [(0, 2), (1, 2), (2, 2)]  # the moved session was never expired by `soon`


def test_stream_handler_deletes_messages_of_ttl_removed_sessions(
    timed: DynamoDBAdapter, clock: list[datetime]
) -> None:
    session = timed.create_session({"status": "active"})
    kept = timed.create_session({"status": "active"})
    for _ in range(3):
        timed.add_message(session.id, {"role": "user", "content": "x"})
    timed.add_message(kept.id, {"role": "user", "content": "x"})
    # What TTL does: the service removes the session item, and the stream says so.
    timed.models.client.delete_item(
        TableName=timed.config.table_name,
        Key={"PK": {"S": f"SESSION#{session.id}"}, "SK": {"S": "META"}},
    )

    def record(pk: str, sk: str, *, by_ttl: bool = True, name: str = "REMOVE") -> dict[str, Any]:
        event: dict[str, Any] = {
            "eventID": "1",
            "eventName": name,
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": {"PK": {"S": pk}, "SK": {"S": sk}},
                "StreamViewType": "KEYS_ONLY",
                "SequenceNumber": "1",
                "SizeBytes": 60,
            },
        }
        if by_ttl:
            event["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
        return event

    event = {
        "Records": [
            record(f"SESSION#{kept.id}", "META", by_ttl=False),
            record(f"SESSION#{kept.id}", "META", name="MODIFY"),
            record(f"SESSION#{session.id}", "META"),
        ]
    }
    assert timed.handle_stream_event(event) == 3
    assert timed.get_messages(session.id) == []
    assert len(timed.get_messages(kept.id)) == 1


def test_empty_strict_ranges_return_nothing(timed: DynamoDBAdapter, clock: list[datetime]) -> None:
    session = timed.create_session({"status": "active", "user_id": "u"})
    message = timed.add_message(session.id, {"role": "user", "content": "x"})
    with count_requests(timed) as log:
        assert (
            timed.get_messages(
                session.id, {"after": message.created_at, "before": message.created_at}
            )
            == []
        )
        assert (
            timed.list_sessions(
                {
                    "user_id": "u",
                    "created_after": session.created_at,
                    "created_before": session.created_at,
                }
            )
            == []
        )
    assert log.total == 0
