"""Part 5: large messages, offloaded to S3, against the same message kept inline.

For a 10 KB, 300 KB, 1 MB and 10 MB message (base64 of random bytes, as a
screenshot is stored: gzip takes back only the base64 overhead, about a
quarter), one session gets the message and reads it back:

- *offloaded*: an adapter with ``S3Offload(threshold_bytes=4 KB)``, so every
  size goes to S3 (the default threshold, 350 KB, keeps the first two inline);
- *inline*: an adapter without offloading, where the item fits (400 KB).

Per row: DynamoDB and S3 requests of the add and of the read (``get_messages``),
the capacity units DynamoDB returned for them, the bytes stored in the table
(the item, as DynamoDB counts it) and in S3 (the object), and the median wall
time of the add and of the read. S3 is moto's: in process on the moto
backend, a ``MotoServer`` over HTTP beside DynamoDB Local, so times include
an emulator's S3, not AWS's.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from benchmarks.environment import Bench
from benchmarks.metering import Meter, median, stopwatch
from benchmarks.report import Column, ResultTable, format_count, format_ms, format_units
from benchmarks.sizes import Sizes
from session_store import DynamoDBAdapter, S3Offload, keys
from session_store._client import s3_client
from session_store.limits import MAX_ITEM_BYTES, item_size
from session_store.offload import MIN_THRESHOLD_BYTES
from session_store.testing.backends import unique_table_name

__all__ = ["MESSAGE_SIZES", "OffloadResult", "measure_offload"]

Log = Callable[[str], None]
KB = 1024
MB = 1024 * KB
MESSAGE_SIZES = (10 * KB, 300 * KB, MB, 10 * MB)
_REPEATS = {"full": 5, "quick": 1}


@dataclass
class Row:
    size: int
    stored: str
    dynamodb_requests: tuple[int, int]
    s3_requests: tuple[int, int]
    capacity: tuple[float | None, float | None]
    table_bytes: int
    s3_bytes: int
    add_seconds: float | None
    read_seconds: float | None


@dataclass
class OffloadResult:
    rows: list[Row]
    table: ResultTable


def _payload(size: int) -> str:
    return base64.b64encode(os.urandom(size * 3 // 4 + 3)).decode()[:size]


@contextmanager
def _s3_endpoint(bench: Bench) -> Iterator[str | None]:
    """moto's S3 in process (the moto backend's mock), else a ``MotoServer`` over HTTP."""
    if bench.in_process:
        yield None
        return
    from session_store.testing.moto_server import MotoServer

    with MotoServer() as server:
        yield server.endpoint_url


class _S3Counter:
    def __init__(self, client: Any) -> None:
        self.operations: Counter[str] = Counter()
        self._events = client.meta.events
        self._id = f"session-store-bench-s3-{id(self)}"

    def __enter__(self) -> _S3Counter:
        self._events.register("before-call.s3", self._count, unique_id=self._id)
        return self

    def __exit__(self, *_: object) -> None:
        self._events.unregister("before-call.s3", unique_id=self._id)

    def _count(self, model: Any, **_: Any) -> None:
        self.operations[model.name] += 1

    def take(self) -> int:
        total = sum(self.operations.values())
        self.operations.clear()
        return total


@contextmanager
def _adapter(bench: Bench, offload: S3Offload | None) -> Iterator[DynamoDBAdapter]:
    adapter = DynamoDBAdapter(
        unique_table_name("session-store-bench-offload"),
        region=bench.backend.region,
        endpoint_url=bench.backend.endpoint_url,
        offload=offload,
    )
    try:
        adapter.create_table()
        yield adapter
    finally:
        with contextlib.suppress(Exception):
            adapter.models.client.delete_table(TableName=adapter.config.table_name)
        adapter.close()


def _measure(adapter: DynamoDBAdapter, size: int, repeats: int, stored: str) -> Row:
    payload = _payload(size)
    offloader = adapter._offloader
    s3 = _S3Counter(offloader.store.client) if offloader is not None else None
    adds: list[float] = []
    reads: list[float] = []
    first: tuple[Any, ...] | None = None
    with Meter(adapter.models.client) as meter, s3 or contextlib.nullcontext():
        for _ in range(repeats):
            session = adapter.create_session({"status": "active"})
            with meter.measure() as add_usage:
                adds.append(
                    stopwatch(
                        functools.partial(
                            adapter.add_message, session.id, {"role": "user", "content": payload}
                        )
                    )
                )
            s3_add = s3.take() if s3 is not None else 0
            with meter.measure() as read_usage:
                reads.append(stopwatch(functools.partial(adapter.get_messages, session.id)))
            s3_read = s3.take() if s3 is not None else 0
            if first is None:
                first = (add_usage, read_usage, s3_add, s3_read, _bytes(adapter, session.id))
            adapter.delete_session(session.id)
    assert first is not None
    add_usage, read_usage, s3_add, s3_read, (table_bytes, s3_bytes) = first
    return Row(
        size=size,
        stored=stored,
        dynamodb_requests=(add_usage.requests, read_usage.requests),
        s3_requests=(s3_add, s3_read),
        capacity=(add_usage.capacity, read_usage.capacity),
        table_bytes=table_bytes,
        s3_bytes=s3_bytes,
        add_seconds=median(adds),
        read_seconds=median(reads),
    )


def _bytes(adapter: DynamoDBAdapter, session_id: str) -> tuple[int, int]:
    """Bytes of the session's message items (DynamoDB's count) and of its objects."""
    gateway = adapter.models.gateway
    items = list(
        gateway.items(
            "Query",
            {
                "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :msg)",
                "ExpressionAttributeNames": {
                    "#pk": adapter.models.Message.pk.attr_name,
                    "#sk": adapter.models.Message.sk.attr_name,
                },
                "ExpressionAttributeValues": {
                    ":pk": {"S": keys.session_pk(session_id)},
                    ":msg": {"S": keys.MESSAGE_PREFIX},
                },
                "ConsistentRead": True,
            },
        )
    )
    table_bytes = sum(item_size(item) for item in items)
    offloader = adapter._offloader
    s3_bytes = 0
    if offloader is not None:
        s3_bytes = sum(stored.size for stored in offloader.store.list(offloader.config.prefix))
    return table_bytes, s3_bytes


def measure_offload(bench: Bench, sizes: Sizes, log: Log) -> OffloadResult:
    """Run part 5: each message size offloaded, and inline where it fits."""
    repeats = _REPEATS[sizes.name]
    rows: list[Row] = []
    with _s3_endpoint(bench) as endpoint:
        bucket = f"bench-offload-{uuid.uuid4().hex[:12]}"
        client = s3_client(bench.backend.region, endpoint)
        client.create_bucket(Bucket=bucket)
        client.close()
        offload = S3Offload(
            bucket,
            prefix="bench",
            threshold_bytes=MIN_THRESHOLD_BYTES,
            endpoint_url=endpoint,
        )
        with _adapter(bench, offload) as offloading, _adapter(bench, None) as inline:
            for adapter in (offloading, inline):  # clients made and connected, untimed
                _measure(adapter, 10 * KB, 1, "warm-up")
            for size in MESSAGE_SIZES:
                if size < MAX_ITEM_BYTES - KB:
                    log(f"offload: {size // KB:,} KB inline")
                    rows.append(_measure(inline, size, repeats, "inline"))
                log(f"offload: {size // KB:,} KB offloaded")
                rows.append(_measure(offloading, size, repeats, "offloaded"))
    return OffloadResult(rows, _table(bench, repeats, rows))


def _size_text(size: int) -> str:
    return f"{size // MB:,} MB" if size >= MB else f"{size // KB:,} KB"


def _table(bench: Bench, repeats: int, rows: list[Row]) -> ResultTable:
    table = ResultTable(
        key="offload",
        title="5. Large messages",
        intro=(
            "One message added to a session, then read back with `get_messages`, on "
            f"{bench.description}, with moto's S3 beside it. *offloaded*: "
            "`S3Offload(threshold_bytes=4 KB)`, so every size goes to S3 (the default "
            "threshold of 350 KB keeps 10 KB and 300 KB inline); *inline*: no offloading, "
            "where the item fits. The message is base64 of random bytes (a screenshot: gzip "
            "takes back only the base64 overhead). *requests* and *capacity units* as in "
            "part 1, for the add / the read; *table bytes*: the item as DynamoDB counts it; "
            "*S3 bytes*: the object; "
            f"*ms*: median wall time of {repeats} add(s) and read(s)."
        ),
        columns=[
            Column("message", numeric=False),
            Column("stored", numeric=False),
            Column("DynamoDB requests (add / read)", numeric=False),
            Column("S3 requests (add / read)", numeric=False),
            Column("capacity units (add / read)", numeric=False),
            Column("table bytes"),
            Column("S3 bytes"),
            Column("add ms"),
            Column("read ms"),
        ],
    )
    for row in rows:
        table.add_row(
            _size_text(row.size),
            row.stored,
            f"{row.dynamodb_requests[0]} / {row.dynamodb_requests[1]}",
            f"{row.s3_requests[0]} / {row.s3_requests[1]}",
            f"{format_units(row.capacity[0])} / {format_units(row.capacity[1])}",
            format_count(row.table_bytes),
            format_count(row.s3_bytes),
            format_ms(row.add_seconds),
            format_ms(row.read_seconds),
        )
    table.notes.append(
        "An offloaded message's item stays under 2 KB whatever its size, so its writes and "
        "reads cost the capacity of a small message; S3 adds one PutObject per add and one "
        "GetObject per read that returns it (and one DeleteObject to remove it)."
    )
    return table
