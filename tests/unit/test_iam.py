"""``iam_policy`` grants exactly what the adapter uses: proven by recording a workload.

A representative workload calls every public method of ``DynamoDBAdapter``
on moto while a ``before-call`` handler records, per request, the IAM action
it needs and the resource it touches (the table, or ``<table>/index/<name>``
for index queries). ``TransactWriteItems`` is not an IAM action: each of its
items is authorized as the action of the same name (``Put`` -> ``PutItem``,
``Update`` -> ``UpdateItem``, ``Delete`` -> ``DeleteItem``, ``ConditionCheck``
-> ``ConditionCheckItem``), so that is what is recorded for it.

The policy must allow every recorded (action, resource) pair, and every pair
it allows must have been recorded: nothing missing, nothing spare. The
data-plane policy is checked against the workload without ``create_table``
and ``migrate``; the admin policy against that workload plus ``create_table``
on a new table and ``migrate`` on a new table and on a table made the
TypeScript adapter's way (keys only: ``migrate`` adds both GSIs and TTL).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_store import DynamoDBAdapter, ValidationError
from session_store.iam import ADMIN_ACTIONS, DATA_ACTIONS, iam_policy
from session_store.table import TableConfig
from session_store.testing.backends import Backend

pytestmark = pytest.mark.backends("moto")

ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/sessions"
TRANSACTION_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}

Grant = tuple[str, str]
"""(``dynamodb:<Action>``, resource with the table's ARN written as ``<table>``)."""


@dataclass
class Recorder:
    """The (action, resource) pairs the requests needed, per table ARN."""

    arns: dict[str, str]
    """Table name -> its ARN."""
    grants: set[Grant] = field(default_factory=set)
    operations: list[str] = field(default_factory=list)

    def _resource(self, table: str, index: str | None = None) -> str:
        assert table in self.arns, f"a request to an unexpected table {table!r}"
        return "<table>" if index is None else f"<table>/index/{index}"

    def record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        request: dict[str, Any] = json.loads(params.get("body") or b"{}")
        operation: str = model.name
        self.operations.append(operation)
        if operation == "TransactWriteItems":
            for item in request["TransactItems"]:
                ((kind, body),) = item.items()
                action = TRANSACTION_ITEM_ACTIONS[kind]
                self.grants.add((f"dynamodb:{action}", self._resource(body["TableName"])))
        elif operation == "BatchWriteItem":
            for table in request["RequestItems"]:
                self.grants.add(("dynamodb:BatchWriteItem", self._resource(table)))
        else:
            resource = self._resource(request["TableName"], request.get("IndexName"))
            self.grants.add((f"dynamodb:{operation}", resource))

    @contextmanager
    def watching(self, adapter: DynamoDBAdapter) -> Iterator[None]:
        events = adapter.models.client.meta.events
        unique = f"iam-recorder-{id(self)}"
        events.register("before-call.dynamodb", self.record, unique_id=unique)
        try:
            yield
        finally:
            events.unregister("before-call.dynamodb", unique_id=unique)


def granted(policy: dict[str, Any], arn: str) -> set[Grant]:
    """Every (action, resource) pair the policy allows, with ``arn`` written as ``<table>``."""
    pairs: set[Grant] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            for resource in statement["Resource"]:
                assert resource.startswith(arn)
                pairs.add((action, "<table>" + resource[len(arn) :]))
    return pairs


def table_arn(adapter: DynamoDBAdapter) -> str:
    arn: str = adapter.models.client.describe_table(TableName=adapter.config.table_name)["Table"][
        "TableArn"
    ]
    return arn


def data_workload(adapter: DynamoDBAdapter) -> None:
    """Every public data-plane method, each along its main paths."""
    soon = datetime.now(UTC) + timedelta(hours=1)
    first = adapter.create_session({"status": "active", "user_id": "u", "active_agent_id": "a"})
    second = adapter.create_session({"status": "paused", "user_id": "u"})
    expiring = adapter.create_session({"status": "active", "expires_at": soon})
    assert adapter.get_session(first.id) == first
    adapter.update_session(first.id, {"metadata": {"title": "t"}}, expected_version=1)
    adapter.update_session(second.id, {"status": "active", "active_agent_id": "a"})

    assert len(adapter.list_sessions()) == 3
    assert len(adapter.list_sessions({"user_id": "u"})) == 2
    assert len(adapter.list_sessions({"active_agent_id": "a", "status": "active"})) == 2
    assert len(list(adapter.iter_sessions({"tags": ["x"]}))) == 0
    page = adapter.list_sessions_page({"user_id": "u"}, page_size=1)
    assert page.next_cursor is not None
    adapter.list_sessions_page({"user_id": "u"}, cursor=page.next_cursor, page_size=1)

    system = adapter.add_message(first.id, {"role": "system", "content": "s", "token_count": 1})
    user = adapter.add_message(first.id, {"role": "user", "content": "u", "token_count": 2})
    adapter.add_message(first.id, {"role": "assistant", "content": "a", "token_count": 3})
    adapter.add_message(expiring.id, {"role": "user", "content": "x"})
    assert len(adapter.get_messages(first.id, {"roles": ["user", "assistant"]})) == 2
    assert len(list(adapter.iter_messages(first.id, {"order": "desc"}))) == 3
    messages = adapter.get_messages_page(first.id, page_size=2)
    assert messages.next_cursor is not None
    adapter.get_messages_page(first.id, cursor=messages.next_cursor)
    adapter.update_message(first.id, user.id, {"content": "edited"})
    adapter.update_message(first.id, user.id, {"token_count": 5})
    assert adapter.get_context_window(first.id, 100, reserve_tokens=10)
    adapter.delete_message(first.id, system.id)
    assert adapter.pop_message(first.id) is not None
    adapter.recount(first.id)
    adapter.delete_all_messages(first.id)

    assert adapter.get_expired_sessions(soon + timedelta(hours=1)) == [expiring.id]
    assert adapter.sweep_expired(soon + timedelta(hours=1)) == 1
    assert (
        adapter.handle_stream_event(
            {
                "Records": [
                    {
                        "eventName": "REMOVE",
                        "userIdentity": {
                            "type": "Service",
                            "principalId": "dynamodb.amazonaws.com",
                        },
                        "dynamodb": {
                            "Keys": {"PK": {"S": f"SESSION#{second.id}"}, "SK": {"S": "META"}}
                        },
                    }
                ]
            }
        )
        == 0
    )
    adapter.delete_session(second.id)
    assert adapter.health().status == "healthy"
    adapter.close()


def test_the_data_plane_policy_grants_exactly_what_the_workload_uses(
    adapter: DynamoDBAdapter,
) -> None:
    arn = table_arn(adapter)
    recorder = Recorder({adapter.config.table_name: arn})
    with recorder.watching(adapter):
        data_workload(adapter)

    policy = iam_policy(arn)
    assert granted(policy, arn) == recorder.grants
    actions = {action for statement in policy["Statement"] for action in statement["Action"]}
    assert actions == {action for action, _ in recorder.grants} == set(DATA_ACTIONS)
    # Transactions are authorized per item; their own name is not an action.
    assert "TransactWriteItems" in recorder.operations
    assert "dynamodb:TransactWriteItems" not in actions
    assert "dynamodb:ConditionCheckItem" not in actions


def create_keys_only_table(adapter: DynamoDBAdapter) -> None:
    """A table made the TypeScript adapter's way: keys only, no GSIs, no TTL."""
    adapter.models.client.create_table(
        TableName=adapter.config.table_name,
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def test_the_admin_policy_also_covers_create_table_and_migrate(
    table_config: TableConfig, backend: Backend
) -> None:
    names = [
        table_config.table_name,
        f"{table_config.table_name}-m",
        f"{table_config.table_name}-a",
    ]
    arns = {name: f"arn:aws:dynamodb:{backend.region}:123456789012:table/{name}" for name in names}
    recorder = Recorder(arns)
    made, migrated, adopted = (
        DynamoDBAdapter(name, region=backend.region, endpoint_url=backend.endpoint_url)
        for name in names
    )
    create_keys_only_table(adopted)
    with recorder.watching(made), recorder.watching(migrated), recorder.watching(adopted):
        assert made.create_table() is True
        migrated.migrate()
        adopted.migrate()
        adopted.create_session({"status": "active", "user_id": "u"})
        assert len(adopted.list_sessions({"user_id": "u"})) == 1
        data_workload(made)
    for adapter in (migrated, adopted):
        assert table_arn(adapter) == arns[adapter.config.table_name]  # moto's account
        adapter.close()

    policy = iam_policy(arns[names[0]], include_admin=True)
    assert granted(policy, arns[names[0]]) == recorder.grants
    admin_only = {action for action, _ in recorder.grants} - set(DATA_ACTIONS)
    assert admin_only == set(ADMIN_ACTIONS)
    assert {"UpdateTable", "UpdateTimeToLive", "CreateTable"} <= set(recorder.operations)


def test_the_admin_statement_is_only_added_on_request() -> None:
    data = iam_policy(ARN)
    admin = iam_policy(ARN, include_admin=True)
    assert admin["Statement"][: len(data["Statement"])] == data["Statement"]
    extra = admin["Statement"][len(data["Statement"]) :]
    assert [sorted(s["Action"]) for s in extra] == [sorted(ADMIN_ACTIONS)]
    assert extra[0]["Resource"] == [ARN]


def test_the_policy_is_a_plain_least_privilege_document() -> None:
    policy = iam_policy(ARN, include_admin=True)
    assert json.loads(json.dumps(policy)) == policy
    assert policy["Version"] == "2012-10-17"
    sids = [statement["Sid"] for statement in policy["Statement"]]
    assert len(set(sids)) == len(sids)
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Action"]
        assert len(set(statement["Action"])) == len(statement["Action"])
        for action in statement["Action"]:
            assert action.startswith("dynamodb:")
            assert "*" not in action
        for resource in statement["Resource"]:
            assert "*" not in resource
            assert resource == ARN or resource in (f"{ARN}/index/GSI1", f"{ARN}/index/GSI2")
    index_statement = next(s for s in policy["Statement"] if s["Sid"] == "SessionStoreIndexes")
    assert index_statement["Action"] == ["dynamodb:Query"]


@pytest.mark.parametrize(
    "arn",
    [
        ARN,
        "arn:aws:dynamodb:us-east-1:000000000000:table/a.b_c-d",
        "arn:aws-cn:dynamodb:cn-north-1:123456789012:table/sessions",
        "arn:aws-us-gov:dynamodb:us-gov-west-1:123456789012:table/sessions",
        "arn:aws-iso-b:dynamodb:us-isob-east-1:123456789012:table/sessions",
        "arn:aws:dynamodb:ap-southeast-5:123456789012:table/" + "t" * 255,
    ],
)
def test_table_arns_of_every_partition_are_accepted(arn: str) -> None:
    policy = iam_policy(arn)
    assert policy["Statement"][0]["Resource"] == [arn]


@pytest.mark.parametrize(
    "arn",
    [
        pytest.param("", id="empty"),
        pytest.param(None, id="none"),
        pytest.param(5, id="int"),
        pytest.param(b"arn:aws:dynamodb:us-east-1:123456789012:table/t", id="bytes"),
        pytest.param("sessions", id="table-name"),
        pytest.param("arn:aws:dynamodb:us-east-1:123456789012:table/*", id="wildcard-table"),
        pytest.param("arn:aws:dynamodb:*:123456789012:table/sessions", id="wildcard-region"),
        pytest.param("arn:aws:dynamodb:us-east-1:*:table/sessions", id="wildcard-account"),
        pytest.param("arn:aws:dynamodb:us-east-1:123456789012:table/s/index/GSI1", id="index"),
        pytest.param("arn:aws:dynamodb:us-east-1:123456789012:table/s/stream/2026", id="stream"),
        pytest.param("arn:aws:s3:::sessions", id="another-service"),
        pytest.param("arn:aws:dynamodb:us-east-1:12345678901:table/sessions", id="short-account"),
        pytest.param("arn:aws:dynamodb:useast1:123456789012:table/sessions", id="bad-region"),
        pytest.param("arn:aws:dynamodb:us-east-1:123456789012:table/ab", id="short-name"),
        pytest.param("arn:aws:dynamodb:us-east-1:123456789012:table/" + "t" * 256, id="long"),
        pytest.param("arn:aws:dynamodb:us-east-1:123456789012:table/my table", id="space"),
        pytest.param("arn:aws:dynamodb:us-east-1:123456789012:table/t\u00e9st", id="non-ascii"),
        pytest.param(ARN + "\n", id="trailing-newline"),
        pytest.param(" " + ARN, id="leading-space"),
        pytest.param(ARN.upper(), id="upper-case"),
        pytest.param("arn:aws:dynamodb:us-east-1:123456789012:global-table/t", id="global"),
    ],
)
def test_anything_but_a_table_arn_is_refused(arn: object) -> None:
    with pytest.raises(ValidationError):
        iam_policy(arn)  # type: ignore[arg-type]


@pytest.mark.parametrize("flag", [1, "yes", None])
def test_include_admin_must_be_a_bool(flag: object) -> None:
    with pytest.raises(ValidationError):
        iam_policy(ARN, include_admin=flag)  # type: ignore[arg-type]
