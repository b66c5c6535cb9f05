"""The table definition as infrastructure as code: CloudFormation (JSON or YAML), boto3.

Everything is derived from ``session_store.table.table_definition``, itself
derived from the PynamoDB models, so the template always matches what
``create_table``/``migrate`` build. The CloudFormation resource adds what the
``CreateTable`` request cannot carry: TTL on ``ttl``. The table keeps its
data when the stack is deleted or the resource replaced (``DeletionPolicy``
and ``UpdateReplacePolicy`` ``Retain``).

With an offload bucket (``S3Offload``) the template also holds the bucket
for large messages: encrypted at rest (SSE-S3, AES-256), every kind of public
access blocked, ACLs disabled (bucket owner enforced), kept when the stack is
deleted. With a session TTL, a lifecycle rule expires objects under the
prefix ``session_ttl`` plus ``LIFECYCLE_MARGIN`` after they are written:
a backstop for objects nothing removed (the adapter removes an object with
its message; ``gc`` removes orphans). The margin covers DynamoDB's delay in
deleting expired items (typically within a few days) and the stream handler
that removes their objects. The rule counts from an object's write, while
sliding expiry keeps an active session alive past its TTL: give the longest
a session may live, not its idle timeout, or leave the rule out.
"""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta
from typing import Any

from session_store.offload import S3Offload
from session_store.table import TTL_ATTRIBUTE, ProvisionedThroughput, table_definition

__all__ = [
    "BUCKET_LOGICAL_ID",
    "FORMATS",
    "LIFECYCLE_MARGIN",
    "LIFECYCLE_RULE_ID",
    "LOGICAL_ID",
    "bucket_calls",
    "cloudformation_template",
    "expiration_days",
    "render_schema",
    "to_yaml",
]

FORMATS = ("cloudformation-json", "cloudformation-yaml", "boto3")
LOGICAL_ID = "SessionStoreTable"
DEFAULT_TABLE_NAME = "session-store"
"""The ``TableName`` of the boto3 arguments when no table is configured."""
BUCKET_LOGICAL_ID = "SessionStoreOffloadBucket"
LIFECYCLE_RULE_ID = "session-store-offload-backstop"
LIFECYCLE_MARGIN = timedelta(days=7)
"""Added to the session TTL before the lifecycle rule expires an object (see above)."""
_ENCRYPTION = {
    "ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
}
_PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}
_OWNERSHIP = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def expiration_days(session_ttl: timedelta) -> int:
    """Whole days after its write that the lifecycle rule expires an object."""
    return math.ceil((session_ttl + LIFECYCLE_MARGIN) / timedelta(days=1))


def _bucket_resource(offload: S3Offload, session_ttl: timedelta | None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "BucketName": offload.bucket,
        "BucketEncryption": _ENCRYPTION,
        "PublicAccessBlockConfiguration": _PUBLIC_ACCESS_BLOCK,
        "OwnershipControls": _OWNERSHIP,
    }
    if session_ttl is not None:
        rule: dict[str, Any] = {
            "Id": LIFECYCLE_RULE_ID,
            "Status": "Enabled",
            "ExpirationInDays": expiration_days(session_ttl),
        }
        if offload.prefix:
            rule["Prefix"] = offload.prefix
        properties["LifecycleConfiguration"] = {"Rules": [rule]}
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def bucket_calls(
    offload: S3Offload, *, region: str | None = None, session_ttl: timedelta | None = None
) -> dict[str, Any]:
    """The S3 calls (boto3 method name -> arguments) that set up the offload bucket as the
    template does; ``region`` other than us-east-1 goes into ``create_bucket``."""
    create: dict[str, Any] = {"Bucket": offload.bucket, "ObjectOwnership": "BucketOwnerEnforced"}
    if region and region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": region}
    calls: dict[str, Any] = {
        "create_bucket": create,
        "put_bucket_encryption": {
            "Bucket": offload.bucket,
            # The API's names differ from CloudFormation's for the same setting.
            "ServerSideEncryptionConfiguration": {
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        },
        "put_public_access_block": {
            "Bucket": offload.bucket,
            "PublicAccessBlockConfiguration": _PUBLIC_ACCESS_BLOCK,
        },
    }
    if session_ttl is not None:
        calls["put_bucket_lifecycle_configuration"] = {
            "Bucket": offload.bucket,
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "ID": LIFECYCLE_RULE_ID,
                        "Filter": {"Prefix": offload.prefix},
                        "Status": "Enabled",
                        "Expiration": {"Days": expiration_days(session_ttl)},
                    }
                ]
            },
        }
    return calls


def cloudformation_template(
    table_name: str | None = None,
    *,
    provisioned: ProvisionedThroughput | None = None,
    stream: bool = False,
    offload: S3Offload | None = None,
    session_ttl: timedelta | None = None,
) -> dict[str, Any]:
    """A template with one ``AWS::DynamoDB::Table`` resource for the session store, and
    with ``offload`` an ``AWS::S3::Bucket`` for large messages (see the module docstring).

    Without ``table_name`` CloudFormation names the table; the ``TableName``
    output gives it to applications (``SESSION_STORE_TABLE``).
    """
    request = table_definition(
        table_name or DEFAULT_TABLE_NAME, provisioned=provisioned, stream=stream
    )
    properties: dict[str, Any] = {}
    if table_name:
        properties["TableName"] = table_name
    properties["BillingMode"] = request["BillingMode"]
    properties["AttributeDefinitions"] = request["AttributeDefinitions"]
    properties["KeySchema"] = request["KeySchema"]
    properties["GlobalSecondaryIndexes"] = request["GlobalSecondaryIndexes"]
    if "ProvisionedThroughput" in request:
        properties["ProvisionedThroughput"] = request["ProvisionedThroughput"]
    if stream:
        # CloudFormation's StreamSpecification has only the view type (enabled by presence).
        view = request["StreamSpecification"]["StreamViewType"]
        properties["StreamSpecification"] = {"StreamViewType": view}
    properties["TimeToLiveSpecification"] = {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    outputs: dict[str, Any] = {
        "TableName": {"Value": {"Ref": LOGICAL_ID}},
        "TableArn": {"Value": {"Fn::GetAtt": [LOGICAL_ID, "Arn"]}},
    }
    if stream:
        outputs["StreamArn"] = {"Value": {"Fn::GetAtt": [LOGICAL_ID, "StreamArn"]}}
    resources: dict[str, Any] = {
        LOGICAL_ID: {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": properties,
        }
    }
    if offload is not None:
        resources[BUCKET_LOGICAL_ID] = _bucket_resource(offload, session_ttl)
        outputs["OffloadBucketName"] = {"Value": {"Ref": BUCKET_LOGICAL_ID}}
        outputs["OffloadBucketArn"] = {"Value": {"Fn::GetAtt": [BUCKET_LOGICAL_ID, "Arn"]}}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "session_store: AI-agent sessions and messages in one DynamoDB table",
        "Resources": resources,
        "Outputs": outputs,
    }


def render_schema(
    output_format: str,
    table_name: str | None = None,
    *,
    provisioned: ProvisionedThroughput | None = None,
    stream: bool = False,
    offload: S3Offload | None = None,
    session_ttl: timedelta | None = None,
    region: str | None = None,
) -> str:
    """The table definition in ``output_format`` (one of ``FORMATS``), ending in a newline.

    With ``offload``, the bucket too: in the template, or for ``boto3`` an
    object ``{"dynamodb": {"create_table": ...}, "s3": {method: arguments}}``
    instead of the bare ``create_table`` arguments.
    """
    if output_format == "boto3":
        request = table_definition(
            table_name or DEFAULT_TABLE_NAME, provisioned=provisioned, stream=stream
        )
        if offload is not None:
            calls = bucket_calls(offload, region=region, session_ttl=session_ttl)
            return json.dumps({"dynamodb": {"create_table": request}, "s3": calls}, indent=2) + "\n"
        return json.dumps(request, indent=2) + "\n"
    template = cloudformation_template(
        table_name,
        provisioned=provisioned,
        stream=stream,
        offload=offload,
        session_ttl=session_ttl,
    )
    if output_format == "cloudformation-json":
        return json.dumps(template, indent=2) + "\n"
    if output_format == "cloudformation-yaml":
        return to_yaml(template)
    raise ValueError(f"unknown format {output_format!r}: choose one of {', '.join(FORMATS)}")


# A string YAML reads back as the same string when written bare: no indicator
# first, no ": " or " #" inside, and not a word YAML would read as another type.
_PLAIN = re.compile(r"^[A-Za-z_/.][A-Za-z0-9_/.:-]*$")
_NOT_STRINGS = frozenset(
    {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", ".nan"}
)


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        if _PLAIN.match(value) and not value.endswith(":") and value.lower() not in _NOT_STRINGS:
            return value
        # A JSON string is a valid YAML double-quoted scalar.
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _lines(value: object, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return [pad + "{}"]
        lines = []
        for key, item in value.items():
            label = f"{pad}{_scalar(str(key))}:"
            if isinstance(item, dict | list) and item:
                lines.append(label)
                # Block sequences under a mapping key sit at the key's indentation.
                lines.extend(_lines(item, indent if isinstance(item, list) else indent + 2))
            else:
                lines.append(f"{label} {_flow(item)}")
        return lines
    if isinstance(value, list):
        if not value:
            return [pad + "[]"]
        lines = []
        for item in value:
            if isinstance(item, dict | list) and item:
                nested = _lines(item, indent + 2)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                lines.append(f"{pad}- {_flow(item)}")
        return lines
    return [pad + _scalar(value)]


def _flow(value: object) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def to_yaml(value: object) -> str:
    """Block-style YAML for JSON-like data (dicts, lists, strings, numbers, bools, None)."""
    return "\n".join(_lines(value, 0)) + "\n"
