"""Interop with the TypeScript adapter on a real table, on every backend.

Both directions of ``tests/unit/test_interop.py``, through DynamoDB itself
(in-process moto and DynamoDB Local by default):

- the raw reference items, put with boto3 exactly as the TypeScript adapter
  wrote them, read back through the bound PynamoDB models as their
  ``expected`` values;
- items we write (the serialized model put with the models' own client, or a
  bound model's ``save()``) read back raw with boto3 with the reference's
  attribute names, type tags and values, JSON text byte for byte.

Allowed differences, as in the unit test: a session in the reference may
lack ``version``, ``tokenCount`` and ``messageCount``, which we always write
(as 0 where the reference has none). ``save()`` goes through PynamoDB's
``VersionAttribute``, which writes ``version + 1``: that test expects the
incremented version and says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest

from session_store import domain
from session_store.table import BoundModels
from tests.reference_items import MESSAGES, SESSIONS, WRITTEN_WHEN_MISSING, assert_same_encoding

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@pytest.fixture
def raw(bound: BoundModels) -> Iterator[DynamoDBClient]:
    """A plain boto3 client on the same endpoint: no PynamoDB in the way."""
    client = boto3.client(
        "dynamodb", endpoint_url=bound.config.endpoint_url, region_name=bound.config.region
    )
    yield client
    client.close()


def put_raw(raw: DynamoDBClient, bound: BoundModels, item: dict[str, Any]) -> None:
    raw.put_item(TableName=bound.config.table_name, Item=cast(Any, item))


def get_raw(raw: DynamoDBClient, bound: BoundModels, pk: str, sk: str) -> dict[str, Any]:
    response = raw.get_item(
        TableName=bound.config.table_name,
        Key={"PK": {"S": pk}, "SK": {"S": sk}},
        ConsistentRead=True,
    )
    assert "Item" in response, f"{pk} / {sk} was not stored"
    return cast(dict[str, Any], response["Item"])


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return item["PK"]["S"], item["SK"]["S"]


# --- reading what the TypeScript adapter wrote -------------------------------------


def test_reference_items_read_through_the_models(raw: DynamoDBClient, bound: BoundModels) -> None:
    for case in [*SESSIONS, *MESSAGES]:
        put_raw(raw, bound, case["item"])

    for case in SESSIONS:
        pk, sk = _key(case["item"])
        stored = bound.SessionMeta.get(pk, sk, consistent_read=True)
        assert stored.to_domain() == domain.Session.model_validate(case["expected"])

    partitions = sorted({_key(case["item"])[0] for case in MESSAGES})
    for pk in partitions:
        read = [
            message.to_domain()
            for message in bound.Message.query(
                pk, bound.Message.sk.startswith("MSG#"), consistent_read=True
            )
        ]
        # Chronological by sort key; the session's META item is not among them.
        expected = [
            domain.Message.model_validate(case["expected"])
            for case in sorted(MESSAGES, key=lambda case: _key(case["item"])[1])
            if _key(case["item"])[0] == pk
        ]
        assert read == expected


# --- writing what the TypeScript adapter reads ---------------------------------------


def test_written_items_match_the_reference(raw: DynamoDBClient, bound: BoundModels) -> None:
    for case in SESSIONS:
        expected = domain.Session.model_validate(case["expected"])
        bound.client.put_item(
            TableName=bound.config.table_name,
            Item=bound.SessionMeta.from_domain(expected).serialize(),
        )
        stored = get_raw(raw, bound, *_key(case["item"]))
        assert_same_encoding(stored, case["item"], written_when_missing=WRITTEN_WHEN_MISSING)
        assert bound.SessionMeta.get(*_key(case["item"]), consistent_read=True).to_domain() == (
            expected
        )

    for case in MESSAGES:
        expected_message = domain.Message.model_validate(case["expected"])
        bound.client.put_item(
            TableName=bound.config.table_name,
            Item=bound.Message.from_domain(expected_message).serialize(),
        )
        stored = get_raw(raw, bound, *_key(case["item"]))
        assert_same_encoding(stored, case["item"])
        assert bound.Message.get(*_key(case["item"]), consistent_read=True).to_domain() == (
            expected_message
        )


def test_items_saved_by_bound_models_match_the_reference(
    raw: DynamoDBClient, bound: BoundModels
) -> None:
    for case in SESSIONS:
        expected = domain.Session.model_validate(case["expected"])
        bound.SessionMeta.from_domain(expected).save(add_version_condition=False)
        stored = get_raw(raw, bound, *_key(case["item"]))
        # VersionAttribute: save() writes the version it was given, plus one.
        assert stored["version"] == {"N": str(expected.version + 1)}
        reference = {**case["item"], "version": {"N": str(expected.version + 1)}}
        assert_same_encoding(
            stored, reference, written_when_missing=WRITTEN_WHEN_MISSING - {"version"}
        )
        read = bound.SessionMeta.get(*_key(case["item"]), consistent_read=True).to_domain()
        assert read == expected.model_copy(update={"version": expected.version + 1})

    for case in MESSAGES:
        expected_message = domain.Message.model_validate(case["expected"])
        bound.Message.from_domain(expected_message).save()
        stored = get_raw(raw, bound, *_key(case["item"]))
        assert_same_encoding(stored, case["item"])
