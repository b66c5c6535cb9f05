"""Concurrency guarantees of DynamoDBAdapter (SPEC §3, §5), on every backend.

Threads share one adapter or build their own; processes (``spawn``) each
build their own adapter on one HTTP endpoint: DynamoDB Local's, or, for the
moto backend, a ``ThreadedMotoServer`` started by the test. moto's request
handling is serialised, in process (``MotoBackend``) and on the server
(``http_endpoint``), so tests there see DynamoDB's semantics rather than
moto's own races. DynamoDB Local serves requests in parallel; it serialises
transactions on an item itself (measured: no ``TransactionConflict``
cancellations even with 8 appenders), so the adapter's conflict retries are
not exercised here -- AWS does cancel conflicting transactions.

The ``delete_all_messages`` tests at the end are deterministic
interleavings: another adapter writes between the listing and the batch
delete, which is what a racing writer does when it wins that window.

Every test starts its workers behind a barrier so their requests overlap,
and checks the table itself afterwards: the messages stored, the session's
counters against a recount of the stored messages, and no stray items.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.process
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from session_store import (
    ConcurrencyError,
    DynamoDBAdapter,
    Message,
    MessageNotFoundError,
    SessionNotFoundError,
)
from session_store.gateway import Outcome
from session_store.table import TableConfig
from session_store.testing.backends import Backend, fake_credentials, unique_table_name
from session_store.testing.moto_server import MotoServer

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Barrier as ProcessBarrier

T = TypeVar("T")

_START_TIMEOUT = 60.0
"""Seconds a worker waits at the start barrier (spawned processes import slowly)."""
_JOIN_TIMEOUT = 120.0


# --- helpers -----------------------------------------------------------------


def run_together(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(0..count-1)`` on ``count`` threads released at once; their results.

    The first exception of any worker is raised after all of them finished.
    """
    barrier = threading.Barrier(count)

    def start(index: int) -> T:
        barrier.wait(timeout=_START_TIMEOUT)
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(start, index) for index in range(count)]
        return [future.result(timeout=_JOIN_TIMEOUT) for future in futures]


class AdapterPool:
    """``count`` adapters on one table: one shared, or one per worker."""

    def __init__(self, config: TableConfig, count: int, *, shared: bool) -> None:
        self._stack = ExitStack()
        made = 1 if shared else count
        self._adapters = [
            self._stack.enter_context(
                DynamoDBAdapter(
                    config.table_name,
                    region=config.region,
                    endpoint_url=config.endpoint_url,
                    max_pool_connections=max(count, 10),
                )
            )
            for _ in range(made)
        ]

    def __getitem__(self, worker: int) -> DynamoDBAdapter:
        return self._adapters[worker % len(self._adapters)]

    def close(self) -> None:
        self._stack.close()


@pytest.fixture
def make_pool(
    adapter: DynamoDBAdapter, table_config: TableConfig
) -> Iterator[Callable[[int, bool], AdapterPool]]:
    """Pools of adapters on the fresh table that ``adapter`` created."""
    pools: list[AdapterPool] = []

    def make(count: int, shared: bool) -> AdapterPool:
        pool = AdapterPool(table_config, count, shared=shared)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


def stored_items(adapter: DynamoDBAdapter, session_id: str) -> list[dict[str, Any]]:
    """Every item under ``SESSION#{session_id}`` (META and messages), strongly consistent."""
    request: dict[str, Any] = {
        "TableName": adapter.config.table_name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": "PK"},
        "ExpressionAttributeValues": {":pk": {"S": f"SESSION#{session_id}"}},
        "ConsistentRead": True,
    }
    items: list[dict[str, Any]] = []
    while True:
        page = adapter.models.client.query(**request)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass(frozen=True)
class Counters:
    message_count: int
    token_count: int


def stored_counters(adapter: DynamoDBAdapter, session_id: str) -> Counters:
    session = adapter.get_session(session_id)
    assert session is not None
    return Counters(session.message_count, session.token_count)


def recounted(messages: list[Message]) -> Counters:
    """What the counters must say, from the stored messages themselves."""
    return Counters(len(messages), sum(m.token_count or 0 for m in messages))


def content_of(message: Message) -> str:
    assert isinstance(message.content, str)
    return message.content


# --- 1. threads appending to one session --------------------------------------

THREAD_WRITERS = 8
THREAD_MESSAGES = 25


@pytest.mark.parametrize("sharing", ["shared-adapter", "adapter-per-thread"])
def test_threads_appending_to_one_session_lose_nothing(
    make_pool: Callable[[int, bool], AdapterPool], sharing: str
) -> None:
    """8 threads x 25 appends: all 200 stored once, exact counters, each writer's order kept."""
    pool = make_pool(THREAD_WRITERS, sharing == "shared-adapter")
    session = pool[0].create_session({"status": "active"})

    def tokens(writer: int, index: int) -> int:
        return writer * 3 + index % 5 + 1

    def append(writer: int) -> list[Message]:
        adapter = pool[writer]
        return [
            adapter.add_message(
                session.id,
                {
                    "role": "user",
                    "content": f"w{writer}-{index}",
                    "token_count": tokens(writer, index),
                    "sequence": index,
                },
            )
            for index in range(THREAD_MESSAGES)
        ]

    written = run_together(THREAD_WRITERS, append)

    stored = pool[0].get_messages(session.id)
    acknowledged = [message for batch in written for message in batch]
    assert len(stored) == THREAD_WRITERS * THREAD_MESSAGES
    assert sorted(m.id for m in stored) == sorted(m.id for m in acknowledged)
    assert len({m.id for m in stored}) == len(stored)
    # Every acknowledged message is stored exactly as returned.
    by_id = {m.id: m for m in stored}
    assert all(by_id[m.id] == m for m in acknowledged)
    # Sort-key order is id order (ids are monotonic within this process) ...
    assert [m.id for m in stored] == sorted(m.id for m in stored)
    # ... so each writer's messages appear in the order it wrote them.
    for writer in range(THREAD_WRITERS):
        mine = [content_of(m) for m in stored if content_of(m).startswith(f"w{writer}-")]
        assert mine == [f"w{writer}-{index}" for index in range(THREAD_MESSAGES)]
        assert [m.id for m in written[writer]] == sorted(m.id for m in written[writer])
    expected_tokens = sum(
        tokens(w, i) for w in range(THREAD_WRITERS) for i in range(THREAD_MESSAGES)
    )
    assert recounted(stored) == Counters(THREAD_WRITERS * THREAD_MESSAGES, expected_tokens)
    final = pool[0].get_session(session.id)
    assert final is not None
    assert (final.message_count, final.token_count) == (len(stored), expected_tokens)
    # Every append is one write of the session item: one increment each, none lost.
    assert final.version == session.version + THREAD_WRITERS * THREAD_MESSAGES


# --- 2. processes appending to one session -------------------------------------

PROCESS_WRITERS = 4
PROCESS_MESSAGES = 40

_Result = tuple[int, list[str], str | None]


@dataclass(frozen=True)
class _AppendJob:
    """What one appending process does (picklable, for ``spawn``)."""

    endpoint_url: str
    region: str
    table_name: str
    session_id: str
    writer: int
    count: int


def _append_in_process(job: _AppendJob, barrier: ProcessBarrier, results: Queue[_Result]) -> None:
    """Child process: own adapter, ``count`` appends with ``sequence`` = its own counter."""
    fake_credentials()
    written: list[str] = []
    try:
        with DynamoDBAdapter(
            job.table_name, region=job.region, endpoint_url=job.endpoint_url
        ) as adapter:
            adapter.get_session(job.session_id)  # client made and connected before the start
            barrier.wait(timeout=_START_TIMEOUT)
            for sequence in range(job.count):
                message = adapter.add_message(
                    job.session_id,
                    {
                        "role": "assistant",
                        "content": f"p{job.writer}-{sequence}",
                        "token_count": job.writer + 1,
                        "sequence": sequence,
                    },
                )
                written.append(message.id)
    except BaseException as error:
        results.put((job.writer, written, repr(error)))
        raise
    results.put((job.writer, written, None))


def collect_reports(
    results: Queue[_Result], processes: Sequence[multiprocessing.process.BaseProcess]
) -> list[_Result]:
    """One report per process; stops early (with what it has) when a child died silently."""
    reports: list[_Result] = []
    deadline = time.monotonic() + _JOIN_TIMEOUT
    while len(reports) < len(processes) and time.monotonic() < deadline:
        try:
            reports.append(results.get(timeout=1.0))
        except queue.Empty:
            if not any(process.is_alive() for process in processes):
                break  # a child exited without reporting (crashed while importing?)
    assert len(reports) == len(processes), f"only {len(reports)} processes reported"
    return reports


@pytest.fixture
def http_endpoint(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An HTTP endpoint other processes can reach: DynamoDB Local's, or a moto server.

    For moto, ``MotoServer``: moto's own threaded server runs requests in
    parallel, and two concurrent TransactWriteItems (each snapshotting and
    restoring the whole table) raise ``RuntimeError: dictionary changed size
    during iteration`` or silently undo each other's writes (seen here: a
    token lost from a counter); ``MotoServer`` serialises them.
    """
    if backend.endpoint_url is not None:
        yield backend.endpoint_url
        return
    with MotoServer() as server:
        yield server.endpoint_url


@pytest.fixture
def http_adapter(http_endpoint: str, backend: Backend) -> Iterator[DynamoDBAdapter]:
    """An adapter on a fresh table at ``http_endpoint``; the table is deleted afterwards."""
    with DynamoDBAdapter(
        unique_table_name(), region=backend.region, endpoint_url=http_endpoint
    ) as made:
        made.create_table()
        yield made
        made.models.client.delete_table(TableName=made.config.table_name)


def test_processes_appending_to_one_session_lose_nothing(http_adapter: DynamoDBAdapter) -> None:
    """4 spawned processes x 40 appends: all 160 stored once, exact counters, order per writer."""
    adapter = http_adapter
    endpoint = adapter.config.endpoint_url
    backend_region = adapter.config.region
    assert endpoint is not None
    assert backend_region is not None
    session = adapter.create_session({"status": "active"})
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESS_WRITERS)
    results: Queue[_Result] = context.Queue()
    processes = [
        context.Process(
            target=_append_in_process,
            args=(
                _AppendJob(
                    endpoint,
                    backend_region,
                    adapter.config.table_name,
                    session.id,
                    writer,
                    PROCESS_MESSAGES,
                ),
                barrier,
                results,
            ),
            name=f"appender-{writer}",
        )
        for writer in range(PROCESS_WRITERS)
    ]
    for process in processes:
        process.start()
    try:
        reports = collect_reports(results, processes)
    finally:
        for process in processes:
            process.join(timeout=_JOIN_TIMEOUT)
            if process.is_alive():  # pragma: no cover - only when a child hangs
                process.kill()
                process.join()
    errors = {writer: error for writer, _, error in reports if error is not None}
    assert errors == {}
    assert [process.exitcode for process in processes] == [0] * PROCESS_WRITERS
    written = {writer: ids for writer, ids, _ in reports}

    stored = adapter.get_messages(session.id)
    total = PROCESS_WRITERS * PROCESS_MESSAGES
    assert len(stored) == total
    assert sorted(m.id for m in stored) == sorted(i for ids in written.values() for i in ids)
    for writer in range(PROCESS_WRITERS):
        # Each process's own ids are monotonic; across processes they interleave.
        assert written[writer] == sorted(written[writer])
        mine = [m for m in stored if content_of(m).startswith(f"p{writer}-")]
        assert [m.sequence for m in mine] == list(range(PROCESS_MESSAGES))
        assert [m.id for m in mine] == written[writer]
    expected_tokens = sum((w + 1) * PROCESS_MESSAGES for w in range(PROCESS_WRITERS))
    assert recounted(stored) == Counters(total, expected_tokens)
    assert stored_counters(adapter, session.id) == Counters(total, expected_tokens)


# --- 3. optimistic locking -----------------------------------------------------

VERSION_RACERS = 16
VERSION_ROUNDS = 5


@pytest.mark.parametrize("sharing", ["shared-adapter", "adapter-per-thread"])
def test_one_winner_per_version(
    make_pool: Callable[[int, bool], AdapterPool], sharing: str
) -> None:
    """16 ``update_session(expected_version=v)`` at once: one wins, 15 see ``v + 1``."""
    pool = make_pool(VERSION_RACERS, sharing == "shared-adapter")
    session = pool[0].create_session({"status": "active", "metadata": {"title": "start"}})
    version = session.version
    for round_number in range(VERSION_ROUNDS):

        def update(racer: int, expected: int = version, rnd: int = round_number) -> object:
            try:
                return pool[racer].update_session(
                    session.id,
                    {"metadata": {"title": f"r{rnd}-{racer}"}},
                    expected_version=expected,
                )
            except ConcurrencyError as error:
                return error

        outcomes = run_together(VERSION_RACERS, update)
        winners = [o for o in outcomes if not isinstance(o, ConcurrencyError)]
        losers = [o for o in outcomes if isinstance(o, ConcurrencyError)]
        assert len(winners) == 1, outcomes
        assert len(losers) == VERSION_RACERS - 1
        assert all(
            (e.session_id, e.expected_version, e.actual_version)
            == (session.id, version, version + 1)
            for e in losers
        ), [(e.expected_version, e.actual_version) for e in losers]
        stored = pool[0].get_session(session.id)
        assert stored is not None
        assert stored.version == version + 1
        assert stored == winners[0]
        title = stored.metadata.title
        assert title is not None
        assert title.startswith(f"r{round_number}-")
        version += 1


# --- 4. update_message vs delete_message -------------------------------------

EDIT_MESSAGES = 30
EDIT_UPDATERS = 4
EDIT_DELETERS = 2


def test_updates_and_deletes_of_the_same_messages_keep_counters_exact(
    make_pool: Callable[[int, bool], AdapterPool],
) -> None:
    """4 threads change every message's ``token_count`` while 2 delete every other one."""
    workers = EDIT_UPDATERS + EDIT_DELETERS
    pool = make_pool(workers, True)
    adapter = pool[0]
    session = adapter.create_session({"status": "active"})
    messages = [
        adapter.add_message(session.id, {"role": "user", "content": str(i), "token_count": 10})
        for i in range(EDIT_MESSAGES)
    ]
    doomed = {m.id for m in messages[::2]}

    def work(worker: int) -> list[str]:
        outcomes: list[str] = []
        order = list(messages)
        random.Random(worker).shuffle(order)
        for message in order:
            if worker < EDIT_UPDATERS:
                try:
                    adapter.update_message(
                        session.id, message.id, {"token_count": 1 + worker * 7 + len(outcomes)}
                    )
                    outcomes.append("updated")
                except MessageNotFoundError:
                    assert message.id in doomed
                    outcomes.append("gone")
            elif message.id in doomed:
                adapter.delete_message(session.id, message.id)
                outcomes.append("deleted")
        return outcomes

    outcomes = run_together(workers, work)

    stored = adapter.get_messages(session.id)
    assert {m.id for m in stored} == {m.id for m in messages} - doomed
    assert all(m.updated_at is not None for m in stored)
    assert stored_counters(adapter, session.id) == recounted(stored)
    assert sum(o.count("updated") for o in outcomes) >= EDIT_UPDATERS * (EDIT_MESSAGES // 2)


POPPERS = 8
POPPED_MESSAGES = 24


@pytest.mark.parametrize("sharing", ["shared-adapter", "adapter-per-thread"])
def test_concurrent_pops_each_take_a_different_message(
    make_pool: Callable[[int, bool], AdapterPool], sharing: str
) -> None:
    """8 threads pop, 2 of them also editing the newest: each message popped once, as stored."""
    pool = make_pool(POPPERS, sharing == "shared-adapter")
    adapter = pool[0]
    session = adapter.create_session({"status": "active"})
    messages = adapter.add_messages(
        session.id,
        [{"role": "user", "content": str(i), "token_count": i + 1} for i in range(POPPED_MESSAGES)],
    )

    edits: dict[str, set[str]] = {}  # message id -> contents an edit stored (before any pop)

    def work(worker: int) -> list[Message]:
        popped: list[Message] = []
        while (message := pool[worker].pop_message(session.id)) is not None:
            popped.append(message)
            if worker < 2:  # edit what is now the newest, racing the other pops
                for target in pool[worker].get_messages(session.id, {"order": "desc", "limit": 1}):
                    content = f"edited by {worker} after {len(popped)}"
                    with suppress(MessageNotFoundError):
                        pool[worker].update_message(session.id, target.id, {"content": content})
                        edits.setdefault(target.id, set()).add(content)
        return popped

    popped = [message for batch in run_together(POPPERS, work) for message in batch]

    assert sorted(m.id for m in popped) == [m.id for m in messages]  # each exactly once
    original = {m.id: content_of(m) for m in messages}
    for message in popped:  # as stored when it went: an edit that landed is never lost
        assert content_of(message) in edits.get(message.id, {original[message.id]})
    assert adapter.get_messages(session.id) == []
    assert stored_counters(adapter, session.id) == Counters(0, 0)


# --- 5. delete_session vs add_message ------------------------------------------

DELETE_ROUNDS = 12
DELETE_APPENDERS = 4


def test_delete_session_racing_appends_leaves_no_trace(
    make_pool: Callable[[int, bool], AdapterPool],
) -> None:
    """``delete_session`` racing appends leaves nothing of the session behind.

    The contract: ``delete_session`` deletes the session item (META) first,
    then lists and deletes every message; ``add_message`` is one transaction
    conditioned on the session item existing. So an append either committed
    before the META delete -- and then the listing, which starts after it,
    finds and removes its message -- or it fails its condition and raises
    ``SessionNotFoundError`` with nothing written. Afterwards the table holds
    no item of the session (no META, no orphan message) and every append
    either was acknowledged (and its message is gone) or raised
    ``SessionNotFoundError``; nothing else.

    Each round: 4 threads append in a loop until ``SessionNotFoundError``,
    while a fifth calls ``delete_session`` after a random 0-30 ms delay.
    """
    workers = DELETE_APPENDERS + 1
    pool = make_pool(workers, False)
    rng = random.Random(5)
    acknowledged_total = 0
    rounds_with_acks = 0
    for _ in range(DELETE_ROUNDS):
        session = pool[0].create_session({"status": "active"})
        delay = rng.uniform(0, 0.03)

        def work(worker: int, session_id: str = session.id, delay: float = delay) -> object:
            adapter = pool[worker]
            if worker == DELETE_APPENDERS:
                time.sleep(delay)
                adapter.delete_session(session_id)
                return None
            acknowledged: list[str] = []
            while len(acknowledged) < 1000:
                try:
                    message = adapter.add_message(
                        session_id, {"role": "user", "content": "x", "token_count": 1}
                    )
                except SessionNotFoundError:
                    return acknowledged
                acknowledged.append(message.id)
            raise AssertionError("the delete never stopped the appends")

        outcomes = run_together(workers, work)
        # Every appender ended with SessionNotFoundError (anything else was raised above).
        acknowledged = [i for o in outcomes[:DELETE_APPENDERS] if isinstance(o, list) for i in o]
        assert len(outcomes[:DELETE_APPENDERS]) == DELETE_APPENDERS
        assert all(isinstance(o, list) for o in outcomes[:DELETE_APPENDERS])
        assert stored_items(pool[0], session.id) == []  # no META, no orphan message
        assert pool[0].get_session(session.id) is None
        assert pool[0].get_messages(session.id) == []
        with pytest.raises(SessionNotFoundError):
            pool[0].add_message(session.id, {"role": "user", "content": "late"})
        acknowledged_total += len(acknowledged)
        rounds_with_acks += bool(acknowledged)
    # The race was real: appends were acknowledged and then removed by the delete.
    assert rounds_with_acks >= DELETE_ROUNDS // 2
    assert acknowledged_total > 0


# --- 6. delete_all_messages vs add_message ---------------------------------------

CLEAR_ROUNDS = 4
CLEAR_APPENDERS = 4
CLEAR_PRELOADED = 20
CLEAR_APPENDS = 15


def test_delete_all_messages_racing_appends_keeps_counters_exact(
    make_pool: Callable[[int, bool], AdapterPool],
) -> None:
    """Appends racing ``delete_all_messages`` stay counted: counters equal what is stored."""
    workers = CLEAR_APPENDERS + 1
    pool = make_pool(workers, False)
    rng = random.Random(6)
    for _ in range(CLEAR_ROUNDS):
        adapter = pool[0]
        session = adapter.create_session({"status": "active"})
        preloaded = [
            adapter.add_message(session.id, {"role": "user", "content": "old", "token_count": 2})
            for _ in range(CLEAR_PRELOADED)
        ]
        delay = rng.uniform(0, 0.02)

        def work(worker: int, session_id: str = session.id, delay: float = delay) -> list[str]:
            mine = pool[worker]
            if worker == CLEAR_APPENDERS:
                time.sleep(delay)
                mine.delete_all_messages(session_id)
                return []
            return [
                mine.add_message(
                    session_id, {"role": "user", "content": "new", "token_count": worker + 1}
                ).id
                for _ in range(CLEAR_APPENDS)
            ]

        outcomes = run_together(workers, work)
        appended = {i for ids in outcomes for i in ids}
        assert len(appended) == CLEAR_APPENDERS * CLEAR_APPENDS
        stored = adapter.get_messages(session.id)
        assert {m.id for m in stored} <= appended  # every preloaded message is gone
        assert not {m.id for m in preloaded} & {m.id for m in stored}
        assert stored_counters(adapter, session.id) == recounted(stored)
        adapter.delete_session(session.id)  # keeps the table small (moto copies it per transaction)


# --- 6b. delete_all_messages vs writes between its listing and its deletes ---------


@dataclass
class Interleave:
    """Runs ``action`` once, just before ``delete_all_messages`` sends its first deletes."""

    action: Callable[[], None]
    ran: list[bool] = field(default_factory=list)


def interleave_before_first_batch(
    monkeypatch: pytest.MonkeyPatch, adapter: DynamoDBAdapter, action: Callable[[], None]
) -> Interleave:
    """The deterministic form of a race: another writer acts after the listing."""
    hook = Interleave(action)
    gateway = adapter.models.gateway
    original = gateway.transact

    def transact(items: Any) -> Outcome:
        if not hook.ran:
            hook.ran.append(True)
            hook.action()
        return original(items)

    monkeypatch.setattr(gateway, "transact", transact)
    return hook


def test_delete_all_messages_racing_a_token_update_keeps_token_count_exact(
    adapter: DynamoDBAdapter, table_config: TableConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = adapter.create_session({"status": "active"})
    messages = [
        adapter.add_message(session.id, {"role": "user", "content": str(i), "token_count": 5})
        for i in range(3)
    ]
    with DynamoDBAdapter(
        table_config.table_name, region=table_config.region, endpoint_url=table_config.endpoint_url
    ) as other:

        def race() -> None:
            other.update_message(session.id, messages[0].id, {"token_count": 50})

        hook = interleave_before_first_batch(monkeypatch, adapter, race)
        adapter.delete_all_messages(session.id)
    assert hook.ran
    stored = adapter.get_messages(session.id)
    assert stored == []
    assert stored_counters(adapter, session.id) == recounted(stored)


def test_delete_all_messages_racing_a_delete_and_an_append_keeps_message_count_exact(
    adapter: DynamoDBAdapter, table_config: TableConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = adapter.create_session({"status": "active"})
    messages = [
        adapter.add_message(session.id, {"role": "user", "content": str(i), "token_count": 5})
        for i in range(3)
    ]
    with DynamoDBAdapter(
        table_config.table_name, region=table_config.region, endpoint_url=table_config.endpoint_url
    ) as other:

        def race() -> None:
            other.delete_message(session.id, messages[0].id)
            other.add_message(session.id, {"role": "user", "content": "late", "token_count": 5})

        hook = interleave_before_first_batch(monkeypatch, adapter, race)
        adapter.delete_all_messages(session.id)
    assert hook.ran
    stored = adapter.get_messages(session.id)
    assert [content_of(m) for m in stored] == ["late"]
    assert stored_counters(adapter, session.id) == recounted(stored)
