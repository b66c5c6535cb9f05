"""An agent conversation played end to end, showing what each step costs in DynamoDB requests.

``session-store demo`` (or ``python -m session_store.demo``) runs on an
embedded DynamoDB (moto, in process) unless given ``--endpoint-url``. It
creates a uniquely named table from the models, then: a session for a user,
messages with a tool call and its result, a hand-off to another agent, a
stale optimistic write refused with ``ConcurrencyError``, paging through the
history, the user's sessions listed through GSI1, and an expired session
swept. Embedded, it also offloads: the adapter has an S3 bucket (moto's S3)
for large messages, and a 1 MB screenshot goes there while its item keeps a
preview and a pointer. It ends with a summary table of the operations and requests each step
spent. On a real endpoint the demo table is deleted at the end.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TextIO, TypeVar

from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from session_store import keys, models
from session_store._client import s3_client
from session_store._time import utc_now
from session_store.domain import Message, TextBlock
from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import ConcurrencyError
from session_store.offload import S3Offload, pointer_of
from session_store.testing.backends import MotoBackend, unique_table_name
from session_store.testing.requests import count_requests

__all__ = ["DemoStep", "main", "run"]

T = TypeVar("T")

_TITLE_WIDTH = 68
_DEFAULT_REGION = "us-east-1"
_OLD_SESSION_AGE = timedelta(days=40)
_SESSION_TTL = timedelta(days=30)
_ROLE_STYLES = {"user": "cyan", "assistant": "green", "system": "magenta", "tool": "yellow"}


@dataclass
class DemoStep:
    """One step of the demo: what it did and the DynamoDB operations it sent."""

    label: str
    """A few words, for the summary table."""
    title: str
    operations: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.operations)

    def operation_summary(self) -> str:
        counts: dict[str, int] = {}
        for name in self.operations:
            counts[name] = counts.get(name, 0) + 1
        return ", ".join(name if n == 1 else f"{name} x{n}" for name, n in counts.items())


class _Clock:
    """The adapter's clock, which the demo can turn back to make an old session."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.offset


@contextmanager
def _embedded() -> Iterator[None]:
    with MotoBackend().active():
        yield


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _say(console: Console, text: str, style: str = "") -> None:
    console.print(Text(text, style=style), soft_wrap=True)


def _show_message(console: Console, message: Message, speaker: str) -> None:
    parts: list[tuple[str, str]] = []
    if isinstance(message.content, str) and message.content:
        parts.append((message.content, ""))
    elif isinstance(message.content, list):
        for block in message.content:
            if isinstance(block, TextBlock):
                parts.append((block.text, ""))
            else:
                parts.append((f"[image, {len(block.image_url.url):,} characters]", "dim"))
    metadata = message.metadata
    for call in (metadata.tool_calls or []) if metadata else []:
        parts.append((f"→ {call.name}({call.arguments})", "bold yellow"))
    for result in (metadata.tool_results or []) if metadata else []:
        parts.append((f"(result of {result.tool_call_id})", "dim"))
    line = Text("    ")
    line.append(f"{speaker:>10}", style=_ROLE_STYLES.get(message.role.value, ""))
    line.append(":")
    for text, style in parts:
        line.append(" ")
        line.append(text, style=style)
    console.print(line, soft_wrap=True)


def run(
    out: TextIO | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    console: Console | None = None,
    observe: Callable[[DynamoDBAdapter], Any] | None = None,
) -> int:
    """Play the demo; returns the number of DynamoDB requests it made.

    Prints to ``console`` (default: a console on ``out``, itself stdout by
    default). ``observe`` is called with the adapter once it exists (the
    command line's ``--verbose`` uses it to trace requests).
    """
    if console is None:
        stream = sys.stdout if out is None else out
        console = Console(file=stream, width=None if stream.isatty() else 100)
    embedded = endpoint_url is None
    table_name = unique_table_name("session-store-demo")
    clock = _Clock()
    steps: list[DemoStep] = []
    started = time.perf_counter()
    where = "embedded DynamoDB (moto, in process)" if embedded else endpoint_url
    console.print(Rule(f"session-store demo · {where}", style="bold"))
    _say(console, f"table {table_name}, sessions expire 30 days after their last activity", "dim")
    with (
        _embedded() if embedded else _nothing(),
        DynamoDBAdapter(
            table_name,
            region=region or _DEFAULT_REGION,
            endpoint_url=endpoint_url,
            session_ttl=_SESSION_TTL,
            clock=clock,
            offload=_demo_bucket(region or _DEFAULT_REGION) if embedded else None,
        ) as adapter,
    ):
        if observe is not None:
            observe(adapter)

        def step(label: str, title: str, action: Callable[[], T]) -> T:
            record = DemoStep(label, title)
            steps.append(record)
            with count_requests(adapter) as log:
                try:
                    return action()
                finally:
                    record.operations = list(log.operations)
                    line = Text(f"{len(steps):>2}. {title:<{_TITLE_WIDTH}}", style="bold")
                    line.append(f" {record.requests:>3} request(s)", style="cyan")
                    console.print(line, soft_wrap=True)

        try:
            _conversation(console, adapter, clock, step)
        finally:
            if not embedded:
                step(
                    "delete the demo table",
                    "delete the demo table",
                    lambda: adapter.models.gateway.table_request("delete_table", {}),
                )
    total = sum(s.requests for s in steps)
    console.print()
    console.print(_summary(steps, total))
    elapsed = time.perf_counter() - started
    _say(console, f"total: {total} DynamoDB requests in {elapsed:.2f} s", "bold")
    return total


def _demo_bucket(region: str) -> S3Offload:
    """A new bucket on the embedded S3, for the screenshot the demo offloads."""
    bucket = unique_table_name("session-store-demo")
    client = s3_client(region, None)
    located = {} if region == "us-east-1" else {"LocationConstraint": region}
    options = {"CreateBucketConfiguration": located} if located else {}
    client.create_bucket(Bucket=bucket, **options)
    client.close()
    return S3Offload(bucket, prefix="demo")


def _screenshot(
    console: Console,
    adapter: DynamoDBAdapter,
    session_id: str,
    step: Callable[[str, str, Callable[[], Any]], Any],
) -> None:
    """A 1 MB message: its payload goes to S3 first, the item keeps a preview and a pointer."""
    # Bytes that do not compress, as a real screenshot's: 800 KB, about 1 MB in base64.
    noise = b"".join(hashlib.sha256(n.to_bytes(4, "big")).digest() for n in range(25_000))
    image = "data:image/png;base64," + base64.b64encode(noise).decode()
    shot = step(
        "1 MB screenshot -> S3",
        "alice sends a 1 MB screenshot (payload to S3, then the item)",
        lambda: adapter.add_message(
            session_id,
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "here is my bank statement"},
                    {"type": "image_url", "image_url": {"url": image}},
                ],
                "token_count": 1100,
            },
        ),
    )
    _show_message(console, shot, "alice")
    # Read outside the step (not counted): the stored item, to show what it points to.
    pk, sk = models.TABLE_KEY
    item = adapter.models.gateway.get(
        {
            pk: {"S": keys.session_pk(session_id)},
            sk: {"S": keys.message_sk(shot.created_at, shot.id)},
        }
    )
    pointer = None if item is None else pointer_of(item)
    if pointer is not None and adapter.offload is not None:
        _say(
            console,
            f"    the item keeps a preview and a pointer; {pointer.size:,} bytes "
            f"({pointer.encoding}) went to s3://{adapter.offload.bucket}/ in one PutObject "
            "before the item (reads add a GetObject, deletes a DeleteObject: S3 requests are "
            "not counted here)",
            "dim",
        )


def _conversation(
    console: Console,
    adapter: DynamoDBAdapter,
    clock: _Clock,
    step: Callable[[str, str, Callable[[], Any]], Any],
) -> None:
    applied = step(
        "table and migrations",
        "create the table from the models and apply migrations",
        adapter.migrate,
    )
    _say(console, f"    applied {', '.join(applied) or 'nothing (already up to date)'}", "dim")

    # Forty days ago alice asked about a password and never came back.
    clock.offset = -_OLD_SESSION_AGE

    def old_session() -> None:
        old = adapter.create_session(
            {
                "status": "active",
                "user_id": "alice",
                "active_agent_id": "triage",
                "metadata": {"title": "Password reset", "tags": ["account"]},
            }
        )
        adapter.add_message(old.id, {"role": "user", "content": "I can't log in", "token_count": 4})

    step("an old session", "(40 days ago) alice opens a session, then goes quiet", old_session)
    clock.offset = timedelta(0)

    now = utc_now()
    session = step(
        "create a session",
        "create a session for user alice, with the triage agent",
        lambda: adapter.create_session(
            {
                "status": "active",
                "user_id": "alice",
                "active_agent_id": "triage",
                "metadata": {"title": "Refund for order 1042", "tags": ["billing"]},
                "participants": [
                    {"id": "alice", "role": "user", "joined_at": now},
                    {"id": "triage", "role": "agent", "joined_at": now},
                ],
            }
        ),
    )
    _say(console, f"    session {session.id}, version {session.version}", "dim")
    question = step(
        "user message",
        "alice asks a question",
        lambda: adapter.add_message(
            session.id, {"role": "user", "content": "Where is my refnud?", "token_count": 6}
        ),
    )
    _show_message(console, question, "alice")
    call = step(
        "tool call",
        "the triage agent calls a tool",
        lambda: adapter.add_message(
            session.id,
            {
                "role": "assistant",
                "content": "",
                "token_count": 14,
                "metadata": {
                    "tool_calls": [
                        {"id": "call_1", "name": "lookup_refund", "arguments": '{"order": 1042}'}
                    ]
                },
            },
        ),
    )
    _show_message(console, call, "triage")
    result = step(
        "tool result",
        "the tool answers",
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
    _show_message(console, result, "tool")
    # Every write of the session item moves its version: the create and three appends.
    seen = session.version + 3
    handed = step(
        f"hand-off, version {seen} -> {seen + 1}",
        f"triage hands the session to the billing agent (expects version {seen})",
        lambda: adapter.update_session(
            session.id,
            {
                "active_agent_id": "billing",
                "participants": [
                    *session.participants,
                    {"id": "billing", "role": "agent", "joined_at": utc_now()},
                ],
            },
            expected_version=seen,
        ),
    )
    _say(console, f"    now with {handed.active_agent_id}, version {handed.version}", "dim")
    try:
        step(
            "stale write refused",
            f"a stale write with version {seen} is refused",
            lambda: adapter.update_session(session.id, {"status": "paused"}, expected_version=seen),
        )
    except ConcurrencyError as error:
        _say(console, f"    -> ConcurrencyError: {error}", "red")
    step(
        "edit a message",
        "fix the typo in alice's question (1 request, any session size)",
        lambda: adapter.update_message(session.id, question.id, {"content": "Where is my refund?"}),
    )
    if adapter.offload is not None:
        _screenshot(console, adapter, session.id, step)

    def page_through() -> list[list[Message]]:
        pages = []
        cursor = None
        while True:
            page = adapter.get_messages_page(session.id, cursor=cursor, page_size=2)
            pages.append(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return pages

    pages = step("page the history", "page through the history, 2 messages a page", page_through)
    speakers = {"user": "alice", "assistant": "triage", "tool": "tool"}
    for number, items in enumerate(pages, start=1):
        _say(console, f"    page {number}", "dim")
        for message in items:
            _show_message(console, message, speakers.get(message.role.value, message.role.value))
    stored = step(
        "read the session", "read the session back", lambda: adapter.get_session(session.id)
    )
    assert stored is not None
    _say(
        console,
        f"    version {stored.version}, {stored.message_count} messages, "
        f"{stored.token_count} tokens, agent {stored.active_agent_id}",
        "dim",
    )
    listed = step(
        "list by user (GSI1)",
        "list alice's sessions through GSI1",
        lambda: adapter.list_sessions({"user_id": "alice"}),
    )
    _say(
        console,
        f"    {len(listed)} session(s): {[s.metadata.title for s in listed]}"
        " (the expired 'Password reset' is not listed)",
        "dim",
    )
    swept = step(
        "sweep expired", "sweep expired sessions (and their messages)", adapter.sweep_expired
    )
    _say(console, f"    removed {swept} expired session(s)", "dim")
    step(
        "delete the session",
        "delete the session and its messages",
        lambda: adapter.delete_session(session.id),
    )


def _summary(steps: list[DemoStep], total: int) -> Table:
    table = Table(title="What it cost", title_justify="left", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("step")
    table.add_column("DynamoDB operations")
    table.add_column("requests", justify="right")
    for number, record in enumerate(steps, start=1):
        table.add_row(str(number), record.label, record.operation_summary(), str(record.requests))
    table.add_section()
    table.add_row("", "total", "", str(total), style="bold")
    return table


def main(argv: list[str] | None = None) -> int:
    """``python -m session_store.demo [--endpoint-url URL]``."""
    args = sys.argv[1:] if argv is None else argv
    endpoint = args[args.index("--endpoint-url") + 1] if "--endpoint-url" in args else None
    run(endpoint_url=endpoint)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
