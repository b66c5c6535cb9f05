"""Domain objects built without validation equal the validated ones, and only models that
fit the shortcut are built by it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ConfigDict, PrivateAttr, RootModel

from session_store import domain
from session_store._construct import constructor, require_constructible


class _Point(BaseModel):
    x: int
    label: str | None = None


def test_constructed_instances_equal_validated_ones() -> None:
    build = constructor(_Point)
    built = build({"x": 3, "label": "a"})
    validated = _Point.model_validate({"x": 3, "label": "a"})
    assert built == validated
    assert built.model_fields_set == validated.model_fields_set == {"x", "label"}
    assert built.__pydantic_extra__ is None
    assert built.__pydantic_private__ is None
    assert built.model_copy(update={"x": 4}).x == 4
    assert built.model_dump() == {"x": 3, "label": "a"}


def test_each_instance_gets_its_own_fields_set() -> None:
    build = constructor(_Point, ["x"])
    first, second = build({"x": 1, "label": None}), build({"x": 2, "label": None})
    assert first.model_fields_set == {"x"}
    first.label = "changed"  # assignment adds to the instance's own set
    assert first.model_fields_set == {"x", "label"}
    assert second.model_fields_set == {"x"}


def test_domain_messages_are_constructible() -> None:
    build = constructor(domain.Message)
    now = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
    values = {
        "id": "m1",
        "session_id": "s1",
        "role": domain.MessageRole.USER,
        "content": "hi",
        "token_count": 2,
        "sequence": None,
        "metadata": None,
        "created_at": now,
        "updated_at": None,
    }
    assert list(values) == list(domain.Message.model_fields)
    assert build(values) == domain.Message.model_validate(values)


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")
    x: int


class _Private(BaseModel):
    x: int
    _cache: int = PrivateAttr(default=0)


class _Root(RootModel[int]):
    pass


@pytest.mark.parametrize("model", [_Open, _Private, _Root])
def test_models_needing_validation_are_refused(model: type[BaseModel]) -> None:
    with pytest.raises(TypeError, match="cannot be built without validation"):
        require_constructible(model)
    with pytest.raises(TypeError):
        constructor(model)


def test_fields_that_are_not_the_models_are_refused() -> None:
    with pytest.raises(TypeError, match="not fields"):
        constructor(_Point, ["x", "nope"])
