"""Domain objects built from values already of their validated types, without validation.

``constructor(model, fields_set)`` gives a function doing what
``model.model_construct(_fields_set=fields_set, **values)`` does for a mapping
holding every field in field order, minus its per-call bookkeeping: the hot
paths (decoding regular items, a new message) use it where each value is
checked, or known, to be exactly what pydantic's validation would have made of
it, so the object equals (field by field, type by type) the validated one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar

from pydantic import BaseModel

__all__ = [
    "constructor",
    "require_constructible",
    "set_extra",
    "set_fields_set",
    "set_instance_dict",
    "set_private",
]

_Model = TypeVar("_Model", bound=BaseModel)

_SLOTS = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
"""Where a pydantic model instance keeps its state: its fields and pydantic's three slots."""


def _setter(name: str) -> Callable[[Any, Any], None]:
    # The descriptor's own ``__set__``: what ``object.__setattr__(instance, name, value)``
    # ends in, without looking the name up along the class's MRO first (half the time).
    setter: Callable[[Any, Any], None] = BaseModel.__dict__[name].__set__
    return setter


set_instance_dict: Final = _setter("__dict__")
set_fields_set: Final = _setter("__pydantic_fields_set__")
set_extra: Final = _setter("__pydantic_extra__")
set_private: Final = _setter("__pydantic_private__")


def require_constructible(model: type[BaseModel]) -> None:
    """Raise ``TypeError`` for a model that cannot be built by setting its ``__dict__`` and
    pydantic's three slots (extra fields kept, a post-init hook, a root model, private
    attributes, or a class of its own redefining where that state is kept): those need
    validation."""
    keeps_state_elsewhere = any(
        next(owner for owner in model.__mro__ if name in owner.__dict__) is not BaseModel
        for name in _SLOTS
    )
    if (
        keeps_state_elsewhere
        or model.model_config.get("extra") == "allow"
        or model.__pydantic_post_init__
        or model.__pydantic_root_model__
        or model.__private_attributes__
    ):
        raise TypeError(f"{model.__name__} cannot be built without validation")


def constructor(
    model: type[_Model], fields_set: Iterable[str] | None = None
) -> Callable[[dict[str, Any]], _Model]:
    """A builder of ``model`` instances from ``values`` (every field, in field order), with
    ``model_fields_set`` equal to ``fields_set`` (default: every field).

    Raises ``TypeError`` at once for a model this shortcut does not fit (see
    ``require_constructible``).
    """
    require_constructible(model)
    names = frozenset(model.model_fields if fields_set is None else fields_set)
    if not names <= model.model_fields.keys():
        raise TypeError(f"{sorted(names - model.model_fields.keys())} are not fields of {model}")
    new = object.__new__

    def construct(values: dict[str, Any]) -> _Model:
        instance = new(model)
        set_instance_dict(instance, values)
        set_fields_set(instance, set(names))
        set_extra(instance, None)
        set_private(instance, None)
        return instance

    return construct
