"""``_item_decoding`` gives exactly what ``models.*.decode`` gives, values and errors.

Messages in the adapter's regular shape are built without pydantic validation
(``_regular_message``): for those, "exactly" means the same value in every
field, of the same type, the same ``model_fields_set`` and nothing extra, as
checked by ``assert_identical``; and they are compared with the validated path
they replace (``_validated_message``) as well as with the models.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from session_store import _item_decoding, domain, models
from session_store.errors import StorageError, UnreadableItemError
from session_store.testing import strategies as sst
from tests.reference_items import MESSAGES, SESSIONS


def outcome(decode: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "decoded", decode()
    except UnreadableItemError as error:  # the same words, key and attribute too
        return "raised", (type(error), str(error), error.key, error.attribute)
    except Exception as error:
        return "raised", type(error)


def assert_identical(ours: Any, theirs: Any) -> None:
    """Equal, and alike inside: each value of the same type, the same fields set, the same
    extras and private state, through nested models, lists and maps."""
    assert type(ours) is type(theirs)
    if isinstance(ours, BaseModel):
        assert ours.model_fields_set == theirs.model_fields_set
        assert ours.__pydantic_extra__ == theirs.__pydantic_extra__
        assert ours.__pydantic_private__ == theirs.__pydantic_private__
        assert list(ours.__dict__) == list(theirs.__dict__)
        for name, value in ours.__dict__.items():
            assert_identical(value, theirs.__dict__[name])
        if ours.__pydantic_extra__:
            for name, value in ours.__pydantic_extra__.items():
                assert_identical(value, theirs.__pydantic_extra__[name])
    elif isinstance(ours, list):
        assert len(ours) == len(theirs)
        for mine, other in zip(ours, theirs, strict=True):
            assert_identical(mine, other)
    elif isinstance(ours, dict):
        assert list(ours) == list(theirs)
        for name, value in ours.items():
            assert_identical(value, theirs[name])
    elif isinstance(ours, datetime):
        assert ours == theirs
        assert type(ours.tzinfo) is type(theirs.tzinfo)
        assert ours.utcoffset() == theirs.utcoffset()
    else:
        assert ours == theirs


@pytest.mark.parametrize("case", MESSAGES)
def test_reference_messages(case: dict[str, Any]) -> None:
    item = case["item"]
    assert _item_decoding.decode_message(item) == models.Message.decode(item)
    assert _item_decoding.decode_messages([item]) == [models.Message.decode(item)]


@pytest.mark.parametrize("case", SESSIONS)
def test_reference_sessions(case: dict[str, Any]) -> None:
    item = case["item"]
    assert _item_decoding.decode_session(item) == models.SessionMeta.decode(item)
    assert _item_decoding.decode_sessions([item]) == [models.SessionMeta.decode(item)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=sst.messages())
def test_random_messages(message: Any) -> None:
    item = models.Message.encode(message)
    decoded = _item_decoding.decode_message(item)
    assert_identical(decoded, models.Message.decode(item))
    assert_identical(decoded, _item_decoding._validated_message(item))
    assert_identical(_item_decoding.decode_messages([item, item]), [decoded, decoded])


def regular_messages() -> st.SearchStrategy[domain.Message]:
    """Messages as the adapter writes them most: string content, counts in range."""
    return sst.messages().filter(
        lambda message: isinstance(message.content, str) and (message.sequence or 0) >= 0
    )


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(message=regular_messages())
def test_regular_messages_are_built_without_validation_and_identical(message: Any) -> None:
    item = models.Message.encode(message)
    built = _item_decoding._regular_message(item)
    assert built is not None, "an item the adapter writes took the validated path"
    assert_identical(built, models.Message.decode(item))
    assert_identical(built, _item_decoding._validated_message(item))
    assert built == message  # the round trip (fields set aside: unset and None alike)


LARGEST = "9" * 38
EDGES: list[tuple[str, Any]] = [
    ("tokenCount", {"N": LARGEST}),  # 38 digits: the most DynamoDB holds
    ("tokenCount", {"N": "1" + "0" * 38}),  # 39 digits: over MAX_NUMBER, refused
    ("tokenCount", {"N": "0"}),
    ("sequence", {"N": LARGEST}),
    ("sequence", {"N": "-" + LARGEST}),
    ("sequence", {"N": "-0"}),
    ("sequence", {"N": "1e3"}),
    ("tokenCount", {"N": "\\u0661"}),  # an escape left as text: not digits
    ("tokenCount", {"N": "\u0661"}),  # an Arabic-Indic digit: isdigit, not ASCII
    ("tokenCount", {"NULL": True}),
    ("tokenCount", {"N": 9}),
    ("content", {"S": ""}),
    ("content", {"S": 'h\u00e9llo \u65e5\u672c \U0001f99c e\u0301 \u202e\u0000 \\" end'}),
    ("content", {"L": []}),
    ("content", {"S": "x", "L": []}),
    ("role", {"S": "USER"}),
    ("role", {"S": ["user"]}),
    ("role", {"S": None}),
    ("id", {"S": ""}),
    ("id", {"N": "1"}),
    ("sessionId", {"S": "ünï 🦜"}),
    ("sessionId", {"NULL": True}),
    ("createdAt", {"S": "2026-11-24T13:08:53.123+00:00"}),
    ("createdAt", {"S": "2026-11-24T13:08:53.123456Z"}),
    ("createdAt", {"S": "2026-11-24T13:08:53Z"}),
    ("createdAt", {"S": "2026-11-24"}),
    ("createdAt", {"S": 5}),
    ("updatedAt", {"S": "2026-11-24T13:08:53.999Z"}),
    ("updatedAt", {"S": "not a time"}),
    ("updatedAt", {"NULL": True}),
    ("updatedAt", {"S": "2026-11-24T13:08:53.1+05:30"}),
    ("metadata", {"S": "{}"}),
    ("metadata", {"S": "null"}),
    ("metadata", {"S": "[]"}),
    ("metadata", {"S": '{"toolCalls": "no"}'}),
    ("metadata", {"S": '{"toolCalls": [{"id": "c", "name": "n", "arguments": "{}"}], "x": 1}'}),
    ("metadata", {"S": '{"annotations": {"n": NaN}}'}),
    ("metadata", {"S": '{"annotations": {"big": 1e400}}'}),
    ("metadata", {"M": {}}),
    ("SK", {"S": "MSG#2026-11-24T13:08:53.123Z#"}),
    ("SK", {"S": "MSG#2026-11-24T13:08:53.123Z"}),
    ("SK", {"S": "META"}),
    ("SK", {"B": b"MSG#"}),
    ("SK", {"S": "MSG#2026-11-24T13:08:53.999Z#another-id"}),  # not the id and time stored
    ("SK", {"S": "MSG##an-id"}),
    ("SK", {"S": "MSG#a#b#c"}),
    ("SK", {"S": "MSG#a#"}),
    ("PK", {"S": 5}),
    ("PK", {"S": "SESSION#x", "N": "1"}),
    ("binary", {"B": b"\x00\xff"}),  # an attribute the model does not know: ignored
    ("list", {"L": []}),
    ("map", {"M": {}}),
]


@pytest.mark.parametrize(("name", "typed"), EDGES)
def test_edge_values_decode_or_fail_as_the_models_do(name: str, typed: Any) -> None:
    item = copy.deepcopy(BASE)
    item[name] = typed
    expected = outcome(lambda: models.Message.decode(item))
    ours = outcome(lambda: _item_decoding.decode_message(item))
    assert ours[0] == expected[0]
    if ours[0] == "decoded":
        assert_identical(ours[1], expected[1])
        assert_identical(ours[1], _item_decoding._validated_message(item))
    else:
        assert ours == expected
    listed = outcome(lambda: _item_decoding.decode_messages([BASE, item, BASE]))
    if expected[0] == "raised":
        assert listed == expected
    else:
        assert_identical(
            listed[1], [models.Message.decode(BASE), expected[1], models.Message.decode(BASE)]
        )


def test_a_page_fails_on_its_first_undecodable_item() -> None:
    first, second = copy.deepcopy(BASE), copy.deepcopy(BASE)
    first["role"] = {"S": "wizard"}
    second["createdAt"] = {"S": "yesterday"}
    expected = outcome(lambda: models.Message.decode(first))
    assert expected[0] == "raised"
    assert outcome(lambda: _item_decoding.decode_messages([BASE, first, second])) == expected


def test_a_key_that_is_the_stored_time_and_an_empty_id_is_not_a_message_key() -> None:
    item = copy.deepcopy(BASE)
    item["id"] = {"S": ""}
    item["SK"] = {"S": f"MSG#{item['createdAt']['S']}#"}
    assert _item_decoding._regular_message(item) is None
    expected = outcome(lambda: models.Message.decode(item))
    assert outcome(lambda: _item_decoding.decode_message(item)) == expected


def test_an_item_without_its_partition_key_decodes_as_the_models_do() -> None:
    item = copy.deepcopy(BASE)
    del item["PK"]
    assert_identical(_item_decoding.decode_message(item), models.Message.decode(item))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(messages=st.lists(sst.messages(), max_size=6), counts=st.lists(st.integers(0, 3000)))
def test_pages_decode_item_by_item_whatever_their_mix(
    messages: list[Any], counts: list[int]
) -> None:
    """Regular and irregular items in any order, counts read fresh or remembered: the page
    is the models' decoding of each item, alike inside; each message has its own fields set."""
    items = [models.Message.encode(message) for message in messages]
    items += [{**BASE, "tokenCount": {"N": str(count)}} for count in counts]
    expected = [models.Message.decode(item) for item in items]
    decoded = _item_decoding.decode_messages(items)
    assert_identical(decoded, expected)
    assert_identical(_item_decoding.decode_messages(items), expected)  # counts remembered now
    assert_identical(
        _item_decoding.decode_wire_messages([_as_wire_json(i) for i in items]), expected
    )
    assert len({id(message.model_fields_set) for message in decoded}) == len(decoded)
    assert len(_item_decoding._KNOWN_COUNTS) <= _item_decoding._MAX_KNOWN_COUNTS


def test_remembered_counts_are_canonical_digits_only() -> None:
    odd = ["007", "-3", "6.9", "\u0661", "1e3", " 9", "+9", "9_0"]
    pages = [[{**BASE, "tokenCount": {"N": text}}] for text in [*odd, "12", "12"]]
    for page in pages:
        expected = outcome(lambda: [models.Message.decode(item) for item in page])  # noqa: B023
        ours = outcome(lambda: _item_decoding.decode_messages(page))  # noqa: B023
        assert ours[0] == expected[0]
        if ours[0] == "decoded":
            assert_identical(ours[1], expected[1])
        else:
            assert ours == expected
    assert not set(odd) & set(_item_decoding._KNOWN_COUNTS)
    assert all(
        _item_decoding._count(text) == value == int(text)
        for text, value in _item_decoding._KNOWN_COUNTS.items()
    )


def test_a_built_message_changes_alone() -> None:
    first, second = _item_decoding.decode_messages([BASE, BASE])
    first.content = "edited"
    first.model_fields_set.discard("sequence")
    assert second.content == models.Message.decode(BASE).content
    assert second.model_fields_set == set(domain.Message.model_fields)


def test_regular_instants_keep_the_utc_singleton() -> None:
    item = copy.deepcopy(BASE)
    item["createdAt"] = {"S": "2026-11-24T13:08:53.123Z"}
    built = _item_decoding._regular_message(item)
    assert built is not None
    assert built.created_at.tzinfo is UTC


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=sst.sessions())
def test_random_sessions(session: Any) -> None:
    item = models.SessionMeta.encode(session)
    assert_identical(_item_decoding.decode_session(item), models.SessionMeta.decode(item))


BASE = MESSAGES[0]["item"]
IRREGULAR: list[tuple[str, Any]] = [
    ("SK", None),
    ("SK", {"S": "not-a-message-key"}),
    ("PK", {"N": "1"}),
    ("role", None),
    ("role", {"S": "wizard"}),
    ("role", {"NULL": True}),
    ("createdAt", {"S": "yesterday"}),
    ("createdAt", {"S": "2026-11-24T13:08:53"}),  # no zone: read as UTC
    ("createdAt", {"S": "2026-11-24T14:08:53.123456+01:00"}),
    ("createdAt", {"N": "1"}),
    ("tokenCount", {"N": "007"}),
    ("tokenCount", {"N": "-3"}),
    ("tokenCount", {"N": "6.9"}),
    ("tokenCount", {"N": "x"}),
    ("tokenCount", {"S": "9"}),
    ("content", {"N": "1"}),
    ("content", {"L": [{"M": {"type": {"S": "text"}, "text": {"S": "hi"}}}]}),
    ("metadata", {"S": "{not json"}),
    ("id", {"S": "a", "N": "1"}),
    ("sessionId", {}),
]


@pytest.mark.parametrize(("name", "typed"), IRREGULAR)
def test_irregular_items_decode_or_fail_as_the_models_do(name: str, typed: Any) -> None:
    item = copy.deepcopy(BASE)
    if typed is None:
        item.pop(name, None)
    else:
        item[name] = typed
    expected = outcome(lambda: models.Message.decode(item))
    assert outcome(lambda: _item_decoding.decode_message(item)) == expected
    assert outcome(lambda: _item_decoding._validated_message(item)) == expected
    assert outcome(lambda: _item_decoding.decode_messages([BASE, item])) == (
        expected
        if expected[0] == "raised"
        else ("decoded", [models.Message.decode(BASE), expected[1]])
    )


SESSION_BASE = SESSIONS[0]["item"]
SESSION_EDGES: list[tuple[str, Any]] = [
    ("ttl", {"N": "1795526002"}),
    ("ttl", {"N": "9999999999"}),
    ("ttl", {"N": "9" * 38}),  # past what datetime holds: the models refuse it
    ("ttl", {"N": "1795526002.5"}),
    ("ttl", {"N": "0"}),
    ("ttl", {"S": "1795526002"}),
    ("ttl", {"NULL": True}),
    ("expiresAt", {"N": "1795526002"}),
    ("expiresAt", {"N": "0"}),
    ("expiresAt", {"N": "99999999999"}),  # 11 digits: the codec's way
    ("expiresAt", {"N": "9" * 38}),
    ("expiresAt", {"N": "01795526002"}),
    ("expiresAt", {"S": "2026-11-24T13:08:53.123Z"}),
    ("writeTokens", {"L": [{"S": "a"}, {"S": ""}]}),
    ("writeTokens", {"L": []}),
    ("writeTokens", {"L": [{"S": "a"}, {"NULL": True}]}),
    ("writeTokens", {"L": [{"N": "1"}]}),
    ("writeTokens", {"SS": ["a"]}),
    ("writeTokens", {"L": [{"S": "a", "N": "1"}]}),
]


@pytest.mark.parametrize(("name", "typed"), SESSION_EDGES)
def test_session_edges_decode_or_fail_as_the_models_do(name: str, typed: Any) -> None:
    item = copy.deepcopy(SESSION_BASE)
    item[name] = typed
    expected = outcome(lambda: models.SessionMeta.decode(item))
    ours = outcome(lambda: _item_decoding.decode_session(item))
    assert ours[0] == expected[0]
    if ours[0] == "decoded":
        assert_identical(ours[1], expected[1])
    else:
        assert ours == expected
    assert outcome(lambda: _item_decoding.decode_sessions([SESSION_BASE, item])) == (
        expected
        if expected[0] == "raised"
        else ("decoded", [models.SessionMeta.decode(SESSION_BASE), expected[1]])
    )


def _as_wire_json(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` as DynamoDB's JSON has it (binary values in base64), parsed."""

    def encode(value: Any) -> str:
        assert isinstance(value, bytes)
        return base64.b64encode(value).decode()

    parsed: dict[str, Any] = json.loads(json.dumps(item, default=encode))
    return parsed


@pytest.mark.parametrize("case", MESSAGES)
def test_wire_messages_decode_as_botocore_parsed_items_do(case: dict[str, Any]) -> None:
    item = case["item"]
    wire = _as_wire_json(item)
    ours = outcome(lambda: _item_decoding.decode_wire_messages([wire, copy.deepcopy(wire)]))
    theirs = outcome(lambda: _item_decoding.decode_messages([item, copy.deepcopy(item)]))
    assert ours[0] == theirs[0]
    if ours[0] == "decoded":
        assert_identical(ours[1], theirs[1])


def test_wire_messages_finish_irregular_items_in_place() -> None:
    item = {**BASE, "blob": {"B": b"\x00\xff"}}
    del item[models.Message.content.attr_name]  # irregular: takes the validated path
    wire = _as_wire_json(item)
    [message] = _item_decoding.decode_wire_messages([wire])
    assert_identical(message, _item_decoding.decode_message(item))
    assert wire == item  # what callers read afterwards is botocore's parse


def test_wire_item_dynamodb_does_not_send_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="unexpected item"):
        _item_decoding.decode_wire_messages([{"PK": {"S": 5}}])
