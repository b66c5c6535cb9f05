"""``ObjectStore`` on moto's S3: in process, and over HTTP (``MotoServer``); faults injected
below botocore's retry layer (``tests.s3_faults``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_store import domain, models
from session_store._client import s3_client
from session_store.errors import StorageError
from session_store.gateway import BucketLocation, ObjectNotFound, ObjectStore
from session_store.offload import S3Offload, plan_offload, pointer_of, restore
from tests import s3_faults
from tests.faults import FaultPlan, fail, inject, lose_response

REGION = "eu-west-1"


def _store(endpoint: str | None, bucket: str, *, create: bool = True) -> ObjectStore:
    client = s3_client(REGION, endpoint)
    if create:
        client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
    return ObjectStore(lambda: client, BucketLocation(bucket, REGION, endpoint))


@pytest.fixture
def store(s3_endpoint: str | None) -> ObjectStore:
    return _store(s3_endpoint, f"offload-test-{uuid.uuid4().hex[:12]}")


def _seed(store: ObjectStore, keys: list[str], body: bytes) -> None:
    """Write ``keys`` straight into moto's S3 backend, which the server in this process
    shares: 1,001 PUTs over HTTP cost ten seconds and test nothing of the listing or the
    deletes (``test_put_get_delete`` covers ``put``)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        backend.put_object(store.bucket, key, body)
    assert backend.get_object(store.bucket, keys[-1]) is not None


def _keys(store: ObjectStore, prefix: str = "") -> set[str]:
    return {stored.key for stored in store.list(prefix)}


def test_put_get_delete(store: ObjectStore) -> None:
    store.put("a/b/c.json", b'{"x":1}')
    assert store.get("a/b/c.json") == b'{"x":1}'
    store.delete("a/b/c.json")
    with pytest.raises(ObjectNotFound, match=r"a/b/c\.json") as caught:
        store.get("a/b/c.json")
    assert caught.value.code == "OBJECT_NOT_FOUND"
    assert caught.value.bucket == store.bucket
    store.delete("a/b/c.json")  # absent: still fine


def test_a_missing_bucket_names_bucket_and_region(s3_endpoint: str | None) -> None:
    store = _store(s3_endpoint, "no-such-offload-bucket", create=False)
    for call in (lambda: store.put("k", b"x"), lambda: store.get("k"), lambda: list(store.list())):
        with pytest.raises(StorageError, match="no-such-offload-bucket") as caught:
            call()
        assert caught.value.code == "BUCKET_NOT_FOUND"
        assert REGION in str(caught.value)
        assert caught.value.__cause__ is not None


def test_list_filters_by_prefix_and_age_across_pages(store: ObjectStore) -> None:
    keys = [f"p/s1/{i:05d}.json" for i in range(1001)]
    _seed(store, keys, b"{}")
    store.put("p/s2/x.json", b"{}")
    store.put("other.json", b"{}")
    with inject(store.client, FaultPlan()) as injector:
        listed = list(store.list("p/s1/"))
    assert [stored.key for stored in listed] == keys
    assert injector.sends["ListObjectsV2"] == 2  # two pages, no more
    assert all(stored.size == 2 for stored in listed)
    now = datetime.now(UTC)
    assert list(store.list("p/", older_than=now - timedelta(hours=1))) == []
    assert len(list(store.list("p/", older_than=now + timedelta(hours=1)))) == 1002


def test_delete_many_sends_1000_keys_a_request(store: ObjectStore) -> None:
    keys = [f"d/{i:05d}" for i in range(1001)]
    _seed(store, keys, b"x")
    store.put("keep", b"x")
    with inject(store.client, FaultPlan()) as injector:
        failures = store.delete_many([*keys, "d/00000", "never-written"])
    assert failures == []
    assert injector.sends["DeleteObjects"] == 2
    assert _keys(store) == {"keep"}
    assert store.delete_many([]) == []


def test_delete_many_reports_the_keys_s3_refused(store: ObjectStore) -> None:
    keys = [f"d/{i:05d}" for i in range(1001)]
    _seed(store, keys, b"x")
    plan = FaultPlan(fail("DeleteObjects", with_=s3_faults.DELETE_OBJECTS_REFUSED))
    with inject(store.client, plan) as injector:
        failures = store.delete_many(keys)
    injector.assert_exhausted()
    assert [failure.key for failure in failures] == keys[:1000]
    assert {failure.code for failure in failures} == {"InternalError"}
    # Nothing the report calls failed is gone; the second request went through.
    assert _keys(store) == set(keys[:1000])


def test_a_lost_put_response_is_retried_and_stores_the_object_once(store: ObjectStore) -> None:
    plan = FaultPlan(lose_response("PutObject", then=s3_faults.INTERNAL_ERROR))
    with inject(store.client, plan) as injector:
        store.put("lost/k.json", b"payload")
    injector.assert_exhausted()
    assert injector.sends["PutObject"] == 2
    assert store.get("lost/k.json") == b"payload"
    assert _keys(store) == {"lost/k.json"}


def test_a_failed_delete_is_retried_or_surfaces(store: ObjectStore) -> None:
    store.put("k", b"x")
    denied = FaultPlan(fail("DeleteObject", with_=s3_faults.ACCESS_DENIED))
    with inject(store.client, denied), pytest.raises(StorageError, match="denied") as caught:
        store.delete("k")
    assert caught.value.code == "ACCESS_DENIED"
    assert store.get("k") == b"x"  # nothing was deleted
    plan = FaultPlan(fail("DeleteObject", with_=s3_faults.INTERNAL_ERROR, times=2))
    with inject(store.client, plan) as injector:
        store.delete("k")  # botocore retried the 500s
    injector.assert_exhausted()
    assert injector.sends["DeleteObject"] == 3
    assert _keys(store) == set()


def test_a_throttled_get_is_retried(store: ObjectStore) -> None:
    store.put("k", b"x")
    with inject(store.client, FaultPlan(fail("GetObject", with_=s3_faults.SLOW_DOWN))) as injector:
        assert store.get("k") == b"x"
    injector.assert_exhausted()


def test_an_offloaded_message_round_trips_through_s3(store: ObjectStore) -> None:
    message = domain.Message.model_validate(
        {
            "id": "01JDM5V8RB0000000000000000",
            "session_id": "tenant/ä ../s",
            "role": "tool",
            "content": "result " * (1024 * 1024),
            "created_at": datetime(2026, 11, 24, tzinfo=UTC),
        }
    )
    item: dict[str, Any] = models.Message.from_domain(message).serialize()
    config = S3Offload(store.bucket, prefix="messages")
    plan = plan_offload(item, config)
    assert plan is not None
    store.put(plan.pointer.key, plan.payload)
    pointer = pointer_of(plan.item)
    assert pointer is not None
    assert restore(plan.item, pointer, store.get(pointer.key)) == item
    assert _keys(store, "messages/tenant%2F") == {pointer.key}


# --- where the S3 client sends its requests -------------------------------------------


def test_s3_endpoint_variables_come_before_the_generic_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://generic:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://dynamodb:2")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3:3")
    assert s3_client(REGION, None).meta.endpoint_url == "http://s3:3"
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    assert s3_client(REGION, None).meta.endpoint_url == "http://generic:1"
    assert s3_client(REGION, "http://given:4").meta.endpoint_url == "http://given:4"
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert "amazonaws.com" in s3_client(REGION, None).meta.endpoint_url


def test_a_custom_endpoint_uses_path_style_addressing() -> None:
    client = s3_client(REGION, "http://127.0.0.1:9")
    assert client.meta.config.s3["addressing_style"] == "path"
