"""``session-store bench``: what it passes to the benchmarks, and its one line without them."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

import benchmarks
from session_store.cli import bench as bench_command
from session_store.cli import main


def test_bench_runs_the_benchmarks_with_its_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(benchmarks, "run_benchmarks", lambda options, console: seen.append(options))
    monkeypatch.setattr(bench_command, "require_moto", lambda: None)
    output = tmp_path / "out.md"
    assert main(["bench", "--quick", "--backend", "moto", "--output", str(output)]) == 0
    (options,) = seen
    assert options.sizes is benchmarks.QUICK
    assert options.backend == "moto"
    assert options.output == output
    assert options.command == f"session-store bench --backend moto --output {output} --quick"


def test_bench_without_a_checkout_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def not_installed(name: str) -> ModuleType:
        raise ModuleNotFoundError(f"No module named {name!r}", name="benchmarks")

    monkeypatch.setattr(importlib, "import_module", not_installed)
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--quick"]) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1
    assert "source checkout" in errors[0]


def test_another_package_called_benchmarks_is_not_taken_for_ours(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(importlib, "import_module", lambda name: SimpleNamespace())
    assert main(["bench", "--quick"]) == 1
    assert "source checkout" in capsys.readouterr().err
