"""Fixtures for the command line's tests.

The commands are called as functions on in-process moto (``settings`` points
them at the ``adapter`` fixture's table); the smoke tests run the command line
in a subprocess (``python -m session_store.cli`` from this checkout, what the
installed ``session-store`` script runs) against a moto server on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from session_store.cli import Output, Settings
from session_store.dynamodb import DynamoDBAdapter
from session_store.testing.backends import unique_table_name
from session_store.testing.moto_server import MotoServer

COMMAND = [sys.executable, "-m", "session_store.cli"]
"""The command line of this checkout (run from its root, which comes first on sys.path)."""
CHECKOUT = Path(__file__).resolve().parents[2]
RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def settings(adapter: DynamoDBAdapter) -> Settings:
    """Global options pointing at the ``adapter`` fixture's table."""
    config = adapter.config
    return Settings(table=config.table_name, endpoint_url=config.endpoint_url, region=config.region)


def offload_settings(adapter: DynamoDBAdapter, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Global options for ``adapter``'s table and offload bucket; the bucket's S3 endpoint,
    if not AWS's, goes into the environment, where the command line reads it."""
    offload = adapter.offload
    assert offload is not None
    if offload.endpoint_url is not None:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", offload.endpoint_url)
    return Settings(
        table=adapter.config.table_name,
        endpoint_url=adapter.config.endpoint_url,
        region=adapter.config.region,
        offload_bucket=offload.bucket,
        offload_prefix=offload.prefix,
    )


@pytest.fixture
def out() -> Output:
    return Output.capture()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (a free port); its endpoint URL."""
    with MotoServer() as server:
        yield server.endpoint_url


@pytest.fixture
def server_adapter(moto_server: str) -> Iterator[DynamoDBAdapter]:
    """An adapter on a fresh, migrated table of the moto server."""
    with DynamoDBAdapter(
        unique_table_name("cli-smoke"), region="us-east-1", endpoint_url=moto_server
    ) as made:
        made.migrate()
        yield made
        made.models.client.delete_table(TableName=made.config.table_name)


def clean_environment(**extra: str) -> dict[str, str]:
    """The environment without session-store or endpoint settings, with fake credentials."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "SESSION_STORE_"))
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
        COLUMNS="160",
    )
    env.update(extra)
    return env


@pytest.fixture
def environment() -> Callable[..., dict[str, str]]:
    """``clean_environment``, for tests that build their own environment."""
    return clean_environment


@pytest.fixture
def command() -> list[str]:
    """The command line to run in a subprocess (from ``CHECKOUT``)."""
    return list(COMMAND)


@pytest.fixture
def run_cli() -> RunCli:
    """Run the command line with arguments in a subprocess; the completed process."""

    def run(
        *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*COMMAND, *args],
            capture_output=True,
            text=True,
            env=clean_environment() if env is None else env,
            input=stdin if stdin is not None else "",
            timeout=60,
            check=False,
            cwd=CHECKOUT,
        )

    return run
