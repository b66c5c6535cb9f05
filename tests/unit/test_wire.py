"""The fast decode path against botocore's own parser, on the same response bodies.

Each case runs botocore's ``before-parse`` step as ``Endpoint._do_get_response``
does: the handler sees the response dict, then botocore's JSON parser parses
what the handler left and merges ``customized_response_dict`` into it. The
result must equal botocore's parse of the untouched response. The handler's
counters tell whether it decoded the body or stood aside, so a case meant for
the fast path cannot pass by falling back.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser
from hypothesis import given, settings
from hypothesis import strategies as st

from session_store import _wire

SERVICE = botocore.session.get_session().get_service_model("dynamodb")
HEADERS = {"x-amzn-RequestId": "REQ1", "content-type": "application/x-amz-json-1.0"}


def botocore_parse(operation: str, body: bytes, status: int = 200) -> dict[str, Any]:
    shape = SERVICE.operation_model(operation).output_shape
    assert shape is not None
    response = {"status_code": status, "headers": dict(HEADERS), "body": body}
    parsed: dict[str, Any] = create_parser("json").parse(response, shape)
    return parsed


def through_hook(
    decoder: _wire.FastDecoder, operation: str, body: bytes, status: int = 200
) -> dict[str, Any]:
    """What botocore returns with ``decoder`` registered on ``before-parse``."""
    model = SERVICE.operation_model(operation)
    response = {"status_code": status, "headers": dict(HEADERS), "body": body}
    customized: dict[str, Any] = {}
    decoder(operation_model=model, response_dict=response, customized_response_dict=customized)
    assert model.output_shape is not None
    parsed: dict[str, Any] = create_parser("json").parse(response, model.output_shape)
    parsed.update(customized)
    return parsed


def outcome(parse: Callable[[], dict[str, Any]]) -> tuple[str, Any]:
    """A parse's result, or the class of what it raised (botocore raises on some bodies)."""
    try:
        return "parsed", parse()
    except Exception as error:
        return "raised", type(error)


def assert_decoded_like_botocore(operation: str, payload: Any, *, fast: bool = True) -> None:
    body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
    decoder = _wire.FastDecoder()
    ours = outcome(lambda: through_hook(decoder, operation, body))
    assert ours == outcome(lambda: botocore_parse(operation, body))
    assert (decoder.decoded, decoder.passed_on) == ((1, 0) if fast else (0, 1))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


EVERY_TYPE = {
    "PK": {"S": "SESSION#ünïcødé ✓ 𝄞"},
    "SK": {"S": ""},
    "n38": {"N": "12345678901234567890123456789012345678"},
    "neg": {"N": "-0.000000000000000000000000000000000001"},
    "bin": {"B": b64(b"\x00\xff binary \x10")},
    "empty_bin": {"B": ""},
    "bins": {"BS": [b64(b"a"), b64(b"\x00"), b64(bytes(range(256)))]},
    "strings": {"SS": ["x", "ÿ", "𝄞"]},
    "numbers": {"NS": ["1", "-2.5", "99999999999999999999999999999999999999"]},
    "null": {"NULL": True},
    "yes": {"BOOL": True},
    "no": {"BOOL": False},
    "empty_list": {"L": []},
    "empty_map": {"M": {}},
    "nested": {
        "M": {
            "list": {"L": [{"S": "a"}, {"N": "1"}, {"B": b64(b"deep")}, {"L": [{"NULL": True}]}]},
            "map": {"M": {"bs": {"BS": [b64(b"z")]}, "flag": {"BOOL": False}}},
        }
    },
}
CAPACITY = {"TableName": "t", "CapacityUnits": 1.5, "Table": {"CapacityUnits": 1.0}}


@pytest.mark.parametrize(
    ("operation", "payload"),
    [
        ("GetItem", {"Item": EVERY_TYPE, "ConsumedCapacity": CAPACITY}),
        ("GetItem", {}),
        (
            "Query",
            {
                "Items": [EVERY_TYPE, {"PK": {"S": "x"}}],
                "Count": 2,
                "ScannedCount": 3,
                "LastEvaluatedKey": {"PK": {"S": "x"}, "SK": {"B": b64(b"k")}},
                "ConsumedCapacity": CAPACITY,
            },
        ),
        ("Scan", {"Items": [], "Count": 0, "ScannedCount": 0}),
        ("PutItem", {"Attributes": EVERY_TYPE}),
        ("UpdateItem", {"Attributes": EVERY_TYPE, "ConsumedCapacity": CAPACITY}),
        (
            "DeleteItem",
            {
                "Attributes": EVERY_TYPE,
                "ItemCollectionMetrics": {
                    "ItemCollectionKey": {"PK": {"S": "x"}},
                    "SizeEstimateRangeGB": [0.0, 1.0],
                },
            },
        ),
        (
            "BatchGetItem",
            {
                "Responses": {"t": [EVERY_TYPE], "u": []},
                "UnprocessedKeys": {
                    "t": {
                        "Keys": [{"PK": {"S": "x"}, "SK": {"B": b64(b"k")}}],
                        "ConsistentRead": True,
                        "ExpressionAttributeNames": {"#a": "a"},
                    }
                },
                "ConsumedCapacity": [CAPACITY],
            },
        ),
        (
            "BatchWriteItem",
            {
                "UnprocessedItems": {
                    "t": [
                        {"PutRequest": {"Item": EVERY_TYPE}},
                        {"DeleteRequest": {"Key": {"PK": {"S": "x"}}}},
                    ]
                }
            },
        ),
        ("TransactGetItems", {"Responses": [{"Item": EVERY_TYPE}, {}]}),
        ("TransactWriteItems", {"ConsumedCapacity": [CAPACITY]}),
        ("ExecuteStatement", {"Items": [EVERY_TYPE], "NextToken": "n"}),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_responses_decode_as_botocore_parses_them(operation: str, payload: Any) -> None:
    assert_decoded_like_botocore(operation, payload)


def test_binary_values_become_bytes() -> None:
    body = json.dumps({"Item": EVERY_TYPE}).encode()
    item = through_hook(_wire.FastDecoder(), "GetItem", body)["Item"]
    assert item["bin"] == {"B": b"\x00\xff binary \x10"}
    assert item["bins"]["BS"][2] == bytes(range(256))
    assert item["nested"]["M"]["list"]["L"][2] == {"B": b"deep"}
    assert item["n38"] == {"N": "12345678901234567890123456789012345678"}  # numbers stay strings


@pytest.mark.parametrize(
    "item",
    [
        {"a": {"S": None}},  # botocore drops null members
        {"a": {"S": "x", "N": "1"}},  # two tags: botocore keeps both
        {"a": {"S": "x", "Unknown": 1}},  # unknown tags are dropped
        {"a": {"Unknown": "x"}},
        {"a": {}},
        {"a": {"S": ""}},
        {"a": {"NULL": None, "S": "x"}},
    ],
)
def test_unusual_attribute_values_decode_as_botocore_parses_them(item: dict[str, Any]) -> None:
    assert_decoded_like_botocore("GetItem", {"Item": item})


def test_unknown_top_level_members_are_dropped_as_botocore_drops_them() -> None:
    assert_decoded_like_botocore("Query", {"Items": [], "Count": 0, "NotInTheModel": {"x": 1}})


@pytest.mark.parametrize(
    "payload",
    [
        {"Item": {"a": {"N": 12345678901234567890123}}},  # a number where a string belongs
        {"Item": {"a": {"S": 1}}},
        {"Item": {"a": {"BOOL": 123456789012345678901234567890}}},
        {"Item": {"a": None}},
        {"Item": {"a": ["S", "x"]}},
        {"Item": []},
        {"Item": {"a": {"L": {"S": "x"}}}},
        {"Item": {"a": {"SS": "abc"}}},
        {"Item": {}, "ConsumedCapacity": {"CapacityUnits": 123456789012345678901234567890}},
        {"Item": {}, "ConsumedCapacity": {"CapacityUnits": "1"}},
    ],
)
def test_what_the_fast_path_does_not_expect_goes_to_botocore(payload: Any) -> None:
    """Malformed for the model: botocore's parser decides, on the untouched body."""
    assert_decoded_like_botocore("GetItem", payload, fast=False)


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[1, 2]", b'{"Item": {"a": {"S": "\\ud800"}}}', b'{"Count": NaN}'],
    ids=["empty", "not-json", "array", "lone-surrogate", "nan"],
)
def test_bodies_json_cannot_take_go_to_botocore(body: bytes) -> None:
    assert_decoded_like_botocore("Query", body, fast=False)


def test_big_integers_stay_exact() -> None:
    """orjson turns integers past 64 bits into floats; such a body takes botocore's parse."""
    payload = b'{"Items": [], "Count": 123456789012345678901234567890, "ScannedCount": 1}'
    decoder = _wire.FastDecoder()
    parsed = through_hook(decoder, "Query", payload)
    assert parsed == botocore_parse("Query", payload)
    assert parsed["Count"] == 123456789012345678901234567890
    assert type(parsed["Count"]) is int


@pytest.mark.parametrize("status", [400, 500])
def test_error_responses_are_left_to_botocore(status: int) -> None:
    body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "message": "The conditional request failed",
            "Item": {"a": {"S": "x"}},
        }
    ).encode()
    decoder = _wire.FastDecoder()
    assert through_hook(decoder, "PutItem", body, status) == botocore_parse("PutItem", body, status)
    assert (decoder.decoded, decoder.passed_on) == (0, 0)


def test_operations_with_timestamps_are_left_to_botocore() -> None:
    body = json.dumps(
        {"Table": {"TableName": "t", "CreationDateTime": 1.7e9, "TableStatus": "ACTIVE"}}
    ).encode()
    assert_decoded_like_botocore("DescribeTable", body, fast=False)


# --- random items -------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_NUMBER = st.one_of(
    st.integers(-(10**38), 10**38).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=5).map(str),
)


def attribute_values(
    binary: st.SearchStrategy[Any], number: st.SearchStrategy[str] = _NUMBER
) -> st.SearchStrategy[dict[str, Any]]:
    """DynamoDB attribute values of every type, nested up to 10 leaves, blobs from ``binary``
    (base64 text as on the wire, bytes as botocore takes them in a request)."""
    scalar = st.one_of(
        _TEXT.map(lambda v: {"S": v}),
        number.map(lambda v: {"N": v}),
        binary.map(lambda v: {"B": v}),
        st.booleans().map(lambda v: {"BOOL": v}),
        st.just({"NULL": True}),
        st.lists(_TEXT, max_size=3, unique=True).map(lambda v: {"SS": v}),
        st.lists(number, max_size=3, unique=True).map(lambda v: {"NS": v}),
        st.lists(binary, max_size=3, unique=True).map(lambda v: {"BS": v}),
    )
    return st.recursive(
        scalar,
        lambda children: st.one_of(
            st.lists(children, max_size=4).map(lambda v: {"L": v}),
            st.dictionaries(_TEXT, children, max_size=4).map(lambda v: {"M": v}),
        ),
        max_leaves=10,
    )


ATTRIBUTE_VALUES = attribute_values(st.binary(max_size=16).map(b64))
ITEMS = st.dictionaries(_TEXT, ATTRIBUTE_VALUES, max_size=6)


@settings(max_examples=200)
@given(items=st.lists(ITEMS, max_size=4), last=st.none() | ITEMS)
def test_random_items_decode_as_botocore_parses_them(
    items: list[dict[str, Any]], last: dict[str, Any] | None
) -> None:
    payload: dict[str, Any] = {"Items": items, "Count": len(items), "ScannedCount": len(items)}
    if last is not None:
        payload["LastEvaluatedKey"] = last
    assert_decoded_like_botocore("Query", payload)
