"""The table as code: binding the models to a table, and creating or adopting it.

``bind_models(config)`` derives per-table subclasses of the models in
``session_store.models`` that share one botocore client, so adapters on
different tables, regions or endpoints never interfere (PynamoDB keeps its
configuration and connection on the class). ``table_definition`` derives the
``CreateTable`` request from the models; ``create_table`` and ``adopt_table``
make a live table match it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, cast

from pynamodb.connection import Connection

from session_store import models
from session_store._bridge import pause
from session_store._client import (
    botocore_session,
    install_bridge,
    resolve_endpoint_url,
    resolve_region,
)
from session_store._request_bodies import install_fast_encode
from session_store._wire import install_fast_decode
from session_store.errors import StorageError, ValidationError
from session_store.gateway import Gateway, Location, aws_code
from session_store.planning import ModelWrites

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "BoundModels",
    "ProvisionedThroughput",
    "RetryPolicy",
    "TableConfig",
    "adopt_table",
    "bind_models",
    "create_table",
    "table_definition",
    "ttl_enabled",
    "wait_until_active",
]

TTL_ATTRIBUTE = models.SessionMeta.ttl.attr_name
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


@dataclass(frozen=True)
class ProvisionedThroughput:
    """Provisioned capacity, applied to the table and to both GSIs."""

    read_capacity_units: int
    write_capacity_units: int


@dataclass(frozen=True)
class RetryPolicy:
    """botocore's retry policy for every request of an adapter.

    ``max_attempts`` counts the first try. ``mode`` is botocore's: "standard"
    (exponential backoff with full jitter, base 50 ms, cap 20 s, retrying
    throttling, 5xx, connection errors and read timeouts) or "adaptive"
    (the same plus client-side rate limiting).
    """

    max_attempts: int = 5
    mode: Literal["standard", "adaptive"] = "standard"
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class TableConfig:
    """Where a table lives and how it is reached. Credentials come from the AWS chain.

    ``region=None`` and ``endpoint_url=None`` are resolved when the models
    are bound (``bind_models``): the region from ``AWS_REGION``, then
    ``AWS_DEFAULT_REGION``, then the AWS config profile; the endpoint from
    ``AWS_ENDPOINT_URL_DYNAMODB``, then ``AWS_ENDPOINT_URL``, else AWS itself.
    """

    table_name: str
    region: str | None = None
    endpoint_url: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    provisioned: ProvisionedThroughput | None = None
    """``None``: on-demand (PAY_PER_REQUEST) billing."""
    stream: bool = False
    """Create the table with a KEYS_ONLY stream (for ``handle_stream_event``)."""
    max_pool_connections: int = 10

    def __post_init__(self) -> None:
        if not isinstance(self.table_name, str) or not _TABLE_NAME.fullmatch(self.table_name):
            raise ValidationError(
                "table name must be 3 to 255 characters of letters, digits, '_', '-' and '.'"
            )


@dataclass(frozen=True)
class BoundModels:
    """The models bound to one table, and the connection they share."""

    SessionMeta: type[models.SessionMeta]
    Message: type[models.Message]
    MigrationRecord: type[models.MigrationRecord]
    config: TableConfig
    """The configuration with region and endpoint resolved."""
    connection: Connection
    gateway: Gateway
    """The one sender of these models' requests."""
    _client_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def client(self) -> DynamoDBClient:
        """The botocore DynamoDB client every request of these models goes through.

        Made on first use, under a lock: threads starting together share one client.
        """
        with self._client_lock:
            return cast("DynamoDBClient", self.connection.client)

    def close(self) -> None:
        """Release the client's pooled connections."""
        client = self.connection._client
        if client is not None:
            client.close()
            self.connection._client = None


def _subclass(base: type[Any], config: TableConfig) -> type[Any]:
    meta = type(
        "Meta",
        (),
        {
            "table_name": config.table_name,
            "region": config.region,
            "host": config.endpoint_url,
            "connect_timeout_seconds": config.retry.connect_timeout_seconds,
            "read_timeout_seconds": config.retry.read_timeout_seconds,
            "max_retry_attempts": config.retry.max_attempts - 1,
            "max_pool_connections": config.max_pool_connections,
        },
    )
    namespace = {"Meta": meta, "_connection": None, "__module__": base.__module__}
    return type(base.__name__, (base,), namespace)


class _Connection(Connection):
    """PynamoDB's connection, its botocore sessions sharing the parsed service files.

    PynamoDB makes one botocore session per thread, and each new session's
    loader would parse DynamoDB's service model again (about 80 ms a client).
    No credentials are given to the connection, so PynamoDB's own property has
    nothing to add to the session made here.
    """

    @property
    def session(self) -> Any:
        if getattr(self._local, "session", None) is None:
            self._local.session = botocore_session()
        return super().session


def bind_models(config: TableConfig) -> BoundModels:
    """Per-table subclasses of the models, sharing one connection, client and gateway.

    Resolves the region and the endpoint first: ``ValidationError`` for none
    or a malformed one, before any request.
    """
    config = replace(
        config,
        region=resolve_region(config.region),
        endpoint_url=resolve_endpoint_url(config.endpoint_url),
    )
    session_cls = _subclass(models.SessionMeta, config)
    message_cls = _subclass(models.Message, config)
    record_cls = _subclass(models.MigrationRecord, config)
    connection = _Connection(
        region=config.region,
        host=config.endpoint_url,
        connect_timeout_seconds=config.retry.connect_timeout_seconds,
        read_timeout_seconds=config.retry.read_timeout_seconds,
        max_pool_connections=config.max_pool_connections,
        retry_configuration={
            "mode": config.retry.mode,
            "total_max_attempts": config.retry.max_attempts,
        },
    )
    # The session model's schema knows both GSIs: it describes the table for all three.
    table_connection = session_cls._get_connection()
    connection.add_meta_table(table_connection.connection.get_meta_table(config.table_name))
    lock = threading.Lock()
    decoded: list[Any] = [None]  # the client the fast decode path was last installed on

    def client() -> Any:
        with lock:  # threads starting together share one client
            made = connection.client
            if made is not decoded[0]:
                # Once per client (a closed one is replaced by a new one): request bodies
                # are encoded, and responses decoded, in one pass instead of botocore's
                # shape walks (``_request_bodies``, ``_wire``); and it waits through the
                # bridge when an async adapter's call runs it (``_bridge``).
                install_fast_encode(made)
                install_fast_decode(made)
                install_bridge(made)
                decoded[0] = made
            return made

    gateway = Gateway(
        client,
        Location(config.table_name, config.region, config.endpoint_url),
        attempts=config.retry.max_attempts * 2,
    )
    for cls in (session_cls, message_cls, record_cls):
        cls._get_connection().connection = connection
        cls._writes = ModelWrites(gateway)
    return BoundModels(session_cls, message_cls, record_cls, config, connection, gateway, lock)


def table_definition(
    table_name: str,
    *,
    provisioned: ProvisionedThroughput | None = None,
    stream: bool = False,
) -> dict[str, Any]:
    """The ``CreateTable`` request (boto3 ``create_table`` keyword arguments).

    Keys and both GSIs come from ``SessionMeta``'s schema; projection ALL.
    """
    schema = models.SessionMeta._get_schema()
    definitions: dict[str, str] = {}
    for attribute in schema["attribute_definitions"]:
        definitions[attribute["AttributeName"]] = attribute["AttributeType"]
    indexes = []
    for index in sorted(schema["global_secondary_indexes"], key=lambda i: i["index_name"]):
        for attribute in index["attribute_definitions"]:
            definitions[attribute["AttributeName"]] = attribute["AttributeType"]
        gsi: dict[str, Any] = {
            "IndexName": index["index_name"],
            "KeySchema": index["key_schema"],
            "Projection": index["projection"],
        }
        if provisioned is not None:
            gsi["ProvisionedThroughput"] = _throughput(provisioned)
        indexes.append(gsi)
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind}
            for name, kind in sorted(definitions.items())
        ],
        "KeySchema": schema["key_schema"],
        "GlobalSecondaryIndexes": indexes,
    }
    if provisioned is None:
        request["BillingMode"] = "PAY_PER_REQUEST"
    else:
        request["BillingMode"] = "PROVISIONED"
        request["ProvisionedThroughput"] = _throughput(provisioned)
    if stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    return request


def _throughput(provisioned: ProvisionedThroughput) -> dict[str, int]:
    return {
        "ReadCapacityUnits": provisioned.read_capacity_units,
        "WriteCapacityUnits": provisioned.write_capacity_units,
    }


def _active(table: Mapping[str, Any] | None) -> bool:
    return (
        table is not None
        and table.get("TableStatus") == "ACTIVE"
        and all(
            index.get("IndexStatus") == "ACTIVE"
            for index in table.get("GlobalSecondaryIndexes", [])
        )
    )


def wait_until_active(
    gateway: Gateway,
    *,
    timeout: float = 300.0,
    described: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Poll until the table and all its GSIs are ACTIVE; the final description.

    ``described``: a fresh description already in hand; when it shows an
    active table, no request is sent.
    """
    if described is not None and _active(described):
        return described
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        table = gateway.describe_table()
        if table is not None and _active(table):
            return table
        if time.monotonic() > deadline:
            raise StorageError(f"{gateway.where} did not become ACTIVE within {timeout:.0f} s")
        pause(delay)
        delay = min(delay * 2, 2.0)


def ttl_enabled(gateway: Gateway) -> bool:
    """Whether TTL is on (or being turned on) for the ``ttl`` attribute."""
    description = gateway.describe_ttl()
    return description.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and (
        description.get("AttributeName") == TTL_ATTRIBUTE
    )


def _enable_ttl(gateway: Gateway) -> bool:
    if ttl_enabled(gateway):
        return False
    gateway.table_request(
        "update_time_to_live",
        {"TimeToLiveSpecification": {"Enabled": True, "AttributeName": TTL_ATTRIBUTE}},
    )
    return True


def create_table(bound: BoundModels, *, stream: bool | None = None) -> bool:
    """Create the table from the models unless it exists; wait until ACTIVE; TTL on.

    ``stream`` (default: the config's) adds a KEYS_ONLY stream to a table this
    call creates. Idempotent. Returns whether the table was created by this call.
    """
    described = bound.gateway.describe_table()
    if described is None:
        return create_missing_table(bound, stream=stream)
    wait_until_active(bound.gateway, described=described)
    _enable_ttl(bound.gateway)
    return False


def create_missing_table(bound: BoundModels, *, stream: bool | None = None) -> bool:
    """``create_table`` for a table just described as missing (no describe first).

    Returns whether this call created it: ``False`` when another process did
    meanwhile (that table is then waited for and given TTL all the same).
    """
    gateway = bound.gateway
    config = bound.config
    created = False
    definition = table_definition(
        config.table_name,
        provisioned=config.provisioned,
        stream=config.stream if stream is None else stream,
    )
    del definition["TableName"]
    try:
        gateway.table_request("create_table", definition)
        created = True
    except StorageError as error:
        # Someone else created it in the meantime: that is what we wanted.
        if aws_code(error) != "ResourceInUseException":
            raise
    wait_until_active(gateway)
    _enable_ttl(gateway)
    return created


def adopt_table(bound: BoundModels, *, described: dict[str, Any] | None = None) -> list[str]:
    """Make an existing table (e.g. one made for the TypeScript adapter) match the models.

    Adds a missing GSI1/GSI2 (one per ``UpdateTable`` call, waiting for each)
    and turns TTL on for ``ttl``. Returns what it changed. ``described``: a
    fresh description of the table, if the caller has one (saves a request).
    """
    gateway = bound.gateway
    config = bound.config
    table = wait_until_active(gateway, described=described)
    wanted = table_definition(config.table_name, provisioned=config.provisioned)
    present = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    changes: list[str] = []
    definitions = {d["AttributeName"]: d for d in wanted["AttributeDefinitions"]}
    for index in wanted["GlobalSecondaryIndexes"]:
        if index["IndexName"] in present:
            continue
        names = [key["AttributeName"] for key in index["KeySchema"]]
        gateway.table_request(
            "update_table",
            {
                "AttributeDefinitions": [definitions[name] for name in names],
                "GlobalSecondaryIndexUpdates": [{"Create": index}],
            },
        )
        wait_until_active(gateway)
        changes.append(f"created index {index['IndexName']}")
    if _enable_ttl(gateway):
        changes.append(f"enabled TTL on {TTL_ATTRIBUTE!r}")
    return changes
