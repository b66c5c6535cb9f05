"""Export and import as JSON lines, streaming, item for item.

The format is DynamoDB's own export format (``DYNAMODB_JSON``, as in an
export to S3): one ``{"Item": {...}}`` object a line, each attribute in
DynamoDB's typed JSON (``{"S": ...}``, ``{"N": ...}``, ...). Items are
copied as stored, so an import reproduces ids, timestamps, versions and
counters exactly, and importing the same lines twice changes nothing.

An import reads its source twice: once to check every line, once to write.
Nothing is written unless the whole source passes the check, which accepts
what the API itself could have written:

- every line is UTF-8 JSON of the form ``{"Item": {...}}`` in well-formed
  typed JSON, with string keys within DynamoDB's key limits, no text UTF-8
  cannot encode (lone surrogates) and no item over 400 KB;
- only sessions (``SESSION#{id}`` / ``META``) and messages (``SESSION#{id}`` /
  ``MSG#...``) that decode into their domain types, whose ids, fields and
  index keys agree with their keys; migration records (``SCHEMA#MIGRATIONS``)
  are skipped, since the table keeps the record of its own migrations;
- a session item's ``messageCount`` and ``tokenCount``, when present, equal
  the messages of that session the source holds (a source cut at a line
  boundary fails here), and every message's session item is in the source.

``raw=True`` keeps only the first rule: items of any kind are written as
they are.

Large messages (``session_store.cli.offloading``): an export writes an
offloaded message whole, its payload read back from S3, so the lines are
self-contained. With an offload bucket, an import stores a message over the
threshold as the adapter does (its payload in S3, written before the item);
without one, a message over 400 KB is refused naming it. A line holding an
S3 pointer is refused (unless ``raw``): export writes payloads inline.

A source that cannot be read twice (stdin) is spooled to a temporary file
during the check.

Writes go in batches of 25 (``BatchWriteItem``), after one ``BatchGetItem``
that finds the items already there unchanged, which are not written again.
A session's item is written only after every one of its messages, in a
later request: an import cut short (a lost connection) leaves no session
item claiming messages that are not there, and running it again finishes
it. An import writes over items with the same key: it restores, it does not
merge. Neither side holds more than a page (export) or a batch (import) of
items in memory, plus a few numbers a session while importing.

This module is long because of the import's checks: every line is checked as the API would
check it before the first write.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError as PydanticValidationError

from session_store import keys, models
from session_store._expressions import Expression
from session_store.cli.offloading import same_offloaded, stored_pointer, whole_item
from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import SessionNotFoundError, ValidationError
from session_store.limits import check_item_size
from session_store.offload import POINTER_ATTRIBUTE, OffloadPlan
from session_store.offloader import Offloader

__all__ = [
    "ImportProgress",
    "ImportResult",
    "ItemKind",
    "check_item",
    "export_items",
    "import_lines",
    "item_line",
]

_WRITE_BATCH = 25
"""Items in one ``BatchWriteItem`` (DynamoDB's limit)."""
_MAX_BATCH_ROUNDS = 12
_MAX_LINE_BYTES = 8 * 1024 * 1024
"""Longer than any export line of a 400 KB item, even with every character escaped (with an
offload bucket, its ``max_bytes`` more: the payload's JSON is escaped as the line is)."""
_MAX_PENDING_PAYLOAD = 64 * 1024 * 1024
"""Payload bytes an import holds before it writes its batch (bounds its memory)."""
_MAX_NESTING = 32
"""DynamoDB's limit on nested maps and lists."""
_PARTITION_KEY_MAX_BYTES = 2048
_SORT_KEY_MAX_BYTES = 1024
_SCALAR_TYPES = {"S": str, "N": str, "B": str, "BOOL": bool, "NULL": bool}
_SET_TYPES = ("SS", "NS", "BS")
_SHOWN_KEY_CHARACTERS = 60


# --- export -------------------------------------------------------------------------


def item_line(item: Mapping[str, Any]) -> str:
    """One line of the export: ``{"Item": ...}`` and a newline."""
    return json.dumps({"Item": item}, ensure_ascii=False, separators=(",", ":")) + "\n"


def _session_items(adapter: DynamoDBAdapter, session_id: str) -> Iterator[dict[str, Any]]:
    """The session's item and every message item, by sort key (META before MSG#)."""
    keys.check_session_id(session_id)
    e = Expression()
    return adapter.models.gateway.items(
        "Query",
        e.into(
            {
                "KeyConditionExpression": f"{e.name(models.SessionMeta.pk)} = "
                f"{e.string(keys.session_pk(session_id))}",
                "ConsistentRead": True,
            }
        ),
    )


def export_items(
    adapter: DynamoDBAdapter,
    *,
    session_ids: Iterable[str] = (),
    user_id: str | None = None,
    offloader: Offloader | None = None,
) -> Iterator[dict[str, Any]]:
    """Items to export: the given sessions, a user's sessions, or (neither) the whole table.

    A session is its item followed by its messages. An unknown session id is
    ``SessionNotFoundError``; expired sessions still in the table are exported.
    The whole table includes the migration records. Offloaded messages come
    whole, their payloads read from ``offloader``'s bucket (``ValidationError``
    without one).
    """
    for item in _stored_export_items(adapter, list(session_ids), user_id):
        yield whole_item(item, offloader)


def _stored_export_items(
    adapter: DynamoDBAdapter, chosen: list[str], user_id: str | None
) -> Iterator[dict[str, Any]]:
    if not chosen and user_id is None:
        yield from adapter.models.gateway.items("Scan", {})
        return
    if user_id is not None:
        filters = {"user_id": user_id, "include_expired": True}
        chosen += [session.id for session in adapter.iter_sessions(filters)]
    for session_id in chosen:
        found = False
        for item in _session_items(adapter, session_id):
            found = True
            yield item
        if not found:
            raise SessionNotFoundError(session_id)


# --- checking a line ------------------------------------------------------------


class ItemKind(StrEnum):
    """What an item is, from its keys."""

    SESSION = "session"
    MESSAGE = "message"
    MIGRATION = "migration record"
    OTHER = "other"


@dataclass(frozen=True)
class _Line:
    """One checked line: its item and what the counter check needs of it."""

    number: int
    item: dict[str, Any]
    kind: ItemKind
    session_id: str | None = None
    tokens: int = 0
    """A message's token count (0 when it has none)."""
    claimed_messages: int | None = None
    """A session item's ``messageCount``, when it has one."""
    claimed_tokens: int | None = None
    """A session item's ``tokenCount``, when it has one."""
    offload_plan: OffloadPlan | None = None
    """How a message over the offload threshold is stored (its object, then ``item``)."""

    @property
    def key(self) -> tuple[str, str]:
        pk, sk = models.TABLE_KEY
        return self.item[pk]["S"], self.item[sk]["S"]


def _shown(text: str) -> str:
    shown = text if len(text) <= _SHOWN_KEY_CHARACTERS else text[:_SHOWN_KEY_CHARACTERS] + "…"
    return repr(shown)


def _check_value(value: Any, where: str, depth: int = 0) -> None:
    """``ValueError`` unless ``value`` is well-formed typed DynamoDB JSON."""
    if depth > _MAX_NESTING:
        raise ValueError(f"{where} nests maps and lists deeper than {_MAX_NESTING} levels")
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f'{where} is not a typed value such as {{"S": ...}}')
    ((kind, inner),) = value.items()
    if kind in _SCALAR_TYPES:
        if not isinstance(inner, _SCALAR_TYPES[kind]):
            raise ValueError(f"{where} holds a {type(inner).__name__} under {kind!r}")
        if kind == "N":
            _check_number(str(inner), where)
    elif kind in _SET_TYPES:
        if not isinstance(inner, list) or not inner or not all(isinstance(v, str) for v in inner):
            raise ValueError(f"{where} is not a non-empty list of strings under {kind!r}")
        if kind == "NS":
            for number in inner:
                _check_number(number, where)
    elif kind == "M":
        if not isinstance(inner, dict):
            raise ValueError(f"{where} holds a {type(inner).__name__} under 'M'")
        for name, member in inner.items():
            _check_value(member, f"{where}.{name}", depth + 1)
    elif kind == "L":
        if not isinstance(inner, list):
            raise ValueError(f"{where} holds a {type(inner).__name__} under 'L'")
        for index, member in enumerate(inner):
            _check_value(member, f"{where}[{index}]", depth + 1)
    else:
        raise ValueError(f"{where} has the unknown type {kind!r}")


def _check_number(text: str, where: str) -> None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{where} is not a number: {_shown(text)}") from None
    if not number.is_finite():
        raise ValueError(f"{where} is not a finite number: {_shown(text)}")


def _check_key(name: str, value: Any, max_bytes: int) -> str:
    if not (isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str)):
        raise ValueError(f'{name} is not a string ({{"S": ...}})')
    text: str = value["S"]
    if not text:
        raise ValueError(f"{name} is empty")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid unicode (a lone surrogate)") from None
    if size > max_bytes:
        raise ValueError(f"{name} is {size} bytes long, over DynamoDB's {max_bytes}-byte limit")
    return text


def _kind(pk: str, sk: str) -> ItemKind:
    if pk.startswith(keys.SESSION_PREFIX):
        if sk == keys.META_SK:
            return ItemKind.SESSION
        if sk.startswith(keys.MESSAGE_PREFIX):
            return ItemKind.MESSAGE
    if pk == keys.MIGRATIONS_PK and sk.startswith(keys.MIGRATION_PREFIX):
        return ItemKind.MIGRATION
    return ItemKind.OTHER


def _brief(error: Exception) -> str:
    """What is wrong, in one line, without a validation library's links or prefixes."""
    if isinstance(error, PydanticValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'value'}: "
            f"{problem['msg'].removeprefix('Value error, ')}"
            for problem in error.errors(include_url=False)
        )
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _same_keys(item: Mapping[str, Any], expected: Mapping[str, Any], names: Iterable[str]) -> None:
    """``ValueError`` when ``item``'s key attributes differ from the ones its fields imply."""
    for name in names:
        if item.get(name) != expected.get(name):
            got = (item.get(name) or {}).get("S", "nothing")
            want = (expected.get(name) or {}).get("S", "nothing")
            raise ValueError(f"{name} is {_shown(got)} where its fields say {_shown(want)}")


def _checked_session(number: int, item: dict[str, Any], session_id: str) -> _Line:
    try:
        session = models.SessionMeta.decode(item)
    except Exception as error:
        raise ValueError(f"not a valid session item: {_brief(error)}") from None
    if session.id != session_id:
        raise ValueError(f"the session's id {_shown(session.id)} differs from its key's")
    if session.user_id is not None:
        keys.check_user_id(session.user_id)
    if session.active_agent_id is not None:
        keys.check_agent_id(session.active_agent_id)
    encoded = models.SessionMeta.encode(session)
    check_item_size(encoded, "the session")  # text decoded from JSON attributes, as the API checks
    _same_keys(item, encoded, (*models.USER_INDEX_KEY[2:], *models.AGENT_INDEX_KEY[2:]))
    return _Line(
        number,
        item,
        ItemKind.SESSION,
        session_id,
        claimed_messages=(
            session.message_count if models.SessionMeta.message_count.attr_name in item else None
        ),
        claimed_tokens=(
            session.token_count if models.SessionMeta.token_count.attr_name in item else None
        ),
    )


def _checked_message(
    number: int, item: dict[str, Any], session_id: str, sk: str, *, offloaded: bool
) -> _Line:
    _, message_id = keys.parse_message_sk(sk)
    keys.check_message_id(message_id)
    try:
        message = models.Message.decode(item)
    except Exception as error:
        raise ValueError(f"not a valid message item: {_brief(error)}") from None
    if message.session_id != session_id:
        raise ValueError(
            f"the message's sessionId {_shown(message.session_id)} differs from its key's"
        )
    if message.id != message_id:
        raise ValueError(f"the message's id {_shown(message.id)} differs from its key's")
    encoded = models.Message.encode(message)
    if not offloaded:
        check_item_size(encoded, "the message")
    _same_keys(item, encoded, (models.Message.sk.attr_name,))
    return _Line(number, item, ItemKind.MESSAGE, session_id, tokens=message.token_count or 0)


def _checked_line(
    number: int, data: bytes, *, raw: bool, offloader: Offloader | None = None
) -> _Line | None:
    """The line's item, checked as the API would check it; ``None`` for a blank line.

    ``ValidationError`` (naming the line) for anything the API would refuse.
    """
    longest = _MAX_LINE_BYTES + (0 if offloader is None else offloader.config.max_bytes)
    if len(data) > longest:
        raise ValidationError(
            f"line {number}: {len(data):,} bytes, longer than any item DynamoDB can hold"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValidationError(
            f"line {number}: not UTF-8 text (byte {error.start + 1} of the line)"
        ) from None
    if not text.strip():
        return None
    try:
        record = json.loads(text)
    except RecursionError:
        raise ValidationError(f"line {number}: JSON nested too deeply") from None
    except json.JSONDecodeError as error:
        raise ValidationError(f"line {number}: not JSON ({error.msg})") from None
    item = record.get("Item") if isinstance(record, dict) else None
    if not isinstance(item, dict):
        raise ValidationError(f'line {number}: expected {{"Item": {{...}}}}')
    try:
        return _checked_item(number, item, raw=raw, offloader=offloader)
    except (ValueError, ValidationError) as error:
        raise ValidationError(f"line {number}: {_brief(error)}") from None


def check_item(item: dict[str, Any], *, raw: bool = False) -> ItemKind:
    """What ``item`` is, once checked as an import checks each line; else ``ValidationError``."""
    try:
        return _checked_item(0, item, raw=raw).kind
    except (ValueError, ValidationError) as error:
        raise ValidationError(_brief(error)) from None


def _message_size_checked(
    item: dict[str, Any], session_id: str, sk: str, offloader: Offloader | None
) -> OffloadPlan | None:
    """How a message item is stored: offloaded when over the threshold (with a bucket);
    ``ValidationError`` naming the message when it cannot be stored."""
    if offloader is not None:
        offload_plan = offloader.plan(item)
        if offload_plan is not None:
            return offload_plan
    try:
        check_item_size(item, "the item")
    except ValidationError as error:
        _, message_id = keys.parse_message_sk(sk)
        hint = "" if offloader is not None else ": pass --offload-bucket to store it in S3"
        raise ValidationError(
            f"message {_shown(message_id)} of session {_shown(session_id)}: {error}{hint}"
        ) from None
    return None


def _checked_item(
    number: int, item: dict[str, Any], *, raw: bool, offloader: Offloader | None = None
) -> _Line:
    pk_name, sk_name = models.TABLE_KEY
    if pk_name not in item or sk_name not in item:
        raise ValueError(f"the item has no {pk_name} and {sk_name}")
    pk = _check_key(pk_name, item[pk_name], _PARTITION_KEY_MAX_BYTES)
    sk = _check_key(sk_name, item[sk_name], _SORT_KEY_MAX_BYTES)
    for name, value in item.items():
        if not name:
            raise ValueError("an attribute has an empty name")
        _check_value(value, name)
    kind = _kind(pk, sk)
    session_id = keys.parse_session_pk(pk) if kind in (ItemKind.SESSION, ItemKind.MESSAGE) else None
    offload_plan = None
    if kind is ItemKind.MESSAGE and session_id is not None:
        if POINTER_ATTRIBUTE in item and not raw:
            raise ValueError(
                f"the message holds an S3 pointer ({POINTER_ATTRIBUTE!r}), not its payload: "
                "import lines written by `export`, which writes payloads inline"
            )
        offload_plan = _message_size_checked(item, session_id, sk, offloader)
    else:
        check_item_size(item, "the item")
    if raw or kind is ItemKind.MIGRATION:
        return _Line(number, item, kind, session_id, offload_plan=offload_plan)
    if session_id is None:
        raise ValueError(
            f"PK {_shown(pk)} / SK {_shown(sk)} is neither a session nor a message "
            "(--raw imports items of any kind)"
        )
    keys.check_session_id(session_id)
    if kind is ItemKind.SESSION:
        return _checked_session(number, item, session_id)
    line = _checked_message(number, item, session_id, sk, offloaded=offload_plan is not None)
    return replace(line, offload_plan=offload_plan)


# --- the source, read twice -------------------------------------------------------


Source = Path | IO[bytes] | IO[str] | Iterable[bytes] | Iterable[str]
"""What ``import_lines`` reads: a file (read twice), or lines (spooled to read them again)."""


@dataclass
class _Reader:
    """Numbered lines of the source as bytes, and how many bytes were read so far."""

    source: Source
    spool: IO[bytes] | None = None
    bytes_read: int = 0

    def first_pass(self) -> Iterator[tuple[int, bytes]]:
        if isinstance(self.source, Path):
            with self.source.open("rb") as stream:
                yield from self._numbered(stream)
            return
        self.spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        for number, data in self._numbered(self.source):
            self.spool.write(data if data.endswith(b"\n") else data + b"\n")
            yield number, data

    def second_pass(self) -> Iterator[tuple[int, bytes]]:
        self.bytes_read = 0
        if self.spool is None:
            assert isinstance(self.source, Path)
            with self.source.open("rb") as stream:
                yield from self._numbered(stream)
            return
        self.spool.seek(0)
        yield from self._numbered(self.spool)

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()

    def _numbered(self, lines: Iterable[Any]) -> Iterator[tuple[int, bytes]]:
        for number, line in enumerate(lines, start=1):
            # Text lines are encoded back, lone surrogates kept, so the check refuses them.
            data = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else bytes(line)
            self.bytes_read += len(data)
            yield number, data


# --- import -----------------------------------------------------------------------


@dataclass
class ImportResult:
    """What an import read and wrote."""

    items: int = 0
    """Items imported: written, or already there unchanged."""
    sessions: int = 0
    messages: int = 0
    others: int = 0
    """Items of other kinds (``raw`` only)."""
    written: int = 0
    unchanged: int = 0
    """Items already in the table exactly as in the source: not written again."""
    skipped: int = 0
    """Migration records left out (the table keeps its own)."""


@dataclass(frozen=True)
class ImportProgress:
    """Where an import is: ``phase`` is "checking" or "writing"."""

    phase: str
    lines: int
    items: int
    bytes_read: int


@dataclass
class _SessionTally:
    """What the source holds of one session: its item's claims and its messages."""

    item_line: int | None = None
    first_message_line: int | None = None
    last_line: int = 0
    claimed_messages: int | None = None
    claimed_tokens: int | None = None
    messages: int = 0
    tokens: int = 0


@dataclass
class _Plan:
    """What the check learnt: the last line of each session (its item waits until then)."""

    last_line: dict[str, int] = field(default_factory=dict)


def _check_source(
    reader: _Reader,
    *,
    raw: bool,
    offloader: Offloader | None,
    progress: Callable[[ImportProgress], None] | None,
) -> _Plan:
    tallies: dict[str, _SessionTally] = {}
    items = 0
    for number, data in reader.first_pass():
        line = _checked_line(number, data, raw=raw, offloader=offloader)
        if line is None:
            continue
        items += 1
        if progress is not None and items % 100 == 0:
            progress(ImportProgress("checking", number, items, reader.bytes_read))
        if line.session_id is None:
            continue
        tally = tallies.setdefault(line.session_id, _SessionTally())
        tally.last_line = number
        if line.kind is ItemKind.SESSION:
            tally.item_line = number
            tally.claimed_messages, tally.claimed_tokens = (
                line.claimed_messages,
                line.claimed_tokens,
            )
        else:
            tally.first_message_line = tally.first_message_line or number
            tally.messages += 1
            tally.tokens += line.tokens
    if not raw:
        for session_id, tally in tallies.items():
            _check_counters(session_id, tally)
    return _Plan({session_id: tally.last_line for session_id, tally in tallies.items()})


def _check_counters(session_id: str, tally: _SessionTally) -> None:
    """``ValidationError`` when the source's messages of a session disagree with its item."""
    if tally.item_line is None:
        raise ValidationError(
            f"line {tally.first_message_line}: a message of session {_shown(session_id)}, "
            "whose session item is not in the file (--raw imports it anyway)"
        )
    claimed = (tally.claimed_messages, tally.claimed_tokens)
    held = (tally.messages, tally.tokens)
    if claimed[0] is None and claimed[1] is None:
        return  # counters never written (the TypeScript adapter's): `recount` fills them in
    if (claimed[0] is not None and claimed[0] != held[0]) or (
        claimed[1] is not None and claimed[1] != held[1]
    ):
        raise ValidationError(
            f"line {tally.item_line}: session {_shown(session_id)} counts {claimed[0]} "
            f"message(s) and {claimed[1]} token(s), but the file holds {held[0]} and "
            f"{held[1]}: the file may be cut short (--raw imports it as it is)"
        )


def import_lines(
    adapter: DynamoDBAdapter,
    source: Source,
    *,
    raw: bool = False,
    progress: Callable[[ImportProgress], None] | None = None,
    offloader: Offloader | None = None,
) -> ImportResult:
    """Check every line of an export, then write its items into the adapter's table.

    ``source`` is a file's ``Path`` (read twice) or lines, as bytes or text
    (spooled to a temporary file while they are checked). A line the check
    refuses (see the module's docstring) is a ``ValidationError`` naming it,
    before anything is written. Blank lines are skipped. ``progress`` hears
    of each phase as it goes. With ``offloader``, messages over its threshold
    keep their payloads in its bucket.
    """
    reader = _Reader(source)
    try:
        plan = _check_source(reader, raw=raw, offloader=offloader, progress=progress)
        return _write_source(adapter, reader, plan, raw=raw, offloader=offloader, progress=progress)
    finally:
        reader.close()


def _write_source(
    adapter: DynamoDBAdapter,
    reader: _Reader,
    plan: _Plan,
    *,
    raw: bool,
    offloader: Offloader | None,
    progress: Callable[[ImportProgress], None] | None,
) -> ImportResult:
    result = ImportResult()
    batch: list[_Line] = []
    held: dict[str, _Line] = {}  # session items waiting for their last message
    ready: list[_Line] = []  # session items whose messages are all in `batch` or written
    number = 0
    pending_payload = 0  # bytes of the batch's offloaded payloads
    for number, data in reader.second_pass():
        line = _checked_line(number, data, raw=raw, offloader=offloader)
        if line is None:
            continue
        if line.kind is ItemKind.MIGRATION and not raw:
            result.skipped += 1
            continue
        if line.kind is ItemKind.SESSION:
            held[str(line.session_id)] = line
        else:
            batch.append(line)
            if line.offload_plan is not None:
                pending_payload += len(line.offload_plan.payload)
        if line.session_id is not None and plan.last_line[line.session_id] == number:
            waiting = held.pop(line.session_id, None)
            if waiting is not None:
                ready.append(waiting)
        if len(batch) >= _WRITE_BATCH or pending_payload >= _MAX_PENDING_PAYLOAD:
            _write_batch(adapter, batch, result, offloader)
            # Session items go in a request after the one that wrote their last message.
            batch, ready = ready, []
            pending_payload = 0
            if progress is not None:
                progress(ImportProgress("writing", number, result.items, reader.bytes_read))
    _write_batch(adapter, batch, result, offloader)
    _write_batch(adapter, ready + list(held.values()), result, offloader)
    if progress is not None:
        progress(ImportProgress("writing", number, result.items, reader.bytes_read))
    return result


def _unchanged(line: _Line, stored: dict[str, Any] | None) -> bool:
    if line.offload_plan is not None:
        return same_offloaded(stored, line.offload_plan)
    return stored == line.item


def _write_batch(
    adapter: DynamoDBAdapter,
    lines: list[_Line],
    result: ImportResult,
    offloader: Offloader | None = None,
) -> None:
    """Write ``lines``' items that are not already there as they are, 25 a request.

    Offloaded payloads go to S3 before the items that point to them; the
    objects of replaced items are removed after (see ``cli.offloading``).
    """
    for start in range(0, len(lines), _WRITE_BATCH):
        # One request may not hold one key twice: the later line wins, as in a replay.
        unique = {line.key: line for line in lines[start : start + _WRITE_BATCH]}
        stored = _stored_items(adapter, list(unique))
        changed = [line for key, line in unique.items() if not _unchanged(line, stored.get(key))]
        plans = [line.offload_plan for line in changed if line.offload_plan is not None]
        if offloader is not None:
            offloader.write(plans)
        _put_items(
            adapter,
            [
                line.item if line.offload_plan is None else line.offload_plan.item
                for line in changed
            ],
        )
        replaced = [stored_pointer(stored.get(line.key)) for line in changed]
        if offloader is not None:
            offloader.remove_keys([pointer.key for pointer in replaced if pointer is not None])
        result.written += len(changed)
        result.unchanged += len(unique) - len(changed)
        for line in unique.values():
            result.items += 1
            if line.kind is ItemKind.SESSION:
                result.sessions += 1
            elif line.kind is ItemKind.MESSAGE:
                result.messages += 1
            else:
                result.others += 1


def _stored_items(
    adapter: DynamoDBAdapter, item_keys: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The items stored under ``item_keys`` (at most 100), by key; absent ones left out."""
    if not item_keys:
        return {}
    pk, sk = models.TABLE_KEY
    requested = [{pk: {"S": hash_key}, sk: {"S": sort_key}} for hash_key, sort_key in item_keys]
    return {
        (item[pk]["S"], item[sk]["S"]): item for item in adapter.models.gateway.batch_get(requested)
    }


def _put_items(adapter: DynamoDBAdapter, items: list[dict[str, Any]]) -> None:
    """Put ``items`` (at most 25, distinct keys) in one ``BatchWriteItem``, retrying the rest."""
    if items:
        adapter.models.gateway.batch_put(items)
