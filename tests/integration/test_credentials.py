"""Credentials never leak: not in reprs, errors, our logs or the command line's output.

The adapter never holds credentials itself: botocore resolves them from the
standard AWS chain (here: the environment). These tests put recognisable
canary credentials in that chain, drive the adapter through successes,
expected errors, retried and exhausted faults, health and migrations, and the
command line with ``--verbose``, then look for the canaries in everything a
user could print or log. (botocore's own DEBUG logging does print signed
request headers, a session token included: the README says to keep the
``botocore`` logger above DEBUG in production.)
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from session_store import (
    AsyncDynamoDBAdapter,
    ConcurrencyError,
    DynamoDBAdapter,
    SessionError,
    SessionNotFoundError,
    StorageError,
    ValidationError,
)
from session_store.cli import Output, Settings
from session_store.cli import commands as cli
from session_store.cli.config import describe_error
from session_store.testing.backends import Backend, unique_table_name
from tests.faults import INTERNAL_ERROR, FaultPlan, fail, inject

ACCESS_KEY_ID = "AKIACANARYC4N4RY0001"
SECRET_ACCESS_KEY = "canary/Secret+Access+Key/0123456789abcdefCANARY"
SESSION_TOKEN = "canary-session-token-FQoGZXIvYXdzEC4NARY"
CANARIES = (ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN)

# Libraries below us log signed requests at DEBUG; their records are theirs.
THIRD_PARTY_LOGGERS = (
    "botocore",
    "boto3",
    "urllib3",
    "s3transfer",
    "pynamodb",
    "werkzeug",
    "moto",
)


class Records(logging.Handler):
    """Every record of our own loggers, formatted with its exception, at any level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(THIRD_PARTY_LOGGERS):
            self.lines.append(self.format(record))


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@pytest.fixture
def canary_adapter(
    records: Records, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DynamoDBAdapter]:
    """An adapter on a fresh, migrated table whose client resolved the canary credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    config = backend.table_config(unique_table_name("canary"))
    with DynamoDBAdapter(
        config.table_name, region=config.region, endpoint_url=config.endpoint_url
    ) as made:
        signer: Any = made.models.client._request_signer  # type: ignore[attr-defined]
        credentials = signer._credentials
        assert credentials.access_key == ACCESS_KEY_ID  # the canaries are really in use
        made.migrate()
        yield made


def leaks(text: str) -> list[str]:
    return [canary for canary in CANARIES if canary in text]


def described(error: BaseException) -> str:
    """Everything a handler might print of an error: str, repr, args, the cause chain."""
    return "\n".join(
        [str(error), repr(error), repr(error.args), *traceback.format_exception(error)]
    )


def test_credentials_appear_in_no_repr_error_or_log(
    canary_adapter: DynamoDBAdapter, records: Records
) -> None:
    adapter = canary_adapter
    seen: list[str] = [repr(adapter), repr(adapter.config), repr(adapter.models)]
    errors: list[SessionError] = []

    session = adapter.create_session({"status": "active", "user_id": "u-1"})
    adapter.add_message(session.id, {"role": "user", "content": "hello", "token_count": 2})
    adapter.update_session(session.id, {"status": "paused"}, expected_version=2)
    seen.append(adapter.health().model_dump_json())

    with pytest.raises(ConcurrencyError) as stale:
        adapter.update_session(session.id, {"status": "active"}, expected_version=1)
    errors.append(stale.value)
    with pytest.raises(SessionNotFoundError) as missing:
        adapter.add_message("no-such-session", {"role": "user", "content": "x"})
    errors.append(missing.value)
    with pytest.raises(ValidationError) as invalid:
        adapter.list_sessions_page({}, cursor="not-a-cursor")
    errors.append(invalid.value)
    # Retried, then given up: the StorageError keeps botocore's error as its cause.
    plan = FaultPlan(fail("GetItem", with_=INTERNAL_ERROR, times=None))
    with inject(adapter, plan), pytest.raises(StorageError) as exhausted:
        adapter.get_session(session.id)
    assert exhausted.value.__cause__ is not None
    errors.append(exhausted.value)

    async_adapter = AsyncDynamoDBAdapter.from_sync(adapter)
    seen.append(repr(async_adapter))
    seen.extend(described(error) for error in errors)

    assert records.lines, "the migrations log what they apply: the handler sees our loggers"
    everything = "\n".join([*seen, *records.lines])
    assert leaks(everything) == []


def test_credentials_appear_nowhere_in_verbose_command_output(
    canary_adapter: DynamoDBAdapter, records: Records
) -> None:
    config = canary_adapter.config
    settings = Settings(
        table=config.table_name,
        endpoint_url=config.endpoint_url,
        region=config.region,
        verbose=True,
    )
    session = canary_adapter.create_session({"status": "active", "user_id": "u-1"})
    canary_adapter.add_message(session.id, {"role": "user", "content": "hi"})
    out = Output.capture()
    assert cli.sessions_show(settings, out, session.id, messages=5) == 0
    assert cli.sessions_list(settings, out, user="u-1") == 0
    assert cli.health(settings, out) == 0
    with pytest.raises(SessionNotFoundError) as missing:
        cli.sessions_show(settings, out, "no-such-session")
    message = describe_error(missing.value, settings)  # the one line the command prints
    assert message is not None
    printed = "\n".join([out.text(), out.errors(), message])
    assert "dynamodb #1 GetItem" in printed  # verbose really printed the requests
    assert leaks(printed + "\n".join(records.lines)) == []
