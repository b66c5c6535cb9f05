"""Whatever a user types, the command line answers with one line on stderr, never a traceback.

Each case runs as a user would: through ``main(argv)`` on the ``adapter``
fixture's table (both backends), and a few through the installed
executable in a subprocess. Each asserts the exit code, one line on stderr
that starts with ``error:`` and says what is wrong, and no traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from session_store import migrations
from session_store.cli import Settings, main
from session_store.cli.transfer import export_items, item_line
from session_store.dynamodb import DynamoDBAdapter

from .conftest import RunCli

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(settings: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Run:
    """Run ``main`` on the fixture's table: (exit code, stdout, stderr)."""

    def call(*args: str) -> tuple[int, str, str]:
        where = ["--table", str(settings.table), "--region", str(settings.region)]
        if settings.endpoint_url:
            where += ["--endpoint-url", settings.endpoint_url]
        capsys.readouterr()
        code = main([*where, *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


def _one_error_line(stderr: str, expected: str) -> None:
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("error: "), stderr
    assert expected in stderr
    for internal in ("pydantic", "Value error,", "errors.pydantic.dev"):
        assert internal not in stderr


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _session_with_messages(adapter: DynamoDBAdapter, session_id: str, count: int) -> list[str]:
    """A session with ``count`` messages; its export lines (the session item first)."""
    adapter.create_session({"id": session_id, "status": "active"})
    adapter.add_messages(
        session_id,
        [{"role": "user", "content": f"#{n}", "token_count": 2} for n in range(count)],
    )
    return [item_line(item) for item in export_items(adapter, session_ids=[session_id])]


def test_bad_files_to_import(run: Run, tmp_path: Path) -> None:
    not_utf8 = _write(tmp_path / "latin1.jsonl", "café\n".encode("latin-1"))
    code, _, err = run("import", not_utf8)
    assert code == 1
    _one_error_line(err, "line 1: not UTF-8 text")

    deep = _write(tmp_path / "deep.jsonl", b"[" * 100_000 + b"\n")
    code, _, err = run("import", deep)
    assert code == 1
    _one_error_line(err, "line 1: JSON nested too deeply")


@pytest.mark.parametrize("since", ["99999999d", "0001-01-01T00:00:00+14:00"])
def test_since_out_of_range(run: Run, since: str) -> None:
    code, _, err = run("sessions", "list", "--since", since)
    assert code == 1
    _one_error_line(err, f"--since {since!r} is out of range")


def test_export_to_a_missing_directory_or_a_directory(run: Run, tmp_path: Path) -> None:
    code, _, err = run("export", "-o", "/missing/dir/x")
    assert code == 1
    _one_error_line(err, "cannot write /missing/dir/x: the directory /missing/dir does not exist")
    code, _, err = run("export", "-o", str(tmp_path))
    assert code == 1
    _one_error_line(err, f"cannot write {tmp_path}: it is a directory")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("notaurl", "endpoint URL 'notaurl' (--endpoint-url or AWS_ENDPOINT_URL_DYNAMODB) is not"),
        ("localhost:8000", "did you mean http://localhost:8000?"),
        ("http://127.0.0.1:99999", "endpoint URL 'http://127.0.0.1:99999' has a port outside"),
    ],
)
def test_bad_endpoint_urls(capsys: pytest.CaptureFixture[str], url: str, expected: str) -> None:
    for command in (["sessions", "list"], ["demo"], ["health"]):
        code = main(["--endpoint-url", url, "--table", "t-1", "--region", "us-east-1", *command])
        assert code == 1
        _one_error_line(capsys.readouterr().err, expected)


def test_local_on_a_port_that_is_not_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "--port", "99999"]) == 1
    _one_error_line(capsys.readouterr().err, "--port 99999 is not a port")


def test_bad_choices_and_numbers_are_usage_errors(run: Run) -> None:
    code, _, err = run("sessions", "list", "--status", "bogus")
    assert code == 2
    _one_error_line(
        err,
        "Invalid value for '--status': 'bogus' is not one of active, paused, completed, "
        "expired (see session-store sessions list --help)",
    )
    code, _, err = run("messages", "s-1", "--role", "robot")
    assert code == 2
    _one_error_line(err, "'robot' is not one of user, assistant, system, tool")
    code, _, err = run("sessions", "list", "--limit", "many")
    assert code == 2
    _one_error_line(err, "Invalid value for '--limit': expected a whole number")
    assert "Input should be" not in err
    code, _, err = run("no-such-command")
    assert code == 2
    _one_error_line(err, "No such command 'no-such-command'")


def test_import_refuses_a_lone_surrogate_id(
    run: Run, adapter: DynamoDBAdapter, tmp_path: Path
) -> None:
    line = item_line({"PK": {"S": "SESSION#\ud800"}, "SK": {"S": "META"}}).encode(
        "utf-8", "surrogatepass"
    )
    code, _, err = run("import", _write(tmp_path / "s.jsonl", line))
    assert code == 1
    _one_error_line(err, "line 1: not UTF-8 text")  # a surrogate's bytes are not UTF-8
    # JSON's \ud800 escape is the same lone surrogate, once decoded.
    escaped = '{"Item":{"PK":{"S":"SESSION#\\ud800"},"SK":{"S":"META"},"id":{"S":"\\ud800"}}}\n'
    code, _, err = run("import", _write(tmp_path / "e.jsonl", escaped.encode()))
    assert code == 1
    _one_error_line(err, "line 1: PK is not valid unicode (a lone surrogate)")
    assert run("sessions", "list")[0] == 0  # listings still work: nothing was written
    assert adapter.list_sessions() == []


def test_import_refuses_items_that_are_neither_sessions_nor_messages(
    run: Run, adapter: DynamoDBAdapter, tmp_path: Path
) -> None:
    hack = item_line({"PK": {"S": "HACK#x"}, "SK": {"S": "y"}, "payload": {"S": "z"}})
    code, _, err = run("import", _write(tmp_path / "hack.jsonl", hack.encode()))
    assert code == 1
    _one_error_line(err, "line 1: PK 'HACK#x' / SK 'y' is neither a session nor a message")
    assert (
        adapter.models.client.get_item(
            TableName=adapter.config.table_name, Key={"PK": {"S": "HACK#x"}, "SK": {"S": "y"}}
        ).get("Item")
        is None
    )

    # --raw writes it as it is.
    code, out, err = run("import", "--raw", str(tmp_path / "hack.jsonl"))
    assert code == 0, err
    assert "1 other item(s)" in out
    assert adapter.models.client.get_item(
        TableName=adapter.config.table_name, Key={"PK": {"S": "HACK#x"}, "SK": {"S": "y"}}
    )["Item"]["payload"] == {"S": "z"}


def test_import_leaves_the_migration_records_alone(
    run: Run, adapter: DynamoDBAdapter, tmp_path: Path
) -> None:
    adapter.migrate()
    junk = item_line(
        {"PK": {"S": "SCHEMA#MIGRATIONS"}, "SK": {"S": "MIGRATION#0002_backfill_counters"}}
    )
    code, out, err = run("import", _write(tmp_path / "junk.jsonl", junk.encode()))
    assert code == 0, err
    assert "skipped 1 migration record(s)" in out
    assert migrations.pending(adapter.models) == []


def test_a_file_cut_inside_a_line_writes_nothing(
    run: Run, adapter: DynamoDBAdapter, tmp_path: Path
) -> None:
    lines = _session_with_messages(adapter, "long", 40)
    adapter.delete_session("long")
    cut = "".join(lines[:30]) + lines[30][: len(lines[30]) // 2]  # inside line 31
    code, _, err = run("import", _write(tmp_path / "cut.jsonl", cut.encode()))
    assert code == 1
    _one_error_line(err, "line 31: not JSON")
    assert adapter.get_session("long") is None
    assert adapter.get_messages("long") == []


def test_a_file_cut_between_lines_is_refused_by_its_counters(
    run: Run, adapter: DynamoDBAdapter, tmp_path: Path
) -> None:
    lines = _session_with_messages(adapter, "long", 40)
    adapter.delete_session("long")
    code, _, err = run("import", _write(tmp_path / "cut.jsonl", "".join(lines[:25]).encode()))
    assert code == 1
    _one_error_line(
        err,
        "line 1: session 'long' counts 40 message(s) and 80 token(s), but the file holds "
        "24 and 48: the file may be cut short",
    )
    assert adapter.get_session("long") is None
    assert adapter.get_messages("long") == []

    # The whole file imports, and says so; a second time, nothing is written.
    whole = _write(tmp_path / "whole.jsonl", "".join(lines).encode())
    code, out, err = run("import", whole)
    assert code == 0, err
    assert "imported 41 item(s): 1 session(s), 40 message(s); 41 written, 0 already" in out
    session = adapter.get_session("long")
    assert session is not None
    assert (session.message_count, session.token_count) == (40, 80)
    assert len(adapter.get_messages("long")) == 40
    code, out, _ = run("import", whole)
    assert "; 0 written, 41 already there unchanged" in out


def test_messages_without_their_session_are_refused(
    run: Run, adapter: DynamoDBAdapter, tmp_path: Path
) -> None:
    lines = _session_with_messages(adapter, "s-1", 2)
    code, _, err = run("import", _write(tmp_path / "m.jsonl", "".join(lines[1:]).encode()))
    assert code == 1
    _one_error_line(err, "line 1: a message of session 's-1', whose session item is not in")


def test_import_names_the_missing_table_where_requests_went(
    settings: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = _write(tmp_path / "empty.jsonl", b"")
    where = ["--table", "no-such-table", "--region", str(settings.region)]
    if settings.endpoint_url:
        where += ["--endpoint-url", settings.endpoint_url]
    endpoint = settings.endpoint_url or f"https://dynamodb.{settings.region}.amazonaws.com"
    expected = f"table 'no-such-table' in region {settings.region} at {endpoint} does not exist"
    for command in (["import", source], ["sessions", "list"], ["export"]):
        assert main([*where, *command]) == 1
        _one_error_line(capsys.readouterr().err, expected)


# --- through the installed executable ---------------------------------------------


def test_through_a_subprocess(
    run_cli: RunCli, server_adapter: DynamoDBAdapter, tmp_path: Path
) -> None:
    config = server_adapter.config
    on = ["--endpoint-url", str(config.endpoint_url), "--table", config.table_name]
    not_utf8 = _write(tmp_path / "latin1.jsonl", b"\xff\xfe\n")
    cases = [
        ([*on, "import", not_utf8], 1, "line 1: not UTF-8 text"),
        ([*on, "sessions", "list", "--since", "99999999d"], 1, "is out of range"),
        ([*on, "sessions", "list", "--status", "bogus"], 2, "'bogus' is not one of active"),
        (["--endpoint-url", "localhost:8000", "--table", "t-1", "health"], 1, "did you mean"),
        (["local", "--port", "99999"], 1, "--port 99999 is not a port"),
        ([*on, "export", "-o", str(tmp_path)], 1, "it is a directory"),
    ]
    for args, code, expected in cases:
        result = run_cli(*args)
        assert result.returncode == code, (args, result.stderr)
        _one_error_line(result.stderr, expected)
    cut = run_cli(*on, "import", "-", stdin='{"Item": {"PK": {"S": "SESSION#x"}, "SK"')
    assert cut.returncode == 1
    _one_error_line(cut.stderr, "line 1: not JSON")


def test_an_unexpected_error_is_one_line_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug still prints one line (and its traceback only when asked for)."""

    def broken(*_: object, **__: object) -> dict[str, object]:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(json, "dumps", broken)  # what `iam-policy` prints with
    arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/sessions"
    assert main(["iam-policy", arn]) == 70
    err = capsys.readouterr().err
    _one_error_line(err, "unexpected ZeroDivisionError: division by zero (a bug:")
    monkeypatch.setenv("SESSION_STORE_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["iam-policy", arn])
