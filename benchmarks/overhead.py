"""Part 2: the CPU our layer adds to botocore's, with the server taken out.

Each operation is timed three ways over the same canned HTTP responses:

- through ``DynamoDBAdapter``;
- as raw botocore: the very API calls the adapter made, with the parameters
  it passed (captured while recording), on the same botocore client with its
  own response parser (the adapter's fast decode path taken off for it);
- the adapter's own code alone: botocore replaced by a stub that returns the
  parsed responses (and, separately, just the decoding of their items).

The responses are recorded from one real call of the operation on the
benchmark's backend, then replayed where botocore would send the request:
the endpoint's ``before-send`` emission is answered by a stand-in emitter,
the technique of ``tests.faults``. So on both of the first
two paths botocore serialises, signs, emits its events and parses the same
response bytes; only the adapter's own work (validation, building requests,
turning items into domain objects) differs, and no server time is counted.

Times are CPU time of this process (``time.process_time``) per call, the
best of several alternating blocks of calls per path, garbage collection
left on (the objects our layer allocates are part of its cost) with the
objects alive before the part frozen out of its scans. The ratio is
adapter time over raw botocore time.
"""

from __future__ import annotations

import copy
import cProfile
import gc
import io
import pstats
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Self, cast

from botocore import xform_name
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from benchmarks.environment import Bench, Log
from benchmarks.report import Column, ResultTable, format_ratio
from benchmarks.seeding import MESSAGE, seed_session, seed_sessions
from benchmarks.sizes import Sizes
from session_store import _item_decoding, _request_bodies, _wire
from session_store.dynamodb import DynamoDBAdapter
from session_store.gateway import Gateway
from session_store.table import BoundModels

__all__ = ["CASES", "TARGET_RATIO", "OverheadResult", "measure_overhead", "profile_case"]


TARGET_RATIO = 1.1
"""The most our layer may cost on the hot single-item paths, as a multiple of raw botocore."""
_USER = "bench-overhead-user"
_SESSION_MESSAGES = 100
_USER_SESSIONS = 25


# --- recording and replaying HTTP exchanges -----------------------------------


@dataclass(frozen=True)
class Exchange:
    """One API call as the adapter made it, and the HTTP response the backend gave."""

    operation: str
    params: dict[str, Any]
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    parsed: dict[str, Any]
    """The response as botocore parsed it (what the stub client of ``our code alone`` returns)."""

    def response(self, url: str) -> AWSResponse:
        headers = HTTPHeaders()
        for name, value in self.headers:
            headers[name] = value
        return AWSResponse(url, self.status, headers, _Body(self.body))


class _Body(io.BytesIO):
    """What ``AWSResponse.content`` reads a body from (it calls ``raw.stream()``)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        data = self.read()
        if data:
            yield data


class _Recorder:
    """Records the API calls a client makes and the responses it gets, in order."""

    def __init__(self, client: Any) -> None:
        self._events = client.meta.events
        self._pending: list[dict[str, Any]] = []
        self.exchanges: list[Exchange] = []
        self._id = f"session-store-bench-recorder-{id(self)}"

    def __enter__(self) -> Self:
        # botocore keeps one registration per unique id, whatever the event: one id each.
        self._events.register(
            "provide-client-params.dynamodb", self._params, unique_id=f"{self._id}-params"
        )
        self._events.register(
            "after-call.dynamodb", self._response, unique_id=f"{self._id}-response"
        )
        return self

    def __exit__(self, *_: object) -> None:
        self._events.unregister("provide-client-params.dynamodb", unique_id=f"{self._id}-params")
        self._events.unregister("after-call.dynamodb", unique_id=f"{self._id}-response")

    def _params(self, params: dict[str, Any], **_: Any) -> None:
        self._pending.append(copy.deepcopy(params))

    def _response(
        self, http_response: AWSResponse, parsed: dict[str, Any], model: Any, **_: Any
    ) -> None:
        self.exchanges.append(
            Exchange(
                operation=model.name,
                params=self._pending.pop(0),
                status=http_response.status_code,
                headers=tuple((str(k), str(v)) for k, v in http_response.headers.items()),
                body=http_response.content,
                parsed=copy.deepcopy(parsed),
            )
        )


class _CannedEmitter:
    """Stands in for an endpoint's event emitter: answers every send from a script.

    The script is the exchanges of one call, replayed in a loop; a send for
    another operation than the script's next one is an error (the adapter
    took another path than when it was recorded).
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.script: list[Exchange] = []
        self.sends = 0

    def emit(self, event_name: str, **kwargs: Any) -> list[tuple[Any, Any]]:
        if event_name.startswith("before-send.") and "request" in kwargs:
            exchange = self.script[self.sends % len(self.script)]
            self.sends += 1
            operation = event_name.rsplit(".", 1)[-1]
            if operation != exchange.operation:
                raise AssertionError(f"replay expected {exchange.operation}, got {operation}")
            return [(self.emit, exchange.response(kwargs["request"].url))]
        result: list[tuple[Any, Any]] = self._inner.emit(event_name, **kwargs)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass
class _Canned:
    """Canned responses installed under a client: nothing leaves the process."""

    client: Any
    emitter: _CannedEmitter = field(init=False)

    def __enter__(self) -> Self:
        endpoint = self.client._endpoint
        self.emitter = _CannedEmitter(endpoint._event_emitter)
        endpoint._event_emitter = self.emitter
        return self

    def __exit__(self, *_: object) -> None:
        endpoint = self.client._endpoint
        if endpoint._event_emitter is self.emitter:
            endpoint._event_emitter = self.emitter._inner


class _StubClient:
    """Stands in for the botocore client: returns the recorded parsed responses, in order."""

    def __init__(self, exchanges: list[Exchange]) -> None:
        self._exchanges = exchanges
        self._methods = {xform_name(exchange.operation) for exchange in exchanges}
        self.calls = 0

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        if name not in self._methods:
            raise AttributeError(name)

        def call(**_: Any) -> dict[str, Any]:
            exchange = self._exchanges[self.calls % len(self._exchanges)]
            self.calls += 1
            if xform_name(exchange.operation) != name:
                raise AssertionError(f"stub expected {exchange.operation}, got {name}")
            return exchange.parsed

        return call


@dataclass(frozen=True)
class _StubModels:
    """What the adapter reads from ``adapter.models`` to send requests, with the stub client."""

    client: _StubClient
    config: Any
    gateway: Gateway


@contextmanager
def _without_botocore(adapter: DynamoDBAdapter, exchanges: list[Exchange]) -> Iterator[None]:
    """The adapter's own code alone: botocore replaced by a stub returning parsed responses
    (the gateway is the adapter's own, sending to the stub)."""
    real = adapter.models
    stub = _StubClient(exchanges)
    gateway = Gateway(lambda: stub, real.gateway.where, attempts=real.config.retry.max_attempts)
    adapter.models = cast("BoundModels", _StubModels(stub, real.config, gateway))
    try:
        yield
    finally:
        adapter.models = real


# --- the operations -------------------------------------------------------------


@dataclass
class _Scene:
    """What the operations work on: a session with messages, and one to delete."""

    adapter: DynamoDBAdapter
    session_id: str
    message_id: str
    deletable_id: str


@dataclass(frozen=True)
class Case:
    """One operation of the comparison."""

    key: str
    label: str
    call: Callable[[_Scene], object]
    targeted: bool = False
    """Held to ``TARGET_RATIO``."""
    decode: Callable[[list[Exchange]], object] | None = None
    """What the adapter decodes from the responses (items into domain objects), if anything."""


def _session_in(field: str) -> Callable[[list[Exchange]], object]:
    return lambda exchanges: _item_decoding.decode_session(exchanges[0].parsed[field])


def _first(
    count: int | None, decode_page: Callable[[list[dict[str, Any]]], list[Any]]
) -> Callable[[list[Exchange]], object]:
    """The adapter's decoding of a listing's page (a whole page in one pass)."""
    return lambda exchanges: decode_page(exchanges[0].parsed["Items"][:count])


CASES: tuple[Case, ...] = (
    Case(
        "get_session",
        "get_session",
        lambda s: s.adapter.get_session(s.session_id),
        targeted=True,
        decode=_session_in("Item"),
    ),
    Case(
        "add_message",
        "add_message",
        lambda s: s.adapter.add_message(s.session_id, MESSAGE),
        targeted=True,
    ),
    Case(
        "update_session",
        "update_session (agent hand-off)",
        lambda s: s.adapter.update_session(s.session_id, {"active_agent_id": "billing"}),
        targeted=True,
        decode=_session_in("Attributes"),
    ),
    Case(
        "create_session",
        "create_session",
        lambda s: s.adapter.create_session({"status": "active", "user_id": _USER}),
        # The new session is returned as decoded from the item it wrote.
        decode=lambda exchanges: _item_decoding.decode_session(exchanges[0].params["Item"]),
    ),
    Case(
        "update_message",
        "update_message (content)",
        lambda s: s.adapter.update_message(s.session_id, s.message_id, {"content": "edited"}),
        targeted=True,
        decode=lambda exchanges: _item_decoding.decode_message(exchanges[0].parsed["Attributes"]),
    ),
    Case(
        "get_messages_tail",
        'get_messages (limit=20, order="desc")',
        lambda s: s.adapter.get_messages(s.session_id, {"limit": 20, "order": "desc"}),
        decode=_first(20, _item_decoding.decode_messages),
    ),
    Case(
        "get_messages",
        f"get_messages (all {_SESSION_MESSAGES})",
        lambda s: s.adapter.get_messages(s.session_id),
        decode=_first(None, _item_decoding.decode_messages),
    ),
    Case(
        "list_sessions",
        "list_sessions (a user's newest 20)",
        lambda s: s.adapter.list_sessions({"user_id": _USER, "limit": 20}),
        decode=_first(20, _item_decoding.decode_sessions),
    ),
    Case(
        "delete_message",
        "delete_message",
        lambda s: s.adapter.delete_message(s.session_id, s.message_id),
    ),
    Case(
        "delete_session",
        "delete_session (10 messages)",
        lambda s: s.adapter.delete_session(s.deletable_id),
    ),
)


@dataclass(frozen=True)
class CaseResult:
    case: Case
    exchanges: list[Exchange]
    adapter_seconds: float
    raw_seconds: float
    alone_seconds: float
    """The adapter's own code with botocore replaced by a stub (no botocore work at all)."""
    decode_seconds: float | None
    """Of that, decoding the responses' items into domain objects."""

    @property
    def ratio(self) -> float:
        return self.adapter_seconds / self.raw_seconds

    def operations(self) -> str:
        return ", ".join(exchange.operation for exchange in self.exchanges)


@dataclass
class OverheadResult:
    results: list[CaseResult]
    table: ResultTable

    def result(self, key: str) -> CaseResult:
        return next(result for result in self.results if result.case.key == key)


def _scene(adapter: DynamoDBAdapter) -> _Scene:
    main = seed_session(adapter, messages=_SESSION_MESSAGES, user_id=_USER)
    seed_sessions(adapter, _USER_SESSIONS - 1, user_id=_USER)
    deletable = seed_session(adapter, messages=10)
    return _Scene(adapter, main.id, main.message_ids[len(main.message_ids) // 2], deletable.id)


def _record(scene: _Scene, case: Case) -> list[Exchange]:
    with _Recorder(scene.adapter.models.client) as recorder:
        case.call(scene)
    if not recorder.exchanges:
        raise AssertionError(f"{case.key} made no request to record")
    return recorder.exchanges


def _raw_calls(client: Any, exchanges: list[Exchange]) -> Callable[[], None]:
    """Raw botocore making the recorded calls, with the recorded parameters."""
    calls = [(getattr(client, xform_name(e.operation)), e.params) for e in exchanges]

    def run() -> None:
        for method, params in calls:
            method(**params)

    return run


def _cpu_per_call(function: Callable[[], object], calls: int) -> float:
    """CPU seconds per call over ``calls`` calls, after one untimed call.

    The untimed call absorbs what only the first call after switching paths costs:
    botocore rebuilds its event handler lookup after a handler is registered or
    removed (``_plain_botocore`` does both), and a freshly installed fast decode
    path compiles each operation's output shape on its first response. A client
    pays those once in its life; timed, they would charge each block (at
    ``--quick`` sizes, 5 calls) with work steady use never repeats.
    """
    function()
    gc.collect()
    started = time.process_time_ns()
    for _ in range(calls):
        function()
    return (time.process_time_ns() - started) / calls / 1e9


@dataclass(frozen=True)
class _Timings:
    adapter: float
    raw: float
    alone: float
    decode: float | None


def _compare(
    canned: _Canned,
    exchanges: list[Exchange],
    scene: _Scene,
    case: Case,
    sizes: Sizes,
) -> _Timings:
    """Best CPU seconds per call of the adapter, raw botocore and our code alone (alternating)."""
    adapter_call = partial(case.call, scene)
    raw_call = _raw_calls(canned.client, exchanges)
    canned.emitter.script = exchanges
    canned.emitter.sends = 0
    adapter_call()
    with _plain_botocore(canned.client):
        raw_call()
    decode_call = partial(case.decode, exchanges) if case.decode is not None else None
    best = _Timings(float("inf"), float("inf"), float("inf"), None)
    for _ in range(sizes.overhead_blocks):
        canned.emitter.sends = 0
        adapter = _cpu_per_call(adapter_call, sizes.overhead_calls)
        if canned.emitter.sends != len(exchanges) * (sizes.overhead_calls + 1):
            raise AssertionError("the adapter made other calls than when it was recorded")
        with _plain_botocore(canned.client):
            raw = _cpu_per_call(raw_call, sizes.overhead_calls)
        with _without_botocore(scene.adapter, exchanges):
            alone = _cpu_per_call(adapter_call, sizes.overhead_calls)
        decode = None if decode_call is None else _cpu_per_call(decode_call, sizes.overhead_calls)
        best = _Timings(
            min(best.adapter, adapter),
            min(best.raw, raw),
            min(best.alone, alone),
            None if decode is None else min(decode, best.decode or decode),
        )
    return best


@contextmanager
def _plain_botocore(client: Any) -> Iterator[None]:
    """The client as botocore makes it: its own request serializer and response parser,
    without the fast encode and decode paths the adapter installs on its client
    (``session_store._request_bodies``, ``session_store._wire``)."""
    _request_bodies.uninstall_fast_encode(client)
    _wire.uninstall_fast_decode(client)
    try:
        yield
    finally:
        _request_bodies.install_fast_encode(client)
        _wire.install_fast_decode(client)


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """Keep what is alive now (earlier parts' leftovers) out of the collector's scans.

    Garbage collection stays on while timing, so the objects each path allocates
    are charged to it; but a full collection's cost grows with every object alive,
    and without this one falling inside a block charged that block for objects
    neither path made.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def measure_overhead(bench: Bench, sizes: Sizes, log: Log) -> OverheadResult:
    """Run part 2: every case recorded on the backend, then timed on canned responses."""
    results: list[CaseResult] = []
    with bench.table() as adapter:
        scene = _scene(adapter)
        recorded = [(case, _record(scene, case)) for case in CASES]
        with _Canned(adapter.models.client) as canned, _heap_frozen():
            for case, exchanges in recorded:
                log(f"part 2: {case.label} against canned responses")
                timings = _compare(canned, exchanges, scene, case, sizes)
                results.append(
                    CaseResult(
                        case,
                        exchanges,
                        timings.adapter,
                        timings.raw,
                        timings.alone,
                        timings.decode,
                    )
                )
    return OverheadResult(results, _table(bench, sizes, results))


def profile_case(bench: Bench, key: str, calls: int = 2_000) -> str:
    """cProfile of ``calls`` adapter calls of one case on canned responses (for optimising)."""
    case = next((c for c in CASES if c.key == key), None)
    if case is None:
        raise ValueError(f"no case {key!r}; one of {', '.join(c.key for c in CASES)}")
    with bench.table() as adapter:
        scene = _scene(adapter)
        exchanges = _record(scene, case)
        with _Canned(adapter.models.client) as canned:
            canned.emitter.script = exchanges
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(calls):
                case.call(scene)
            profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(70)
    return out.getvalue()


def _table(bench: Bench, sizes: Sizes, results: list[CaseResult]) -> ResultTable:
    table = ResultTable(
        key="overhead",
        title="2. Client overhead",
        intro=(
            "CPU time per call of each operation through `DynamoDBAdapter` and as raw botocore "
            "making the same API calls with the same parameters, on the same botocore client "
            "(its own response parser for raw botocore, the adapter's fast decode path for "
            "the adapter), both parsing the same canned HTTP responses (recorded from one "
            f"real call on {bench.description}, replayed in place of the HTTP send, so no "
            "server or network time is counted). *our layer* is the difference: validation, "
            "building the requests, turning items into domain objects, and what running that "
            "code between botocore's steps costs (negative when the fast decode path saves "
            "more than our code costs). *our code alone* times the adapter with botocore "
            "replaced by a stub that returns the parsed responses: the adapter's own work, "
            "without botocore; *of which decoding* is the part spent turning the responses' "
            "items into the domain objects returned. Best of "
            f"{sizes.overhead_blocks} alternating blocks of {sizes.overhead_calls} calls per "
            "column (each block after one untimed call), CPU time of this process, garbage "
            "collection on. The client is the one PynamoDB configures (botocore parameter "
            "validation off) on both paths. Target: "
            f"at most {TARGET_RATIO}x for `get_session`, `add_message`, `update_session` and "
            "`update_message`."
        ),
        columns=[
            Column("operation", numeric=False),
            Column("DynamoDB calls", numeric=False),
            Column("raw botocore µs"),
            Column("DynamoDBAdapter µs"),
            Column("our layer µs"),
            Column("our code alone µs"),
            Column("of which decoding µs"),
            Column("ratio"),
            Column("target", numeric=False),
        ],
    )
    for result in results:
        met = result.ratio <= TARGET_RATIO
        table.add_row(
            f"`{result.case.label}`",
            result.operations(),
            _microseconds(result.raw_seconds),
            _microseconds(result.adapter_seconds),
            _microseconds(result.adapter_seconds - result.raw_seconds),
            _microseconds(result.alone_seconds),
            "—" if result.decode_seconds is None else _microseconds(result.decode_seconds),
            format_ratio(result.ratio),
            ("met" if met else "**missed**") if result.case.targeted else "—",
        )
    table.notes.extend(_findings(results))
    return table


def _microseconds(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}"


def _findings(results: list[CaseResult]) -> list[str]:
    """What the numbers say about where the layer's cost lies."""
    targeted = [result for result in results if result.case.targeted]
    in_situ = sum(r.adapter_seconds - r.raw_seconds for r in targeted)
    alone = sum(r.alone_seconds for r in targeted)
    notes = [
        f"For the {len(targeted)} targeted calls, our layer costs "
        f"{in_situ / alone:.1f}x what our code alone takes: code run between botocore's "
        "steps slows both down (CPU caches and branch prediction are shared), so every "
        "microsecond of adapter work costs about that many in place."
    ]
    missed = [result for result in targeted if result.ratio > TARGET_RATIO]
    for result in missed:
        allowed = (TARGET_RATIO - 1) * result.raw_seconds
        decoding = result.decode_seconds or 0.0
        notes.append(
            f"`{result.case.label}` is over the target by "
            f"{(result.adapter_seconds - result.raw_seconds - allowed) * 1e6:,.0f} µs a call "
            f"({_microseconds(allowed)} µs of layer allowed on {_microseconds(result.raw_seconds)} "
            f"µs of botocore). Of its {_microseconds(result.alone_seconds)} µs of code alone, "
            f"{_microseconds(decoding)} decode the response; the other "
            f"{_microseconds(result.alone_seconds - decoding)} validate the input and build "
            "the request."
        )
    return notes
