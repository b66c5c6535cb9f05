"""The table definition as infrastructure as code: CloudFormation (JSON or YAML), boto3.

Everything is derived from ``session_store.table.table_definition``, itself
derived from the PynamoDB models, so the template always matches what
``create_table``/``migrate`` build. The CloudFormation resource adds what the
``CreateTable`` request cannot carry: TTL on ``ttl``. The table keeps its
data when the stack is deleted or the resource replaced (``DeletionPolicy``
and ``UpdateReplacePolicy`` ``Retain``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from session_store.table import TTL_ATTRIBUTE, ProvisionedThroughput, table_definition

__all__ = [
    "FORMATS",
    "LOGICAL_ID",
    "cloudformation_template",
    "render_schema",
    "to_yaml",
]

FORMATS = ("cloudformation-json", "cloudformation-yaml", "boto3")
LOGICAL_ID = "SessionStoreTable"
DEFAULT_TABLE_NAME = "session-store"
"""The ``TableName`` of the boto3 arguments when no table is configured."""


def cloudformation_template(
    table_name: str | None = None,
    *,
    provisioned: ProvisionedThroughput | None = None,
    stream: bool = False,
) -> dict[str, Any]:
    """A template with one ``AWS::DynamoDB::Table`` resource for the session store.

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
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "session_store: AI-agent sessions and messages in one DynamoDB table",
        "Resources": {
            LOGICAL_ID: {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": properties,
            }
        },
        "Outputs": outputs,
    }


def render_schema(
    output_format: str,
    table_name: str | None = None,
    *,
    provisioned: ProvisionedThroughput | None = None,
    stream: bool = False,
) -> str:
    """The table definition in ``output_format`` (one of ``FORMATS``), ending in a newline."""
    if output_format == "boto3":
        request = table_definition(
            table_name or DEFAULT_TABLE_NAME, provisioned=provisioned, stream=stream
        )
        return json.dumps(request, indent=2) + "\n"
    template = cloudformation_template(table_name, provisioned=provisioned, stream=stream)
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
