"""Test helpers for code built on ``session_store``.

- ``SessionFactory`` / ``MessageFactory`` (``session_store.testing.factories``):
  factory-boy factories for realistic ``NewSession`` / ``NewMessage`` values,
  and for creating them through an adapter. Need the ``testing`` extra.
- ``session_store.testing.strategies``: Hypothesis strategies for arbitrary
  valid ``Session`` / ``Message`` values. Need ``hypothesis`` (a dev dependency).
- ``session_store.testing.plugin``: pytest fixtures (registered as a plugin).
- ``session_store.testing.backends``: moto in process or any endpoint, one fresh table each.

The factories are imported lazily, on first use of their names, so importing
this package (as the pytest plugin does) never imports factory-boy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from session_store.testing.factories import MessageFactory, SessionFactory

__all__ = ["MessageFactory", "SessionFactory"]

_LAZY = {
    "MessageFactory": "session_store.testing.factories",
    "SessionFactory": "session_store.testing.factories",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
