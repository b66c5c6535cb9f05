"""factory-boy factories for realistic sessions and messages.

``SessionFactory.build()`` gives a valid ``domain.NewSession`` and
``MessageFactory.build()`` a valid ``domain.NewMessage``, with realistic
content: user and agent ids, titles, tags, participants with ``joined_at``,
tool calls whose arguments are JSON, tool results, content blocks now and
then, token counts estimated from the content. Any field can be overridden
(``SessionFactory.build(status="paused")``), and traits switch whole
scenarios on::

    SessionFactory.build(anonymous=True)        # no user (and no user participant)
    SessionFactory.build(minimal=True)          # only the required status
    SessionFactory.build(compressed=True)       # compression config and state
    MessageFactory.build(tool_call=True)        # assistant calling a tool
    MessageFactory.build(tool_result=True, tool_call_id="call_1")
    MessageFactory.build(blocks=True)           # content as a list of blocks

Creating goes through a storage adapter (anything with ``create_session`` /
``add_message``, duck-typed) and returns what the adapter stored::

    session = SessionFactory.create(adapter=adapter, user_id="u1")
    message = MessageFactory.create(adapter=adapter, session_id=session.id)
    messages = MessageFactory.create_conversation(adapter=adapter, session_id=session.id)

The async adapter has ``acreate`` (and ``acreate_conversation``).

Determinism: every random choice is drawn from factory-boy's and Faker's
shared generators, so ``factory.random.reseed_random(seed)`` makes the next
builds repeat exactly. Timestamps inside the values (``joined_at``,
``compression_state.updated_at``, the ``expired`` trait) are drawn from fixed
ranges, not from the clock; only the ``expiring`` trait is relative to now
(``now + 1 day``, whole seconds). Nothing here uses factory-boy sequences, so
values do not depend on how many objects were built before.

This module needs the ``testing`` extra (``factory-boy``).

This module is long because of the realistic content the factories draw from.
"""

# factory-boy ships py.typed but leaves its constructors unannotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

import faker
from factory.base import Factory
from factory.declarations import LazyAttribute, LazyFunction, SubFactory, Trait
from factory.faker import Faker

from session_store import domain
from session_store._time import utc_now

__all__ = [
    "AGENT_IDS",
    "AsyncMessageAdder",
    "AsyncSessionCreator",
    "CompressionConfigFactory",
    "MessageAdder",
    "MessageFactory",
    "ParticipantFactory",
    "SessionCreator",
    "SessionFactory",
    "SessionMetadataFactory",
    "TokenBudgetFactory",
]


# --- what the factories create through ---------------------------------------


class SessionCreator(Protocol):
    """Anything that stores a new session (``DynamoDBAdapter`` does)."""

    def create_session(self, data: domain.NewSession, /) -> domain.Session: ...


class MessageAdder(Protocol):
    """Anything that appends a message to a session (``DynamoDBAdapter`` does)."""

    def add_message(self, session_id: str, data: domain.NewMessage, /) -> domain.Message: ...


class AsyncSessionCreator(Protocol):
    def create_session(self, data: domain.NewSession, /) -> Awaitable[domain.Session]: ...


class AsyncMessageAdder(Protocol):
    def add_message(
        self, session_id: str, data: domain.NewMessage, /
    ) -> Awaitable[domain.Message]: ...


# --- vocabulary -----------------------------------------------------------------

_fake = faker.Faker("en_US")
"""Shares Faker's module-level random generator, which ``reseed_random`` seeds."""

AGENT_IDS = (
    "support-agent",
    "billing-agent",
    "triage-agent",
    "research-agent",
    "coding-agent",
    "onboarding-agent",
)
_SOURCES = ("web", "mobile-ios", "mobile-android", "api", "slack", "email", "cli")
_TAGS = (
    "billing",
    "support",
    "priority",
    "onboarding",
    "bug",
    "feature-request",
    "refund",
    "account",
    "api",
    "escalated",
)
_PLANS = ("free", "pro", "team", "enterprise")
_MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.0-flash", "llama-3.1-70b")
_PRODUCTS = ("the dashboard", "the mobile app", "SSO", "webhooks", "the CLI", "the REST API")
_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CALL_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

# Fixed windows keep built values independent of the clock (see the module docstring).
_RECENT_START = datetime(2025, 1, 1, tzinfo=UTC)
_RECENT_END = datetime(2026, 6, 30, tzinfo=UTC)
_PAST_START = datetime(2020, 1, 1, tzinfo=UTC)
_PAST_END = datetime(2024, 12, 31, tzinfo=UTC)


def _choice(options: Sequence[Any]) -> Any:
    return _fake.random_element(elements=tuple(options))


def _invoice_id() -> str:
    return _fake.numerify("inv-#####")


def _order_id() -> str:
    return _fake.bothify("ord_########", letters=_CALL_ID_ALPHABET)


def _recent_instant() -> datetime:
    return _fake.date_time_between_dates(
        datetime_start=_RECENT_START, datetime_end=_RECENT_END, tzinfo=UTC
    )


def _past_whole_second() -> datetime:
    instant = _fake.date_time_between_dates(
        datetime_start=_PAST_START, datetime_end=_PAST_END, tzinfo=UTC
    )
    return instant.replace(microsecond=0)


def _decide(flag: bool | None, percent: int) -> bool:
    """``flag`` when given, else a coin that comes up ``True`` ``percent`` % of the time."""
    return flag if flag is not None else _fake.pybool(truth_probability=percent)


def _in_one_day() -> datetime:
    return utc_now().replace(microsecond=0) + timedelta(days=1)


def _fake_ulid() -> str:
    # Time-sortable looking ids; the first character of a valid ULID is at most 7.
    return "01" + "".join(_fake.random_choices(elements=_ULID_ALPHABET, length=24))


# --- sessions ---------------------------------------------------------------------


def _title() -> str:
    templates = (
        lambda: f"Billing question about {_invoice_id()}",
        lambda: f"Refund for order {_order_id()}",
        lambda: f"Help setting up {_choice(_PRODUCTS)}",
        lambda: f"Bug: {_choice(_PRODUCTS)} times out",
        lambda: f"Upgrade to the {_choice(_PLANS)} plan",
        lambda: f"Trip planning: {_fake.city()}",
        lambda: f"Summarise Q{_fake.random_int(1, 4)} report for {_fake.company()}",
    )
    return cast(str, _choice(templates)())


def _tags() -> list[str]:
    count = _fake.random_int(0, 3)
    return list(_fake.random_sample(elements=_TAGS, length=count))


def _custom() -> dict[str, Any]:
    custom: dict[str, Any] = {
        "plan": _choice(_PLANS),
        "seats": _fake.random_int(1, 250),
        "locale": _choice(("en-US", "en-GB", "de-DE", "fr-FR", "ja-JP", "pt-BR")),
        "beta": _fake.pybool(),
        "accountId": _fake.bothify("acct_????????????", letters=_CALL_ID_ALPHABET),
    }
    if _fake.pybool():
        custom["csat"] = round(_fake.pyfloat(min_value=1, max_value=5), 1)
    if _fake.pybool():
        custom["utm"] = {"source": _choice(("google", "newsletter", "partner")), "campaign": None}
    return custom


class SessionMetadataFactory(Factory[domain.SessionMetadata]):
    """Title, tags, source and a few custom keys (strings, numbers, booleans, null)."""

    class Meta:
        model = domain.SessionMetadata

    title = LazyFunction(_title)
    tags = LazyFunction(_tags)
    source = LazyFunction(lambda: _choice(_SOURCES))
    custom = LazyFunction(_custom)


class ParticipantFactory(Factory[domain.Participant]):
    """A participant who joined at a recent (fixed-window) instant."""

    class Meta:
        model = domain.Participant

    id = LazyFunction(lambda: _fake.numerify("user-#####"))
    role = domain.ParticipantRole.USER
    metadata = None
    joined_at = LazyFunction(_recent_instant)
    left_at = None


def _participants(user_id: str | None, agent_id: str | None) -> list[domain.Participant]:
    """The user (if any), the active agent (if any), and now and then a supervisor."""
    joined = _recent_instant()
    participants: list[domain.Participant] = []
    if user_id is not None:
        participants.append(
            ParticipantFactory.build(
                id=user_id,
                role=domain.ParticipantRole.USER,
                metadata={"displayName": _fake.name(), "timezone": _fake.timezone()},
                joined_at=joined,
            )
        )
    if agent_id is not None:
        participants.append(
            ParticipantFactory.build(
                id=agent_id,
                role=domain.ParticipantRole.AGENT,
                metadata={"model": _choice(_MODELS)},
                joined_at=joined + timedelta(milliseconds=_fake.random_int(1, 2500)),
            )
        )
    if _fake.pybool(truth_probability=20):
        observer_joined = joined + timedelta(minutes=_fake.random_int(1, 30))
        participants.append(
            ParticipantFactory.build(
                id=_fake.numerify("supervisor-###"),
                role=domain.ParticipantRole.OBSERVER,
                joined_at=observer_joined,
                left_at=observer_joined + timedelta(minutes=_fake.random_int(1, 10)),
            )
        )
    return participants


class TokenBudgetFactory(Factory[domain.TokenBudgetConfig]):
    class Meta:
        model = domain.TokenBudgetConfig

    max_tokens = LazyFunction(lambda: _choice((4_000, 8_000, 16_000, 32_000, 128_000)))
    reserve_tokens = LazyAttribute(lambda o: o.max_tokens // 10)
    overflow_strategy = LazyFunction(lambda: _choice(tuple(domain.OverflowStrategy)))


def _summarization_prompt(strategy: domain.CompressionStrategy) -> str | None:
    if strategy is domain.CompressionStrategy.SLIDING_WINDOW:
        return None
    return "Summarise the conversation so far in at most five bullet points, keeping ids."


class CompressionConfigFactory(Factory[domain.CompressionConfig]):
    class Meta:
        model = domain.CompressionConfig

    strategy = LazyFunction(lambda: _choice(tuple(domain.CompressionStrategy)))
    target_tokens = LazyFunction(lambda: _choice((2_000, 4_000, 8_000)))
    min_messages = 4
    max_messages = LazyFunction(lambda: _choice((None, 50, 100)))
    summarization_prompt = LazyAttribute(lambda o: _summarization_prompt(o.strategy))
    summary_overhead = LazyAttribute(lambda o: None if o.summarization_prompt is None else 200)


def _compression_state(config: domain.CompressionConfig | None) -> domain.CompressionState:
    strategy = config.strategy if config is not None else domain.CompressionStrategy.SUMMARIZATION
    target = config.target_tokens if config is not None else 4_000
    kept = [_fake_ulid() for _ in range(_fake.random_int(2, 6))]
    summarizes = strategy is not domain.CompressionStrategy.SLIDING_WINDOW
    summary = _fake.paragraph(nb_sentences=3) if summarizes else None
    return domain.CompressionState(
        strategy=strategy,
        summary=summary,
        summary_token_count=_estimate_text_tokens(summary) if summary is not None else None,
        kept_message_ids=kept,
        signature=f"{len(kept)}:{kept[-1]}::{target}",
        compressed_token_count=_fake.random_int(target // 2, target),
        updated_at=_recent_instant(),
    )


class SessionFactory(Factory[domain.NewSession]):
    """A ``NewSession`` of an active conversation between a user and an agent.

    Traits: ``anonymous`` (no user), ``agentless`` (no active agent),
    ``minimal`` (only ``status``), ``with_budget`` / ``with_compression``
    (force the optional configs on; otherwise each is present at random),
    ``compressed`` (compression config and state), ``expiring`` (expires a day
    from now), ``expired`` (expired years ago), ``with_id`` (a caller-chosen id;
    otherwise ``id`` is ``None`` and the store generates one).
    """

    class Meta:
        model = domain.NewSession

    class Params:
        # Plain values, so that the traits below can override them (factory-boy
        # applies declarations given in Params after every trait).
        has_budget: bool | None = None  # None: present at random (40 %)
        has_compression: bool | None = None  # None: present at random (25 %)
        anonymous = Trait(user_id=None)
        agentless = Trait(active_agent_id=None)
        minimal = Trait(
            user_id=None,
            active_agent_id=None,
            metadata=LazyFunction(domain.SessionMetadata),
            participants=LazyFunction(list),
            has_budget=False,
            has_compression=False,
        )
        with_budget = Trait(has_budget=True)
        with_compression = Trait(has_compression=True)
        compressed = Trait(
            has_compression=True,
            compression_state=LazyAttribute(lambda o: _compression_state(o.compression)),
        )
        expiring = Trait(expires_at=LazyFunction(_in_one_day))
        expired = Trait(expires_at=LazyFunction(_past_whole_second))
        with_id = Trait(id=Faker("uuid4"))

    id = None
    user_id = Faker("numerify", text="user-#####")
    active_agent_id = LazyFunction(lambda: _choice(AGENT_IDS))
    status = domain.SessionStatus.ACTIVE
    metadata = SubFactory(SessionMetadataFactory)
    participants = LazyAttribute(lambda o: _participants(o.user_id, o.active_agent_id))
    schema_version = 1
    expires_at = None
    token_budget = LazyAttribute(
        lambda o: TokenBudgetFactory.build() if _decide(o.has_budget, 40) else None
    )
    compression = LazyAttribute(
        lambda o: CompressionConfigFactory.build() if _decide(o.has_compression, 25) else None
    )
    compression_state = None

    @classmethod
    def _create(cls, model_class: type[domain.NewSession], *args: Any, **kwargs: Any) -> Any:
        adapter = kwargs.pop("adapter", None)
        if adapter is None:
            raise TypeError(
                "SessionFactory.create() needs adapter=<something with create_session>; "
                "use SessionFactory.build() for a NewSession alone"
            )
        return adapter.create_session(model_class(*args, **kwargs))

    @classmethod
    def create(  # type: ignore[override]
        cls, adapter: SessionCreator | None = None, **overrides: Any
    ) -> domain.Session:
        """Build a ``NewSession`` and store it: ``adapter.create_session(new)``'s result."""
        return cast(domain.Session, super().create(adapter=adapter, **overrides))

    @classmethod
    def create_batch(  # type: ignore[override]
        cls, size: int, adapter: SessionCreator | None = None, **overrides: Any
    ) -> list[domain.Session]:
        return [cls.create(adapter=adapter, **overrides) for _ in range(size)]

    @classmethod
    async def acreate(cls, adapter: AsyncSessionCreator, **overrides: Any) -> domain.Session:
        """``create`` for the async adapter: awaits ``adapter.create_session(new)``."""
        return await adapter.create_session(cls.build(**overrides))


# --- messages ---------------------------------------------------------------------


def _user_text() -> str:
    templates = (
        lambda: (
            f"Hi, my invoice {_invoice_id()} shows ${_fake.random_int(20, 900)} "
            f"but I expected ${_fake.random_int(20, 900)}. Can you check?"
        ),
        lambda: f"Where is my order {_order_id()}? It was due on {_fake.date()}.",
        lambda: f"How do I set up {_choice(_PRODUCTS)} for my team?",
        lambda: f"What's the weather going to be like in {_fake.city()} tomorrow?",
        lambda: f"Can you summarise this for me? {_fake.paragraph(nb_sentences=2)}",
        lambda: f"Thanks! One more thing: {_fake.sentence(nb_words=8)}",
        lambda: "",
    )
    return cast(str, _choice(templates)())


def _assistant_text() -> str:
    templates = (
        lambda: (
            f"I've looked up invoice {_invoice_id()}: the difference comes from the "
            f"{_choice(_PLANS)} plan's per-seat price. I've opened a refund request for you."
        ),
        lambda: f"Your order {_order_id()} has shipped and should arrive by {_fake.date()}.",
        lambda: (
            f"To set up {_choice(_PRODUCTS)}, open Settings → Integrations and follow "
            "the three steps there. Want me to walk you through them?"
        ),
        lambda: f"Here's a short summary:\n- {_fake.sentence()}\n- {_fake.sentence()}",
        lambda: 'Überprüft ✓ — 日本語も大丈夫です 🎉 "quoted" #hash',
    )
    return cast(str, _choice(templates)())


def _system_text() -> str:
    return (
        f"You are a helpful support assistant for {_fake.company()}. Answer concisely, "
        "never invent invoice numbers, and call a tool when you need account data."
    )


_TOOL_NAMES = ("get_weather", "lookup_invoice", "search_docs", "create_ticket", "get_order_status")


def _tool_arguments(name: str) -> dict[str, Any]:
    if name == "get_weather":
        return {"city": _fake.city(), "unit": _choice(("celsius", "fahrenheit"))}
    if name == "lookup_invoice":
        return {"invoiceId": _invoice_id()}
    if name == "search_docs":
        return {"query": _fake.sentence(nb_words=4).rstrip("."), "limit": _fake.random_int(3, 10)}
    if name == "create_ticket":
        return {
            "title": _fake.sentence(nb_words=6).rstrip("."),
            "priority": _choice(("low", "normal", "high", "urgent")),
            "labels": _tags(),
        }
    return {"orderId": _order_id()}


def _tool_output(name: str) -> Any:
    if name == "get_weather":
        return {
            "temperature": round(_fake.pyfloat(min_value=-15, max_value=38), 1),
            "conditions": _choice(("sunny", "cloudy", "rain", "snow", "fog")),
            "humidity": _fake.random_int(10, 100),
        }
    if name == "lookup_invoice":
        return {
            "amount": round(_fake.pyfloat(min_value=5, max_value=900), 2),
            "currency": "USD",
            "status": _choice(("paid", "open", "overdue")),
        }
    if name == "search_docs":
        return [
            {"title": _fake.sentence(nb_words=5).rstrip("."), "url": _fake.url(), "score": 0.9}
            for _ in range(_fake.random_int(1, 3))
        ]
    if name == "create_ticket":
        return {"ticketId": _fake.numerify("TCK-#####"), "status": "open", "assignee": None}
    return f"shipped, arriving {_fake.date()}"


def _tool_error() -> Any:
    return _choice(
        (
            {"error": "timeout", "message": "upstream did not answer within 30 s"},
            {"error": "not_found", "message": "no such record"},
            "Service temporarily unavailable",
        )
    )


def _tool_result_value(o: Any) -> Any:
    if o.tool_output is not None:
        return o.tool_output
    return _tool_error() if o.tool_failed else _tool_output(o.tool_name)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _content(o: Any) -> domain.MessageContent:
    role = domain.MessageRole(o.role)
    if role is domain.MessageRole.TOOL:
        value = o.tool_result_value
        return value if isinstance(value, str) else _compact(value)
    if role is domain.MessageRole.SYSTEM:
        return _system_text()
    if o.calls_tool:
        return cast(str, _choice(("", "", "Let me look that up for you.")))
    text = _user_text() if role is domain.MessageRole.USER else _assistant_text()
    if not _decide(o.use_blocks, 15):
        return text
    blocks: list[domain.ContentBlock] = [domain.TextBlock(text=text or "see attached")]
    if role is domain.MessageRole.USER or _fake.pybool():
        url = f"https://cdn.example.com/uploads/{_fake.uuid4()}.{_choice(('png', 'jpg'))}"
        blocks.append(domain.ImageUrlBlock(image_url=domain.ImageUrl(url=url)))
    return blocks


def _metadata(o: Any) -> domain.MessageMetadata | None:
    role = domain.MessageRole(o.role)
    if role is domain.MessageRole.TOOL:
        return domain.MessageMetadata(
            tool_results=[
                domain.ToolResult(
                    tool_call_id=o.tool_call_id,
                    result=o.tool_result_value,
                    is_error=True if o.tool_failed else _choice((False, None)),
                )
            ]
        )
    if o.calls_tool:
        names = [o.tool_name]
        if _fake.pybool(truth_probability=25):
            names.append(_choice(_TOOL_NAMES))
        ids = [o.tool_call_id] + [
            "call_" + _fake.bothify("?" * 24, letters=_CALL_ID_ALPHABET) for _ in names[1:]
        ]
        calls = [
            domain.ToolCall(id=call_id, name=name, arguments=_compact(_tool_arguments(name)))
            for call_id, name in zip(ids, names, strict=True)
        ]
        return domain.MessageMetadata(tool_calls=calls, annotations=_annotations())
    if role is domain.MessageRole.ASSISTANT and _fake.pybool(truth_probability=60):
        return domain.MessageMetadata(annotations=_annotations())
    return None


def _annotations() -> dict[str, Any]:
    return {
        "model": _choice(_MODELS),
        "latencyMs": _fake.random_int(120, 4_000),
        "finishReason": _choice(("stop", "tool_calls", "length")),
    }


def _estimate_text_tokens(text: str) -> int:
    """About four characters a token, as tokenizers average on English text."""
    return math.ceil(len(text) / 4)


def _estimate_tokens(
    content: domain.MessageContent, metadata: domain.MessageMetadata | None
) -> int:
    if isinstance(content, str):
        tokens = _estimate_text_tokens(content)
    else:
        tokens = sum(
            _estimate_text_tokens(block.text) if isinstance(block, domain.TextBlock) else 85
            for block in content
        )
    if metadata is not None and metadata.tool_calls:
        tokens += sum(
            _estimate_text_tokens(call.name + call.arguments) + 3 for call in metadata.tool_calls
        )
    return max(tokens, 1) + 4  # the role and message framing


class MessageFactory(Factory[domain.NewMessage]):
    """A ``NewMessage`` from the user or the assistant, with a token count.

    The role decides the content: users ask, assistants answer (sometimes with
    annotations such as the model and latency), ``system`` messages are a
    prompt, ``tool`` messages carry a tool result in their content (JSON) and
    metadata. Traits: ``tool_call`` (an assistant message calling a tool:
    ``tool_calls`` with JSON ``arguments``), ``tool_result`` (the tool's answer;
    pair it with ``tool_call_id=``), ``tool_error`` (the tool failed; with
    ``tool_result``), ``system``, ``blocks`` (content as text and image blocks),
    ``uncounted`` (no ``token_count``). Parameters: ``tool_call_id``,
    ``tool_name`` (one of ``get_weather``, ``lookup_invoice``, ``search_docs``,
    ``create_ticket``, ``get_order_status``).
    """

    class Meta:
        model = domain.NewMessage

    class Params:
        # Plain values first, so that the traits below can override them
        # (factory-boy applies declarations given in Params after every trait).
        use_blocks: bool | None = None  # None: content blocks at random (15 %)
        calls_tool = False
        tool_failed = False
        tool_output: Any = None  # None: a generated result for ``tool_name``
        tool_call_id = LazyFunction(
            lambda: "call_" + _fake.bothify("?" * 24, letters=_CALL_ID_ALPHABET)
        )
        tool_name = LazyFunction(lambda: _choice(_TOOL_NAMES))
        tool_result_value = LazyAttribute(_tool_result_value)
        tool_call = Trait(role=domain.MessageRole.ASSISTANT, calls_tool=True)
        tool_result = Trait(role=domain.MessageRole.TOOL)
        tool_error = Trait(role=domain.MessageRole.TOOL, tool_failed=True)
        system = Trait(role=domain.MessageRole.SYSTEM)
        blocks = Trait(use_blocks=True)
        uncounted = Trait(token_count=None)

    role = LazyFunction(lambda: _choice((domain.MessageRole.USER, domain.MessageRole.ASSISTANT)))
    content = LazyAttribute(_content)
    metadata = LazyAttribute(_metadata)
    token_count = LazyAttribute(lambda o: _estimate_tokens(o.content, o.metadata))
    sequence = None

    @classmethod
    def _create(cls, model_class: type[domain.NewMessage], *args: Any, **kwargs: Any) -> Any:
        adapter = kwargs.pop("adapter", None)
        session_id = kwargs.pop("session_id", None)
        if adapter is None or session_id is None:
            raise TypeError(
                "MessageFactory.create() needs adapter=<something with add_message> and "
                "session_id=...; use MessageFactory.build() for a NewMessage alone"
            )
        return adapter.add_message(session_id, model_class(*args, **kwargs))

    @classmethod
    def create(  # type: ignore[override]
        cls,
        adapter: MessageAdder | None = None,
        session_id: str | None = None,
        **overrides: Any,
    ) -> domain.Message:
        """Build a ``NewMessage`` and append it: ``adapter.add_message(session_id, new)``."""
        return cast(
            domain.Message, super().create(adapter=adapter, session_id=session_id, **overrides)
        )

    @classmethod
    def create_batch(  # type: ignore[override]
        cls,
        size: int,
        adapter: MessageAdder | None = None,
        session_id: str | None = None,
        **overrides: Any,
    ) -> list[domain.Message]:
        return [
            cls.create(adapter=adapter, session_id=session_id, **overrides) for _ in range(size)
        ]

    @classmethod
    async def acreate(
        cls, adapter: AsyncMessageAdder, session_id: str, **overrides: Any
    ) -> domain.Message:
        """``create`` for the async adapter: awaits ``adapter.add_message(session_id, new)``."""
        return await adapter.add_message(session_id, cls.build(**overrides))

    @classmethod
    def build_conversation(
        cls, turns: int = 3, *, system_prompt: bool = True, tools: bool = True
    ) -> list[domain.NewMessage]:
        """A plausible exchange: an optional system prompt, then ``turns`` user turns.

        Each turn is a user message and the assistant's answer; with ``tools``,
        every other answer first calls a tool and gets its result back (the
        ``tool_result`` carries the call's id).
        """
        if turns < 0:
            raise ValueError("turns must be at least 0")
        messages: list[domain.NewMessage] = []
        if system_prompt:
            messages.append(cls.build(system=True))
        for turn in range(turns):
            messages.append(cls.build(role=domain.MessageRole.USER))
            if tools and turn % 2 == 0:
                call = cls.build(tool_call=True)
                messages.append(call)
                tool_calls = call.metadata.tool_calls if call.metadata is not None else None
                messages.extend(
                    cls.build(tool_result=True, tool_call_id=tool.id, tool_name=tool.name)
                    for tool in tool_calls or ()
                )
            messages.append(cls.build(role=domain.MessageRole.ASSISTANT, use_blocks=False))
        return messages

    @classmethod
    def create_conversation(
        cls,
        adapter: MessageAdder,
        session_id: str,
        turns: int = 3,
        *,
        system_prompt: bool = True,
        tools: bool = True,
    ) -> list[domain.Message]:
        """``build_conversation``, appended in order; the stored messages."""
        return [
            adapter.add_message(session_id, message)
            for message in cls.build_conversation(turns, system_prompt=system_prompt, tools=tools)
        ]

    @classmethod
    async def acreate_conversation(
        cls,
        adapter: AsyncMessageAdder,
        session_id: str,
        turns: int = 3,
        *,
        system_prompt: bool = True,
        tools: bool = True,
    ) -> list[domain.Message]:
        """``create_conversation`` for the async adapter (appends one after another)."""
        stored = []
        for message in cls.build_conversation(turns, system_prompt=system_prompt, tools=tools):
            stored.append(await adapter.add_message(session_id, message))
        return stored
