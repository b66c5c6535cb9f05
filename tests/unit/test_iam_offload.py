"""``iam_policy(..., offload=)`` grants exactly the S3 actions an offloading adapter sends, on
the objects under its prefix: proven by recording a workload's S3 requests (as
``test_iam`` does for DynamoDB's)."""

from __future__ import annotations

import fnmatch
from datetime import timedelta
from typing import Any

import pytest

from session_store import DynamoDBAdapter
from session_store.iam import iam_policy
from tests.integration.offload_fixtures import MB

pytestmark = pytest.mark.backends("moto")

ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/sessions"
# IAM authorizes DeleteObjects as s3:DeleteObject on each key, ListObjectsV2 as s3:ListBucket.
S3_ACTIONS = {
    "PutObject": "s3:PutObject",
    "GetObject": "s3:GetObject",
    "DeleteObject": "s3:DeleteObject",
    "DeleteObjects": "s3:DeleteObject",
    "ListObjectsV2": "s3:ListBucket",
}


def _allowed(policy: dict[str, Any], action: str, resource: str, prefix: str | None) -> bool:
    for statement in policy["Statement"]:
        if action not in statement["Action"]:
            continue
        if not any(fnmatch.fnmatchcase(resource, pattern) for pattern in statement["Resource"]):
            continue
        condition = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
        if condition is None or (
            prefix is not None and any(fnmatch.fnmatchcase(prefix, c) for c in condition)
        ):
            return True
    return False


def test_the_policy_allows_every_s3_request_and_nothing_spare(
    offload_adapter: DynamoDBAdapter,
) -> None:
    adapter = offload_adapter
    config = adapter.offload
    assert config is not None
    recorded: list[tuple[str, str, str | None]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        bucket = f"arn:aws:s3:::{params['Bucket']}"
        if model.name == "ListObjectsV2":
            recorded.append((S3_ACTIONS[model.name], bucket, params.get("Prefix", "")))
        elif model.name == "DeleteObjects":
            for entry in params["Delete"]["Objects"]:
                recorded.append((S3_ACTIONS[model.name], f"{bucket}/{entry['Key']}", None))
        else:
            recorded.append((S3_ACTIONS[model.name], f"{bucket}/{params['Key']}", None))

    client = adapter._offloader.store.client  # type: ignore[union-attr]
    client.meta.events.register("before-parameter-build.s3", record, unique_id="iam-s3")

    session = adapter.create_session({"status": "active"})
    big = adapter.add_message(session.id, {"role": "user", "content": "a" * MB})
    assert adapter.get_messages(session.id)[0].content == "a" * MB
    adapter.update_message(session.id, big.id, {"content": "b" * MB})
    adapter.delete_message(session.id, big.id)
    other = adapter.create_session({"status": "active"})
    adapter.add_messages(other.id, [{"role": "user", "content": "c" * MB}] * 2)
    adapter.delete_session(other.id)
    adapter.collect_orphans(timedelta(0))
    client.meta.events.unregister("before-parameter-build.s3", unique_id="iam-s3")

    policy = iam_policy(ARN, offload=config)
    for action, resource, prefix in recorded:
        assert _allowed(policy, action, resource, prefix), (action, resource, prefix)
    granted = {
        action
        for statement in policy["Statement"]
        for action in statement["Action"]
        if action.startswith("s3:")
    }
    assert granted == {action for action, _, _ in recorded}
    # And nothing outside the prefix would be allowed.
    outside = f"arn:aws:s3:::{config.bucket}/elsewhere/x.json"
    assert not _allowed(policy, "s3:GetObject", outside, None)
    assert not _allowed(policy, "s3:ListBucket", f"arn:aws:s3:::{config.bucket}", "elsewhere/")
