"""One run of the benchmarks: the seven parts, printed as they finish, then ``BENCHMARKS.md``.

``run_benchmarks(options)`` runs and returns a ``Report`` (the parts'
measurements and the Markdown); ``main(argv)`` is the command line behind
``python -m benchmarks`` and ``session-store bench``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.text import Text

from benchmarks.async_latency import AsyncLatencyResult, measure_async_latency
from benchmarks.concurrency import ConcurrencyResult, measure_concurrency
from benchmarks.cost import CostResult, measure_costs
from benchmarks.environment import (
    BACKENDS,
    Bench,
    Log,
    machine_description,
    open_backend,
    software_versions,
)
from benchmarks.offload import OffloadResult, measure_offload
from benchmarks.overhead import CASES, OverheadResult, measure_overhead, profile_case
from benchmarks.report import ResultTable, RunInfo, render_markdown
from benchmarks.scale import ScaleResult, measure_scale
from benchmarks.seeding import MESSAGE
from benchmarks.sizes import FULL, QUICK, Sizes
from benchmarks.targets import TargetsResult, measure_targets

__all__ = ["PARTS", "Report", "RunOptions", "main", "run_benchmarks"]

PARTS = ("cost", "overhead", "scale", "concurrency", "targets", "latency", "offload")
"""The parts in the report's order (also the ``Report`` fields that hold their results)."""
DEFAULT_OUTPUT = Path("BENCHMARKS.md")
_WARM_UP_CONVERSATIONS = {"full": 40, "quick": 2}

PREAMBLE = """
What `session_store` costs per request and how it behaves on large sessions,
measured by `python -m benchmarks` (also `session-store bench`) from a source
checkout. This file is that command's output: run it again to reproduce or
update it (`python -m benchmarks --quick` runs the same code at small sizes in
about a minute; CI runs it). The seven parts are the modules `benchmarks.cost`,
`benchmarks.overhead`, `benchmarks.scale`, `benchmarks.concurrency`,
`benchmarks.targets`, `benchmarks.async_latency` and `benchmarks.offload`, whose
docstrings say exactly what is measured.

Times depend on the machine and on what else runs on it; request counts and
capacity units do not. Compare ratios measured in one run.
"""


@dataclass(frozen=True)
class RunOptions:
    sizes: Sizes = FULL
    backend: str = "local"
    endpoint_url: str | None = None
    """A running DynamoDB Local to use instead of starting one (``backend="local"``)."""
    output: Path | None = DEFAULT_OUTPUT
    """Where to write the report; ``None``: nowhere."""
    parts: tuple[str, ...] = PARTS
    command: str = "python -m benchmarks"


@dataclass
class Report:
    """What one run measured, and its Markdown."""

    info: RunInfo
    cost: CostResult | None = None
    overhead: OverheadResult | None = None
    scale: ScaleResult | None = None
    concurrency: ConcurrencyResult | None = None
    targets: TargetsResult | None = None
    latency: AsyncLatencyResult | None = None
    offload: OffloadResult | None = None
    markdown: str = ""
    tables: list[ResultTable] = field(default_factory=list)


_PartResult = (
    CostResult
    | OverheadResult
    | ScaleResult
    | ConcurrencyResult
    | TargetsResult
    | AsyncLatencyResult
    | OffloadResult
)
_Measure = Callable[[Bench, Sizes, Log, Mapping[str, _PartResult]], _PartResult]
"""Runs one part, given the results of the parts run before it."""


def _on_its_own(measure: Callable[[Bench, Sizes, Log], _PartResult]) -> _Measure:
    """A part that needs no other part's result."""
    return lambda bench, sizes, log, _earlier: measure(bench, sizes, log)


def _targets(
    bench: Bench, sizes: Sizes, log: Log, earlier: Mapping[str, _PartResult]
) -> TargetsResult:
    """Part 5 takes the client overhead from part 2's result, when part 2 ran."""
    overhead = earlier.get("overhead")
    assert overhead is None or isinstance(overhead, OverheadResult)
    return measure_targets(bench, sizes, log, overhead)


# The order the parts run in. The CPU timing of part 2 goes first, while the backend is
# idle: after part 1 it is still busy with large tables on the same cores, which skews CPU
# time. Part 5 comes after part 2, whose result it uses.
_MEASURES: dict[str, _Measure] = {
    "overhead": _on_its_own(measure_overhead),
    "cost": _on_its_own(measure_costs),
    "scale": _on_its_own(measure_scale),
    "concurrency": _on_its_own(measure_concurrency),
    "targets": _targets,
    "latency": _on_its_own(measure_async_latency),
    "offload": _on_its_own(measure_offload),
}


def _warm_up(bench: Bench, sizes: Sizes) -> None:
    """Conversations first, so the server's JIT warm-up is not in the first figures."""
    with bench.table() as adapter:
        for _ in range(_WARM_UP_CONVERSATIONS[sizes.name]):
            session = adapter.create_session({"status": "active", "user_id": "warm-up"})
            added = [adapter.add_message(session.id, MESSAGE) for _ in range(10)]
            adapter.get_session(session.id)
            adapter.get_messages(session.id)
            adapter.get_messages_page(session.id, {"order": "desc"}, page_size=5)
            adapter.update_session(session.id, {"active_agent_id": "warm-up"})
            adapter.update_message(session.id, added[0].id, {"content": "edited"})
            adapter.update_message(session.id, added[1].id, {"token_count": 1})
            adapter.delete_message(session.id, added[2].id)
            adapter.list_sessions({"user_id": "warm-up", "limit": 20})
            adapter.delete_session(session.id)


def run_benchmarks(options: RunOptions, console: Console | None = None) -> Report:
    """Run the chosen parts on the chosen backend; write the report if asked to."""
    shown = console or Console()
    unknown = set(options.parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown part(s) {sorted(unknown)}; choose from {', '.join(PARTS)}")
    started = time.perf_counter()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sizes = options.sizes

    def log(text: str) -> None:
        shown.print(Text(f"{time.perf_counter() - started:7.1f} s  {text}", style="dim"))

    def show(table: ResultTable | None) -> None:
        if table is None:
            return
        shown.print(table.rich())
        for note in table.notes:
            shown.print(f"  • {note}", soft_wrap=True)

    measured: dict[str, _PartResult] = {}
    with open_backend(options.backend, endpoint_url=options.endpoint_url) as bench:
        log(f"{sizes.name} run on {bench.description}")
        _warm_up(bench, sizes)
        for part, measure in _MEASURES.items():
            if part in options.parts:
                measured[part] = measure(bench, sizes, log, measured)
                show(measured[part].table)
        info = RunInfo(
            command=options.command,
            date=date,
            duration_seconds=time.perf_counter() - started,
            sizes=sizes.name,
            backend=bench.description,
            machine=machine_description(),
            versions=software_versions(bench),
        )
    in_report_order = [measured[part] for part in PARTS if part in measured]
    tables = [result.table for result in in_report_order if result.table is not None]
    report = Report(info, tables=tables)
    for part, result in measured.items():
        setattr(report, part, result)  # the Report field of the part's name
    report.markdown = render_markdown(info, tables, PREAMBLE)
    if options.output is not None:
        options.output.write_text(report.markdown, encoding="utf-8")
        log(f"wrote {options.output} in {info.duration_seconds:.0f} s")
    return report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure session_store: cost per operation, client overhead, scale, "
        "concurrency, the speed targets, async under latency and large messages; print the "
        "tables and write BENCHMARKS.md.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (what CI runs): under a minute"
    )
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"where to write the report (default: {DEFAULT_OUTPUT})",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="local: Amazon DynamoDB Local, started from node_modules (default); "
        "moto: moto in process",
    )
    parser.add_argument(
        "--endpoint-url", help="a running DynamoDB Local to use instead of starting one"
    )
    parser.add_argument(
        "--part",
        action="append",
        choices=PARTS,
        help="run only this part (repeatable; the report then lacks the others)",
    )
    parser.add_argument(
        "--profile",
        choices=[case.key for case in CASES],
        help="print a cProfile of one operation's adapter path on canned responses, and stop",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks [--quick] [--output PATH] [--backend local|moto] ...``."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    options = _parser().parse_args(arguments)
    sizes = QUICK if options.quick else FULL
    if options.profile:
        with open_backend(options.backend, endpoint_url=options.endpoint_url) as bench:
            print(profile_case(bench, options.profile))
        return 0
    run_benchmarks(
        RunOptions(
            sizes=sizes,
            backend=options.backend,
            endpoint_url=options.endpoint_url,
            output=options.output,
            parts=tuple(options.part or PARTS),
            command=" ".join(["python -m benchmarks", *arguments]),
        )
    )
    return 0
