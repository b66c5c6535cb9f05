"""The commands, as plain functions: ``command(settings, out, ...) -> exit code``.

Each takes the global ``Settings`` and an ``Output`` and returns the exit
code. Expected failures are raised (``SessionError``, ``CliError``)
and turned into one line by the caller (``describe_error``); the
command line in ``session_store.cli.app`` only parses options and calls these.

This module is long because it has one plain function per command of the CLI.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from session_store import demo as demo_module
from session_store import migrations
from session_store._client import s3_client
from session_store._time import utc_now
from session_store.cli.config import (
    LOCAL_CREDENTIALS,
    OFFLOAD_BUCKET_VARIABLE,
    OFFLOAD_PREFIX_VARIABLE,
    CliError,
    RequestTracer,
    Settings,
    Target,
    check_endpoint_url,
    ensure_local_credentials,
    missing_table_message,
)
from session_store.cli.output import (
    Output,
    message_json,
    print_messages,
    session_json,
    session_summary,
    sessions_table,
    when,
)
from session_store.cli.schema import bucket_calls, render_schema
from session_store.cli.transfer import (
    ImportProgress,
    ImportResult,
    export_items,
    import_lines,
    item_line,
)
from session_store.domain import Message, Session
from session_store.dynamodb import DynamoDBAdapter
from session_store.errors import SessionNotFoundError
from session_store.iam import iam_policy as build_iam_policy
from session_store.offload import S3Offload
from session_store.offloader import Offloader
from session_store.table import ProvisionedThroughput
from session_store.testing.moto_server import MotoServer

__all__ = [
    "HEALTH_EXIT_CODES",
    "demo",
    "export",
    "gc",
    "health",
    "iam_policy",
    "import_",
    "import_summary",
    "local",
    "messages",
    "migrate",
    "parse_duration",
    "parse_since",
    "require_moto",
    "schema",
    "sessions_delete",
    "sessions_list",
    "sessions_show",
    "sweep",
]

HEALTH_EXIT_CODES = {"healthy": 0, "degraded": 1, "unhealthy": 2}
DEFAULT_LIST_LIMIT = 50
DEFAULT_SHOWN_MESSAGES = 10
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def require_moto(*, endpoint_option: bool = True) -> None:
    """The embedded DynamoDB needs moto: a clear error when it is not installed.

    ``endpoint_option``: whether the command could use ``--endpoint-url``
    instead (``demo`` can; ``local``, which serves the endpoint, cannot).
    """
    if importlib.util.find_spec("moto") is None:
        instead = " (or pass --endpoint-url to use a running endpoint)" if endpoint_option else ""
        raise CliError(
            f"the embedded DynamoDB needs moto: pip install 'session-store[local]'{instead}"
        )


# --- demo -----------------------------------------------------------------------


def demo(settings: Settings, out: Output) -> int:
    """Play the demo conversation (embedded moto, or ``settings.endpoint_url``)."""
    check_endpoint_url(settings.endpoint_url)
    if settings.endpoint_url is None:
        require_moto()
    else:
        ensure_local_credentials(settings.endpoint_url)
    tracer = RequestTracer(out)
    demo_module.run(
        endpoint_url=settings.endpoint_url,
        region=settings.effective_region,
        console=out.console,
        observe=tracer.attach if settings.verbose else None,
    )
    return 0


# --- migrations and schema ------------------------------------------------------


class _NoteHandler(logging.Handler):
    def __init__(self, out: Output) -> None:
        super().__init__(logging.INFO)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        self.out.note(record.getMessage())


@contextmanager
def _migration_notes(out: Output) -> Iterator[None]:
    """Show what the migrations runner logs (table created or adopted, each migration)."""
    logger = logging.getLogger(migrations.__name__)
    handler = _NoteHandler(out)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _table_exists(adapter: DynamoDBAdapter) -> bool:
    return adapter.models.gateway.describe_table() is not None


def migrate(settings: Settings, out: Output, *, status: bool = False) -> int:
    """Create or adopt the table and apply pending migrations; ``status`` only lists them."""
    with settings.adapter(out) as adapter:
        if status:
            return _migration_status(adapter, out)
        with _migration_notes(out):
            done = adapter.migrate()
    if done:
        out.say(f"applied {len(done)} migration(s): {', '.join(done)}")
    else:
        out.say("nothing to apply: the table is up to date")
    return 0


def _migration_status(adapter: DynamoDBAdapter, out: Output) -> int:
    known = migrations.discover()
    exists = _table_exists(adapter)
    done = migrations.applied(adapter.models) if exists else {}
    table = Table(
        title=Text(
            f"table {adapter.config.table_name}"
            + ("" if exists else " (does not exist yet: `session-store migrate` creates it)")
        ),
        title_justify="left",
        header_style="bold",
    )
    table.add_column("migration")
    table.add_column("state")
    table.add_column("applied (UTC)")
    table.add_column("description")
    for migration in known:
        applied_at = done.get(migration.name)
        table.add_row(
            migration.name,
            Text("applied", style="green") if applied_at else Text("pending", style="yellow"),
            when(applied_at),
            migration.description.splitlines()[0],
        )
    for name in sorted(set(done) - {m.name for m in known}):
        table.add_row(name, Text("applied", style="green"), when(done[name]), "(unknown here)")
    out.console.print(table)
    pending = [m for m in known if m.name not in done]
    out.say(f"{len(known) - len(pending)} applied, {len(pending)} pending")
    return 0


def iam_policy(settings: Settings, out: Output, table_arn: str, *, admin: bool = False) -> int:
    """Print the least-privilege IAM policy for the adapter on ``table_arn`` (JSON).

    ``admin`` adds what ``migrate`` needs (creating and adopting the table);
    an offload bucket in ``settings``, the S3 actions on its prefix.
    """
    policy = build_iam_policy(table_arn, include_admin=admin, offload=settings.offload)
    out.stream.write(json.dumps(policy, indent=2) + "\n")
    return 0


def schema(
    settings: Settings,
    out: Output,
    *,
    output_format: str = "cloudformation-yaml",
    stream: bool = False,
    read_capacity: int | None = None,
    write_capacity: int | None = None,
    session_ttl: str | None = None,
) -> int:
    """Print the table definition (CloudFormation JSON/YAML or boto3 ``create_table`` args).

    With an offload bucket configured, the bucket too; ``session_ttl`` (a
    duration such as ``30d``) adds its lifecycle rule (``cli.schema``).
    """
    offload = settings.offload
    ttl = None if session_ttl is None else parse_duration(session_ttl, "--session-ttl")
    if ttl is not None and offload is None:
        raise CliError("--session-ttl sets the offload bucket's lifecycle: give --offload-bucket")
    if (read_capacity is None) != (write_capacity is None):
        raise CliError("give both --read-capacity and --write-capacity, or neither (on-demand)")
    provisioned = None
    if read_capacity is not None and write_capacity is not None:
        if read_capacity < 1 or write_capacity < 1:
            raise CliError("capacity units must be at least 1")
        provisioned = ProvisionedThroughput(read_capacity, write_capacity)
    try:
        text = render_schema(
            output_format,
            settings.table,
            provisioned=provisioned,
            stream=stream,
            offload=offload,
            session_ttl=ttl,
            region=settings.region,
        )
    except ValueError as error:
        raise CliError(str(error)) from None
    out.stream.write(text)
    return 0


# --- sessions -------------------------------------------------------------------


def parse_duration(text: str, option: str, *, zero: bool = False) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``7d``, ``2w`` as a positive ``timedelta`` (or zero, with
    ``zero``); ``CliError`` naming ``option`` otherwise."""
    match = _DURATION.match(text.strip().lower())
    if not match or (int(match.group(1)) == 0 and not zero):
        raise CliError(f"cannot read {option} {text!r}: give a duration such as 30m, 12h or 7d")
    amount, unit = int(match.group(1)), match.group(2)
    try:
        return timedelta(**{_DURATION_UNITS[unit]: amount})
    except OverflowError:
        raise CliError(f"{option} {text!r} is too long") from None


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``7d``, ``12h``, ``30m``, ``2w``, ``90s`` ago, or an ISO date/time (UTC unless zoned)."""
    value = text.strip()
    match = _DURATION.match(value.lower())
    try:
        if match:
            amount, unit = int(match.group(1)), match.group(2)
            return (now or utc_now()) - timedelta(**{_DURATION_UNITS[unit]: amount})
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise CliError(
                f"cannot read --since {text!r}: give a duration (7d, 12h, 30m) or an ISO date"
            ) from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        # Python's dates end at years 1 and 9999 (in UTC): 99999999d ago, or
        # 0001-01-01T00:00:00+14:00, falls outside them.
        raise CliError(
            f"--since {text!r} is out of range: give a time after 0001-01-01 (UTC)"
        ) from None


def _check_limit(limit: int | None, name: str = "--limit") -> None:
    if limit is not None and limit < 0:
        raise CliError(f"{name} must be 0 (no limit) or more")


def sessions_list(
    settings: Settings,
    out: Output,
    *,
    user: str | None = None,
    agent: str | None = None,
    status: str | None = None,
    tags: Sequence[str] = (),
    since: str | None = None,
    limit: int | None = None,
    include_expired: bool = False,
    as_json: bool = False,
) -> int:
    """List sessions: a user's (GSI1, newest first), an agent's (GSI2), or all (a scan).

    ``limit`` 0 lists every match; ``None`` means 50 for the table and every
    match for JSON lines, which stream page by page.
    """
    _check_limit(limit)
    if limit is None:
        limit = 0 if as_json else DEFAULT_LIST_LIMIT
    filters: dict[str, Any] = {"include_expired": include_expired}
    if user is not None:
        filters["user_id"] = user
    if agent is not None:
        filters["active_agent_id"] = agent
    if status is not None:
        filters["status"] = status
    if tags:
        filters["tags"] = list(tags)
    if since is not None:
        filters["created_after"] = parse_since(since)
    if limit:
        filters["limit"] = limit
    with settings.adapter(out) as adapter:
        if as_json:
            for session in adapter.iter_sessions(filters):
                out.json_line(session_json(session))
            return 0
        found = adapter.list_sessions(filters)
    how = "GSI1" if user is not None else "GSI2" if agent is not None else "a scan"
    if not found:
        out.say(f"no sessions found (through {how})")
        return 0
    out.console.print(sessions_table(found, title=f"{len(found)} session(s), through {how}"))
    if limit and len(found) == limit:
        out.note(f"showing the first {limit}: pass --limit N (0 for all) to see more")
    return 0


def _existing(adapter: DynamoDBAdapter, session_id: str) -> Session:
    session = adapter.get_session(session_id)
    if session is None:
        raise SessionNotFoundError(session_id)
    return session


def sessions_show(
    settings: Settings,
    out: Output,
    session_id: str,
    *,
    messages: int = DEFAULT_SHOWN_MESSAGES,
    as_json: bool = False,
) -> int:
    """Show a session and its newest ``messages`` messages (oldest of them first)."""
    _check_limit(messages, "--messages")
    with settings.adapter(out) as adapter:
        session = _existing(adapter, session_id)
        newest: list[Message] = []
        if messages:
            newest = adapter.get_messages(session_id, {"order": "desc", "limit": messages})
            newest.reverse()
    if as_json:
        out.json_line(
            {"session": session_json(session), "messages": [message_json(m) for m in newest]}
        )
        return 0
    out.console.print(session_summary(session))
    if newest:
        out.console.print()
        out.say(f"newest {len(newest)} of {session.message_count} message(s):", "bold")
        print_messages(out.console, newest)
    return 0


def sessions_delete(
    settings: Settings,
    out: Output,
    session_id: str,
    *,
    yes: bool = False,
    confirm: Callable[[str], bool] | None = None,
) -> int:
    """Delete a session and all its messages, after ``confirm`` says yes (unless ``yes``).

    Without ``yes`` and without a way to ask (``confirm`` is ``None``, e.g.
    no terminal), nothing is deleted and it is an error.
    """
    with settings.adapter(out) as adapter:
        session = _existing(adapter, session_id)
        title = f" ({session.metadata.title})" if session.metadata.title else ""
        what = f"session {session.id}{title} and its {session.message_count} message(s)"
        if not yes:
            if confirm is None:
                raise CliError(f"not deleting {what} without confirmation: pass --yes")
            if not confirm(f"Delete {what}?"):
                out.note("nothing deleted")
                return 1
        adapter.delete_session(session_id)
    out.say(f"deleted session {session_id} and its {session.message_count} message(s)")
    return 0


def messages(
    settings: Settings,
    out: Output,
    session_id: str,
    *,
    tail: int | None = None,
    roles: Sequence[str] = (),
    as_json: bool = False,
) -> int:
    """A session's messages, oldest first: all of them, or the newest ``tail``."""
    _check_limit(tail, "--tail")
    query: dict[str, Any] = {}
    if roles:
        query["roles"] = list(roles)
    with settings.adapter(out) as adapter:
        session = _existing(adapter, session_id)
        chosen: list[Message] | Iterator[Message]
        if tail:
            chosen = adapter.get_messages(session_id, {**query, "order": "desc", "limit": tail})
            chosen.reverse()
        else:
            chosen = adapter.iter_messages(session_id, query)
        if as_json:
            for message in chosen:
                out.json_line(message_json(message))
            return 0
        title = f"session {session.id}"
        if session.metadata.title:
            title += f" ({session.metadata.title})"
        out.say(title, "bold")
        shown = print_messages(out.console, chosen)
    if not shown:
        out.say("no messages")
    return 0


# --- maintenance ----------------------------------------------------------------


def sweep(settings: Settings, out: Output, *, dry_run: bool = False) -> int:
    """Delete expired sessions and their messages; ``dry_run`` only lists them."""
    with settings.adapter(out) as adapter:
        if dry_run:
            expired = adapter.get_expired_sessions(utc_now())
            for session_id in expired:
                out.say(session_id)
            out.note(f"{len(expired)} expired session(s) would be deleted")
            return 0
        with _Bar(out, "sweeping expired sessions") as bar:
            removed = adapter.sweep_expired(
                progress=lambda done, total: bar.update(done, total=total)
            )
    out.say(f"deleted {removed} expired session(s) and their messages")
    return 0


DEFAULT_GC_GRACE = "1h"


def gc(settings: Settings, out: Output, *, older_than: str = DEFAULT_GC_GRACE) -> int:
    """Remove the offload bucket's objects no message points to, older than ``older_than``
    (a duration: ``1h``, ``30m``, ``2d``); exit code 1 when S3 refused some deletes."""
    settings.require_offload("gc")
    grace = parse_duration(older_than, "--older-than", zero=True)
    with settings.adapter(out) as adapter:
        report = adapter.collect_orphans(older_than=grace)
    out.say(
        f"examined {report.examined} object(s) older than {older_than}: removed "
        f"{report.removed} orphan(s), {report.failed} failed"
    )
    if report.failed:
        out.note("S3 refused some deletes: run gc again later (the next run retries them)")
    return 1 if report.failed else 0


def health(settings: Settings, out: Output, *, as_json: bool = False) -> int:
    """Check the table: exit code 0 healthy, 1 degraded, 2 unhealthy."""
    with settings.adapter(out) as adapter:
        status = adapter.health()
    if as_json:
        out.json_line(status.model_dump(mode="json", exclude_none=True))
    else:
        style = {"healthy": "green", "degraded": "yellow"}.get(status.status, "red")
        line = Text.assemble((status.status, f"bold {style}"))
        if status.latency_ms is not None:
            line.append(f"  {status.latency_ms:.0f} ms")
        details = status.details or {}
        line.append(f"  table {details.get('table', settings.table)}")
        out.console.print(line)
        for problem in details.get("problems", []):
            out.console.print(Text(f"  - {problem}"))
        if "error" in details:
            out.console.print(Text(f"  - {details['error']}"))
    return HEALTH_EXIT_CODES.get(status.status, 2)


# --- export, import, local ------------------------------------------------------


class _Bar:
    """A progress bar on stderr while work streams (on a terminal only).

    ``total=None`` while the amount of work is unknown: the bar pulses and
    the count still shows. ``unit="bytes"`` shows sizes instead of counts.
    """

    def __init__(
        self, out: Output, description: str, *, total: int | None = None, unit: str = "items"
    ) -> None:
        self.progress: Progress | None = None
        self.task: Any = None
        if out.err.is_terminal:
            amount = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                amount,
                TimeElapsedColumn(),
                console=out.err,
                transient=True,
            )
            self.task = self.progress.add_task(description, total=total)

    def __enter__(self) -> _Bar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.progress is not None:
            self.progress.refresh()
            self.progress.stop()

    def update(
        self, completed: int, *, total: int | None = None, description: str | None = None
    ) -> None:
        if self.progress is None:
            return
        changes: dict[str, Any] = {"completed": completed}
        if total is not None:
            changes["total"] = total
        if description is not None:
            changes["description"] = description
        self.progress.update(self.task, **changes)


@contextmanager
def _atomic_file(path: Path) -> Iterator[Any]:
    """Write ``path`` through a temporary file that replaces it only when complete."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            yield stream
        try:
            os.replace(temporary, path)
        except OSError as error:
            raise CliError(f"cannot write {path}: {error.strerror or error}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _writable_file(target: str) -> Path:
    """``target`` as a path a file can be written at; ``CliError`` saying why not."""
    path = Path(target)
    if path.is_dir():
        raise CliError(f"cannot write {target}: it is a directory; name a file in it")
    folder = path.parent
    if not folder.is_dir():
        raise CliError(f"cannot write {target}: the directory {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CliError(f"cannot write {target}: no permission to create files in {folder}")
    return path


@contextmanager
def _offloader(adapter: DynamoDBAdapter) -> Iterator[Offloader | None]:
    """The S3 side export and import read and write payloads with: the adapter's own
    (``adapter.offloader``; ``None`` without an offload bucket)."""
    yield adapter.offloader


def _export_to(
    adapter: DynamoDBAdapter,
    out: Output,
    target: str | None,
    *,
    session_ids: Sequence[str] = (),
    user: str | None = None,
    offloader: Offloader | None = None,
) -> int:
    count = 0
    context: AbstractContextManager[Any] = (
        nullcontext(out.stream) if target in (None, "-") else _atomic_file(Path(str(target)))
    )
    whole_table = not session_ids and user is None
    estimate = _item_count_estimate(adapter) if whole_table and out.err.is_terminal else None
    with context as stream, _Bar(out, "exporting", total=estimate) as bar:
        for item in export_items(
            adapter, session_ids=session_ids, user_id=user, offloader=offloader
        ):
            stream.write(item_line(item))
            count += 1
            if count % 100 == 0:
                bar.update(count, total=None if estimate is None else max(estimate, count))
        bar.update(count, total=count)
    return count


def _item_count_estimate(adapter: DynamoDBAdapter) -> int | None:
    """The table's item count as DynamoDB last computed it (about every six hours)."""
    described = adapter.models.gateway.describe_table()
    return None if described is None else (described.get("ItemCount") or None)


def export(
    settings: Settings,
    out: Output,
    *,
    session_ids: Sequence[str] = (),
    user: str | None = None,
    output: str | None = None,
) -> int:
    """Export sessions with their messages as JSON lines (DynamoDB's export format).

    The given sessions, a user's sessions, or (neither) the whole table, to
    ``output`` (a file, written whole or not at all) or stdout. An output
    that cannot be written is refused before the first request.
    """
    if output not in (None, "-"):
        _writable_file(str(output))
    with settings.adapter(out) as adapter, _offloader(adapter) as offloader:
        count = _export_to(
            adapter, out, output, session_ids=session_ids, user=user, offloader=offloader
        )
    out.note(f"exported {count} item(s)")
    return 0


def _readable_file(source: str) -> Path:
    """``source`` as a file that can be read; ``CliError`` saying why not."""
    path = Path(source)
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        raise CliError(f"cannot read {source}: {error.strerror or error}") from None
    if path.is_dir():
        raise CliError(f"cannot read {source}: it is a directory")
    return path


def import_summary(result: ImportResult) -> str:
    """One line: what an import read, wrote and left alone."""
    kinds = f"{result.sessions} session(s), {result.messages} message(s)"
    if result.others:
        kinds += f", {result.others} other item(s)"
    line = (
        f"imported {result.items} item(s): {kinds}; {result.written} written, "
        f"{result.unchanged} already there unchanged"
    )
    if result.skipped:
        line += f"; skipped {result.skipped} migration record(s) (the table keeps its own)"
    return line


def import_(settings: Settings, out: Output, source: str, *, raw: bool = False) -> int:
    """Import JSON lines written by ``export`` (a file, or ``-`` for stdin).

    The whole source is checked before the first write (see
    ``session_store.cli.transfer``); items are then written as they are (ids,
    timestamps, versions, counters), skipping those already there unchanged,
    so importing twice changes nothing. ``raw`` writes items of any kind and
    skips the counter check. The table must exist (``migrate``).
    """
    path = None if source == "-" else _readable_file(source)
    with settings.adapter(out) as adapter, _offloader(adapter) as offloader:
        if not _table_exists(adapter):
            raise CliError(missing_table_message(Target.of(adapter)))
        # A file's bar follows the bytes read (its size is known); stdin's counts items.
        size = None if path is None else path.stat().st_size
        lines: Path | IO[bytes] = sys.stdin.buffer if path is None else path
        with _Bar(out, "checking", total=size, unit="bytes" if size else "items") as bar:

            def report(step: ImportProgress) -> None:
                done = step.items if size is None else step.bytes_read
                bar.update(done, description=f"{step.phase}: {step.items} item(s)")

            result = import_lines(
                adapter,
                lines,
                raw=raw,
                progress=report,
                offloader=offloader,
            )
    out.say(import_summary(result))
    return 0


DEFAULT_LOCAL_TABLE = "session-store"
DEFAULT_LOCAL_BUCKET = "session-store-offload"
DEFAULT_LOCAL_PORT = 8000
_MAX_PORT = 65535


def _make_bucket(offload: S3Offload, region: str) -> None:
    """The offload bucket on the served S3, encrypted and private as ``schema`` makes it."""
    client = s3_client(region, offload.endpoint_url)
    try:
        for method, arguments in bucket_calls(offload, region=region).items():
            getattr(client, method)(**arguments)
    finally:
        client.close()


def _until_interrupted() -> None:
    """Block until Ctrl-C (SIGINT) or SIGTERM.

    Both are handled here, SIGINT too: a process started as a shell's
    background job inherits SIGINT ignored, and would otherwise not stop on it.
    """
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def local(
    settings: Settings,
    out: Output,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_LOCAL_PORT,
    data: str | None = None,
    wait: Callable[[str], None] | None = None,
) -> int:
    """Serve an embedded DynamoDB and S3 (moto's server) with the table created and
    migrated, and an offload bucket (``--offload-bucket``, else ``DEFAULT_LOCAL_BUCKET``)
    made as ``schema`` describes it.

    Prints the environment variables that point an application at it, then
    serves until interrupted (``wait``, given the endpoint URL, replaces that
    wait). With ``data``, the table is loaded from that JSON-lines snapshot
    when it exists (large messages offloaded again), and saved to it on the
    way out (their payloads inline).
    """
    require_moto(endpoint_option=False)
    requested = settings.offload
    if not 0 <= port <= _MAX_PORT:
        raise CliError(f"--port {port} is not a port: give 0 (any free one) to {_MAX_PORT}")
    table = settings.table or DEFAULT_LOCAL_TABLE
    snapshot = Path(data) if data else None
    if snapshot is not None:
        if snapshot.exists():
            _readable_file(str(snapshot))
        _writable_file(str(snapshot))
    server = MotoServer(host, port)
    try:
        endpoint = server.start()
    except (OSError, OverflowError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise CliError(f"cannot serve on {host}:{port}: {reason}") from None
    region = settings.effective_region or "us-east-1"
    served = Settings(
        table=table,
        endpoint_url=endpoint,
        region=region,
        verbose=settings.verbose,
        offload_bucket=DEFAULT_LOCAL_BUCKET if requested is None else requested.bucket,
        offload_prefix=None if requested is None else requested.prefix or None,
        offload_endpoint_url=endpoint,
    )
    try:
        offload = served.require_offload("local")
        ensure_local_credentials(endpoint)
        _make_bucket(offload, region)
        with served.adapter(out) as adapter, _offloader(adapter) as offloader:
            adapter.migrate()
            if snapshot is not None and snapshot.exists():
                loaded = import_lines(adapter, snapshot, offloader=offloader)
                out.note(f"loaded {loaded.items} item(s) from {snapshot}")
            # The embedded DynamoDB accepts any credentials: print placeholders,
            # never the caller's own.
            for name, value in (
                ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
                ("SESSION_STORE_TABLE", table),
                ("AWS_REGION", region),
                *LOCAL_CREDENTIALS.items(),
                ("AWS_ENDPOINT_URL_S3", endpoint),
                (OFFLOAD_BUCKET_VARIABLE, offload.bucket),
                *([(OFFLOAD_PREFIX_VARIABLE, offload.prefix)] if offload.prefix else []),
            ):
                out.stream.write(f"export {name}={value}\n")
            out.stream.flush()
            out.note(
                f"serving DynamoDB and S3 on {endpoint}, table {table!r}, offload bucket "
                f"{offload.bucket!r}; Ctrl-C to stop"
            )
            try:
                (wait or (lambda _: _until_interrupted()))(endpoint)
            finally:
                if snapshot is not None:
                    count = _export_to(adapter, out, str(snapshot), offloader=offloader)
                    out.note(f"saved {count} item(s) to {snapshot}")
    finally:
        server.stop()
    return 0
