"""SPEC §6: ``session_store.testing``'s pytest fixtures, registered as a plugin.

A user's test file, written as the README shows it, runs in a separate
pytest (``pytester.runpytest_subprocess``): the fixtures come from the
``pytest11`` entry point alone, not from this repository's conftest. Each
test gets a fresh table, on in-process moto by default or on the endpoint in
``$SESSION_STORE_ENDPOINT`` (covered with moto's HTTP server; DynamoDB Local
is one more endpoint of the same kind, needing its launcher, so it is not run
here).
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points

import boto3
import pytest

from session_store.testing.moto_server import MotoServer
from session_store.testing.plugin import ENDPOINT_VARIABLE

pytest_plugins = ["pytester"]

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
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", *extra)


@pytest.fixture
def user_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment the user's pytest inherits: plugins autoloaded, no endpoint set."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv(ENDPOINT_VARIABLE, raising=False)
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
