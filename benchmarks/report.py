"""Result tables and the report: Markdown for ``BENCHMARKS.md``, rich tables for the terminal.

A part of the benchmark returns a ``ResultTable`` (its numbers already
formatted) with the prose that explains it; ``render_markdown`` puts the
tables of one run under a header that says where and when they were
measured (``RunInfo``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rich.table import Table

__all__ = [
    "Column",
    "ResultTable",
    "RunInfo",
    "format_count",
    "format_ms",
    "format_ratio",
    "format_units",
    "render_markdown",
]


@dataclass(frozen=True)
class Column:
    """A column: its heading, and whether it holds numbers (right-aligned)."""

    heading: str
    numeric: bool = True


@dataclass
class ResultTable:
    """One table of the report, with the text around it."""

    key: str
    """A stable identifier (``cost``, ``overhead``, ``scale``, ``concurrency``)."""
    title: str
    intro: str
    """What the table measures and how (Markdown)."""
    columns: list[Column]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Findings and caveats under the table (Markdown, one bullet each)."""

    def add_row(self, *cells: str) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.key}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", self.intro.strip(), ""]
        lines.append("| " + " | ".join(column.heading for column in self.columns) + " |")
        lines.append("| " + " | ".join("---:" if c.numeric else "---" for c in self.columns) + " |")
        lines.extend("| " + " | ".join(_escape(cell) for cell in row) + " |" for row in self.rows)
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines) + "\n"

    def rich(self) -> Table:
        table = Table(title=self.title, title_justify="left", expand=False)
        for column in self.columns:
            table.add_column(column.heading, justify="right" if column.numeric else "left")
        for row in self.rows:
            table.add_row(*row)
        return table


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


@dataclass(frozen=True)
class RunInfo:
    """Where, when and how a run was made."""

    command: str
    date: str
    duration_seconds: float
    sizes: str
    backend: str
    machine: Sequence[tuple[str, str]]
    versions: Sequence[tuple[str, str]]


def render_markdown(info: RunInfo, tables: Iterable[ResultTable], preamble: str) -> str:
    """The whole ``BENCHMARKS.md``: header, run details, then the tables in order."""
    parts = ["# Benchmarks", "", preamble.strip(), ""]
    parts += [
        f"Run with `{info.command}` on {info.date} ({info.sizes} sizes), "
        f"in {info.duration_seconds / 60:.1f} minutes.",
        "",
        f"Backend: {info.backend}.",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {name} | {_escape(value)} |" for name, value in info.machine),
        "",
        "| software | version |",
        "| --- | --- |",
        *(f"| {name} | {_escape(value)} |" for name, value in info.versions),
        "",
    ]
    body = "\n".join(parts) + "\n" + "\n".join(table.markdown() for table in tables)
    return body.rstrip("\n") + "\n"


# --- number formatting --------------------------------------------------------


def format_ms(seconds: float | None) -> str:
    """Milliseconds with three significant figures (``0.412``, ``12.3``, ``1,234``)."""
    if seconds is None:
        return "—"
    ms = seconds * 1000
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def format_count(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def format_units(value: float | None) -> str:
    """Capacity units (halves are common: an eventually consistent read is 0.5)."""
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:g}"


def format_ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    if value >= 10:
        return f"{value:,.0f}x"
    return f"{value:.2f}x"
