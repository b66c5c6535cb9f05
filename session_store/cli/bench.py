"""``session-store bench``: the benchmarks of a source checkout, from the command line.

The benchmarks are the top-level package ``benchmarks`` of the repository,
not part of the installed package: they need Amazon DynamoDB Local from the
checkout's ``node_modules`` (or moto), they write ``BENCHMARKS.md`` into the
checkout, and they are a maintainer's tool. So this command runs them when
``benchmarks`` can be imported (an editable install, or the current directory
is the repository) and says so in one line otherwise.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from types import ModuleType

from session_store.cli.commands import require_moto
from session_store.cli.config import CliError, Settings
from session_store.cli.output import Output
from session_store.testing.dynamodb_local import find_dynamodb_local

__all__ = ["bench"]

NEEDS_CHECKOUT = (
    "session-store bench needs a source checkout of session-store: run it from the "
    "repository (or `python -m benchmarks` there)"
)


def _benchmarks() -> ModuleType:
    """The ``benchmarks`` package of this checkout; ``CliError`` when there is none."""
    module: ModuleType | None = None
    try:
        module = importlib.import_module("benchmarks")
    except ModuleNotFoundError as error:
        if error.name != "benchmarks":
            raise
        # A non-editable install run from the repository: the checkout is the current directory.
        if (Path.cwd() / "benchmarks" / "runner.py").is_file():
            sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module("benchmarks")
    # Another distribution may own the name: ours is the one that runs benchmarks.
    if module is None or not hasattr(module, "run_benchmarks"):
        raise CliError(NEEDS_CHECKOUT)
    return module


def _check_backend(backend: str) -> None:
    if backend == "moto":
        require_moto()
        return
    if find_dynamodb_local() is None:
        raise CliError(
            "DynamoDB Local was not found under node_modules: run `make install` "
            "(or use --backend moto)"
        )
    if shutil.which("java") is None:
        raise CliError("DynamoDB Local needs Java 17: run `make install` (or use --backend moto)")


def bench(settings: Settings, out: Output, *, quick: bool, output: str, backend: str) -> int:
    """Run the benchmarks on ``backend``, print their tables and write ``output``.

    The table, region and endpoint of ``settings`` are not used: the
    benchmarks make tables of their own on a backend they start.
    """
    del settings  # the benchmarks choose their own tables and endpoint
    benchmarks = _benchmarks()
    _check_backend(backend)
    arguments = ["--backend", backend, "--output", output, *(["--quick"] if quick else [])]
    benchmarks.run_benchmarks(
        benchmarks.RunOptions(
            sizes=benchmarks.QUICK if quick else benchmarks.FULL,
            backend=backend,
            output=Path(output),
            command=" ".join(["session-store bench", *arguments]),
        ),
        console=out.console,
    )
    return 0
