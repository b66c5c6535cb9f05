"""Fixtures for the offload tests: a bucket on moto's S3 beside each DynamoDB backend.

On the moto backend S3 is moto's, in process (the same mock); on DynamoDB
Local it is a ``MotoServer`` over HTTP, one per test process (each test makes
its own bucket), so the adapter's two clients talk to two servers as they would
to AWS. ``s3_endpoint`` runs an S3-only test on both: in-process moto and the
server.

``tests/conftest.py`` registers this module as a plugin: every test module
sees its fixtures without importing them; the helpers are imported.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from session_store import DynamoDBAdapter, S3Offload
from session_store._client import s3_client
from session_store.offload import POINTER_ATTRIBUTE
from session_store.table import TableConfig
from session_store.testing.backends import Backend, MotoBackend
from session_store.testing.moto_server import MotoServer
from session_store.testing.requests import RequestLog

__all__ = [
    "bucket_keys",
    "count_s3",
    "make_bucket",
    "offload",
    "offload_adapter",
    "pointed_keys",
    "raw_messages",
    "s3_endpoint",
    "s3_server",
]

KB = 1024
MB = 1024 * KB


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(params=["moto", "server"])
def s3_endpoint(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` for in-process moto, else the URL of a moto server (S3 over HTTP)."""
    if request.param == "moto":
        with MotoBackend().active():
            yield None
    else:
        server: MotoServer = request.getfixturevalue("s3_server")
        yield server.endpoint_url


def make_bucket(backend: Backend, request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """A new bucket beside ``backend``: its name and S3 endpoint (``None``: moto in process)."""
    endpoint = None
    if backend.endpoint_url is not None:
        server: MotoServer = request.getfixturevalue("s3_server")
        endpoint = server.endpoint_url
    bucket = f"offload-{uuid.uuid4().hex[:16]}"
    client = s3_client(backend.region, endpoint)
    client.create_bucket(Bucket=bucket)
    client.close()
    return bucket, endpoint


@pytest.fixture
def offload(backend: Backend, request: pytest.FixtureRequest) -> S3Offload:
    bucket, endpoint = make_bucket(backend, request)
    return S3Offload(bucket, prefix="messages", endpoint_url=endpoint)


@pytest.fixture
def offload_adapter(table_config: TableConfig, offload: S3Offload) -> Iterator[DynamoDBAdapter]:
    """A ``DynamoDBAdapter`` with offloading, on a fresh table and a fresh bucket."""
    with DynamoDBAdapter(
        table_config.table_name,
        region=table_config.region,
        endpoint_url=table_config.endpoint_url,
        offload=offload,
    ) as made:
        made.create_table()
        yield made


def bucket_keys(adapter: Any) -> set[str]:
    """Every object key in the adapter's offload bucket."""
    store = adapter.sync.offloader.store if hasattr(adapter, "sync") else adapter.offloader.store
    return {stored.key for stored in store.list("")}


def raw_messages(adapter: DynamoDBAdapter, session_id: str) -> list[dict[str, Any]]:
    """The session's message items as stored (DynamoDB JSON), oldest first."""
    client = adapter.models.client
    request: dict[str, Any] = {
        "TableName": adapter.config.table_name,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :msg)",
        "ExpressionAttributeValues": {":pk": {"S": f"SESSION#{session_id}"}, ":msg": {"S": "MSG#"}},
        "ConsistentRead": True,
    }
    items: list[dict[str, Any]] = []
    while True:
        response = client.query(**request)
        items.extend(response["Items"])
        if "LastEvaluatedKey" not in response:
            return items
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def pointed_keys(adapter: DynamoDBAdapter, session_id: str) -> set[str]:
    """The object keys the session's message items point to."""
    return {
        json.loads(item[POINTER_ATTRIBUTE]["S"])["key"]
        for item in raw_messages(adapter, session_id)
        if POINTER_ATTRIBUTE in item
    }


@contextmanager
def count_s3(adapter: DynamoDBAdapter) -> Iterator[RequestLog]:
    """Record every S3 API call the adapter makes inside the block (as ``count_requests``)."""
    log = RequestLog()
    events = adapter.offloader.store.client.meta.events  # type: ignore[union-attr]
    unique = f"session-store-s3-count-{id(log)}"

    def record(model: Any, **_: Any) -> None:
        log.operations.append(model.name)

    events.register("before-call.s3", record, unique_id=unique)
    try:
        yield log
    finally:
        events.unregister("before-call.s3", unique_id=unique)
