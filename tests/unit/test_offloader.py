"""``S3Offload``'s region and endpoint, and the adapter's ``offload`` option, checked
before any request (no backend needed)."""

from __future__ import annotations

from typing import Any

import pytest

from session_store import DynamoDBAdapter, S3Offload, ValidationError
from session_store.offloader import Offloader


@pytest.mark.parametrize(
    "options", [{"region": ""}, {"region": 3}, {"endpoint_url": ""}, {"endpoint_url": b"x"}]
)
def test_region_and_endpoint_must_be_strings(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="S3Offload"):
        S3Offload("my-bucket", **options)


def test_a_malformed_endpoint_is_refused_when_the_adapter_is_made() -> None:
    with pytest.raises(ValidationError, match="endpoint"):
        Offloader(S3Offload("my-bucket", endpoint_url="not a url"), region="eu-west-1")


def test_offload_must_be_an_s3offload() -> None:
    with pytest.raises(ValidationError, match="S3Offload"):
        DynamoDBAdapter("t-offload", region="eu-west-1", offload="my-bucket")  # type: ignore[arg-type]


def test_the_bucket_region_defaults_to_the_adapter_s() -> None:
    offloader = Offloader(
        S3Offload("my-bucket", endpoint_url="http://127.0.0.1:1"), region="eu-west-1"
    )
    assert offloader.store.where.region == "eu-west-1"
    assert offloader.store.where.endpoint_url == "http://127.0.0.1:1"
    other = Offloader(S3Offload("my-bucket", region="us-west-2"), region="eu-west-1")
    assert other.store.where.region == "us-west-2"
