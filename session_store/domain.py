"""Domain types: what the adapter takes and returns (pydantic v2).

Attributes are snake_case; every model also accepts the camelCase names of the
TypeScript types, and ``model_dump(by_alias=True, mode="json")`` gives their
JSON shape. Datetimes are timezone-aware UTC at millisecond precision: a naive
datetime is refused, finer precision is truncated.

Output types (``Session``, ``Message``) ignore unknown keys, so items written by
newer writers still read; input types (``NewSession``, ``SessionUpdate``, ...)
forbid them, so a misspelt field is an error instead of a silent no-op. The
free-form maps (``metadata.custom``, ``annotations``, participant ``metadata``)
keep whatever JSON they are given; ``SessionMetadata`` and ``MessageMetadata``
also keep unknown top-level keys, so a read-modify-write never drops data.

This module is long because it holds every domain type: the whole vocabulary of SPEC §2
in one place.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    TypeAdapter,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic.alias_generators import to_camel

from session_store._time import format_iso, to_millisecond

__all__ = [
    "MAX_LIMIT",
    "MAX_NUMBER",
    "MAX_TAGS_FILTER_BYTES",
    "CompressionConfig",
    "CompressionState",
    "CompressionStrategy",
    "ContentBlock",
    "HealthStatus",
    "ImageUrl",
    "ImageUrlBlock",
    "Message",
    "MessageMetadata",
    "MessageQuery",
    "MessageRole",
    "MessageUpdate",
    "NewMessage",
    "NewSession",
    "OverflowStrategy",
    "Page",
    "Participant",
    "ParticipantRole",
    "Session",
    "SessionFilters",
    "SessionMetadata",
    "SessionStatus",
    "SessionUpdate",
    "TextBlock",
    "TokenBudgetConfig",
    "ToolCall",
    "ToolResult",
    "UtcDateTime",
]

MAX_LIMIT = 1_000_000
"""Largest ``limit``/``offset`` accepted: anything above is a mistake, not a query."""
MAX_NUMBER = 10**38 - 1
"""Largest magnitude of a stored integer: DynamoDB keeps numbers of up to 38 digits."""
MAX_TAGS_FILTER_BYTES = 400 * 1024
"""Most UTF-8 bytes the tags of one ``list_sessions`` filter may hold together.

DynamoDB bounds the size of a filter expression and of its values (about
1 MB): a pre-filter carrying more is refused by DynamoDB. No session item
exceeds 400 KB either, so no single tag above that could match."""


def _aware_utc_millis(value: datetime) -> datetime:
    if value.tzinfo is UTC and not value.microsecond % 1000:
        return value  # already UTC milliseconds, as every value read from an item is
    try:
        return to_millisecond(value)
    except OverflowError:
        raise ValueError("datetime is out of range once converted to UTC") from None
    except ValueError:
        raise ValueError("datetime must be timezone-aware (UTC)") from None


UtcDateTime = Annotated[
    datetime,
    AfterValidator(_aware_utc_millis),
    PlainSerializer(format_iso, return_type=str, when_used="json"),
]
"""An aware datetime, normalised to UTC milliseconds; JSON as ``...T..:..:..mmmZ``."""


def _finite_json(value: Any) -> Any:
    """Refuse what JSON cannot carry (NaN, infinities) anywhere inside ``value``."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        raise ValueError("must be JSON without NaN or infinite numbers") from None
    return value


JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_finite_json)]
"""A JSON object (string keys, JSON values, finite numbers)."""
_JSON_OBJECT: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])


class SessionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    EXPIRED = "expired"


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"


class ParticipantRole(StrEnum):
    USER = "user"
    AGENT = "agent"
    OBSERVER = "observer"


class OverflowStrategy(StrEnum):
    TRUNCATE = "truncate"
    COMPRESS = "compress"
    ERROR = "error"


class CompressionStrategy(StrEnum):
    SLIDING_WINDOW = "sliding_window"
    SUMMARIZATION = "summarization"
    HYBRID = "hybrid"


class _Wire(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown keys ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_enum_values=False,
    )


class _Open(_Wire):
    """A wire object that keeps keys it does not know."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _json_extras(self) -> _Open:
        if self.model_extra:
            try:
                extras = _JSON_OBJECT.validate_python(self.model_extra)
            except PydanticValidationError:
                # str keys, JSON values (json.dumps alone would turn int keys into str)
                raise ValueError("unknown keys must hold JSON values") from None
            _finite_json(extras)
            self.__pydantic_extra__ = extras
        return self


class _Input(_Wire):
    """An input: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")


# --- nested shapes --------------------------------------------------------


class TextBlock(_Wire):
    type: Literal["text"] = "text"
    text: str


class ImageUrl(_Wire):
    url: str


class ImageUrlBlock(_Wire):
    type: Literal["image_url"] = "image_url"
    image_url: ImageUrl = Field(alias="image_url")


ContentBlock = Annotated[TextBlock | ImageUrlBlock, Field(discriminator="type")]
MessageContent = str | list[ContentBlock]


class ToolCall(_Wire):
    id: str
    name: str
    arguments: str
    """The call's arguments as a JSON string, as the model produced them."""


class ToolResult(_Wire):
    keep_null: ClassVar[frozenset[str]] = frozenset({"result"})
    """``result`` is written even when null: a tool may return nothing."""

    tool_call_id: str
    result: Annotated[JsonValue, AfterValidator(_finite_json)] = None
    is_error: bool | None = None


class MessageMetadata(_Open):
    tool_calls: list[ToolCall] | None = None
    tool_results: list[ToolResult] | None = None
    annotations: JsonObject | None = None


class Participant(_Wire):
    id: str
    role: ParticipantRole
    metadata: JsonObject | None = None
    joined_at: UtcDateTime
    left_at: UtcDateTime | None = None


class SessionMetadata(_Open):
    title: str | None = None
    tags: list[str] | None = None
    source: str | None = None
    custom: JsonObject | None = None


NonNegativeInt = Annotated[int, Field(ge=0, le=MAX_NUMBER)]
"""A count DynamoDB can store: 0 to 38 digits."""
StoredInt = Annotated[int, Field(ge=-MAX_NUMBER, le=MAX_NUMBER)]
"""An integer DynamoDB can store: at most 38 digits."""


class TokenBudgetConfig(_Wire):
    max_tokens: NonNegativeInt
    reserve_tokens: NonNegativeInt
    overflow_strategy: OverflowStrategy


class CompressionConfig(_Wire):
    """How a session is compressed; no live summarizer object is stored."""

    strategy: CompressionStrategy
    target_tokens: NonNegativeInt
    min_messages: NonNegativeInt | None = None
    max_messages: NonNegativeInt | None = None
    summarization_prompt: str | None = None
    summary_overhead: NonNegativeInt | None = None


class CompressionState(_Wire):
    strategy: CompressionStrategy
    summary: str | None = None
    summary_token_count: NonNegativeInt | None = None
    kept_message_ids: list[str]
    signature: str
    compressed_token_count: NonNegativeInt
    updated_at: UtcDateTime


# --- stored entities --------------------------------------------------------


class Session(_Wire):
    """A conversation session as stored.

    ``version`` counts updates (0 for an item written without one);
    ``token_count``/``message_count`` are kept by the store.
    """

    id: str
    user_id: str | None = None
    active_agent_id: str | None = None
    status: SessionStatus
    metadata: SessionMetadata = Field(default_factory=SessionMetadata)
    participants: list[Participant] = Field(default_factory=list)
    schema_version: StoredInt = 1
    created_at: UtcDateTime
    last_activity_at: UtcDateTime
    expires_at: UtcDateTime | None = None
    token_budget: TokenBudgetConfig | None = None
    compression: CompressionConfig | None = None
    compression_state: CompressionState | None = None
    token_count: NonNegativeInt = 0
    message_count: NonNegativeInt = 0
    version: NonNegativeInt = 0


class Message(_Wire):
    """One message of a session; ``created_at`` is its id's timestamp."""

    id: str
    session_id: str
    role: MessageRole
    content: MessageContent
    token_count: NonNegativeInt | None = None
    sequence: StoredInt | None = None
    metadata: MessageMetadata | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime | None = None


# --- inputs -------------------------------------------------------------------


class NewSession(_Input):
    """What ``create_session`` takes: only ``status`` is required.

    ``id`` may be supplied; otherwise a new one is generated.
    """

    id: str | None = None
    user_id: str | None = None
    active_agent_id: str | None = None
    status: SessionStatus
    metadata: SessionMetadata = Field(default_factory=SessionMetadata)
    participants: list[Participant] = Field(default_factory=list)
    schema_version: StoredInt = 1
    expires_at: UtcDateTime | None = None
    token_budget: TokenBudgetConfig | None = None
    compression: CompressionConfig | None = None
    compression_state: CompressionState | None = None


_SESSION_STORE_OWNED = ("id", "created_at", "version", "token_count", "message_count")
_MESSAGE_STORE_OWNED = ("id", "session_id", "created_at", "updated_at")


@cache
def _spellings(fields: tuple[str, ...]) -> frozenset[str]:
    """``fields`` in snake_case and in camelCase (made once: input validation is a hot path)."""
    return frozenset(name for field in fields for name in (field, to_camel(field)))


def _refuse_store_owned(data: Any, owned: tuple[str, ...], what: str) -> Any:
    if isinstance(data, dict):
        names = _spellings(owned)
        given = sorted(str(key) for key in data if key in names)
        if given:
            raise ValueError(
                f"{', '.join(given)} cannot be set by an update: the store owns {what}"
            )
    return data


_U = TypeVar("_U", bound=BaseModel)


def _refuse_removal(update: _U, required: tuple[str, ...]) -> _U:
    """``update``, unless it sets one of the ``required`` fields to ``None``."""
    for name in required:
        if name in update.model_fields_set and getattr(update, name) is None:
            raise ValueError(f"{name} cannot be removed")
    return update


class SessionUpdate(_Input):
    """Fields to change. Only the fields given are written.

    Setting ``user_id``, ``active_agent_id``, ``expires_at``, ``token_budget``,
    ``compression`` or ``compression_state`` to ``None`` removes them.
    """

    user_id: str | None = None
    active_agent_id: str | None = None
    status: SessionStatus | None = None
    metadata: SessionMetadata | None = None
    participants: list[Participant] | None = None
    schema_version: StoredInt | None = None
    expires_at: UtcDateTime | None = None
    token_budget: TokenBudgetConfig | None = None
    compression: CompressionConfig | None = None
    compression_state: CompressionState | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_store_owned(cls, data: Any) -> Any:
        return _refuse_store_owned(data, _SESSION_STORE_OWNED, "them")

    @model_validator(mode="after")
    def _required_stay_set(self) -> SessionUpdate:
        return _refuse_removal(self, ("status", "metadata", "participants", "schema_version"))


class NewMessage(_Input):
    """What ``add_message`` takes."""

    role: MessageRole
    content: MessageContent
    token_count: NonNegativeInt | None = None
    sequence: StoredInt | None = None
    metadata: MessageMetadata | None = None


class MessageUpdate(_Input):
    """Fields of a message to change; ``token_count=None`` removes the count."""

    role: MessageRole | None = None
    content: MessageContent | None = None
    token_count: NonNegativeInt | None = None
    sequence: StoredInt | None = None
    metadata: MessageMetadata | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_store_owned(cls, data: Any) -> Any:
        return _refuse_store_owned(data, _MESSAGE_STORE_OWNED, "them")

    @model_validator(mode="after")
    def _required_stay_set(self) -> MessageUpdate:
        return _refuse_removal(self, ("role", "content"))


Limit = Annotated[int, Field(ge=0, le=MAX_LIMIT)]


def _utf8_text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text that is not valid unicode (a lone surrogate)") from None
    return text


Utf8Text = Annotated[str, AfterValidator(_utf8_text)]
"""A string DynamoDB can store or compare: UTF-8 encodable, so no lone surrogates."""


class SessionFilters(_Input):
    """Which sessions ``list_sessions`` returns.

    ``user_id`` reads GSI1 (newest first), else ``active_agent_id`` reads GSI2,
    else the table is scanned. ``tags`` matches sessions having any of them.
    ``limit``/``offset`` count sessions after every filter.
    """

    user_id: str | None = None
    status: SessionStatus | None = None
    active_agent_id: str | None = None
    tags: list[Utf8Text] | None = None
    created_after: UtcDateTime | None = None
    created_before: UtcDateTime | None = None
    limit: Limit | None = None
    offset: Limit = 0
    include_expired: bool = False

    @model_validator(mode="after")
    def _tags_fit_a_filter(self) -> SessionFilters:
        sizes = [len(tag.encode("utf-8")) for tag in self.tags or ()]
        if sum(sizes) > MAX_TAGS_FILTER_BYTES:
            raise ValueError(
                f"the tags hold {sum(sizes):,} bytes together (the largest {max(sizes):,}): "
                f"a tags filter holds at most {MAX_TAGS_FILTER_BYTES:,}, the most DynamoDB's "
                "filter expressions carry and more than any session's tags"
            )
        return self


class MessageQuery(_Input):
    """Which messages ``get_messages`` returns; ``after``/``before`` are strict."""

    limit: Limit | None = None
    offset: Limit = 0
    order: Literal["asc", "desc"] = "asc"
    after: UtcDateTime | None = None
    before: UtcDateTime | None = None
    roles: list[MessageRole] | None = None


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of results; pass ``next_cursor`` back for the next one."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    items: list[T]
    next_cursor: str | None = None


class HealthStatus(_Wire):
    status: Literal["healthy", "degraded", "unhealthy"]
    latency_ms: float | None = None
    details: dict[str, Any] | None = None
