"""Interop with the TypeScript adapter, without a table: reference items <-> domain values.

``reference-items.json`` holds items the TypeScript adapter wrote, each with
the domain value it stands for (SPEC §1). Two directions:

- reading: every reference item reads back as exactly its ``expected`` value
  (a missing ``version``/``tokenCount``/``messageCount`` reads as 0);
- writing: the item we write for ``expected`` has the reference item's
  attribute names, type tags and values, JSON text compared byte for byte.

The one allowed difference, stated in ``WRITTEN_WHEN_MISSING``: the reference
adapter sometimes omits ``version``, ``tokenCount`` and ``messageCount`` on a
session; we always write them, and where the reference lacks one ours must be
exactly ``{"N": "0"}`` (what the missing attribute reads as). Nothing else may
differ: no attribute of ours is missing from the reference or vice versa.

The file is ``../shared/interop/reference-items.json`` beside the repository
when present (CI clones it there); ``tests/data/reference-items.json`` is a
copy used otherwise, so these tests never skip.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from session_store import domain, models
from tests.reference_items import (
    COPIED_REFERENCE,
    MESSAGES,
    REFERENCE,
    SESSIONS,
    SHARED_REFERENCE,
    WRITTEN_WHEN_MISSING,
    assert_same_encoding,
)


def _session_id(case: dict[str, Any]) -> str:
    return f"session-{case['expected']['id'][:8]}"


def _message_id(case: dict[str, Any]) -> str:
    return f"message-{case['expected']['role']}-{case['expected']['id'][-6:]}"


def test_reference_has_sessions_and_messages() -> None:
    assert len(SESSIONS) >= 3
    assert len(MESSAGES) >= 6


def test_copy_matches_the_shared_reference() -> None:
    """``tests/data`` holds a faithful copy (checked whenever ``../shared`` is there)."""
    with COPIED_REFERENCE.open(encoding="utf-8") as handle:
        copied = json.load(handle)
    if SHARED_REFERENCE.is_file():
        assert copied == REFERENCE
    assert copied["sessions"]
    assert copied["messages"]


@pytest.mark.parametrize("case", SESSIONS, ids=_session_id)
def test_reference_session_reads_as_expected(case: dict[str, Any]) -> None:
    session = models.SessionMeta.from_raw_data(case["item"]).to_domain()
    assert session == domain.Session.model_validate(case["expected"])
    # The TypeScript JSON shape, too: missing counters and version read as 0.
    defaults = {"version": 0, "tokenCount": 0, "messageCount": 0}
    dumped = session.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert dumped == {**defaults, **case["expected"]}


@pytest.mark.parametrize("case", MESSAGES, ids=_message_id)
def test_reference_message_reads_as_expected(case: dict[str, Any]) -> None:
    message = models.Message.from_raw_data(case["item"]).to_domain()
    assert message == domain.Message.model_validate(case["expected"])
    assert message.model_dump(by_alias=True, mode="json", exclude_none=True) == case["expected"]


@pytest.mark.parametrize("case", SESSIONS, ids=_session_id)
def test_written_session_matches_reference_item(case: dict[str, Any]) -> None:
    expected = domain.Session.model_validate(case["expected"])
    ours = models.SessionMeta.from_domain(expected).serialize()
    assert_same_encoding(ours, case["item"], written_when_missing=WRITTEN_WHEN_MISSING)


@pytest.mark.parametrize("case", MESSAGES, ids=_message_id)
def test_written_message_matches_reference_item(case: dict[str, Any]) -> None:
    expected = domain.Message.model_validate(case["expected"])
    ours = models.Message.from_domain(expected).serialize()
    assert_same_encoding(ours, case["item"])


def test_reference_items_exercise_the_exceptions() -> None:
    """The exceptions above are really needed, and only for sessions."""
    lacking = {
        name for case in SESSIONS for name in WRITTEN_WHEN_MISSING if name not in case["item"]
    }
    assert lacking == WRITTEN_WHEN_MISSING


def _changed(item: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed: dict[str, Any] = json.loads(json.dumps(item))
    for name, value in changes.items():
        if value is None:
            changed.pop(name, None)
        else:
            changed[name] = value
    return changed


@pytest.mark.parametrize(
    "changes",
    [
        {"metadata": {"M": {"title": {"S": "Billing question"}}}},  # a map, not JSON text
        {"participants": {"S": '[{"id": "user-42"}]'}},  # JSON text, not compact
        {"schemaVersion": {"S": "1"}},  # S, not N
        {"expiresAt": {"N": "1798761599.5"}},  # not whole seconds
        {"GSI2PK": None},  # an attribute missing
        {"updatedAt": {"S": "2026-11-24T13:13:22.284Z"}},  # an attribute too many
        {"version": {"N": "1"}},  # version present in the reference: must match
    ],
    ids=["map-for-text", "spaced-json", "type-tag", "fraction", "missing", "extra", "version"],
)
def test_comparison_catches_differences(changes: dict[str, Any]) -> None:
    reference = SESSIONS[0]["item"]
    with pytest.raises(AssertionError):
        assert_same_encoding(
            _changed(reference, **changes), reference, written_when_missing=WRITTEN_WHEN_MISSING
        )
    assert_same_encoding(reference, reference, written_when_missing=WRITTEN_WHEN_MISSING)
