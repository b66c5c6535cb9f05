"""The whole benchmark at its quick size on DynamoDB Local: it runs, reports, spends as budgeted.

This keeps ``python -m benchmarks`` working. Times are never asserted (they
depend on the machine); request counts are, exactly, because they are what
the report promises.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks import QUICK, Report, RunOptions, run_benchmarks
from benchmarks.runner import main
from session_store.testing.backends import Backend

pytestmark = pytest.mark.backends("local")

TABLE_TITLES = (
    "## 1. Cost per operation",
    "## 2. Client overhead",
    "## 3. Scale",
    "## 4. Concurrency throughput",
    "## 5. Large messages",
)


@pytest.fixture(scope="module")
def quick_report(
    tmp_path_factory: pytest.TempPathFactory, dynamodb_local_endpoint: str
) -> tuple[Report, Path]:
    output = tmp_path_factory.mktemp("bench") / "BENCHMARKS.md"
    report = run_benchmarks(
        RunOptions(sizes=QUICK, endpoint_url=dynamodb_local_endpoint, output=output)
    )
    return report, output


@pytest.fixture(scope="module")
def dynamodb_local_endpoint(request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue("dynamodb_local")
    return str(server.endpoint_url)


def test_the_report_has_all_five_tables_and_says_where_it_ran(
    backend: Backend, quick_report: tuple[Report, Path]
) -> None:
    report, output = quick_report
    text = output.read_text(encoding="utf-8")
    assert text == report.markdown
    positions = [text.index(title) for title in TABLE_TITLES]
    assert positions == sorted(positions)
    for detail in ("| logical cores |", "| botocore |", "| pynamodb |", "Amazon DynamoDB Local"):
        assert detail in text
    assert "(quick sizes)" in text
    assert [table.key for table in report.tables] == [
        "cost",
        "overhead",
        "scale",
        "concurrency",
        "offload",
    ]
    for table in report.tables:
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
    backend: Backend, quick_report: tuple[Report, Path]
) -> None:
    report, _ = quick_report
    cost = report.cost
    assert cost is not None
    for size in QUICK.cost_sessions:
        for key, budget in CONSTANT_BUDGETS.items():
            assert set(cost.requests(size, key)) == {budget}, (size, key)
        batches = math.ceil(size / 25)
        # Each listing of the quick sizes fits one page.
        assert cost.requests(size, "get_messages") == [1]
        assert cost.requests(size, "delete_session") == [1 + 1 + batches]
        assert cost.requests(size, "handle_stream_event") == [1 + batches]
        assert cost.requests(size, "sweep_expired") == [1 + 1 + batches + 1]
        assert cost.requests(size, "delete_all_messages") == [1 + math.ceil(size / 99)]
        # DynamoDB Local reports the capacity every request consumed.
        assert cost.measured[size]["get_session"].capacity == [1.0] * QUICK.cost_repeats


def test_overhead_replays_exactly_the_recorded_calls(
    backend: Backend, quick_report: tuple[Report, Path]
) -> None:
    report, _ = quick_report
    overhead = report.overhead
    assert overhead is not None
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


def test_scale_requests_stay_flat_where_they_must(
    backend: Backend, quick_report: tuple[Report, Path]
) -> None:
    report, _ = quick_report
    scale = report.scale
    assert scale is not None
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
    backend: Backend, quick_report: tuple[Report, Path]
) -> None:
    report, _ = quick_report
    concurrency = report.concurrency
    assert concurrency is not None
    expected = QUICK.concurrent_sessions * (1 + QUICK.messages_per_session)
    assert concurrency.sync.requests == expected
    assert concurrency.concurrent.requests == expected


def test_offload_rows_spend_one_request_each_way_on_each_service(
    backend: Backend, quick_report: tuple[Report, Path]
) -> None:
    report, _ = quick_report
    offload = report.offload
    assert offload is not None
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


def test_the_command_line_refuses_an_unknown_part(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--quick", "--part", "nonsense"])
    assert stopped.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
