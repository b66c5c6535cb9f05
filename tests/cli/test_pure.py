"""The command line's pure parts: settings, errors, --since, the schema renderings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from session_store.cli import CliError, Output, Settings, describe_error
from session_store.cli import commands as cli
from session_store.cli.config import is_loopback
from session_store.cli.schema import cloudformation_template, render_schema, to_yaml
from session_store.errors import (
    ConcurrencyError,
    SessionError,
    SessionNotFoundError,
    ValidationError,
)
from session_store.gateway import translate
from session_store.table import ProvisionedThroughput, table_definition

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


# --- settings ---------------------------------------------------------------------


def test_settings_come_from_the_environment() -> None:
    env = {
        "SESSION_STORE_TABLE": "sessions",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://localhost:8000",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    assert Settings.from_env(env) == Settings(
        table="sessions", endpoint_url="http://localhost:8000", region="eu-west-1"
    )
    both = {**env, "AWS_REGION": "eu-central-1"}
    assert Settings.from_env(both).region == "eu-central-1"  # AWS_REGION first


def test_flags_win_over_the_environment() -> None:
    env = {"SESSION_STORE_TABLE": "from-env", "AWS_REGION": "eu-west-1"}
    settings = Settings.from_env(env, table="from-flag", region=None, verbose=True)
    assert settings == Settings(table="from-flag", region="eu-west-1", verbose=True)


def test_a_local_endpoint_gets_a_default_region() -> None:
    assert Settings(endpoint_url="http://127.0.0.1:8000").effective_region == "us-east-1"
    assert Settings(endpoint_url="http://localhost:8000", region="x").effective_region == "x"
    assert (
        Settings(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com").effective_region is None
    )


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://localhost:4566", True),
        ("http://[::1]:8000", True),
        ("https://dynamodb.us-east-1.amazonaws.com", False),
        (None, False),
    ],
)
def test_loopback_endpoints(url: str | None, local: bool) -> None:
    assert is_loopback(url) is local


def test_a_missing_table_name_is_a_clear_error() -> None:
    with pytest.raises(CliError, match="--table NAME or set SESSION_STORE_TABLE"):
        Settings().require_table()


# --- errors -----------------------------------------------------------------------


def _client_error(code: str, message: str = "boom") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Query")


def _wrapped(cause: BaseException) -> SessionError:
    """The error the adapter raises for ``cause`` (its gateway's map), ``cause`` kept."""
    try:
        raise translate(cause, "list sessions") from cause
    except SessionError as error:
        return error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (SessionNotFoundError("s-1"), "session 's-1' not found"),
        (ValidationError("session id must not be empty"), "session id must not be empty"),
        (ConcurrencyError("s", 1, 2), "expected version 1, found version 2"),
        (CliError("no table given"), "no table given"),
        (_wrapped(NoCredentialsError()), "no AWS credentials found"),
        (_wrapped(NoRegionError()), "no AWS region"),
        (
            _wrapped(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")),
            "cannot reach DynamoDB at http://127.0.0.1:1",
        ),
        (
            _wrapped(_client_error("ResourceNotFoundException")),
            "table 't' in the default region at the default endpoint does not exist",
        ),
        (_wrapped(_client_error("AccessDeniedException", "no")), "AccessDeniedException: no"),
    ],
)
def test_expected_failures_are_one_line(error: BaseException, expected: str) -> None:
    message = describe_error(error, Settings(table="t"))
    assert message is not None
    assert expected in message
    assert "\n" not in message


def test_a_bug_is_not_described() -> None:
    assert describe_error(KeyError("x")) is None
    assert describe_error(AssertionError()) is None


# --- --since ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - timedelta(seconds=90)),
        ("30m", NOW - timedelta(minutes=30)),
        ("12h", NOW - timedelta(hours=12)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T10:30:00Z", datetime(2026, 11, 1, 10, 30, tzinfo=UTC)),
        ("2026-11-01T12:30:00+02:00", datetime(2026, 11, 1, 10, 30, tzinfo=UTC)),
    ],
)
def test_since_reads_durations_and_dates(text: str, expected: datetime) -> None:
    assert cli.parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "7 days", "-3d", ""])
def test_since_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(CliError, match="cannot read --since"):
        cli.parse_since(text, NOW)


# --- schema -----------------------------------------------------------------------


def _resource(template: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = template["Resources"]["SessionStoreTable"]
    return resource


def test_cloudformation_resource_matches_the_table_definition() -> None:
    template = cloudformation_template("agent-sessions")
    resource = _resource(template)
    request = table_definition("agent-sessions")
    assert resource["Type"] == "AWS::DynamoDB::Table"
    assert resource["DeletionPolicy"] == "Retain"
    properties = resource["Properties"]
    assert properties["TableName"] == "agent-sessions"
    for name in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"):
        assert properties[name] == request[name]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert "StreamSpecification" not in properties
    assert [i["IndexName"] for i in properties["GlobalSecondaryIndexes"]] == ["GSI1", "GSI2"]
    assert template["Outputs"]["TableArn"]["Value"] == {"Fn::GetAtt": ["SessionStoreTable", "Arn"]}


def test_cloudformation_with_stream_and_provisioned_capacity() -> None:
    template = cloudformation_template(None, provisioned=ProvisionedThroughput(5, 3), stream=True)
    properties = _resource(template)["Properties"]
    assert "TableName" not in properties  # CloudFormation names it
    assert properties["BillingMode"] == "PROVISIONED"
    assert properties["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 3}
    assert all(
        i["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 3}
        for i in properties["GlobalSecondaryIndexes"]
    )
    assert properties["StreamSpecification"] == {"StreamViewType": "KEYS_ONLY"}
    assert "StreamArn" in template["Outputs"]


def test_yaml_and_json_say_the_same() -> None:
    as_json = json.loads(render_schema("cloudformation-json", "t-1", stream=True))
    as_yaml = yaml.safe_load(render_schema("cloudformation-yaml", "t-1", stream=True))
    assert as_json == as_yaml == cloudformation_template("t-1", stream=True)


def test_boto3_format_is_the_create_table_request() -> None:
    assert json.loads(render_schema("boto3", "t-1")) == table_definition("t-1")
    assert json.loads(render_schema("boto3"))["TableName"] == "session-store"


@pytest.mark.parametrize(
    "value",
    [
        {"a": ["x: y", "true", "", "a #b", "- dash", "2010-09-09", "null", "Fn::GetAtt"]},
        {"nested": [[1, 2], {"k": {}}, [], {"deep": [{"x": None, "y": 1.5, "z": False}]}]},
        {"quotes": 'say "hi"\nand \\ more', "unicode": "été ✓", "colon:key": 1},
        [],
        {},
    ],
)
def test_to_yaml_round_trips(value: Any) -> None:
    assert yaml.safe_load(to_yaml(value)) == value


def test_schema_command_prints_the_chosen_format() -> None:
    out = Output.capture()
    assert cli.schema(Settings(table="t-9"), out, output_format="boto3") == 0
    assert json.loads(out.text()) == table_definition("t-9")


def test_schema_command_refuses_half_a_capacity() -> None:
    with pytest.raises(CliError, match="both --read-capacity and --write-capacity"):
        cli.schema(Settings(), Output.capture(), read_capacity=5)
    with pytest.raises(CliError, match="at least 1"):
        cli.schema(Settings(), Output.capture(), read_capacity=0, write_capacity=1)
    with pytest.raises(CliError, match="unknown format"):
        cli.schema(Settings(), Output.capture(), output_format="terraform")


@pytest.mark.parametrize(
    ("output_format", "options"),
    [
        ("cloudformation-yaml", {"stream": True}),
        ("cloudformation-json", {"provisioned": ProvisionedThroughput(5, 5)}),
    ],
)
def test_cloudformation_passes_cfn_lint(output_format: str, options: dict[str, Any]) -> None:
    from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]

    template = render_schema(output_format, "agent-sessions", **options)
    assert lint(template, config=ManualArgs(regions=["us-east-1"])) == []


# --- help, widths, and what is missing ----------------------------------------------


def _commands() -> list[list[str]]:
    """Every command's path: ``[]``, ``["sessions"]``, ``["sessions", "list"]``, ..."""
    import typer

    from session_store.cli import app

    def walk(command: Any, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in getattr(command, "commands", {}).items():
            found += walk(sub, [*path, name])
        return found

    return walk(typer.main.get_command(app), [])


def test_every_command_option_and_argument_says_what_it_is_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import typer

    from session_store.cli import app, main

    root = typer.main.get_command(app)
    paths = _commands()
    assert ["sessions", "list"] in paths
    assert ["import"] in paths
    for path in paths:
        command: Any = root
        for name in path:
            command = command.commands[name]
        assert command.help, path
        for param in command.params:
            assert getattr(param, "help", None), (path, param.name)
        assert main([*path, "--help"]) == 0
        shown = capsys.readouterr().out
        assert "<bool>" not in shown, path


def test_output_width_follows_columns_when_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "72")
    assert Output.standard().console.width == 72  # stdout is not a terminal under pytest
    monkeypatch.delenv("COLUMNS")
    assert Output.standard().console.width == 160


def test_without_moto_local_does_not_suggest_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "moto" else real(name, *a)
    )
    with pytest.raises(CliError) as local:
        cli.local(Settings(), Output.capture(), port=0, wait=lambda _: None)
    assert str(local.value) == (
        "the embedded DynamoDB needs moto: pip install 'session-store[local]'"
    )
    with pytest.raises(CliError, match="or pass --endpoint-url"):
        cli.demo(Settings(), Output.capture())
