"""One run of each command through the installed ``session-store`` executable.

Against a moto server on 127.0.0.1 (``demo`` also embedded): what a user
types, with its exit code, and never a traceback for an expected failure.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from session_store._time import utc_now
from session_store.dynamodb import DynamoDBAdapter
from session_store.testing.backends import unique_table_name

from .conftest import CHECKOUT

RunCli = Callable[..., subprocess.CompletedProcess[str]]
Environment = Callable[..., dict[str, str]]


def _on(adapter: DynamoDBAdapter) -> list[str]:
    config = adapter.config
    return ["--endpoint-url", str(config.endpoint_url), "--table", config.table_name]


def _chat(adapter: DynamoDBAdapter) -> None:
    adapter.create_session(
        {"id": "s-1", "status": "active", "user_id": "alice", "metadata": {"title": "Refund"}}
    )
    adapter.add_message("s-1", {"role": "user", "content": "Where is my refund?"})
    adapter.add_message("s-1", {"role": "assistant", "content": "Sent yesterday."})


def test_help_lists_every_command(run_cli: RunCli) -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("demo", "migrate", "schema", "sessions", "messages", "sweep", "health"):
        assert command in result.stdout


def test_demo_embedded(run_cli: RunCli) -> None:
    result = run_cli("demo")
    assert result.returncode == 0, result.stderr
    assert "-> ConcurrencyError" in result.stdout
    assert "What it cost" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("total: ")


def test_demo_on_an_endpoint_leaves_no_table(run_cli: RunCli, moto_server: str) -> None:
    with DynamoDBAdapter("probe-table", region="us-east-1", endpoint_url=moto_server) as probe:
        before = probe.models.client.list_tables()["TableNames"]
        result = run_cli("--endpoint-url", moto_server, "demo")
        assert result.returncode == 0, result.stderr
        assert moto_server in result.stdout
        assert "delete the demo table" in result.stdout
        assert probe.models.client.list_tables()["TableNames"] == before


def test_migrate_and_status(run_cli: RunCli, moto_server: str) -> None:
    table = ["--endpoint-url", moto_server, "--table", unique_table_name("cli-migrate")]
    applied = run_cli(*table, "migrate")
    assert applied.returncode == 0, applied.stderr
    assert "applied 2 migration(s)" in applied.stdout
    status = run_cli(*table, "migrate", "--status")
    assert status.returncode == 0
    assert "2 applied, 0 pending" in status.stdout


def test_schema_from_the_environment(run_cli: RunCli, environment: Environment) -> None:
    result = run_cli(
        "schema", "--format", "cloudformation-yaml", env=environment(SESSION_STORE_TABLE="t1")
    )
    assert result.returncode == 0, result.stderr
    template = yaml.safe_load(result.stdout)
    assert template["Resources"]["SessionStoreTable"]["Properties"]["TableName"] == "t1"
    wrong = run_cli("schema", "--format", "terraform")
    assert wrong.returncode == 2  # a usage error


def test_sessions_list(run_cli: RunCli, server_adapter: DynamoDBAdapter) -> None:
    _chat(server_adapter)
    result = run_cli(*_on(server_adapter), "sessions", "list", "--user", "alice", "--since", "1d")
    assert result.returncode == 0, result.stderr
    assert "1 session(s), through GSI1" in result.stdout
    assert "Refund" in result.stdout


def test_sessions_show(run_cli: RunCli, server_adapter: DynamoDBAdapter) -> None:
    _chat(server_adapter)
    result = run_cli(*_on(server_adapter), "sessions", "show", "s-1")
    assert result.returncode == 0, result.stderr
    assert "newest 2 of 2 message(s)" in result.stdout
    assert "Sent yesterday." in result.stdout


def test_sessions_delete(run_cli: RunCli, server_adapter: DynamoDBAdapter) -> None:
    _chat(server_adapter)
    refused = run_cli(*_on(server_adapter), "sessions", "delete", "s-1")  # no terminal to ask on
    assert refused.returncode == 1
    assert "pass --yes" in refused.stderr
    assert server_adapter.get_session("s-1") is not None
    deleted = run_cli(*_on(server_adapter), "sessions", "delete", "s-1", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert server_adapter.get_session("s-1") is None


def test_messages(run_cli: RunCli, server_adapter: DynamoDBAdapter) -> None:
    _chat(server_adapter)
    result = run_cli(*_on(server_adapter), "messages", "s-1", "--role", "assistant", "--json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["content"] for line in result.stdout.splitlines()] == [
        "Sent yesterday."
    ]


def test_sweep(run_cli: RunCli, server_adapter: DynamoDBAdapter) -> None:
    server_adapter.create_session(
        {"id": "old", "status": "active", "expires_at": utc_now() - timedelta(hours=1)}
    )
    real = run_cli(*_on(server_adapter), "sweep")
    assert real.returncode == 0, real.stderr
    assert "deleted 1 expired session(s)" in real.stdout
    assert server_adapter.get_expired_sessions(utc_now()) == []


def test_health(run_cli: RunCli, server_adapter: DynamoDBAdapter, moto_server: str) -> None:
    healthy = run_cli(*_on(server_adapter), "-v", "health")
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stdout.startswith("healthy")
    assert "dynamodb #1 DescribeTable" in healthy.stderr
    missing = run_cli("--endpoint-url", moto_server, "--table", "no-such-table", "health")
    assert missing.returncode == 2
    assert missing.stdout.startswith("unhealthy")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "no-such-table", "sessions", "list"], "table 'no-such-table' in region"),
        (["sessions", "show", "nope"], "session 'nope' not found"),
        (["messages", ""], "session id must not be empty"),
    ],
)
def test_expected_failures_are_one_line(
    run_cli: RunCli, server_adapter: DynamoDBAdapter, args: list[str], message: str
) -> None:
    result = run_cli(*_on(server_adapter), *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_no_table_unreachable_endpoint_and_no_credentials(
    run_cli: RunCli, environment: Environment
) -> None:
    no_table = run_cli("sessions", "list")
    assert no_table.returncode == 1
    assert "pass --table NAME or set SESSION_STORE_TABLE" in no_table.stderr

    unreachable = run_cli(
        "--endpoint-url", "http://127.0.0.1:9", "--table", "t-1", "sessions", "list"
    )
    assert unreachable.returncode == 1
    assert "cannot reach DynamoDB at http://127.0.0.1:9" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr

    env = environment(AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent")
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    remote = ["--endpoint-url", "https://dynamodb.example.invalid", "--region", "eu-west-1"]
    no_credentials = run_cli(*remote, "--table", "t-1", "sessions", "list", env=env)
    assert no_credentials.returncode == 1
    assert "no AWS credentials found" in no_credentials.stderr
    assert "Traceback" not in no_credentials.stderr


def test_a_local_endpoint_needs_no_credentials(
    run_cli: RunCli, environment: Environment, moto_server: str
) -> None:
    env = environment(AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent")
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    table = unique_table_name("cli-nocreds")
    result = run_cli("--endpoint-url", moto_server, "--table", table, "migrate", env=env)
    assert result.returncode == 0, result.stderr


def test_iam_policy(run_cli: RunCli) -> None:
    arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/sessions"
    result = run_cli("iam-policy", arn, "--admin")
    assert result.returncode == 0, result.stderr
    policy = json.loads(result.stdout)
    assert policy["Version"] == "2012-10-17"
    assert any("dynamodb:CreateTable" in s["Action"] for s in policy["Statement"])
    wildcard = run_cli("iam-policy", "arn:aws:dynamodb:eu-west-1:123456789012:table/*")
    assert wildcard.returncode == 1
    assert wildcard.stderr.startswith("error: not a DynamoDB table ARN")


def test_export_then_import(
    run_cli: RunCli, server_adapter: DynamoDBAdapter, moto_server: str, tmp_path: Path
) -> None:
    _chat(server_adapter)
    snapshot = tmp_path / "s-1.jsonl"
    exported = run_cli(*_on(server_adapter), "export", "--session", "s-1", "-o", str(snapshot))
    assert exported.returncode == 0, exported.stderr
    assert len(snapshot.read_text(encoding="utf-8").splitlines()) == 3
    with DynamoDBAdapter(
        unique_table_name("cli-copy"), region="us-east-1", endpoint_url=moto_server
    ) as copy:
        copy.migrate()
        imported = run_cli(*_on(copy), "import", "-", stdin=snapshot.read_text(encoding="utf-8"))
        assert imported.returncode == 0, imported.stderr
        assert "imported 3 item(s): 1 session(s), 2 message(s)" in imported.stdout
        assert copy.get_session("s-1") == server_adapter.get_session("s-1")
        assert copy.get_messages("s-1") == server_adapter.get_messages("s-1")
        copy.models.client.delete_table(TableName=copy.config.table_name)


def test_local_until_interrupted(
    command: list[str], environment: Environment, tmp_path: Path
) -> None:
    snapshot = tmp_path / "local.jsonl"
    with subprocess.Popen(
        [*command, "local", "--port", "0", "--data", str(snapshot)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(
            AWS_ACCESS_KEY_ID="AKIACALLERSOWNKEY", AWS_SECRET_ACCESS_KEY="caller-secret"
        ),
        cwd=CHECKOUT,
    ) as server:
        assert server.stdout is not None
        exports: dict[str, str] = {}
        try:
            while len(exports) < 7:
                line = server.stdout.readline()
                assert line, "session-store local stopped before printing its settings"
                name, _, value = line.strip().removeprefix("export ").partition("=")
                exports[name] = value
            assert exports["SESSION_STORE_TABLE"] == "session-store"
            assert exports["AWS_ENDPOINT_URL_S3"] == exports["AWS_ENDPOINT_URL_DYNAMODB"]
            assert exports["SESSION_STORE_OFFLOAD_BUCKET"] == "session-store-offload"
            # Placeholders, never the caller's own credentials.
            assert exports["AWS_ACCESS_KEY_ID"] == "local"
            assert exports["AWS_SECRET_ACCESS_KEY"] == "local"
            with DynamoDBAdapter(
                "session-store",
                region="us-east-1",
                endpoint_url=exports["AWS_ENDPOINT_URL_DYNAMODB"],
            ) as client:
                client.create_session({"id": "kept", "status": "active"})
        finally:
            server.send_signal(signal.SIGINT)
            try:
                _, errors = server.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                raise
    assert server.returncode == 0, errors
    assert "saved 3 item(s)" in errors
    assert "caller-secret" not in errors
    assert "AKIACALLERSOWNKEY" not in errors
    ids = [json.loads(line)["Item"]["PK"]["S"] for line in snapshot.read_text().splitlines()]
    assert "SESSION#kept" in ids
