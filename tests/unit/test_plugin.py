"""SPEC §6: ``session_store.testing``'s pytest fixtures, registered as a plugin.

A user's test file, written as the README shows it, runs in a separate
pytest (``pytester.runpytest_subprocess``): the fixtures come from the
``pytest11`` entry point alone, not from this repository's conftest. Each
test gets a fresh table, on in-process moto by default or on the endpoint in
``$SESSION_STORE_TEST_ENDPOINT`` (covered with moto's HTTP server; DynamoDB
Local is one more endpoint of the same kind, needing its launcher, so it is
not run here). The endpoint variables an application uses
(``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_ENDPOINT_URL``) never move the fixtures
off moto.
"""

from __future__ import annotations

import os
import socket
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import boto3
import pytest

from session_store.testing.moto_server import MotoServer
from session_store.testing.plugin import ENDPOINT_VARIABLE

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

# Exactly the README's example ("Testing your code").
README_EXAMPLE = """
from session_store.testing import SessionFactory, MessageFactory


def test_handoff(session_store_adapter):
    session = SessionFactory.create(adapter=session_store_adapter, user_id="u-1")
    MessageFactory.create(adapter=session_store_adapter, session_id=session.id)
"""

# Tests run in file order: the first writes, the second must see none of it.
USER_TESTS = """
import os

from session_store import DynamoDBAdapter, NewMessage, NewSession
from session_store.table import TableConfig
from session_store.testing import MessageFactory, SessionFactory
from session_store.testing.backends import EndpointBackend, MotoBackend

TABLES = []


def test_backend_is_the_expected_one(session_store_backend):
    expected = os.environ.get("EXPECTED_BACKEND")
    if expected == "moto":
        assert isinstance(session_store_backend, MotoBackend)
        assert session_store_backend.endpoint_url is None
    else:
        assert isinstance(session_store_backend, EndpointBackend)
        assert session_store_backend.endpoint_url == expected


def test_writes_a_session_and_reads_it_back(session_store_adapter, session_store_table):
    assert isinstance(session_store_adapter, DynamoDBAdapter)
    assert isinstance(session_store_table, TableConfig)
    assert session_store_adapter.config.table_name == session_store_table.table_name
    sent_to = session_store_adapter.models.client.meta.endpoint_url
    if os.environ.get("EXPECTED_BACKEND") == "moto":  # moto answers AWS's own endpoint
        assert sent_to == "https://dynamodb.us-east-1.amazonaws.com", sent_to
    else:
        assert sent_to == os.environ.get("EXPECTED_BACKEND")
    TABLES.append(session_store_table.table_name)

    assert isinstance(SessionFactory.build(), NewSession)
    assert isinstance(MessageFactory.build(), NewMessage)
    session = SessionFactory.create(adapter=session_store_adapter, user_id="u-1")
    message = MessageFactory.create(adapter=session_store_adapter, session_id=session.id)
    stored = session_store_adapter.get_session(session.id)
    assert stored is not None
    assert stored.user_id == "u-1"
    assert stored.message_count == 1
    assert session_store_adapter.get_messages(session.id) == [message]
    assert [s.id for s in session_store_adapter.list_sessions()] == [session.id]


def test_a_second_test_gets_a_fresh_empty_table(session_store_adapter, session_store_table):
    assert TABLES, "the writing test ran first"
    assert session_store_table.table_name not in TABLES
    assert session_store_adapter.list_sessions() == []
    assert session_store_adapter.health().status == "healthy"
"""


def run_user_suite(pytester: pytest.Pytester, *extra: str) -> pytest.RunResult:
    pytester.makepyfile(test_readme_example=README_EXAMPLE, test_user_suite=USER_TESTS)
    # langsmith's and Faker's plugins (installed with the integrations' extras) would cost
    # each run seconds of importing; they have nothing to do with this plugin's loading.
    unrelated = ("-p", "no:langsmith_plugin", "-p", "no:faker")
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *unrelated, "-q", *extra)


@pytest.fixture
def user_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment the user's pytest inherits: plugins autoloaded, no endpoint set.

    The package is imported from this checkout, whatever is installed.
    """
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    for name in (ENDPOINT_VARIABLE, "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    registered = {e.name: e.value for e in entry_points(group="pytest11")}
    assert registered.get("session_store") == "session_store.testing.plugin"


def test_fixtures_on_moto_give_one_fresh_table_per_test(
    pytester: pytest.Pytester, user_env: pytest.MonkeyPatch
) -> None:
    user_env.setenv("EXPECTED_BACKEND", "moto")
    result = run_user_suite(pytester)
    result.assert_outcomes(passed=4)


def _moto_client(url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"])
def test_an_exported_aws_endpoint_with_nothing_listening_does_not_move_the_fixtures(
    pytester: pytest.Pytester, user_env: pytest.MonkeyPatch, variable: str
) -> None:
    user_env.setenv(variable, f"http://127.0.0.1:{_unused_port()}")
    user_env.setenv("EXPECTED_BACKEND", "moto")
    result = run_user_suite(pytester)
    result.assert_outcomes(passed=4)


def test_an_exported_aws_endpoint_with_a_server_running_is_left_untouched(
    pytester: pytest.Pytester, user_env: pytest.MonkeyPatch
) -> None:
    """As after ``session-store local``: the user's tests must not write to that server."""
    with MotoServer() as server:
        client = _moto_client(server.endpoint_url)
        before = client.list_tables()["TableNames"]
        user_env.setenv("AWS_ENDPOINT_URL_DYNAMODB", server.endpoint_url)
        user_env.setenv("EXPECTED_BACKEND", "moto")
        result = run_user_suite(pytester)
        result.assert_outcomes(passed=4)
        assert client.list_tables()["TableNames"] == before


def test_fixtures_on_an_endpoint_named_by_the_environment(
    pytester: pytest.Pytester, user_env: pytest.MonkeyPatch
) -> None:
    with MotoServer() as server:
        url = server.endpoint_url
        # moto's backends live in this process: tables other tests made may be listed too.
        client = boto3.client(
            "dynamodb",
            endpoint_url=url,
            region_name=os.environ.get("AWS_REGION", "us-east-1"),
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        before = client.list_tables()["TableNames"]
        user_env.setenv(ENDPOINT_VARIABLE, url)
        user_env.setenv("EXPECTED_BACKEND", url)
        result = run_user_suite(pytester)
        result.assert_outcomes(passed=4)
        # Every table the fixtures made on the endpoint was deleted afterwards.
        assert client.list_tables()["TableNames"] == before


def test_one_variable_names_the_endpoint_for_users_and_for_this_suite() -> None:
    from tests import conftest

    suite_variable = getattr(conftest, "ENDPOINT_VARIABLE")  # noqa: B009  # not re-exported
    assert ENDPOINT_VARIABLE == suite_variable == "SESSION_STORE_TEST_ENDPOINT"
