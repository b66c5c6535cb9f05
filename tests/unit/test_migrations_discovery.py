"""``discover()``: which files are migrations, in which order, and what a malformed one does."""

from __future__ import annotations

from pathlib import Path

import pytest

from session_store.migrations import MigrationError, discover, migrations_directory

_OK = '"""{doc}"""\n\ndef up(bound):\n    return {{"file": {name!r}}}\n'


def write(directory: Path, file_name: str, text: str | None = None) -> None:
    body = text if text is not None else _OK.format(doc=f"Migration {file_name}.", name=file_name)
    (directory / file_name).write_text(body, encoding="utf-8")


def test_bundled_migrations_in_order() -> None:
    found = discover()
    assert [m.name for m in found] == ["0001_create_table", "0002_backfill_counters"]
    assert [m.number for m in found] == [1, 2]
    assert found[0].description.startswith("Create the table from the models")
    assert found[1].description.startswith("Give every session a version")
    assert all(callable(m.up) for m in found)
    assert all(m.path.parent == migrations_directory() for m in found)


def test_migrations_directory_is_the_repository_one_in_a_checkout() -> None:
    directory = migrations_directory()
    assert directory.is_dir()
    assert (directory / "0001_create_table.py").is_file()


def test_ordered_by_number_and_other_files_ignored(tmp_path: Path) -> None:
    for name in ("0010_tenth.py", "0002_second.py", "0001_first.py"):
        write(tmp_path, name)
    for name in ("__init__.py", "helpers.py", "001_short.py", "0003-dash.py", "0004_Upper.py"):
        write(tmp_path, name)
    (tmp_path / "0005_notes.txt").write_text("not python", encoding="utf-8")

    found = discover(tmp_path)

    assert [m.name for m in found] == ["0001_first", "0002_second", "0010_tenth"]
    assert [m.number for m in found] == [1, 2, 10]
    assert found[2].description == "Migration 0010_tenth.py."
    assert found[2].up(None) == {"file": "0010_tenth.py"}  # type: ignore[arg-type]


def test_empty_directory(tmp_path: Path) -> None:
    assert discover(tmp_path) == []


def test_duplicate_numbers_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "0001_one.py")
    write(tmp_path, "0001_other.py")
    with pytest.raises(MigrationError, match="share number 0001"):
        discover(tmp_path)


def test_a_module_without_up_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "0001_no_up.py", '"""Has a docstring."""\n\nVALUE = 1\n')
    with pytest.raises(MigrationError, match="no up"):
        discover(tmp_path)


def test_a_module_without_docstring_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "0001_undocumented.py", "def up(bound):\n    return None\n")
    with pytest.raises(MigrationError, match="no docstring") as caught:
        discover(tmp_path)
    assert caught.value.code == "MIGRATION_ERROR"
