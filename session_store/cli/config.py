"""Where the command line finds its table, and what it says when it cannot.

``Settings`` holds the global options (``--table``, ``--endpoint-url``,
``--region``, ``--offload-bucket``, ``--offload-prefix``, ``--verbose``), each
also read from the environment (``SESSION_STORE_TABLE``,
``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``,
``SESSION_STORE_OFFLOAD_BUCKET``, ``SESSION_STORE_OFFLOAD_PREFIX``). With an
offload bucket, adapters store large messages in S3 (``S3Offload``); the S3
endpoint comes from ``AWS_ENDPOINT_URL_S3`` (then ``AWS_ENDPOINT_URL``).
Credentials come from the standard AWS chain; for an endpoint on this
machine (moto, DynamoDB Local) placeholder credentials are used when the
chain has none, since such endpoints accept any.

``describe_error`` turns the failures a user can cause or fix (a missing
table, a bad id, no credentials, an unreachable endpoint) into one line;
anything else is a bug (``main`` prints it as one line too, and its
traceback with ``SESSION_STORE_DEBUG=1``). Messages about the table name the
table, region and endpoint that requests actually went to, which may come
from the environment or the AWS profile when no option names them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from pynamodb.exceptions import PynamoDBException

from session_store._client import REGION_VARIABLES, has_credentials
from session_store.cli.output import Output
from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import (
    CredentialsMissingError,
    EndpointUnreachableError,
    SessionError,
    TableNotFoundError,
    ValidationError,
)
from session_store.offload import S3Offload

__all__ = [
    "DEFAULT_LOCAL_REGION",
    "ENDPOINT_VARIABLE",
    "LOCAL_CREDENTIALS",
    "OFFLOAD_BUCKET_VARIABLE",
    "OFFLOAD_PREFIX_VARIABLE",
    "REGION_VARIABLES",
    "TABLE_VARIABLE",
    "CliError",
    "RequestTracer",
    "Settings",
    "Target",
    "check_endpoint_url",
    "describe_error",
    "ensure_local_credentials",
    "is_loopback",
    "missing_table_message",
]

TABLE_VARIABLE = "SESSION_STORE_TABLE"
OFFLOAD_BUCKET_VARIABLE = "SESSION_STORE_OFFLOAD_BUCKET"
OFFLOAD_PREFIX_VARIABLE = "SESSION_STORE_OFFLOAD_PREFIX"
USAGE_EXIT = 2
"""The exit code of a bad option value (as the option parser's own)."""
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_DYNAMODB"
DEFAULT_LOCAL_REGION = "us-east-1"
"""The region used for an endpoint on this machine when none is configured."""
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
"""Placeholder credentials for endpoints on this machine, which accept any."""
_TRACE_WIDTH = 160
_TRACED_PARAMETERS = (
    "IndexName",
    "Key",
    "KeyConditionExpression",
    "FilterExpression",
    "UpdateExpression",
    "ConditionExpression",
    "ExpressionAttributeValues",
    "Limit",
    "ExclusiveStartKey",
)


class CliError(Exception):
    """An expected failure of a command: printed as one line, with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def check_endpoint_url(endpoint_url: str | None) -> None:
    """``CliError`` unless ``endpoint_url`` is ``None`` or an http(s) URL with a valid port."""
    if endpoint_url is None:
        return
    parsed = urlparse(endpoint_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        # "localhost:8000" parses as the scheme "localhost": suggest the URL meant.
        looks_like_host = "://" not in endpoint_url and ":" in endpoint_url
        hint = f": did you mean http://{endpoint_url}?" if looks_like_host else ""
        raise CliError(
            f"endpoint URL {endpoint_url!r} (--endpoint-url or {ENDPOINT_VARIABLE}) is not an "
            f"http(s) URL such as http://localhost:8000{hint}"
        )
    try:
        parsed.port  # noqa: B018 (urllib checks the port only when it is read)
    except ValueError:
        raise CliError(
            f"endpoint URL {endpoint_url!r} has a port outside 0-65535 "
            f"(--endpoint-url or {ENDPOINT_VARIABLE})"
        ) from None


@dataclass(frozen=True)
class Target:
    """The table, region and endpoint that requests actually go to."""

    table: str
    region: str | None
    endpoint_url: str | None

    @classmethod
    def of(cls, adapter: DynamoDBAdapter) -> Target:
        """Where ``adapter`` sends its requests (region and endpoint as resolved)."""
        meta = adapter.models.client.meta
        return cls(adapter.config.table_name, meta.region_name, meta.endpoint_url)

    def __str__(self) -> str:
        region = f"region {self.region}" if self.region else "the default region"
        return f"table {self.table!r} in {region} at {self.endpoint_url or 'the default endpoint'}"


def missing_table_message(target: Target) -> str:
    """The one line for a table that does not exist where requests went."""
    return f"{target} does not exist: create it with `session-store migrate`"


def _located(error: Exception, target: Target) -> CliError | None:
    """A missing table or an unreachable endpoint, told with where requests went."""
    for link in _chain(error):
        if isinstance(link, CliError):
            return None
        if isinstance(link, EndpointUnreachableError):
            if link.endpoint_url is not None and link.endpoint_url != target.endpoint_url:
                # Another endpoint than the table's: the offload bucket's (S3), as it says.
                return CliError(f"{link}: is the endpoint running?")
            return CliError(
                f"cannot reach DynamoDB at {target.endpoint_url}: is the endpoint running?"
            )
        if isinstance(link, TableNotFoundError):
            return CliError(missing_table_message(target))
    return None


def is_loopback(endpoint_url: str | None) -> bool:
    """Whether ``endpoint_url`` points at this machine (moto, DynamoDB Local)."""
    if not endpoint_url:
        return False
    host = urlparse(endpoint_url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


@dataclass
class RequestTracer:
    """Prints each DynamoDB request of an adapter (``--verbose``) and counts them."""

    out: Output
    count: int = 0
    _unique_id: str = field(default="", repr=False)

    def attach(self, adapter: DynamoDBAdapter) -> None:
        self._unique_id = f"session-store-cli-trace-{id(self)}"
        adapter.models.client.meta.events.register(
            "before-call.dynamodb", self._record, unique_id=self._unique_id
        )

    def detach(self, adapter: DynamoDBAdapter) -> None:
        adapter.models.client.meta.events.unregister(
            "before-call.dynamodb", unique_id=self._unique_id
        )

    def _record(self, model: Any, params: Mapping[str, Any] | None = None, **_: Any) -> None:
        self.count += 1
        self.out.note(f"dynamodb #{self.count} {model.name} {_summary(params)}".rstrip())


def _summary(params: Mapping[str, Any] | None) -> str:
    """The interesting parameters of a request, from its serialized JSON body."""
    body = (params or {}).get("body")
    try:
        request = json.loads(body) if body else {}
    except (TypeError, ValueError):
        return ""
    if not isinstance(request, dict):
        return ""
    parts = [f"table={request['TableName']}"] if "TableName" in request else []
    for name in _TRACED_PARAMETERS:
        if name in request:
            parts.append(f"{name}={json.dumps(request[name], separators=(',', ':'))}")
    if "TransactItems" in request:
        parts.append(f"items={len(request['TransactItems'])}")
    if "RequestItems" in request:
        parts.append(f"tables={','.join(request['RequestItems'])}")
    text = " ".join(parts)
    return text if len(text) <= _TRACE_WIDTH else text[: _TRACE_WIDTH - 1] + "…"


@dataclass(frozen=True)
class Settings:
    """The global options every command gets."""

    table: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    verbose: bool = False
    offload_bucket: str | None = None
    offload_prefix: str | None = None
    offload_endpoint_url: str | None = None
    """Where S3 requests go (``session-store local`` sets it); else the S3 endpoint
    variables (``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL``), else AWS."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the environment; ``overrides`` that are not ``None`` win."""
        env = os.environ if environ is None else environ
        region = next((env[name] for name in REGION_VARIABLES if env.get(name)), None)
        values: dict[str, Any] = {
            "table": env.get(TABLE_VARIABLE) or None,
            "endpoint_url": env.get(ENDPOINT_VARIABLE) or None,
            "region": region,
            "offload_bucket": env.get(OFFLOAD_BUCKET_VARIABLE) or None,
            "offload_prefix": env.get(OFFLOAD_PREFIX_VARIABLE) or None,
        }
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)

    @property
    def effective_region(self) -> str | None:
        """The region to use: the configured one, or a default for a local endpoint."""
        if self.region:
            return self.region
        return DEFAULT_LOCAL_REGION if is_loopback(self.endpoint_url) else None

    @property
    def offload(self) -> S3Offload | None:
        """Where large messages go (``--offload-bucket``), or ``None`` without a bucket.

        ``CliError`` with the usage exit code (2) for a bad bucket name or
        prefix, or a prefix without a bucket.
        """
        if self.offload_bucket is None:
            if self.offload_prefix is not None:
                raise CliError(
                    f"--offload-prefix ({OFFLOAD_PREFIX_VARIABLE}) needs an offload bucket: "
                    f"pass --offload-bucket NAME or set {OFFLOAD_BUCKET_VARIABLE}",
                    USAGE_EXIT,
                )
            return None
        try:
            S3Offload(self.offload_bucket)
        except ValidationError as error:
            raise CliError(
                f"{error} (--offload-bucket or {OFFLOAD_BUCKET_VARIABLE})", USAGE_EXIT
            ) from None
        try:
            return S3Offload(
                self.offload_bucket,
                prefix=self.offload_prefix or "",
                endpoint_url=self.offload_endpoint_url,
            )
        except ValidationError as error:
            raise CliError(
                f"{error} (--offload-prefix or {OFFLOAD_PREFIX_VARIABLE})", USAGE_EXIT
            ) from None

    def require_offload(self, command: str) -> S3Offload:
        """The offload configuration ``command`` needs; ``CliError`` naming how to give it."""
        offload = self.offload
        if offload is None:
            raise CliError(
                f"`session-store {command}` needs an offload bucket: pass --offload-bucket NAME "
                f"or set {OFFLOAD_BUCKET_VARIABLE}"
            )
        return offload

    def require_table(self) -> str:
        if not self.table:
            raise CliError(f"no table given: pass --table NAME or set {TABLE_VARIABLE}")
        return self.table

    @contextmanager
    def adapter(self, out: Output) -> Iterator[DynamoDBAdapter]:
        """A ``DynamoDBAdapter`` on the table, tracing its requests with ``verbose``.

        A missing table or an unreachable endpoint inside the block becomes a
        ``CliError`` naming the table, region and endpoint actually used.
        """
        table = self.require_table()
        offload = self.offload
        check_endpoint_url(self.endpoint_url)
        ensure_local_credentials(self.endpoint_url)
        tracer = RequestTracer(out)
        with DynamoDBAdapter(
            table, region=self.effective_region, endpoint_url=self.endpoint_url, offload=offload
        ) as adapter:
            target = Target.of(adapter)
            if self.verbose:
                out.note(f"using {target}")
                tracer.attach(adapter)
            try:
                yield adapter
            except Exception as error:
                located = _located(error, target)
                if located is None:
                    raise
                raise located from error
            finally:
                if self.verbose:
                    tracer.detach(adapter)
                    out.note(f"{tracer.count} DynamoDB request(s)")


def ensure_local_credentials(endpoint_url: str | None) -> None:
    """Placeholder credentials for an endpoint on this machine, when the AWS chain has none."""
    if is_loopback(endpoint_url) and not has_credentials():
        for name, value in LOCAL_CREDENTIALS.items():
            os.environ.setdefault(name, value)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe_error(error: BaseException, settings: Settings | None = None) -> str | None:
    """One line for an expected failure; ``None`` for anything else (a bug)."""
    settings = settings or Settings()
    chain = list(_chain(error))
    for link in chain:
        if isinstance(link, CliError):
            return str(link)
        if isinstance(link, CredentialsMissingError):
            return str(link)
        if isinstance(link, EndpointUnreachableError):
            if (
                link.endpoint_url
                and settings.endpoint_url
                and link.endpoint_url != settings.endpoint_url
            ):
                return f"{link}: is the endpoint running?"  # the offload bucket's (S3)
            where = settings.endpoint_url or link.endpoint_url or ""
            return f"cannot reach DynamoDB at {where}: is the endpoint running?"
        if isinstance(link, TableNotFoundError):
            return missing_table_message(
                Target(
                    settings.table or link.table_name or "?",
                    link.region or settings.effective_region,
                    link.endpoint_url or settings.endpoint_url,
                )
            )
    first = chain[0]
    if isinstance(first, SessionError):
        return str(first)
    for link in chain:
        if isinstance(link, PynamoDBException):
            return f"DynamoDB request failed: {link}"
    return None
