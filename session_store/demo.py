"""A short end-to-end run on an embedded DynamoDB (moto, in process).

``python -m session_store.demo`` creates the table from the models, stores a
session with a few messages, edits and pages through them, and reads them
back, printing each step and the DynamoDB requests it cost.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO, TypeVar

from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import ConcurrencyError
from session_store.testing.backends import MotoBackend, unique_table_name
from session_store.testing.requests import count_requests

T = TypeVar("T")


@contextmanager
def _embedded() -> Iterator[None]:
    with MotoBackend().active():
        yield


def run(out: TextIO = sys.stdout, *, endpoint_url: str | None = None) -> int:
    """Play the demo; returns the number of DynamoDB requests it made."""
    context = _embedded() if endpoint_url is None else _noop()
    with (
        context,
        DynamoDBAdapter(
            unique_table_name("session-store-demo"), region="us-east-1", endpoint_url=endpoint_url
        ) as adapter,
    ):
        total = 0

        def step(title: str, action: Callable[[], T]) -> T:
            nonlocal total
            with count_requests(adapter) as log:
                try:
                    return action()
                finally:
                    total += log.total
                    out.write(f"{title:<58} {log.total:>3} request(s)\n")

        step("create the table from the models", adapter.create_table)
        session = step(
            "create a session for user alice",
            lambda: adapter.create_session(
                {
                    "status": "active",
                    "user_id": "alice",
                    "active_agent_id": "triage",
                    "metadata": {"title": "Refund for order 1042", "tags": ["billing"]},
                }
            ),
        )
        question = step(
            "add the user's question",
            lambda: adapter.add_message(
                session.id, {"role": "user", "content": "Where is my refund?", "token_count": 6}
            ),
        )
        step(
            "add the agent's tool call",
            lambda: adapter.add_message(
                session.id,
                {
                    "role": "assistant",
                    "content": "",
                    "token_count": 14,
                    "metadata": {
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "name": "lookup_refund",
                                "arguments": '{"order": 1042}',
                            }
                        ]
                    },
                },
            ),
        )
        step(
            "add the tool's result",
            lambda: adapter.add_message(
                session.id,
                {
                    "role": "tool",
                    "content": "refund sent 2026-11-20",
                    "token_count": 8,
                    "metadata": {"tool_results": [{"tool_call_id": "call_1", "result": "sent"}]},
                },
            ),
        )
        step(
            "hand the session to the billing agent",
            lambda: adapter.update_session(
                session.id, {"active_agent_id": "billing"}, expected_version=1
            ),
        )
        try:
            step(
                "a stale write with version 1 is refused",
                lambda: adapter.update_session(
                    session.id, {"status": "paused"}, expected_version=1
                ),
            )
        except ConcurrencyError as error:
            out.write(f"  -> ConcurrencyError: {error}\n")
        step(
            "fix a typo in the question (1 request, any session size)",
            lambda: adapter.update_message(
                session.id, question.id, {"content": "Where's my refund?"}
            ),
        )
        page = step(
            "read the newest 2 messages",
            lambda: adapter.get_messages_page(session.id, {"order": "desc"}, page_size=2),
        )
        for message in page.items:
            out.write(f"  {message.role.value:>9}: {message.content!r}\n")
        stored = step("read the session back", lambda: adapter.get_session(session.id))
        assert stored is not None
        out.write(
            f"  version {stored.version}, {stored.message_count} messages, "
            f"{stored.token_count} tokens, agent {stored.active_agent_id}\n"
        )
        listed = step(
            "list alice's sessions through GSI1",
            lambda: adapter.list_sessions({"user_id": "alice"}),
        )
        out.write(f"  {len(listed)} session(s): {[s.metadata.title for s in listed]}\n")
        step("delete the session and its messages", lambda: adapter.delete_session(session.id))
        out.write(f"{'total':<58} {total:>3} request(s)\n")
        return total


@contextmanager
def _noop() -> Iterator[None]:
    yield


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    endpoint = args[args.index("--endpoint-url") + 1] if "--endpoint-url" in args else None
    run(endpoint_url=endpoint)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
