"""export and import of offloaded messages: payloads inline in the lines, offloaded again
on import; on both DynamoDB backends, with moto's S3 (in process beside moto, over HTTP
beside DynamoDB Local)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from session_store import DynamoDBAdapter, S3Offload
from session_store.cli import Output, Settings
from session_store.cli import commands as cli
from session_store.cli.transfer import export_items, import_lines, item_line
from session_store.errors import StorageError, ValidationError
from session_store.offload import POINTER_ATTRIBUTE
from session_store.offloader import Offloader
from session_store.table import TableConfig
from session_store.testing.backends import unique_table_name
from tests import s3_faults
from tests.cli.conftest import offload_settings
from tests.faults import FaultPlan, fail, inject, lose_response
from tests.integration.offload_fixtures import MB, bucket_keys, raw_messages

IMAGE = {
    "type": "image_url",
    "image_url": {
        "url": "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 6000).decode()
    },
}


def _conversation(adapter: DynamoDBAdapter, session_id: str = "s-big") -> None:
    adapter.create_session({"id": session_id, "status": "active", "user_id": "alice"})
    adapter.add_message(session_id, {"role": "user", "content": "look at this", "token_count": 3})
    adapter.add_message(session_id, {"role": "user", "content": [IMAGE], "token_count": 1000})
    adapter.add_message(session_id, {"role": "assistant", "content": "y" * MB})


@pytest.fixture
def offloader(offload_adapter: DynamoDBAdapter) -> Iterator[Offloader]:
    assert offload_adapter.offload is not None
    made = Offloader(offload_adapter.offload, region=offload_adapter.config.region)
    yield made
    made.close()


@pytest.fixture
def target(table_config: TableConfig, offload: S3Offload) -> Iterator[DynamoDBAdapter]:
    """A second, migrated table beside the first, offloading to the same bucket."""
    with DynamoDBAdapter(
        unique_table_name("cli-import-offload"),
        region=table_config.region,
        endpoint_url=table_config.endpoint_url,
        offload=offload,
    ) as made:
        made.migrate()
        yield made
        made.models.client.delete_table(TableName=made.config.table_name)


def _lines(adapter: DynamoDBAdapter, offloader: Offloader | None) -> list[str]:
    return [
        item_line(item)
        for item in export_items(adapter, session_ids=["s-big"], offloader=offloader)
    ]


def test_export_writes_offloaded_payloads_inline(
    offload_adapter: DynamoDBAdapter, offloader: Offloader
) -> None:
    _conversation(offload_adapter)
    assert sum(POINTER_ATTRIBUTE in item for item in raw_messages(offload_adapter, "s-big")) == 2
    items = [json.loads(line)["Item"] for line in _lines(offload_adapter, offloader)]
    assert len(items) == 4
    assert not any(POINTER_ATTRIBUTE in item for item in items)
    image, text = items[2], items[3]
    assert image["content"]["L"][0]["M"]["image_url"]["M"]["url"]["S"] == IMAGE["image_url"]["url"]  # type: ignore[index]
    assert text["content"] == {"S": "y" * MB}


def test_export_of_an_offloaded_table_without_a_bucket_says_what_to_pass(
    offload_adapter: DynamoDBAdapter,
) -> None:
    _conversation(offload_adapter)
    with pytest.raises(ValidationError, match="keeps its payload in S3: pass --offload-bucket"):
        _lines(offload_adapter, None)


def test_import_offloads_again_and_twice_changes_nothing(
    offload_adapter: DynamoDBAdapter,
    offloader: Offloader,
    target: DynamoDBAdapter,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _conversation(offload_adapter)
    snapshot = tmp_path / "big.jsonl"
    exported = Output.capture()
    settings = offload_settings(offload_adapter, monkeypatch)
    assert cli.export(settings, exported, session_ids=["s-big"], output=str(snapshot)) == 0
    assert POINTER_ATTRIBUTE not in snapshot.read_text(encoding="utf-8")
    before = bucket_keys(offload_adapter)

    first = Output.capture()
    assert cli.import_(offload_settings(target, monkeypatch), first, str(snapshot)) == 0
    assert "4 written, 0 already there unchanged" in first.text()
    stored = raw_messages(target, "s-big")
    assert [POINTER_ATTRIBUTE in item for item in stored] == [False, True, True]
    added = bucket_keys(target) - before
    assert len(added) == 2
    messages = target.get_messages("s-big")
    assert messages == offload_adapter.get_messages("s-big")
    assert messages[1].content[0].model_dump(exclude_none=True) == IMAGE  # type: ignore[union-attr]

    again = Output.capture()
    assert cli.import_(offload_settings(target, monkeypatch), again, str(snapshot)) == 0
    assert "0 written, 4 already there unchanged" in again.text()
    assert raw_messages(target, "s-big") == stored
    assert bucket_keys(target) - before == added


def test_an_import_replacing_an_offloaded_message_removes_its_object(
    offload_adapter: DynamoDBAdapter, offloader: Offloader
) -> None:
    _conversation(offload_adapter)
    lines = _lines(offload_adapter, offloader)
    old = bucket_keys(offload_adapter)
    changed = json.loads(lines[3])
    changed["Item"]["content"] = {"S": "z" * MB}
    lines[3] = item_line(changed["Item"])
    result = import_lines(offload_adapter, lines, offloader=offloader)
    assert (result.written, result.unchanged) == (1, 3)
    now = bucket_keys(offload_adapter)
    assert len(now) == 2
    assert len(now & old) == 1  # the image's object stays; the text's was replaced
    assert offload_adapter.get_messages("s-big")[2].content == "z" * MB
    # And an inline line over an offloaded item: the object goes too.
    small = json.loads(lines[3])
    small["Item"]["content"] = {"S": "short now"}
    import_lines(offload_adapter, [*lines[:3], item_line(small["Item"])], offloader=offloader)
    assert bucket_keys(offload_adapter) == now & old
    assert offload_adapter.get_messages("s-big")[2].content == "short now"


def test_without_a_bucket_a_large_message_is_refused_naming_it(
    offload_adapter: DynamoDBAdapter, offloader: Offloader, table_config: TableConfig
) -> None:
    _conversation(offload_adapter)
    lines = _lines(offload_adapter, offloader)
    with DynamoDBAdapter(
        unique_table_name("cli-import-inline"),
        region=table_config.region,
        endpoint_url=table_config.endpoint_url,
    ) as plain:
        plain.migrate()
        try:
            with pytest.raises(
                ValidationError,
                match=r"line 3: message '.+' of session 's-big': .*over DynamoDB's [0-9,]+-byte "
                r"item limit.*: pass --offload-bucket to store it in S3",
            ):
                import_lines(plain, lines)
            assert plain.get_session("s-big") is None  # nothing written
        finally:
            plain.models.client.delete_table(TableName=plain.config.table_name)


def test_a_line_holding_a_pointer_is_refused(offload_adapter: DynamoDBAdapter) -> None:
    _conversation(offload_adapter)
    session_line = item_line(
        next(
            item
            for item in export_items(offload_adapter, session_ids=["s-big"], offloader=None)
            if item["SK"]["S"] == "META"
        )
    )
    pointing = [item_line(item) for item in raw_messages(offload_adapter, "s-big")]
    with pytest.raises(ValidationError, match=r"line 3: the message holds an S3 pointer"):
        import_lines(offload_adapter, [session_line, *pointing])


def test_a_payload_over_max_bytes_is_refused_before_any_write(
    table_config: TableConfig, offload: S3Offload, adapter: DynamoDBAdapter
) -> None:
    small_limit = S3Offload(
        offload.bucket, prefix=offload.prefix, max_bytes=MB, endpoint_url=offload.endpoint_url
    )
    adapter.create_session({"id": "s-huge", "status": "active"})
    with DynamoDBAdapter(
        table_config.table_name,
        region=table_config.region,
        endpoint_url=table_config.endpoint_url,
        offload=S3Offload(offload.bucket, endpoint_url=offload.endpoint_url),
    ) as writer:
        writer.add_message("s-huge", {"role": "user", "content": "w" * (2 * MB)})
        whole = Offloader(writer.offload, region=writer.config.region)  # type: ignore[arg-type]
        lines = [
            item_line(item)
            for item in export_items(writer, session_ids=["s-huge"], offloader=whole)
        ]
        whole.close()
    limited = Offloader(small_limit, region=table_config.region)
    try:
        with pytest.raises(ValidationError, match=r"line 2: message .* over the offload limit"):
            import_lines(adapter, lines, offloader=limited)
    finally:
        limited.close()


def test_commands_refuse_an_offloaded_export_without_a_bucket(
    offload_adapter: DynamoDBAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _conversation(offload_adapter)
    settings = offload_settings(offload_adapter, monkeypatch)
    plain = Settings(
        table=settings.table, endpoint_url=settings.endpoint_url, region=settings.region
    )
    with pytest.raises(ValidationError, match="pass --offload-bucket"):
        cli.export(plain, Output.capture(), session_ids=["s-big"])


# --- S3 faults during an import (injected below botocore's retry layer) ---------------


def test_a_lost_put_object_response_is_retried_and_nothing_dangles(
    offload_adapter: DynamoDBAdapter, offloader: Offloader, target: DynamoDBAdapter
) -> None:
    _conversation(offload_adapter)
    lines = _lines(offload_adapter, offloader)
    importer = Offloader(offloader.config, region=target.config.region)
    try:
        plan = FaultPlan(lose_response("PutObject", then=s3_faults.INTERNAL_ERROR))
        with inject(importer.store.client, plan):
            result = import_lines(target, lines, offloader=importer)
    finally:
        importer.close()
    assert (result.written, result.unchanged) == (4, 0)
    assert target.get_messages("s-big") == offload_adapter.get_messages("s-big")


def test_a_refused_put_object_writes_no_item_and_a_rerun_finishes(
    offload_adapter: DynamoDBAdapter, offloader: Offloader, target: DynamoDBAdapter
) -> None:
    _conversation(offload_adapter)
    lines = _lines(offload_adapter, offloader)
    before = bucket_keys(offload_adapter)
    importer = Offloader(offloader.config, region=target.config.region)
    try:
        refused = FaultPlan(fail("PutObject", with_=s3_faults.ACCESS_DENIED, times=None))
        with inject(importer.store.client, refused), pytest.raises(StorageError):
            import_lines(target, lines, offloader=importer)
        # The batch holding the offloaded messages was not written: no pointer to nothing.
        assert raw_messages(target, "s-big") == []
        assert target.get_session("s-big") is None
        assert bucket_keys(offload_adapter) == before
        result = import_lines(target, lines, offloader=importer)
    finally:
        importer.close()
    assert result.written == 4
    assert target.get_messages("s-big") == offload_adapter.get_messages("s-big")
