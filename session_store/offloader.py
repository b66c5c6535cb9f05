"""The adapter's side of large messages: S3 requests around the table's writes and reads.

``session_store.offload`` says what an offloaded item and its object look
like (pure); an ``Offloader`` owns an adapter's ``S3Offload`` and its
``ObjectStore`` and does the S3 part of each method, so the adapter modules
only say when:

- before a message item is written: ``plan`` it (``ValidationError``, with no
  request sent, for a payload over ``max_bytes``) and ``write`` the object
  first, so an item never points to an object that is not there (a crash in
  between leaves an orphan object, never a dangling pointer);
- after items are read: ``restore`` them (one GetObject per offloaded item, a
  page's objects fetched in parallel), so every read returns the whole message;
- after items are removed or a payload replaced: ``remove`` the objects they
  pointed to.

Failed object deletes. Once the item that points to an object is gone (or
points elsewhere), the call has done what it was asked: a failed
DeleteObject does not fail it. A retry could not finish the job anyway (the
item that named the object is gone), and raising would make a retried
``pop_message`` pop a second message. The object is left as an orphan,
logged (logger ``session_store.offload``, a warning with its key), and
``collect_orphans`` removes it once it is older than the grace period.
Objects written for an item write that certainly did not happen (a
cancelled transaction, a failed condition) are removed at once, best effort
too; when the outcome is unknown (the request failed after its retries), the
object stays: the item may point to it.

``collect_orphans`` lists the objects under the prefix older than the grace
period, then reads every pointer in the table (a strongly consistent Scan
projecting the pointer attribute alone, all pages), and deletes the listed
objects no item points to. Only keys of the offload layout
(``{prefix}{session}/{message}/{ULID}.json[.gz]``) are considered: other
objects sharing the bucket or prefix are never touched. The grace period
must exceed the longest time between an object's write and its item's (a
write in flight); an hour is the default.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from session_store._client import S3_ENDPOINT_VARIABLES, resolve_endpoint_url, s3_client
from session_store._expressions import Expression
from session_store.errors import SessionError, ValidationError
from session_store.gateway import BucketLocation, Gateway, ObjectNotFound, ObjectStore
from session_store.limits import MAX_TRANSACTION_BYTES, item_size
from session_store.models import TABLE_KEY
from session_store.offload import (
    CONTENT_ATTRIBUTE,
    METADATA_ATTRIBUTE,
    MIN_THRESHOLD_BYTES,
    POINTER_ATTRIBUTE,
    OffloadPlan,
    Pointer,
    S3Offload,
    encode_payload,
    parse_pointer,
    plan_offload,
    pointer_of,
    restore,
)

__all__ = ["DEFAULT_GRACE", "FETCH_PARALLELISM", "Offloader", "OrphanReport"]

log = logging.getLogger("session_store.offload")

DEFAULT_GRACE = timedelta(hours=1)
"""How old an unreferenced object must be before ``collect_orphans`` removes it."""
FETCH_PARALLELISM = 8
"""GetObject/PutObject requests in flight at once for one call (below the S3 client's pool
of 10 connections)."""
_MOVABLE = (CONTENT_ATTRIBUTE, METADATA_ATTRIBUTE)
_OBJECT_NAME = re.compile(r"^[^/]+/[^/]+/[0-9A-HJKMNP-TV-Z]{26}\.json(\.gz)?$")
"""What follows the prefix in a key ``offload.new_object_key`` makes."""


@dataclass(frozen=True)
class OrphanReport:
    """What ``collect_orphans`` did: objects of the offload layout older than the grace
    period it ``examined``, how many no item pointed to and it ``removed``, and how many
    of those S3 refused to delete (``failed``; the next run tries them again)."""

    examined: int
    removed: int
    failed: int


class Offloader:
    """One adapter's S3 side of large messages (see the module docstring).

    The S3 client is made on first use, with the bucket's region (``S3Offload.region``,
    else ``region``) and endpoint (``S3Offload.endpoint_url``, else the S3 endpoint
    variables); a malformed endpoint is a ``ValidationError`` here, before any request.
    Its connection pool has ``max_pool_connections`` (the adapter's).
    """

    def __init__(
        self, config: S3Offload, *, region: str | None, max_pool_connections: int = 10
    ) -> None:
        if not isinstance(config, S3Offload):
            raise ValidationError(f"offload must be an S3Offload, got {type(config).__name__}")
        self.config = config
        bucket_region = config.region or region
        endpoint = resolve_endpoint_url(config.endpoint_url, S3_ENDPOINT_VARIABLES)
        lock = threading.Lock()
        made: list[Any] = []

        def client() -> Any:
            if not made:
                with lock:  # threads starting together share one client
                    if not made:
                        made.append(
                            s3_client(
                                bucket_region, endpoint, max_pool_connections=max_pool_connections
                            )
                        )
            return made[0]

        self._made = made
        self.store = ObjectStore(client, BucketLocation(config.bucket, bucket_region, endpoint))

    # --- writes -------------------------------------------------------------------

    def plan(self, item: Mapping[str, Any]) -> OffloadPlan | None:
        """How to store the message ``item``: ``None`` when it stays whole in the table."""
        return plan_offload(item, self.config)

    def plan_batch(
        self, items: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[OffloadPlan]]:
        """The items to write for new message ``items`` in one transaction, and the objects
        to write first. Each item over the threshold is offloaded; while the items together
        exceed a transaction's 4 MB, the largest left whole is offloaded too."""
        written: list[dict[str, Any]] = []
        plans: list[OffloadPlan] = []
        for item in items:
            plan = self.plan(item)
            written.append(item if plan is None else plan.item)
            if plan is not None:
                plans.append(plan)
        if len(written) < 2:
            return written, plans
        eager = replace(self.config, threshold_bytes=MIN_THRESHOLD_BYTES)
        sizes = [item_size(item) for item in written]
        while sum(sizes) > MAX_TRANSACTION_BYTES:
            largest = max(
                (index for index, item in enumerate(written) if POINTER_ATTRIBUTE not in item),
                key=lambda index: sizes[index],
                default=None,
            )
            plan = None if largest is None else plan_offload(written[largest], eager)
            if largest is None or plan is None:
                break  # nothing left to move: the size check names the problem
            written[largest] = plan.item
            sizes[largest] = item_size(plan.item)
            plans.append(plan)
        return written, plans

    def check_payload(self, attributes: Mapping[str, Any]) -> None:
        """``ValidationError`` (before any request) when the content and metadata among
        ``attributes`` (DynamoDB JSON) would make a payload over ``max_bytes``."""
        moving = {name: attributes[name] for name in _MOVABLE if name in attributes}
        if item_size(moving) <= self.config.threshold_bytes:
            return  # stays in the table, or a payload far below max_bytes
        size = len(encode_payload(moving))
        if size > self.config.max_bytes:
            raise ValidationError(
                f"the update would store {size:,} bytes in S3, over the offload limit of "
                f"{self.config.max_bytes:,} bytes (S3Offload.max_bytes)"
            )

    def write(self, plans: Sequence[OffloadPlan]) -> None:
        """PutObject of each plan's payload (in parallel for several); call before the items.

        On a failure, the objects already written are removed (no item points to them)."""
        try:
            self._each(lambda plan: self.store.put(plan.pointer.key, plan.payload), plans)
        except BaseException:
            self.discard(plans)
            raise

    def discard(self, plans: Iterable[OffloadPlan]) -> None:
        """Remove objects written for item writes that certainly did not happen (best effort)."""
        self.remove_keys([plan.pointer.key for plan in plans])

    # --- reads --------------------------------------------------------------------

    def restore(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The whole item: ``item`` itself when it holds everything, else put back together
        from its object (one GetObject). A missing object is ``ObjectNotFound`` naming the
        item; bytes other than the pointer says, ``UnreadableItemError``."""
        pointer = pointer_of(item)
        if pointer is None:
            return dict(item)
        try:
            stored = self.store.get(pointer.key)
        except ObjectNotFound as missing:
            raise ObjectNotFound(
                f"message item {_item_text(item)} points to S3 object {pointer.key!r}, "
                f"which is not in bucket {self.config.bucket!r}",
                bucket=self.config.bucket,
                key=pointer.key,
            ) from missing
        return restore(item, pointer, stored)

    def restore_all(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``items`` with every offloaded one restored, in order; the same list when none is."""
        if not any(POINTER_ATTRIBUTE in item for item in items):
            return items
        return self._each(self.restore, items)

    # --- removals -----------------------------------------------------------------

    @staticmethod
    def keys_of(items: Iterable[Mapping[str, Any]]) -> list[str]:
        """The object keys ``items`` (read with the pointer attribute) point to."""
        found = []
        for item in items:
            value = item.get(POINTER_ATTRIBUTE)
            if value is not None:
                found.append(parse_pointer(value, item).key)
        return found

    def remove(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Delete the objects of removed ``items``; never raises (see the module docstring)."""
        self.remove_keys(self.keys_of(items))

    def remove_keys(self, keys: Sequence[str]) -> None:
        """Delete objects by key; a failure is logged and leaves orphans, never raises."""
        if not keys:
            return
        try:
            if len(keys) == 1:
                self.store.delete(keys[0])
                return
            failures = self.store.delete_many(keys)
        except SessionError as error:  # any failure leaves orphans for collect_orphans
            log.warning(
                "could not delete %d S3 object(s) of removed messages (left for "
                "collect_orphans): %s: %s",
                len(keys),
                ", ".join(keys[:10]),
                error,
            )
            return
        for failure in failures:
            log.warning(
                "could not delete S3 object %r of a removed message (left for "
                "collect_orphans): %s %s",
                failure.key,
                failure.code,
                failure.message,
            )

    def replaced(self, old: Pointer | None, new: Pointer | None) -> None:
        """After an item's pointer went from ``old`` to ``new``: delete the old object."""
        if old is not None and (new is None or new.key != old.key):
            self.remove_keys([old.key])

    # --- garbage collection ---------------------------------------------------------

    def referenced_keys(self, gateway: Gateway) -> set[str]:
        """Every object key an item of the table points to (a projected, consistent Scan)."""
        e = Expression()
        pointer = e.name(POINTER_ATTRIBUTE)
        request = e.into(
            {
                "FilterExpression": f"attribute_exists({pointer})",
                "ProjectionExpression": pointer,
                "ConsistentRead": True,
            }
        )
        return {
            parse_pointer(item[POINTER_ATTRIBUTE], item).key
            for item in gateway.items("Scan", request)
            if POINTER_ATTRIBUTE in item
        }

    def collect_orphans(
        self, gateway: Gateway, *, older_than: timedelta, now: datetime
    ) -> OrphanReport:
        """Delete the objects older than ``older_than`` (by ``now``) that no item points to."""
        if not isinstance(older_than, timedelta) or older_than < timedelta(0):
            raise ValidationError("older_than must be a timedelta of at least 0")
        prefix = self.config.prefix
        candidates = [
            stored.key
            for stored in self.store.list(prefix, older_than=now - older_than)
            if _OBJECT_NAME.match(stored.key[len(prefix) :])
        ]
        if not candidates:
            return OrphanReport(0, 0, 0)
        # Listed first, then the pointers read: an item written after the listing points to
        # an object younger than the grace period, which was not listed.
        referenced = self.referenced_keys(gateway)
        orphans = [key for key in candidates if key not in referenced]
        failures = self.store.delete_many(orphans) if orphans else []
        for failure in failures:
            log.warning("could not delete orphan S3 object %r: %s", failure.key, failure.code)
        return OrphanReport(len(candidates), len(orphans) - len(failures), len(failures))

    # --- plumbing -----------------------------------------------------------------

    def _each(self, work: Any, inputs: Sequence[Any]) -> list[Any]:
        """``work`` over ``inputs`` in order; in parallel (``FETCH_PARALLELISM``) for several."""
        if len(inputs) < 2:
            return [work(value) for value in inputs]
        with ThreadPoolExecutor(max_workers=min(FETCH_PARALLELISM, len(inputs))) as pool:
            return list(pool.map(work, inputs))

    def close(self) -> None:
        """Release the S3 client's connections (a new client is made if used again)."""
        if self._made:
            client = self._made.pop()
            client.close()


def _item_text(item: Mapping[str, Any]) -> str:
    parts = []
    for name in TABLE_KEY:
        value = item.get(name)
        parts.append(repr(value.get("S", "?") if isinstance(value, dict) else "?"))
    return "/".join(parts)
