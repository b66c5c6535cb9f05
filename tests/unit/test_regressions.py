"""Edge cases found by the unit suites, pinned so they stay fixed."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError as PydanticValidationError

from session_store import keys
from session_store._time import format_iso, parse_iso
from session_store.domain import NewSession, SessionMetadata, ToolResult
from session_store.errors import ValidationError


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        (datetime(999, 1, 2, 3, 4, 5, 678900, UTC), "0999-01-02T03:04:05.678Z"),
        (datetime(5, 1, 2, tzinfo=UTC), "0005-01-02T00:00:00.000Z"),
    ],
)
def test_small_years_are_padded_like_javascript(instant: datetime, text: str) -> None:
    assert format_iso(instant) == text
    assert parse_iso(text) == instant.replace(microsecond=instant.microsecond // 1000 * 1000)


@pytest.mark.parametrize(
    "message_id",
    ["999999999999999-000000-ae79f939-b1ef-4f00-b773-5290f876e515", "253402300800000-000000-x"],
)
def test_reference_ids_past_year_9999_have_no_timestamp(message_id: str) -> None:
    assert keys.message_id_timestamp(message_id) is None
    assert keys.message_sk_for_id(message_id) is None


def test_lone_surrogate_id_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="unicode"):
        keys.check_session_id("\ud800")


def test_empty_session_partition_key_is_refused() -> None:
    with pytest.raises(ValueError, match="not a session partition key"):
        keys.parse_session_pk("SESSION#")


@pytest.mark.parametrize("instant", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_datetimes_out_of_range_in_utc_are_validation_errors(instant: str) -> None:
    with pytest.raises(PydanticValidationError, match="out of range"):
        NewSession.model_validate({"status": "active", "expiresAt": instant})


def test_non_finite_numbers_are_refused_in_unknown_metadata_keys_and_tool_results() -> None:
    with pytest.raises(PydanticValidationError):
        SessionMetadata.model_validate({"score": math.inf})
    with pytest.raises(PydanticValidationError):
        ToolResult.model_validate({"toolCallId": "c", "result": math.nan})
    assert SessionMetadata.model_validate({"score": 1.5}).model_extra == {"score": 1.5}
