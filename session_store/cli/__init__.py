"""The ``session-store`` command line.

``main(argv)`` runs it and returns the exit code; the commands are plain
functions in ``session_store.cli.commands`` (``command(settings, out, ...)``),
which tests and scripts call directly.
"""

from __future__ import annotations

from session_store.cli.app import app, main
from session_store.cli.config import CliError, Settings, describe_error
from session_store.cli.output import Output

__all__ = ["CliError", "Output", "Settings", "app", "describe_error", "main"]
