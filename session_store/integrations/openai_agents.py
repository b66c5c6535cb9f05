"""OpenAI Agents SDK memory on the session store: ``DynamoDBSession``.

Install the extra (``pip install "session-store[openai-agents]"``), then::

    from session_store import AsyncDynamoDBAdapter
    from session_store.integrations.openai_agents import DynamoDBSession

    session = DynamoDBSession("conversation-123", AsyncDynamoDBAdapter("agent-sessions"))
    result = await Runner.run(agent, "Hello", session=session)

``DynamoDBSession`` implements the SDK's ``Session`` protocol (``session_id``,
``session_settings``, and the coroutines ``get_items(limit)``,
``add_items(items)``, ``pop_item()``, ``clear_session()``) on top of an
:class:`~session_store.AsyncDynamoDBAdapter` (its coroutines are awaited) or a
:class:`~session_store.DynamoDBAdapter` (its calls run on worker threads). It
returns what the SDK's own ``SQLiteSession`` returns for the same calls (a
parity test runs both, and the SDK's own session tests have counterparts
here). Checking and encoding items runs on worker threads too: no call holds
the event loop for long, whatever the items' size. ``close()`` is synchronous
and idempotent, as ``SQLiteSession.close()``: afterwards every call raises
``RuntimeError``; the adapter passed in stays open (the session owns nothing).

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
over DynamoDB's 400 KB item limit (item plus readable content) — or, when the
adapter offloads large messages to S3 (``offload=S3Offload(...)``), a payload
over ``S3Offload.max_bytes``: then an item of any size up to that (a base64
image, a long tool output) is stored, and read back equal. A value JSON
cannot encode (an ``object()``, a ``set``) raises ``ItemNotJSONError``, both a
``ValidationError`` and the ``TypeError`` ``SQLiteSession`` raises.

A stored message that cannot be decoded (written behind the adapter's back:
``metadata`` that is not JSON, say) is skipped by ``get_items`` and logged on
the ``session_store.integrations`` logger, as ``SQLiteSession`` skips a
corrupt row; ``limit`` counts readable items. ``pop_item`` never removes what
it cannot return: when the newest message is unreadable it raises
``UnreadableItemError`` (a ``StorageError``) and removes nothing, where
``SQLiteSession`` drops the row. Delete such a message through the adapter.

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
``session_ttl``, every append slides the expiry. An expired session is empty,
as a ``RedisSession`` whose ``ttl`` ran out: ``get_items`` returns ``[]``,
``pop_item`` ``None``, and the next ``add_items`` creates the session again
with the same id (a new incarnation: counters from zero, none of the old
items), so a conversation id stays usable for ever.

Semantics and DynamoDB requests
-------------------------------
- ``get_items(limit)``: ``limit`` is the argument, else
  ``session_settings.limit``, as in ``SQLiteSession``. ``None`` (or a negative
  value, which ``SQLiteSession`` also reads as no limit) returns every item,
  oldest first: one query per 1 MB page. ``0`` returns ``[]`` without a
  request. ``n > 0`` returns the newest ``n`` items, oldest first, from one
  newest-first query of ``n`` messages, whatever the session's size. Each
  read also gets the session item (is it live?), sent at the same time as
  the query.
- ``add_items(items)``: the adapter's ``add_messages``, one transaction (one
  request) for up to 99 items in list order (``append_batches``; fewer when
  they are large), all of a batch or none; the first write to a new session
  adds a failed append and a ``PutItem``. An empty list sends nothing. A list
  that needs several transactions is not atomic as a whole: if one fails, the
  batches before it stay stored.
- ``pop_item()``: removes and returns the newest item, ``None`` on an empty
  session: the session item and the newest message are read together (is it
  live, is it readable?), then the adapter's ``pop_message`` (2 requests):
  4 requests whatever the session's size. Concurrent pops, from any instance
  or process, return different items.
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

This module is long because it covers the SDK's whole session protocol, with the item
conversion and the off-loop encoding.
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
from session_store.integrations._unreadable import (
    UnreadableItemError,
    is_unreadable,
    readable_messages,
)
from session_store.limits import append_batches, check_item_size
from session_store.offload import S3Offload, plan_offload

__all__ = [
    "CONTENT_LIMIT",
    "DEFAULT_METADATA",
    "ITEM_ANNOTATION",
    "DynamoDBSession",
    "ItemNotJSONError",
    "UnreadableItemError",
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


class ItemNotJSONError(ValidationError, TypeError):
    """An item holds a value JSON cannot encode: a ``TypeError``, as ``json.dumps`` raises.

    ``SQLiteSession.add_items`` raises ``TypeError`` for such an item; this one
    is also the package's ``ValidationError``.
    """


def _as_json(item: object) -> dict[str, Any]:
    """``item`` after a JSON round trip; ``ValidationError`` (or its TypeError) if not JSON."""
    if not isinstance(item, Mapping):
        raise ValidationError(f"an item must be a JSON object (a dict), got {type(item).__name__}")
    try:
        stored = json.loads(json.dumps(item, allow_nan=False))
    except TypeError as error:
        raise ItemNotJSONError(f"an item must be JSON: {error}") from None
    except ValueError as error:
        raise ValidationError(f"an item must be JSON (no NaN or infinities): {error}") from None
    return cast("dict[str, Any]", stored)


def _new_message(session_id: str, item: object, offload: S3Offload | None = None) -> NewMessage:
    """The message that stores ``item``, checked before any write: against the 400 KB
    limit, or with ``offload`` against what the adapter offloads (``max_bytes``)."""
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
    item_written = models.Message.from_domain(sized).serialize()
    what = f"the message for an OpenAI Agents item of session {session_id!r}"
    if offload is not None:
        try:
            plan_offload(item_written, offload)
        except ValidationError as error:
            raise ValidationError(f"{what}: {error}") from None
        return new
    check_item_size(item_written, what)
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
    """Run ``operation`` to its end even if the caller is cancelled; re-raise that after.

    Once cancelled, the caller gets the cancellation, whatever the operation's
    outcome (a later failure is retrieved, so the loop reports no error).
    """
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


def _encoded(
    session_id: str, items: Sequence[object], offload: S3Offload | None = None
) -> list[list[NewMessage]]:
    """Every item as a message, in append batches: all checked before any is written."""
    return list(append_batches([_new_message(session_id, item, offload) for item in items]))


class DynamoDBSession:
    """An OpenAI Agents SDK ``Session`` whose items are messages of one stored session.

    ``adapter`` is an :class:`~session_store.AsyncDynamoDBAdapter` (its
    coroutines are awaited) or a :class:`~session_store.DynamoDBAdapter` (its
    calls run on worker threads); the session never closes it.
    ``session_settings`` works as in the SDK's sessions (its ``limit`` is the
    default of ``get_items``). ``user_id``, ``active_agent_id`` and
    ``metadata`` are written only when a write creates the session. The
    module docstring describes the storage layout, the semantics and the
    requests of every method.
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
        if not isinstance(adapter, AsyncDynamoDBAdapter | DynamoDBAdapter):
            raise ValidationError(
                "expected an AsyncDynamoDBAdapter or a DynamoDBAdapter, "
                f"got {type(adapter).__name__}"
            )
        self._adapter = adapter
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
        self._closed = False
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._locks_guard = threading.Lock()

    def __repr__(self) -> str:
        return f"DynamoDBSession(session_id={self.session_id!r}, adapter={self._adapter!r})"

    @property
    def adapter(self) -> AsyncDynamoDBAdapter | DynamoDBAdapter:
        """The adapter the session reads and writes through, as it was passed in."""
        return self._adapter

    @property
    def closed(self) -> bool:
        return self._closed

    # --- the Session protocol ------------------------------------------------------

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The newest ``limit`` items (default ``session_settings.limit``), oldest first.

        ``None`` or a negative limit returns every item; ``0`` returns ``[]``.
        An absent or expired session has no items. Messages that cannot be
        decoded are skipped (and logged); ``limit`` counts readable items.
        """
        self._check_open()
        chosen = resolve_session_limit(limit, self.session_settings)
        if chosen == 0:
            return []
        newest = chosen if chosen is not None and 0 < chosen <= MAX_LIMIT else None
        session, messages = await asyncio.gather(
            self._call(DynamoDBAdapter.get_session, self.session_id),
            self._read(newest),
        )
        if session is None:
            return []
        if chosen is not None and chosen > 0:
            messages = messages[-chosen:]
        return [_item_of(message) for message in messages]

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append ``items`` in order, one message each (nothing is written if one is invalid).

        An item JSON cannot encode raises ``TypeError`` (``ItemNotJSONError``),
        as in ``SQLiteSession``; every item is checked and encoded off the event loop.
        """
        self._check_open()
        if not items:
            return
        offload: S3Offload | None = getattr(self._sync_adapter(), "offload", None)
        batches = await asyncio.to_thread(_encoded, self.session_id, items, offload)

        async def append_all() -> None:
            async with self._write_lock():
                for batch in batches:
                    await self._append(batch)

        await _finish_despite_cancellation(append_all)

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove and return the newest item; ``None`` when the session has none.

        An absent or expired session has none. If the newest message cannot be
        decoded, ``UnreadableItemError`` is raised and nothing is removed.
        """
        self._check_open()

        async def pop() -> TResponseInputItem | None:
            async with self._write_lock():
                session, newest = await asyncio.gather(
                    self._call(DynamoDBAdapter.get_session, self.session_id),
                    self._newest_or_refuse(),
                )
                if session is None or newest is None:
                    return None
                popped = await self._call(DynamoDBAdapter.pop_message, self.session_id)
                return None if popped is None else _item_of(popped)

        return await _finish_despite_cancellation(pop)

    async def clear_session(self) -> None:
        """Remove every item; the session item stays, ready for new items."""
        self._check_open()

        async def clear() -> None:
            async with self._write_lock():
                await self._call(DynamoDBAdapter.delete_all_messages, self.session_id)

        await _finish_despite_cancellation(clear)

    # --- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Refuse further calls (``RuntimeError``), as a closed ``SQLiteSession`` does.

        Idempotent and synchronous, like ``SQLiteSession.close()``. The
        session holds no connection of its own: the adapter passed in stays
        open (close it where it was made).
        """
        self._closed = True

    # --- plumbing ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("DynamoDBSession is closed")

    async def _call(self, method: Callable[..., _T], *args: Any) -> _T:
        """``method`` (a ``DynamoDBAdapter`` method) on the adapter, off the event loop.

        An async adapter's coroutine of the same name is awaited; a sync
        adapter's method runs on a worker thread.
        """
        if isinstance(self._adapter, AsyncDynamoDBAdapter):
            coroutine: Callable[..., Awaitable[_T]] = getattr(self._adapter, method.__name__)
            return await coroutine(*args)
        return await asyncio.to_thread(method, self._adapter, *args)

    def _sync_adapter(self) -> DynamoDBAdapter:
        if isinstance(self._adapter, AsyncDynamoDBAdapter):
            return self._adapter.sync
        return self._adapter

    async def _read(self, newest: int | None) -> list[Message]:
        """The messages (the newest ``newest``, or all), oldest first, unreadable ones skipped."""
        query = {} if newest is None else {"limit": newest, "order": "desc"}
        try:
            messages = await self._call(DynamoDBAdapter.get_messages, self.session_id, query)
        except Exception as error:
            if not is_unreadable(error):
                raise
            return await asyncio.to_thread(
                readable_messages, self._sync_adapter(), self.session_id, newest=newest
            )
        return messages if newest is None else messages[::-1]

    async def _newest_or_refuse(self) -> Message | None:
        """The newest message; ``UnreadableItemError`` if it cannot be decoded."""
        query = {"limit": 1, "order": "desc"}
        try:
            newest = await self._call(DynamoDBAdapter.get_messages, self.session_id, query)
        except Exception as error:
            if not is_unreadable(error):
                raise
            raise UnreadableItemError(
                f"the newest message of session {self.session_id!r} cannot be read, so "
                f"pop_item leaves it in place ({error}); delete it through the adapter"
            ) from error
        return newest[0] if newest else None

    def _write_lock(self) -> asyncio.Lock:
        """This session's write lock on the running loop (an ``asyncio.Lock`` is bound to one)."""
        loop = asyncio.get_running_loop()
        with self._locks_guard:
            lock = self._locks.get(loop)
            if lock is None:
                lock = self._locks[loop] = asyncio.Lock()
            return lock

    async def _append(self, batch: list[NewMessage]) -> None:
        """Append a batch in one transaction, (re)creating the session when there is none.

        An absent or expired session answers ``SessionNotFoundError``: the
        session is created with this id (creating over an expired one starts
        a new, empty incarnation) and the batch appended again.
        """
        try:
            await self._call(DynamoDBAdapter.add_messages, self.session_id, batch)
            return
        except SessionNotFoundError:
            pass
        # Created meanwhile by someone else: theirs is the session to use.
        with contextlib.suppress(SessionExistsError):
            await self._call(DynamoDBAdapter.create_session, self._new_session)
        await self._call(DynamoDBAdapter.add_messages, self.session_id, batch)


def items_of(messages: Sequence[Message]) -> list[TResponseInputItem]:
    """The SDK items ``messages`` stand for, in order: what ``get_items`` makes of them.

    For code that reads a session's messages through the adapter itself
    (a page, a time range) and wants them as SDK items.
    """
    return [_item_of(message) for message in messages]
