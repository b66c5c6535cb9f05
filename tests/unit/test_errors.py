"""The error hierarchy (SPEC §4)."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from session_store.errors import (
    ConcurrencyError,
    CredentialsMissingError,
    EndpointUnreachableError,
    MessageNotFoundError,
    SessionError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
    TableNotFoundError,
    ValidationError,
)
from session_store.gateway import ConditionFailed, Location, aws_code, translate


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (SessionError("boom", "SOME_CODE"), "SOME_CODE", "boom"),
        (
            SessionNotFoundError("s1"),
            "SESSION_NOT_FOUND",
            "session 's1' not found",
        ),
        (
            MessageNotFoundError("s1", "m1"),
            "MESSAGE_NOT_FOUND",
            "message 'm1' not found in session 's1'",
        ),
        (
            SessionExistsError("s1"),
            "SESSION_EXISTS",
            "session 's1' already exists",
        ),
        (
            ConcurrencyError("s1", 3, 4),
            "CONCURRENCY_CONFLICT",
            "session 's1': expected version 3, found version 4",
        ),
        (
            ConcurrencyError("s1", 3, None),
            "CONCURRENCY_CONFLICT",
            "session 's1': expected version 3, found no session",
        ),
        (
            ConcurrencyError("s1", 0, 0),
            "CONCURRENCY_CONFLICT",
            "session 's1': expected version 0, found version 0",
        ),
        (ValidationError("limit must be >= 0"), "VALIDATION_ERROR", "limit must be >= 0"),
        (StorageError("table is gone"), "STORAGE_ERROR", "table is gone"),
    ],
)
def test_code_and_message(error: SessionError, code: str, message: str) -> None:
    assert error.code == code
    assert error.message == message
    assert str(error) == message
    assert error.args == (message,)
    assert repr(error) == f"{type(error).__name__}({message!r}, code={code!r})"


@pytest.mark.parametrize(
    ("error", "attributes"),
    [
        (SessionNotFoundError("s1"), {"session_id": "s1", "adapter": "dynamodb"}),
        (
            MessageNotFoundError("s1", "m1"),
            {"session_id": "s1", "message_id": "m1", "adapter": "dynamodb"},
        ),
        (SessionExistsError("s1"), {"session_id": "s1", "adapter": "dynamodb"}),
        (
            ConcurrencyError("s1", 3, 4),
            {"session_id": "s1", "expected_version": 3, "actual_version": 4},
        ),
        (
            ConcurrencyError("s1", 3, None),
            {"session_id": "s1", "expected_version": 3, "actual_version": None},
        ),
        (StorageError("x"), {"adapter": "dynamodb"}),
        (StorageError("x", adapter="memory"), {"adapter": "memory"}),
    ],
)
def test_attributes(error: SessionError, attributes: dict[str, object]) -> None:
    for name, value in attributes.items():
        assert getattr(error, name) == value


@pytest.mark.parametrize(
    ("error_type", "bases", "not_bases"),
    [
        (SessionError, (Exception,), (StorageError, ValueError)),
        (StorageError, (SessionError,), (ValueError,)),
        (SessionNotFoundError, (StorageError, SessionError), (ValueError,)),
        (MessageNotFoundError, (StorageError, SessionError), (ValueError,)),
        (SessionExistsError, (StorageError, SessionError), (ValueError,)),
        (ConcurrencyError, (SessionError,), (StorageError, ValueError)),
        (ValidationError, (SessionError, ValueError), (StorageError,)),
    ],
)
def test_hierarchy(
    error_type: type[SessionError],
    bases: tuple[type[Exception], ...],
    not_bases: tuple[type[Exception], ...],
) -> None:
    for base in bases:
        assert issubclass(error_type, base)
    for base in not_bases:
        assert not issubclass(error_type, base)


def test_not_found_is_caught_as_storage_error() -> None:
    with pytest.raises(StorageError) as raised:
        raise SessionNotFoundError("s1")
    assert raised.value.code == "SESSION_NOT_FOUND"


def test_validation_error_is_caught_as_value_error() -> None:
    with pytest.raises(ValueError, match="bad input"):
        raise ValidationError("bad input")


def call_dynamodb(cause: Exception) -> None:
    """Wraps a low-level failure the way the adapter does."""
    try:
        raise cause
    except Exception as error:
        raise StorageError("DynamoDB request failed") from error


def test_storage_error_keeps_its_cause() -> None:
    cause = ConnectionError("connection reset")
    with pytest.raises(StorageError) as raised:
        call_dynamodb(cause)
    assert raised.value.__cause__ is cause
    assert raised.value.__suppress_context__
    assert raised.value.code == "STORAGE_ERROR"


def test_subclass_error_keeps_its_cause() -> None:
    cause = RuntimeError("ConditionalCheckFailed")
    with pytest.raises(SessionError) as raised:
        raise SessionExistsError("s1") from cause
    assert raised.value.__cause__ is cause
    assert isinstance(raised.value, StorageError)


# --- mapping DynamoDB failures ----------------------------------------------


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "PutItem")


WHERE = Location("t", "us-east-1", "http://localhost:8000")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (
            client_error("ProvisionedThroughputExceededException", "slow down"),
            "ProvisionedThroughputExceededException",
        ),
        (client_error("ResourceNotFoundException", "no table"), "ResourceNotFoundException"),
        (ConnectionError("reset"), None),
    ],
)
def test_the_aws_code_stays_reachable(exc: BaseException, code: str | None) -> None:
    with pytest.raises(SessionError) as raised:
        raise translate(exc, "put_item", WHERE) from exc
    assert aws_code(raised.value) == code
    assert raised.value.__cause__ is exc


@pytest.mark.parametrize(
    ("exc", "kind", "fragments"),
    [
        (
            client_error("InternalServerError", "try again"),
            StorageError,
            ["put_item failed", "InternalServerError", "try again"],
        ),
        (
            client_error("ResourceNotFoundException", "Requested resource not found"),
            TableNotFoundError,
            ["put_item failed", "'t'", "us-east-1", "http://localhost:8000", "does not exist"],
        ),
        (client_error("ConditionalCheckFailedException", "no"), ConditionFailed, []),
        (
            EndpointConnectionError(endpoint_url="http://localhost:8000"),
            EndpointUnreachableError,
            ["cannot reach DynamoDB at http://localhost:8000"],
        ),
        (NoCredentialsError(), CredentialsMissingError, ["no AWS credentials found"]),
        (NoRegionError(), ValidationError, ["no AWS region", "AWS_REGION"]),
        (ConnectionError("connection reset"), StorageError, ["put_item failed", "reset"]),
    ],
)
def test_one_map_from_dynamodb_failures(
    exc: BaseException, kind: type[SessionError], fragments: list[str]
) -> None:
    error = translate(exc, "put_item", WHERE)
    assert type(error) is kind
    for fragment in fragments:
        assert fragment in error.message
    if isinstance(error, StorageError):
        assert error.adapter == "dynamodb"
    if isinstance(error, TableNotFoundError):
        assert (error.table_name, error.region, error.endpoint_url) == (
            "t",
            "us-east-1",
            "http://localhost:8000",
        )
