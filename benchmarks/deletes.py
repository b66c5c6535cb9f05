"""Deleting large sessions over a network round trip: parallel batches against one after another.

``python -m benchmarks.deletes`` (``--quick`` for small sizes) starts DynamoDB
Local (or uses ``--endpoint-url``), puts a ``LatencyProxy`` (10 ms each way,
in a process of its own) in front of it, and removes the messages of
sessions of ``--messages`` messages (5,000 by default) six ways, each on a
session of its own, through the proxy:

- raw botocore, sequential: a plain botocore client sending what
  ``delete_session`` sends (the session item's ``DeleteItem``, the listing's
  ``Query`` pages, then ``BatchWriteItem`` of 25 keys each), one request after
  the other;
- ``delete_session``: the adapter (its batches up to 8 in flight);
- raw botocore, sequential, what ``sweep_expired`` sends (the scan for
  expired sessions, the listing, the batches, the conditional delete of the
  session item);
- ``sweep_expired``: the adapter sweeping one expired session of that size;
- raw botocore, sequential, what ``delete_all_messages`` sends (the listing of
  the partition, ``BatchWriteItem`` of 25 keys each, the counter update);
- ``delete_all_messages``: the adapter.

Seeding goes straight to DynamoDB Local and is not measured. Times are
wall-clock seconds, the best of ``--repeats`` (the ways alternate within each
repeat) after an untimed round of each way on sessions of the same size (a
new server's first rounds are slower whichever way deletes); the speed-up
divides the raw sequential time of the same requests by the adapter's.
DynamoDB Local's CPU time is read for each way, its storage thread's apart
(``environment.STORAGE_THREAD``): with batches side by side, that one
thread's time bounds the adapter's.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import botocore.session

from benchmarks.environment import (
    STORAGE_THREAD,
    cpu_spent,
    open_backend,
    process_cpu_seconds,
    thread_cpu_seconds,
)
from benchmarks.latency import proxy_process
from benchmarks.seeding import seed_session
from session_store._time import format_iso, utc_now
from session_store.dynamodb import DynamoDBAdapter

__all__ = [
    "DELETE_MESSAGES",
    "DELETE_SESSION",
    "RAW_MESSAGES",
    "RAW_SESSION",
    "SWEEP",
    "DeleteTiming",
    "main",
    "measure_deletes",
]

_BATCH = 25


@dataclass(frozen=True)
class DeleteTiming:
    label: str
    seconds: float
    requests: int
    server_seconds: float | None = None
    """DynamoDB Local's CPU time meanwhile, where it could be read."""
    storage_seconds: float | None = None
    """Of which its storage thread's (``environment.STORAGE_THREAD``): the part no number of
    requests in flight can spread over more cores."""


@dataclass(frozen=True)
class _ServerCpu:
    """DynamoDB Local's CPU seconds during one way: the whole process's, its storage thread's."""

    process: float | None
    storage: float | None

    @classmethod
    def read(cls, pid: int | None) -> _ServerCpu:
        return cls(process_cpu_seconds(pid), thread_cpu_seconds(pid, STORAGE_THREAD))

    def since(self, before: _ServerCpu) -> _ServerCpu:
        return _ServerCpu(
            cpu_spent(before.process, self.process), cpu_spent(before.storage, self.storage)
        )


Keep = Callable[[str, float, int, _ServerCpu], None]
"""Told each way's seconds, requests and the server's CPU seconds."""


def _raw_sequential(client: Any, table: str, session_id: str) -> int:
    """``delete_session``'s requests from a plain botocore client, one after the other."""
    pk = {"S": f"SESSION#{session_id}"}
    client.delete_item(TableName=table, Key={"PK": pk, "SK": {"S": "META"}})
    return 1 + _delete_messages(client, table, pk)


def _delete_messages(client: Any, table: str, pk: dict[str, str]) -> int:
    """List the keys of the messages under ``pk``, then delete them in batches one after
    the other; returns the requests sent."""
    keys, listing = _every_page(
        client.query,
        {
            "TableName": table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :msg)",
            "ExpressionAttributeValues": {":pk": pk, ":msg": {"S": "MSG#"}},
            "ProjectionExpression": "PK, SK",
            "ConsistentRead": True,
        },
    )
    return listing + _delete_in_batches(client, table, keys)


def _raw_sweep_sequential(client: Any, table: str) -> int:
    """``sweep_expired``'s requests from a plain botocore client, one after the other: the
    scan for sessions expired by now, then for each (expired over an hour ago, so settled)
    its messages and then its item, on the condition that it is still expired."""
    now = int(time.time())
    latest = datetime.fromtimestamp(now, UTC) + timedelta(milliseconds=999)
    expired = (
        "((attribute_type(expiresAt, :n) AND expiresAt <= :now) OR "
        "(attribute_type(expiresAt, :s) AND expiresAt <= :iso))"
    )
    bounds = {
        ":n": {"S": "N"},
        ":s": {"S": "S"},
        ":now": {"N": str(now)},
        ":iso": {"S": format_iso(latest)},
    }
    scan: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": f"SK = :meta AND {expired}",
        "ProjectionExpression": "PK, expiresAt, lastActivityAt",
        "ExpressionAttributeValues": {":meta": {"S": "META"}, **bounds},
    }
    sessions, requests = _every_page(client.scan, scan)
    for session in sessions:
        pk = session["PK"]
        requests += _delete_messages(client, table, pk)
        client.delete_item(
            TableName=table,
            Key={"PK": pk, "SK": {"S": "META"}},
            ConditionExpression=expired,
            ExpressionAttributeValues=bounds,
        )
        requests += 1
    return requests


def _raw_clear_sequential(client: Any, table: str, session_id: str) -> int:
    """``delete_all_messages``'s requests from a plain botocore client, one after the other."""
    pk = {"S": f"SESSION#{session_id}"}
    items, listing = _every_page(
        client.query,
        {
            "TableName": table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :meta AND :end",
            "ExpressionAttributeValues": {
                ":pk": pk,
                ":meta": {"S": "META"},
                ":end": {"S": "MSG$"},
            },
            "ProjectionExpression": "PK, SK, tokenCount, version, messageCount, lastActivityAt",
            "ConsistentRead": True,
        },
    )
    keys = [
        {"PK": item["PK"], "SK": item["SK"]} for item in items if item["SK"]["S"].startswith("MSG#")
    ]
    requests = listing + _delete_in_batches(client, table, keys)
    client.update_item(
        TableName=table,
        Key={"PK": pk, "SK": {"S": "META"}},
        UpdateExpression="SET messageCount = :zero, tokenCount = :zero ADD version :one",
        ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
    )
    return requests + 1


def _every_page(
    send: Callable[..., dict[str, Any]], request: dict[str, Any]
) -> tuple[list[dict[str, Any]], int]:
    """The items of every page of ``request`` (a ``Query`` or ``Scan``, sent by ``send``),
    read one page after the other; and the requests."""
    items: list[dict[str, Any]] = []
    requests = 0
    while True:
        page = send(**request)
        requests += 1
        items.extend(page.get("Items", []))
        if not page.get("LastEvaluatedKey"):
            return items, requests
        request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def _delete_in_batches(client: Any, table: str, keys: list[dict[str, Any]]) -> int:
    """Delete ``keys`` in ``BatchWriteItem``s of 25, one after the other, each until none of
    its keys is left unprocessed; returns the requests sent."""
    requests = 0
    for start in range(0, len(keys), _BATCH):
        pending = [{"DeleteRequest": {"Key": key}} for key in keys[start : start + _BATCH]]
        while pending:
            response = client.batch_write_item(RequestItems={table: pending})
            requests += 1
            pending = response.get("UnprocessedItems", {}).get(table, [])
    return requests


RAW_SESSION = "raw botocore, batches one after another"
RAW_MESSAGES = "raw botocore, `delete_all_messages`' requests one after another"
RAW_SWEEP = "raw botocore, `sweep_expired`'s requests one after another"
DELETE_SESSION = "`delete_session`"
SWEEP = "`sweep_expired` (1 expired session)"
DELETE_MESSAGES = "`delete_all_messages`"


def _counted(adapter: DynamoDBAdapter, call: Callable[[], object]) -> tuple[float, int]:
    """The seconds ``call`` took and the requests the adapter sent meanwhile."""
    calls: list[str] = []
    events = adapter.models.client.meta.events
    events.register("before-call.dynamodb", lambda **_: calls.append("x"), unique_id="bench-del")
    try:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started, len(calls)
    finally:
        events.unregister("before-call.dynamodb", unique_id="bench-del")


def _timed(call: Callable[[], int]) -> tuple[float, int]:
    """The seconds ``call`` took, and the request count it returned."""
    started = time.perf_counter()
    requests = call()
    return time.perf_counter() - started, requests


def _discard(label: str, seconds: float, requests: int, server: _ServerCpu) -> None:
    """A warm-up round's timing: not kept."""


def _round(
    direct: DynamoDBAdapter,
    raw: Any,
    slow: DynamoDBAdapter,
    *,
    table: str,
    messages: int,
    keep: Keep,
    server_pid: int | None,
) -> None:
    """Each way once, on sessions of ``messages`` messages seeded straight to the server."""

    def measure(label: str, timed: Callable[[], tuple[float, int]]) -> None:
        before = _ServerCpu.read(server_pid)
        seconds, requests = timed()
        keep(label, seconds, requests, _ServerCpu.read(server_pid).since(before))

    raw_deleted = seed_session(direct, messages=messages).id
    measure(RAW_SESSION, partial(_timed, partial(_raw_sequential, raw, table, raw_deleted)))
    doomed = seed_session(direct, messages=messages).id
    measure(DELETE_SESSION, partial(_counted, slow, partial(slow.delete_session, doomed)))
    an_hour_ago = utc_now() - timedelta(hours=1)
    raw_expired = seed_session(direct, messages=messages, expires_at=an_hour_ago).id
    measure(RAW_SWEEP, partial(_timed, partial(_raw_sweep_sequential, raw, table)))
    if direct.get_session(raw_expired) is not None:
        raise AssertionError("the raw sweep left the expired session")
    expired = seed_session(direct, messages=messages, expires_at=an_hour_ago)
    measure(SWEEP, partial(_counted, slow, slow.sweep_expired))
    if direct.get_session(expired.id) is not None:
        raise AssertionError("sweep_expired left the expired session")
    raw_emptied = seed_session(direct, messages=messages).id
    measure(RAW_MESSAGES, partial(_timed, partial(_raw_clear_sequential, raw, table, raw_emptied)))
    emptied = seed_session(direct, messages=messages).id
    measure(DELETE_MESSAGES, partial(_counted, slow, partial(slow.delete_all_messages, emptied)))
    if direct.get_messages(emptied, {"limit": 1}):
        raise AssertionError("delete_all_messages left messages")


def measure_deletes(
    endpoint_url: str,
    region: str,
    messages: int,
    repeats: int,
    delay: float,
    *,
    server_pid: int | None = None,
) -> list[DeleteTiming]:
    """Seed directly, delete through the proxy; the best of ``repeats`` each way (with the
    server's CPU time in it when ``server_pid`` is given and readable)."""
    best: dict[str, DeleteTiming] = {}

    def keep(label: str, seconds: float, requests: int, server: _ServerCpu) -> None:
        if label not in best or seconds < best[label].seconds:
            best[label] = DeleteTiming(label, seconds, requests, server.process, server.storage)

    direct = DynamoDBAdapter(
        f"bench-deletes-{int(time.time())}", region=region, endpoint_url=endpoint_url
    )
    direct.create_table()
    table = direct.config.table_name
    try:
        with proxy_process(endpoint_url, delay=delay) as proxy:
            raw = botocore.session.get_session().create_client(
                "dynamodb", region_name=region, endpoint_url=proxy.endpoint_url
            )
            with DynamoDBAdapter(table, region=region, endpoint_url=proxy.endpoint_url) as slow:
                # The server's code paths (and its JIT) warm in a whole untimed round first:
                # after one on sessions of 1,000 messages its compiler threads still took
                # over a second of CPU during the next round.
                for kept in (_discard, *[keep] * repeats):
                    _round(
                        direct,
                        raw,
                        slow,
                        table=table,
                        messages=messages,
                        keep=kept,
                        server_pid=server_pid,
                    )
            raw.close()
    finally:
        direct.models.client.delete_table(TableName=table)
        direct.close()
    return list(best.values())


_BASELINES = {DELETE_MESSAGES: RAW_MESSAGES, SWEEP: RAW_SWEEP}
"""The raw sequential way each adapter way is compared with (else ``RAW_SESSION``)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.deletes", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--endpoint-url", help="a running DynamoDB Local to use")
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.010, help="seconds each way")
    options = parser.parse_args(argv)
    messages, repeats = (200, 1) if options.quick else (options.messages, options.repeats)
    with open_backend("local", endpoint_url=options.endpoint_url) as bench:
        endpoint = bench.backend.endpoint_url
        assert endpoint is not None
        timings = measure_deletes(
            endpoint,
            bench.backend.region,
            messages,
            repeats,
            options.delay,
            server_pid=bench.server_pid,
        )
    by_label = {timing.label: timing for timing in timings}
    print(f"Deleting a session of {messages:,} messages, {options.delay * 1000:.0f} ms each way")
    for timing in timings:
        base = by_label[_BASELINES.get(timing.label, RAW_SESSION)].seconds
        print(
            f"  {timing.label:65s} {timing.seconds:8.2f} s {timing.requests:6d} requests"
            f"  speed-up {base / timing.seconds:5.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
