"""``append_batches``: lists of messages cut into what one ``add_messages`` call takes."""

from __future__ import annotations

from session_store import NewMessage
from session_store.limits import MAX_APPEND, MAX_ITEM_BYTES, MAX_TRANSACTION_BYTES, append_batches


def messages(count: int, size: int = 10) -> list[NewMessage]:
    return [NewMessage(role="user", content="x" * size) for _ in range(count)]


def test_small_messages_go_99_at_a_time_in_order() -> None:
    given = messages(2 * MAX_APPEND + 5)
    batches = list(append_batches(given))
    assert [len(batch) for batch in batches] == [MAX_APPEND, MAX_APPEND, 5]
    assert [m for batch in batches for m in batch] == given


def test_large_messages_stay_under_a_transactions_bytes() -> None:
    given = messages(30, size=MAX_ITEM_BYTES - 4_000)
    batches = list(append_batches(given))
    assert len(batches) > 1
    assert all(
        sum(len(m.model_dump_json()) for m in batch) < MAX_TRANSACTION_BYTES for batch in batches
    )
    assert sum(len(batch) for batch in batches) == 30


def test_nothing_gives_no_batch() -> None:
    assert list(append_batches([])) == []
