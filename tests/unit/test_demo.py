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
    assert "4 messages, 1128 tokens, agent billing" in text
    # Embedded, the screenshot is offloaded to moto's S3 and read back whole when paging.
    assert "(json+gzip) went to s3://session-store-demo-" in text
    assert text.count("[image, 1,066,690 characters]") == 2
    assert f"total {total:>64}".split()[-1] in text.splitlines()[-1]
    assert total > 10


def test_demo_module_runs_as_a_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "session_store.demo"], capture_output=True, text=True, check=True
    )
    assert "list alice's sessions through GSI1" in result.stdout
