"""get_context_window: what fits, oldest first, reading no more pages than needed."""

from __future__ import annotations

import pytest

from session_store import DynamoDBAdapter, Message, ValidationError
from session_store.ids import new_message_id
from session_store.models import Message as MessageItem
from session_store.testing.requests import count_requests


def test_window_keeps_system_messages_and_the_newest_run(adapter: DynamoDBAdapter) -> None:
    session = adapter.create_session({"status": "active"})
    system = adapter.add_message(
        session.id, {"role": "system", "content": "be brief", "token_count": 10}
    )
    turns = [
        adapter.add_message(
            session.id,
            {"role": "user" if i % 2 else "assistant", "content": f"t{i}", "token_count": 5},
        )
        for i in range(8)
    ]
    untracked = adapter.add_message(session.id, {"role": "tool", "content": "no count"})
    with count_requests(adapter) as log:
        window = adapter.get_context_window(session.id, 32, reserve_tokens=2)
    # 30 tokens: 10 for the system prompt, room for 4 turns of 5 (the untracked one counts 0).
    assert window == [system, *turns[-4:], untracked]
    assert log.operations == ["Query", "Query"]
    assert adapter.get_context_window(session.id, 5) == [system]
    assert adapter.get_context_window("unknown", 100) == []


@pytest.mark.parametrize("arguments", [(-1, 0), (10, -1), (True, 0)])
def test_window_refuses_bad_budgets(adapter: DynamoDBAdapter, arguments: tuple[int, int]) -> None:
    with count_requests(adapter) as log, pytest.raises(ValidationError):
        adapter.get_context_window("s", arguments[0], reserve_tokens=arguments[1])
    assert log.total == 0


def test_window_on_a_big_session_reads_only_the_pages_it_needs(adapter: DynamoDBAdapter) -> None:
    session = adapter.create_session({"status": "active"})
    messages = []
    for index in range(1000):
        message_id = new_message_id()
        messages.append(
            Message(
                id=str(message_id),
                session_id=session.id,
                role="user",
                content=f"m{index}",
                token_count=3,
                created_at=message_id.datetime,
            )
        )
    for start in range(0, 1000, 25):
        adapter.models.client.batch_write_item(
            RequestItems={
                adapter.config.table_name: [
                    {"PutRequest": {"Item": MessageItem.from_domain(m).serialize()}}
                    for m in messages[start : start + 25]
                ]
            }
        )
    with count_requests(adapter) as log:
        window = adapter.get_context_window(session.id, 60)
    assert window == messages[-20:]
    # The system-message query reads the session (about 200 KB: one page); the
    # newest-first read needs one page of CONTEXT_PAGE (100) for 20 messages.
    assert log.operations == ["Query", "Query"]
    with count_requests(adapter) as log:
        window = adapter.get_context_window(session.id, 3 * 250)
    assert window == messages[-250:]
    # 250 messages fit; the 251st, which ends the read, is on the third page of 100.
    assert log.operations == ["Query"] * (1 + 3)
