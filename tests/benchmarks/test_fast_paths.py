"""The hot paths the benchmark's client-overhead part led to give exactly what they replace.

``SessionMeta.encode`` / ``Message.encode`` must equal
``from_domain(...).serialize()``, and ``decode`` must equal
``from_raw_data(...).to_domain()``, including for the lenient reads (items
written by the TypeScript adapter, numbers with fractions, JSON stored as
native maps, NULLs) and for the items they refuse (the same error).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pynamodb.attributes import ListAttribute, MapAttribute

from session_store import attributes, domain, limits, models
from session_store.errors import StorageError
from session_store.planning import new_message, new_session_item
from session_store.testing import strategies as sst
from tests.unit.test_item_decoding import assert_identical
from tests.unit.test_request_bodies import ITEMS

FAST = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
REFERENCE_ITEMS = json.loads(
    (Path(__file__).parents[1] / "data" / "reference-items.json").read_text(encoding="utf-8")
)


@FAST
@given(sst.sessions())
def test_session_encode_and_decode_match_the_models(session: domain.Session) -> None:
    item = models.SessionMeta.encode(session)
    assert item == models.SessionMeta.from_domain(session).serialize()
    assert models.SessionMeta.decode(item) == models.SessionMeta.from_raw_data(item).to_domain()


@FAST
@given(sst.messages())
def test_message_encode_and_decode_match_the_models(message: domain.Message) -> None:
    item = models.Message.encode(message)
    assert item == models.Message.from_domain(message).serialize()
    assert models.Message.decode(item) == models.Message.from_raw_data(item).to_domain()


@pytest.mark.parametrize("case", REFERENCE_ITEMS["sessions"])
def test_reference_sessions_decode_as_the_models_read_them(case: dict[str, Any]) -> None:
    item = case["item"]
    assert models.SessionMeta.decode(item) == models.SessionMeta.from_raw_data(item).to_domain()


@pytest.mark.parametrize("case", REFERENCE_ITEMS["messages"])
def test_reference_messages_decode_as_the_models_read_them(case: dict[str, Any]) -> None:
    item = case["item"]
    assert models.Message.decode(item) == models.Message.from_raw_data(item).to_domain()


_SESSION = REFERENCE_ITEMS["sessions"][0]["item"]
_MESSAGE = REFERENCE_ITEMS["messages"][0]["item"]

SESSION_VARIANTS = {
    "no id (read from PK)": {"id": None},
    "NULL user": {"userId": {"NULL": True}},
    "fractional counters": {"tokenCount": {"N": "3.7"}, "messageCount": {"N": "2.0"}},
    "fractional version": {"version": {"N": "4.0"}},
    "fractional expiry": {"expiresAt": {"N": "1795526002.9"}},
    "metadata as a native map": {"metadata": {"M": {"title": {"S": "t"}, "n": {"N": "1.5"}}}},
    "budget as JSON text": {
        "tokenBudget": {
            "S": '{"maxTokens":10,"reserveTokens":1,"overflowStrategy":"truncate"}',
        }
    },
}
MESSAGE_VARIANTS = {
    "no id (read from SK)": {"id": None},
    "no session id (read from PK)": {"sessionId": None},
    "no createdAt (read from SK)": {"createdAt": None},
    "content blocks": {"content": {"L": [{"M": {"type": {"S": "text"}, "text": {"S": "hi"}}}]}},
    "no content": {"content": None},
    "NULL token count": {"tokenCount": {"NULL": True}},
    "metadata as a native map": {"metadata": {"M": {"annotations": {"M": {}}}}},
}


def _variant(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    item = dict(base)
    for name, value in changes.items():
        if value is None:
            item.pop(name, None)
        else:
            item[name] = value
    return item


@pytest.mark.parametrize("changes", SESSION_VARIANTS.values(), ids=list(SESSION_VARIANTS))
def test_lenient_session_reads_match(changes: dict[str, Any]) -> None:
    item = _variant(_SESSION, changes)
    assert models.SessionMeta.decode(item) == models.SessionMeta.from_raw_data(item).to_domain()


@pytest.mark.parametrize("changes", MESSAGE_VARIANTS.values(), ids=list(MESSAGE_VARIANTS))
def test_lenient_message_reads_match(changes: dict[str, Any]) -> None:
    item = _variant(_MESSAGE, changes)
    assert models.Message.decode(item) == models.Message.from_raw_data(item).to_domain()


@pytest.mark.parametrize(
    ("model", "base", "changes"),
    [
        (models.SessionMeta, _SESSION, {"status": {"N": "1"}}),
        (models.SessionMeta, _SESSION, {"status": {"S": "bogus"}}),
        (models.SessionMeta, _SESSION, {"createdAt": {"S": "not a date"}}),
        (models.Message, _MESSAGE, {"role": {"S": "narrator"}}),
        (models.Message, _MESSAGE, {"tokenCount": {"N": "-1"}}),
    ],
)
def test_refused_items_are_refused_the_same_way(
    model: type[models.SessionMeta] | type[models.Message],
    base: dict[str, Any],
    changes: dict[str, Any],
) -> None:
    item = _variant(base, changes)
    (attribute,) = changes
    # Both paths refuse with a StorageError naming the item's key and the attribute.
    with pytest.raises(StorageError, match=f"{item['SK']['S']}.*{attribute}"):
        model.from_raw_data(item).to_domain()
    with pytest.raises(StorageError, match=f"{item['SK']['S']}.*{attribute}"):
        model.decode(item)


@pytest.mark.parametrize("model", [models.SessionMeta, models.Message, models.MigrationRecord])
def test_the_models_hold_only_plain_attributes(model: type[models.SessionMeta]) -> None:
    # encode/decode handle plain attributes; a MapAttribute or ListAttribute would need more.
    # The session's write tokens are the one list: bookkeeping the domain never reads.
    for name, attribute in model.get_attributes().items():
        if name != "write_tokens":
            assert not isinstance(attribute, MapAttribute | ListAttribute)


@FAST
@given(sst.new_messages(), sst.identifiers())
def test_new_message_is_the_validated_message(new: domain.NewMessage, session_id: str) -> None:
    built = new_message(new, session_id)
    validated = domain.Message.model_validate(
        {
            **new.model_dump(),
            "id": built.id,
            "session_id": session_id,
            "created_at": built.created_at,
        }
    )
    assert_identical(built, validated)


@FAST
@given(sst.messages(), sst.sessions())
def test_the_size_bound_of_an_item_is_at_least_its_size(
    message: domain.Message, session: domain.Session
) -> None:
    for item in (models.Message.encode(message), new_session_item(session, "token")):
        size, bound = limits.item_size(item), limits._size_bound(item)
        assert size <= bound
        # Close enough that the exact walk is skipped for every item well under the limit.
        assert bound <= 8 * size + 1024


@FAST
@given(ITEMS)
def test_the_size_bound_of_any_item_is_at_least_its_size(item: dict[str, Any]) -> None:
    assert limits._size_bound(item) >= limits.item_size(item)


@pytest.mark.parametrize(
    "value",
    [
        {"S": "a\ud800"},
        {"L": [{"S": "\ud800"}]},
        {"M": {"k": {"SS": ["ok", "\udfff"]}}},
        {"B": b"\x00"},
    ],
)
def test_items_the_size_bound_cannot_judge_get_the_exact_check(value: dict[str, Any]) -> None:
    item = {"PK": {"S": "SESSION#s"}, "v": value}
    assert limits._size_bound(item) > limits.MAX_ITEM_BYTES


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(10**40), 10**40)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@FAST
@given(_JSON_VALUES)
def test_json_text_reads_as_json_reads_it(value: Any) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        read = attributes.loads_text(text)
        assert read == json.loads(text)
        assert repr(read) == repr(json.loads(text))  # ints stay ints, -0.0 stays -0.0


@pytest.mark.parametrize(
    "text", ["NaN", "[Infinity]", "1e400", '"\\ud800"', "12345678901234567890", "-0", "[1.0]"]
)
def test_json_text_orjson_refuses_or_misreads_takes_json(text: str) -> None:
    assert repr(attributes.loads_text(text)) == repr(json.loads(text))
