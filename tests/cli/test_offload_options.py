"""The offload options of the command line: settings, usage errors, the schema's bucket and
the IAM policy's S3 statements (the bucket calls applied to moto's S3, in process and over
HTTP)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import yaml

from session_store._client import s3_client
from session_store.cli import CliError, Output, Settings, main
from session_store.cli import commands as cli
from session_store.cli.schema import (
    BUCKET_LOGICAL_ID,
    LIFECYCLE_MARGIN,
    bucket_calls,
    cloudformation_template,
    expiration_days,
    render_schema,
)
from session_store.iam import S3_LIST_ACTIONS, S3_OBJECT_ACTIONS, iam_policy
from session_store.offload import S3Offload
from session_store.table import table_definition

ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/sessions"

# --- settings -----------------------------------------------------------------------


def test_offload_settings_come_from_the_environment() -> None:
    env = {"SESSION_STORE_OFFLOAD_BUCKET": "agent-blobs", "SESSION_STORE_OFFLOAD_PREFIX": "chat"}
    settings = Settings.from_env(env)
    assert settings.offload == S3Offload("agent-blobs", prefix="chat/")
    assert Settings.from_env(env, offload_prefix="other").offload == S3Offload(
        "agent-blobs", prefix="other/"
    )
    assert Settings.from_env({}).offload is None


@pytest.mark.parametrize(
    ("bucket", "prefix", "message"),
    [
        ("Bad_Bucket", None, r"invalid S3 bucket name 'Bad_Bucket'.*--offload-bucket"),
        ("10.0.0.1", None, "not an IP address"),
        ("agent-blobs", "../up", r"invalid S3 key prefix.*--offload-prefix"),
        ("agent-blobs", "a b", r"invalid S3 key prefix.*--offload-prefix"),
        (None, "chat", "--offload-prefix .* needs an offload bucket"),
    ],
)
def test_bad_offload_values_are_usage_errors(
    bucket: str | None, prefix: str | None, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(offload_bucket=bucket, offload_prefix=prefix)
    with pytest.raises(CliError, match=message) as caught:
        settings.offload  # noqa: B018
    assert caught.value.exit_code == 2
    argv = [
        *(["--offload-bucket", bucket] if bucket else []),
        *(["--offload-prefix", prefix] if prefix else []),
        "schema",
    ]
    assert main(argv) == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    lines = printed.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "Traceback" not in printed.err


def test_a_bad_bucket_from_the_environment_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SESSION_STORE_OFFLOAD_BUCKET", "UPPER")
    assert main(["iam-policy", ARN]) == 2
    assert "invalid S3 bucket name 'UPPER'" in capsys.readouterr().err


def test_commands_that_need_a_bucket_say_so() -> None:
    with pytest.raises(CliError, match=r"`session-store gc` needs an offload bucket") as caught:
        Settings(table="t1").require_offload("gc")
    assert caught.value.exit_code == 1


# --- schema -------------------------------------------------------------------------


def _bucket(template: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = template["Resources"][BUCKET_LOGICAL_ID]
    return resource


def test_the_template_holds_the_bucket_encrypted_and_private() -> None:
    offload = S3Offload("agent-blobs", prefix="chat")
    template = cloudformation_template("t-1", offload=offload, session_ttl=timedelta(days=30))
    bucket = _bucket(template)
    assert bucket["Type"] == "AWS::S3::Bucket"
    assert bucket["DeletionPolicy"] == "Retain"
    properties = bucket["Properties"]
    assert properties["BucketName"] == "agent-blobs"
    (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    (rule,) = properties["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == "chat/"
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == 30 + 7
    assert template["Outputs"]["OffloadBucketName"] == {"Value": {"Ref": BUCKET_LOGICAL_ID}}
    # The table is as without offload.
    assert (
        template["Resources"]["SessionStoreTable"]
        == cloudformation_template("t-1")["Resources"]["SessionStoreTable"]
    )


def test_without_a_session_ttl_the_bucket_has_no_expiry() -> None:
    template = cloudformation_template("t-1", offload=S3Offload("agent-blobs"))
    assert "LifecycleConfiguration" not in _bucket(template)["Properties"]
    assert BUCKET_LOGICAL_ID not in cloudformation_template("t-1")["Resources"]


@pytest.mark.parametrize(
    ("ttl", "days"),
    [(timedelta(days=30), 37), (timedelta(hours=1), 8), (timedelta(days=1, seconds=1), 9)],
)
def test_expiration_is_the_ttl_plus_the_margin_in_whole_days(ttl: timedelta, days: int) -> None:
    assert timedelta(days=7) == LIFECYCLE_MARGIN
    assert expiration_days(ttl) == days


def test_yaml_and_json_hold_the_same_bucket() -> None:
    options: dict[str, Any] = {
        "offload": S3Offload("agent-blobs", prefix="p"),
        "session_ttl": timedelta(days=2),
    }
    as_json = json.loads(render_schema("cloudformation-json", "t-1", **options))
    as_yaml = yaml.safe_load(render_schema("cloudformation-yaml", "t-1", **options))
    assert as_json == as_yaml == cloudformation_template("t-1", **options)


@pytest.mark.parametrize("output_format", ["cloudformation-yaml", "cloudformation-json"])
def test_the_template_with_a_bucket_passes_cfn_lint(output_format: str) -> None:
    from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]

    template = render_schema(
        output_format,
        "agent-sessions",
        offload=S3Offload("agent-blobs", prefix="chat"),
        session_ttl=timedelta(days=30),
    )
    assert lint(template, config=ManualArgs(regions=["us-east-1"])) == []


def test_schema_command_emits_the_bucket_and_checks_its_options() -> None:
    settings = Settings(table="t-9", offload_bucket="agent-blobs", region="eu-west-1")
    out = Output.capture()
    assert cli.schema(settings, out, output_format="boto3", session_ttl="30d") == 0
    printed = json.loads(out.text())
    assert printed["dynamodb"]["create_table"] == table_definition("t-9")
    assert printed["s3"] == bucket_calls(
        S3Offload("agent-blobs"), region="eu-west-1", session_ttl=timedelta(days=30)
    )
    # Without a bucket the boto3 format stays the bare create_table arguments.
    plain = Output.capture()
    assert cli.schema(Settings(table="t-9"), plain, output_format="boto3") == 0
    assert json.loads(plain.text()) == table_definition("t-9")
    with pytest.raises(CliError, match="--session-ttl sets the offload bucket's lifecycle"):
        cli.schema(Settings(table="t-9"), Output.capture(), session_ttl="30d")
    with pytest.raises(CliError, match="cannot read --session-ttl 'soon'"):
        cli.schema(settings, Output.capture(), session_ttl="soon")


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_the_bucket_calls_build_that_bucket_on_s3(s3_endpoint: str | None, region: str) -> None:
    bucket = f"offload-schema-{uuid.uuid4().hex[:12]}"
    calls = bucket_calls(
        S3Offload(bucket, prefix="chat"), region=region, session_ttl=timedelta(days=30)
    )
    client = s3_client(region, s3_endpoint)
    for method, arguments in calls.items():
        getattr(client, method)(**arguments)
    encryption = client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    blocked = client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert blocked == calls["put_public_access_block"]["PublicAccessBlockConfiguration"]
    (rule,) = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Filter"] == {"Prefix": "chat/"}
    assert rule["Expiration"]["Days"] == 37
    located = client.get_bucket_location(Bucket=bucket)["LocationConstraint"]
    assert (located or "us-east-1") == region


# --- iam-policy ---------------------------------------------------------------------


def test_the_policy_grants_objects_under_the_prefix_only() -> None:
    policy = iam_policy(ARN, offload=S3Offload("agent-blobs", prefix="chat"))
    by_sid = {statement["Sid"]: statement for statement in policy["Statement"]}
    objects = by_sid["SessionStoreOffloadObjects"]
    assert sorted(objects["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert objects["Action"] == list(S3_OBJECT_ACTIONS)
    assert objects["Resource"] == ["arn:aws:s3:::agent-blobs/chat/*"]
    listing = by_sid["SessionStoreOffloadList"]
    assert listing["Action"] == list(S3_LIST_ACTIONS) == ["s3:ListBucket"]
    assert listing["Resource"] == ["arn:aws:s3:::agent-blobs"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["chat/*"]}}
    # Without offload, nothing about S3.
    assert not any("s3:" in str(s["Action"]) for s in iam_policy(ARN)["Statement"])


def test_the_policy_follows_the_partition_and_an_empty_prefix() -> None:
    arn = "arn:aws-cn:dynamodb:cn-north-1:123456789012:table/sessions"
    policy = iam_policy(arn, offload=S3Offload("agent-blobs"))
    by_sid = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert by_sid["SessionStoreOffloadObjects"]["Resource"] == ["arn:aws-cn:s3:::agent-blobs/*"]
    assert "Condition" not in by_sid["SessionStoreOffloadList"]


def test_iam_policy_command_adds_the_bucket(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--offload-bucket", "agent-blobs", "--offload-prefix", "chat", "iam-policy", ARN]
    assert main(argv) == 0
    policy = json.loads(capsys.readouterr().out)
    assert policy == iam_policy(ARN, offload=S3Offload("agent-blobs", prefix="chat"))
