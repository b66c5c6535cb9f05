"""Expiry: finding and sweeping expired sessions, and the TTL stream handler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from session_store import keys
from session_store._expressions import Expression
from session_store._inputs import ttl_removed_session
from session_store._time import to_epoch_seconds
from session_store.dynamodb._core import (
    CONDITION_FAILED,
    AdapterCore,
    session_key,
)
from session_store.errors import (
    ValidationError,
    error_code,
)

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
        with self._storage("get_expired_sessions"):
            return [session_id for session_id, _ in self._expired_sessions(seconds)]

    def _expired_sessions(self, seconds: int) -> list[tuple[str, int]]:
        """``(id, expiresAt)`` of the sessions expiring by epoch ``seconds``, all scan pages."""
        e = Expression()
        expires = e.name("expiresAt")
        request = e.into(
            {
                "TableName": self._table,
                "FilterExpression": f"{e.name('SK')} = {e.string(keys.META_SK)} AND "
                f"{expires} <= {e.number(seconds)}",
                "ProjectionExpression": f"{e.name('PK')}, {expires}",
            }
        )
        return [
            (keys.parse_session_pk(item["PK"]["S"]), int(Decimal(item["expiresAt"]["N"])))
            for item in self._paged("Scan", request)
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
        left alone, messages included. A session that expired more than
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
        with self._storage("sweep_expired"):
            expired = self._expired_sessions(seconds)
            report(0, len(expired))
            for done, (session_id, expires) in enumerate(expired, start=1):
                if self._sweep_one(session_id, seconds, messages_first=expires <= settled):
                    removed += 1
                report(done, len(expired))
        return removed

    def _sweep_one(self, session_id: str, seconds: int, *, messages_first: bool) -> bool:
        """Remove one expired session and its messages; whether it was removed."""
        if messages_first:
            self._delete_messages(session_id)
        if not self._delete_if_expired(session_id, seconds):
            return False
        if not messages_first:
            self._delete_messages(session_id)
        return True

    def _delete_if_expired(self, session_id: str, seconds: int) -> bool:
        """Delete the session item if it expires by ``seconds``; whether it is gone now."""
        e = Expression()
        expires = e.name("expiresAt")
        try:
            self._write(
                "delete_item",
                **e.into(
                    {
                        "TableName": self._table,
                        "Key": session_key(session_id),
                        "ConditionExpression": f"{expires} <= {e.number(seconds)}",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                ),
            )
        except ClientError as error:
            if error_code(error) != CONDITION_FAILED:
                raise
            # No item: already deleted (e.g. our own retried delete). An item: expiry moved.
            return "Item" not in error.response
        return True

    def handle_stream_event(self, event: Mapping[str, Any]) -> int:
        """Delete the messages of session items the TTL service removed; how many.

        Takes a DynamoDB Streams Lambda event (any view type: keys suffice).
        """
        if not isinstance(event, Mapping) or not isinstance(event.get("Records", []), list):
            raise ValidationError("expected a DynamoDB Streams event with a Records list")
        sessions = [ttl_removed_session(record) for record in event.get("Records", [])]
        deleted = 0
        with self._storage("handle_stream_event"):
            for session_id in sessions:
                if session_id is not None:
                    deleted += self._delete_messages(session_id)
        return deleted
