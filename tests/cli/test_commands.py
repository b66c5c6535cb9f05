"""The commands, called as functions on a fresh table on in-process moto."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from session_store._time import utc_now
from session_store.cli import CliError, Output, Settings
from session_store.cli import commands as cli
from session_store.domain import Session
from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import SessionNotFoundError, ValidationError
from session_store.table import TableConfig
from session_store.testing.backends import Backend

pytestmark = pytest.mark.backends("moto")


def _session(adapter: DynamoDBAdapter, session_id: str, **fields: object) -> Session:
    data: dict[str, object] = {"id": session_id, "status": "active", **fields}
    return adapter.create_session(data)


def _conversation(adapter: DynamoDBAdapter, session_id: str = "s-chat") -> Session:
    _session(
        adapter,
        session_id,
        user_id="alice",
        active_agent_id="triage",
        metadata={"title": "Refund [order] 1042", "tags": ["billing"]},
    )
    adapter.add_message(session_id, {"role": "system", "content": "Be kind.", "token_count": 3})
    adapter.add_message(session_id, {"role": "user", "content": "Where is my refund?"})
    adapter.add_message(
        session_id,
        {
            "role": "assistant",
            "content": "",
            "token_count": 14,
            "metadata": {
                "tool_calls": [{"id": "call_1", "name": "lookup_refund", "arguments": "{}"}]
            },
        },
    )
    adapter.add_message(
        session_id,
        {
            "role": "tool",
            "content": "refund sent",
            "metadata": {"tool_results": [{"tool_call_id": "call_1", "result": {"ok": True}}]},
        },
    )
    stored = adapter.get_session(session_id)
    assert stored is not None
    return stored


def _json_lines(out: Output) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.text().splitlines()]


# --- migrate ----------------------------------------------------------------------


def test_migrate_creates_the_table_then_has_nothing_to_do(table_config: TableConfig) -> None:
    settings = Settings(table=table_config.table_name, region=table_config.region)
    before = Output.capture()
    assert cli.migrate(settings, before, status=True) == 0
    assert "does not exist yet" in before.text()
    assert "0 applied, 2 pending" in before.text()

    first = Output.capture()
    assert cli.migrate(settings, first) == 0
    assert "applied 2 migration(s): 0001_create_table, 0002_backfill_counters" in first.text()
    assert f"created table '{table_config.table_name}'" in first.errors()

    again = Output.capture()
    assert cli.migrate(settings, again) == 0
    assert "nothing to apply" in again.text()

    after = Output.capture()
    assert cli.migrate(settings, after, status=True) == 0
    assert "2 applied, 0 pending" in after.text()
    assert "does not exist" not in after.text()


# --- sessions list ----------------------------------------------------------------


@pytest.fixture
def listed(adapter: DynamoDBAdapter) -> DynamoDBAdapter:
    """Four sessions: alice's two, bob's one, and an expired one of alice's."""
    _session(adapter, "a-1", user_id="alice", active_agent_id="triage", metadata={"tags": ["x"]})
    _session(adapter, "a-2", user_id="alice", status="paused", metadata={"title": "Second"})
    _session(adapter, "b-1", user_id="bob", active_agent_id="billing", metadata={"tags": ["y"]})
    _session(adapter, "a-old", user_id="alice", expires_at=utc_now() - timedelta(days=1))
    return adapter


def _listed_ids(settings: Settings, **options: object) -> list[str]:
    out = Output.capture()
    assert cli.sessions_list(settings, out, as_json=True, **options) == 0  # type: ignore[arg-type]
    return [str(line["id"]) for line in _json_lines(out)]


@pytest.mark.usefixtures("listed")
def test_sessions_list_filters(settings: Settings) -> None:
    assert _listed_ids(settings, user="alice") == ["a-2", "a-1"]  # GSI1, newest first
    assert _listed_ids(settings, agent="billing") == ["b-1"]
    assert sorted(_listed_ids(settings)) == ["a-1", "a-2", "b-1"]
    assert _listed_ids(settings, status="paused") == ["a-2"]
    assert sorted(_listed_ids(settings, tags=["x", "y"])) == ["a-1", "b-1"]
    assert _listed_ids(settings, user="alice", limit=1) == ["a-2"]
    assert _listed_ids(settings, user="alice", include_expired=True) == ["a-old", "a-2", "a-1"]
    assert _listed_ids(settings, since="1h", user="bob") == ["b-1"]
    assert _listed_ids(settings, since="2999-01-01") == []


@pytest.mark.usefixtures("listed")
def test_sessions_list_json_lines_have_the_typescript_shape(settings: Settings) -> None:
    out = Output.capture()
    cli.sessions_list(settings, out, user="bob", as_json=True)
    (line,) = _json_lines(out)
    assert line["userId"] == "bob"
    assert line["activeAgentId"] == "billing"
    assert str(line["createdAt"]).endswith("Z")


@pytest.mark.usefixtures("listed")
def test_sessions_list_table(settings: Settings, out: Output) -> None:
    assert cli.sessions_list(settings, out, user="alice", limit=2) == 0
    text = out.text()
    assert "2 session(s), through GSI1" in text
    assert "a-1" in text
    assert "#x" in text
    assert "Second" in text
    assert "a-old" not in text
    assert "showing the first 2" in out.errors()


def test_sessions_list_says_when_nothing_matches(settings: Settings, out: Output) -> None:
    assert cli.sessions_list(settings, out, agent="nobody") == 0
    assert "no sessions found (through GSI2)" in out.text()


def test_sessions_list_refuses_bad_filters(settings: Settings, out: Output) -> None:
    with pytest.raises(ValidationError, match="status"):
        cli.sessions_list(settings, out, status="bogus")
    with pytest.raises(CliError, match="--limit"):
        cli.sessions_list(settings, out, limit=-1)
    with pytest.raises(CliError, match="--since"):
        cli.sessions_list(settings, out, since="soon")


# --- sessions show / delete -------------------------------------------------------


def test_sessions_show(adapter: DynamoDBAdapter, settings: Settings, out: Output) -> None:
    _conversation(adapter)
    assert cli.sessions_show(settings, out, "s-chat", messages=2) == 0
    text = out.text()
    assert "Refund [order] 1042" in text  # no markup eaten
    assert "4 (17 tokens)" in text
    assert "newest 2 of 4 message(s)" in text
    assert "→ lookup_refund({})" in text
    assert "refund sent" in text
    assert "Be kind." not in text  # older than the newest two


def test_sessions_show_json(adapter: DynamoDBAdapter, settings: Settings, out: Output) -> None:
    _conversation(adapter)
    assert cli.sessions_show(settings, out, "s-chat", messages=3, as_json=True) == 0
    (shown,) = _json_lines(out)
    assert isinstance(shown, dict)
    session = shown["session"]
    assert isinstance(session, dict)
    assert session["messageCount"] == 4
    roles = [m["role"] for m in shown["messages"]]  # type: ignore[attr-defined]
    assert roles == ["user", "assistant", "tool"]  # the newest three, oldest first


def test_sessions_show_unknown_and_bad_ids(settings: Settings, out: Output) -> None:
    with pytest.raises(SessionNotFoundError):
        cli.sessions_show(settings, out, "missing")
    with pytest.raises(ValidationError, match="empty"):
        cli.sessions_show(settings, out, "")


def test_sessions_delete_asks(adapter: DynamoDBAdapter, settings: Settings, out: Output) -> None:
    _conversation(adapter)
    questions: list[str] = []

    def say_no(question: str) -> bool:
        questions.append(question)
        return False

    assert cli.sessions_delete(settings, out, "s-chat", confirm=say_no) == 1
    assert questions == ["Delete session s-chat (Refund [order] 1042) and its 4 message(s)?"]
    assert adapter.get_session("s-chat") is not None
    assert "nothing deleted" in out.errors()

    assert cli.sessions_delete(settings, out, "s-chat", confirm=lambda _: True) == 0
    assert adapter.get_session("s-chat") is None
    assert adapter.get_messages("s-chat") == []
    assert "deleted session s-chat and its 4 message(s)" in out.text()


def test_sessions_delete_without_a_way_to_ask(
    adapter: DynamoDBAdapter, settings: Settings, out: Output
) -> None:
    _session(adapter, "s-1")
    with pytest.raises(CliError, match="without confirmation: pass --yes"):
        cli.sessions_delete(settings, out, "s-1")
    assert adapter.get_session("s-1") is not None
    assert cli.sessions_delete(settings, out, "s-1", yes=True) == 0
    assert adapter.get_session("s-1") is None
    with pytest.raises(SessionNotFoundError):
        cli.sessions_delete(settings, out, "s-1", yes=True)


# --- messages ---------------------------------------------------------------------


def test_messages_all_and_tail(adapter: DynamoDBAdapter, settings: Settings) -> None:
    _conversation(adapter)
    everything = Output.capture()
    assert cli.messages(settings, everything, "s-chat") == 0
    text = everything.text()
    assert text.index("Be kind.") < text.index("Where is my refund?") < text.index("refund sent")
    assert "14 tokens" in text
    assert '← {"ok": true}  [call_1]' in text

    tail = Output.capture()
    assert cli.messages(settings, tail, "s-chat", tail=2, as_json=True) == 0
    assert [m["role"] for m in _json_lines(tail)] == ["assistant", "tool"]


def test_messages_by_role(adapter: DynamoDBAdapter, settings: Settings, out: Output) -> None:
    _conversation(adapter)
    assert cli.messages(settings, out, "s-chat", roles=["user", "tool"], as_json=True) == 0
    lines = _json_lines(out)
    assert [m["role"] for m in lines] == ["user", "tool"]
    assert lines[0]["sessionId"] == "s-chat"
    assert lines[1]["metadata"] == {
        "toolResults": [{"toolCallId": "call_1", "result": {"ok": True}}]
    }

    newest_user = Output.capture()
    cli.messages(settings, newest_user, "s-chat", roles=["user"], tail=5, as_json=True)
    assert [m["content"] for m in _json_lines(newest_user)] == ["Where is my refund?"]


def test_messages_of_an_empty_or_unknown_session(
    adapter: DynamoDBAdapter, settings: Settings, out: Output
) -> None:
    _session(adapter, "empty")
    assert cli.messages(settings, out, "empty") == 0
    assert "no messages" in out.text()
    with pytest.raises(SessionNotFoundError):
        cli.messages(settings, out, "unknown")
    with pytest.raises(ValidationError, match="role"):
        cli.messages(settings, out, "empty", roles=["robot"])
    with pytest.raises(CliError, match="--tail"):
        cli.messages(settings, out, "empty", tail=-2)


# --- sweep, health, verbose -------------------------------------------------------


def test_sweep_dry_run_then_for_real(adapter: DynamoDBAdapter, settings: Settings) -> None:
    _session(adapter, "live")
    _session(adapter, "gone", expires_at=utc_now() - timedelta(minutes=1))
    dry = Output.capture()
    assert cli.sweep(settings, dry, dry_run=True) == 0
    assert dry.text().split() == ["gone"]
    assert "1 expired session(s) would be deleted" in dry.errors()
    assert adapter.get_expired_sessions(utc_now()) == ["gone"]

    real = Output.capture()
    assert cli.sweep(settings, real) == 0
    assert "deleted 1 expired session(s)" in real.text()
    assert adapter.get_expired_sessions(utc_now()) == []
    assert adapter.get_session("live") is not None


@pytest.mark.backends("moto", "local")
def test_health_exit_codes(backend: Backend, settings: Settings, out: Output) -> None:
    assert cli.health(settings, out) == 0
    assert out.text().startswith("healthy")
    missing = Settings(table="no-such-table", endpoint_url=backend.endpoint_url, region="us-east-1")
    unhealthy = Output.capture()
    assert cli.health(missing, unhealthy, as_json=True) == 2
    (status,) = _json_lines(unhealthy)
    assert status["status"] == "unhealthy"


def test_health_degraded_without_ttl(
    adapter: DynamoDBAdapter, settings: Settings, out: Output
) -> None:
    adapter.models.client.update_time_to_live(
        TableName=adapter.config.table_name,
        TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"},
    )
    assert cli.health(settings, out) == 1
    assert "degraded" in out.text()
    assert "TTL not enabled" in out.text()


def test_verbose_prints_each_request(adapter: DynamoDBAdapter, settings: Settings) -> None:
    _session(adapter, "s-1")
    out = Output.capture()
    verbose = Settings(**{**settings.__dict__, "verbose": True})
    assert cli.sessions_show(verbose, out, "s-1", messages=5) == 0
    lines = out.errors().splitlines()
    # First where requests go, as botocore resolved it (moto intercepts AWS's own endpoint).
    assert lines.pop(0) == (
        f"using table {settings.table!r} in region {settings.region} "
        f"at https://dynamodb.{settings.region}.amazonaws.com"
    )
    assert lines[0].startswith("dynamodb #1 GetItem table=")
    assert '"SESSION#s-1"' in lines[0]
    assert lines[1].startswith("dynamodb #2 Query")
    assert lines[-1] == "2 DynamoDB request(s)"
    quiet = Output.capture()
    cli.sessions_show(settings, quiet, "s-1")
    assert quiet.errors() == ""


# --- demo -------------------------------------------------------------------------


def test_demo_plays_the_conversation() -> None:
    out = Output.capture()
    assert cli.demo(Settings(verbose=True), out) == 0
    text = out.text()
    for step in (
        "create a session for user alice",
        "the triage agent calls a tool",
        "hands the session to the billing agent",
        "-> ConcurrencyError",
        "page 2",
        "list alice's sessions through GSI1",
        "removed 1 expired session(s)",
        "What it cost",
    ):
        assert step in text
    assert "4 messages, 1128 tokens, agent billing" in text
    assert "alice sends a 1 MB screenshot (payload to S3, then the item)" in text
    assert "TransactWriteItems" in text
    assert text.splitlines()[-1].startswith("total: ")
    assert "dynamodb #1 " in out.errors()


def test_sessions_list_default_limit(adapter: DynamoDBAdapter, settings: Settings) -> None:
    for n in range(cli.DEFAULT_LIST_LIMIT + 1):
        _session(adapter, f"s-{n:03d}", user_id="many")
    shown = Output.capture()
    cli.sessions_list(settings, shown, user="many")
    assert f"{cli.DEFAULT_LIST_LIMIT} session(s)" in shown.text()
    assert len(_listed_ids(settings, user="many")) == cli.DEFAULT_LIST_LIMIT + 1  # JSON: all
    assert len(_listed_ids(settings, user="many", limit=3)) == 3


def test_sweep_draws_a_progress_bar_on_a_terminal(
    adapter: DynamoDBAdapter, settings: Settings
) -> None:
    for name in ("gone-1", "gone-2", "gone-3"):
        _session(adapter, name, expires_at=utc_now() - timedelta(minutes=1))
    out = Output.capture(terminal=True)
    assert cli.sweep(settings, out) == 0
    assert "sweeping expired sessions" in out.errors()
    assert "3/3" in out.errors()
    assert "deleted 3 expired session(s)" in out.text()
