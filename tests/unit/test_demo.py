"""The README's first command: the demo runs end to end on embedded moto."""

from __future__ import annotations

import io
import subprocess
import sys

from session_store import demo


def test_demo_runs_and_reports_requests() -> None:
    out = io.StringIO()
    total = demo.run(out)
    text = out.getvalue()
    assert "ConcurrencyError" in text
    assert "3 messages, 28 tokens, agent billing" in text
    assert f"total {total:>64}".split()[-1] in text.splitlines()[-1]
    assert total > 10


def test_demo_module_runs_as_a_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "session_store.demo"], capture_output=True, text=True, check=True
    )
    assert "list alice's sessions through GSI1" in result.stdout
