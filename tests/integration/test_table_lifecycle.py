"""Table lifecycle: ``create_table`` waits until ACTIVE; ``health()`` with the table out of reach.

moto and DynamoDB Local answer ``ACTIVE`` at once, so the waiting is exercised
with ``DescribeTable`` answers rewritten to ``CREATING`` for the first few
calls (a botocore ``after-call`` hook on the adapter's own client mutates the
parsed response, after the real request has been answered). The poll loop's
clock is virtual: ``session_store.table``'s ``time`` is replaced by a fake
whose ``sleep`` only advances ``monotonic``, so no test sleeps for real.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from session_store import DynamoDBAdapter, HealthStatus, RetryPolicy, StorageError
from session_store import table as table_module
from session_store.table import TableConfig


@dataclass
class VirtualClock:
    """Stands in for the ``time`` module and ``pause`` inside ``session_store.table``."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    virtual = VirtualClock()
    monkeypatch.setattr(table_module, "time", virtual)
    monkeypatch.setattr(table_module, "pause", virtual.sleep)
    return virtual


@dataclass
class DescribeRewriter:
    """Rewrites the first ``creating`` DescribeTable answers (table or GSIs) as still CREATING.

    Records every operation the client completed, with the statuses it let
    ``DescribeTable`` report.
    """

    creating: int | None
    """How many successful DescribeTable answers to rewrite (``None``: all of them)."""
    target: str = "table"
    """``"table"``: ``TableStatus``; ``"indexes"``: every GSI's ``IndexStatus``."""
    calls: list[str] = field(default_factory=list)
    described: list[str] = field(default_factory=list)
    rewritten: int = 0

    def __call__(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append(model.name)
        if model.name != "DescribeTable" or "Table" not in parsed:
            return
        table = parsed["Table"]
        if self.creating is None or self.rewritten < self.creating:
            self.rewritten += 1
            if self.target == "table":
                table["TableStatus"] = "CREATING"
            else:
                for index in table.get("GlobalSecondaryIndexes", []):
                    index["IndexStatus"] = "CREATING"
        indexes = [i.get("IndexStatus") for i in table.get("GlobalSecondaryIndexes", [])]
        self.described.append(f"{table.get('TableStatus')} {indexes}")


@pytest.fixture
def made(table_config: TableConfig) -> Iterator[DynamoDBAdapter]:
    """An adapter on the fresh (not yet created) table of ``table_config``."""
    with DynamoDBAdapter(
        table_config.table_name, region=table_config.region, endpoint_url=table_config.endpoint_url
    ) as adapter:
        yield adapter


def rewrite(adapter: DynamoDBAdapter, rewriter: DescribeRewriter) -> None:
    adapter.models.client.meta.events.register("after-call.dynamodb", rewriter)


def test_create_table_waits_until_the_table_is_active(
    made: DynamoDBAdapter, clock: VirtualClock
) -> None:
    rewriter = DescribeRewriter(creating=3)
    rewrite(made, rewriter)

    assert made.create_table() is True

    # Missing, created, then polled: three CREATING answers, then ACTIVE.
    assert rewriter.calls[:2] == ["DescribeTable", "CreateTable"]
    polls = rewriter.described  # the first describe found no table: not among them
    assert [p.split()[0] for p in polls] == ["CREATING", "CREATING", "CREATING", "ACTIVE"]
    assert len(clock.sleeps) == 3  # a pause between polls, none after ACTIVE
    assert all(0 < pause <= 2.0 for pause in clock.sleeps)
    # TTL is turned on only once the table is ACTIVE.
    last_describe = len(rewriter.calls) - 1 - rewriter.calls[::-1].index("DescribeTable")
    assert "UpdateTimeToLive" in rewriter.calls[last_describe:]
    # ... and what it returned is a usable table.
    created = made.create_session({"status": "active"})
    assert made.get_session(created.id) == created


def test_create_table_waits_for_creating_indexes(
    made: DynamoDBAdapter, clock: VirtualClock
) -> None:
    rewriter = DescribeRewriter(creating=2, target="indexes")
    rewrite(made, rewriter)

    assert made.create_table() is True

    polls = rewriter.described
    assert polls == [
        "ACTIVE ['CREATING', 'CREATING']",
        "ACTIVE ['CREATING', 'CREATING']",
        "ACTIVE ['ACTIVE', 'ACTIVE']",
    ]
    assert len(clock.sleeps) == 2


def test_create_table_on_an_existing_creating_table_waits_too(
    made: DynamoDBAdapter, clock: VirtualClock
) -> None:
    made.create_table()
    rewriter = DescribeRewriter(creating=2)
    rewrite(made, rewriter)

    assert made.create_table() is False

    # create_table's own describe, then the polls: one pause after each CREATING poll.
    assert [p.split()[0] for p in rewriter.described] == ["CREATING", "CREATING", "ACTIVE"]
    assert "CreateTable" not in rewriter.calls
    assert len(clock.sleeps) == 1


def test_create_table_gives_up_with_a_storage_error_when_never_active(
    made: DynamoDBAdapter, clock: VirtualClock
) -> None:
    rewriter = DescribeRewriter(creating=None)
    rewrite(made, rewriter)
    started = clock.now

    with pytest.raises(StorageError, match=r"did not become ACTIVE within 300 s") as raised:
        made.create_table()

    assert raised.value.code == "STORAGE_ERROR"
    assert made.config.table_name in str(raised.value)
    waited = clock.now - started
    assert 300 <= waited <= 300 + 2.0  # the documented timeout, overshot by one pause at most
    assert max(clock.sleeps) <= 2.0  # backoff capped, so it kept polling to the end
    assert len(rewriter.described) > 100
    assert "UpdateTimeToLive" not in rewriter.calls  # gave up before touching the table


def test_wait_until_active_honours_its_timeout(made: DynamoDBAdapter, clock: VirtualClock) -> None:
    made.create_table()
    rewrite(made, DescribeRewriter(creating=None, target="indexes"))
    started = clock.now
    with pytest.raises(StorageError, match="did not become ACTIVE within 5 s"):
        table_module.wait_until_active(made.models.gateway, timeout=5.0)
    assert 5.0 <= clock.now - started <= 7.0


# --- health() when the table cannot be reached --------------------------------


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_health_is_unhealthy_when_the_endpoint_is_unreachable() -> None:
    with DynamoDBAdapter(
        "unreachable-table",
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        retry=RetryPolicy(max_attempts=1, connect_timeout_seconds=1, read_timeout_seconds=1),
    ) as adapter:
        status = adapter.health()  # no exception escapes

    assert isinstance(status, HealthStatus)
    assert status.status == "unhealthy"
    assert status.details is not None
    assert status.details["table"] == "unreachable-table"
    assert status.details["error"] == "EndpointConnectionError"
    assert status.latency_ms is not None
    assert status.latency_ms >= 0


def test_health_of_a_missing_table_names_the_cause(table_config: TableConfig) -> None:
    # The table of ``table_config`` is never created here.
    with DynamoDBAdapter(
        table_config.table_name, region=table_config.region, endpoint_url=table_config.endpoint_url
    ) as missing:
        status = missing.health()
    assert status.status == "unhealthy"
    assert status.details is not None
    assert status.details["error"] == "ResourceNotFoundException"
