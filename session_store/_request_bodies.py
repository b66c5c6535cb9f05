"""DynamoDB request bodies encoded in one pass, instead of botocore's shape walk.

The twin of ``_wire`` (which decodes responses). botocore's ``JSONSerializer``
builds every request body by walking the parameters against the operation's
input shape, one method lookup per value, and then ``json.dumps`` the copy it
built. For DynamoDB the walk changes almost nothing: the input shapes of the
operations this package sends hold structures, maps, lists, strings,
integers and booleans, which it copies as they are, and blobs (``B``/``BS``
attribute values), which it base64-encodes. ``install_fast_encode(client)``
puts a serializer in front of the client's own that compiles, once per
operation, a conversion that visits only where a blob can be (attribute
values, which may nest through ``M`` and ``L``; a value tagged ``S``/``N``/
``BOOL``/``NULL`` is taken as it is), then serialises the result once with
``orjson``. This module never imports botocore.

Why the body is what botocore would send (checked against botocore 1.44.8,
``JSONSerializer`` in ``serialize.py`` and ``_convert_to_request_dict`` in
``client.py``):

- The request dict around the body is built as botocore builds it (method,
  ``X-Amz-Target``, ``Content-Type``, ``url_path``, ``query_string``), and the
  client goes on exactly as before: user agent, endpoint, signing, retries,
  events and ``--verbose`` request logging all see the finished request.
- The body decodes to the same JSON document: blobs through
  ``base64.b64encode`` (a ``str`` in a blob's place encoded to UTF-8 first, as
  botocore does), everything else unchanged. Only its spelling differs:
  ``orjson`` writes compact UTF-8 where ``json.dumps`` writes ``", "`` and
  ``\\uXXXX`` escapes; DynamoDB reads both.
- What this module does not recognise is botocore's to serialise, from the
  untouched parameters: an operation whose input shape holds timestamps,
  floats, documents, renamed members or host labels, a service that is not
  DynamoDB's JSON protocol, a botocore version it was not checked against, a
  client whose serializer validates parameters (that check stays), and any
  parameters the conversion or ``orjson`` refuses (an unknown member, a
  number past 64 bits, a lone surrogate): botocore then does whatever it does
  with them, error included.
"""

from __future__ import annotations

import base64
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Final

from session_store._wire import supports_fast_decode

__all__ = ["FastSerializer", "install_fast_encode", "uninstall_fast_encode"]

import orjson

Convert = Callable[[Any], Any]

_COPIED_TYPES: Final = frozenset({"string", "integer", "long", "boolean"})
"""Shape types botocore's JSON serializer copies into the body as they are."""
_PLAIN_TAGS: Final = frozenset({"S", "N", "BOOL", "NULL"})
"""Attribute value tags whose value holds no blob."""


class _Unsupported(Exception):
    """This operation's parameters are left to botocore's serializer."""


def _blob(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    elif not isinstance(value, bytes | bytearray):
        raise TypeError(f"a blob must be bytes or str, not {type(value).__name__}")
    return base64.b64encode(value).decode("utf-8")


def _has_blob(shape: Any, seen: frozenset[str]) -> bool:
    """Whether a blob can appear anywhere under ``shape``; ``_Unsupported`` for a type
    botocore's serializer would convert (timestamp, float, document) or a renamed member."""
    name = shape.name
    if name in seen:
        return False
    seen = seen | {name}
    kind = shape.type_name
    if kind == "blob":
        return True
    if kind in _COPIED_TYPES:
        return False
    if kind == "structure":
        if shape.is_document_type:
            raise _Unsupported(name)
        found = False
        for member in shape.members.values():
            if "name" in member.serialization or member.serialization.get("hostLabel"):
                raise _Unsupported(name)
            found = _has_blob(member, seen) or found
        return found
    if kind == "list":
        return _has_blob(shape.member, seen)
    if kind == "map":
        return _has_blob(shape.key, seen) or _has_blob(shape.value, seen)
    raise _Unsupported(f"{name} ({kind})")


def _identity(value: Any) -> Any:
    return value


class _Compiler:
    """Compiles the conversion of one input shape; cyclic shapes (an attribute value
    holding attribute values) are compiled once and referred to through a cell."""

    def __init__(self) -> None:
        self._compiled: dict[str, list[Convert]] = {}
        self._building: set[str] = set()

    def convert(self, shape: Any) -> Convert:
        if not _has_blob(shape, frozenset()):
            return _identity
        cell = self._compiled.get(shape.name)
        if cell is None:
            cell = self._compiled[shape.name] = [_identity]
            self._building.add(shape.name)
            cell[0] = self._build(shape)
            self._building.discard(shape.name)
        elif shape.name in self._building:
            built = cell  # bound now, called once the shape is compiled
            return lambda value: built[0](value)  # noqa: PLW0108 - built[0] is not set yet
        return cell[0]

    def _build(self, shape: Any) -> Convert:
        kind = shape.type_name
        if kind == "blob":
            return _blob
        if kind == "list":
            member = self.convert(shape.member)
            return lambda value: [member(item) for item in value]
        if kind == "map":
            key = self.convert(shape.key)
            inner = self.convert(shape.value)
            return lambda value: {key(k): inner(v) for k, v in value.items()}
        # A structure: only the members that can hold a blob are visited.
        members = {name: self.convert(member) for name, member in shape.members.items()}
        converted = _structure(
            frozenset(members),
            {name: convert for name, convert in members.items() if convert is not _identity},
        )
        if set(members) == {*_PLAIN_TAGS, "B", "SS", "NS", "BS", "M", "L"}:
            return _attribute_value(converted)
        return converted


def _structure(known: frozenset[str], visited: Mapping[str, Convert]) -> Convert:
    visits = tuple(visited.items())

    def convert(value: Mapping[str, Any]) -> dict[str, Any]:
        converted = dict(value.items())
        if not known.issuperset(converted):
            # botocore's serializer has its say on an unknown member.
            raise _Unsupported(f"unknown member among {sorted(converted)}")
        for name, member in visits:
            if name in converted:
                converted[name] = member(converted[name])
        return converted

    return convert


def _attribute_value(general: Convert) -> Convert:
    def convert(value: Any) -> Any:
        if type(value) is dict and len(value) == 1:
            for tag in value:
                if tag in _PLAIN_TAGS:
                    return value
        return general(value)

    return convert


class FastSerializer:
    """Stands in for a client's ``JSONSerializer``: its compiled conversions, and the
    serializer it was put in front of, which gets whatever they do not take."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._plans: dict[str, tuple[Convert, dict[str, str]] | None] = {}
        self.encoded = 0
        self.passed_on = 0

    def _plan(self, operation_model: Any) -> tuple[Convert, dict[str, str]] | None:
        name: str = operation_model.name
        try:
            return self._plans[name]
        except KeyError:
            pass
        plan: tuple[Convert, dict[str, str]] | None = None
        service = operation_model.service_model
        endpoint = operation_model.endpoint
        if (
            operation_model.input_shape is not None
            and not service.is_query_compatible
            and not (endpoint and "hostPrefix" in endpoint)
        ):
            shape = operation_model.input_shape
            try:
                convert = _Compiler().convert(shape)
                if convert is _identity:  # no blob anywhere: still refuse unknown members
                    convert = _structure(frozenset(shape.members), {})
            except _Unsupported:
                pass
            else:
                metadata = operation_model.metadata
                headers = {
                    "X-Amz-Target": f"{metadata['targetPrefix']}.{name}",
                    "Content-Type": f"application/x-amz-json-{metadata['jsonVersion']}",
                }
                plan = (convert, headers)
        self._plans[name] = plan
        return plan

    def serialize_to_request(self, parameters: Any, operation_model: Any) -> dict[str, Any]:
        plan = self._plan(operation_model)
        if plan is not None:
            convert, headers = plan
            try:
                body = orjson.dumps(convert(parameters))
            except Exception:  # anything surprising: botocore serialises it, its way
                pass
            else:
                self.encoded += 1
                return {
                    "url_path": "/",
                    "query_string": "",
                    "method": operation_model.http.get("method", "POST"),
                    "headers": dict(headers),
                    "body": body,
                }
        self.passed_on += 1
        request: dict[str, Any] = self.inner.serialize_to_request(parameters, operation_model)
        return request


_INSTALLED: weakref.WeakKeyDictionary[Any, FastSerializer] = weakref.WeakKeyDictionary()
_INSTALL_LOCK = threading.Lock()


def supports_fast_encode(client: Any) -> bool:
    """Whether ``client`` is one the fast decode path supports (a DynamoDB JSON client of a
    checked botocore) whose serializer is the plain JSON one (no parameter validation)."""
    serializer = getattr(client, "_serializer", None)
    return supports_fast_decode(client) and type(serializer).__name__ == "JSONSerializer"


def install_fast_encode(client: Any) -> FastSerializer | None:
    """Encode ``client``'s request bodies in one pass; idempotent.

    Returns the serializer in effect (the same one on every call), or ``None``
    when botocore's own serializer keeps all the work (see the module docstring).
    """
    with _INSTALL_LOCK:
        installed = _INSTALLED.get(client)
        if installed is not None:
            return installed
        if not supports_fast_encode(client):
            return None
        installed = _INSTALLED[client] = FastSerializer(client._serializer)
        client._serializer = installed
        return installed


def uninstall_fast_encode(client: Any) -> None:
    """Give ``client``'s requests back to botocore's serializer (no-op when not installed)."""
    with _INSTALL_LOCK:
        installed = _INSTALLED.pop(client, None)
        if installed is not None and client._serializer is installed:
            client._serializer = installed.inner
