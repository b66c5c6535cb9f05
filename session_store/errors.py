"""One error hierarchy.

``SessionError`` is the root; every error has a ``code`` and a readable message.
Unexpected DynamoDB failures become ``StorageError`` (or one of its subclasses)
with the original exception as ``__cause__``; the one map from DynamoDB's
failures onto these classes is ``session_store.gateway.translate``.
"""

from __future__ import annotations

__all__ = [
    "ConcurrencyError",
    "CredentialsMissingError",
    "EndpointUnreachableError",
    "MessageNotFoundError",
    "SessionError",
    "SessionExistsError",
    "SessionNotFoundError",
    "StorageError",
    "TableNotFoundError",
    "UnreadableItemError",
    "ValidationError",
]


class SessionError(Exception):
    """Root of every error this package raises."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class ValidationError(SessionError, ValueError):
    """Bad input, raised before any request is sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "VALIDATION_ERROR")


class ConcurrencyError(SessionError):
    """An ``expected_version`` did not match the stored version."""

    def __init__(self, session_id: str, expected_version: int, actual_version: int | None) -> None:
        actual = "no session" if actual_version is None else f"version {actual_version}"
        super().__init__(
            f"session {session_id!r}: expected version {expected_version}, found {actual}",
            "CONCURRENCY_CONFLICT",
        )
        self.session_id = session_id
        self.expected_version = expected_version
        self.actual_version = actual_version


class StorageError(SessionError):
    """A DynamoDB request failed; the original exception is ``__cause__``."""

    def __init__(
        self, message: str, *, adapter: str = "dynamodb", code: str = "STORAGE_ERROR"
    ) -> None:
        super().__init__(message, code)
        self.adapter = adapter


class TableNotFoundError(StorageError):
    """The table (or an index of it) does not exist where the adapter looks for it.

    The message names the table, the region and the endpoint, so a wrong
    region or a missing ``--endpoint-url`` is visible at once.
    """

    def __init__(
        self,
        message: str,
        *,
        table_name: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        super().__init__(message, code="TABLE_NOT_FOUND")
        self.table_name = table_name
        self.region = region
        self.endpoint_url = endpoint_url


class EndpointUnreachableError(StorageError):
    """No connection could be made to the DynamoDB endpoint (after botocore's retries)."""

    def __init__(self, message: str, *, endpoint_url: str | None = None) -> None:
        super().__init__(message, code="ENDPOINT_UNREACHABLE")
        self.endpoint_url = endpoint_url


class CredentialsMissingError(StorageError):
    """The AWS credential chain found no (or partial) credentials."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="NO_CREDENTIALS")


class UnreadableItemError(StorageError):
    """A stored item cannot be decoded. Names its key and the attribute; the item is left
    in the table as it is."""

    def __init__(self, message: str, *, key: str = "?", attribute: str = "?") -> None:
        super().__init__(message, code="UNREADABLE_ITEM")
        self.key = key
        self.attribute = attribute


class SessionNotFoundError(StorageError):
    """No live session has this id."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id!r} not found", code="SESSION_NOT_FOUND")
        self.session_id = session_id


class MessageNotFoundError(StorageError):
    """The session has no message with this id."""

    def __init__(self, session_id: str, message_id: str) -> None:
        super().__init__(
            f"message {message_id!r} not found in session {session_id!r}",
            code="MESSAGE_NOT_FOUND",
        )
        self.session_id = session_id
        self.message_id = message_id


class SessionExistsError(StorageError):
    """``create_session`` was given the id of a session that already exists."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id!r} already exists", code="SESSION_EXISTS")
        self.session_id = session_id
