"""Schema migrations: ordered, idempotent Python modules, recorded in the table itself.

A migration is a module ``NNNN_name.py`` (four digits, then a lowercase
name) in the repository's top-level ``migrations/`` directory; wheels ship
that directory as ``session_store/_bundled_migrations``. Each module has a
docstring (its description) and defines::

    def up(bound: BoundModels) -> dict[str, object] | None

``up`` must be idempotent: it may run again after a crash before its record
was written, or in two processes at once. What it returns (JSON-serialisable)
is stored with its record.

``migrate(bound)`` first makes the table exist and match the models
(``table.create_table`` when it is missing, ``table.adopt_table`` when it
exists: missing GSI1/GSI2 are added and TTL on ``ttl`` is turned on). It does
this on every run, because it is cheap (two describe calls when nothing is
missing) and repairs a table restored from a backup, which loses its TTL
setting and may lose its indexes. Then it applies the pending migrations in
order and records each one as a ``MigrationRecord`` item under
``SCHEMA#MIGRATIONS`` / ``MIGRATION#{name}``, right after it succeeded. A
migration that fails stops the run; it and everything after it stay pending.
Migration ``0001_create_table`` does the same table work, so a table is never
recorded as migrated without it.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType

from pynamodb.exceptions import PynamoDBException

from session_store import keys, table
from session_store._time import utc_now
from session_store.errors import SessionError, StorageError, TableNotFoundError
from session_store.gateway import translate
from session_store.table import BoundModels

__all__ = [
    "Migration",
    "MigrationError",
    "MigrationUp",
    "applied",
    "discover",
    "ensure_table",
    "migrate",
    "migrations_directory",
    "pending",
]

logger = logging.getLogger(__name__)

MigrationUp = Callable[[BoundModels], Mapping[str, object] | None]
"""A migration's ``up``: idempotent; returns details to record, or ``None``."""

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.py$")


class MigrationError(SessionError):
    """A migration module is malformed (no ``up``, no docstring, a duplicate number)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "MIGRATION_ERROR")


@dataclass(frozen=True)
class Migration:
    """One migration module."""

    number: int
    name: str
    """The file name without ``.py``, e.g. ``0001_create_table``: the recorded name."""
    description: str
    """The module's docstring."""
    up: MigrationUp
    path: Path


def migrations_directory() -> Path:
    """Where the migrations live: the packaged copy if there is one, else ``<repo>/migrations``."""
    package = Path(__file__).resolve().parent
    bundled = package / "_bundled_migrations"
    if bundled.is_dir():
        return bundled
    return package.parent / "migrations"


def discover(directory: Path | None = None) -> list[Migration]:
    """Every migration in ``directory`` (default: ``migrations_directory()``), by number.

    Files whose names do not look like ``NNNN_name.py`` are ignored. Raises
    ``MigrationError`` for two files with one number, a module without a
    callable ``up`` or without a docstring.
    """
    directory = migrations_directory() if directory is None else directory
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.py")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            continue
        number = int(match.group(1))
        if number in found:
            raise MigrationError(
                f"migrations {found[number].name!r} and {path.stem!r} share number {number:04d}"
            )
        found[number] = _load(number, path)
    return [found[number] for number in sorted(found)]


def _load(number: int, path: Path) -> Migration:
    spec = importlib.util.spec_from_file_location(f"session_store_migration_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise MigrationError(f"cannot load migration {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    up = getattr(module, "up", None)
    if not callable(up):
        raise MigrationError(f"migration {path.stem!r} defines no up(bound) function")
    description = inspect.getdoc(module)
    if not description:
        raise MigrationError(f"migration {path.stem!r} has no docstring to describe it")
    return Migration(number, path.stem, description, up, path)


def applied(bound: BoundModels) -> dict[str, datetime]:
    """The applied migrations and when each was applied; ``{}`` when the table is missing."""
    try:
        return {
            record.name: record.applied_at
            for record in bound.MigrationRecord.query(
                keys.MIGRATIONS_PK,
                bound.MigrationRecord.sk.startswith(keys.MIGRATION_PREFIX),
                consistent_read=True,
            )
        }
    except PynamoDBException as error:
        translated = translate(
            error.__cause__ or error, "reading the applied migrations", bound.gateway.where
        )
        if isinstance(translated, TableNotFoundError):
            return {}
        raise translated from error


def pending(bound: BoundModels, migrations: Sequence[Migration] | None = None) -> list[Migration]:
    """The migrations not applied yet, in order (default: every discovered one)."""
    done = applied(bound)
    return [m for m in (discover() if migrations is None else migrations) if m.name not in done]


def ensure_table(bound: BoundModels) -> list[str]:
    """Create the table from the models, or make an existing one match them; what changed.

    Idempotent: on a table that already matches, it only describes it.
    """
    name = bound.config.table_name
    described = bound.gateway.describe_table()
    # Missing: create it (if someone else just did, adopt theirs).
    if described is None and table.create_missing_table(bound):
        return [f"created table {name!r}"]
    return table.adopt_table(bound, described=described)


def migrate(bound: BoundModels, migrations: Sequence[Migration] | None = None) -> list[str]:
    """Make the table match the models, then apply the pending migrations in order.

    Returns the names of the migrations this call applied and recorded
    (``[]`` when there were none: running it again changes nothing).
    ``migrations`` defaults to every discovered migration. A failing
    migration raises (``StorageError`` for DynamoDB failures, its own error
    otherwise) after the ones before it were recorded.
    """
    for change in ensure_table(bound):
        logger.info("table %s: %s", bound.config.table_name, change)
    done: list[str] = []
    for migration in pending(bound, migrations):
        logger.info("applying migration %s", migration.name)
        try:
            details = migration.up(bound)
        except (StorageError, PynamoDBException) as error:
            raise StorageError(f"migration {migration.name!r} failed: {error}") from error
        if _record(bound, migration, details):
            done.append(migration.name)
    return done


def _record(bound: BoundModels, migration: Migration, details: Mapping[str, object] | None) -> bool:
    """Write the migration's record unless one exists (another process won the race)."""
    record = bound.MigrationRecord(
        keys.MIGRATIONS_PK,
        keys.migration_sk(migration.name),
        name=migration.name,
        applied_at=utc_now(),
        detail=dict(details) if details is not None else None,
    )
    try:
        record.save(condition=bound.MigrationRecord.pk.does_not_exist())
    except PynamoDBException as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            logger.info("migration %s was recorded meanwhile by another run", migration.name)
            return False
        raise translate(
            error.__cause__ or error, f"recording migration {migration.name!r}", bound.gateway.where
        ) from error
    return True
