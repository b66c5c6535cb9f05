"""list_sessions, expiry, sweeping and the TTL stream handler, on every backend."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_store import DynamoDBAdapter, Session
from session_store.testing.requests import count_requests
from tests.faults import INTERNAL_ERROR, FaultPlan, fail, inject


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


def keyed_on(session: Session) -> Callable[[Mapping[str, Any]], bool]:
    """A fault rule's ``when``: the request's ``Key`` is the session's item."""
    return lambda body: body.get("Key", {}).get("PK") == {"S": f"SESSION#{session.id}"}


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


def make_tag_decoys(timed: DynamoDBAdapter, clock: list[datetime]) -> list[Session]:
    """Sessions of user "u" with and without the tag "vip"; the tagged ones, newest first.

    The decoys have ``"vip"`` in their metadata JSON text (title, custom), so
    the server-side pre-filter ``contains(metadata, '"vip"')`` lets them
    through; only the exact check drops them. The newest session is a decoy.
    """
    metadatas: list[dict[str, Any]] = [
        {"tags": ["vip"]},
        {"title": "vip", "tags": ["vip-not"]},
        {"tags": ["std", "vip"]},
        {"custom": {"level": "vip"}},
        {"tags": ["vip"]},
        {"title": "vip"},
    ]
    made = []
    for metadata in metadatas:
        clock[0] += timedelta(seconds=1)
        made.append(
            timed.create_session({"status": "active", "user_id": "u", "metadata": metadata})
        )
    tagged = [s for s in made if "vip" in (s.metadata.tags or [])][::-1]
    assert [made.index(s) for s in tagged] == [4, 2, 0]
    return tagged


def walk_pages(timed: DynamoDBAdapter, filters: dict[str, Any], page_size: int) -> list[Session]:
    seen: list[Session] = []
    cursor = None
    while True:
        page = timed.list_sessions_page(filters, cursor=cursor, page_size=page_size)
        assert len(page.items) <= page_size
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            return seen


def test_tag_filter_is_exact_before_limit_and_offset_on_the_user_index(
    timed: DynamoDBAdapter, clock: list[datetime]
) -> None:
    tagged = make_tag_decoys(timed, clock)
    vip: dict[str, Any] = {"user_id": "u", "tags": ["vip"]}
    with count_requests(timed) as log:
        assert timed.list_sessions(vip) == tagged
    assert set(log.operations) == {"Query"}
    assert timed.list_sessions({**vip, "offset": 1}) == tagged[1:]
    assert timed.list_sessions({**vip, "offset": 2}) == tagged[2:]
    assert timed.list_sessions({**vip, "offset": 3}) == []
    assert timed.list_sessions({**vip, "limit": 1}) == tagged[:1]
    assert timed.list_sessions({**vip, "limit": 2}) == tagged[:2]
    assert timed.list_sessions({**vip, "limit": 1, "offset": 1}) == tagged[1:2]
    assert timed.list_sessions({**vip, "limit": 5, "offset": 2}) == tagged[2:]
    assert list(timed.iter_sessions({**vip, "offset": 1})) == tagged[1:]
    for page_size in (1, 2):
        assert walk_pages(timed, vip, page_size) == tagged
        assert walk_pages(timed, {**vip, "limit": 2}, page_size) == tagged[:2]
    first = timed.list_sessions_page({**vip, "offset": 1}, page_size=1)
    assert first.items == tagged[1:2]
    assert first.next_cursor is not None
    rest = timed.list_sessions_page({**vip, "offset": 1}, cursor=None, page_size=5)
    assert rest.items == tagged[1:]
    assert rest.next_cursor is None


def test_tag_filter_is_exact_before_limit_and_offset_on_a_scan(
    timed: DynamoDBAdapter, clock: list[datetime]
) -> None:
    tagged = make_tag_decoys(timed, clock)
    vip: dict[str, Any] = {"tags": ["vip"]}
    with count_requests(timed) as log:
        everything = timed.list_sessions(vip)
    assert set(log.operations) == {"Scan"}
    assert sorted(s.id for s in everything) == sorted(s.id for s in tagged)
    # A scan's order is the table's, but it is stable: offset/limit cut that order.
    for offset in range(4):
        assert timed.list_sessions({**vip, "offset": offset}) == everything[offset:]
        for limit in (1, 2):
            assert (
                timed.list_sessions({**vip, "offset": offset, "limit": limit})
                == everything[offset : offset + limit]
            )
    for page_size in (1, 2):
        assert walk_pages(timed, vip, page_size) == everything
        assert walk_pages(timed, {**vip, "limit": 2}, page_size) == everything[:2]
    # Any of the given tags, each exactly.
    assert timed.list_sessions({"tags": ["std", "nope"]}) == [
        s for s in everything if "std" in (s.metadata.tags or [])
    ]
    assert len(timed.list_sessions({"tags": ["vip-not", "vip"]})) == 4


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


def test_sweep_spares_a_session_whose_expiry_moves_after_it_was_listed(
    timed: DynamoDBAdapter, clock: list[datetime]
) -> None:
    # A future `before` (sweep what expires within the minute): such sessions are
    # still live, so another process may slide their expiry while the sweep runs.
    soon = clock[0] + timedelta(minutes=1)
    later = soon + timedelta(hours=1)
    moving = timed.create_session({"status": "active", "expires_at": soon})
    doomed = timed.create_session({"status": "active", "expires_at": soon - timedelta(seconds=5)})
    kept = [timed.add_message(moving.id, {"role": "user", "content": f"k{i}"}) for i in range(3)]
    for i in range(3):
        timed.add_message(doomed.id, {"role": "user", "content": f"d{i}"})
    assert sorted(timed.get_expired_sessions(soon)) == sorted([moving.id, doomed.id])
    other = DynamoDBAdapter(  # another process, with its own client
        timed.config.table_name,
        region=timed.config.region,
        endpoint_url=timed.config.endpoint_url,
        clock=at(clock),
    )
    moves: list[Session] = []

    # The sweep has listed `moving` as expired; its item's delete fails once (botocore
    # retries it) and, in between, the other process moves the expiry.
    plan = FaultPlan(
        fail(
            "DeleteItem",
            with_=INTERNAL_ERROR,
            when=keyed_on(moving),
            side_effect=lambda: moves.append(
                other.update_session(moving.id, {"expires_at": later})
            ),
        )
    )
    with other, inject(timed, plan) as injector:
        removed = timed.sweep_expired(soon)
    injector.assert_exhausted()
    assert len(moves) == 1
    assert removed == 1
    survivor = timed.get_session(moving.id)
    assert survivor is not None
    assert survivor.expires_at == later
    assert survivor.message_count == 3
    assert timed.get_messages(moving.id) == kept
    assert timed.get_session(doomed.id) is None
    assert timed.get_messages(doomed.id) == []
    assert timed.get_expired_sessions(soon) == []
    clock[0] = soon  # `doomed` is really gone, not just expired
    assert [s.id for s in timed.list_sessions({"include_expired": True})] == [moving.id]


def test_sweep_spares_a_session_a_writer_with_a_slower_clock_still_extends(
    timed: DynamoDBAdapter, clock: list[datetime]
) -> None:
    """Expired by the sweeper's clock a moment ago, live by a writer's clock 5 s behind.

    The writer appends (sliding the expiry) while the sweep runs: the session and
    every message survive, because a recently expired session's item goes first.
    """
    start = clock[0]
    recently = timed.create_session(
        {"status": "active", "expires_at": start + timedelta(seconds=100)}
    )
    long_ago = timed.create_session(
        {"status": "active", "expires_at": start + timedelta(seconds=10)}
    )
    for session in (recently, long_ago):
        for i in range(3):
            timed.add_message(session.id, {"role": "user", "content": f"m{i}", "token_count": 1})
    # The sweep runs 1 s after `recently` expired and 91 s after `long_ago` did.
    clock[0] = start + timedelta(seconds=101)
    behind = [clock[0] - timedelta(seconds=5)]
    writer = DynamoDBAdapter(
        timed.config.table_name,
        region=timed.config.region,
        endpoint_url=timed.config.endpoint_url,
        clock=at(behind),
        session_ttl=timedelta(hours=1),
    )
    appended: list[Any] = []

    # The sweep's first write for `recently` fails once; meanwhile the writer appends.
    plan = FaultPlan(
        fail(
            "DeleteItem",
            with_=INTERNAL_ERROR,
            when=keyed_on(recently),
            side_effect=lambda: appended.append(
                writer.add_message(
                    recently.id, {"role": "user", "content": "late", "token_count": 1}
                )
            ),
        ),
    )
    with writer, inject(timed, plan) as injector:
        removed = timed.sweep_expired()
    injector.assert_exhausted()
    assert removed == 1  # `long_ago` only
    survivor = timed.get_session(recently.id)
    assert survivor is not None
    assert [m.content for m in timed.get_messages(recently.id)] == ["m0", "m1", "m2", "late"]
    assert (survivor.message_count, survivor.token_count) == (4, 4)
    assert timed.get_messages(long_ago.id) == []
    assert timed.list_sessions({"include_expired": True}) == [survivor]


def test_expired_sessions_are_found_on_every_page_of_the_scan(
    timed: DynamoDBAdapter, clock: list[datetime]
) -> None:
    # Scan pages hold at most 1 MB read: six expired sessions of ~300 KB each cannot
    # all be on one page, whatever order the scan reads the table in.
    soon = clock[0] + timedelta(minutes=1)
    blob = "x" * 300_000
    expired = [
        timed.create_session(
            {
                "status": "active",
                "expires_at": soon - timedelta(seconds=index),
                "metadata": {"custom": {"blob": blob}},
            }
        ).id
        for index in range(6)
    ]
    live = timed.create_session(
        {
            "status": "active",
            "expires_at": soon + timedelta(seconds=1),
            "metadata": {"custom": {"blob": blob}},
        }
    )
    timed.add_message(live.id, {"role": "user", "content": blob})
    timed.create_session({"status": "active"})
    with count_requests(timed) as log:
        found = timed.get_expired_sessions(soon)
    assert sorted(found) == sorted(expired)
    assert len(found) == len(set(found))
    assert log.operations.count("Scan") >= 2  # the scan really took several pages
    assert timed.sweep_expired(soon) == len(expired)
    assert timed.get_expired_sessions(soon) == []
    assert timed.get_session(live.id) is not None


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


def test_both_index_listings_read_in_the_typescript_adapters_order(
    adapter: DynamoDBAdapter,
) -> None:
    # Both indexes are queried newest first / descending (ScanIndexForward false), as the
    # TypeScript adapter queries them: by user, newest first; by agent, by status descending.
    made = [
        adapter.create_session({"status": status, "user_id": "u", "active_agent_id": "a"})
        for status in ("completed", "active", "paused")
    ]
    by_user = adapter.list_sessions({"user_id": "u"})
    assert [session.id for session in by_user] == [session.id for session in reversed(made)]
    by_agent = adapter.list_sessions({"active_agent_id": "a"})
    assert [session.status.value for session in by_agent] == ["paused", "completed", "active"]
