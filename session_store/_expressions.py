"""Expression building with placeholders only: no user data is ever spliced into text.

Attribute names come from the models (``Expression.name(SessionMeta.status)``
uses the attribute's stored name), so no wire name is written twice.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import Attribute

__all__ = ["Expression"]


class Expression:
    """Allocates ``#nN`` name and ``:vN`` value placeholders for one request."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, dict[str, Any]] = {}
        self._name_of: dict[str, str] = {}

    def name(self, attribute: Attribute[Any] | str) -> str:
        """The placeholder of a model attribute (or of a stored name from the models' constants)."""
        if not isinstance(attribute, str):
            attribute = attribute.attr_name
        placeholder = self._name_of.get(attribute)
        if placeholder is None:
            placeholder = f"#n{len(self._name_of)}"
            self._name_of[attribute] = placeholder
            self.names[placeholder] = attribute
        return placeholder

    def fixed(self, names: dict[str, str], values: dict[str, dict[str, Any]] | None = None) -> None:
        """Add placeholders a prepared expression fragment uses (not ``#nN``/``:vN``)."""
        self.names.update(names)
        if values:
            self.values.update(values)

    def copy(self) -> Expression:
        """An expression that goes on from this one's placeholders (for a variant request)."""
        other = Expression()
        other.names = dict(self.names)
        other.values = dict(self.values)
        other._name_of = dict(self._name_of)
        return other

    def value(self, typed: dict[str, Any]) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = typed
        return placeholder

    def string(self, text: str) -> str:
        return self.value({"S": text})

    def number(self, number: int) -> str:
        return self.value({"N": str(number)})

    def into(self, request: dict[str, Any]) -> dict[str, Any]:
        """``request`` with the placeholders' maps added (only the non-empty ones)."""
        if self.names:
            request["ExpressionAttributeNames"] = self.names
        if self.values:
            request["ExpressionAttributeValues"] = self.values
        return request
