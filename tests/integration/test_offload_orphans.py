"""``collect_orphans``: objects no item points to go once older than the grace period."""

from __future__ import annotations

from datetime import timedelta

import pytest

from session_store import DynamoDBAdapter, OrphanReport, ValidationError
from tests.integration.offload_fixtures import MB, bucket_keys, pointed_keys


def test_only_unreferenced_objects_older_than_the_grace_period_go(
    offload_adapter: DynamoDBAdapter,
) -> None:
    adapter = offload_adapter
    session = adapter.create_session({"status": "active"})
    adapter.add_message(session.id, {"role": "user", "content": "x" * MB})
    live = pointed_keys(adapter, session.id)
    assert len(live) == 1
    store = adapter.offloader.store  # type: ignore[union-attr]
    prefix = adapter.offload.prefix  # type: ignore[union-attr]
    orphan = f"{prefix}{session.id}/01JABCDEFGHJKMNPQRSTVWXYZ0/01JABCDEFGHJKMNPQRSTVWXYZ0.json"
    foreign = f"{prefix}not-ours.txt"
    outside = "elsewhere/x.json"
    for key in (orphan, foreign, outside):
        store.put(key, b"{}")

    # Young objects are left alone: a write in flight puts its object before its item.
    assert adapter.collect_orphans() == OrphanReport(examined=0, removed=0, failed=0)
    assert adapter.collect_orphans(timedelta(0)) == OrphanReport(examined=2, removed=1, failed=0)
    # Objects outside the layout (or the prefix) are never touched.
    assert bucket_keys(adapter) == live | {foreign, outside}
    assert adapter.get_messages(session.id)[0].content == "x" * MB


def test_collect_orphans_needs_offload_and_a_grace_period(
    offload_adapter: DynamoDBAdapter, adapter: DynamoDBAdapter
) -> None:
    with pytest.raises(ValidationError, match="offload"):
        adapter.collect_orphans()
    with pytest.raises(ValidationError, match="older_than"):
        offload_adapter.collect_orphans(timedelta(seconds=-1))
