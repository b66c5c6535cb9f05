"""OpenAI Agents SDK memory on the session store: ``DynamoDBSession``.

Install the extra (``pip install "session-store[openai-agents]"``), then::

    from session_store import AsyncDynamoDBAdapter
    from session_store.integrations.openai_agents import DynamoDBSession

    session = DynamoDBSession("conversation-123", AsyncDynamoDBAdapter("agent-sessions"))
    result = await Runner.run(agent, "Hello", session=session)

``DynamoDBSession`` implements the SDK's ``Session`` protocol (``session_id``,
``session_settings``, and the coroutines ``get_items(limit)``,
``add_items(items)``, ``pop_item()``, ``clear_session()``) on top of an
:class:`~session_store.AsyncDynamoDBAdapter`; a sync
:class:`~session_store.DynamoDBAdapter` is accepted too and wrapped with
``AsyncDynamoDBAdapter.from_sync`` (``close()`` then releases the wrapper's
worker threads, never the adapter passed in). It returns what the SDK's own
``SQLiteSession`` returns for the same calls; a parity test runs both.

How items are stored
--------------------
One item is one message of the session ``session_id``:

- ``role``: a message item keeps its role (``user``, ``assistant``;
  ``system`` and ``developer`` become ``system``). Items without a role:
  tool results (every ``type`` ending in ``_output``, such as
  ``function_call_output``) become ``tool``; ``mcp_approval_response`` (a
  person's decision) becomes ``user``; everything else the model produced
  (``function_call``, ``reasoning``, ``web_search_call``, ...) becomes
  ``assistant``, as does an unknown role.
- ``content``: readable text for people browsing the table (the CLI, the
  TypeScript service): a message's text parts (``[image]``/``[file]`` stand
  for attachments), ``name(arguments)`` for a call, the output of a tool
  result, the summary of a reasoning item, else ``[type]``. It is cut at
  ``CONTENT_LIMIT`` characters (ending in ``…``): it is a view, not the data.
- ``metadata.annotations["openaiAgentsItem"]`` (``ITEM_ANNOTATION``): the item
  itself, as JSON. ``get_items`` and ``pop_item`` return it, so they return
  exactly what was added (tool calls, tool outputs and unknown item types
  included), after the same JSON round trip ``SQLiteSession`` applies
  (tuples come back as lists).
- ``token_count`` is not set: ``get_context_window`` counts these messages as
  0 tokens unless the application sets counts with ``update_message``.

Items are checked before anything is written: ``add_items`` raises
``ValidationError`` and writes nothing when any item is not a JSON object, holds
NaN or an infinity, holds text UTF-8 cannot encode, or would make a message
over DynamoDB's 400 KB item limit (item plus readable content).

Messages that other code wrote into the session (no ``ITEM_ANNOTATION``) are
read as plain messages ``{"role": ..., "content": ...}``: ``user``,
``assistant`` and ``system`` keep their role, a ``tool`` message is read as a
``user`` message; text content stays text, content blocks become text (and, for
``user``, ``input_text``/``input_image`` parts). Every message is one item,
whoever wrote it.

The session item
----------------
Nothing is created up front. The first write creates the session with the
caller's ``session_id``, status ``active``, and the ``user_id``,
``active_agent_id`` and ``metadata`` given to the constructor (``metadata``
defaults to ``{"source": "openai-agents"}``); a session that already exists
(made by the application, another process, or a concurrent first write) is
used as it is and never changed. Each append is tried first and the session
created only when the adapter answers ``SessionNotFoundError``, so a write to
an existing session costs no extra request. With the adapter's
``session_ttl``, every append slides the expiry; once a session has expired,
``add_items`` raises ``SessionNotFoundError`` (the expired item still holds the
id) until it is swept or deleted.

Semantics and DynamoDB requests
-------------------------------
- ``get_items(limit)``: ``limit`` is the argument, else
  ``session_settings.limit``, as in ``SQLiteSession``. ``None`` (or a negative
  value, which ``SQLiteSession`` also reads as no limit) returns every item,
  oldest first: one query per 1 MB page. ``0`` returns ``[]`` without a
  request. ``n > 0`` returns the newest ``n`` items, oldest first, from one
  newest-first query of ``n`` messages, whatever the session's size.
- ``add_items(items)``: the adapter's ``add_messages``, one transaction (one
  request) for up to 99 items in list order (``append_batches``; fewer when
  they are large), all of a batch or none; the first write to a new session
  adds a failed append and a ``PutItem``. An empty list sends nothing. A list
  that needs several transactions is not atomic as a whole: if one fails, the
  batches before it stay stored.
- ``pop_item()``: removes and returns the newest item, ``None`` on an empty
  session: the adapter's ``pop_message``, 2 requests whatever the session's
  size. Concurrent pops, from any instance or process, return different items.
- ``clear_session()``: ``delete_all_messages``. Every item goes; the session
  item stays (with its user, agent, metadata and counters back at 0), so the
  session is usable at once and stays listed for its user. Delete the session
  through the adapter to remove it altogether.
- Writes run to completion even when the awaiting task is cancelled (as the
  SDK's own sessions do); the cancellation is raised once they are done.
- One ``DynamoDBSession`` runs its writes one at a time on each event loop, so
  concurrent ``pop_item`` calls on it return different items. Separate
  instances or processes on one ``session_id`` are not serialized: their
  ``add_items`` may interleave (each batch stays whole and in order).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

try:
    from agents.items import TResponseInputItem
    from agents.memory.session_settings import (
        SessionSettings,
        coerce_session_settings,
        resolve_session_limit,
    )
except ImportError as error:  # pragma: no cover - exercised in a subprocess without the SDK
    raise ImportError(
        "session_store.integrations.openai_agents needs the OpenAI Agents SDK: "
        'install session-store[openai-agents] (pip install "session-store[openai-agents]")'
    ) from error

from session_store import keys, models
from session_store._inputs import validated
from session_store.aio import AsyncDynamoDBAdapter
from session_store.domain import (
    MAX_LIMIT,
    Message,
    MessageRole,
    NewMessage,
    NewSession,
    SessionMetadata,
    TextBlock,
)
from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import SessionExistsError, SessionNotFoundError, ValidationError
from session_store.ids import new_message_id
from session_store.limits import append_batches, check_item_size

__all__ = [
    "CONTENT_LIMIT",
    "DEFAULT_METADATA",
    "ITEM_ANNOTATION",
    "DynamoDBSession",
    "items_of",
]

ITEM_ANNOTATION = "openaiAgentsItem"
"""Key under a message's ``metadata.annotations`` that holds the SDK item."""

CONTENT_LIMIT = 4000
"""Characters of readable ``content`` kept per message (the item is kept whole)."""

DEFAULT_METADATA: Mapping[str, Any] = {"source": "openai-agents"}
"""Session metadata written on first write when the constructor gets none."""

_T = TypeVar("_T")


# --- items -> messages ------------------------------------------------------------


def _role_of(item: Mapping[str, Any]) -> MessageRole:
    """The message role an item is stored under (see the module docstring)."""
    role = item.get("role")
    if role == "user":
        return MessageRole.USER
    if role in ("system", "developer"):
        return MessageRole.SYSTEM
    if role is not None:
        return MessageRole.ASSISTANT
    kind = item.get("type")
    if isinstance(kind, str) and kind.endswith("_output"):
        return MessageRole.TOOL
    if kind == "mcp_approval_response":
        return MessageRole.USER
    return MessageRole.ASSISTANT


def _part_text(part: object) -> str:
    """Readable text of one content part of a message or a tool output."""
    if isinstance(part, str):
        return part
    if not isinstance(part, Mapping):
        return json.dumps(part, ensure_ascii=False)
    kind = part.get("type")
    for field in ("text", "refusal"):
        value = part.get(field)
        if isinstance(value, str):
            return value
    if kind in ("input_image", "image_url"):
        return "[image]"
    if kind == "input_file":
        name = part.get("filename")
        return f"[file: {name}]" if isinstance(name, str) else "[file]"
    return f"[{kind}]" if isinstance(kind, str) else json.dumps(part, ensure_ascii=False)


def _content_text(content: object) -> str:
    if isinstance(content, list):
        return "\n".join(_part_text(part) for part in content)
    return _part_text(content)


def _readable(item: Mapping[str, Any]) -> str:
    """What a person browsing the table reads for ``item``, at most ``CONTENT_LIMIT`` chars."""
    kind = item.get("type")
    if "role" in item and "content" in item:
        text = _content_text(item["content"])
    elif isinstance(kind, str) and kind.endswith("_output") and "output" in item:
        text = _content_text(item["output"])
    elif isinstance(item.get("name"), str) and ("arguments" in item or "input" in item):
        arguments = item.get("arguments", item.get("input"))
        text = f"{item['name']}({_part_text(arguments)})"
    elif kind == "reasoning" and isinstance(item.get("summary"), list) and item["summary"]:
        text = _content_text(item["summary"])
    else:
        text = f"[{kind}]" if isinstance(kind, str) else "[item]"
    if len(text) > CONTENT_LIMIT:
        return text[: CONTENT_LIMIT - 1] + "…"
    return text


def _as_json(item: object) -> dict[str, Any]:
    """``item`` after a JSON round trip; ``ValidationError`` if it is not a JSON object."""
    if not isinstance(item, Mapping):
        raise ValidationError(f"an item must be a JSON object (a dict), got {type(item).__name__}")
    try:
        stored = json.loads(json.dumps(item, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValidationError(f"an item must be JSON (no NaN or infinities): {error}") from None
    return cast("dict[str, Any]", stored)


def _new_message(session_id: str, item: object) -> NewMessage:
    """The message that stores ``item``, checked against the 400 KB limit before any write."""
    stored = _as_json(item)
    new = validated(
        NewMessage,
        {
            "role": _role_of(stored),
            "content": _readable(stored),
            "metadata": {"annotations": {ITEM_ANNOTATION: stored}},
        },
    )
    # Sized as the adapter will write it (a fresh id, as long as any other), so a
    # batch with one oversized item fails before its first item is written.
    message_id = new_message_id()
    sized = Message.model_validate(
        {
            **new.model_dump(),
            "id": str(message_id),
            "session_id": session_id,
            "created_at": message_id.datetime,
        }
    )
    check_item_size(
        models.Message.from_domain(sized).serialize(),
        f"the message for an OpenAI Agents item of session {session_id!r}",
    )
    return new


# --- messages -> items ------------------------------------------------------------


def _foreign_item(message: Message) -> dict[str, Any]:
    """A message written by other code, as a plain role/content item."""
    role = "user" if message.role in (MessageRole.USER, MessageRole.TOOL) else message.role.value
    content = message.content
    if isinstance(content, str):
        return {"role": role, "content": content}
    if message.role is MessageRole.USER:
        parts: list[dict[str, Any]] = [
            {"type": "input_text", "text": block.text}
            if isinstance(block, TextBlock)
            else {"type": "input_image", "image_url": block.image_url.url, "detail": "auto"}
            for block in content
        ]
        return {"role": role, "content": parts}
    text = "\n".join(block.text if isinstance(block, TextBlock) else "[image]" for block in content)
    return {"role": role, "content": text}


def _item_of(message: Message) -> TResponseInputItem:
    """The SDK item a message stores (see ``_foreign_item`` for messages without one)."""
    annotations = message.metadata.annotations if message.metadata is not None else None
    if annotations is not None and isinstance(annotations.get(ITEM_ANNOTATION), dict):
        return cast("TResponseInputItem", annotations[ITEM_ANNOTATION])
    return cast("TResponseInputItem", _foreign_item(message))


# --- the session ----------------------------------------------------------------------


async def _finish_despite_cancellation(operation: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``operation`` to its end even if the caller is cancelled; re-raise that after."""
    task = asyncio.ensure_future(operation())
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError as error:
            cancelled = cancelled or error
    if cancelled is not None:
        if not task.cancelled():
            task.exception()  # retrieved: the caller gets the cancellation instead
        raise cancelled
    return task.result()


class DynamoDBSession:
    """An OpenAI Agents SDK ``Session`` whose items are messages of one stored session.

    ``adapter`` is an :class:`~session_store.AsyncDynamoDBAdapter`, or a
    :class:`~session_store.DynamoDBAdapter` that is wrapped (``close()`` then
    frees the wrapper, not the adapter). ``session_settings`` works as in the
    SDK's sessions (its ``limit`` is the default of ``get_items``).
    ``user_id``, ``active_agent_id`` and ``metadata`` are written only when
    the first write creates the session. The module docstring describes the
    storage layout, the semantics and the requests of every method.
    """

    session_id: str
    session_settings: SessionSettings | None

    def __init__(
        self,
        session_id: str,
        adapter: AsyncDynamoDBAdapter | DynamoDBAdapter,
        *,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
        user_id: str | None = None,
        active_agent_id: str | None = None,
        metadata: SessionMetadata | Mapping[str, Any] | None = None,
    ) -> None:
        keys.check_session_id(session_id)
        if user_id is not None:
            keys.check_user_id(user_id)
        if active_agent_id is not None:
            keys.check_agent_id(active_agent_id)
        if isinstance(adapter, AsyncDynamoDBAdapter):
            self._adapter, self._owns_adapter = adapter, False
        elif isinstance(adapter, DynamoDBAdapter):
            self._adapter, self._owns_adapter = AsyncDynamoDBAdapter.from_sync(adapter), True
        else:
            raise ValidationError(
                "expected an AsyncDynamoDBAdapter or a DynamoDBAdapter, "
                f"got {type(adapter).__name__}"
            )
        self.session_id = session_id
        if session_settings is None:
            self.session_settings = SessionSettings()
        elif isinstance(session_settings, Mapping):
            self.session_settings = coerce_session_settings(dict(session_settings))
        else:
            self.session_settings = coerce_session_settings(session_settings)
        self._new_session = validated(
            NewSession,
            {
                "id": session_id,
                "status": "active",
                "user_id": user_id,
                "active_agent_id": active_agent_id,
                "metadata": DEFAULT_METADATA if metadata is None else metadata,
            },
        )
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._locks_guard = threading.Lock()

    def __repr__(self) -> str:
        return f"DynamoDBSession(session_id={self.session_id!r}, adapter={self._adapter!r})"

    @property
    def adapter(self) -> AsyncDynamoDBAdapter:
        """The adapter the session reads and writes through."""
        return self._adapter

    # --- the Session protocol ------------------------------------------------------

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The newest ``limit`` items (default ``session_settings.limit``), oldest first.

        ``None`` or a negative limit returns every item; ``0`` returns ``[]``.
        """
        chosen = resolve_session_limit(limit, self.session_settings)
        if chosen == 0:
            return []
        if chosen is None or chosen < 0 or chosen > MAX_LIMIT:
            messages = await self._adapter.get_messages(self.session_id)
            if chosen is not None and chosen > 0:
                messages = messages[-chosen:]
        else:
            newest = await self._adapter.get_messages(
                self.session_id, {"limit": chosen, "order": "desc"}
            )
            messages = newest[::-1]
        return [_item_of(message) for message in messages]

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append ``items`` in order, one message each (nothing is written if one is invalid)."""
        if not items:
            return
        messages = [_new_message(self.session_id, item) for item in items]

        async def append_all() -> None:
            async with self._write_lock():
                for batch in append_batches(messages):
                    await self._append(batch)

        await _finish_despite_cancellation(append_all)

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove and return the newest item; ``None`` when the session has none."""

        async def pop() -> TResponseInputItem | None:
            async with self._write_lock():
                newest = await self._adapter.pop_message(self.session_id)
                return None if newest is None else _item_of(newest)

        return await _finish_despite_cancellation(pop)

    async def clear_session(self) -> None:
        """Remove every item; the session item stays, ready for new items."""

        async def clear() -> None:
            async with self._write_lock():
                await self._adapter.delete_all_messages(self.session_id)

        await _finish_despite_cancellation(clear)

    # --- lifecycle ---------------------------------------------------------------------

    async def close(self) -> None:
        """Free the worker threads of a wrapper this session made; adapters passed in stay open."""
        if self._owns_adapter:
            await self._adapter.close()

    # --- plumbing ----------------------------------------------------------------------

    def _write_lock(self) -> asyncio.Lock:
        """This session's write lock on the running loop (an ``asyncio.Lock`` is bound to one)."""
        loop = asyncio.get_running_loop()
        with self._locks_guard:
            lock = self._locks.get(loop)
            if lock is None:
                lock = self._locks[loop] = asyncio.Lock()
            return lock

    async def _append(self, batch: list[NewMessage]) -> None:
        """Append a batch in one transaction, creating the session on the first write to it."""
        try:
            await self._adapter.add_messages(self.session_id, batch)
            return
        except SessionNotFoundError:
            pass
        # Created meanwhile by someone else: theirs is the session to use.
        with contextlib.suppress(SessionExistsError):
            await self._adapter.create_session(self._new_session)
        await self._adapter.add_messages(self.session_id, batch)


def items_of(messages: Sequence[Message]) -> list[TResponseInputItem]:
    """The SDK items ``messages`` stand for, in order: what ``get_items`` makes of them.

    For code that reads a session's messages through the adapter itself
    (a page, a time range) and wants them as SDK items.
    """
    return [_item_of(message) for message in messages]
