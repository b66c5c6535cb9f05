"""Backends for tests: in-process moto, or any DynamoDB endpoint, one fresh table each.

``MotoBackend`` runs moto inside the test process (no network, ~1 ms a
request); ``EndpointBackend`` points at a running server (DynamoDB Local,
moto's server, or AWS itself). Both hand out uniquely named tables, so tests
never see each other's data.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from session_store.table import TableConfig

__all__ = ["Backend", "EndpointBackend", "MotoBackend", "fake_credentials", "unique_table_name"]

_CONFIGURED_ENDPOINTS = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL")
"""Variables through which botocore sends DynamoDB requests to another endpoint."""

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def fake_credentials() -> None:
    """Give botocore credentials and a region if the environment has none (local backends only)."""
    for name, value in _FAKE_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def unique_table_name(prefix: str = "session-store-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@contextmanager
def _without_configured_endpoints() -> Iterator[None]:
    """botocore ignores endpoints set outside the code while inside; restored after.

    moto intercepts only requests to AWS's own endpoints: an
    ``AWS_ENDPOINT_URL_DYNAMODB`` left exported (for ``session-store local``,
    say), or an ``endpoint_url`` in the AWS config file, would send a test's
    requests to that server instead. ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS``
    covers both; the variables are also removed for code that reads them itself.
    """
    names = (*_CONFIGURED_ENDPOINTS, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
    saved = {name: os.environ.get(name) for name in names}
    for name in _CONFIGURED_ENDPOINTS:
        os.environ.pop(name, None)
    os.environ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Backend:
    """Where test tables live."""

    name: str
    endpoint_url: str | None = None
    region: str = "us-east-1"

    def table_config(self, table_name: str | None = None, **options: Any) -> TableConfig:
        return TableConfig(
            table_name or unique_table_name(),
            region=self.region,
            endpoint_url=self.endpoint_url,
            **options,
        )

    @contextmanager
    def active(self) -> Iterator[None]:
        """The context a test runs in (moto's mock for the in-process backend)."""
        yield


@dataclass
class EndpointBackend(Backend):
    """A DynamoDB endpoint reached over HTTP."""


@dataclass
class MotoBackend(Backend):
    """moto, in this process. Its request handling is serialised (see ``active``).

    While active, endpoints configured outside the code (``AWS_ENDPOINT_URL_DYNAMODB``,
    ``AWS_ENDPOINT_URL``, the AWS config file) are ignored: every request stays in moto.
    """

    name: str = "moto"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def active(self) -> Iterator[None]:
        from moto import mock_aws
        from moto.core.botocore_stubber import BotocoreStubber

        fake_credentials()
        # In-process moto copies and restores whole tables in transactions
        # without a lock: serialise its request handling so thread tests see
        # DynamoDB's semantics rather than moto's races.
        original = BotocoreStubber.process_request
        lock = self._lock

        def process_request(stubber: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(stubber, *args, **kwargs)

        BotocoreStubber.process_request = process_request  # type: ignore[method-assign,assignment]
        try:
            with _without_configured_endpoints(), mock_aws():
                yield
        finally:
            BotocoreStubber.process_request = original  # type: ignore[method-assign]
