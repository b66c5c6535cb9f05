"""The ``session-store`` command line: option parsing around ``session_store.cli.commands``.

Every command here reads its options, builds ``Settings`` from the global
ones (or the environment) and calls the plain function of the same name;
expected failures become one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

import typer

from session_store.cli import commands
from session_store.cli.config import (
    ENDPOINT_VARIABLE,
    REGION_VARIABLES,
    TABLE_VARIABLE,
    CliError,
    Settings,
    describe_error,
)
from session_store.cli.output import Output
from session_store.domain import MessageRole, SessionStatus

__all__ = ["app", "main"]

app = typer.Typer(
    name="session-store",
    help="AI-agent sessions and messages in one DynamoDB table: inspect, migrate, maintain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
sessions_app = typer.Typer(help="List, show and delete sessions.", no_args_is_help=True)
app.add_typer(sessions_app, name="sessions")


class SchemaFormat(StrEnum):
    CLOUDFORMATION_JSON = "cloudformation-json"
    CLOUDFORMATION_YAML = "cloudformation-yaml"
    BOTO3 = "boto3"


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
def _global_options(
    ctx: typer.Context,
    table: Annotated[
        str | None,
        typer.Option(
            "--table", envvar=TABLE_VARIABLE, help="The DynamoDB table.", show_default=False
        ),
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            envvar=ENDPOINT_VARIABLE,
            help="A DynamoDB endpoint (DynamoDB Local, moto, `session-store local`).",
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", envvar=list(REGION_VARIABLES), help="The AWS region."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print each DynamoDB request made (stderr).")
    ] = False,
) -> None:
    """AI-agent sessions and messages in one DynamoDB table.

    Credentials come from the standard AWS chain.
    """
    ctx.obj = Settings(table=table, endpoint_url=endpoint_url, region=region, verbose=verbose)


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
        bool, typer.Option("--status", help="List applied and pending migrations; change nothing.")
    ] = False,
) -> None:
    """Create (or adopt) the table and apply the pending migrations."""
    _run(ctx, commands.migrate, status=status)


@app.command()
def schema(
    ctx: typer.Context,
    output_format: Annotated[
        SchemaFormat, typer.Option("--format", help="What to print.")
    ] = SchemaFormat.CLOUDFORMATION_YAML,
    stream: Annotated[
        bool, typer.Option("--stream", help="With a KEYS_ONLY stream (for the TTL handler).")
    ] = False,
    read_capacity: Annotated[
        int | None, typer.Option("--read-capacity", help="Provisioned RCUs (default: on-demand).")
    ] = None,
    write_capacity: Annotated[
        int | None, typer.Option("--write-capacity", help="Provisioned WCUs (default: on-demand).")
    ] = None,
) -> None:
    """Print the table definition from the models: CloudFormation or boto3 create_table args.

    The template's TableName is --table when given (else CloudFormation names it).
    """
    _run(
        ctx,
        commands.schema,
        output_format=output_format.value,
        stream=stream,
        read_capacity=read_capacity,
        write_capacity=write_capacity,
    )


@app.command("iam-policy")
def iam_policy(
    ctx: typer.Context,
    table_arn: Annotated[str, typer.Argument(metavar="TABLE_ARN", help="The table's exact ARN.")],
    admin: Annotated[
        bool,
        typer.Option("--admin", help="Also what `migrate` needs (create and adopt the table)."),
    ] = False,
) -> None:
    """Print the least-privilege IAM policy (JSON) for the adapter on a table."""
    _run(ctx, commands.iam_policy, table_arn, admin=admin)


@sessions_app.command("list")
def sessions_list(  # noqa: PLR0917 (typer passes every option by keyword)
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="A user's sessions (GSI1).")] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", help="An agent's sessions (GSI2).")
    ] = None,
    status: Annotated[SessionStatus | None, typer.Option("--status")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Has this tag (repeat: any of them).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Created after: a duration ago (7d, 12h) or an ISO date."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            help=f"At most this many (0: all). Default: {commands.DEFAULT_LIST_LIMIT}, "
            "or all with --json.",
        ),
    ] = None,
    include_expired: Annotated[
        bool, typer.Option("--include-expired", help="Also sessions past their expiry.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """List sessions, newest first for a user."""
    _run(
        ctx,
        commands.sessions_list,
        user=user,
        agent=agent,
        status=status.value if status else None,
        tags=tag or (),
        since=since,
        limit=limit,
        include_expired=include_expired,
        as_json=as_json,
    )


@sessions_app.command("show")
def sessions_show(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(metavar="ID")],
    messages: Annotated[
        int, typer.Option("--messages", help="How many of the newest messages to show.")
    ] = commands.DEFAULT_SHOWN_MESSAGES,
    as_json: Annotated[bool, typer.Option("--json", help="As one JSON object.")] = False,
) -> None:
    """Show a session and its newest messages."""
    _run(ctx, commands.sessions_show, session_id, messages=messages, as_json=as_json)


def _ask(question: str) -> bool:
    return typer.confirm(question, default=False, err=True)


@sessions_app.command("delete")
def sessions_delete(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(metavar="ID")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a session and all its messages (asks first unless --yes)."""
    confirm = _ask if sys.stdin.isatty() else None
    _run(ctx, commands.sessions_delete, session_id, yes=yes, confirm=confirm)


@app.command()
def messages(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(metavar="ID")],
    tail: Annotated[int | None, typer.Option("--tail", help="Only the newest N messages.")] = None,
    role: Annotated[
        list[MessageRole] | None, typer.Option("--role", help="Only these roles (repeat).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """Print a session's messages, oldest first."""
    _run(
        ctx,
        commands.messages,
        session_id,
        tail=tail,
        roles=[r.value for r in role or []],
        as_json=as_json,
    )


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
def health(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="As one JSON object.")] = False,
) -> None:
    """Check the table; exit code 0 healthy, 1 degraded, 2 unhealthy."""
    _run(ctx, commands.health, as_json=as_json)


@app.command("export")
def export(
    ctx: typer.Context,
    session: Annotated[
        list[str] | None, typer.Option("--session", help="This session (repeat for more).")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Every session of a user.")] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="A file (default: stdout).")
    ] = None,
) -> None:
    """Export sessions and their messages as JSON lines (the whole table by default).

    The lines are DynamoDB's export format: {"Item": {...}} in typed DynamoDB JSON.
    """
    _run(ctx, commands.export, session_ids=session or (), user=user, output=output)


@app.command("import")
def import_(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="FILE", help="JSON lines, or - for stdin.")],
) -> None:
    """Import an export: items are written as they were; importing twice changes nothing."""
    _run(ctx, commands.import_, source)


@app.command()
def local(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="The address to serve on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="The port (0: any free one).")
    ] = commands.DEFAULT_LOCAL_PORT,
    data: Annotated[
        str | None,
        typer.Option("--data", help="A JSON-lines snapshot: loaded at start, saved at exit."),
    ] = None,
) -> None:
    """Serve an embedded DynamoDB with the table created and migrated, until Ctrl-C.

    The table is --table, else "session-store". Prints the environment
    variables that point an application (or this command line) at it.
    """
    _run(ctx, commands.local, host=host, port=port, data=data)


class BenchBackend(StrEnum):
    LOCAL = "local"
    MOTO = "moto"


@app.command()
def bench(
    ctx: typer.Context,
    quick: Annotated[
        bool, typer.Option("--quick", help="Small sizes, about a minute (what CI runs).")
    ] = False,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Where to write the report.")
    ] = "BENCHMARKS.md",
    backend: Annotated[
        BenchBackend,
        typer.Option(
            "--backend", help="local: DynamoDB Local from node_modules; moto: in process."
        ),
    ] = BenchBackend.LOCAL,
) -> None:
    """Measure cost per call, client overhead, scale and concurrency; write BENCHMARKS.md.

    Needs a source checkout (the benchmarks are not installed with the package).
    """
    from session_store.cli import bench as bench_command

    _run(ctx, bench_command.bench, quick=quick, output=output, backend=backend.value)


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); the exit code."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="session-store", standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    return 0
