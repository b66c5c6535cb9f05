"""export, import and local, called as functions."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from session_store.cli import CliError, Output, Settings
from session_store.cli import commands as cli
from session_store.cli.transfer import ImportProgress, export_items, import_lines, item_line
from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import SessionNotFoundError, ValidationError
from session_store.offload import POINTER_ATTRIBUTE, S3Offload
from session_store.testing.backends import unique_table_name

pytestmark = pytest.mark.backends("moto")


def _fill(adapter: DynamoDBAdapter) -> None:
    """Two sessions of alice's (one edited, one with 30 messages), one of bob's."""
    adapter.create_session(
        {"id": "a-1", "status": "active", "user_id": "alice", "metadata": {"title": "One"}}
    )
    first = adapter.add_message("a-1", {"role": "user", "content": "hello", "token_count": 2})
    adapter.update_message("a-1", first.id, {"content": "hello!"})
    adapter.update_session("a-1", {"status": "paused"})
    adapter.create_session({"id": "a-2", "status": "active", "user_id": "alice"})
    for n in range(30):
        adapter.add_message(
            "a-2", {"role": "assistant", "content": [{"type": "text", "text": f"#{n}"}]}
        )
    adapter.create_session({"id": "b-1", "status": "active", "user_id": "bob"})
    adapter.add_message("b-1", {"role": "user", "content": "hi", "token_count": 1})


def _items(adapter: DynamoDBAdapter) -> dict[tuple[str, str], dict[str, Any]]:
    """The table's sessions and messages by key (migration records are each table's own)."""
    items = export_items(adapter)
    return {
        (item["PK"]["S"], item["SK"]["S"]): item
        for item in items
        if item["PK"]["S"].startswith("SESSION#")
    }


@pytest.fixture
def target(adapter: DynamoDBAdapter) -> Iterator[DynamoDBAdapter]:
    """A second, migrated table next to the ``adapter`` fixture's."""
    with DynamoDBAdapter(unique_table_name("cli-import"), region=adapter.config.region) as made:
        made.migrate()
        yield made


def _settings(adapter: DynamoDBAdapter) -> Settings:
    return Settings(table=adapter.config.table_name, region=adapter.config.region)


def test_export_then_import_reproduces_every_item(
    adapter: DynamoDBAdapter, target: DynamoDBAdapter, tmp_path: Path
) -> None:
    _fill(adapter)
    adapter.migrate()
    snapshot = tmp_path / "all.jsonl"
    out = Output.capture()
    assert cli.export(_settings(adapter), out, output=str(snapshot)) == 0
    lines = snapshot.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 + 32 + 2  # sessions, messages, migration records
    assert "exported 37 item(s)" in out.errors()
    assert all(set(json.loads(line)) == {"Item"} for line in lines)

    imported = Output.capture()
    assert cli.import_(_settings(target), imported, str(snapshot)) == 0
    assert imported.text() == (
        "imported 35 item(s): 3 session(s), 32 message(s); 35 written, 0 already there "
        "unchanged; skipped 2 migration record(s) (the table keeps its own)\n"
    )
    assert _items(target) == _items(adapter)
    copied = target.get_session("a-1")
    assert copied == adapter.get_session("a-1")
    assert copied is not None
    assert (copied.version, copied.message_count, copied.token_count) == (
        3,
        1,
        2,
    )  # create, append, update
    assert target.get_messages("a-2") == adapter.get_messages("a-2")

    # Importing again changes nothing, and writes nothing.
    again = Output.capture()
    assert cli.import_(_settings(target), again, str(snapshot)) == 0
    assert "35 item(s): 3 session(s), 32 message(s); 0 written, 35 already there" in again.text()
    assert _items(target) == _items(adapter)


def test_export_by_session_and_by_user(adapter: DynamoDBAdapter) -> None:
    _fill(adapter)
    one = [item["PK"]["S"] for item in export_items(adapter, session_ids=["b-1"])]
    assert one == ["SESSION#b-1", "SESSION#b-1"]
    by_user = {item["PK"]["S"] for item in export_items(adapter, user_id="alice")}
    assert by_user == {"SESSION#a-1", "SESSION#a-2"}
    out = Output.capture()
    assert cli.export(_settings(adapter), out, user="bob") == 0
    pks = [json.loads(line)["Item"]["PK"]["S"] for line in out.text().splitlines()]
    assert pks == ["SESSION#b-1"] * 2
    with pytest.raises(SessionNotFoundError):
        list(export_items(adapter, session_ids=["b-1", "nope"]))


def test_a_failed_export_leaves_no_file(adapter: DynamoDBAdapter, tmp_path: Path) -> None:
    snapshot = tmp_path / "partial.jsonl"
    with pytest.raises(SessionNotFoundError):
        cli.export(_settings(adapter), Output.capture(), session_ids=["nope"], output=str(snapshot))
    assert list(tmp_path.iterdir()) == []


def test_import_streams_and_checks_each_line(
    adapter: DynamoDBAdapter, target: DynamoDBAdapter
) -> None:
    _fill(adapter)
    seen: list[ImportProgress] = []
    lines = (item_line(item) for item in export_items(adapter, user_id="alice"))
    result = import_lines(target, lines, progress=seen.append)
    assert (result.items, result.sessions, result.messages) == (33, 2, 31)
    assert (result.written, result.unchanged, result.skipped) == (33, 0, 0)
    assert [(step.phase, step.items) for step in seen] == [("writing", 25), ("writing", 33)]

    good = "".join(item_line(item) for item in export_items(adapter, session_ids=["b-1"]))
    with pytest.raises(ValidationError, match="line 4: not JSON"):
        import_lines(target, io.StringIO(good + "\n{oops\n"))
    assert target.get_session("b-1") is None  # the whole file is checked before any write
    bad = io.StringIO(item_line({"PK": {"S": "SESSION#x"}, "SK": {"S": "META"}}))
    with pytest.raises(ValidationError, match="line 1: not a valid session item"):
        import_lines(target, bad)
    with pytest.raises(ValidationError, match="line 2: not JSON"):
        import_lines(target, io.StringIO("\n{oops\n"))
    with pytest.raises(ValidationError, match=r'line 1: expected \{"Item"'):
        import_lines(target, io.StringIO('{"PK": {"S": "a"}}\n'))
    with pytest.raises(ValidationError, match="has no PK and SK"):
        import_lines(target, io.StringIO('{"Item": {"PK": {"N": "1"}}}\n'))
    with pytest.raises(ValidationError, match="PK is not a string"):
        import_lines(target, io.StringIO('{"Item": {"PK": {"N": "1"}, "SK": {"S": "a"}}}\n'))


def test_import_needs_the_table_and_the_file(adapter: DynamoDBAdapter, tmp_path: Path) -> None:
    empty = tmp_path / "x.jsonl"
    empty.write_text("")
    missing = Settings(table="no-such-table", region=adapter.config.region)
    with pytest.raises(CliError) as refused:
        cli.import_(missing, Output.capture(), str(empty))
    assert str(refused.value) == (
        f"table 'no-such-table' in region {adapter.config.region} at "
        f"https://dynamodb.{adapter.config.region}.amazonaws.com does not exist: "
        "create it with `session-store migrate`"
    )
    with pytest.raises(CliError, match=r"cannot read .*absent\.jsonl: No such file"):
        cli.import_(_settings(adapter), Output.capture(), str(tmp_path / "absent.jsonl"))
    with pytest.raises(CliError, match=r"cannot read .*: Is a directory"):
        cli.import_(_settings(adapter), Output.capture(), str(tmp_path))


# --- local (its own moto server in this process, no backend fixture) ---------------


def test_local_serves_and_keeps_a_snapshot(tmp_path: Path) -> None:
    snapshot = tmp_path / "local.jsonl"
    first_table = unique_table_name("cli-local")

    def use(endpoint: str) -> None:
        with DynamoDBAdapter(first_table, region="us-east-1", endpoint_url=endpoint) as client:
            assert client.health().status == "healthy"  # created, migrated, TTL on
            client.create_session({"id": "kept", "status": "active", "user_id": "u"})
            client.add_message("kept", {"role": "user", "content": "remember me"})

    out = Output.capture()
    assert cli.local(Settings(table=first_table), out, port=0, data=str(snapshot), wait=use) == 0
    exports = dict(line.removeprefix("export ").split("=", 1) for line in out.text().splitlines())
    assert exports["SESSION_STORE_TABLE"] == first_table
    assert exports["AWS_ENDPOINT_URL_DYNAMODB"].startswith("http://127.0.0.1:")
    assert exports["AWS_ENDPOINT_URL_S3"] == exports["AWS_ENDPOINT_URL_DYNAMODB"]
    assert exports["SESSION_STORE_OFFLOAD_BUCKET"] == "session-store-offload"
    assert {"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(exports)
    assert "saved 4 item(s)" in out.errors()  # the session, its message, two migration records

    # Another table loads the same snapshot: the data survived the restart.
    second_table = unique_table_name("cli-local")

    def check(endpoint: str) -> None:
        with DynamoDBAdapter(second_table, region="us-east-1", endpoint_url=endpoint) as client:
            session = client.get_session("kept")
            assert session is not None
            assert session.message_count == 1
            assert [m.content for m in client.get_messages("kept")] == ["remember me"]

    again = Output.capture()
    assert (
        cli.local(Settings(table=second_table), again, port=0, data=str(snapshot), wait=check) == 0
    )
    assert "loaded 2 item(s)" in again.errors()  # the table keeps its own migration records


def test_local_serves_s3_and_offloads_large_messages(tmp_path: Path) -> None:
    snapshot = tmp_path / "local.jsonl"
    big = "a screenshot, base64: " + "QUJD" * (300 * 1024)

    def served(endpoint: str, exports: dict[str, str], table: str) -> DynamoDBAdapter:
        assert exports["AWS_ENDPOINT_URL_S3"] == endpoint
        offload = S3Offload(
            exports["SESSION_STORE_OFFLOAD_BUCKET"],
            prefix=exports["SESSION_STORE_OFFLOAD_PREFIX"],
            endpoint_url=endpoint,
        )
        return DynamoDBAdapter(table, region="us-east-1", endpoint_url=endpoint, offload=offload)

    first_table = unique_table_name("cli-local")
    out = Output.capture()

    def use(endpoint: str) -> None:
        exports = dict(
            line.removeprefix("export ").split("=", 1) for line in out.text().splitlines()
        )
        with served(endpoint, exports, first_table) as client:
            client.create_session({"id": "big", "status": "active"})
            client.add_message("big", {"role": "user", "content": big})
            stored = client.models.gateway.items("Scan", {})
            assert any(POINTER_ATTRIBUTE in found for found in stored)

    settings = Settings(table=first_table, offload_bucket="local-blobs", offload_prefix="chat")
    assert cli.local(settings, out, port=0, data=str(snapshot), wait=use) == 0
    assert "serving DynamoDB and S3 on" in out.errors()
    assert POINTER_ATTRIBUTE not in snapshot.read_text(encoding="utf-8")  # payloads inline
    assert big in snapshot.read_text(encoding="utf-8")

    second_table = unique_table_name("cli-local")
    again = Output.capture()

    def check(endpoint: str) -> None:
        exports = dict(
            line.removeprefix("export ").split("=", 1) for line in again.text().splitlines()
        )
        with served(endpoint, exports, second_table) as client:
            assert [m.content for m in client.get_messages("big")] == [big]
            stored = client.models.gateway.items("Scan", {})
            assert any(POINTER_ATTRIBUTE in found for found in stored)  # offloaded again

    settings = Settings(table=second_table, offload_bucket="local-blobs", offload_prefix="chat")
    assert cli.local(settings, again, port=0, data=str(snapshot), wait=check) == 0


def test_local_refuses_a_busy_port(moto_server: str) -> None:
    port = int(moto_server.rsplit(":", 1)[1])
    with pytest.raises(CliError, match=f"cannot serve on 127.0.0.1:{port}"):
        cli.local(Settings(), Output.capture(), port=port, wait=lambda _: None)


def test_export_and_import_draw_progress_bars_on_a_terminal(
    adapter: DynamoDBAdapter, target: DynamoDBAdapter, tmp_path: Path
) -> None:
    _fill(adapter)
    snapshot = tmp_path / "all.jsonl"
    exported = Output.capture(terminal=True)
    assert cli.export(_settings(adapter), exported, output=str(snapshot)) == 0
    # The whole table's bar starts from DynamoDB's item count estimate and ends full.
    assert "exporting" in exported.errors()
    assert "35/35" in exported.errors()

    imported = Output.capture(terminal=True)
    assert cli.import_(_settings(target), imported, str(snapshot)) == 0
    size = snapshot.stat().st_size
    assert "writing: 35 item(s)" in imported.errors()  # the bar's description
    assert f"{size / 1000:.1f}/{size / 1000:.1f} kB" in imported.errors()  # bytes read of all

    quiet = Output.capture()  # not a terminal: no bar, only the summary
    assert cli.import_(_settings(target), quiet, str(snapshot)) == 0
    assert quiet.errors() == ""


def test_local_prints_placeholder_credentials_never_the_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIACALLERSOWNKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "caller-secret")
    out = Output.capture()
    assert cli.local(Settings(table=unique_table_name("cli-local")), out, port=0, wait=print) == 0
    exports = dict(line.removeprefix("export ").split("=", 1) for line in out.text().splitlines())
    assert (exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"]) == ("local", "local")
    printed = out.text() + out.errors()
    assert "caller-secret" not in printed
    assert "AKIACALLERSOWNKEY" not in printed
