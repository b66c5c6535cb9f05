"""The ``session-store`` command line: option parsing around ``session_store.cli.commands``.

Every command here reads its options, builds ``Settings`` from the global
ones (or the environment) and calls the plain function of the same name;
expected failures become one line on stderr and a non-zero exit code.

This module is long because it declares every command's options, each with a help
sentence.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from session_store.cli import commands
from session_store.cli.config import (
    ENDPOINT_VARIABLE,
    OFFLOAD_BUCKET_VARIABLE,
    OFFLOAD_PREFIX_VARIABLE,
    REGION_VARIABLES,
    TABLE_VARIABLE,
    CliError,
    Settings,
    describe_error,
)
from session_store.cli.output import Output
from session_store.domain import MessageRole, SessionStatus

__all__ = ["app", "main"]

# Plain help and errors: rich help shows a type beside every option (``<bool>`` on flags),
# and rich errors are boxes of several lines; ``main`` prints each error as one line.
app = typer.Typer(
    name="session-store",
    help="AI-agent sessions and messages in one DynamoDB table: inspect, migrate, maintain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
sessions_app = typer.Typer(
    help="List, show and delete sessions.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(sessions_app, name="sessions")

DEBUG_VARIABLE = "SESSION_STORE_DEBUG"
"""Set to 1 to see the traceback of an unexpected error instead of its one line."""
_INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE: a bug, not the user's input
_INTERRUPTED_EXIT = 130


def _one_of(choices: Sequence[str]) -> Callable[[Any], Any]:
    """An option callback accepting only ``choices`` (a value, a list of them, or ``None``).

    Options take plain strings checked here, so a bad value reads
    "'bogus' is not one of active, paused, ..." instead of a validation library's wording.
    """

    def check(value: Any) -> Any:
        for given in value if isinstance(value, list | tuple) else [value]:
            if given is not None and given not in choices:
                raise typer.BadParameter(f"{given!r} is not one of {', '.join(choices)}")
        return value

    return check


def _choices(choices: Sequence[str]) -> str:
    return "[" + "|".join(choices) + "]"


_STATUSES = [status.value for status in SessionStatus]
_ROLES = [role.value for role in MessageRole]


_FORMATS = ["cloudformation-yaml", "cloudformation-json", "boto3"]
_BENCH_BACKENDS = ["local", "moto"]


def _run(ctx: typer.Context, command: Callable[..., int], *args: Any, **kwargs: Any) -> None:
    """Call ``command(settings, out, ...)``; one line on stderr for an expected failure."""
    settings: Settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings.from_env()
    out = Output.standard()
    try:
        code = command(settings, out, *args, **kwargs)
    except Exception as error:
        message = describe_error(error, settings)
        if message is None:
            raise
        out.error(message)
        raise typer.Exit(error.exit_code if isinstance(error, CliError) else 1) from None
    raise typer.Exit(code)


@app.callback()
def _global_options(  # noqa: PLR0917 (typer passes every option by keyword)
    ctx: typer.Context,
    table: Annotated[
        str | None,
        typer.Option(
            "--table",
            envvar=TABLE_VARIABLE,
            metavar="NAME",
            help="The DynamoDB table to use.",
            show_default=False,
        ),
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            envvar=ENDPOINT_VARIABLE,
            metavar="URL",
            help="Send requests to this DynamoDB endpoint, e.g. http://localhost:8000 "
            "(DynamoDB Local, moto, `session-store local`).",
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region", envvar=list(REGION_VARIABLES), metavar="REGION", help="The AWS region."
        ),
    ] = None,
    offload_bucket: Annotated[
        str | None,
        typer.Option(
            "--offload-bucket",
            envvar=OFFLOAD_BUCKET_VARIABLE,
            metavar="BUCKET",
            help="Store messages too large for a DynamoDB item in this S3 bucket (its endpoint "
            "from AWS_ENDPOINT_URL_S3, else AWS's).",
            show_default=False,
        ),
    ] = None,
    offload_prefix: Annotated[
        str | None,
        typer.Option(
            "--offload-prefix",
            envvar=OFFLOAD_PREFIX_VARIABLE,
            metavar="PREFIX",
            help="Keep the offloaded messages' objects under this key prefix of the bucket.",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Print each DynamoDB request made, on stderr."),
    ] = False,
) -> None:
    """AI-agent sessions and messages in one DynamoDB table.

    Credentials come from the standard AWS chain.
    """
    settings = Settings(
        table=table,
        endpoint_url=endpoint_url,
        region=region,
        verbose=verbose,
        offload_bucket=offload_bucket,
        offload_prefix=offload_prefix,
    )
    try:
        settings.offload  # noqa: B018 (checked here: a bad value is a usage error)
    except CliError as error:
        ctx.fail(str(error))
    ctx.obj = settings


@app.command()
def demo(ctx: typer.Context) -> None:
    """Play an agent conversation on an embedded DynamoDB (or --endpoint-url), with its costs.

    Uses a table of its own (--table is ignored), deleted at the end.
    """
    _run(ctx, commands.demo)


@app.command()
def migrate(
    ctx: typer.Context,
    status: Annotated[
        bool,
        typer.Option("--status", help="List the applied and pending migrations; change nothing."),
    ] = False,
) -> None:
    """Create (or adopt) the table and apply the pending migrations."""
    _run(ctx, commands.migrate, status=status)


@app.command()
def schema(  # noqa: PLR0917 (typer passes every option by keyword)
    ctx: typer.Context,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            metavar=_choices(_FORMATS),
            callback=_one_of(_FORMATS),
            help="What to print: a CloudFormation template or boto3's create_table arguments.",
        ),
    ] = "cloudformation-yaml",
    stream: Annotated[
        bool,
        typer.Option("--stream", help="Add a KEYS_ONLY stream (for the TTL handler)."),
    ] = False,
    read_capacity: Annotated[
        int | None,
        typer.Option(
            "--read-capacity", metavar="RCU", help="Provisioned read capacity (default: on-demand)."
        ),
    ] = None,
    write_capacity: Annotated[
        int | None,
        typer.Option(
            "--write-capacity",
            metavar="WCU",
            help="Provisioned write capacity (default: on-demand).",
        ),
    ] = None,
    session_ttl: Annotated[
        str | None,
        typer.Option(
            "--session-ttl",
            metavar="DURATION",
            help="With --offload-bucket: expire objects this long (30d, 12h) plus 7 days after "
            "they are written (a lifecycle backstop); give the longest a session may live.",
        ),
    ] = None,
) -> None:
    """Print the table definition from the models: CloudFormation or boto3 create_table args.

    The template's TableName is --table when given (else CloudFormation names it).
    With --offload-bucket, the bucket for large messages too (encrypted, not
    public, with --session-ttl a lifecycle rule); boto3 then prints each call's
    arguments under "dynamodb" and "s3".
    """
    _run(
        ctx,
        commands.schema,
        output_format=output_format,
        stream=stream,
        read_capacity=read_capacity,
        write_capacity=write_capacity,
        session_ttl=session_ttl,
    )


@app.command("iam-policy")
def iam_policy(
    ctx: typer.Context,
    table_arn: Annotated[str, typer.Argument(metavar="TABLE_ARN", help="The table's exact ARN.")],
    admin: Annotated[
        bool,
        typer.Option(
            "--admin", help="Also allow what `migrate` needs (create and adopt the table)."
        ),
    ] = False,
) -> None:
    """Print the least-privilege IAM policy (JSON) for the adapter on a table.

    With --offload-bucket, also the S3 actions on the objects under the
    prefix, and listing the prefix (for gc).
    """
    _run(ctx, commands.iam_policy, table_arn, admin=admin)


@sessions_app.command("list")
def sessions_list(  # noqa: PLR0917 (typer passes every option by keyword)
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", metavar="USER", help="Only this user's sessions (GSI1).")
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option("--agent", metavar="AGENT", help="Only this agent's sessions (GSI2)."),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar=_choices(_STATUSES),
            callback=_one_of(_STATUSES),
            help="Only sessions in this status.",
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", metavar="TAG", help="Only sessions with this tag (repeat: any of them)."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="Only sessions created after WHEN: a duration ago (7d, 12h) or an ISO date.",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            metavar="N",
            help=f"List at most N sessions (0: all). Default: {commands.DEFAULT_LIST_LIMIT}, "
            "or all with --json.",
        ),
    ] = None,
    include_expired: Annotated[
        bool, typer.Option("--include-expired", help="Also list sessions past their expiry.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object a line.")] = False,
) -> None:
    """List sessions, newest first for a user."""
    _run(
        ctx,
        commands.sessions_list,
        user=user,
        agent=agent,
        status=status,
        tags=tag or (),
        since=since,
        limit=limit,
        include_expired=include_expired,
        as_json=as_json,
    )


_SESSION_ID_HELP = "The session's id."


@sessions_app.command("show")
def sessions_show(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(metavar="ID", help=_SESSION_ID_HELP)],
    messages: Annotated[
        int,
        typer.Option("--messages", metavar="N", help="Show the newest N messages too."),
    ] = commands.DEFAULT_SHOWN_MESSAGES,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show a session and its newest messages."""
    _run(ctx, commands.sessions_show, session_id, messages=messages, as_json=as_json)


def _ask(question: str) -> bool:
    return typer.confirm(question, default=False, err=True)


@sessions_app.command("delete")
def sessions_delete(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(metavar="ID", help=_SESSION_ID_HELP)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
) -> None:
    """Delete a session and all its messages (asks first unless --yes)."""
    confirm = _ask if sys.stdin.isatty() else None
    _run(ctx, commands.sessions_delete, session_id, yes=yes, confirm=confirm)


@app.command()
def messages(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(metavar="ID", help=_SESSION_ID_HELP)],
    tail: Annotated[
        int | None, typer.Option("--tail", metavar="N", help="Print only the newest N messages.")
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            metavar=_choices(_ROLES),
            callback=_one_of(_ROLES),
            help="Print only messages of this role (repeat for more).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object a line.")] = False,
) -> None:
    """Print a session's messages, oldest first."""
    _run(ctx, commands.messages, session_id, tail=tail, roles=role or [], as_json=as_json)


@app.command()
def sweep(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the expired sessions; delete nothing.")
    ] = False,
) -> None:
    """Delete expired sessions and their messages."""
    _run(ctx, commands.sweep, dry_run=dry_run)


@app.command()
def gc(
    ctx: typer.Context,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help="Only objects written longer ago than this (30m, 1h, 2d): a message being "
            "written puts its object first.",
        ),
    ] = commands.DEFAULT_GC_GRACE,
) -> None:
    """Remove offloaded objects no message points to any more (needs --offload-bucket).

    Such orphans come from a crash between an object's write and its
    message's, or from a delete S3 refused. Prints how many objects were
    examined, removed and failed; exit code 1 when some failed.
    """
    _run(ctx, commands.gc, older_than=older_than)


@app.command()
def health(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check the table; exit code 0 healthy, 1 degraded, 2 unhealthy."""
    _run(ctx, commands.health, as_json=as_json)


@app.command("export")
def export(
    ctx: typer.Context,
    session: Annotated[
        list[str] | None,
        typer.Option("--session", metavar="ID", help="Export this session (repeat for more)."),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", metavar="USER", help="Export every session of this user."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to FILE instead of stdout."),
    ] = None,
) -> None:
    """Export sessions and their messages as JSON lines (the whole table by default).

    The lines are DynamoDB's export format: {"Item": {...}} in typed DynamoDB JSON.
    """
    _run(ctx, commands.export, session_ids=session or (), user=user, output=output)


@app.command("import")
def import_(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(metavar="FILE", help="The JSON lines to import, or - for stdin.")
    ],
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Write every item as it is, of any kind, without checking that its "
            "session's counters match its messages.",
        ),
    ] = False,
) -> None:
    """Import an export, checked whole before the first write; importing twice changes nothing.

    Only sessions and messages are written (migration records are skipped:
    the table keeps its own), unless --raw.
    """
    _run(ctx, commands.import_, source, raw=raw)


@app.command()
def local(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Serve on this address.")
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option("--port", metavar="PORT", help="Serve on this port (0: any free one)."),
    ] = commands.DEFAULT_LOCAL_PORT,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            metavar="FILE",
            help="Load the table from this JSON-lines snapshot at start and save it at exit.",
        ),
    ] = None,
) -> None:
    """Serve an embedded DynamoDB and S3 with the table and an offload bucket, until Ctrl-C.

    The table is --table, else "session-store"; the bucket for large
    messages --offload-bucket, else "session-store-offload". Prints the
    environment variables that point an application (or this command line)
    at it, with placeholder credentials (the embedded endpoint accepts any).
    """
    _run(ctx, commands.local, host=host, port=port, data=data)


@app.command()
def bench(
    ctx: typer.Context,
    quick: Annotated[
        bool, typer.Option("--quick", help="Run small sizes, about a minute (what CI runs).")
    ] = False,
    output: Annotated[
        str,
        typer.Option("--output", "-o", metavar="FILE", help="Write the report to FILE."),
    ] = "BENCHMARKS.md",
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            metavar=_choices(_BENCH_BACKENDS),
            callback=_one_of(_BENCH_BACKENDS),
            help="Measure on DynamoDB Local from node_modules (local) or moto in process (moto).",
        ),
    ] = "local",
) -> None:
    """Measure cost per call, client overhead, scale and concurrency; write BENCHMARKS.md.

    Needs a source checkout (the benchmarks are not installed with the package).
    """
    from session_store.cli import bench as bench_command

    _run(ctx, bench_command.bench, quick=quick, output=output, backend=backend)


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); the exit code.

    Every failure is one line on stderr: a usage error (exit code 2), an
    expected failure of a command (1, or the command's own code), an
    interruption (130), or an unexpected error (70; set SESSION_STORE_DEBUG=1
    for its traceback).
    """
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="session-store", standalone_mode=False)
    except typer.TyperException as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # no arguments: the help, as asked
            sys.stderr.write(error.format_message() + "\n")
        else:
            Output.standard().error(_usage_line(error))
        return error.exit_code
    except (KeyboardInterrupt, typer.Abort):
        Output.standard().error("interrupted")
        return _INTERRUPTED_EXIT
    except Exception as error:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        Output.standard().error(
            f"unexpected {type(error).__name__}: {_first_line(error)} "
            f"(a bug: {DEBUG_VARIABLE}=1 shows where)"
        )
        return _INTERNAL_ERROR_EXIT
    return result if isinstance(result, int) else 0


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no details"


# The parser's wording for values of the wrong type, in the CLI's own words.
_TYPE_WORDING = (
    (re.compile(r"Input should be a valid integer[^.;]*"), "expected a whole number"),
    (re.compile(r"Input should be a valid number[^.;]*"), "expected a number"),
)


def _usage_line(error: typer.TyperException) -> str:
    """A usage error as one line, with the command to ask for help."""
    context = getattr(error, "ctx", None)
    hint = f" (see {context.command_path} --help)" if context is not None else ""
    message = " ".join(error.format_message().split())
    for pattern, wording in _TYPE_WORDING:
        message = pattern.sub(wording, message)
    return message + hint
