"""Expiry: finding and sweeping expired sessions, and the TTL stream handler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from session_store import keys, models
from session_store._expressions import Expression
from session_store._inputs import ttl_removed_session
from session_store._time import from_epoch_seconds, to_epoch_seconds
from session_store.dynamodb._core import AdapterCore
from session_store.errors import ValidationError
from session_store.gateway import ConditionFailed
from session_store.models import SessionMeta
from session_store.planning import delete_session_messages, expired_by, incarnation_end

CLOCK_SKEW_ALLOWANCE = timedelta(seconds=60)
"""How far the clocks of the processes writing one table may run apart.

A session that expired longer ago than this, by the sweeper's clock, is
expired for every writer too: none can append to it or move its expiry any
more, so ``sweep_expired`` may delete its messages before its item.
"""


class ExpiryMethods(AdapterCore):
    """Expired sessions and the messages DynamoDB's TTL leaves behind."""

    # --- expiry ---------------------------------------------------------------

    def get_expired_sessions(self, before: datetime) -> list[str]:
        """Ids of sessions with ``expires_at <= before`` (every page of a scan)."""
        seconds = self._epoch(before)
        return [session_id for session_id, _ in self._expired_sessions(seconds)]

    def _expired_sessions(self, seconds: int) -> list[tuple[str, dict[str, Any]]]:
        """``(id, item)`` of the sessions expiring by epoch ``seconds``, all scan pages
        (the items hold their key, ``expiresAt`` and ``lastActivityAt``).

        Both encodings of ``expiresAt`` are found (N, and the ISO string the
        TypeScript ``updateSession`` writes).
        """
        e = Expression()
        request = e.into(
            {
                "FilterExpression": f"{e.name(SessionMeta.sk)} = {e.string(keys.META_SK)} AND "
                f"{expired_by(e, seconds)}",
                "ProjectionExpression": ", ".join(
                    e.name(attribute)
                    for attribute in (
                        SessionMeta.pk,
                        SessionMeta.expires_at,
                        SessionMeta.last_activity_at,
                    )
                ),
            }
        )
        return [
            (keys.parse_session_pk(item[SessionMeta.pk.attr_name]["S"]), item)
            for item in self._gateway.items("Scan", request)
        ]

    @staticmethod
    def _epoch(instant: datetime) -> int:
        if not isinstance(instant, datetime):
            raise ValidationError("expected a datetime")
        try:
            return to_epoch_seconds(instant)
        except (ValueError, OverflowError) as error:
            raise ValidationError(f"invalid instant: {error}") from None

    def sweep_expired(
        self,
        before: datetime | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Delete expired sessions with their messages; how many sessions were removed.

        ``progress(done, total)`` is called once the expired sessions are known
        (``done == 0``) and after each of them is handled.

        A session whose expiry moved past ``before`` meanwhile (sliding TTL) is
        left alone, messages included. Offloaded messages' objects are deleted
        after their items. A session that expired more than
        ``CLOCK_SKEW_ALLOWANCE`` ago, by this adapter's clock, can no longer
        change: its messages go first and its item last, so a sweep that fails
        midway finds it again next time. Any other session (recently expired,
        or expiring by a future ``before``) may still be extended by a writer
        whose clock is behind, so its item goes first, on the condition that it
        is still expired, and its messages only once that delete succeeded
        (``delete_session`` or the stream handler finishes an interrupted one).
        """
        now = self._now()
        seconds = self._epoch(now if before is None else before)
        settled = to_epoch_seconds(now - CLOCK_SKEW_ALLOWANCE)
        removed = 0
        report = progress or (lambda done, total: None)
        expired = self._expired_sessions(seconds)
        report(0, len(expired))
        for done, (session_id, item) in enumerate(expired, start=1):
            messages_first = (models.expiry_seconds(item) or 0) <= settled
            if self._sweep_one(session_id, seconds, item, messages_first=messages_first):
                removed += 1
            report(done, len(expired))
        return removed

    def _sweep_one(
        self, session_id: str, seconds: int, item: dict[str, Any], *, messages_first: bool
    ) -> bool:
        """Remove one expired session and its messages; whether it was removed.

        Only that incarnation's messages go (``incarnation_end``): a later
        session under the same id keeps its own.
        """
        below = incarnation_end(item, self._now())
        if messages_first:
            delete_session_messages(
                self._gateway, session_id, sort_key_below=below, **self._objects_removal()
            )
        if not self._delete_if_expired(session_id, seconds):
            return False
        if not messages_first:
            delete_session_messages(
                self._gateway,
                session_id,
                sort_key_below=incarnation_end(item, self._now()),
                **self._objects_removal(),
            )
        return True

    def _delete_if_expired(self, session_id: str, seconds: int) -> bool:
        """Delete the session item if it expires by ``seconds``; whether it is gone now."""
        e = Expression()
        try:
            self._gateway.delete(
                e.into(
                    {
                        "Key": SessionMeta.key(session_id),
                        "ConditionExpression": expired_by(e, seconds),
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                )
            )
        except ConditionFailed as failed:
            # No item: already deleted (e.g. our own retried delete). An item: expiry moved.
            return failed.item is None
        return True

    def handle_stream_event(self, event: Mapping[str, Any]) -> int:
        """Delete the messages of session items the TTL service removed; how many.

        Offloaded messages' S3 objects go too, after their items (the listing of
        the messages reads their pointers, so a KEYS_ONLY stream suffices).
        Takes a DynamoDB Streams Lambda event (any view type: keys suffice).
        Only the messages of the removed incarnation go (see ``_removed_bound``).
        """
        if not isinstance(event, Mapping) or not isinstance(event.get("Records", []), list):
            raise ValidationError("expected a DynamoDB Streams event with a Records list")
        removals = [ttl_removed_session(record) for record in event.get("Records", [])]
        deleted = 0
        for removal in removals:
            if removal is not None:
                session_id, removed_at = removal
                deleted += delete_session_messages(
                    self._gateway,
                    session_id,
                    sort_key_below=self._removed_bound(removed_at),
                    **self._objects_removal(),
                )
        return deleted

    def _removed_bound(self, removed_at: float | None) -> str:
        """Sort-key bound above every message of a session the TTL service removed.

        Its messages were appended before it expired, so before the removal
        the record reports (``ApproximateCreationDateTime``): a later session
        under the same id keeps its messages, however late (or how often) the
        record arrives. A record without that time is bounded by now.
        """
        instant = self._now() if removed_at is None else from_epoch_seconds(removed_at)
        return keys.message_sk_after(instant)
