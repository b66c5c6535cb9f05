"""DynamoDB's successful responses decoded in one pass, instead of botocore's shape walk.

``install_fast_decode(client)`` makes a botocore DynamoDB client hand back
exactly what its own parser would (``Items``, ``Item``, ``Attributes``,
``LastEvaluatedKey``, ``Count``, ``ConsumedCapacity``, ``Responses``,
``UnprocessedKeys``, ...; numbers as strings, ``B``/``BS`` values decoded from
base64 to bytes) at a fraction of the cost. This module never imports
botocore: it works through the client's event system and plain Python.

How: botocore's ``Endpoint._do_get_response`` emits
``before-parse.dynamodb.<Operation>`` with the response dict (``status_code``,
``headers``, ``body``) and a ``customized_response_dict`` that it merges into
whatever its parser returns. For a 2xx response of an operation whose output
shape this module can convert (below), the handler parses the body once,
converts it, puts the result into ``customized_response_dict`` and sets the
body it hands to the parser to ``b""``. botocore's parser then parses an
empty document (nothing to walk) and still adds ``ResponseMetadata``
(request id, status code, headers) as always.

Why that is safe (checked against botocore 1.44.8, the ``before-parse``
emission in ``endpoint.py``, ``JSONParser`` in ``parsers.py`` and the DynamoDB
CRC32 checks in ``retryhandler.py`` and ``retries/special.py``):

- Only the dict handed to the parser changes. ``http_response.content``, the
  raw bytes, is untouched, and it is what the ``x-amz-crc32`` check of the
  retry handler (``needs-retry``, which runs after parsing) reads: a corrupted
  body is still detected and the call retried. The history recorder logs the
  HTTP response before ``before-parse``; ``after-call`` and every other event
  still run (only botocore's debug line of the body to be parsed shows ``b""``).
- Error responses (status outside 2xx) are left alone: botocore parses them,
  so ``ClientError`` codes, messages and modeled fields are unchanged.
- Signing, the credential chain, retries and request events happen before or
  after parsing and are not touched.
- What is handed back equals botocore's own result: the conversion of each
  operation is compiled out of botocore's own output shape and does what
  ``JSONParser`` does with it (only the members the shape declares, ``null``
  members dropped, blobs through ``base64.b64decode``). The one thing made
  fast is the attribute value: a value tagged only ``S``/``N``/``BOOL``/``NULL``
  is already what botocore's walk would return, so it is kept as parsed.
- Anything this module does not recognise takes botocore's own parser, on the
  untouched body: an output shape holding timestamps, documents, tagged
  unions, renamed or streamed members; a body that is not a JSON object or
  does not match its shape; an unknown botocore version; a service model
  that is not ``json``.
- JSON: ``orjson`` parses. It agrees with the ``json.loads`` botocore uses on
  every document it accepts, except integers past 64 bits, which it turns
  into floats: a number where none belongs is left to botocore (below).

Whole reads may skip even the one pass over attribute values: within
``wire_items()`` a Query or Scan response's ``Items`` are handed back as
parsed, for decoders that read DynamoDB's JSON themselves; ``finish_item``
makes any other item botocore's parse (see ``Gateway.wire_pages``).

One module, past the usual size on purpose: the hook, the shapes it compiles
and the conversions they share must be read (and checked against botocore)
together.
"""

from __future__ import annotations

import base64
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any, Final

__all__ = [
    "CHECKED_BOTOCORE",
    "FastDecoder",
    "WireItems",
    "finish_item",
    "install_fast_decode",
    "supports_fast_decode",
    "uninstall_fast_decode",
    "wire_items",
]

import orjson

CHECKED_BOTOCORE: Final = frozenset({(1, 44)})
"""botocore ``(major, minor)`` versions whose parsing this module was checked against."""

_EVENT = "before-parse.dynamodb"
_UNIQUE_ID = "session_store.fast-decode"

Convert = Callable[[Any], Any]

_ATTRIBUTE_VALUE_MEMBERS: Final = {
    "S": "string",
    "N": "string",
    "B": "blob",
    "SS": "list",
    "NS": "list",
    "BS": "list",
    "M": "map",
    "L": "list",
    "NULL": "boolean",
    "BOOL": "boolean",
}


class _Unsupported(Exception):
    """This shape or body is left to botocore's own parser."""


# --- parsing ---------------------------------------------------------------------------


loads: Callable[[bytes], Any] = orjson.loads
"""The JSON parser of response bodies."""


# --- attribute values ------------------------------------------------------------------
#
# botocore walks an attribute value as a structure of ten optional members. A value
# holding one S or N string is its own result, which is what almost every value is:
# that case is checked first and kept as parsed; anything else is walked member by member.
# Scalars are type-checked (a string where the model says string, a bool where it says
# boolean): a JSON number where none belongs goes to botocore, which keeps json's exact
# integers where orjson would give a float.


def _is_plain_string_value(typed: Any) -> bool:
    """Whether ``typed`` is ``{"S": str}`` or ``{"N": str}``: botocore's parse is ``typed``."""
    return (
        typed.__class__ is dict
        and (typed.get("S") or typed.get("N")).__class__ is str
        and len(typed) == 1
    )


def attribute_value(value: Any) -> Any:
    """botocore's parse of one ``AttributeValue`` from its parsed JSON."""
    if _is_plain_string_value(value):
        return value
    return _attribute_value_walk(value)


def attribute_map(value: Any) -> dict[str, Any]:
    """botocore's parse of a map of attribute values (an item, a key), converted in place."""
    if value.__class__ is not dict:
        raise _Unsupported("an attribute map that is not an object")
    changed: dict[str, Any] | None = None
    for name, typed in value.items():
        # The hot path, inlined: ``_is_plain_string_value(typed)``.
        if (
            typed.__class__ is dict
            and (typed.get("S") or typed.get("N")).__class__ is str
            and len(typed) == 1
        ):
            continue
        if changed is None:
            changed = {}
        changed[name] = _attribute_value_walk(typed)
    if changed:
        value.update(changed)
    return value


def _attribute_list(value: Any) -> list[Any]:
    if value.__class__ is not list:
        raise _Unsupported("an attribute list that is not an array")
    return [attribute_value(item) for item in value]


def _string(value: Any) -> str:
    if value.__class__ is not str:
        raise _Unsupported("a string member holding something else")
    return value


def _boolean(value: Any) -> bool:
    if value.__class__ is not bool:
        raise _Unsupported("a boolean member holding something else")
    return value


def _integer(value: Any) -> int:
    if value.__class__ is not int:
        raise _Unsupported("an integer member holding something else")
    return value


_EXACT_FLOAT_BOUND = 2.0**63
"""Below this magnitude a float is one ``json`` would give too (orjson: integers past 64 bits)."""


def _double(value: Any) -> float | int:
    if value.__class__ is int or (
        value.__class__ is float and -_EXACT_FLOAT_BOUND < value < _EXACT_FLOAT_BOUND
    ):
        return value
    raise _Unsupported("a number member holding something else")


def _string_list(value: Any) -> list[str]:
    if value.__class__ is not list:
        raise _Unsupported("a set that is not an array")
    return [_string(item) for item in value]


def _blob(value: Any) -> bytes:
    # botocore's default blob parser.
    return base64.b64decode(value)


def _blob_list(value: Any) -> list[bytes]:
    if value.__class__ is not list:
        raise _Unsupported("a binary set that is not an array")
    return [_blob(item) for item in value]


_TAG_CONVERTERS: Final[dict[str, Convert]] = {
    "S": _string,
    "N": _string,
    "B": _blob,
    "SS": _string_list,
    "NS": _string_list,
    "BS": _blob_list,
    "M": attribute_map,
    "L": _attribute_list,
    "NULL": _boolean,
    "BOOL": _boolean,
}
"""botocore's walk of each attribute-value member, in the model's member order."""


def _attribute_value_walk(value: Any) -> dict[str, Any]:
    """What botocore's structure walk makes of an attribute value: known, non-null tags only."""
    if value.__class__ is not dict:
        raise _Unsupported("an attribute value that is not an object")
    walked: dict[str, Any] = {}
    for tag, convert in _TAG_CONVERTERS.items():
        raw = value.get(tag)
        if raw is not None:
            walked[tag] = convert(raw)
    return walked


# --- compiling output shapes -----------------------------------------------------------


def _is_attribute_value(shape: Any) -> bool:
    if shape.name != "AttributeValue":
        return False
    members = {name: member.type_name for name, member in shape.members.items()}
    if members != _ATTRIBUTE_VALUE_MEMBERS:
        raise _Unsupported("an AttributeValue shape of unknown members")
    return True


_SCALARS: Final[dict[str, Convert]] = {
    "string": _string,
    "boolean": _boolean,
    "integer": _integer,
    "long": _integer,
    "float": _double,
    "double": _double,
}


def compile_shape(shape: Any, seen: frozenset[str] = frozenset()) -> Convert:
    """A function doing what botocore's JSON parser does with ``shape``.

    Raises ``_Unsupported`` for what this module leaves to botocore.
    """
    kind = shape.type_name
    scalar = _SCALARS.get(kind)
    if scalar is not None:
        return scalar  # kept as parsed by botocore; type-checked here
    if kind == "blob":
        return _blob
    if kind == "structure":
        if _is_attribute_value(shape):
            return attribute_value
        return _compile_structure(shape, seen)
    if kind == "list":
        if shape.member.type_name == "structure" and _is_attribute_value(shape.member):
            return _attribute_list
        return _compile_list(shape, seen)
    if kind == "map":
        if shape.value.type_name == "structure" and _is_attribute_value(shape.value):
            return attribute_map
        return _compile_map(shape, seen)
    raise _Unsupported(f"a {kind} member")


def _compile_structure(
    shape: Any, seen: frozenset[str], overrides: dict[str, Convert] | None = None
) -> Convert:
    if shape.name in seen:
        raise _Unsupported(f"recursive shape {shape.name}")
    if shape.is_document_type or shape.is_tagged_union:
        raise _Unsupported(f"document or union shape {shape.name}")
    if shape.serialization.get("eventstream") or shape.serialization.get("streaming"):
        raise _Unsupported(f"streamed shape {shape.name}")
    inner = seen | {shape.name}
    members: list[tuple[str, Convert]] = []
    for name, member in shape.members.items():
        if member.serialization.get("name", name) != name:
            raise _Unsupported(f"renamed member {shape.name}.{name}")
        if member.serialization.get("eventstream") or member.serialization.get("streaming"):
            raise _Unsupported(f"streamed member {shape.name}.{name}")
        convert = compile_shape(member, inner)
        if overrides is not None and name in overrides:
            convert = overrides[name]
        members.append((name, convert))
    plan = tuple(members)

    def structure(value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise _Unsupported(f"{shape.name} that is not an object")
        converted: dict[str, Any] = {}
        for name, convert in plan:
            raw = value.get(name)
            if raw is not None:
                converted[name] = convert(raw)
        return converted

    return structure


def _compile_list(shape: Any, seen: frozenset[str]) -> Convert:
    convert = compile_shape(shape.member, seen)

    def as_list(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _Unsupported(f"{shape.name} that is not an array")
        # botocore treats every list as sparse: a null element stays null, unconverted.
        return [None if item is None else convert(item) for item in value]

    return as_list


def _compile_map(shape: Any, seen: frozenset[str]) -> Convert:
    if compile_shape(shape.key, seen) is not _string:
        raise _Unsupported(f"map keys of {shape.name} that are not strings")
    convert = compile_shape(shape.value, seen)

    def as_map(value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise _Unsupported(f"{shape.name} that is not an object")
        return {key: convert(item) for key, item in value.items()}

    return as_map


# --- items handed over as parsed ----------------------------------------------------------
#
# Decoders that read DynamoDB's JSON themselves (``_item_decoding``'s regular messages
# check every value they read to be ``{"S": str}`` or ``{"N": str}``, which is botocore's
# parse too) need not pay for a pass over every attribute first. Within ``wire_items()``,
# a Query or Scan response's ``Items`` come back as parsed: each item an object, its
# values untouched. ``finish_item`` then makes one item what botocore's parse would be.

_ITEMS_MEMBER: Final = "Items"
_WIRE_OPERATIONS: Final = frozenset({"Query", "Scan"})


class WireItems(threading.local):
    """This thread's request for parsed ``Items``, and whether the last response gave them."""

    def __init__(self) -> None:
        self.wanted = False
        self.delivered = False


_WIRE: Final = WireItems()


@contextmanager
def wire_items() -> Iterator[WireItems]:
    """Within it, on this thread, Query and Scan responses the hook decodes hand back
    ``Items`` as parsed (each a JSON object, values untouched); ``delivered`` on what
    it yields says whether the last response did (else botocore's parse is there).
    Every such item must go through ``finish_item`` before anything but a decoder
    that accepts wire JSON reads it."""
    _WIRE.wanted, _WIRE.delivered = True, False
    try:
        yield _WIRE
    finally:
        _WIRE.wanted = False


def _parsed_items(value: Any) -> list[dict[str, Any]]:
    if value.__class__ is not list:
        raise _Unsupported("Items that are not an array")
    for item in value:
        if item.__class__ is not dict:
            raise _Unsupported("an item that is not an object")
    return value


def finish_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item of ``wire_items()`` made, in place, exactly what botocore's parse is;
    ``ValueError`` for a value botocore's parse was not checked against here."""
    try:
        return attribute_map(item)
    except _Unsupported as error:
        raise ValueError(f"an item DynamoDB does not send: {error}") from error


# --- the hook ----------------------------------------------------------------------------


def _botocore_version() -> tuple[int, int] | None:
    try:
        major, minor, *_ = metadata.version("botocore").split(".")
        return int(major), int(minor)
    except (metadata.PackageNotFoundError, ValueError):
        return None


def supports_fast_decode(client: Any) -> bool:
    """Whether ``client`` is a DynamoDB client of a botocore this module was checked against."""
    service_model = client.meta.service_model
    return (
        _botocore_version() in CHECKED_BOTOCORE
        and service_model.service_name == "dynamodb"
        and service_model.resolved_protocol == "json"
    )


class FastDecoder:
    """The ``before-parse`` handler installed on one client, with its compiled output shapes.

    ``decoded`` counts the responses it decoded, ``passed_on`` the 2xx
    responses it left to botocore's parser (counters for tests and
    benchmarks; not exact under concurrent requests).
    """

    def __init__(self) -> None:
        self._plans: dict[str, Convert | None] = {}
        self._wire_plans: dict[str, Convert | None] = {}
        self.decoded = 0
        self.passed_on = 0

    def _plan(self, operation_model: Any) -> Convert | None:
        name: str = operation_model.name
        try:
            return self._plans[name]
        except KeyError:
            pass
        plan: Convert | None = None
        shape = operation_model.output_shape
        if (
            shape is not None
            and operation_model.service_model.resolved_protocol == "json"
            and not operation_model.has_streaming_output
            and not operation_model.has_event_stream_output
        ):
            try:
                plan = _compile_structure(shape, frozenset())
            except _Unsupported:
                plan = None
        self._plans[name] = plan
        return plan

    def _wire_plan(self, operation_model: Any) -> Convert | None:
        """``_plan`` with ``Items`` kept as parsed (Query and Scan only)."""
        name: str = operation_model.name
        try:
            return self._wire_plans[name]
        except KeyError:
            pass
        plan: Convert | None = None
        if name in _WIRE_OPERATIONS and self._plan(operation_model) is not None:
            shape = operation_model.output_shape
            if _ITEMS_MEMBER in shape.members:
                plan = _compile_structure(
                    shape, frozenset(), overrides={_ITEMS_MEMBER: _parsed_items}
                )
        self._wire_plans[name] = plan
        return plan

    def __call__(
        self,
        operation_model: Any,
        response_dict: dict[str, Any],
        customized_response_dict: dict[str, Any],
        **_: Any,
    ) -> None:
        status = response_dict.get("status_code")
        body = response_dict.get("body")
        if type(status) is not int or not 200 <= status < 300:
            return  # error responses are botocore's to parse
        wire = _WIRE.wanted
        if wire:
            _WIRE.delivered = False
        plan = self._wire_plan(operation_model) if wire else None
        if plan is None:
            wire = False
            plan = self._plan(operation_model)
        if plan is None or type(body) is not bytes:
            self.passed_on += 1
            return
        try:
            decoded = plan(loads(body))
        except Exception:  # any surprise: botocore parses the untouched body
            self.passed_on += 1
            return
        if wire:
            _WIRE.delivered = True
        customized_response_dict.update(decoded)
        # botocore's parser now parses an empty document and adds only ResponseMetadata.
        response_dict["body"] = b""
        self.decoded += 1


_INSTALLED: weakref.WeakKeyDictionary[Any, FastDecoder] = weakref.WeakKeyDictionary()
_INSTALL_LOCK = threading.Lock()


def install_fast_decode(client: Any) -> FastDecoder | None:
    """Decode ``client``'s successful responses in one pass; idempotent.

    Returns the decoder in effect on ``client`` (the same one on every call),
    or ``None`` when the fast path stays off: on a botocore version or a
    service model this module was not checked against, botocore's own parser
    does all the work.
    """
    if not supports_fast_decode(client):
        return None
    with _INSTALL_LOCK:
        decoder = _INSTALLED.get(client)
        if decoder is None:
            decoder = _INSTALLED[client] = FastDecoder()
            client.meta.events.register(_EVENT, decoder, unique_id=_UNIQUE_ID)
        return decoder


def uninstall_fast_decode(client: Any) -> None:
    """Give ``client``'s responses back to botocore's parser (no-op when not installed)."""
    with _INSTALL_LOCK:
        if _INSTALLED.pop(client, None) is not None:
            client.meta.events.unregister(_EVENT, unique_id=_UNIQUE_ID)
