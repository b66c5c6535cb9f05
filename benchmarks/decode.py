"""The decode path: botocore's response parser against ``session_store._wire``, on DynamoDB Local.

``python -m benchmarks.decode`` (``--quick`` for small sizes, ``--endpoint-url``
to use a running DynamoDB Local) measures two reads, each path in one run:

- all pages of a 1,000-message session (the requests ``get_messages`` sends);
- a user's newest 20 sessions through GSI1, out of 500 (the request
  ``list_sessions({"user_id": ..., "limit": 20})`` sends).

Paths, each on its own client of the same table:

1. raw botocore: the adapter's very requests (captured from botocore's
   ``provide-client-params`` event while the adapter ran), sent through a
   plain botocore client; items stay DynamoDB JSON;
2. the same with ``install_fast_decode`` on the client;
3. path 2, its items turned into domain objects by ``_item_decoding``;
4. the adapter's call with botocore's own parser (the hook taken off its
   client for the call; items still decoded a page at a time);
5. the adapter's call as it runs: the hook on its client (``bind_models``
   installs it) and whole pages decoded by ``_item_decoding``.

Times are wall-clock milliseconds per call, server included: the median and
the best of alternating rounds (one call of every path per round), so load
from other processes hits every path alike. Ratios are over path 1's median.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import botocore.session

from benchmarks.environment import Bench, open_backend
from benchmarks.seeding import seed_session, seed_sessions
from session_store import _item_decoding, _wire
from session_store.dynamodb import DynamoDBAdapter

__all__ = ["DecodeResult", "Timing", "main", "measure_decode"]

_USER = "bench-decode-user"


@dataclass(frozen=True)
class Timing:
    """One path of one read: milliseconds per call."""

    path: str
    median_ms: float
    best_ms: float


@dataclass(frozen=True)
class DecodeResult:
    """Both reads, every path."""

    messages: list[Timing]
    sessions: list[Timing]
    fast_responses: int
    """Responses the hook decoded during the run (it must not have stood aside)."""


def _captured_requests(client: Any, call: Callable[[], object]) -> list[tuple[str, dict[str, Any]]]:
    """The API calls ``call`` makes on ``client``: (operation, parameters), in order."""
    captured: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        captured.append((model.name, copy.deepcopy(params)))

    unique_id = f"bench-decode-capture-{id(captured)}"
    client.meta.events.register("provide-client-params.dynamodb", record, unique_id=unique_id)
    try:
        call()
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", unique_id=unique_id)
    return captured


def _replay(client: Any, requests: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Send ``requests`` again, each page's start key taken from the previous response."""
    items: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    for operation, params in requests:
        request = dict(params)
        if start is not None:
            request["ExclusiveStartKey"] = start
        response = client._make_api_call(operation, request)
        items.extend(response.get("Items", []))
        start = response.get("LastEvaluatedKey")
    return items


@contextmanager
def _botocore_parser(adapter: DynamoDBAdapter) -> Iterator[None]:
    """The adapter with botocore's own response parser: the hook off its client meanwhile."""
    client = adapter.models.client
    _wire.uninstall_fast_decode(client)
    try:
        yield
    finally:
        _wire.install_fast_decode(client)


def _time_paths(paths: dict[str, Callable[[], object]], rounds: int) -> list[Timing]:
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for call in paths.values():
        call()  # warm up: first compiled plans, pooled connections
    for _ in range(rounds):
        for name, call in paths.items():
            started = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - started) * 1000)
    return [
        Timing(name, statistics.median(values), min(values)) for name, values in samples.items()
    ]


def _read_paths(
    adapter: DynamoDBAdapter,
    adapter_call: Callable[[], object],
    decode: Callable[[list[dict[str, Any]]], object],
    decoders: list[_wire.FastDecoder],
) -> dict[str, Callable[[], object]]:
    requests = _captured_requests(adapter.models.client, adapter_call)
    raw = _new_client(adapter)
    hooked = _new_client(adapter)
    decoder = _wire.install_fast_decode(hooked)
    if decoder is None:
        raise RuntimeError("the fast decode path is off on this botocore: nothing to measure")
    decoders.append(decoder)

    def adapter_slow() -> object:
        with _botocore_parser(adapter):
            return adapter_call()

    return {
        "raw botocore": lambda: _replay(raw, requests),
        "botocore + fast decode": lambda: _replay(hooked, requests),
        "fast decode + item decoding": lambda: decode(_replay(hooked, requests)),
        "adapter, botocore's parser": adapter_slow,
        "adapter": adapter_call,
    }


def _new_client(adapter: DynamoDBAdapter) -> Any:
    """A botocore client of the adapter's table, made the way the adapter makes its own."""
    config = adapter.config
    return botocore.session.get_session().create_client(
        "dynamodb", region_name=config.region, endpoint_url=config.endpoint_url
    )


def measure_decode(bench: Bench, *, messages: int, sessions: int, rounds: int) -> DecodeResult:
    """Seed, then time both reads on every path."""
    with bench.table() as adapter:
        seeded = seed_session(adapter, messages=messages)
        seed_sessions(adapter, sessions, user_id=_USER)
        decoders: list[_wire.FastDecoder] = []
        message_paths = _read_paths(
            adapter,
            lambda: adapter.get_messages(seeded.id),
            _item_decoding.decode_messages,
            decoders,
        )
        session_paths = _read_paths(
            adapter,
            lambda: adapter.list_sessions({"user_id": _USER, "limit": 20}),
            _item_decoding.decode_sessions,
            decoders,
        )
        # Same answers on every path before any timing.
        expected = adapter.get_messages(seeded.id)
        with _botocore_parser(adapter):
            if adapter.get_messages(seeded.id) != expected:
                raise AssertionError("the fast path read other messages")
        message_timings = _time_paths(message_paths, rounds)
        session_timings = _time_paths(session_paths, rounds * 5)
        if any(decoder.passed_on for decoder in decoders):
            raise AssertionError("the fast path left responses to botocore's parser")
        return DecodeResult(
            message_timings, session_timings, sum(decoder.decoded for decoder in decoders)
        )


def _table(title: str, timings: list[Timing]) -> str:
    base = timings[0].median_ms
    lines = [title, f"  {'path':32s} {'median ms':>10s} {'best ms':>9s} {'ratio':>7s}"]
    for timing in timings:
        lines.append(
            f"  {timing.path:32s} {timing.median_ms:10.2f} {timing.best_ms:9.2f}"
            f" {timing.median_ms / base:6.2f}x"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decode", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    parser.add_argument("--endpoint-url", help="a running DynamoDB Local to use")
    parser.add_argument("--rounds", type=int, default=None)
    options = parser.parse_args(argv)
    messages, sessions, rounds = (100, 40, 3) if options.quick else (1000, 500, 30)
    rounds = options.rounds or rounds
    with open_backend("local", endpoint_url=options.endpoint_url) as bench:
        result = measure_decode(bench, messages=messages, sessions=sessions, rounds=rounds)
    print(_table(f"All pages of a {messages:,}-message session", result.messages))
    print(_table(f"Newest 20 of {sessions:,} sessions by GSI1", result.sessions))
    print(f"responses decoded by the fast path: {result.fast_responses}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
