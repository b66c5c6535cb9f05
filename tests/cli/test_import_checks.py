"""What ``import`` accepts, line by line: what the API itself could have written (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from session_store.cli.transfer import ItemKind, check_item
from session_store.errors import ValidationError
from tests.reference_items import MESSAGES, SESSIONS


def _reference() -> dict[str, list[dict[str, Any]]]:
    # The shared copy beside the repository when present, else tests/data (never skipped).
    return {"sessions": SESSIONS, "messages": MESSAGES}


def _session(**changes: Any) -> dict[str, Any]:
    item = {
        "PK": {"S": "SESSION#s-1"},
        "SK": {"S": "META"},
        "GSI1PK": {"S": "USER#u-1"},
        "GSI1SK": {"S": "CREATED_AT#2026-11-24T13:08:53.123Z"},
        "GSI2SK": {"S": "STATUS#active"},
        "id": {"S": "s-1"},
        "userId": {"S": "u-1"},
        "status": {"S": "active"},
        "createdAt": {"S": "2026-11-24T13:08:53.123Z"},
        "lastActivityAt": {"S": "2026-11-24T13:08:53.123Z"},
        "metadata": {"S": "{}"},
    }
    item.update(changes)
    return {name: value for name, value in item.items() if value is not None}


def _message(**changes: Any) -> dict[str, Any]:
    item = {
        "PK": {"S": "SESSION#s-1"},
        "SK": {"S": "MSG#2026-11-24T13:08:53.123Z#01KAT0M3E3ZZZZZZZZZZZZZZZZ"},
        "id": {"S": "01KAT0M3E3ZZZZZZZZZZZZZZZZ"},
        "sessionId": {"S": "s-1"},
        "role": {"S": "user"},
        "content": {"S": "hi"},
        "createdAt": {"S": "2026-11-24T13:08:53.123Z"},
    }
    item.update(changes)
    return {name: value for name, value in item.items() if value is not None}


def test_every_item_the_typescript_adapter_wrote_is_accepted() -> None:
    reference = _reference()
    assert [check_item(case["item"]) for case in reference["sessions"]] == [ItemKind.SESSION] * 3
    assert {check_item(case["item"]) for case in reference["messages"]} == {ItemKind.MESSAGE}


def test_sessions_messages_and_migration_records_by_their_keys() -> None:
    assert check_item(_session()) is ItemKind.SESSION
    assert check_item(_message()) is ItemKind.MESSAGE
    record = {"PK": {"S": "SCHEMA#MIGRATIONS"}, "SK": {"S": "MIGRATION#0001_create_table"}}
    assert check_item(record) is ItemKind.MIGRATION
    assert check_item({"PK": {"S": "HACK#x"}, "SK": {"S": "y"}}, raw=True) is ItemKind.OTHER


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"PK": {"S": "HACK#x"}, "SK": {"S": "y"}}, "neither a session nor a message"),
        ({"PK": {"S": "SESSION#x"}, "SK": {"S": "OTHER"}}, "neither a session nor a message"),
        (_session(PK={"S": "SESSION#" + "x" * 2041}), "PK is 2049 bytes long"),
        (_session(id={"S": "s-2"}), "the session's id 's-2' differs from its key's"),
        (_session(status={"S": "bogus"}), "attribute 'status': Input should be 'active'"),
        (_session(GSI1PK={"S": "USER#someone-else"}), "GSI1PK is 'USER#someone-else' where"),
        (_session(GSI1PK=None), "GSI1PK is 'nothing' where its fields say 'USER#u-1'"),
        (_session(GSI2SK={"S": "STATUS#paused"}), "GSI2SK is 'STATUS#paused'"),
        (_session(metadata={"S": '{"title": "\\ud800"}'}), "not valid unicode (a lone surrogate)"),
        (_session(userId={"S": "u" * 2044}, GSI1PK=None), "user id is 2044 bytes long"),
        (_session(messageCount={"N": "many"}), "messageCount is not a number: 'many'"),
        (_session(messageCount={"N": "NaN"}), "messageCount is not a finite number"),
        (_session(version={"X": "1"}), "version has the unknown type 'X'"),
        (_session(tags={"SS": []}), "tags is not a non-empty list of strings under 'SS'"),
        (_session(extra={"S": 1}), "extra holds a int under 'S'"),
        (_session(extra="text"), "extra is not a typed value"),
        (_session(deep=json.loads('{"L":[' * 40 + "]}" * 40)), "deeper than 32 levels"),
        (_session(blob={"S": "x" * 410_000}), "over DynamoDB's 409,600-byte item limit"),
        (_message(sessionId={"S": "s-2"}), "the message's sessionId 's-2' differs"),
        (_message(id={"S": "another"}), "the message's id 'another' differs from its key's"),
        (_message(createdAt={"S": "2026-11-24T13:08:54.000Z"}), "SK is 'MSG#2026-11-24T13:08"),
        (_message(role={"S": "robot"}), "attribute 'role': Input should be 'user'"),
        (_message(SK={"S": "MSG#nothing"}), "not a message sort key"),
    ],
)
def test_what_the_api_would_refuse_is_refused(item: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        check_item(item)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert "pydantic" not in str(refused.value)
