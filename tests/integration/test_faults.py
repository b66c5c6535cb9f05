"""Faults below botocore's retry layer: every adapter call survives them or fails cleanly.

The faults come from ``tests.faults``: they replace (or follow)
the HTTP send, so botocore's real retry logic runs above them. For every write
and read of the adapter:

- throttling, 5xx, connection resets and read timeouts are retried and the call
  succeeds, with the table exactly as one fault-free call leaves it;
- faults beyond the retry budget raise ``StorageError`` with the original
  exception as ``__cause__``, and leave the table as it was, or in a state the
  same call, retried, completes;
- lost responses (the write applied, the answer lost) are retried without a
  false ``SessionExistsError``, a second ``version`` increment or a duplicate
  message;
- ``TransactionConflict`` cancellations are retried by the adapter;
- ``UnprocessedItems`` are retried until done, and a permanent one is an error;
- ``sweep_expired`` and the async adapter hold up under the same faults.

Fault counts stay low: botocore's standard mode backs off up to 1 s (x 2 per
retry) on throttling and up to 25 ms (x 2) on other errors. The three big
matrices (retried faults, faults past the budget, lost responses) are one test
each: every cell gets a session and an adapter of its own on the test's table,
and cells run four at a time, so their backoff sleeps overlap.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from session_store import (
    AsyncDynamoDBAdapter,
    DynamoDBAdapter,
    Message,
    RetryPolicy,
    Session,
    SessionExistsError,
    StorageError,
    TableConfig,
)
from session_store.counters import count_messages
from session_store.ids import new_message_id
from session_store.models import WRITE_TOKEN_SLOTS, SessionMeta
from session_store.models import Message as MessageItem
from session_store.testing.backends import Backend
from session_store.testing.factories import SessionFactory
from session_store.testing.requests import count_requests
from tests.faults import (
    CONNECT_ERROR,
    CONNECTION_RESET,
    INTERNAL_ERROR,
    ITEM_IN_TRANSACTION,
    READ_TIMEOUT,
    SERVICE_UNAVAILABLE,
    THROTTLING,
    THROTTLING_EXCEPTION,
    TRANSACTION_CONFLICT,
    Fault,
    FaultPlan,
    fail,
    inject,
    lose_response,
    unprocessed,
)


def aws_code_of(error: BaseException) -> str | None:
    """The error code of a botocore ``ClientError`` (raw client calls in these tests)."""
    return str(error.response["Error"]["Code"]) if isinstance(error, ClientError) else None


FAST_FAULTS = [INTERNAL_ERROR, SERVICE_UNAVAILABLE, CONNECTION_RESET, READ_TIMEOUT]
"""Retried after tens of milliseconds."""
THROTTLING_FAULTS = [THROTTLING, THROTTLING_EXCEPTION]
"""Retried after up to a second (on the first retry): used once per call."""
MANY = 30
"""More than one BatchWriteItem (25) of messages."""
HUNDREDS = 120
"""More than one ``delete_all_messages`` transaction holds (99 deletes and the counters): its
messages go in batches."""


# --- the world a case runs in ------------------------------------------------------


@dataclass
class World:
    """A seeded session with its messages, and the adapter to act on it."""

    adapter: DynamoDBAdapter
    session: Session
    messages: list[Message]
    new_id: str = field(default_factory=lambda: f"created-{uuid.uuid4().hex}")
    """The id ``create_session`` cases create."""

    @property
    def user(self) -> str:
        """The session's user: unique, so a GSI1 listing sees this world's sessions only."""
        assert self.session.user_id is not None
        return self.session.user_id

    @property
    def sid(self) -> str:
        return self.session.id


@pytest.fixture
def make_adapter(table_config: TableConfig) -> Iterator[Callable[[int], DynamoDBAdapter]]:
    """Adapters on one fresh table, each with its own client and retry budget (thread-safe).

    botocore's retry quota is per client (and refunded only by calls that end
    in a 2xx), so each cell of a matrix gets an adapter of its own.
    """
    made: list[DynamoDBAdapter] = []
    lock = threading.Lock()

    def make(max_attempts: int) -> DynamoDBAdapter:
        adapter = DynamoDBAdapter(
            table_config.table_name,
            region=table_config.region,
            endpoint_url=table_config.endpoint_url,
            retry=RetryPolicy(max_attempts=max_attempts, mode="standard"),
        )
        with lock:
            if not made:
                adapter.create_table()
            made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


def seed(adapter: DynamoDBAdapter, messages: int, **fields: Any) -> World:
    """A session (user, agent, metadata, ``fields``) with ``messages`` messages, exact counters.

    Several worlds may share a table: each has its own session and user.
    """
    session = adapter.create_session(
        {
            "status": "active",
            "user_id": f"user-{uuid.uuid4().hex[:12]}",
            "active_agent_id": "agent-1",
            "metadata": {"title": "faults", "tags": ["reliability"]},
            **fields,
        }
    )
    stored: list[Message] = []
    for index in range(messages):
        message_id = new_message_id()
        stored.append(
            Message(
                id=str(message_id),
                session_id=session.id,
                role="user" if index % 2 == 0 else "assistant",
                content=f"message {index}",
                token_count=index + 1,
                created_at=message_id.datetime,
            )
        )
    for start in range(0, len(stored), 25):
        adapter.models.client.batch_write_item(
            RequestItems={
                adapter.config.table_name: [
                    {"PutRequest": {"Item": MessageItem.from_domain(m).serialize()}}
                    for m in stored[start : start + 25]
                ]
            }
        )
    current = adapter.recount(session.id) if stored else session
    assert current.message_count == messages
    return World(adapter, current, stored)


def assert_consistent(adapter: DynamoDBAdapter, session_id: str) -> Session:
    """The session's counters say exactly what its messages add up to."""
    stored = adapter.get_session(session_id)
    assert stored is not None
    messages = adapter.get_messages(session_id)
    assert (stored.message_count, stored.token_count) == (
        len(messages),
        sum(m.token_count or 0 for m in messages),
    )
    return stored


def message_ids(adapter: DynamoDBAdapter, session_id: str) -> list[str]:
    return [m.id for m in adapter.get_messages(session_id)]


def assert_unchanged(world: World) -> None:
    """The table is as the seed left it: nothing of a failed call was applied."""
    adapter = world.adapter
    assert adapter.get_session(world.sid) == world.session
    assert message_ids(adapter, world.sid) == [m.id for m in world.messages]
    assert adapter.get_session(world.new_id) is None
    assert_consistent(adapter, world.sid)


# --- the calls under test ----------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One adapter call: how to make it, what it sends, what must hold after it succeeded."""

    name: str
    operations: tuple[str, ...]
    """DynamoDB operations the call sends, in order of their first send."""
    writes: tuple[str, ...]
    """Those of them that write."""
    call: Callable[[World], Any]
    check: Callable[[World, Any], None]
    messages: int = 3

    def first_write(self) -> int:
        return min((self.operations.index(op) for op in self.writes), default=len(self.operations))


def _create(world: World) -> Session:
    return world.adapter.create_session(
        {
            "id": world.new_id,
            "status": "active",
            "user_id": f"{world.user}-new",
            "metadata": {"title": "new", "tags": ["a", "b"], "custom": {"n": 1.5}},
            "participants": [
                {"id": f"{world.user}-new", "role": "user", "joined_at": "2026-01-02T03:04:05.678Z"}
            ],
            "token_budget": {
                "max_tokens": 1000,
                "reserve_tokens": 100,
                "overflow_strategy": "truncate",
            },
        }
    )


def _check_create(world: World, result: Session) -> None:
    stored = world.adapter.get_session(world.new_id)
    assert stored == result
    assert (stored.version, stored.message_count, stored.token_count) == (1, 0, 0)
    sessions = world.adapter.list_sessions({"user_id": f"{world.user}-new"})
    assert [s.id for s in sessions] == [world.new_id]


UPDATE = {"status": "paused", "active_agent_id": "agent-2", "metadata": {"title": "renamed"}}


def _update(world: World) -> Session:
    return world.adapter.update_session(world.sid, UPDATE)


def _update_expected(world: World) -> Session:
    return world.adapter.update_session(world.sid, UPDATE, expected_version=world.session.version)


def _check_update(world: World, result: Session) -> None:
    stored = world.adapter.get_session(world.sid)
    assert stored == result
    assert stored.version == world.session.version + 1
    assert (stored.status.value, stored.active_agent_id, stored.metadata.title) == (
        "paused",
        "agent-2",
        "renamed",
    )
    assert_consistent(world.adapter, world.sid)


def _add(world: World) -> Message:
    return world.adapter.add_message(
        world.sid, {"role": "assistant", "content": "the reply", "token_count": 7}
    )


def _check_add(world: World, result: Message) -> None:
    assert message_ids(world.adapter, world.sid) == [m.id for m in world.messages] + [result.id]
    stored = assert_consistent(world.adapter, world.sid)
    assert stored.message_count == len(world.messages) + 1
    assert stored.version == world.session.version + 1  # one transaction, one increment


def _update_message(world: World) -> Message:
    return world.adapter.update_message(world.sid, world.messages[1].id, {"content": "edited"})


def _check_update_message(world: World, result: Message) -> None:
    stored = world.adapter.get_messages(world.sid)
    assert len(stored) == len(world.messages)
    assert stored[1].content == result.content == "edited"
    assert stored[1].token_count == world.messages[1].token_count
    assert_consistent(world.adapter, world.sid)


def _update_tokens(world: World) -> Message:
    return world.adapter.update_message(world.sid, world.messages[1].id, {"token_count": 40})


def _check_update_tokens(world: World, result: Message) -> None:
    stored = world.adapter.get_messages(world.sid)
    assert stored[1].token_count == result.token_count == 40
    session = assert_consistent(world.adapter, world.sid)
    old = world.messages[1].token_count or 0
    assert session.token_count == world.session.token_count - old + 40


def _delete_message(world: World) -> None:
    world.adapter.delete_message(world.sid, world.messages[1].id)


def _check_delete_message(world: World, _: object) -> None:
    expected = [m.id for m in world.messages if m.id != world.messages[1].id]
    assert message_ids(world.adapter, world.sid) == expected
    session = assert_consistent(world.adapter, world.sid)
    assert session.message_count == len(world.messages) - 1


def _delete_session(world: World) -> None:
    world.adapter.delete_session(world.sid)


def _check_delete_session(world: World, _: object) -> None:
    assert world.adapter.get_session(world.sid) is None
    totals = count_messages(world.adapter.models.gateway, world.sid)
    assert (totals.message_count, totals.token_count) == (0, 0)


def _delete_all(world: World) -> None:
    world.adapter.delete_all_messages(world.sid)


def _check_delete_all(world: World, _: object) -> None:
    assert message_ids(world.adapter, world.sid) == []
    session = assert_consistent(world.adapter, world.sid)
    assert (session.message_count, session.token_count) == (0, 0)


def _get_session(world: World) -> Session | None:
    return world.adapter.get_session(world.sid)


def _check_get_session(world: World, result: Session | None) -> None:
    assert result == world.session


def _get_messages(world: World) -> list[Message]:
    return world.adapter.get_messages(world.sid)


def _check_get_messages(world: World, result: list[Message]) -> None:
    assert [m.id for m in result] == [m.id for m in world.messages]
    assert [m.content for m in result] == [m.content for m in world.messages]


def _list_sessions(world: World) -> list[Session]:
    return world.adapter.list_sessions()


def _list_by_user(world: World) -> list[Session]:
    return world.adapter.list_sessions({"user_id": world.user})


def _check_listing(world: World, result: list[Session]) -> None:
    # Other worlds' sessions may share the table (and a scan lists them too).
    assert [s for s in result if s.id == world.sid] == [world.session]
    assert len({s.id for s in result}) == len(result)


CASES = [
    Case("create_session", ("PutItem",), ("PutItem",), _create, _check_create),
    Case("update_session", ("UpdateItem",), ("UpdateItem",), _update, _check_update),
    Case(
        "update_session_expected_version",
        ("UpdateItem",),
        ("UpdateItem",),
        _update_expected,
        _check_update,
    ),
    Case("add_message", ("TransactWriteItems",), ("TransactWriteItems",), _add, _check_add),
    Case(
        "update_message",
        ("UpdateItem",),
        ("UpdateItem",),
        _update_message,
        _check_update_message,
    ),
    Case(
        "update_message_token_count",
        ("GetItem", "TransactWriteItems"),
        ("TransactWriteItems",),
        _update_tokens,
        _check_update_tokens,
    ),
    Case(
        "delete_message",
        ("GetItem", "TransactWriteItems"),
        ("TransactWriteItems",),
        _delete_message,
        _check_delete_message,
    ),
    Case(
        "delete_session",
        ("DeleteItem", "Query", "BatchWriteItem"),
        ("DeleteItem", "BatchWriteItem"),
        _delete_session,
        _check_delete_session,
        messages=MANY,
    ),
    Case(
        "delete_all_messages",
        ("Query", "TransactWriteItems"),
        ("TransactWriteItems",),
        _delete_all,
        _check_delete_all,
        messages=MANY,
    ),
    Case("get_session", ("GetItem",), (), _get_session, _check_get_session),
    Case("get_messages", ("Query",), (), _get_messages, _check_get_messages),
    Case("list_sessions_scan", ("Scan",), (), _list_sessions, _check_listing),
    Case("list_sessions_by_user", ("Query",), (), _list_by_user, _check_listing),
]
BY_NAME = {case.name: case for case in CASES}
WRITES = [case for case in CASES if case.writes]


def cause_matches(error: BaseException | None, fault: Fault) -> bool:
    """``error`` is what botocore raises after ``fault`` on the last attempt."""
    if fault is CONNECTION_RESET:
        return isinstance(error, ConnectionClosedError)
    if fault is READ_TIMEOUT:
        return isinstance(error, ReadTimeoutError)
    if fault is CONNECT_ERROR:
        return isinstance(error, EndpointConnectionError)
    return isinstance(error, ClientError) and aws_code_of(error) == fault.code


def run_cells(cells: dict[str, Callable[[], None]], *, workers: int = 4) -> None:
    """Run every cell of a matrix; fail listing the cells that failed.

    Each cell works on a session of its own through an adapter (a client) of its
    own, so cells run side by side: their retries' backoff sleeps overlap.
    """

    def run(cell: Callable[[], None]) -> str | None:
        try:
            cell()
        except Exception as error:
            return f"{type(error).__name__}: {error}"
        return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = dict(zip(cells, pool.map(run, cells.values()), strict=True))
    failures = [f"{name}: {outcome}" for name, outcome in outcomes.items() if outcome]
    assert not failures, f"{len(failures)} of {len(cells)} cells failed:\n" + "\n".join(failures)


# --- the injector itself ------------------------------------------------------------


def test_faults_happen_below_botocore_retries(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    world = seed(make_adapter(5), 0)
    adapter = world.adapter
    plan = FaultPlan(
        fail("GetItem", with_=INTERNAL_ERROR),
        fail("GetItem", with_=CONNECTION_RESET),
        fail("GetItem", with_=READ_TIMEOUT),
        fail("GetItem", with_=CONNECT_ERROR),
    )
    with count_requests(adapter) as calls, inject(adapter, plan) as injector:
        response = adapter.models.client.get_item(
            TableName=adapter.config.table_name,
            Key={"PK": {"S": f"SESSION#{world.sid}"}, "SK": {"S": "META"}},
        )
    assert calls.operations == ["GetItem"]  # one API call ...
    assert injector.sends["GetItem"] == 5  # ... five HTTP sends: botocore retried them
    assert response["ResponseMetadata"]["RetryAttempts"] == 4
    assert response["Item"]["PK"] == {"S": f"SESSION#{world.sid}"}
    assert [(i.fault, i.attempt) for i in injector.injections] == [
        ("InternalServerError", 1),
        ("ConnectionReset", 2),
        ("ReadTimeout", 3),
        ("ConnectError", 4),
    ]
    assert len({i.invocation_id for i in injector.injections}) == 1
    injector.assert_exhausted()


def test_faults_apply_the_request_or_not_as_declared(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    """``fail`` never reaches the backend (not even moto's in-process stub); the others do."""
    world = seed(make_adapter(2), 3)
    client = world.adapter.models.client
    table = world.adapter.config.table_name
    failed = {"PK": {"S": "SESSION#never"}, "SK": {"S": "META"}}
    plan = FaultPlan(fail("PutItem", times=None))
    with inject(world.adapter, plan) as injector, pytest.raises(ClientError):
        client.put_item(TableName=table, Item=failed)
    assert injector.fired("PutItem", action="fail") == 2
    assert "Item" not in client.get_item(TableName=table, Key=failed, ConsistentRead=True)

    key = {"PK": {"S": "SESSION#probe"}, "SK": {"S": "META"}}
    with inject(world.adapter, FaultPlan(lose_response("PutItem", times=2))) as injector:
        with pytest.raises(ClientError) as raised:
            client.put_item(TableName=table, Item={**key, "n": {"N": "1"}})
        assert aws_code_of(raised.value) == "InternalServerError"
    assert injector.fired("PutItem", action="lose_response") == 2
    assert client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]["n"] == {"N": "1"}

    deletes: list[Any] = [
        {"DeleteRequest": {"Key": {"PK": {"S": f"SESSION#{world.sid}"}, "SK": {"S": sk}}}}
        for sk in (MessageItem.from_domain(m).serialize()["SK"]["S"] for m in world.messages)
    ]
    with inject(world.adapter, FaultPlan(unprocessed(hold_back=2))) as injector:
        response = client.batch_write_item(RequestItems={table: deletes})
    assert response["UnprocessedItems"] == {table: deletes[1:]}
    assert message_ids(world.adapter, world.sid) == [m.id for m in world.messages[1:]]
    injector.assert_exhausted()


# --- retried faults: the call succeeds -------------------------------------------------


def storm_cell(make_adapter: Callable[[int], DynamoDBAdapter], case: Case, throttle: Fault) -> None:
    """The main operation is throttled, then every operation meets each fast fault in a row.

    Throttling backs off for up to 1 s, so once; six attempts get every
    operation through. All faults of an operation hit the retries of one API
    call: botocore's retries, not the adapter's.
    """
    main = case.writes[0] if case.writes else case.operations[0]
    world = seed(make_adapter(6), case.messages)
    rules = [fail(main, with_=throttle)]
    rules += [fail(op, with_=fault) for op in case.operations for fault in FAST_FAULTS]
    with inject(world.adapter, FaultPlan(*rules)) as injector:
        result = case.call(world)
    injector.assert_exhausted()
    for op in case.operations:
        faults = [i.fault for i in injector.injections if i.operation == op]
        expected = [f.name for f in FAST_FAULTS]
        if op == main:
            expected = [throttle.name, *expected]
        if op == "BatchWriteItem":  # parallel batches: recorded in the order they finish
            faults.sort(key=expected.index)
        assert faults == expected
        calls = {i.invocation_id for i in injector.injections if i.operation == op}
        # delete_session sends its two batches in parallel: they share the faults out.
        assert len(calls) == 1 or (op == "BatchWriteItem" and len(calls) <= 2)
    case.check(world, result)


def test_retryable_faults_are_retried(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    """Every call survives throttling, 5xx, connection resets and read timeouts.

    The two throttling codes alternate between calls. One test for the whole
    matrix (see ``run_cells``): a table per cell would cost more than the cells.
    """
    run_cells(
        {
            case.name: partial(
                storm_cell, make_adapter, case, THROTTLING_FAULTS[index % len(THROTTLING_FAULTS)]
            )
            for index, case in enumerate(CASES)
        }
    )


# --- faults beyond the retry budget: StorageError, and a state a retry completes -------------


BUDGET = [
    (case, operation, FAST_FAULTS[index % len(FAST_FAULTS)])
    for index, (case, operation) in enumerate(
        (case, operation) for case in CASES for operation in case.operations
    )
]
"""Every operation of every call, with the fast faults in turn."""


def budget_cell(
    make_adapter: Callable[[int], DynamoDBAdapter], case: Case, operation: str, fault: Fault
) -> None:
    """Every attempt of ``operation`` fails: StorageError, cause kept; a retry completes."""
    world = seed(make_adapter(2), case.messages)
    with (
        inject(world.adapter, FaultPlan(fail(operation, with_=fault, times=None))) as injector,
        pytest.raises(StorageError) as raised,
    ):
        case.call(world)
    assert type(raised.value) is StorageError
    assert cause_matches(raised.value.__cause__, fault), repr(raised.value.__cause__)
    calls = {i.invocation_id for i in injector.injections}
    # Both attempts botocore was allowed, for each call (delete_session's batches run in parallel).
    assert injector.fired(operation) == 2 * len(calls)
    assert len(calls) == 1 or (operation == "BatchWriteItem" and len(calls) == 2)
    if case.operations.index(operation) <= case.first_write():
        assert_unchanged(world)  # failed before anything was written
    # The same call, retried, completes the job.
    case.check(world, case.call(world))


def test_faults_beyond_the_retry_budget_raise_storage_error(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    """Each operation of each call fails on every attempt (two); the fast faults in turn."""
    run_cells(
        {
            f"{case.name}/{operation}/{fault.name}": partial(
                budget_cell, make_adapter, case, operation, fault
            )
            for case, operation, fault in BUDGET
        }
    )


def cause_cell(make_adapter: Callable[[int], DynamoDBAdapter], fault: Fault) -> None:
    world = seed(make_adapter(2), 2)
    plan = FaultPlan(fail("TransactWriteItems", with_=fault, times=2))
    with inject(world.adapter, plan) as injector, pytest.raises(StorageError) as raised:
        _add(world)
    injector.assert_exhausted()
    # A StorageError; connection failures as the subclass that says so.
    expected = "ENDPOINT_UNREACHABLE" if fault.name == "ConnectError" else "STORAGE_ERROR"
    assert raised.value.code == expected
    assert cause_matches(raised.value.__cause__, fault), repr(raised.value.__cause__)
    assert_unchanged(world)


def test_storage_error_keeps_the_original_exception(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    """Each kind of fault, past the budget: its exception is the StorageError's cause."""
    run_cells(
        {
            fault.name: partial(cause_cell, make_adapter, fault)
            for fault in [*FAST_FAULTS, CONNECT_ERROR, *THROTTLING_FAULTS]
        }
    )


def delete_all_fails_after_a_batch(make_adapter: Callable[[int], DynamoDBAdapter]) -> None:
    """Beyond one transaction, messages go in parallel batches: one batch goes, then every
    attempt fails; the call recounts before raising (counters say what is left), and a retry
    finishes."""
    world = seed(make_adapter(2), HUNDREDS)
    plan = FaultPlan(fail("BatchWriteItem", with_=INTERNAL_ERROR, skip=1, times=None))
    with inject(world.adapter, plan), pytest.raises(StorageError):
        _delete_all(world)
    assert len(message_ids(world.adapter, world.sid)) in (HUNDREDS - 25, HUNDREDS - 20)
    assert_consistent(world.adapter, world.sid)  # recounted before the failure was raised
    _delete_all(world)
    _check_delete_all(world, None)


def delete_session_fails_after_a_batch(make_adapter: Callable[[int], DynamoDBAdapter]) -> None:
    """The session item and one batch of messages go; then every attempt fails; a retry
    finishes."""
    world = seed(make_adapter(2), MANY)
    plan = FaultPlan(fail("BatchWriteItem", with_=CONNECTION_RESET, skip=1, times=None))
    with inject(world.adapter, plan), pytest.raises(StorageError):
        _delete_session(world)
    assert world.adapter.get_session(world.sid) is None
    remaining = count_messages(world.adapter.models.gateway, world.sid).message_count
    # The two batches (25 and 5 messages) go in parallel: either may be the one let through.
    assert remaining in (MANY - 25, 25)
    _delete_session(world)
    _check_delete_session(world, None)


def test_calls_failing_halfway_are_completed_by_a_retry(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    run_cells(
        {
            "delete_all_messages/second batch": partial(
                delete_all_fails_after_a_batch, make_adapter
            ),
            "delete_session/second batch": partial(
                delete_session_fails_after_a_batch, make_adapter
            ),
        }
    )


# --- lost responses: the write was applied, botocore retries it --------------------------------

LOSSES = (INTERNAL_ERROR, CONNECTION_RESET, READ_TIMEOUT)
LOST = [(case, operation) for case in WRITES for operation in case.writes]
"""Every write operation of every write call."""


def lost_cell(make_adapter: Callable[[int], DynamoDBAdapter], case: Case, operation: str) -> None:
    """No false SessionExistsError or ConcurrencyError, no double increment, no duplicate.

    The first send of ``operation`` is applied and its answer replaced by a 500;
    botocore's retry (of a write already applied) has its answer lost to a
    connection reset, the next one to a read timeout; the fourth attempt is answered.
    """
    world = seed(make_adapter(4), case.messages)
    plan = FaultPlan(*(lose_response(operation, then=then) for then in LOSSES))
    with inject(world.adapter, plan) as injector:
        result = case.call(world)
    injector.assert_exhausted()
    faults = [i.fault for i in injector.injections]
    if operation == "BatchWriteItem":  # parallel batches: recorded in the order they finish
        faults.sort(key=[then.name for then in LOSSES].index)
    assert faults == [then.name for then in LOSSES]
    calls = {i.invocation_id for i in injector.injections}
    # botocore's retries (delete_session's two batches run in parallel and may share the losses)
    assert len(calls) == 1 or (operation == "BatchWriteItem" and len(calls) == 2)
    case.check(world, result)


def test_lost_responses_are_retried_idempotently(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    """Each write operation of each write call loses its responses three times in a row."""
    run_cells(
        {
            f"{case.name}/{operation}": partial(lost_cell, make_adapter, case, operation)
            for case, operation in LOST
            # moto ignores ClientRequestToken: add_message on moto has its own test below.
            if not (backend.name == "moto" and case.name == "add_message")
        }
    )


@pytest.mark.backends("moto")
def test_add_message_lost_response_on_moto(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    lost_cell(make_adapter, BY_NAME["add_message"], "TransactWriteItems")


def test_create_session_after_a_lost_response_with_realistic_sessions(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    """The retried put recognises its own item, whatever the session holds."""
    adapter = make_adapter(2)
    for traits in ({}, {"compressed": True, "with_budget": True}, {"expiring": True}):
        new = SessionFactory.build(with_id=True, **traits)
        with inject(adapter, FaultPlan(lose_response("PutItem"))) as injector:
            created = adapter.create_session(new)
        injector.assert_exhausted()
        assert adapter.get_session(created.id) == created
        with pytest.raises(SessionExistsError):  # a second call is still refused
            adapter.create_session(new)


# --- lost responses racing another writer ----------------------------------------------
#
# Between a lost response and botocore's retry (a backoff of milliseconds, or a
# read timeout) other clients write the same item. The retry must still recognise
# the applied write: the session keeps the tokens of its last 8 writes.

INTERVENING = pytest.mark.parametrize("intervening", [1, WRITE_TOKEN_SLOTS - 1])


@INTERVENING
def test_update_session_lost_response_raced_by_other_updates(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter], intervening: int
) -> None:
    world = seed(make_adapter(3), 0)
    other = make_adapter(3)

    def concurrent_updates() -> None:
        for n in range(intervening):
            other.update_session(world.sid, {"metadata": {"title": f"theirs {n}"}})

    plan = FaultPlan(lose_response("UpdateItem", side_effect=concurrent_updates))
    with inject(world.adapter, plan) as injector:
        result = world.adapter.update_session(world.sid, {"status": "paused"})
    injector.assert_exhausted()
    stored = world.adapter.get_session(world.sid)
    assert stored is not None
    last_title = f"theirs {intervening - 1}"
    assert (stored.status.value, stored.metadata.title) == ("paused", last_title)
    assert stored.version == world.session.version + 1 + intervening  # one per update
    assert result == stored  # the retry answers with the session as stored now


@INTERVENING
def test_update_session_with_expected_version_lost_response_raced_by_other_updates(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter], intervening: int
) -> None:
    world = seed(make_adapter(3), 0)
    other = make_adapter(3)

    def concurrent_updates() -> None:
        for n in range(intervening):
            other.update_session(world.sid, {"metadata": {"title": f"theirs {n}"}})

    plan = FaultPlan(lose_response("UpdateItem", side_effect=concurrent_updates))
    with inject(world.adapter, plan) as injector:
        result = world.adapter.update_session(  # no false ConcurrencyError
            world.sid, {"status": "paused"}, expected_version=world.session.version
        )
    injector.assert_exhausted()
    assert result.status.value == "paused"
    assert result.version == world.session.version + 1 + intervening
    assert world.adapter.get_session(world.sid) == result


def test_update_session_history_of_write_ids_stays_bounded(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    world = seed(make_adapter(3), 0)
    before = world.adapter.models.client.get_item(
        TableName=world.adapter.config.table_name,
        Key=SessionMeta.key(world.sid),
        ConsistentRead=True,
    )["Item"]
    for n in range(WRITE_TOKEN_SLOTS + 3):
        world.adapter.update_session(world.sid, {"metadata": {"title": f"t{n}"}})
    item = world.adapter.models.client.get_item(
        TableName=world.adapter.config.table_name,
        Key=SessionMeta.key(world.sid),
        ConsistentRead=True,
    )["Item"]
    tokens = [entry["S"] for entry in item["writeTokens"]["L"]]
    assert len(tokens) == WRITE_TOKEN_SLOTS
    assert len(set(tokens)) == WRITE_TOKEN_SLOTS  # the 8 newest, all distinct
    # The one bookkeeping attribute: nothing else appeared on the item.
    assert set(item) == set(before)


def test_delete_all_messages_lost_response_raced_by_an_append(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    world = seed(make_adapter(3), 1)
    other = make_adapter(3)
    appended: list[Message] = []

    def concurrent_append() -> None:
        appended.append(
            other.add_message(world.sid, {"role": "user", "content": "racing", "token_count": 5})
        )

    plan = FaultPlan(lose_response("TransactWriteItems", side_effect=concurrent_append))
    with inject(world.adapter, plan) as injector:
        world.adapter.delete_all_messages(world.sid)
    injector.assert_exhausted()
    assert message_ids(world.adapter, world.sid) == [appended[0].id]  # appends racing it stay
    assert_consistent(world.adapter, world.sid)


# --- sweeping expired sessions ----------------------------------------------------------


def test_sweep_expired_failing_halfway_is_completed_by_a_retry(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    adapter = make_adapter(2)
    world = seed(adapter, MANY, expires_at=datetime(2020, 1, 1, tzinfo=UTC))
    plan = FaultPlan(fail("BatchWriteItem", with_=INTERNAL_ERROR, skip=1, times=None))
    with inject(adapter, plan), pytest.raises(StorageError):
        adapter.sweep_expired()
    adapter.sweep_expired()  # the same call, retried
    assert adapter.get_session(world.sid) is None
    assert count_messages(adapter.models.gateway, world.sid).message_count == 0


def test_sweep_expired_after_a_lost_response(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    adapter = make_adapter(3)
    world = seed(adapter, 3, expires_at=datetime(2020, 1, 1, tzinfo=UTC))
    with inject(adapter, FaultPlan(lose_response("DeleteItem"))) as injector:
        removed = adapter.sweep_expired()
    injector.assert_exhausted()
    assert adapter.get_session(world.sid) is None
    assert count_messages(adapter.models.gateway, world.sid).message_count == 0
    assert removed == 1


# --- the async adapter: the same client, so the same faults ------------------------------


def test_async_adapter_calls_survive_faults(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    """Concurrent coroutines (bridged calls sharing one client) meet faults and lost responses."""
    # Five attempts: even if one call met all four transaction faults, it gets through.
    world = seed(make_adapter(5), 2)
    plan = FaultPlan(
        fail("TransactWriteItems", with_=INTERNAL_ERROR, times=2),
        fail("TransactWriteItems", with_=CONNECTION_RESET, times=2),
        lose_response("UpdateItem", then=READ_TIMEOUT),
    )

    async def scenario() -> tuple[list[Message], Session]:
        adapter = AsyncDynamoDBAdapter.from_sync(world.adapter, max_workers=4)
        try:
            appends = [
                adapter.add_message(world.sid, {"role": "user", "content": f"a{i}"})
                for i in range(5)
            ]
            # Appends move the version too: an expected_version would race them.
            update = adapter.update_session(world.sid, {"status": "paused"})
            *added, updated = await asyncio.gather(*appends, update)
        finally:
            await adapter.close()
        return cast("list[Message]", added), cast("Session", updated)

    with inject(world.adapter, plan) as injector:
        added, updated = asyncio.run(scenario())
    injector.assert_exhausted()
    expected = sorted([m.id for m in world.messages] + [m.id for m in added])
    assert message_ids(world.adapter, world.sid) == expected
    stored = assert_consistent(world.adapter, world.sid)
    # Every append and the update moved the version by exactly one.
    assert stored.message_count == len(world.messages) + 5
    assert stored.version == world.session.version + len(added) + 1
    assert world.session.version < updated.version <= stored.version


# --- transaction conflicts ---------------------------------------------------------------


def conflict_cell(make_adapter: Callable[[int], DynamoDBAdapter], case: Case) -> None:
    """Two TransactionConflict cancellations, then the transaction goes through."""
    world = seed(make_adapter(3), case.messages)
    plan = FaultPlan(fail("TransactWriteItems", with_=TRANSACTION_CONFLICT, times=2))
    with inject(world.adapter, plan) as injector:
        result = case.call(world)
    injector.assert_exhausted()
    # botocore does not retry cancellations: each retry is a new call of the adapter's.
    assert len({i.invocation_id for i in injector.injections}) == 2
    assert injector.sends["TransactWriteItems"] == 3
    case.check(world, result)


def endless_conflicts(make_adapter: Callable[[int], DynamoDBAdapter]) -> None:
    world = seed(make_adapter(2), 2)
    plan = FaultPlan(fail("TransactWriteItems", with_=TRANSACTION_CONFLICT, times=None))
    with inject(world.adapter, plan) as injector, pytest.raises(StorageError) as raised:
        _add(world)
    # The adapter gave up after a few conflicts (each a new call: botocore does not retry them).
    assert injector.fired("TransactWriteItems") == injector.sends["TransactWriteItems"] >= 2
    assert cause_matches(raised.value.__cause__, TRANSACTION_CONFLICT)
    assert_unchanged(world)


def locked_item_cell(
    make_adapter: Callable[[int], DynamoDBAdapter], case: Case, operation: str
) -> None:
    """Two TransactionConflictExceptions (botocore does not retry them), then the write."""
    world = seed(make_adapter(3), case.messages)
    plan = FaultPlan(fail(operation, with_=ITEM_IN_TRANSACTION, times=2))
    with inject(world.adapter, plan) as injector:
        result = case.call(world)
    injector.assert_exhausted()
    assert len({i.invocation_id for i in injector.injections}) == 2  # the adapter's retries
    case.check(world, result)


def item_locked_for_too_long(make_adapter: Callable[[int], DynamoDBAdapter]) -> None:
    world = seed(make_adapter(2), 0)
    plan = FaultPlan(fail("UpdateItem", with_=ITEM_IN_TRANSACTION, times=None))
    with inject(world.adapter, plan), pytest.raises(StorageError) as raised:
        _update(world)
    assert cause_matches(raised.value.__cause__, ITEM_IN_TRANSACTION)
    assert_unchanged(world)


def test_transaction_conflicts_are_retried_by_the_adapter(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    """Cancelled transactions and single-item writes on items locked by a transaction."""
    cells: dict[str, Callable[[], None]] = {
        f"{name}/TransactionConflict": partial(conflict_cell, make_adapter, BY_NAME[name])
        for name in ("add_message", "update_message_token_count", "delete_message")
    }
    cells |= {
        f"{name}/{operation}/ItemInTransaction": partial(
            locked_item_cell, make_adapter, BY_NAME[name], operation
        )
        for name, operation in (
            ("create_session", "PutItem"),
            ("update_session", "UpdateItem"),
            ("update_session_expected_version", "UpdateItem"),
            ("update_message", "UpdateItem"),
            ("delete_session", "DeleteItem"),
        )
    }
    cells["add_message/endless TransactionConflict"] = partial(endless_conflicts, make_adapter)
    cells["update_session/endless ItemInTransaction"] = partial(
        item_locked_for_too_long, make_adapter
    )
    run_cells(cells)


# --- unprocessed items of batch writes ---------------------------------------------------


# delete_session (and sweep_expired, handle_stream_event) delete messages with
# BatchWriteItem; delete_all_messages uses transactions, which have no UnprocessedItems.


def unprocessed_cell(
    make_adapter: Callable[[int], DynamoDBAdapter], hold_back: int, skip: int
) -> None:
    world = seed(make_adapter(3), MANY)
    plan = FaultPlan(unprocessed(hold_back=hold_back, times=2, skip=skip))
    with inject(world.adapter, plan) as injector:
        _delete_session(world)
    injector.assert_exhausted()
    assert injector.sends["BatchWriteItem"] == 4  # two batches, two resends
    _check_delete_session(world, None)


def permanently_unprocessed(make_adapter: Callable[[int], DynamoDBAdapter]) -> None:
    """Never a silent loss: an error, and a state the same call, retried, completes."""
    # One attempt: the adapter resends unprocessed items 2 x max_attempts times, with backoff.
    world = seed(make_adapter(1), MANY)
    plan = FaultPlan(unprocessed(hold_back=1, times=None))
    with inject(world.adapter, plan) as injector, pytest.raises(StorageError) as raised:
        _delete_session(world)
    assert "unprocessed" in str(raised.value)
    assert injector.fired("BatchWriteItem") >= 2
    remaining = count_messages(world.adapter.models.gateway, world.sid).message_count
    # Both batches were in flight at once: each was applied but for the one it held back.
    assert remaining == 2
    _delete_session(world)
    _check_delete_session(world, None)


def test_unprocessed_items_are_retried_until_done_or_an_error(
    backend: Backend, make_adapter: Callable[[int], DynamoDBAdapter]
) -> None:
    run_cells(
        {
            "first batch, 5 held back twice": partial(unprocessed_cell, make_adapter, 5, 0),
            "second batch, 1 held back twice": partial(unprocessed_cell, make_adapter, 1, 1),
            "permanently unprocessed": partial(permanently_unprocessed, make_adapter),
        }
    )
