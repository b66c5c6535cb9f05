"""Every Python block of README.md runs as written, top to bottom, in one interpreter.

The blocks run in a separate Python process with a clean environment (no AWS
settings but a region and dummy credentials, an empty home directory) and a
temporary working directory, on moto started in process before the first
block (serialised, as the suite's ``MotoBackend``): the README's code itself is
run unchanged.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)

RUNNER = """
import sys
import traceback

from session_store.testing.backends import MotoBackend

blocks = {blocks!r}
# moto in process, its request handling serialised as in the suite (the async
# example sends requests from many threads at once).
moto_session = MotoBackend().active()  # kept: dropping it would stop moto
moto_session.__enter__()
namespace = {{"__name__": "__main__"}}
for number, code in enumerate(blocks, start=1):
    try:
        exec(compile(code, f"README.md python block {{number}}", "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"README python block {{number}} failed", file=sys.stderr)
        sys.exit(1)
print(f"{{len(blocks)}} blocks ran")
"""


def python_blocks(text: str) -> list[str]:
    return PYTHON_BLOCK.findall(text)


def run_blocks(blocks: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    home = cwd / "home"
    home.mkdir()
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
        # Exactly what `session-store local` prints: AWS_REGION alone names the region.
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "readme",
        "AWS_SECRET_ACCESS_KEY": "readme",
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
    }
    return subprocess.run(
        [sys.executable, "-c", RUNNER.format(blocks=blocks)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_readme_has_python_blocks() -> None:
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    assert any("asyncio.run(" in block for block in blocks)


def test_every_python_block_of_the_readme_runs_in_order(tmp_path: Path) -> None:
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    done = run_blocks(blocks, tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.strip().endswith(f"{len(blocks)} blocks ran")
    # What the blocks print: the stale update refused, the agent's answer.
    assert "expected version 1" in done.stdout
    assert "Hello! How can I help?" in done.stdout


@pytest.mark.parametrize(
    ("blocks", "failing"),
    [
        (["x = 1", "print(undefined_name)"], 2),
        (["import asyncio", "await asyncio.sleep(0)"], 2),
    ],
)
def test_a_broken_block_is_reported_by_its_number(
    tmp_path: Path, blocks: list[str], failing: int
) -> None:
    done = run_blocks(blocks, tmp_path)
    assert done.returncode == 1
    assert f"README python block {failing} failed" in done.stderr


def test_the_readme_names_one_region_and_one_test_endpoint_variable() -> None:
    text = README.read_text(encoding="utf-8")
    assert set(re.findall(r"\b[a-z]{2}-[a-z]+-\d\b", text)) == {"us-east-1"}
    assert "SESSION_STORE_ENDPOINT" not in text
    assert "SESSION_STORE_TEST_ENDPOINT" in text
