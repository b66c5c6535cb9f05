"""Hypothesis strategies for arbitrary valid domain values.

Needs ``hypothesis`` (a dev dependency, not part of the ``testing`` extra)::

    from hypothesis import given
    from session_store.testing import strategies as sst

    @given(sst.sessions())
    def test_something(session): ...

What "valid" means here: every value passes the domain models' validation
and can be stored. Ids (session, message, user, agent, participant) are
non-empty unicode within DynamoDB's key limits; every other string may be
empty and holds any unicode except lone surrogates (DynamoDB strings are
UTF-8). Instants are aware UTC datetimes at millisecond precision in years
1 to 9999 (four-digit years, as ISO-8601 and ``toISOString()`` write them).
Integers (token counts, counters, numbers inside JSON) stay within
JavaScript's safe range, ``|n| <= 2**53``, since a TypeScript service reads
the same items; floats are finite. Optional fields are present or
absent; free-form JSON (``metadata.custom``, ``annotations``, participant
metadata, tool results) nests maps, lists, strings, numbers, booleans and
null; ``SessionMetadata``/``MessageMetadata`` sometimes carry unknown
top-level keys, which the domain keeps.

``expires_at`` is stored in whole seconds (truncated): ``sessions()`` draws
millisecond expiries unless ``whole_second_expiry=True``, which gives only
values the store can return unchanged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from hypothesis import strategies as st
from pydantic import BaseModel, JsonValue

from session_store import domain
from session_store._time import to_millisecond

__all__ = [
    "MAX_SAFE_INTEGER",
    "compression_configs",
    "compression_states",
    "content",
    "content_blocks",
    "counts",
    "identifiers",
    "instants",
    "json_objects",
    "json_values",
    "message_metadata",
    "messages",
    "new_messages",
    "new_sessions",
    "participants",
    "session_metadata",
    "sessions",
    "texts",
    "token_budgets",
    "tool_calls",
    "tool_results",
]

MAX_SAFE_INTEGER = 2**53
"""JavaScript's ``Number.MAX_SAFE_INTEGER + 1``: the largest count drawn."""

MIN_INSTANT = datetime(1, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)

_UTF8 = st.characters(codec="utf-8")


def texts(*, min_size: int = 0, max_size: int = 24) -> st.SearchStrategy[str]:
    """Unicode text without lone surrogates (DynamoDB strings are UTF-8)."""
    return st.text(_UTF8, min_size=min_size, max_size=max_size)


def identifiers(*, max_size: int = 40) -> st.SearchStrategy[str]:
    """A non-empty id, well inside DynamoDB's key limits (at most 4 bytes a character)."""
    return texts(min_size=1, max_size=max_size)


def counts(*, max_value: int = MAX_SAFE_INTEGER) -> st.SearchStrategy[int]:
    """A non-negative count: small ones mostly, up to ``2**53``."""
    return st.integers(min_value=0, max_value=max_value)


_SAFE_INTEGERS = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)


def instants(
    *,
    min_value: datetime = MIN_INSTANT,
    max_value: datetime = MAX_INSTANT,
    whole_seconds: bool = False,
) -> st.SearchStrategy[datetime]:
    """An aware UTC datetime at millisecond (or whole-second) precision."""
    naive = st.datetimes(
        min_value=min_value.astimezone(UTC).replace(tzinfo=None),
        max_value=max_value.astimezone(UTC).replace(tzinfo=None),
    )
    aware = naive.map(lambda value: to_millisecond(value.replace(tzinfo=UTC, fold=0)))
    if whole_seconds:
        return aware.map(lambda value: value.replace(microsecond=0))
    return aware


M = TypeVar("M", bound=BaseModel)


def _model(model: type[M], /, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[M]:
    """Instances of a pydantic model from a strategy per field (snake_case names).

    Not ``st.builds``: pydantic's signature names fields by their camelCase
    aliases, and ``builds`` would infer (naive-datetime) strategies for them.
    """
    return st.fixed_dictionaries(fields).map(model.model_validate)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


# --- free-form JSON -------------------------------------------------------------


def json_values(*, max_leaves: int = 12) -> st.SearchStrategy[JsonValue]:
    """Any JSON value: null, booleans, safe integers, finite floats, text, lists, maps."""
    scalars: st.SearchStrategy[JsonValue] = st.one_of(
        st.none(),
        st.booleans(),
        _SAFE_INTEGERS,
        st.floats(allow_nan=False, allow_infinity=False),
        texts(),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(texts(max_size=10), children, max_size=4),
        ),
        max_leaves=max_leaves,
    )


def json_objects(*, max_size: int = 4) -> st.SearchStrategy[dict[str, JsonValue]]:
    """A JSON object (string keys, any JSON values)."""
    return st.dictionaries(texts(max_size=10), json_values(max_leaves=8), max_size=max_size)


def _unknown_keys(model: type[BaseModel]) -> st.SearchStrategy[dict[str, JsonValue]]:
    """Top-level keys the model does not declare (under either spelling), with JSON values."""
    known: set[str] = set()
    for name, field in model.model_fields.items():
        known.add(name)
        if field.alias is not None:
            known.add(field.alias)
    keys = texts(min_size=1, max_size=10).filter(lambda key: key not in known)
    return st.dictionaries(keys, json_values(max_leaves=4), max_size=2)


# --- sessions -----------------------------------------------------------------------


@st.composite
def session_metadata(draw: st.DrawFn) -> domain.SessionMetadata:
    """Title, tags, source and custom, each present or absent; now and then unknown keys."""
    data: dict[str, Any] = {
        "title": draw(_optional(texts())),
        "tags": draw(_optional(st.lists(texts(max_size=12), max_size=4))),
        "source": draw(_optional(texts(max_size=12))),
        "custom": draw(_optional(json_objects())),
    }
    data = {key: value for key, value in data.items() if value is not None}
    extra = draw(st.one_of(st.just({}), _unknown_keys(domain.SessionMetadata)))
    return domain.SessionMetadata.model_validate({**extra, **data})


def participants() -> st.SearchStrategy[domain.Participant]:
    return _model(
        domain.Participant,
        id=identifiers(),
        role=st.sampled_from(domain.ParticipantRole),
        metadata=_optional(json_objects()),
        joined_at=instants(),
        left_at=_optional(instants()),
    )


def token_budgets() -> st.SearchStrategy[domain.TokenBudgetConfig]:
    return _model(
        domain.TokenBudgetConfig,
        max_tokens=counts(),
        reserve_tokens=counts(),
        overflow_strategy=st.sampled_from(domain.OverflowStrategy),
    )


def compression_configs() -> st.SearchStrategy[domain.CompressionConfig]:
    return _model(
        domain.CompressionConfig,
        strategy=st.sampled_from(domain.CompressionStrategy),
        target_tokens=counts(),
        min_messages=_optional(counts()),
        max_messages=_optional(counts()),
        summarization_prompt=_optional(texts()),
        summary_overhead=_optional(counts()),
    )


def compression_states() -> st.SearchStrategy[domain.CompressionState]:
    return _model(
        domain.CompressionState,
        strategy=st.sampled_from(domain.CompressionStrategy),
        summary=_optional(texts()),
        summary_token_count=_optional(counts()),
        kept_message_ids=st.lists(identifiers(), max_size=4),
        signature=texts(),
        compressed_token_count=counts(),
        updated_at=instants(),
    )


def sessions(*, whole_second_expiry: bool = False) -> st.SearchStrategy[domain.Session]:
    """Any valid stored session.

    ``whole_second_expiry=True`` draws ``expires_at`` at whole seconds only,
    the precision the table keeps.
    """
    return _model(
        domain.Session,
        id=identifiers(),
        user_id=_optional(identifiers()),
        active_agent_id=_optional(identifiers()),
        status=st.sampled_from(domain.SessionStatus),
        metadata=session_metadata(),
        participants=st.lists(participants(), max_size=3),
        schema_version=_SAFE_INTEGERS,
        created_at=instants(),
        last_activity_at=instants(),
        expires_at=_optional(instants(whole_seconds=whole_second_expiry)),
        token_budget=_optional(token_budgets()),
        compression=_optional(compression_configs()),
        compression_state=_optional(compression_states()),
        token_count=counts(),
        message_count=counts(),
        version=counts(),
    )


def new_sessions() -> st.SearchStrategy[domain.NewSession]:
    """What ``create_session`` accepts: a session's caller-owned fields, ``id`` optional."""
    return st.builds(
        lambda session, with_id: domain.NewSession.model_validate(
            session.model_dump(
                include={
                    "user_id",
                    "active_agent_id",
                    "status",
                    "metadata",
                    "participants",
                    "schema_version",
                    "expires_at",
                    "token_budget",
                    "compression",
                    "compression_state",
                }
                | ({"id"} if with_id else set()),
            )
        ),
        sessions(),
        st.booleans(),
    )


# --- messages ---------------------------------------------------------------------


def content_blocks() -> st.SearchStrategy[domain.TextBlock | domain.ImageUrlBlock]:
    return st.one_of(
        _model(domain.TextBlock, text=texts()),
        _model(domain.ImageUrlBlock, image_url=_model(domain.ImageUrl, url=texts())),
    )


def content() -> st.SearchStrategy[domain.MessageContent]:
    """A string (possibly empty) or a list of content blocks (possibly empty)."""
    return st.one_of(texts(max_size=60), st.lists(content_blocks(), max_size=4))


def tool_calls() -> st.SearchStrategy[domain.ToolCall]:
    """A tool call whose ``arguments`` is JSON text, as a model produces it."""
    return _model(
        domain.ToolCall,
        id=identifiers(),
        name=texts(min_size=1),
        arguments=json_objects().map(lambda value: json.dumps(value, ensure_ascii=False)),
    )


def tool_results() -> st.SearchStrategy[domain.ToolResult]:
    return _model(
        domain.ToolResult,
        tool_call_id=identifiers(),
        result=json_values(max_leaves=8),
        is_error=_optional(st.booleans()),
    )


@st.composite
def message_metadata(draw: st.DrawFn) -> domain.MessageMetadata:
    """Tool calls, tool results and annotations, each present or absent; sometimes unknown keys."""
    data: dict[str, Any] = {
        "tool_calls": draw(_optional(st.lists(tool_calls(), max_size=3))),
        "tool_results": draw(_optional(st.lists(tool_results(), max_size=3))),
        "annotations": draw(_optional(json_objects())),
    }
    data = {key: value for key, value in data.items() if value is not None}
    extra = draw(st.one_of(st.just({}), _unknown_keys(domain.MessageMetadata)))
    return domain.MessageMetadata.model_validate({**extra, **data})


def messages() -> st.SearchStrategy[domain.Message]:
    """Any valid stored message."""
    return _model(
        domain.Message,
        id=identifiers(),
        session_id=identifiers(),
        role=st.sampled_from(domain.MessageRole),
        content=content(),
        token_count=_optional(counts()),
        sequence=_optional(_SAFE_INTEGERS),
        metadata=_optional(message_metadata()),
        created_at=instants(),
        updated_at=_optional(instants()),
    )


def new_messages() -> st.SearchStrategy[domain.NewMessage]:
    """What ``add_message`` accepts."""
    return _model(
        domain.NewMessage,
        role=st.sampled_from(domain.MessageRole),
        content=content(),
        token_count=_optional(counts()),
        sequence=_optional(_SAFE_INTEGERS),
        metadata=_optional(message_metadata()),
    )
