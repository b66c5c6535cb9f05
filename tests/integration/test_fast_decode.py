"""The fast decode path on real requests: the same answers as botocore's parser, same errors.

Every client the bound models make has ``_wire.install_fast_decode`` on it.
Each test reads real responses (moto in process, DynamoDB Local) once with
the hook and once after ``uninstall_fast_decode`` on the same client, and
compares; the decoder's counters show the first pass really was decoded by
the hook and the second was not. Responses are compared without
``ResponseMetadata`` (request ids differ from call to call).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from zlib import crc32

import pytest
from botocore.awsrequest import AWSResponse

from session_store import _wire, keys, models
from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import SessionExistsError, TableNotFoundError
from session_store.gateway import ConditionFailed, Gateway
from session_store.table import BoundModels, TableConfig

PK = "SESSION#fast-decode"

ODD_ITEM: dict[str, Any] = {
    "PK": {"S": PK},
    "SK": {"S": "MSG#odd"},
    "binary": {"B": bytes(range(256))},
    "binaries": {"BS": [b"\x00", b"\xff\xfe", "ünï".encode()]},
    "empty_list": {"L": []},
    "empty_map": {"M": {}},
    "big": {"N": "12345678901234567890123456789012345678"},
    "small": {"N": "-0.000000000000000000000000000000000001"},
    "negative": {"N": "-99999999999999999999999999999999999999"},
    "fraction": {"N": "1234567890123456789.0123456789012345678"},
    "empty_string": {"S": ""},
    "ünïcödé 名前 🦜": {"M": {"ключ 🔑": {"S": "значение"}, "n": {"N": "-1.5"}}},
    "empty_sets_of_lists": {"L": [{"L": []}, {"M": {}}, {"SS": ["only"]}]},
    "numbers": {"NS": ["99999999999999999999999999999999999999", "1", "-2.5"]},
    "unicode": {"S": 'héllo wörld 日本語 🦜 e\u0301 \u202e\u0000 \\" end'},
    "strings": {"SS": ["ä", "🦜", "z"]},
    "flag": {"BOOL": False},
    "nothing": {"NULL": True},
    "nested": {
        "M": {
            "list": {"L": [{"B": b"\x01\x02"}, {"NULL": True}, {"BOOL": True}, {"N": "0"}]},
            "deeper": {"M": {"s": {"S": ""}, "l": {"L": [{"M": {}}]}}},
        }
    },
}
KEY = {"PK": ODD_ITEM["PK"], "SK": ODD_ITEM["SK"]}


def _plain(value: Any) -> Any:
    """A response without its ``ResponseMetadata`` (request ids and headers differ per call)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _decoder(client: Any) -> _wire.FastDecoder:
    decoder = _wire.install_fast_decode(client)  # idempotent: the decoder already in effect
    assert decoder is not None, "the fast decode path is off on this botocore"
    return decoder


def _both_ways(client: Any, reads: Callable[[], Any]) -> tuple[Any, Any]:
    """``reads()`` with the hook (which must decode), then without it (which must not)."""
    decoder = _decoder(client)
    before, passed_on = decoder.decoded, decoder.passed_on
    fast = reads()
    assert decoder.decoded > before, "the hook stood aside: nothing compared"
    assert decoder.passed_on == passed_on  # every 2xx response decoded by the hook
    _wire.uninstall_fast_decode(client)
    slow = reads()
    assert decoder.decoded > before
    return fast, slow


def _odd_item_reads(gateway: Gateway) -> Callable[[], list[Any]]:
    query = {
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": PK}},
        "ConsistentRead": True,
    }

    def reads() -> list[Any]:
        update = gateway.update(
            {
                "Key": KEY,
                "UpdateExpression": "SET #f = :f",
                "ExpressionAttributeNames": {"#f": "flag"},
                "ExpressionAttributeValues": {":f": {"BOOL": False}},
                "ReturnValues": "ALL_NEW",
            }
        )
        old = gateway.put({"Item": ODD_ITEM, "ReturnValues": "ALL_OLD"})
        return [
            gateway.get(KEY),
            gateway.query(query),
            list(gateway.items("Scan", {"ConsistentRead": True})),
            list(gateway.pages("Query", query, limit=lambda: 1)),
            gateway.batch_get([KEY]),
            update,
            old,
        ]

    return reads


def test_real_responses_decode_as_botocore_does(bound: BoundModels) -> None:
    gateway = bound.gateway
    gateway.put({"Item": ODD_ITEM})
    fast, slow = _both_ways(bound.client, _odd_item_reads(gateway))
    assert _plain(fast) == _plain(slow)
    item = fast[0]
    assert item is not None
    assert item["binary"] == {"B": bytes(range(256))}
    assert item["big"] == {"N": "12345678901234567890123456789012345678"}
    assert item["unicode"] == ODD_ITEM["unicode"]
    assert item["empty_list"] == {"L": []}
    assert item["empty_map"] == {"M": {}}
    assert item["negative"] == ODD_ITEM["negative"]
    assert item["ünïcödé 名前 🦜"] == ODD_ITEM["ünïcödé 名前 🦜"]


def test_items_returned_by_failed_conditions_decode_as_botocore_does(bound: BoundModels) -> None:
    gateway = bound.gateway
    gateway.put({"Item": ODD_ITEM})

    def reads() -> list[Any]:
        with pytest.raises(ConditionFailed) as failed:
            gateway.put(
                {
                    "Item": ODD_ITEM,
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            )
        outcome = gateway.transact(
            [
                {
                    "ConditionCheck": {
                        "Key": KEY,
                        "ConditionExpression": "attribute_not_exists(PK)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            ]
        )
        assert not outcome.committed
        # A successful read too, so the hook has something to decode.
        return [failed.value.item, outcome.reasons[0].item, gateway.get(KEY)]

    fast, slow = _both_ways(bound.client, reads)
    assert _plain(fast) == _plain(slow)
    assert fast[0] is not None
    assert fast[0]["binary"] == {"B": bytes(range(256))}
    if fast[1] is not None:  # moto leaves the item out of cancellation reasons
        assert fast[1]["binary"] == {"B": bytes(range(256))}


def test_adapter_reads_are_equal_with_and_without_the_hook(adapter: DynamoDBAdapter) -> None:
    session = adapter.create_session(
        {
            "user_id": "fast-user",
            "status": "active",
            "metadata": {"naïve": ["🦜", {}, []], "n": 10**37},
        }
    )
    for index in range(30):
        adapter.add_message(
            session.id,
            {"role": "user", "content": f"{index} héllo 日本語 🦜", "token_count": index},
        )

    def reads() -> list[Any]:
        return [
            adapter.get_session(session.id),
            adapter.get_messages(session.id),
            adapter.get_messages(session.id, {"limit": 7, "order": "desc"}),
            adapter.get_messages_page(session.id, page_size=8),
            adapter.list_sessions({"user_id": "fast-user", "limit": 20}),
            adapter.get_context_window(session.id, 100),
        ]

    fast, slow = _both_ways(adapter.models.client, reads)
    assert fast == slow
    assert len(fast[1]) == 30


def test_extreme_messages_read_alike_with_and_without_the_hook(adapter: DynamoDBAdapter) -> None:
    """38-digit numbers, unicode everywhere, empty content and metadata maps, content blocks."""
    largest = 10**38 - 1
    session = adapter.create_session({"status": "active", "user_id": "fast-extreme"})
    adapter.add_messages(
        session.id,
        [
            {"role": "user", "content": "", "token_count": largest, "sequence": -largest},
            {
                "role": "assistant",
                "content": 'e\u0301 \u202e \U0001f99c \u65e5\u672c \\" \u0000 end',
                "metadata": {"annotations": {}, "x-\u00fc": [], "tool_calls": []},
            },
            {"role": "tool", "content": [{"type": "text", "text": "\U0001f99c"}]},
        ],
    )

    def reads() -> list[Any]:
        return [
            adapter.get_messages(session.id),
            adapter.get_messages_page(session.id, page_size=1),
            adapter.get_session(session.id),
        ]

    fast, slow = _both_ways(adapter.models.client, reads)
    assert fast == slow
    assert fast[0][0].token_count == largest
    assert fast[0][0].sequence == -largest
    assert fast[2].token_count == largest


def test_missing_table_is_still_table_not_found(table_config: TableConfig) -> None:
    with DynamoDBAdapter(
        table_config.table_name, region=table_config.region, endpoint_url=table_config.endpoint_url
    ) as adapter:
        decoder = _decoder(adapter.models.client)
        with pytest.raises(TableNotFoundError) as raised:
            adapter.get_session("no-such-session")
        assert raised.value.table_name == table_config.table_name
        assert decoder.decoded == 0  # error responses are botocore's to parse


def test_failed_condition_is_still_a_condition_failure(adapter: DynamoDBAdapter) -> None:
    decoder = _decoder(adapter.models.client)
    session = adapter.create_session({"id": "taken", "status": "active"})
    with pytest.raises(SessionExistsError):
        adapter.create_session({"id": session.id, "status": "active"})
    assert decoder.decoded > 0


# --- a corrupted body ---------------------------------------------------------------


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        data = self.read()
        if data:
            yield data


@contextmanager
def _corrupt_first_response(client: Any, operation: str) -> Iterator[list[int]]:
    """Flip a byte of the first ``operation`` response body, its ``x-amz-crc32`` kept.

    Wraps the emitter of the client's endpoint (as ``tests.faults``
    does): the real response is fetched, then handed to botocore with a corrupted
    body, below botocore's retry layer. Yields the list of sends seen.
    """
    endpoint = client._endpoint
    inner = endpoint._event_emitter
    sends: list[int] = []

    class Corrupting:
        def emit(self, event_name: str, **kwargs: Any) -> Any:
            if event_name == f"before-send.dynamodb.{operation}":
                sends.append(1)
                if len(sends) == 1:
                    request = kwargs["request"]
                    answers = [a for _, a in inner.emit(event_name, **kwargs) if a is not None]
                    real = answers[0] if answers else endpoint.http_session.send(request)
                    body = real.content
                    corrupted = body.replace(b"hello", b"jello", 1)
                    assert corrupted != body
                    json.loads(corrupted)  # still JSON: only the checksum can tell
                    headers = real.headers.copy()
                    headers["x-amz-crc32"] = str(crc32(body) & 0xFFFFFFFF)
                    return [(self, AWSResponse(request.url, 200, headers, _Body(corrupted)))]
            return inner.emit(event_name, **kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(inner, name)

    endpoint._event_emitter = Corrupting()
    try:
        yield sends
    finally:
        endpoint._event_emitter = inner


def test_corrupted_body_is_caught_by_the_checksum_and_retried(adapter: DynamoDBAdapter) -> None:
    session = adapter.create_session({"status": "active", "metadata": {"greeting": "hello"}})
    client = adapter.models.client
    decoder = _decoder(client)
    before = decoder.decoded
    with _corrupt_first_response(client, "GetItem") as sends:
        read = adapter.get_session(session.id)
    assert read == session
    assert len(sends) == 2  # botocore saw the checksum mismatch and sent again
    assert decoder.decoded - before == 2  # both bodies went through the hook


def test_wire_pages_finished_are_what_botocore_parses(bound: BoundModels) -> None:
    gateway = bound.gateway
    gateway.put({"Item": ODD_ITEM})
    gateway.put({"Item": {"PK": {"S": PK}, "SK": {"S": "MSG#plain"}, "n": {"N": "7"}}})
    query = {
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": PK}},
        "ConsistentRead": True,
    }

    def reads() -> list[Any]:
        return [
            ([_wire.finish_item(item) for item in page] if wire else page, wire)
            for page, wire in gateway.wire_pages("Query", query)
        ]

    fast, slow = _both_ways(bound.client, reads)
    assert [wire for _, wire in fast] == [True]  # handed over as parsed by the hook
    assert [wire for _, wire in slow] == [False]  # botocore's parse, the hook off
    fast_items = fast[0][0]
    assert fast_items == slow[0][0]
    assert fast_items[0]["binary"] == {"B": bytes(range(256))}


def test_whole_reads_of_odd_message_items_equal_botocore_parse(adapter: DynamoDBAdapter) -> None:
    session = adapter.create_session({"user_id": "fast-user", "status": "active"})
    added = [
        adapter.add_message(session.id, {"role": "user", "content": f"{index} 🦜"})
        for index in range(4)
    ]
    gateway = adapter.models.gateway
    # A binary attribute the models do not know (another writer's) on one item, which
    # the regular path reads as it is; no content on another (read as ""), which it
    # leaves to validation after making it botocore's parse.
    for message, update, values in (
        (added[1], "SET #a = :v", {":v": {"B": b"\x00\xff"}}),
        (added[2], "REMOVE #a", None),
    ):
        key = {
            models.Message.pk.attr_name: {"S": keys.session_pk(session.id)},
            models.Message.sk.attr_name: {"S": keys.message_sk(message.created_at, message.id)},
        }
        name = "extra" if values else models.Message.content.attr_name
        request: dict[str, Any] = {
            "Key": key,
            "UpdateExpression": update,
            "ExpressionAttributeNames": {"#a": name},
        }
        if values:
            request["ExpressionAttributeValues"] = values
        gateway.update(request)
    fast, slow = _both_ways(adapter.models.client, lambda: adapter.get_messages(session.id))
    assert fast == slow
    assert [message.id for message in fast] == [message.id for message in added]
    assert fast[2].content == ""
