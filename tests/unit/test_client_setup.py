"""Where requests go: one region resolution and one endpoint check, before any request.

Region: the explicit argument, then ``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then
the AWS config profile; none is a ``ValidationError`` naming both variables. The
endpoint: the argument, then ``AWS_ENDPOINT_URL_DYNAMODB``, then ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.session
import pytest

from session_store import AsyncDynamoDBAdapter, DynamoDBAdapter, ValidationError
from session_store._client import resolve_endpoint_url, resolve_region, s3_client

_VARIABLES = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No region or endpoint variables, and an AWS config file with nothing in it."""
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "config"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    return monkeypatch


def test_the_explicit_region_wins(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AWS_REGION", "eu-west-1")
    clean_env.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert resolve_region("ap-south-1") == "ap-south-1"


def test_aws_region_comes_before_aws_default_region(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AWS_REGION", "eu-west-1")
    clean_env.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert resolve_region(None) == "eu-west-1"
    clean_env.delenv("AWS_REGION")
    assert resolve_region(None) == "eu-central-1"


def test_the_profile_region_comes_last(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "with-region"
    config.write_text("[default]\nregion = sa-east-1\n")
    clean_env.setenv("AWS_CONFIG_FILE", str(config))
    assert resolve_region(None) == "sa-east-1"
    clean_env.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert resolve_region(None) == "eu-central-1"


def test_no_region_is_one_clear_error(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match=r"AWS_REGION.*AWS_DEFAULT_REGION"):
        resolve_region(None)
    with pytest.raises(ValidationError, match="AWS_REGION"):
        DynamoDBAdapter("agent-sessions")
    with pytest.raises(ValidationError, match="AWS_REGION"):
        AsyncDynamoDBAdapter("agent-sessions")


@pytest.mark.parametrize("region", ["not a region", "-eu", "x" * 70])
def test_a_malformed_region_is_refused(clean_env: pytest.MonkeyPatch, region: str) -> None:
    with pytest.raises(ValidationError, match="invalid AWS region"):
        DynamoDBAdapter("agent-sessions", region=region)


def test_the_endpoint_comes_from_the_argument_then_the_environment(
    clean_env: pytest.MonkeyPatch,
) -> None:
    assert resolve_endpoint_url(None) is None
    clean_env.setenv("AWS_ENDPOINT_URL", "http://localhost:9000")
    assert resolve_endpoint_url(None) == "http://localhost:9000"
    clean_env.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://localhost:8000")
    assert resolve_endpoint_url(None) == "http://localhost:8000"
    assert resolve_endpoint_url("https://example.test") == "https://example.test"


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("notaurl", "scheme"),
        ("localhost:8000", "scheme"),
        ("ftp://localhost:8000", "scheme"),
        ("http://127.0.0.1:99999", "out of range"),
        ("http://:8000", "no host"),
    ],
)
def test_a_malformed_endpoint_is_refused(
    clean_env: pytest.MonkeyPatch, endpoint: str, problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        DynamoDBAdapter("agent-sessions", region="us-east-1", endpoint_url=endpoint)


def test_repr_and_config_show_where_requests_go(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AWS_REGION", "eu-west-1")
    clean_env.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://localhost:8000")
    with DynamoDBAdapter("agent-sessions") as adapter:
        assert (adapter.config.region, adapter.config.endpoint_url) == (
            "eu-west-1",
            "http://localhost:8000",
        )
        assert "region='eu-west-1'" in repr(adapter)
        assert "endpoint_url='http://localhost:8000'" in repr(adapter)
        assert adapter.models.client.meta.endpoint_url == "http://localhost:8000"
        assert adapter.models.client.meta.region_name == "eu-west-1"


def test_configured_endpoints_can_be_ignored_as_botocore_allows(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://localhost:8000")
    clean_env.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert resolve_endpoint_url(None) is None
    assert resolve_endpoint_url("http://localhost:9000") == "http://localhost:9000"


def test_clients_share_the_parsed_service_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every adapter's client (and S3 client) reads botocore's service files through one
    loader, parsed once per process, while each keeps its own session and credentials."""
    # This suite shares loaders on its own (tests/conftest.py): take that away here.
    create_loader = botocore.session.create_loader
    monkeypatch.setattr(
        botocore.session, "create_loader", getattr(create_loader, "__wrapped__", create_loader)
    )
    endpoint = "http://127.0.0.1:9"
    with (
        DynamoDBAdapter("first", region="us-east-1", endpoint_url=endpoint) as first,
        DynamoDBAdapter("second", region="us-east-1", endpoint_url=endpoint) as second,
    ):
        one: Any = first.models.client
        other: Any = second.models.client
        assert one is not other
        assert one._request_signer is not other._request_signer
        assert one._loader is other._loader
        s3: Any = s3_client("us-east-1", endpoint)
        try:
            assert s3._loader is one._loader
        finally:
            s3.close()
    # Without the shared loader, two sessions parse the files each.
    assert botocore.session.Session().get_component("data_loader") is not one._loader
