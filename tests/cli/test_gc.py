"""``session-store gc``: orphan objects of the offload bucket removed through
``collect_orphans``; on both DynamoDB backends with moto's S3, and in a subprocess over
HTTP (a moto server serving DynamoDB and S3)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from session_store import DynamoDBAdapter, offloader
from session_store._client import s3_client
from session_store.cli import CliError, Output, Settings
from session_store.cli import commands as cli
from session_store.testing.backends import unique_table_name
from tests.cli.conftest import RunCli, offload_settings
from tests.faults import FaultPlan, fail, inject
from tests.integration.offload_fixtures import MB, bucket_keys, pointed_keys
from tests.s3_faults import DELETE_OBJECTS_REFUSED


def _orphans(adapter: DynamoDBAdapter, session_id: str, count: int) -> set[str]:
    """``count`` objects in the offload layout that no item points to."""
    config = adapter.offload
    assert config is not None
    store = adapter._offloader.store  # type: ignore[union-attr]
    keys = set()
    for n in range(count):
        key = f"{config.prefix}{session_id}/orphan-{n}/01JABCDEFGHJKMNPQRSTVWXYZ{n}.json"
        store.put(key, b"{}")
        keys.add(key)
    return keys


def test_gc_removes_orphans_and_keeps_what_items_point_to(
    offload_adapter: DynamoDBAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    adapter.add_message(session.id, {"role": "user", "content": "x" * MB})
    live = pointed_keys(adapter, session.id)
    _orphans(adapter, session.id, 2)
    settings = offload_settings(adapter, monkeypatch)

    young = Output.capture()
    assert cli.gc(settings, young) == 0  # the default grace period: an hour
    assert young.text() == "examined 0 object(s) older than 1h: removed 0 orphan(s), 0 failed\n"
    out = Output.capture()
    assert cli.gc(settings, out, older_than="0s") == 0
    assert out.text() == "examined 3 object(s) older than 0s: removed 2 orphan(s), 0 failed\n"
    assert bucket_keys(adapter) == live
    assert adapter.get_messages(session.id)[0].content == "x" * MB


@pytest.fixture
def refused_deletes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every S3 client the adapters make answers DeleteObjects with a per-key refusal."""
    with contextlib.ExitStack() as stack:

        def refusing(*args: Any, **kwargs: Any) -> Any:
            client = s3_client(*args, **kwargs)
            stack.enter_context(
                inject(client, FaultPlan(fail("DeleteObjects", with_=DELETE_OBJECTS_REFUSED)))
            )
            return client

        monkeypatch.setattr(offloader, "s3_client", refusing)
        yield


@pytest.mark.backends("moto")
def test_gc_says_when_s3_refused_deletes(
    offload_adapter: DynamoDBAdapter, monkeypatch: pytest.MonkeyPatch, refused_deletes: None
) -> None:
    session = offload_adapter.create_session({"status": "active"})
    orphans = _orphans(offload_adapter, session.id, 2)
    out = Output.capture()
    assert cli.gc(offload_settings(offload_adapter, monkeypatch), out, older_than="0s") == 1
    assert out.text() == "examined 2 object(s) older than 0s: removed 0 orphan(s), 2 failed\n"
    assert "run gc again later" in out.errors()
    assert bucket_keys(offload_adapter) >= orphans


@pytest.mark.backends("moto")
def test_gc_needs_a_bucket_and_a_duration(offload_adapter: DynamoDBAdapter) -> None:
    plain = Settings(table=offload_adapter.config.table_name, region=offload_adapter.config.region)
    with pytest.raises(CliError, match="`session-store gc` needs an offload bucket"):
        cli.gc(plain, Output.capture())
    with_bucket = Settings(table=plain.table, region=plain.region, offload_bucket="agent-blobs")
    with pytest.raises(CliError, match="cannot read --older-than 'soon'"):
        cli.gc(with_bucket, Output.capture(), older_than="soon")


def test_gc_over_http(run_cli: RunCli, moto_server: str, environment: Any) -> None:
    """The command line in a subprocess, DynamoDB and S3 both on one moto server."""
    table = unique_table_name("cli-gc")
    bucket = f"gc-{uuid.uuid4().hex[:12]}"
    client = s3_client("us-east-1", moto_server)
    client.create_bucket(Bucket=bucket)
    env = environment(AWS_ENDPOINT_URL_S3=moto_server, SESSION_STORE_OFFLOAD_BUCKET=bucket)
    assert (
        run_cli("--endpoint-url", moto_server, "--table", table, "migrate", env=env).returncode == 0
    )
    orphan = "s-1/m-1/01JABCDEFGHJKMNPQRSTVWXYZ0.json"
    client.put_object(Bucket=bucket, Key=orphan, Body=b"{}")
    result = run_cli(
        "--endpoint-url", moto_server, "--table", table, "gc", "--older-than", "0s", env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "examined 1 object(s) older than 0s: removed 1 orphan(s), 0 failed\n"
    assert "Contents" not in client.list_objects_v2(Bucket=bucket)
    without = run_cli("--endpoint-url", moto_server, "--table", table, "gc")
    assert without.returncode == 1
    assert without.stderr == (
        "error: `session-store gc` needs an offload bucket: pass --offload-bucket NAME or set "
        "SESSION_STORE_OFFLOAD_BUCKET\n"
    )


def test_an_unreachable_s3_endpoint_is_named_as_s3(
    run_cli: RunCli, moto_server: str, environment: Any
) -> None:
    table = ["--endpoint-url", moto_server, "--table", unique_table_name("cli-gc")]
    env = environment(
        AWS_ENDPOINT_URL_S3="http://127.0.0.1:1", SESSION_STORE_OFFLOAD_BUCKET="some-bucket"
    )
    assert run_cli(*table, "migrate", env=env).returncode == 0
    result = run_cli(*table, "gc", "--older-than", "0s", env=env)
    assert result.returncode == 1
    assert result.stderr == (
        "error: list_objects_v2 failed: cannot reach S3 at http://127.0.0.1:1: "
        "is the endpoint running?\n"
    )
