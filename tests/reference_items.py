"""The TypeScript adapter's reference items, and how our items are compared with them.

``reference-items.json`` holds items the TypeScript adapter wrote, each with
the domain value it stands for (SPEC §1). It is read from
``../shared/interop/`` beside the repository when present (CI clones it
there), else from the copy in ``tests/data``, so the interop tests never skip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = _REPO.parent / "shared" / "interop" / "reference-items.json"
COPIED_REFERENCE = _REPO / "tests" / "data" / "reference-items.json"
SHARED_VARIANTS = _REPO.parent / "shared" / "interop" / "reference-variants.json"
COPIED_VARIANTS = _REPO / "tests" / "data" / "reference-variants.json"

WRITTEN_WHEN_MISSING = frozenset({"version", "tokenCount", "messageCount"})
"""Session attributes we always write and the reference may omit; ours must then be 0."""

JSON_TEXT_ATTRIBUTES = frozenset({"participants", "metadata"})


def reference_path() -> Path:
    return SHARED_REFERENCE if SHARED_REFERENCE.is_file() else COPIED_REFERENCE


def load_reference() -> dict[str, Any]:
    with reference_path().open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


REFERENCE = load_reference()
SESSIONS: list[dict[str, Any]] = REFERENCE["sessions"]
MESSAGES: list[dict[str, Any]] = REFERENCE["messages"]


def load_variants() -> list[dict[str, Any]]:
    """What the TypeScript side writes beyond a plain create/add (its ``updateSession``, and
    ``SessionManager``): cases with a raw ``item`` and the ``expected`` fields it reads as."""
    path = SHARED_VARIANTS if SHARED_VARIANTS.is_file() else COPIED_VARIANTS
    with path.open(encoding="utf-8") as handle:
        cases: list[dict[str, Any]] = json.load(handle)["cases"]
    return cases


VARIANTS = load_variants()


def assert_same_encoding(
    ours: dict[str, dict[str, Any]],
    reference: dict[str, dict[str, Any]],
    *,
    written_when_missing: frozenset[str] = frozenset(),
) -> None:
    """Same attribute names, type tags and values; JSON text byte for byte.

    ``written_when_missing``: attributes we may add where the reference has
    none, each only as ``{"N": "0"}``.
    """
    missing = sorted(set(reference) - set(ours))
    assert not missing, f"the reference writes {missing}, we do not"
    added = sorted(set(ours) - set(reference))
    assert set(added) <= written_when_missing, f"we write {added}, the reference does not"
    for name in added:
        assert ours[name] == {"N": "0"}, f"{name} is absent from the reference: must be 0"
    for name, expected in reference.items():
        assert set(ours[name]) == set(expected), (
            f"{name}: type {set(ours[name])} != {set(expected)}"
        )
        if name in JSON_TEXT_ATTRIBUTES:
            assert ours[name]["S"] == expected["S"], f"{name}: JSON text differs"
        else:
            assert ours[name] == expected, f"{name}: {ours[name]} != {expected}"
