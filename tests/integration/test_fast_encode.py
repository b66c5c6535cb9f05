"""The fast encode path on real requests: what it writes reads back as written.

Every client the bound models make has ``_request_bodies.install_fast_encode``
on it. Each test writes through it (the serializer's counter shows it
encoded the request) and reads back, then does the same with botocore's own
serializer on the same client.
"""

from __future__ import annotations

from typing import Any

from session_store import _request_bodies
from session_store.table import BoundModels
from tests.integration.test_fast_decode import KEY, ODD_ITEM


def _as_read(item: dict[str, Any] | None) -> Any:
    """``item`` with its sets sorted: DynamoDB keeps a set's members in no order."""
    if item is None:
        return None
    return {
        name: {kind: sorted(raw) if kind in ("SS", "NS", "BS") else raw}
        for name, value in item.items()
        for kind, raw in value.items()
    }


def _serializer(client: Any) -> _request_bodies.FastSerializer:
    serializer = _request_bodies.install_fast_encode(client)  # idempotent: the one in effect
    assert serializer is not None, "the fast encode path is off on this botocore"
    return serializer


def test_an_item_of_every_type_reads_back_as_written(bound: BoundModels) -> None:
    serializer = _serializer(bound.client)
    encoded = serializer.encoded
    bound.gateway.put({"Item": ODD_ITEM})
    assert serializer.encoded > encoded
    assert _as_read(bound.gateway.get(KEY)) == _as_read(ODD_ITEM)
    outcome = bound.gateway.transact(
        [{"Put": {"Item": {**ODD_ITEM, "SK": {"S": "MSG#odd-2"}, "blob": {"B": b"\x00\x01"}}}}]
    )
    assert outcome.committed
    assert _as_read(bound.gateway.get({**KEY, "SK": {"S": "MSG#odd-2"}})) == _as_read(
        {**ODD_ITEM, "SK": {"S": "MSG#odd-2"}, "blob": {"B": b"\x00\x01"}}
    )


def test_botocores_serializer_writes_the_same_item(bound: BoundModels) -> None:
    _serializer(bound.client)
    bound.gateway.put({"Item": ODD_ITEM})
    fast = bound.gateway.get(KEY)
    _request_bodies.uninstall_fast_encode(bound.client)
    try:
        bound.gateway.put({"Item": ODD_ITEM})
        slow = bound.gateway.get(KEY)
    finally:
        _request_bodies.install_fast_encode(bound.client)
    assert _as_read(fast) == _as_read(slow) == _as_read(ODD_ITEM)
