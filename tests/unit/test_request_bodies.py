"""The fast encode path against botocore's own serializer, on the same parameters.

Each case serialises the same parameters with botocore's ``JSONSerializer``
and with ``FastSerializer`` in front of it: the request dicts must be equal,
the bodies as the JSON documents they spell. The serializer's counters tell
whether it encoded the request or passed it on, so a case meant for the fast
path cannot pass by falling back.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest
from botocore.serialize import create_serializer
from hypothesis import given, settings
from hypothesis import strategies as st

from session_store import _request_bodies
from tests.unit.test_wire import attribute_values

SESSION = botocore.session.get_session()
SERVICE = SESSION.get_service_model("dynamodb")


def botocore_serializer() -> Any:
    return create_serializer("json", include_validation=False)


def both(operation: str, parameters: Any) -> tuple[Any, Any, _request_bodies.FastSerializer]:
    """botocore's request (or the class of what it raised) and the fast serializer's."""
    model = SERVICE.operation_model(operation)
    fast = _request_bodies.FastSerializer(botocore_serializer())

    def outcome(serializer: Any) -> Any:
        try:
            request = serializer.serialize_to_request(parameters, model)
        except Exception as error:
            return type(error)
        return {**request, "body": json.loads(request["body"])}

    return outcome(botocore_serializer()), outcome(fast), fast


def assert_encoded_like_botocore(operation: str, parameters: Any, *, fast: bool = True) -> None:
    expected, got, serializer = both(operation, parameters)
    assert got == expected
    assert (serializer.encoded, serializer.passed_on) == ((1, 0) if fast else (0, 1))


_TEXT = st.text(max_size=12)
# Blobs as botocore takes them: bytes, or text it encodes to UTF-8 first.
ATTRIBUTE_VALUES = attribute_values(
    st.binary(max_size=16) | st.text(max_size=6), st.integers(-(10**38), 10**38).map(str)
)
ITEMS = st.dictionaries(_TEXT, ATTRIBUTE_VALUES, max_size=6)


@settings(max_examples=150)
@given(item=ITEMS, values=st.dictionaries(_TEXT.map(lambda t: f":{t}"), ATTRIBUTE_VALUES))
def test_random_writes_encode_as_botocore_serialises_them(
    item: dict[str, Any], values: dict[str, Any]
) -> None:
    put = {"TableName": "t", "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}
    if values:
        put["ExpressionAttributeValues"] = values
    assert_encoded_like_botocore("PutItem", put)
    assert_encoded_like_botocore(
        "TransactWriteItems",
        {
            "TransactItems": [{"Put": put}, {"Delete": {"TableName": "t", "Key": item}}],
            "ClientRequestToken": "token",
        },
    )
    assert_encoded_like_botocore(
        "BatchWriteItem", {"RequestItems": {"t": [{"PutRequest": {"Item": item}}]}}
    )


@settings(max_examples=100)
@given(key=ITEMS, start=st.none() | ITEMS, limit=st.integers(1, 1000))
def test_random_reads_encode_as_botocore_serialises_them(
    key: dict[str, Any], start: dict[str, Any] | None, limit: int
) -> None:
    query: dict[str, Any] = {
        "TableName": "t",
        "KeyConditionExpression": "#p = :p",
        "ExpressionAttributeNames": {"#p": "PK"},
        "ExpressionAttributeValues": {":p": {"S": "SESSION#x"}},
        "Limit": limit,
        "ConsistentRead": True,
        "ScanIndexForward": False,
    }
    if start is not None:
        query["ExclusiveStartKey"] = start
    assert_encoded_like_botocore("Query", query)
    assert_encoded_like_botocore("GetItem", {"TableName": "t", "Key": key})
    assert_encoded_like_botocore("BatchGetItem", {"RequestItems": {"t": {"Keys": [key, key]}}})


def test_unicode_and_38_digit_numbers_keep_their_values() -> None:
    item = {
        "PK": {"S": "SESSION#ünïcödé 名前 🦜"},
        "text": {"S": 'e\u0301 \u202e\u0000 \\" end'},
        "big": {"N": "-99999999999999999999999999999999999999"},
        "blob": {"B": bytes(range(256))},
        "blobs": {"BS": [b"", b"\xff", "ü"]},
        "nested": {"M": {"l": {"L": [{"B": b"\x01"}, {"M": {}}, {"L": []}]}}},
    }
    assert_encoded_like_botocore("PutItem", {"TableName": "t", "Item": item})


@pytest.mark.parametrize(
    ("operation", "parameters"),
    [
        # A lone surrogate: orjson refuses it, botocore's json.dumps escapes it.
        ("PutItem", {"TableName": "t", "Item": {"PK": {"S": "a\ud800"}}}),
        # An unknown member: botocore raises KeyError on it, and still does.
        ("GetItem", {"TableName": "t", "Key": {}, "Bogus": 1}),
        # Also in an operation whose input holds no blob at all.
        ("DescribeTable", {"TableName": "t", "Bogus": 1}),
        # A number past 64 bits where the shape wants an integer.
        ("Query", {"TableName": "t", "Limit": 2**70}),
        # Not an attribute value at all.
        ("PutItem", {"TableName": "t", "Item": {"PK": "plain"}}),
        ("PutItem", {"TableName": "t", "Item": {"PK": {"B": 5}}}),
    ],
)
def test_what_the_fast_path_refuses_is_botocores_to_serialise(
    operation: str, parameters: dict[str, Any]
) -> None:
    assert_encoded_like_botocore(operation, parameters, fast=False)


def test_operations_without_blobs_are_encoded_too() -> None:
    assert_encoded_like_botocore("DescribeTable", {"TableName": "t"})


def test_operations_with_timestamps_are_botocores_to_serialise() -> None:
    # RestoreTableToPointInTime's RestoreDateTime is a timestamp botocore converts.
    parameters = {"SourceTableName": "a", "TargetTableName": "b", "UseLatestRestorableTime": True}
    assert_encoded_like_botocore("RestoreTableToPointInTime", parameters, fast=False)


def test_install_is_idempotent_and_uninstall_gives_the_serializer_back() -> None:
    client: Any = SESSION.create_client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
        config=botocore.config.Config(parameter_validation=False),
    )
    original = client._serializer
    installed = _request_bodies.install_fast_encode(client)
    assert installed is not None
    assert client._serializer is installed
    assert _request_bodies.install_fast_encode(client) is installed
    _request_bodies.uninstall_fast_encode(client)
    assert client._serializer is original
    _request_bodies.uninstall_fast_encode(client)  # a no-op now
    assert client._serializer is original


def test_a_validating_client_keeps_botocores_serializer() -> None:
    client: Any = SESSION.create_client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    assert _request_bodies.install_fast_encode(client) is None
    assert type(client._serializer).__name__ != "FastSerializer"
