"""What the command line prints: rich tables for people, JSON lines for programs.

``Output`` carries the two streams: results go to ``console`` (stdout),
notes, traces and errors to ``err`` (stderr), so ``--json`` output stays
clean to pipe. ``Output.capture()`` records both, for tests.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from session_store._time import format_iso
from session_store.domain import Message, Session

__all__ = [
    "Output",
    "message_json",
    "message_text",
    "print_messages",
    "session_json",
    "session_summary",
    "sessions_table",
    "when",
]

_PIPE_WIDTH = 160
_ROLE_STYLES = {"user": "cyan", "assistant": "green", "system": "magenta", "tool": "yellow"}
_STATUS_STYLES = {"active": "green", "paused": "yellow", "completed": "blue", "expired": "red"}


@dataclass
class Output:
    """stdout and stderr as rich consoles."""

    console: Console
    err: Console

    @classmethod
    def standard(cls) -> Output:
        """stdout and stderr; output that is not a terminal is not cut at 80 columns.

        ``COLUMNS``, when set to a width, wins, on a terminal or not.
        """
        console = Console()
        if not console.is_terminal:
            console = Console(width=_columns() or _PIPE_WIDTH)
        return cls(console, Console(stderr=True))

    @classmethod
    def capture(cls, width: int = 160, *, terminal: bool = False) -> Output:
        """Both streams into memory (no colours, fixed width); read with ``text``/``errors``.

        ``terminal=True`` makes stderr act as a terminal, so progress bars draw.
        """
        return cls(
            Console(file=io.StringIO(), width=width, color_system=None, soft_wrap=False),
            Console(
                file=io.StringIO(),
                width=width,
                color_system=None,
                soft_wrap=True,
                force_terminal=terminal or None,
            ),
        )

    @property
    def stream(self) -> IO[str]:
        """The raw stdout stream (for JSON lines, which must not be wrapped or styled)."""
        return self.console.file

    def text(self) -> str:
        """What was printed to stdout (``capture`` only)."""
        return _captured(self.console)

    def errors(self) -> str:
        """What was printed to stderr (``capture`` only)."""
        return _captured(self.err)

    def json_line(self, value: Any) -> None:
        self.stream.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")

    def note(self, text: str) -> None:
        """A line on stderr, printed as is (no markup)."""
        self.err.print(Text(text, style="dim"), soft_wrap=True)

    def say(self, text: str, style: str = "") -> None:
        """A line on stdout, printed as is (no markup)."""
        self.console.print(Text(text, style=style), soft_wrap=True)

    def error(self, text: str) -> None:
        self.err.print(Text.assemble(("error: ", "bold red"), text), soft_wrap=True)


def _columns() -> int | None:
    """The width ``COLUMNS`` asks for, if it holds a positive whole number."""
    text = os.environ.get("COLUMNS", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def _captured(console: Console) -> str:
    file = console.file
    return file.getvalue() if isinstance(file, io.StringIO) else ""


def when(value: datetime | None) -> str:
    return "" if value is None else format_iso(value)[:19].replace("T", " ")


def session_json(session: Session) -> dict[str, Any]:
    """The session in the TypeScript JSON shape (camelCase, ISO dates)."""
    return session.model_dump(by_alias=True, mode="json", exclude_none=True)


def message_json(message: Message) -> dict[str, Any]:
    """The message in the TypeScript JSON shape (camelCase, ISO dates)."""
    return message.model_dump(by_alias=True, mode="json", exclude_none=True)


def sessions_table(sessions: Iterable[Session], *, title: str | None = None) -> Table:
    table = Table(
        title=None if title is None else Text(title),
        title_justify="left",
        header_style="bold",
    )
    table.add_column("id", no_wrap=True)
    table.add_column("user")
    table.add_column("agent")
    table.add_column("status")
    table.add_column("title · tags", ratio=1)
    table.add_column("msgs", justify="right")
    table.add_column("tokens", justify="right")
    table.add_column("created (UTC)", no_wrap=True)
    for session in sessions:
        status = session.status.value
        label = Text(session.metadata.title or "")
        if session.metadata.tags:
            label.append(("  " if label else "") + " ".join(f"#{t}" for t in session.metadata.tags))
            label.stylize("dim", len(session.metadata.title or ""))
        table.add_row(
            Text(session.id),
            Text(session.user_id or ""),
            Text(session.active_agent_id or ""),
            Text(status, style=_STATUS_STYLES.get(status, "")),
            label,
            str(session.message_count),
            str(session.token_count),
            when(session.created_at)[:16],
        )
    return table


def session_summary(session: Session) -> Table:
    """The session's fields as a two-column grid."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    rows: list[tuple[str, str | Text]] = [
        ("id", session.id),
        ("title", Text(session.metadata.title or "")),
        ("status", Text(session.status.value, style=_STATUS_STYLES.get(session.status.value, ""))),
        ("user", session.user_id or "-"),
        ("active agent", session.active_agent_id or "-"),
        ("tags", Text(", ".join(session.metadata.tags or []) or "-")),
        (
            "participants",
            Text(", ".join(f"{p.id} ({p.role.value})" for p in session.participants) or "-"),
        ),
        ("messages", f"{session.message_count} ({session.token_count} tokens)"),
        ("version", str(session.version)),
        ("created", when(session.created_at)),
        ("last activity", when(session.last_activity_at)),
        ("expires", when(session.expires_at) or "never"),
    ]
    for name, value in rows:
        grid.add_row(name, value)
    return grid


def message_text(message: Message) -> Text:
    """The message's content, with its tool calls and results, as one block of text."""
    text = Text()
    if isinstance(message.content, str):
        text.append(message.content)
    else:
        parts = []
        for block in message.content:
            if block.type == "text":
                parts.append(block.text)
            else:
                parts.append(f"[image] {block.image_url.url}")
        text.append("\n".join(parts))
    metadata = message.metadata
    if metadata is not None:
        for call in metadata.tool_calls or []:
            if text:
                text.append("\n")
            text.append(f"→ {call.name}({call.arguments})", style="bold yellow")
            text.append(f"  [{call.id}]", style="dim")
        for result in metadata.tool_results or []:
            if text:
                text.append("\n")
            marker = "✗" if result.is_error else "←"
            text.append(f"{marker} {json.dumps(result.result, ensure_ascii=False)}", style="yellow")
            text.append(f"  [{result.tool_call_id}]", style="dim")
    return text


def print_messages(console: Console, messages: Iterable[Message]) -> int:
    """Print messages as a transcript: a header line each, then the content indented."""
    count = 0
    for message in messages:
        count += 1
        role = message.role.value
        header = Text.assemble(
            (when(message.created_at), "dim"),
            "  ",
            (f"{role:<9}", f"bold {_ROLE_STYLES.get(role, '')}".strip()),
        )
        if message.token_count is not None:
            header.append(f" {message.token_count} tokens", style="dim")
        header.append(f"  {message.id}", style="dim")
        console.print(header)
        console.print(Padding(message_text(message), (0, 0, 0, 4), expand=False))
    return count
