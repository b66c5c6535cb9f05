"""A table shared with Node services: what the TypeScript side writes, and how it writes.

- Every item of ``reference-items.json`` and ``reference-variants.json`` reads as its
  expected value through every reader (SPEC §5, lenient reads), and ``migrate()``
  applies every migration on a table holding them.
- The TypeScript ``SessionManager`` keeps ``messageCount``/``tokenCount``/``version``
  by read-modify-write conditioned on ``version``; since every counter change of
  ours increments ``version``, its stale writes retry instead of overwriting ours.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from session_store import DynamoDBAdapter, Session, keys
from session_store.counters import count_messages
from session_store.migrations import discover
from session_store.models import SessionMeta
from session_store.table import TableConfig
from session_store.testing.backends import Backend
from tests.reference_items import MESSAGES, SESSIONS, VARIANTS

FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def _put(adapter: DynamoDBAdapter, item: dict[str, Any]) -> None:
    adapter.models.client.put_item(TableName=adapter.config.table_name, Item=item)


def _session_cases() -> list[dict[str, Any]]:
    return [case for case in [*SESSIONS, *VARIANTS] if case["item"]["SK"]["S"] == "META"]


def _message_cases() -> list[dict[str, Any]]:
    return [case for case in [*MESSAGES, *VARIANTS] if case["item"]["SK"]["S"] != "META"]


def _matches(session: Session | Any, expected: dict[str, Any]) -> None:
    """``session`` holds every expected field (dates compared as instants)."""
    fields = (
        type(session).model_validate({**session.model_dump(by_alias=True), **expected}).model_dump()
    )
    assert session.model_dump() == fields, expected


@pytest.fixture
def shared(adapter: DynamoDBAdapter) -> DynamoDBAdapter:
    """The adapter's table holding every item the TypeScript side wrote."""
    for case in [*_session_cases(), *_message_cases()]:
        _put(adapter, case["item"])
    return adapter


def test_every_reader_reads_what_the_typescript_side_wrote(shared: DynamoDBAdapter) -> None:
    now = datetime.now(UTC)
    listed = {session.id: session for session in shared.list_sessions({"include_expired": True})}
    for case in _session_cases():
        expected = case["expected"]
        session_id = case["item"]["id"]["S"]
        full = listed[session_id]  # the scan: never dropped silently
        _matches(full, expected)
        live = full.expires_at is None or full.expires_at > now
        assert shared.get_session(session_id) == (full if live else None)
        if full.user_id is not None:
            by_user = shared.list_sessions({"user_id": full.user_id, "include_expired": True})
            assert full in by_user
        if full.active_agent_id is not None:
            filters = {"active_agent_id": full.active_agent_id, "include_expired": True}
            assert full in shared.list_sessions(filters)
        if full.expires_at is not None:
            assert session_id in shared.get_expired_sessions(full.expires_at)
            before = full.expires_at - timedelta(seconds=1)
            assert session_id not in shared.get_expired_sessions(before)
        recounted = shared.recount(session_id)
        assert (
            recounted.message_count
            == count_messages(shared.models.gateway, session_id).message_count
        )
    for case in _message_cases():
        session_id = case["item"]["PK"]["S"].removeprefix("SESSION#")
        stored = {message.id: message for message in shared.get_messages(session_id)}
        _matches(stored[case["item"]["id"]["S"]], case["expected"])


def test_the_expiry_as_an_iso_string_counts_everywhere(shared: DynamoDBAdapter) -> None:
    (case,) = [case for case in VARIANTS if "S" in case["item"].get("expiresAt", {})]
    session_id = case["item"]["id"]["S"]
    assert shared.get_session(session_id) is not None  # expires in 2036
    shared.add_message(session_id, {"role": "user", "content": "still alive"})
    shared.update_session(session_id, {"status": "active"})
    assert session_id in shared.get_expired_sessions(FAR_FUTURE)
    assert shared.sweep_expired(FAR_FUTURE) >= 1
    assert shared.get_session(session_id) is None
    assert shared.get_messages(session_id) == []


def test_migrate_applies_every_migration_on_a_shared_table(shared: DynamoDBAdapter) -> None:
    applied = shared.migrate()
    assert applied == [migration.name for migration in discover()]
    for case in _session_cases():
        session_id = case["item"]["id"]["S"]
        totals = count_messages(shared.models.gateway, session_id)
        stored = shared.list_sessions({"include_expired": True})
        (session,) = [s for s in stored if s.id == session_id]
        assert (session.message_count, session.token_count) == (
            totals.message_count,
            totals.token_count,
        )
    assert shared.migrate() == []


# --- SessionManager, racing our writes --------------------------------------------------

SM_THREADS = 2
SM_APPENDS = 12
OUR_THREADS = 3
OUR_APPENDS = 12
OUR_DELETES = 4


def _reference_id(now: datetime) -> str:
    millis = int(now.timestamp() * 1000)
    return f"{millis:015d}-{random.randrange(1_000_000):06d}-{uuid.uuid4()}"


class SessionManager:
    """The TypeScript ``SessionManager.addMessage``, re-enacted request for request.

    Put the message item (no counters), then read the session and write absolute
    counters with ``version = read + 1`` on the condition that the version is still
    the one read; on a conditional failure, read again and retry.
    """

    def __init__(self, adapter: DynamoDBAdapter, session_id: str) -> None:
        self.client = adapter.models.client
        self.table = adapter.config.table_name
        self.session_id = session_id
        self.retries = 0

    def add_message(self, text: str, tokens: int) -> str:
        now = datetime.now(UTC)
        message_id = _reference_id(now)
        iso = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        self.client.put_item(
            TableName=self.table,
            Item={
                "PK": {"S": keys.session_pk(self.session_id)},
                "SK": {"S": f"MSG#{iso}#{message_id}"},
                "id": {"S": message_id},
                "sessionId": {"S": self.session_id},
                "role": {"S": "user"},
                "content": {"S": text},
                "tokenCount": {"N": str(tokens)},
                "createdAt": {"S": iso},
            },
        )
        while True:
            read = self.client.get_item(
                TableName=self.table, Key=SessionMeta.key(self.session_id), ConsistentRead=True
            )["Item"]
            version = int(read.get("version", {"N": "0"})["N"])
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key=SessionMeta.key(self.session_id),
                    UpdateExpression="SET #mc = :mc, #tc = :tc, #la = :la, #v = :next",
                    ConditionExpression="attribute_not_exists(#v) OR #v = :read",
                    ExpressionAttributeNames={
                        "#mc": "messageCount",
                        "#tc": "tokenCount",
                        "#la": "lastActivityAt",
                        "#v": "version",
                    },
                    ExpressionAttributeValues={
                        ":mc": {"N": str(int(read.get("messageCount", {"N": "0"})["N"]) + 1)},
                        ":tc": {"N": str(int(read.get("tokenCount", {"N": "0"})["N"]) + tokens)},
                        ":la": {"S": iso},
                        ":next": {"N": str(version + 1)},
                        ":read": {"N": str(version)},
                    },
                )
                return message_id
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                self.retries += 1


@pytest.mark.backends("local")
def test_session_manager_racing_our_writes_loses_nothing(
    backend: Backend, table_config: TableConfig, adapter: DynamoDBAdapter
) -> None:
    session = adapter.create_session({"status": "active"})
    start = threading.Barrier(SM_THREADS + OUR_THREADS)
    kept: list[str] = []
    managers: list[SessionManager] = []
    lock = threading.Lock()

    def theirs() -> None:
        with DynamoDBAdapter(
            table_config.table_name,
            region=table_config.region,
            endpoint_url=table_config.endpoint_url,
        ) as own:
            manager = SessionManager(own, session.id)
            managers.append(manager)
            start.wait()
            ids = [manager.add_message(f"sm-{n}", 3) for n in range(SM_APPENDS)]
        with lock:
            kept.extend(ids)

    def ours() -> None:
        start.wait()
        added = [
            adapter.add_message(
                session.id, {"role": "user", "content": f"ours-{n}", "token_count": 2}
            )
            for n in range(OUR_APPENDS)
        ]
        for message in added[:OUR_DELETES]:
            adapter.delete_message(session.id, message.id)
            time.sleep(0)
        with lock:
            kept.extend(message.id for message in added[OUR_DELETES:])

    threads = [threading.Thread(target=theirs) for _ in range(SM_THREADS)]
    threads += [threading.Thread(target=ours) for _ in range(OUR_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = adapter.get_messages(session.id)
    assert sorted(message.id for message in stored) == sorted(kept)  # nothing lost
    totals = count_messages(adapter.models.gateway, session.id)
    final = adapter.get_session(session.id)
    assert final is not None
    assert (final.message_count, final.token_count) == (totals.message_count, totals.token_count)
    assert final.message_count == SM_THREADS * SM_APPENDS + OUR_THREADS * (
        OUR_APPENDS - OUR_DELETES
    )
    assert sum(manager.retries for manager in managers) > 0  # they did race
