"""Readers are lenient (SPEC §1): the values read back, on both decode paths.

The TypeScript adapter stores ``participants`` and ``metadata`` (session) and
``metadata`` (message) as JSON text (S). Readers also accept them as native
maps/lists (M / L), items lacking optional attributes (a session without
``version``/``messageCount``/``tokenCount`` reads them as 0, SPEC §2) and
message ids of any shape; numbers with a fraction are truncated (the
attributes' documented leniency).

Each case takes a reference item (``tests/data/reference-items.json``),
rewrites it into the lenient form, and checks the decoded domain value
against the reference's ``expected`` value, through both decode paths: the
PynamoDB models (``from_raw_data(item).to_domain()``) and the hot path
(``decode(item)``). Comparing the two paths with each other is not enough: a
reader that dropped the native form on both would still agree with itself.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from session_store import domain, models
from tests.reference_items import MESSAGES, SESSIONS

SessionReader = Callable[[dict[str, Any]], domain.Session]
MessageReader = Callable[[dict[str, Any]], domain.Message]

SESSION_READERS: dict[str, SessionReader] = {
    "models": lambda item: models.SessionMeta.from_raw_data(item).to_domain(),
    "decode": models.SessionMeta.decode,
}
MESSAGE_READERS: dict[str, MessageReader] = {
    "models": lambda item: models.Message.from_raw_data(item).to_domain(),
    "decode": models.Message.decode,
}

COUNTER_DEFAULTS = {"version": 0, "tokenCount": 0, "messageCount": 0}


def native(value: Any) -> dict[str, Any]:
    """DynamoDB JSON of a JSON value as native M / L (built here, not by the code under test)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {key: native(item) for key, item in value.items()}}
    if isinstance(value, list):
        return {"L": [native(item) for item in value]}
    raise TypeError(type(value))


def as_native(item: dict[str, Any], *names: str) -> dict[str, Any]:
    """``item`` with the JSON-text attributes ``names`` stored as native maps/lists."""
    changed = copy.deepcopy(item)
    for name in names:
        if name in changed:
            assert set(changed[name]) == {"S"}, f"reference {name} is not JSON text"
            changed[name] = native(json.loads(changed[name]["S"]))
    return changed


def without(item: dict[str, Any], *names: str) -> dict[str, Any]:
    changed = copy.deepcopy(item)
    for name in names:
        changed.pop(name, None)
    return changed


def session_dump(session: domain.Session) -> dict[str, Any]:
    return session.model_dump(by_alias=True, mode="json", exclude_none=True)


def message_dump(message: domain.Message) -> dict[str, Any]:
    return message.model_dump(by_alias=True, mode="json", exclude_none=True)


def _session_id(case: dict[str, Any]) -> str:
    return f"session-{case['expected']['id'][:8]}"


def _message_id(case: dict[str, Any]) -> str:
    return f"message-{case['expected']['role']}-{case['expected']['id'][-6:]}"


MESSAGES_WITH_METADATA = [case for case in MESSAGES if "metadata" in case["item"]]
RICH_SESSION = next(case for case in SESSIONS if case["item"]["participants"]["S"] != "[]")


def test_the_cases_below_are_not_trivial() -> None:
    """An empty ``{}``/``[]`` reads the same as a dropped attribute: real content is needed."""
    assert json.loads(RICH_SESSION["item"]["participants"]["S"])
    assert json.loads(RICH_SESSION["item"]["metadata"]["S"])
    assert any(p.get("metadata") for p in RICH_SESSION["expected"]["participants"])
    assert len(MESSAGES_WITH_METADATA) >= 2
    assert all(json.loads(case["item"]["metadata"]["S"]) for case in MESSAGES_WITH_METADATA)


# --- native maps/lists where JSON text is usual -------------------------------------------


@pytest.mark.parametrize("read", SESSION_READERS.values(), ids=list(SESSION_READERS))
@pytest.mark.parametrize("case", SESSIONS, ids=_session_id)
@pytest.mark.parametrize(
    "names",
    [("participants",), ("metadata",), ("participants", "metadata")],
    ids=["participants-L", "metadata-M", "both"],
)
def test_session_json_as_native_reads_as_expected(
    case: dict[str, Any], names: tuple[str, ...], read: SessionReader
) -> None:
    item = as_native(case["item"], *names)
    session = read(item)
    assert session == domain.Session.model_validate(case["expected"])
    assert session_dump(session) == {**COUNTER_DEFAULTS, **case["expected"]}


@pytest.mark.parametrize("read", SESSION_READERS.values(), ids=list(SESSION_READERS))
def test_session_native_values_keep_their_types(read: SessionReader) -> None:
    """Numbers inside a native map come back as numbers, nested maps and lists as such."""
    session = read(as_native(RICH_SESSION["item"], "participants", "metadata"))
    expected = RICH_SESSION["expected"]
    assert session.metadata.title == expected["metadata"]["title"]
    assert session.metadata.tags == expected["metadata"]["tags"]
    assert session.metadata.custom == expected["metadata"]["custom"]
    assert type(session.metadata.custom["seats"]) is int  # type: ignore[index]
    assert [p.id for p in session.participants] == [p["id"] for p in expected["participants"]]
    assert session.participants[1].metadata == expected["participants"][1]["metadata"]


@pytest.mark.parametrize("read", MESSAGE_READERS.values(), ids=list(MESSAGE_READERS))
@pytest.mark.parametrize("case", MESSAGES_WITH_METADATA, ids=_message_id)
def test_message_metadata_as_native_map_reads_as_expected(
    case: dict[str, Any], read: MessageReader
) -> None:
    item = as_native(case["item"], "metadata")
    assert "M" in item["metadata"]
    message = read(item)
    assert message == domain.Message.model_validate(case["expected"])
    assert message_dump(message) == case["expected"]


@pytest.mark.parametrize("read", MESSAGE_READERS.values(), ids=list(MESSAGE_READERS))
def test_message_native_metadata_keeps_bools_and_numbers(read: MessageReader) -> None:
    by_role = {case["expected"]["role"]: case for case in MESSAGES_WITH_METADATA}
    tool = read(as_native(by_role["tool"]["item"], "metadata"))
    assert tool.metadata is not None
    assert tool.metadata.tool_results is not None
    assert tool.metadata.tool_results[0].is_error is False
    assistant = read(as_native(by_role["assistant"]["item"], "metadata"))
    assert assistant.metadata is not None
    assert assistant.metadata.tool_calls is not None
    assert assistant.metadata.tool_calls[0].arguments == '{"id":"inv-9"}'
    assert assistant.metadata.annotations == {"latencyMs": 812}


# --- missing optional attributes -----------------------------------------------------------

OPTIONAL_SESSION_ATTRIBUTES = (
    "GSI1PK",
    "GSI1SK",
    "GSI2PK",
    "GSI2SK",
    "userId",
    "activeAgentId",
    "expiresAt",
    "ttl",
    "tokenBudget",
    "compression",
    "compressionState",
)
DROPPED_SESSION_FIELDS = frozenset(
    {"userId", "activeAgentId", "expiresAt", "tokenBudget", "compression", "compressionState"}
)


@pytest.mark.parametrize("read", SESSION_READERS.values(), ids=list(SESSION_READERS))
@pytest.mark.parametrize("case", SESSIONS, ids=_session_id)
def test_session_without_counters_reads_them_as_zero(
    case: dict[str, Any], read: SessionReader
) -> None:
    session = read(without(case["item"], "version", "tokenCount", "messageCount"))
    expected = {**case["expected"], **COUNTER_DEFAULTS}
    assert session_dump(session) == expected


@pytest.mark.parametrize("read", SESSION_READERS.values(), ids=list(SESSION_READERS))
@pytest.mark.parametrize("case", SESSIONS, ids=_session_id)
def test_session_without_optional_attributes(case: dict[str, Any], read: SessionReader) -> None:
    session = read(without(case["item"], *OPTIONAL_SESSION_ATTRIBUTES))
    expected = {
        key: value
        for key, value in {**COUNTER_DEFAULTS, **case["expected"]}.items()
        if key not in DROPPED_SESSION_FIELDS
    }
    assert session_dump(session) == expected


@pytest.mark.parametrize("read", SESSION_READERS.values(), ids=list(SESSION_READERS))
def test_session_of_bare_keys_and_status(read: SessionReader) -> None:
    """Only the keys, status and creation time: every other field takes its default."""
    item = {
        "PK": {"S": "SESSION#bare-1"},
        "SK": {"S": "META"},
        "status": {"S": "active"},
        "createdAt": {"S": "2026-11-24T13:13:22.284Z"},
    }
    assert session_dump(read(item)) == {
        "id": "bare-1",  # from the partition key
        "status": "active",
        "metadata": {},
        "participants": [],
        "schemaVersion": 1,
        "createdAt": "2026-11-24T13:13:22.284Z",
        "lastActivityAt": "2026-11-24T13:13:22.284Z",  # falls back to createdAt
        **COUNTER_DEFAULTS,
    }


@pytest.mark.parametrize("read", MESSAGE_READERS.values(), ids=list(MESSAGE_READERS))
@pytest.mark.parametrize("case", MESSAGES, ids=_message_id)
def test_message_without_optional_attributes(case: dict[str, Any], read: MessageReader) -> None:
    """No ``id``, ``sessionId``, ``createdAt``: they come from the keys; no optional fields."""
    item = without(
        case["item"], "id", "sessionId", "createdAt", "tokenCount", "sequence", "metadata"
    )
    expected = {
        key: value
        for key, value in case["expected"].items()
        if key not in {"tokenCount", "sequence", "metadata"}
    }
    assert message_dump(read(item)) == expected


# --- message ids of any shape --------------------------------------------------------------


@pytest.mark.parametrize("read", MESSAGE_READERS.values(), ids=list(MESSAGE_READERS))
@pytest.mark.parametrize(
    "message_id",
    ["my-own-id", "0123", "a b/c#d", "ünïcødé-✓", "x" * 200],
    ids=["slug", "digits", "punctuation-with-hash", "unicode", "long"],
)
@pytest.mark.parametrize("stored_id", [True, False], ids=["id-attribute", "id-from-sk"])
def test_message_ids_of_any_shape(message_id: str, stored_id: bool, read: MessageReader) -> None:
    case = MESSAGES[0]
    created = case["expected"]["createdAt"]
    item = copy.deepcopy(case["item"])
    item["SK"] = {"S": f"MSG#{created}#{message_id}"}
    if stored_id:
        item["id"] = {"S": message_id}
    else:
        item.pop("id")
    assert message_dump(read(item)) == {**case["expected"], "id": message_id}


# --- numbers with a fraction ---------------------------------------------------------------


@pytest.mark.parametrize("read", SESSION_READERS.values(), ids=list(SESSION_READERS))
def test_session_numbers_with_a_fraction_are_truncated(read: SessionReader) -> None:
    item = copy.deepcopy(RICH_SESSION["item"])
    item.update(
        {
            "tokenCount": {"N": "12.9"},
            "messageCount": {"N": "3.0"},
            "version": {"N": "2.0"},
            "schemaVersion": {"N": "1.5"},
            "expiresAt": {"N": "1798761599.75"},
        }
    )
    dumped = session_dump(read(item))
    assert dumped == {
        **RICH_SESSION["expected"],
        "tokenCount": 12,
        "messageCount": 3,
        "version": 2,
        "schemaVersion": 1,
    }


@pytest.mark.parametrize("read", MESSAGE_READERS.values(), ids=list(MESSAGE_READERS))
def test_message_numbers_with_a_fraction_are_truncated(read: MessageReader) -> None:
    case = MESSAGES[0]
    item = {**copy.deepcopy(case["item"]), "tokenCount": {"N": "6.4"}, "sequence": {"N": "2.0"}}
    assert message_dump(read(item)) == {**case["expected"], "tokenCount": 6, "sequence": 2}


FREE_FORM = {
    "flag": True,
    "off": False,
    "ratio": 1.5,
    "count": 7,
    "none": None,
    "nested": [{"a": [1, "x"]}],
}


def _same_json(read: Any, expected: Any) -> None:
    """Equal, and every leaf of the same JSON type (``True`` is not ``1`` nor ``"True"``)."""
    assert type(read) is type(expected), (read, expected)
    if isinstance(expected, dict):
        assert read.keys() == expected.keys()
        for key in expected:
            _same_json(read[key], expected[key])
    elif isinstance(expected, list):
        assert len(read) == len(expected)
        for one, other in zip(read, expected, strict=True):
            _same_json(one, other)
    else:
        assert read == expected


@pytest.mark.parametrize("read", SESSION_READERS.values(), ids=list(SESSION_READERS))
def test_session_native_free_form_values_keep_their_json_types(read: SessionReader) -> None:
    item = copy.deepcopy(RICH_SESSION["item"])
    item["metadata"] = native({"custom": FREE_FORM})
    item["participants"] = native(
        [
            {
                "id": "p",
                "role": "observer",
                "metadata": FREE_FORM,
                "joinedAt": "2026-03-01T10:00:00.000Z",
            }
        ]
    )
    session = read(item)
    _same_json(session.metadata.custom, FREE_FORM)
    _same_json(session.participants[0].metadata, FREE_FORM)


@pytest.mark.parametrize("read", MESSAGE_READERS.values(), ids=list(MESSAGE_READERS))
def test_message_native_free_form_values_keep_their_json_types(read: MessageReader) -> None:
    item = {**copy.deepcopy(MESSAGES[0]["item"]), "metadata": native({"annotations": FREE_FORM})}
    message = read(item)
    assert message.metadata is not None
    _same_json(message.metadata.annotations, FREE_FORM)
