"""``_item_decoding`` gives exactly what ``models.*.decode`` gives, values and error classes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings

from session_store import _item_decoding, models
from session_store.testing import strategies as sst
from tests.reference_items import MESSAGES, SESSIONS


def outcome(decode: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "decoded", decode()
    except Exception as error:
        return "raised", type(error)


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


@settings(max_examples=150)
@given(message=sst.messages())
def test_random_messages(message: Any) -> None:
    item = models.Message.encode(message)
    assert _item_decoding.decode_message(item) == models.Message.decode(item)


@settings(max_examples=150)
@given(session=sst.sessions())
def test_random_sessions(session: Any) -> None:
    item = models.SessionMeta.encode(session)
    assert _item_decoding.decode_session(item) == models.SessionMeta.decode(item)


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
    assert outcome(lambda: _item_decoding.decode_messages([BASE, item])) == (
        expected
        if expected[0] == "raised"
        else ("decoded", [models.Message.decode(BASE), expected[1]])
    )
