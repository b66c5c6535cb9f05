"""The whole benchmark at its quick size on DynamoDB Local: it runs, reports, spends as budgeted.

This keeps ``python -m benchmarks`` working. Times are never asserted (they
depend on the machine); request counts are, exactly, because they are what
the report promises.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import TypeVar

import pytest

from benchmarks import QUICK, Report, RunOptions, run_benchmarks
from benchmarks.async_latency import LATENCY_SIZES, MESSAGES_PER_CONVERSATION
from benchmarks.deletes import measure_deletes
from benchmarks.runner import main
from session_store.testing.backends import Backend
from session_store.testing.dynamodb_local import DynamoDBLocal

pytestmark = [
    pytest.mark.backends("local"),
    # One worker runs the whole module (``--dist loadgroup``): its fixture, the quick
    # benchmark, then runs once, not once on each worker its tests land on.
    pytest.mark.xdist_group("quick-benchmark"),
]

TABLE_TITLES = (
    "## 1. Cost per operation",
    "## 2. Client overhead",
    "## 3. Scale",
    "## 4. Concurrency throughput",
    "## 5. Speed targets",
    "## 6. Async under real latency",
    "## 7. Large messages",
)


@pytest.fixture(scope="session")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench") / "BENCHMARKS.md"


@pytest.fixture(scope="session")
def quick_report(report_file: Path, dynamodb_local_endpoint: str) -> Report:
    """The quick run, once (it takes most of a minute).

    Session-scoped: the worker running this module's group may be handed other
    modules' tests between two of these, which would tear a module fixture down
    and run the benchmark again.
    """
    return run_benchmarks(
        RunOptions(sizes=QUICK, endpoint_url=dynamodb_local_endpoint, output=report_file)
    )


@pytest.fixture(scope="session")
def dynamodb_local_endpoint(request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue("dynamodb_local")
    return str(server.endpoint_url)


T = TypeVar("T")


def measured(result: T | None) -> T:
    """A part's result, which the quick run (every part) must have produced."""
    assert result is not None
    return result


def test_the_report_has_all_tables_and_says_where_it_ran(
    backend: Backend, quick_report: Report, report_file: Path
) -> None:
    text = report_file.read_text(encoding="utf-8")
    assert text == quick_report.markdown
    positions = [text.index(title) for title in TABLE_TITLES]
    assert positions == sorted(positions)
    for detail in ("| logical cores |", "| botocore |", "| pynamodb |", "Amazon DynamoDB Local"):
        assert detail in text
    assert "(quick sizes)" in text
    assert [table.key for table in quick_report.tables] == [
        "cost",
        "overhead",
        "scale",
        "concurrency",
        "targets",
        "latency",
        "offload",
    ]
    for table in quick_report.tables:
        assert table.rows
        assert all(len(row) == len(table.columns) for row in table.rows)


CONSTANT_BUDGETS = {
    "create_session": 1,
    "get_session": 1,
    "update_session": 1,
    "add_message": 1,
    "add_messages": 1,
    "get_messages_tail": 1,
    "get_messages_page": 1,
    "update_message": 1,
    "update_message_tokens": 2,
    "delete_message": 2,
    "recount": 2,
    "list_sessions": 1,
    "health": 2,
    "get_expired_sessions": 1,
}


def test_cost_table_requests_are_the_adapters_budgets(
    backend: Backend, quick_report: Report
) -> None:
    cost = measured(quick_report.cost)
    for size in QUICK.cost_sessions:
        for key, budget in CONSTANT_BUDGETS.items():
            assert set(cost.requests(size, key)) == {budget}, (size, key)
        batches = math.ceil(size / 25)
        # Each listing of the quick sizes fits one page.
        assert cost.requests(size, "get_messages") == [1]
        assert cost.requests(size, "delete_session") == [1 + 1 + batches]
        assert cost.requests(size, "handle_stream_event") == [1 + batches]
        assert cost.requests(size, "sweep_expired") == [1 + 1 + batches + 1]
        # Up to 99 messages: one transaction; more: batches, then one counter update.
        assert cost.requests(size, "delete_all_messages") == (
            [2] if size <= 99 else [1 + batches + 1]
        )
        # DynamoDB Local reports the capacity every request consumed.
        assert cost.measured[size]["get_session"].capacity == [1.0] * QUICK.cost_repeats


def test_overhead_replays_exactly_the_recorded_calls(
    backend: Backend, quick_report: Report
) -> None:
    overhead = measured(quick_report.overhead)
    calls = {result.case.key: result.operations() for result in overhead.results}
    assert calls == {
        "get_session": "GetItem",
        "add_message": "TransactWriteItems",
        "update_session": "UpdateItem",
        "create_session": "PutItem",
        "update_message": "UpdateItem",
        "get_messages_tail": "Query",
        "get_messages": "Query",
        "list_sessions": "Query",
        "delete_message": "GetItem, TransactWriteItems",
        "delete_session": "DeleteItem, Query, BatchWriteItem",
    }
    assert all(result.adapter_seconds > 0 and result.raw_seconds > 0 for result in overhead.results)


def test_scale_requests_stay_flat_where_they_must(backend: Backend, quick_report: Report) -> None:
    scale = measured(quick_report.scale)
    assert scale.requests("tail") == (1, 1)
    assert scale.requests("list") == (1, 1)
    assert scale.requests("read_all") == (1, 1)
    small, large = QUICK.scale_messages
    for key in ("delete_session", "delete_parallel"):
        assert scale.requests(key) == (2 + math.ceil(small / 25), 2 + math.ceil(large / 25))
    assert scale.requests("delete_one_by_one") == (2 + small, 2 + large)
    few, many = QUICK.scale_expired
    # One scan, then per session: its messages' keys, one batch of them, the session item.
    assert scale.requests("sweep") == (1 + 3 * few, 1 + 3 * many)
    assert scale.swept == (few, many)


def test_concurrency_runs_the_same_workload_both_ways(
    backend: Backend, quick_report: Report
) -> None:
    concurrency = measured(quick_report.concurrency)
    expected = QUICK.concurrent_sessions * (1 + QUICK.messages_per_session)
    assert concurrency.sync.requests == expected
    assert concurrency.concurrent.requests == expected


def test_targets_report_every_target_with_a_verdict(backend: Backend, quick_report: Report) -> None:
    targets = measured(quick_report.targets)
    assert [row.key for row in targets.rows] == [
        "get_messages",
        "list_sessions",
        "get_session",
        "add_message",
        "update_session",
        "update_message",
        "delete_session",
        "sweep_expired",
        "delete_all_messages",
    ]
    # Every target was measured (parts 2 and 5 ran on DynamoDB Local), each met or missed.
    assert all(row.met is not None and row.ratio is not None for row in targets.rows)
    verdicts = [row[-1] for row in targets.table.rows]
    assert set(verdicts) <= {"met", "**missed**"}
    assert targets.reads is not None
    assert targets.reads.fast_responses > 0
    deletes = {timing.label: timing.requests for timing in targets.deletes or []}
    batches = math.ceil(QUICK.target_delete_messages / 25)
    # Raw botocore sends exactly the adapter's requests, one after another.
    assert deletes["`delete_session`"] == deletes["raw botocore, batches one after another"]
    assert deletes["`delete_session`"] == 1 + 1 + batches
    assert deletes["`delete_all_messages`"] == 1 + batches + 1
    assert (
        deletes["raw botocore, `delete_all_messages`' requests one after another"]
        == deletes["`delete_all_messages`"]
    )
    assert (
        deletes["raw botocore, `sweep_expired`'s requests one after another"]
        == deletes["`sweep_expired` (1 expired session)"]
    )


def test_offload_rows_spend_one_request_each_way_on_each_service(
    backend: Backend, quick_report: Report
) -> None:
    offload = measured(quick_report.offload)
    stored = [(row.size, row.stored) for row in offload.rows]
    assert stored == [
        (10 * 1024, "inline"),
        (10 * 1024, "offloaded"),
        (300 * 1024, "inline"),
        (300 * 1024, "offloaded"),
        (1024**2, "offloaded"),
        (10 * 1024**2, "offloaded"),
    ]
    for row in offload.rows:
        assert row.dynamodb_requests == (1, 1)
        offloaded = row.stored == "offloaded"
        assert row.s3_requests == ((1, 1) if offloaded else (0, 0))
        assert (row.s3_bytes > row.size // 2) == offloaded
        assert (row.table_bytes < 4 * 1024) == offloaded


def test_async_latency_runs_every_workload_with_and_without_the_proxy(
    backend: Backend, quick_report: Report
) -> None:
    latency = measured(quick_report.latency)
    assert latency.table is not None
    sizes = LATENCY_SIZES["quick"]
    calls = 1 + MESSAGES_PER_CONVERSATION
    for runs in (latency.direct, latency.proxied):
        assert {n: run.calls for n, run in runs.items()} == {
            n: n * calls for n in sizes.conversations
        }
        assert all(run.steps is not None and run.steps.count > 0 for run in runs.values())
    if sys.platform == "linux":  # the proxy's CPU time is read from /proc
        assert all((run.proxy_cpu_seconds or 0) > 0 for run in latency.proxied.values())
    assert latency.loop is not None
    assert latency.loop.calls == sizes.loop_conversations * calls
    assert latency.debug is not None
    assert latency.debug.steps.count > 0
    assert latency.debug_frozen is not None
    assert latency.debug_frozen.calls == latency.debug.calls
    for runs in (latency.small_pool_direct, latency.small_pool_proxied):
        assert {n: run.calls for n, run in runs.items()} == {
            n: n * calls for n in sizes.conversations
        }
    # Four rows per size, the loop baseline, two debug-mode runs; a verdict per proxied run.
    assert len(latency.table.rows) == 4 * len(sizes.conversations) + 3
    verdicts = [row[-1] for row in latency.table.rows if "20 ms" in row[0] and "`Async" in row[0]]
    assert len(verdicts) == len(sizes.conversations)
    assert all(verdict == "met" or verdict.startswith("**missed**") for verdict in verdicts)


def test_the_command_line_refuses_an_unknown_part(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--quick", "--part", "nonsense"])
    assert stopped.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform != "linux", reason="CPU time of DynamoDB Local read from /proc")
def test_deletes_read_the_servers_cpu_and_its_storage_threads(
    backend: Backend, dynamodb_local: DynamoDBLocal
) -> None:
    assert backend.endpoint_url == dynamodb_local.endpoint_url
    timings = measure_deletes(
        dynamodb_local.endpoint_url,
        backend.region,
        messages=60,
        repeats=1,
        delay=0.001,
        server_pid=dynamodb_local.pid,
    )
    assert len(timings) == 6
    # The two readings are taken a moment apart, in clock ticks: allow one each side.
    tick = 1 / os.sysconf("SC_CLK_TCK")
    for timing in timings:
        # The storage thread (environment.STORAGE_THREAD) exists and is part of the server.
        assert timing.server_seconds is not None
        assert timing.storage_seconds is not None
        assert 0 <= timing.storage_seconds <= timing.server_seconds + 2 * tick
