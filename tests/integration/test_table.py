"""The table is created from the models, exactly as the contract lays it out."""

from __future__ import annotations

from typing import Any, cast

from session_store import DynamoDBAdapter
from session_store.table import (
    BoundModels,
    ProvisionedThroughput,
    TableConfig,
    bind_models,
    create_table,
    table_definition,
    ttl_enabled,
)


def test_created_table_has_keys_indexes_and_ttl(bound: BoundModels) -> None:
    table = bound.client.describe_table(TableName=bound.config.table_name)["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "PK": "HASH",
        "SK": "RANGE",
    }
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"GSI1", "GSI2"}
    assert [k["AttributeName"] for k in indexes["GSI1"]["KeySchema"]] == ["GSI1PK", "GSI1SK"]
    assert [k["AttributeName"] for k in indexes["GSI2"]["KeySchema"]] == ["GSI2PK", "GSI2SK"]
    assert all(i["Projection"]["ProjectionType"] == "ALL" for i in indexes.values())
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert ttl_enabled(bound.gateway)


def test_create_table_is_idempotent(bound: BoundModels) -> None:
    assert create_table(bound) is False
    assert create_table(bound) is False
    assert ttl_enabled(bound.gateway)


def test_two_tables_in_one_process_do_not_interfere(table_config: TableConfig) -> None:
    first = bind_models(table_config)
    second = bind_models(
        TableConfig(
            table_config.table_name + "-b",
            region=table_config.region,
            endpoint_url=table_config.endpoint_url,
        )
    )
    create_table(first)
    create_table(second)
    try:
        first.MigrationRecord(
            "SCHEMA#MIGRATIONS",
            "MIGRATION#x",
            name="x",
            applied_at=__import__("datetime").datetime.now(__import__("datetime").UTC),
        ).save()
        assert first.MigrationRecord.count("SCHEMA#MIGRATIONS") == 1
        assert second.MigrationRecord.count("SCHEMA#MIGRATIONS") == 0
        assert first.SessionMeta.Meta.table_name != second.SessionMeta.Meta.table_name
        assert cast(Any, first.SessionMeta.user_index)._model is first.SessionMeta
    finally:
        second.client.delete_table(TableName=second.config.table_name)
        first.close()
        second.close()


def test_provisioned_and_stream_definition() -> None:
    request = table_definition("t-prov", provisioned=ProvisionedThroughput(5, 7), stream=True)
    assert request["BillingMode"] == "PROVISIONED"
    assert request["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7}
    assert all(
        i["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
        for i in request["GlobalSecondaryIndexes"]
    )
    assert request["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}


def test_provisioned_table_is_created(table_config: TableConfig) -> None:
    config = TableConfig(
        table_config.table_name,
        region=table_config.region,
        endpoint_url=table_config.endpoint_url,
        provisioned=ProvisionedThroughput(3, 4),
        stream=True,
    )
    models = bind_models(config)
    try:
        create_table(models)
        table = models.client.describe_table(TableName=config.table_name)["Table"]
        assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 3
        assert table["StreamSpecification"]["StreamEnabled"] is True
    finally:
        models.close()


def test_adapter_create_table_with_a_stream(table_config: TableConfig) -> None:
    with DynamoDBAdapter(
        table_config.table_name, region=table_config.region, endpoint_url=table_config.endpoint_url
    ) as adapter:
        assert adapter.create_table(stream=True) is True
        table = adapter.models.client.describe_table(TableName=table_config.table_name)["Table"]
        assert table["StreamSpecification"] == {
            "StreamEnabled": True,
            "StreamViewType": "KEYS_ONLY",
        }
        assert adapter.create_table(stream=True) is False
