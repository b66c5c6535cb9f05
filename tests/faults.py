"""Fault injection below botocore's retry layer, for reliability tests.

``inject(adapter, FaultPlan(...))`` intercepts the ``before-send`` event of
the botocore client behind ``adapter.models.client``: the last step before the
HTTP request leaves (``botocore.endpoint.Endpoint._do_get_response``, where a
``before-send`` response short-circuits ``Endpoint._send``). An answer given
there replaces the network round trip, and an exception raised there is what
botocore sees from its HTTP session. Everything above runs for real: the retry
handler (``needs-retry``), its backoff and retry quota, response parsing, the
error factory. So a fault injected here exercises botocore's actual retry
behaviour and the adapter's handling of what comes out of it.

The injector wraps the emitter the client's endpoint emits ``before-send`` on
(``client._endpoint._event_emitter``) rather than registering a handler:
``emit`` calls every handler even after one answered, and in-process moto
answers in a ``before-send`` handler of its own, so a registered fault would
still let moto apply the request. The wrapper answers first and, when it
does, no other ``before-send`` handler runs. Only that client is affected.

Faults, per DynamoDB operation name and per send (every retry is a new send):

- ``fail(op, with_=...)``: answer with an error instead of sending. Error
  responses are HTTP responses with the JSON body DynamoDB sends
  (``{"__type": "com.amazonaws.dynamodb.v20120810#Code", "message": ...}``),
  so botocore parses and classifies them as it would a real one: throttling
  (``THROTTLING``, ``THROTTLING_EXCEPTION``), 5xx (``INTERNAL_ERROR``,
  ``SERVICE_UNAVAILABLE``), ``TRANSACTION_CONFLICT`` (a
  ``TransactionCanceledException`` whose ``CancellationReasons`` has one entry
  per item of the request, the first a ``TransactionConflict``),
  ``ITEM_IN_TRANSACTION`` (the ``TransactionConflictException`` a single-item
  write gets when its item is in another request's transaction). Connection
  failures are raised as the exceptions botocore's own HTTP session raises for
  them (``CONNECTION_RESET``: ``ConnectionClosedError`` wrapping urllib3's
  ``ProtocolError``; ``READ_TIMEOUT``: ``ReadTimeoutError``; ``CONNECT_ERROR``:
  ``EndpointConnectionError``).
- ``lose_response(op, then=...)``: send the request for real (DynamoDB applies
  the write), then throw the response away and answer with ``then`` instead, so
  botocore retries a write that has already happened.
- ``unprocessed(hold_back=n)``: a ``BatchWriteItem`` sends all but the last
  ``n`` write requests for real and reports the held-back ones as
  ``UnprocessedItems`` (when nothing is left to send, no request is sent). The
  shortened request is signed again, as botocore signs it.

"Sending for real" emits ``before-send`` as botocore would (moto's in-process
stub answers there), then uses the client's HTTP session: the injector works
the same on in-process moto and on an HTTP endpoint.

Rules are tried in order; the first one that matches a send fires. ``times``
bounds how often a rule fires (``None``: every matching send), ``skip`` lets the
first matching sends through, ``attempts`` restricts a rule to botocore attempt
numbers (1 is the first try of an API call), ``when`` to request bodies it
accepts. ``side_effect`` runs when the rule fires, before botocore hears the
answer: another client's write there races botocore's retry. Usage::

    with inject(adapter, FaultPlan(fail("UpdateItem", times=2, with_=THROTTLING),
                                   lose_response("PutItem"))) as injector:
        adapter.create_session({"status": "active"})
    assert injector.fired("PutItem") == 1
    injector.assert_exhausted()

The injector records every fault it injected (``injector.injections``) and
counts every send it saw (``injector.sends``), including retries. It is
thread-safe. Keep fault counts low in tests: botocore's standard mode backs off
``rand(0, 1) * min(scale * 2 ** (attempt - 1), 20)`` seconds with ``scale`` =
1 s for throttling errors and 25 ms otherwise (DynamoDB). Each retry also
takes from the client's retry quota (500; 14 a retry, 5 a throttled one),
refunded only when the call ends in a 2xx: a test that makes more than about
35 failing calls on one client runs out of retries.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Literal
from zlib import crc32

from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import (
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.hooks import first_non_none_response
from urllib3.exceptions import NewConnectionError, ProtocolError
from urllib3.exceptions import ReadTimeoutError as URLLib3ReadTimeoutError

__all__ = [
    "ANY_OPERATION",
    "CONNECTION_RESET",
    "CONNECT_ERROR",
    "INTERNAL_ERROR",
    "ITEM_IN_TRANSACTION",
    "READ_TIMEOUT",
    "SERVICE_UNAVAILABLE",
    "THROTTLING",
    "THROTTLING_EXCEPTION",
    "TRANSACTION_CONFLICT",
    "Fault",
    "FaultInjector",
    "FaultPlan",
    "Injection",
    "Rule",
    "fail",
    "inject",
    "lose_response",
    "unprocessed",
]

_ERROR_TYPE_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_CONTENT_TYPE = "application/x-amz-json-1.0"
ANY_OPERATION = "*"


# --- faults -----------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """What a failed send looks like: an HTTP error response, or a raised exception.

    Exactly one of ``status`` (with ``code``) and ``raises`` is set.
    ``raises`` builds the exception from the request's URL.
    """

    name: str
    status: int | None = None
    code: str | None = None
    message: str = ""
    raises: Callable[[str], Exception] | None = None
    cancellation: bool = False
    """A ``TransactionCanceledException`` with ``TransactionConflict`` reasons."""

    @staticmethod
    def error(status: int, code: str, message: str, *, name: str | None = None) -> Fault:
        """An error response DynamoDB could send: HTTP ``status`` with a JSON error body."""
        return Fault(name or code, status=status, code=code, message=message)

    @staticmethod
    def exception(name: str, raises: Callable[[str], Exception]) -> Fault:
        """No response at all: the HTTP session raises ``raises(url)``."""
        return Fault(name, raises=raises)

    def answer(self, request: AWSPreparedRequest, body: Mapping[str, Any] | None) -> AWSResponse:
        """The response standing in for the real one (or raise the exception)."""
        if self.raises is not None:
            raise self.raises(request.url)
        if self.status is None or self.code is None:
            raise ValueError(f"fault {self.name!r} has neither a status nor an exception")
        payload: dict[str, Any] = {"__type": _ERROR_TYPE_PREFIX + self.code}
        if self.cancellation:
            count = len((body or {}).get("TransactItems", [])) or 1
            # The first item conflicts; the others were fine.
            reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing"}]
            reasons += [{"Code": "None"}] * (count - 1)
            payload["Message"] = (
                "Transaction cancelled, please refer cancellation reasons for specific reasons "
                f"[{', '.join(r['Code'] for r in reasons)}]"
            )
            payload["CancellationReasons"] = reasons
        else:
            payload["message"] = self.message
        return _json_response(request.url, self.status, payload)


def _connection_reset(url: str) -> Exception:
    error = ProtocolError(
        "Connection aborted.", ConnectionResetError(104, "Connection reset by peer")
    )
    return ConnectionClosedError(error=error, endpoint_url=url)


def _read_timeout(url: str) -> Exception:
    error = URLLib3ReadTimeoutError(None, url, "Read timed out.")  # type: ignore[arg-type]
    return ReadTimeoutError(endpoint_url=url, error=error)


def _connect_error(url: str) -> Exception:
    error = NewConnectionError(None, "Failed to establish a new connection")  # type: ignore[arg-type]
    return EndpointConnectionError(endpoint_url=url, error=error)


THROTTLING = Fault.error(
    400,
    "ProvisionedThroughputExceededException",
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API.",
)
THROTTLING_EXCEPTION = Fault.error(
    400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."
)
INTERNAL_ERROR = Fault.error(500, "InternalServerError", "Internal server error")
SERVICE_UNAVAILABLE = Fault.error(503, "ServiceUnavailable", "Service unavailable")
TRANSACTION_CONFLICT = Fault(
    "TransactionConflict", status=400, code="TransactionCanceledException", cancellation=True
)
ITEM_IN_TRANSACTION = Fault.error(
    400,
    "TransactionConflictException",
    "Transaction is ongoing for the item",
    name="ItemInTransaction",
)
"""What a single-item write meets when its item is part of another request's transaction."""
CONNECTION_RESET = Fault.exception("ConnectionReset", _connection_reset)
READ_TIMEOUT = Fault.exception("ReadTimeout", _read_timeout)
CONNECT_ERROR = Fault.exception("ConnectError", _connect_error)


# --- rules and plans ---------------------------------------------------------

Action = Literal["fail", "lose_response", "unprocessed"]


@dataclass(frozen=True)
class Rule:
    """One line of a plan: which sends it hits, and what it does to them."""

    operation: str
    """A DynamoDB operation name (``"UpdateItem"``), or ``"*"`` for every operation."""
    action: Action
    fault: Fault | None = None
    """``fail``: the answer instead of sending; ``lose_response``: the answer after sending."""
    times: int | None = 1
    """How many sends it fires on; ``None``: all of them."""
    skip: int = 0
    """Matching sends this rule lets pass before firing (later rules may still take them)."""
    attempts: frozenset[int] | None = None
    """botocore attempt numbers (1 = first try of an API call) it applies to; ``None``: any."""
    when: Callable[[Mapping[str, Any]], bool] | None = None
    """A predicate on the request body (the parsed JSON) it applies to."""
    hold_back: int = 1
    """``unprocessed``: how many write requests of a batch to report unprocessed."""
    side_effect: Callable[[], object] | None = None
    """Run each time the rule fires, before botocore hears the answer (after the real
    send of ``lose_response``): e.g. another client's write racing the retry."""

    def __post_init__(self) -> None:
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0 or None")
        if self.skip < 0:
            raise ValueError("skip must be >= 0")
        if self.action == "unprocessed" and self.hold_back < 1:
            raise ValueError("hold_back must be >= 1")
        if self.action != "unprocessed" and self.fault is None:
            raise ValueError(f"a {self.action} rule needs a fault")

    def describe(self) -> str:
        what = self.fault.name if self.fault is not None else f"hold back {self.hold_back}"
        times = "always" if self.times is None else f"{self.times}x"
        return f"{self.action}({self.operation}, {what}, {times}, skip={self.skip})"


def _attempt_set(attempts: Collection[int] | None) -> frozenset[int] | None:
    return None if attempts is None else frozenset(attempts)


def fail(
    operation: str,
    *,
    with_: Fault = INTERNAL_ERROR,
    times: int | None = 1,
    skip: int = 0,
    attempts: Collection[int] | None = None,
    when: Callable[[Mapping[str, Any]], bool] | None = None,
    side_effect: Callable[[], object] | None = None,
) -> Rule:
    """Answer ``operation``'s sends with ``with_`` instead of sending them (nothing is applied)."""
    return Rule(
        operation,
        "fail",
        with_,
        times,
        skip,
        _attempt_set(attempts),
        when,
        side_effect=side_effect,
    )


def lose_response(
    operation: str,
    *,
    then: Fault = INTERNAL_ERROR,
    times: int | None = 1,
    skip: int = 0,
    attempts: Collection[int] | None = None,
    when: Callable[[Mapping[str, Any]], bool] | None = None,
    side_effect: Callable[[], object] | None = None,
) -> Rule:
    """Send for real (the write is applied), then answer with ``then`` instead of the response."""
    return Rule(
        operation,
        "lose_response",
        then,
        times,
        skip,
        _attempt_set(attempts),
        when,
        side_effect=side_effect,
    )


def unprocessed(
    operation: str = "BatchWriteItem",
    *,
    hold_back: int = 1,
    times: int | None = 1,
    skip: int = 0,
    attempts: Collection[int] | None = None,
    when: Callable[[Mapping[str, Any]], bool] | None = None,
    side_effect: Callable[[], object] | None = None,
) -> Rule:
    """Report the last ``hold_back`` write requests of a batch as ``UnprocessedItems``.

    The others are sent for real; with ``times=None`` every batch keeps some back
    (a permanently overloaded partition).
    """
    return Rule(
        operation,
        "unprocessed",
        None,
        times,
        skip,
        _attempt_set(attempts),
        when,
        hold_back,
        side_effect,
    )


@dataclass(frozen=True)
class FaultPlan:
    """An ordered set of rules; the first rule matching a send fires."""

    rules: tuple[Rule, ...]

    def __init__(self, *rules: Rule) -> None:
        object.__setattr__(self, "rules", tuple(rules))


# --- the injector ------------------------------------------------------------


@dataclass(frozen=True)
class Injection:
    """A fault the injector injected."""

    operation: str
    action: Action
    fault: str
    """The fault's name (``unprocessed``: ``"UnprocessedItems"``)."""
    attempt: int | None
    """botocore's attempt number of the send (1 = first try)."""
    invocation_id: str | None
    """botocore's id of the API call the send belongs to (shared by its retries)."""
    detail: str = ""


@dataclass
class _RuleState:
    seen: int = 0
    fired: int = 0


@dataclass
class FaultInjector:
    """The live side of a plan: which rules fired, and on which sends."""

    plan: FaultPlan
    client: Any
    injections: list[Injection] = field(default_factory=list)
    sends: Counter[str] = field(default_factory=Counter)
    """Every send seen, per operation, faulted or not (retries included)."""
    _states: list[_RuleState] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _emitter: Any = None
    """The endpoint's own emitter, which the injector stands in front of."""

    def __post_init__(self) -> None:
        self._states = [_RuleState() for _ in self.plan.rules]

    # --- results ---

    def fired(self, operation: str | None = None, *, action: Action | None = None) -> int:
        """How many faults were injected (on ``operation``, of ``action``)."""
        with self._lock:
            return sum(
                1
                for i in self.injections
                if (operation is None or i.operation == operation)
                and (action is None or i.action == action)
            )

    def pending(self) -> list[Rule]:
        """Rules with a finite ``times`` that have not fired that often yet."""
        with self._lock:
            return [
                rule
                for rule, state in zip(self.plan.rules, self._states, strict=True)
                if rule.times is not None and state.fired < rule.times
            ]

    def assert_exhausted(self) -> None:
        """Every finite rule fired as often as it says (the faults really happened)."""
        left = self.pending()
        if left:
            raise AssertionError(
                "rules that did not fire: " + ", ".join(rule.describe() for rule in left)
            )

    def clear(self) -> None:
        """Forget what happened and start the plan over."""
        with self._lock:
            self.injections.clear()
            self.sends.clear()
            self._states = [_RuleState() for _ in self.plan.rules]

    # --- the hook ---

    def before_send(self, request: AWSPreparedRequest, event_name: str) -> AWSResponse | None:
        """The answer to this send, or ``None`` to let it go out as botocore would."""
        context = getattr(request, "context", None) or {}
        retries = context.get("retries", {})
        send = _Send(
            request=request,
            event_name=event_name,
            operation=event_name.rsplit(".", 1)[-1],
            attempt=retries.get("attempt"),
            invocation_id=retries.get("invocation-id"),
            body=_parse_body(request.body),
        )
        with self._lock:
            self.sends[send.operation] += 1
            rule = self._pick(send)
        if rule is None:
            return None
        if rule.action == "unprocessed":
            return self._unprocessed(rule, send)
        assert rule.fault is not None
        detail = ""
        if rule.action == "lose_response":
            real = self._send_for_real(send)
            # Read it all: the server answered, the client never hears of it.
            detail = f"real response HTTP {real.status_code} ({len(real.content)} bytes) discarded"
        self._record(rule, send, detail)
        if rule.side_effect is not None:
            rule.side_effect()
        return rule.fault.answer(request, send.body)

    def _pick(self, send: _Send) -> Rule | None:
        for rule, state in zip(self.plan.rules, self._states, strict=True):
            if rule.operation not in (send.operation, ANY_OPERATION):
                continue
            if rule.attempts is not None and send.attempt not in rule.attempts:
                continue
            if rule.when is not None and not rule.when(send.body or {}):
                continue
            if rule.times is not None and state.fired >= rule.times:
                continue
            state.seen += 1
            if state.seen <= rule.skip:
                continue
            state.fired += 1
            return rule
        return None

    def _record(self, rule: Rule, send: _Send, detail: str = "") -> None:
        name = rule.fault.name if rule.fault is not None else "UnprocessedItems"
        with self._lock:
            self.injections.append(
                Injection(
                    send.operation, rule.action, name, send.attempt, send.invocation_id, detail
                )
            )

    def _send_for_real(self, send: _Send) -> AWSResponse:
        """What botocore would have done without us: ``before-send`` handlers, then HTTP."""
        responses = self._emitter.emit(send.event_name, request=send.request)
        response: AWSResponse | None = first_non_none_response(responses)
        if response is None:
            response = self.client._endpoint.http_session.send(send.request)
        return response

    def _unprocessed(self, rule: Rule, send: _Send) -> AWSResponse:
        body = send.body
        if body is None or not isinstance(body.get("RequestItems"), Mapping):
            raise ValueError(f"unprocessed() needs a BatchWriteItem request, got {send.operation}")
        flat = [
            (table, write) for table, writes in body["RequestItems"].items() for write in writes
        ]
        keep = max(len(flat) - rule.hold_back, 0)
        sent, held = flat[:keep], flat[keep:]
        self._record(rule, send, f"{len(held)} of {len(flat)} write requests held back")
        held_items = _by_table(held)
        if not sent:
            if rule.side_effect is not None:
                rule.side_effect()
            return _json_response(send.request.url, 200, {"UnprocessedItems": held_items})
        _replace_body(
            self.client, send.operation, send.request, {**body, "RequestItems": _by_table(sent)}
        )
        real = self._send_for_real(send)
        content = real.content
        if real.status_code != 200:
            return real  # an error: nothing was applied, nothing to add
        answer = json.loads(content or b"{}")
        merged = _by_table(
            [
                (table, write)
                for table, writes in answer.get("UnprocessedItems", {}).items()
                for write in writes
            ]
            + held
        )
        answer["UnprocessedItems"] = merged
        if rule.side_effect is not None:
            rule.side_effect()
        return _json_response(send.request.url, 200, answer, base_headers=real.headers)


@dataclass(frozen=True)
class _Send:
    """One HTTP send botocore is about to make."""

    request: AWSPreparedRequest
    event_name: str
    operation: str
    attempt: int | None
    invocation_id: str | None
    body: dict[str, Any] | None


def _by_table(writes: list[tuple[str, Any]]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for table, write in writes:
        grouped.setdefault(table, []).append(write)
    return grouped


class _InterceptingEmitter:
    """Stands in for an endpoint's event emitter; answers ``before-send`` from the plan."""

    def __init__(self, inner: Any, injector: FaultInjector) -> None:
        self._inner = inner
        self._injector = injector

    def emit(self, event_name: str, **kwargs: Any) -> list[tuple[Any, Any]]:
        if event_name.startswith("before-send.") and "request" in kwargs:
            answer = self._injector.before_send(kwargs["request"], event_name)
            if answer is not None:
                return [(self._injector.before_send, answer)]
        result: list[tuple[Any, Any]] = self._inner.emit(event_name, **kwargs)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextmanager
def inject(target: Any, plan: FaultPlan) -> Iterator[FaultInjector]:
    """Inject ``plan``'s faults into every request of ``target`` inside the block.

    ``target`` is an adapter (anything with ``.models.client``) or a botocore
    DynamoDB client. Blocks may nest (the inner plan is consulted first).
    """
    models = getattr(target, "models", None)
    client = models.client if models is not None else target
    endpoint = client._endpoint
    injector = FaultInjector(plan, client)
    injector._emitter = endpoint._event_emitter
    wrapper = _InterceptingEmitter(injector._emitter, injector)
    endpoint._event_emitter = wrapper
    try:
        yield injector
    finally:
        if endpoint._event_emitter is wrapper:
            endpoint._event_emitter = injector._emitter


# --- HTTP helpers ---------------------------------------------------------------


class _RawBody(io.BytesIO):
    """What ``AWSResponse.content`` reads from (it calls ``raw.stream()``)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        data = self.read()
        if data:
            yield data


def _json_response(
    url: str,
    status: int,
    payload: Mapping[str, Any],
    *,
    base_headers: Mapping[str, Any] | None = None,
) -> AWSResponse:
    data = json.dumps(payload).encode("utf-8")
    headers: dict[str, str] = {}
    if base_headers is not None:
        headers.update({str(k): str(v) for k, v in base_headers.items()})
    for name in list(headers):
        if name.lower() in ("content-length", "x-amz-crc32", "content-type", "transfer-encoding"):
            del headers[name]
    headers.setdefault("x-amzn-RequestId", uuid.uuid4().hex.upper())
    headers.setdefault("Date", formatdate(usegmt=True))
    headers["Content-Type"] = _CONTENT_TYPE
    headers["Content-Length"] = str(len(data))
    # botocore checks DynamoDB's body checksum (and retries on a mismatch).
    headers["x-amz-crc32"] = str(crc32(data) & 0xFFFFFFFF)
    http_headers = HTTPHeaders()
    for name, value in headers.items():
        http_headers[name] = value
    return AWSResponse(url, status, http_headers, _RawBody(data))


def _parse_body(body: object) -> dict[str, Any] | None:
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, bytes | bytearray) or not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


_SIGNATURE_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token", "content-length")


def _replace_body(
    client: Any, operation: str, request: AWSPreparedRequest, payload: Mapping[str, Any]
) -> None:
    """Send ``payload`` instead of the request's body, signed again as botocore signs it."""
    headers = {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode() if isinstance(v, bytes) else str(v)
        )
        for k, v in request.headers.items()
    }
    fresh = AWSRequest(
        method=request.method,
        url=request.url,
        headers={k: v for k, v in headers.items() if k.lower() not in _SIGNATURE_HEADERS},
        data=json.dumps(payload).encode("utf-8"),
    )
    fresh.context = getattr(request, "context", None) or {}
    client._request_signer.sign(operation, fresh)
    prepared = client._endpoint.prepare_request(fresh)
    request.headers = prepared.headers
    request.body = prepared.body
