"""Export and import as JSON lines, streaming, item for item.

The format is DynamoDB's own export format (``DYNAMODB_JSON``, as in an
export to S3): one ``{"Item": {...}}`` object a line, each attribute in
DynamoDB's typed JSON (``{"S": ...}``, ``{"N": ...}``, ...). Items are
copied as stored, so an import reproduces ids, timestamps, versions and
counters exactly, and importing the same lines twice changes nothing (each
line is a put of the same item).

Neither side holds more than a page (export) or a batch of 25 items
(import) in memory. An import writes over items with the same key: it
restores, it does not merge.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from session_store import keys, models
from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import SessionNotFoundError, StorageError, ValidationError

__all__ = ["ImportResult", "export_items", "import_lines", "item_line"]

_BATCH_SIZE = 25
_MAX_BATCH_ROUNDS = 12


def item_line(item: Mapping[str, Any]) -> str:
    """One line of the export: ``{"Item": ...}`` and a newline."""
    return json.dumps({"Item": item}, ensure_ascii=False, separators=(",", ":")) + "\n"


def _pages(call: Callable[..., Any], request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kwargs = dict(request)
    while True:
        response = call(**kwargs)
        yield from response.get("Items", [])
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


def _session_items(adapter: DynamoDBAdapter, session_id: str) -> Iterator[dict[str, Any]]:
    """The session's item and every message item, by sort key (META last)."""
    keys.check_session_id(session_id)
    return _pages(
        adapter.models.client.query,
        {
            "TableName": adapter.config.table_name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": "PK"},
            "ExpressionAttributeValues": {":pk": {"S": keys.session_pk(session_id)}},
            "ConsistentRead": True,
        },
    )


def export_items(
    adapter: DynamoDBAdapter,
    *,
    session_ids: Iterable[str] = (),
    user_id: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Items to export: the given sessions, a user's sessions, or (neither) the whole table.

    A session is its item followed by its messages. An unknown session id is
    ``SessionNotFoundError``; expired sessions still in the table are exported.
    The whole table includes the migration records.
    """
    chosen = list(session_ids)
    if not chosen and user_id is None:
        yield from _pages(adapter.models.client.scan, {"TableName": adapter.config.table_name})
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


@dataclass
class ImportResult:
    """What an import wrote."""

    items: int = 0
    sessions: int = 0
    messages: int = 0


def _parse(line: str, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValidationError(f"line {number}: not JSON ({error.msg})") from None
    item = record.get("Item") if isinstance(record, dict) else None
    if not isinstance(item, dict):
        raise ValidationError(f'line {number}: expected {{"Item": {{...}}}}')
    pk, sk = item.get("PK"), item.get("SK")
    if not (isinstance(pk, dict) and isinstance(pk.get("S"), str)) or not (
        isinstance(sk, dict) and isinstance(sk.get("S"), str)
    ):
        raise ValidationError(f"line {number}: the item has no string PK and SK")
    try:
        if pk["S"].startswith(keys.SESSION_PREFIX):
            if sk["S"] == keys.META_SK:
                models.SessionMeta.from_raw_data(dict(item)).to_domain()
            else:
                models.Message.from_raw_data(dict(item)).to_domain()
    except Exception as error:
        raise ValidationError(f"line {number}: not a valid session store item: {error}") from None
    return item


def import_lines(
    adapter: DynamoDBAdapter,
    lines: IO[str] | Iterable[str],
    *,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Write every item of an export into the adapter's table; what was written.

    Every line is checked (JSON, an ``Item`` with string keys, a session or
    message that decodes) before its batch is sent; a bad line stops the
    import with a ``ValidationError`` naming it, after the batches before it.
    Blank lines are skipped. ``progress`` gets the running count of items.
    """
    result = ImportResult()
    batch: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item = _parse(line, number)
        batch.append(item)
        if len(batch) == _BATCH_SIZE:
            _put_batch(adapter, batch, result)
            batch = []
            if progress is not None:
                progress(result.items)
    if batch:
        _put_batch(adapter, batch, result)
        if progress is not None:
            progress(result.items)
    return result


def _put_batch(adapter: DynamoDBAdapter, batch: list[dict[str, Any]], result: ImportResult) -> None:
    table = adapter.config.table_name
    # One BatchWriteItem may not hold one key twice: the later line wins, as in a replay.
    unique = {(item["PK"]["S"], item["SK"]["S"]): item for item in batch}
    requests: list[Any] = [{"PutRequest": {"Item": item}} for item in unique.values()]
    delay = 0.05
    for _ in range(_MAX_BATCH_ROUNDS):
        response = adapter.models.client.batch_write_item(RequestItems={table: requests})
        requests = response.get("UnprocessedItems", {}).get(table, [])
        if not requests:
            break
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    else:
        raise StorageError(f"BatchWriteItem left {len(requests)} items unprocessed after retries")
    for pk, sk in unique:
        result.items += 1
        if pk.startswith(keys.SESSION_PREFIX):
            if sk == keys.META_SK:
                result.sessions += 1
            else:
                result.messages += 1
