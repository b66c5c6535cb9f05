"""``MotoServer``: moto's DynamoDB over HTTP, serialised, failing fast on a taken port."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from session_store.testing.moto_server import MotoServer


def test_serves_dynamodb_and_releases_its_port() -> None:
    with MotoServer() as server:
        client = boto3.client("dynamodb", endpoint_url=server.endpoint_url, region_name="us-east-1")
        client.create_table(
            TableName="served",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        # Concurrent requests are all answered (one at a time, behind the lock).
        with ThreadPoolExecutor(8) as pool:
            tables = list(pool.map(lambda _: client.list_tables()["TableNames"], range(16)))
        assert all("served" in names for names in tables)
        port = int(server.endpoint_url.rsplit(":", 1)[1])
    with MotoServer(port=port) as again:  # the port was released
        assert again.endpoint_url.endswith(f":{port}")


def test_a_taken_port_fails_at_start_instead_of_hanging() -> None:
    with MotoServer() as first:
        port = int(first.endpoint_url.rsplit(":", 1)[1])
        with pytest.raises(OSError, match="in use"):
            MotoServer(port=port).start()


def test_endpoint_before_start_and_stop_twice() -> None:
    server = MotoServer()
    with pytest.raises(RuntimeError):
        _ = server.endpoint_url
    server.start()
    server.stop()
    server.stop()
