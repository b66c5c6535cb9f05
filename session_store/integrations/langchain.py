"""LangChain chat message history kept in the session store.

``DynamoDBChatMessageHistory`` is a ``langchain_core`` ``BaseChatMessageHistory``
whose messages are the messages of one session of the table. Install the
extra (``pip install 'session-store[langchain]'``, which brings
``langchain-core``); the core package never imports LangChain::

    from session_store.integrations.langchain import DynamoDBChatMessageHistory

    history = DynamoDBChatMessageHistory("chat-42", store)  # store: a DynamoDBAdapter
    history.add_messages([HumanMessage("Where is my refund?"), AIMessage("Let me check.")])
    assert history.messages == [HumanMessage("Where is my refund?"), AIMessage("Let me check.")]

With ``RunnableWithMessageHistory``, pass
``lambda session_id: DynamoDBChatMessageHistory(session_id, store)`` as
``get_session_history``.

Decisions
---------
Sessions
    The history's ``session_id`` is the session's id. The session item is
    created on the first write, not before: ``add_message`` is tried first
    (1 request when the session exists, the usual case); on
    ``SessionNotFoundError`` the session is created with that id (status
    ``active``, plus the ``new_session`` fields given to the constructor)
    and the message is added again, 3 requests in all. A concurrent creator
    winning the race (``SessionExistsError``) is fine. An expired session
    (``session_ttl``) has no messages, and the next write creates it again
    under the same id (a new incarnation, without the old messages), as
    LangChain's Redis history does with a ``ttl``. Reading or clearing a
    session that does not exist yet gives no messages and creates nothing.
    Every read also gets the session item (is it live?): 2 requests, sent
    together by ``aget_messages``.

    Assigning ``history.messages = [...]`` replaces the history, as with
    ``InMemoryChatMessageHistory``: every new message is checked, then the
    history is cleared and the new messages appended (not atomic as a whole).

    A stored message that cannot be decoded (written behind the adapter's
    back) is skipped and logged, as ``UnreadableItemError`` would lose the
    rest of the history; under a ``max_tokens`` window it is refused with
    ``UnreadableItemError`` (the window is computed by the store).

Messages
    One LangChain message is one stored message. Its role: ``HumanMessage``
    is ``user``, ``AIMessage`` is ``assistant``, ``SystemMessage`` is
    ``system``, ``ToolMessage`` and ``FunctionMessage`` are ``tool``; the
    chunk classes count as their message classes. A ``ChatMessage`` is
    mapped by its ``role`` (``user``/``human``, ``assistant``/``ai``,
    ``system``/``developer``, ``tool``/``function``, any case) and is
    ``user`` for any other role; any other message (``RemoveMessage``) is
    ``user``. The role only serves readers that do not know LangChain: the
    message itself is kept whole.

    The whole message (``message_to_dict``: its type and every field: AI
    tool calls, invalid tool calls, usage metadata, ``tool_call_id``,
    ``status``, ``artifact``, ``name``, ``id``, ``additional_kwargs``,
    ``response_metadata``) is stored as JSON in
    ``metadata.annotations["langchain"]`` (``LANGCHAIN_ANNOTATION``), so a
    message read back is equal to the message written, including its class.
    String content is stored once, as the message's ``content``, and is left
    out of the annotation: an edit of ``content`` through the adapter shows
    in LangChain too. List content (content parts) stays in the annotation,
    exactly, and ``content`` holds its text parts joined (``message.text``),
    for readers that do not know LangChain. Values JSON cannot carry
    exactly (a tuple, a ``bytes`` artifact, NaN, a non-string dict key) and
    message classes ``messages_from_dict`` cannot rebuild are refused with
    ``ValidationError`` before anything is written.

    For other readers, an AI message's tool calls are also written to
    ``metadata.tool_calls`` (``id``, ``name``, ``arguments`` as JSON text; a
    missing call id as ``""``) and a tool message's result to
    ``metadata.tool_results`` (``tool_call_id``, its text as ``result``,
    ``is_error`` when ``status`` is ``error``). Messages written without the
    annotation (by the plain adapter, or by the TypeScript service) are
    read by role, from those same fields: ``user`` as ``HumanMessage``,
    ``assistant`` as ``AIMessage`` with its tool calls (arguments that are
    not a JSON object become invalid tool calls), ``system`` as
    ``SystemMessage``, ``tool`` as ``ToolMessage`` of the first tool result
    (``tool_call_id`` ``""`` when there is none), content blocks as content
    parts, and the stored message id as the LangChain ``id``. An annotation
    that does not hold a readable message is read the same way.

Token counts
    A message's ``token_count`` is what ``token_counter(message)`` returns
    when the constructor is given one (e.g.
    ``lambda m: count_tokens_approximately([m])``); otherwise an AI
    message's ``usage_metadata["output_tokens"]`` (the size of the message
    itself: ``total_tokens`` also counts the prompt, which is the earlier
    history, and would count it twice in a budget); otherwise none. The
    session's ``token_count`` adds them up.

Windows, applied on read
    ``max_messages=N``: ``messages`` returns the newest ``N`` messages,
    oldest first, read with one newest-first query of ``N`` items.
    ``max_tokens=T`` (with ``reserve_tokens``): ``messages`` returns
    ``adapter.get_context_window(session_id, T, reserve_tokens=...)``: every
    system message plus the newest contiguous run of the others that fits
    the budget, by stored ``token_count`` (a message without one counts 0).
    The two are exclusive. A window never deletes: ``add_messages`` still
    appends to the whole history, and a history without a window (or the
    adapter) on the same session id reads all of it.

Writes
    ``add_messages`` stores the messages in order through the adapter's
    ``add_messages``: one transaction (one request) for up to 99 messages
    (``session_store.limits.append_batches``; fewer when they are large), all
    of a batch or none of it. A list that needs several transactions is not
    atomic as a whole: a failure leaves the batches before it stored. Every
    message is checked to read back equal before the first is written
    (DynamoDB's 400 KB item limit is checked before each batch is sent;
    an adapter with ``offload=S3Offload(...)`` stores larger messages, such as
    base64 images, with their payloads in S3, and reads them back equal).
    ``clear()`` is ``delete_all_messages``: the history is gone, the session
    item stays and takes new messages.

Sync and async
    ``adapter`` is a ``DynamoDBAdapter`` (or any ``StorageAdapter``, such as
    ``MemoryAdapter`` in tests) or an ``AsyncDynamoDBAdapter``. The sync
    methods call the sync adapter and block, as LangChain expects (with an
    ``AsyncDynamoDBAdapter``, its ``.sync`` adapter). ``aget_messages``,
    ``aadd_messages`` and ``aclear`` never block the event loop: with an
    ``AsyncDynamoDBAdapter`` they await its coroutines (bridged calls on
    the loop, its connection pool); with a sync adapter they run the sync method on a
    worker thread (``asyncio.to_thread``). The history does not own the
    adapter and never closes it.

This module is long because it covers LangChain's whole history surface, sync and async,
with the message conversion.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

try:
    from langchain_core.chat_history import BaseChatMessageHistory
    from langchain_core.messages import (
        AIMessage,
        BaseMessage,
        ChatMessage,
        FunctionMessage,
        HumanMessage,
        InvalidToolCall,
        SystemMessage,
        ToolCall,
        ToolMessage,
        message_to_dict,
        messages_from_dict,
    )
    from langchain_core.messages.tool import invalid_tool_call, tool_call
except ImportError as missing:
    raise ImportError(
        "session_store.integrations.langchain needs langchain-core: "
        "install session-store[langchain]"
    ) from missing

from session_store import keys
from session_store._inputs import validated
from session_store.aio import AsyncDynamoDBAdapter
from session_store.attributes import dumps_compact
from session_store.domain import Message, MessageContent, MessageRole, NewMessage, NewSession
from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import SessionExistsError, SessionNotFoundError, ValidationError
from session_store.integrations._unreadable import (
    UnreadableItemError,
    is_unreadable,
    readable_messages,
)
from session_store.limits import append_batches
from session_store.protocol import StorageAdapter

__all__ = [
    "LANGCHAIN_ANNOTATION",
    "DynamoDBChatMessageHistory",
    "TokenCounter",
    "from_stored_message",
    "role_of",
    "to_stored_message",
]

LANGCHAIN_ANNOTATION: Final = "langchain"
"""Key of ``metadata.annotations`` that holds the serialized LangChain message."""

TokenCounter = Callable[[BaseMessage], int | None]
"""Tokens of one message, stored as its ``token_count`` (``None``: not counted)."""

_CHAT_ROLES: Final[Mapping[str, MessageRole]] = {
    "user": MessageRole.USER,
    "human": MessageRole.USER,
    "assistant": MessageRole.ASSISTANT,
    "ai": MessageRole.ASSISTANT,
    "system": MessageRole.SYSTEM,
    "developer": MessageRole.SYSTEM,
    "tool": MessageRole.TOOL,
    "function": MessageRole.TOOL,
}

LangChainContent = str | list[str | dict[Any, Any]]
"""What a LangChain message's ``content`` holds."""


# --- LangChain message <-> stored message ------------------------------------------


def role_of(message: BaseMessage) -> MessageRole:
    """The stored role of a LangChain message (see the module docstring)."""
    if isinstance(message, HumanMessage):
        return MessageRole.USER
    if isinstance(message, AIMessage):
        return MessageRole.ASSISTANT
    if isinstance(message, SystemMessage):
        return MessageRole.SYSTEM
    if isinstance(message, ToolMessage | FunctionMessage):
        return MessageRole.TOOL
    if isinstance(message, ChatMessage):
        return _CHAT_ROLES.get(message.role.strip().lower(), MessageRole.USER)
    return MessageRole.USER


def _serialized(message: BaseMessage) -> dict[str, Any]:
    """``message_to_dict(message)`` as JSON, once it is certain to read back equal."""
    if not isinstance(message, BaseMessage):
        raise ValidationError(f"expected a LangChain BaseMessage, got {type(message).__name__}")
    kind = type(message).__name__
    serialized = message_to_dict(message)
    try:
        as_json = json.loads(json.dumps(serialized, allow_nan=False))
        restored = messages_from_dict([as_json])[0]
    except (TypeError, ValueError, RecursionError) as error:
        # ValueError covers NaN, unknown message types and pydantic's errors.
        raise ValidationError(f"{kind} cannot be stored exactly: {error}") from None
    if as_json != serialized or restored != message:
        raise ValidationError(
            f"{kind} cannot be stored exactly: it holds values JSON does not keep as they are "
            "(tuples, non-string keys, ...) or a class messages_from_dict does not rebuild"
        )
    return as_json  # type: ignore[no-any-return]  # json.loads of a dict's text


def _token_count(message: BaseMessage, counter: TokenCounter | None) -> int | None:
    if counter is not None:
        return counter(message)
    if isinstance(message, AIMessage) and message.usage_metadata is not None:
        return message.usage_metadata["output_tokens"]
    return None


def to_stored_message(
    message: BaseMessage, *, token_counter: TokenCounter | None = None
) -> NewMessage:
    """The ``NewMessage`` that stores ``message`` (``ValidationError`` if it cannot be exact)."""
    serialized = _serialized(message)
    content: MessageContent
    if isinstance(message.content, str):
        content = message.content
        # Stored once, as the message's content; restored from there on read.
        del serialized["data"]["content"]
    else:
        content = str(message.text)
    metadata: dict[str, Any] = {"annotations": {LANGCHAIN_ANNOTATION: serialized}}
    if isinstance(message, AIMessage) and message.tool_calls:
        metadata["tool_calls"] = [
            {
                "id": call.get("id") or "",
                "name": call["name"],
                "arguments": dumps_compact(call["args"]),
            }
            for call in message.tool_calls
        ]
    if isinstance(message, ToolMessage):
        metadata["tool_results"] = [
            {
                "tool_call_id": message.tool_call_id,
                "result": str(message.text),
                "is_error": message.status == "error",
            }
        ]
    return validated(
        NewMessage,
        {
            "role": role_of(message),
            "content": content,
            "token_count": _token_count(message, token_counter),
            "metadata": metadata,
        },
    )


def _langchain_content(content: MessageContent) -> LangChainContent:
    if isinstance(content, str):
        return content
    return [block.model_dump(by_alias=True, mode="json") for block in content]


def _tool_calls(stored: Message) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """An assistant message's ``metadata.tool_calls`` as LangChain (valid, invalid) calls."""
    valid: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for call in (stored.metadata.tool_calls if stored.metadata else None) or []:
        call_id = call.id or None
        try:
            arguments = json.loads(call.arguments)
        except ValueError:
            arguments = None
        if isinstance(arguments, dict):
            valid.append(tool_call(name=call.name, args=arguments, id=call_id))
        else:
            invalid.append(
                invalid_tool_call(
                    name=call.name,
                    args=call.arguments,
                    id=call_id,
                    error="arguments are not a JSON object",
                )
            )
    return valid, invalid


def _from_fields(stored: Message) -> BaseMessage:
    """A message written without the LangChain annotation, read by its role."""
    content = _langchain_content(stored.content)
    if stored.role is MessageRole.USER:
        return HumanMessage(content=content, id=stored.id)
    if stored.role is MessageRole.SYSTEM:
        return SystemMessage(content=content, id=stored.id)
    if stored.role is MessageRole.ASSISTANT:
        valid, invalid = _tool_calls(stored)
        return AIMessage(
            content=content, id=stored.id, tool_calls=valid, invalid_tool_calls=invalid
        )
    results = (stored.metadata.tool_results if stored.metadata else None) or []
    first = results[0] if results else None
    return ToolMessage(
        content=content,
        id=stored.id,
        tool_call_id=first.tool_call_id if first else "",
        status="error" if first is not None and first.is_error else "success",
    )


def from_stored_message(stored: Message) -> BaseMessage:
    """The LangChain message a stored message holds (equal to the one written)."""
    annotations = stored.metadata.annotations if stored.metadata else None
    serialized: Any = (annotations or {}).get(LANGCHAIN_ANNOTATION)
    if isinstance(serialized, dict) and isinstance(serialized.get("data"), dict):
        data: dict[str, Any] = dict(serialized["data"])
        data.setdefault("content", _langchain_content(stored.content))
        try:
            return messages_from_dict([{"type": serialized.get("type"), "data": data}])[0]
        except (TypeError, ValueError):
            pass  # Not a message this LangChain can rebuild: read the plain fields.
    return _from_fields(stored)


# --- the history --------------------------------------------------------------------


def _window_size(value: object, name: str, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{name} must be an int of at least {minimum}")
    return value


class DynamoDBChatMessageHistory(BaseChatMessageHistory):
    """A LangChain chat history: the messages of one session of the table.

    ``adapter`` is a ``DynamoDBAdapter`` (any ``StorageAdapter``) or an
    ``AsyncDynamoDBAdapter``; ``max_messages`` or ``max_tokens`` (with
    ``reserve_tokens``) window what ``messages`` returns, never deleting;
    ``token_counter`` gives each written message its ``token_count``;
    ``new_session`` holds fields (``user_id``, ``active_agent_id``,
    ``metadata``, ...) of the session created on the first write. See the
    module docstring for how messages are stored and what each call costs.
    Bad arguments raise ``ValidationError``.
    """

    session_id: str

    def __init__(
        self,
        session_id: str,
        adapter: StorageAdapter | AsyncDynamoDBAdapter,
        *,
        max_messages: int | None = None,
        max_tokens: int | None = None,
        reserve_tokens: int = 0,
        token_counter: TokenCounter | None = None,
        new_session: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.session_id = keys.check_session_id(session_id)
        self._async: AsyncDynamoDBAdapter | None
        self._sync: StorageAdapter
        if isinstance(adapter, AsyncDynamoDBAdapter):
            self._async, self._sync = adapter, adapter.sync
        elif isinstance(adapter, StorageAdapter):
            self._async, self._sync = None, adapter
        else:
            raise ValidationError(
                "adapter must be a DynamoDBAdapter (a StorageAdapter) or an AsyncDynamoDBAdapter, "
                f"got {type(adapter).__name__}"
            )
        self.max_messages = _window_size(max_messages, "max_messages", 1)
        self.max_tokens = _window_size(max_tokens, "max_tokens", 0)
        self.reserve_tokens = _window_size(reserve_tokens, "reserve_tokens", 0) or 0
        if self.max_messages is not None and self.max_tokens is not None:
            raise ValidationError("max_messages and max_tokens are exclusive: give one window")
        self.token_counter = token_counter
        fields = dict(new_session or {})
        if fields.setdefault("id", session_id) != session_id:
            raise ValidationError("new_session cannot name another session id")
        fields.setdefault("status", "active")
        self._new_session = validated(NewSession, fields)

    def __repr__(self) -> str:
        return f"DynamoDBChatMessageHistory(session_id={self.session_id!r})"

    # --- reading -------------------------------------------------------------------

    def _window_query(self) -> dict[str, Any]:
        """The newest-first query of ``max_messages`` (also without a window: all)."""
        if self.max_messages is None:
            return {}
        return {"order": "desc", "limit": self.max_messages}

    def _converted(self, stored: list[Message]) -> list[BaseMessage]:
        if self.max_messages is not None:
            stored = stored[::-1]  # read newest first
        return [from_stored_message(message) for message in stored]

    def _read_sync(self) -> list[Message]:
        """The stored messages of the window (unreadable ones skipped), as read."""
        if self.max_tokens is not None:
            try:
                return self._sync.get_context_window(
                    self.session_id, self.max_tokens, reserve_tokens=self.reserve_tokens
                )
            except Exception as error:
                if not is_unreadable(error):
                    raise
                raise UnreadableItemError(
                    f"a message of session {self.session_id!r} cannot be read: {error}"
                ) from error
        try:
            return self._sync.get_messages(self.session_id, self._window_query())
        except Exception as error:
            if not is_unreadable(error) or not isinstance(self._sync, DynamoDBAdapter):
                raise
            readable = readable_messages(self._sync, self.session_id, newest=self.max_messages)
            # In the order get_messages gives them: newest first under a window.
            return readable if self.max_messages is None else readable[::-1]

    @property
    def messages(self) -> list[BaseMessage]:
        """The history (or its window), oldest first; ``[]`` before the first write.

        An absent or expired session has no messages. Assigning a list
        replaces the history: ``clear()``, then ``add_messages`` (not atomic).
        """
        if self._sync.get_session(self.session_id) is None:
            return []
        return self._converted(self._read_sync())

    @messages.setter
    def messages(self, messages: Sequence[BaseMessage]) -> None:
        checked = self._stored(messages)  # every message checked before the history is cleared
        self.clear()
        self._append_sync(checked)

    async def aget_messages(self) -> list[BaseMessage]:
        """``messages``, without blocking the event loop."""
        if self._async is None:
            return await asyncio.to_thread(lambda: self.messages)
        session, stored = await asyncio.gather(
            self._async.get_session(self.session_id), self._read_async(self._async)
        )
        return [] if session is None else self._converted(stored)

    async def _read_async(self, adapter: AsyncDynamoDBAdapter) -> list[Message]:
        """``_read_sync`` through the async adapter's coroutines."""
        try:
            if self.max_tokens is not None:
                return await adapter.get_context_window(
                    self.session_id, self.max_tokens, reserve_tokens=self.reserve_tokens
                )
            return await adapter.get_messages(self.session_id, self._window_query())
        except Exception as error:
            if not is_unreadable(error):
                raise
        return await asyncio.to_thread(self._read_sync)  # the slow path, skipping what it must

    # --- writing -------------------------------------------------------------------

    def _stored(self, messages: Sequence[BaseMessage]) -> list[NewMessage]:
        """Every message as stored, all checked before any is written."""
        if isinstance(messages, BaseMessage):
            raise ValidationError("add_messages takes a sequence of messages, not one message")
        return [to_stored_message(m, token_counter=self.token_counter) for m in messages]

    def add_message(self, message: BaseMessage) -> None:
        """Append one message (1 request; 3 when it creates the session)."""
        self.add_messages([message])

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append the messages in order: one transaction for up to 99 of them.

        An absent or expired session is created (again) with this id first.
        """
        self._append_sync(self._stored(messages))

    def _append_sync(self, stored: list[NewMessage]) -> None:
        for batch in append_batches(stored):
            try:
                self._sync.add_messages(self.session_id, batch)
            except SessionNotFoundError:
                with contextlib.suppress(SessionExistsError):
                    self._sync.create_session(self._new_session)
                self._sync.add_messages(self.session_id, batch)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """``add_messages``, without blocking the event loop."""
        if self._async is None:
            await asyncio.to_thread(self.add_messages, messages)
            return
        for batch in append_batches(self._stored(messages)):
            try:
                await self._async.add_messages(self.session_id, batch)
            except SessionNotFoundError:
                with contextlib.suppress(SessionExistsError):
                    await self._async.create_session(self._new_session)
                await self._async.add_messages(self.session_id, batch)

    def clear(self) -> None:
        """Delete every message of the session; the session stays and takes new ones."""
        self._sync.delete_all_messages(self.session_id)

    async def aclear(self) -> None:
        """``clear``, without blocking the event loop."""
        if self._async is None:
            await asyncio.to_thread(self.clear)
        else:
            await self._async.delete_all_messages(self.session_id)
