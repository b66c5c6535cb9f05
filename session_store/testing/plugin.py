"""pytest fixtures for users' own suites (registered as the ``session_store`` plugin).

- ``session_store_backend``: in-process moto, or the endpoint named by the
  ``SESSION_STORE_TEST_ENDPOINT`` environment variable (e.g. a DynamoDB Local
  you run). Nothing else redirects the fixtures: an application's
  ``AWS_ENDPOINT_URL_DYNAMODB`` (or ``AWS_ENDPOINT_URL``, or an
  ``endpoint_url`` in the AWS config file) left in the environment is ignored
  while a test runs on moto, so a test never reaches a server by accident.
- ``session_store_table``: a ``TableConfig`` for a fresh, created table.
- ``session_store_adapter``: a ``DynamoDBAdapter`` on such a table.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from session_store.dynamodb import DynamoDBAdapter
from session_store.table import TableConfig, bind_models, create_table
from session_store.testing.backends import Backend, EndpointBackend, MotoBackend, fake_credentials

ENDPOINT_VARIABLE = "SESSION_STORE_TEST_ENDPOINT"
"""The one variable that points the fixtures (and this repository's suite) at an endpoint."""


@pytest.fixture
def session_store_backend() -> Iterator[Backend]:
    """Where tables are made: moto in process unless ``$SESSION_STORE_TEST_ENDPOINT`` is set."""
    url = os.environ.get(ENDPOINT_VARIABLE)
    backend: Backend
    if url:
        fake_credentials()
        backend = EndpointBackend("endpoint", url, region=os.environ.get("AWS_REGION", "us-east-1"))
    else:
        backend = MotoBackend()
    with backend.active():
        yield backend


@pytest.fixture
def session_store_table(session_store_backend: Backend) -> Iterator[TableConfig]:
    """A fresh table, created from the models; deleted afterwards."""
    config = session_store_backend.table_config()
    bound = bind_models(config)
    try:
        create_table(bound)
        yield config
    finally:
        with contextlib.suppress(Exception):  # the backend may already be torn down
            bound.gateway.table_request("delete_table", {})
        bound.close()


@pytest.fixture
def session_store_adapter(session_store_table: TableConfig) -> Iterator[DynamoDBAdapter]:
    """A ``DynamoDBAdapter`` on a fresh table."""
    with DynamoDBAdapter(
        session_store_table.table_name,
        region=session_store_table.region,
        endpoint_url=session_store_table.endpoint_url,
    ) as adapter:
        yield adapter
