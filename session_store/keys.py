"""The table's key layout, in one place: small pure builders and parsers.

| entity  | PK                   | SK                              |
| ------- | -------------------- | ------------------------------- |
| session | ``SESSION#{id}``     | ``META``                        |
| message | ``SESSION#{sid}``    | ``MSG#{createdAt}#{messageId}`` |

GSI1 (user index): ``USER#{userId}`` / ``CREATED_AT#{createdAt}``.
GSI2 (agent index): ``AGENT#{activeAgentId}`` / ``STATUS#{status}``.
The applied migrations are recorded under ``SCHEMA#MIGRATIONS`` /
``MIGRATION#{name}``, a partition no session listing reads.
"""

from __future__ import annotations

import re
from datetime import datetime

from session_store._time import format_iso, from_epoch_seconds
from session_store.errors import ValidationError
from session_store.ids import ulid_instant

__all__ = [
    "AGENT_PREFIX",
    "CREATED_AT_PREFIX",
    "MESSAGE_PREFIX",
    "MESSAGE_SK_END",
    "META_SK",
    "MIGRATIONS_PK",
    "MIGRATION_PREFIX",
    "SESSION_PREFIX",
    "STATUS_PREFIX",
    "USER_PREFIX",
    "agent_gsi_pk",
    "check_agent_id",
    "check_message_id",
    "check_session_id",
    "check_user_id",
    "created_at_gsi_sk",
    "message_id_timestamp",
    "message_sk",
    "message_sk_after",
    "message_sk_before",
    "message_sk_for_id",
    "message_sk_of_iso",
    "migration_sk",
    "parse_message_sk",
    "parse_session_pk",
    "session_pk",
    "status_gsi_sk",
    "user_gsi_pk",
]

SESSION_PREFIX = "SESSION#"
META_SK = "META"
MESSAGE_PREFIX = "MSG#"
USER_PREFIX = "USER#"
CREATED_AT_PREFIX = "CREATED_AT#"
AGENT_PREFIX = "AGENT#"
STATUS_PREFIX = "STATUS#"
MIGRATIONS_PK = "SCHEMA#MIGRATIONS"
MIGRATION_PREFIX = "MIGRATION#"

# DynamoDB's key limits, in UTF-8 bytes: 2048 for a partition key, 1024 for a sort key.
_PARTITION_KEY_MAX_BYTES = 2048
_SORT_KEY_MAX_BYTES = 1024
_ISO_LENGTH = len("2026-11-24T13:08:53.123Z")
MAX_SESSION_ID_BYTES = _PARTITION_KEY_MAX_BYTES - len(SESSION_PREFIX)
MAX_MESSAGE_ID_BYTES = _SORT_KEY_MAX_BYTES - len(MESSAGE_PREFIX) - _ISO_LENGTH - 1
MAX_USER_ID_BYTES = _PARTITION_KEY_MAX_BYTES - len(USER_PREFIX)
MAX_AGENT_ID_BYTES = _PARTITION_KEY_MAX_BYTES - len(AGENT_PREFIX)

# Ids written by the TypeScript adapter: <15-digit epoch ms>-<6-digit counter>-<uuid>.
_REFERENCE_ID = re.compile(r"^(\d{15})-\d{6}-")
_ULID_LENGTH = 26


def _check_id(kind: str, value: object, max_bytes: int) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{kind} must be a string, got {type(value).__name__}")
    if not value:
        raise ValidationError(f"{kind} must not be empty")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError(f"{kind} is not valid unicode (lone surrogate)") from None
    if size > max_bytes:
        raise ValidationError(
            f"{kind} is {size} bytes long; DynamoDB's key limit leaves at most {max_bytes}"
        )
    return value


def check_session_id(session_id: object) -> str:
    """The id, if it can be a session id; ``ValidationError`` otherwise."""
    return _check_id("session id", session_id, MAX_SESSION_ID_BYTES)


def check_message_id(message_id: object) -> str:
    """The id, if it can be a message id; ``ValidationError`` otherwise."""
    return _check_id("message id", message_id, MAX_MESSAGE_ID_BYTES)


def check_user_id(user_id: object) -> str:
    return _check_id("user id", user_id, MAX_USER_ID_BYTES)


def check_agent_id(agent_id: object) -> str:
    return _check_id("agent id", agent_id, MAX_AGENT_ID_BYTES)


def session_pk(session_id: str) -> str:
    return f"{SESSION_PREFIX}{session_id}"


def parse_session_pk(pk: str) -> str:
    """The session id inside a ``SESSION#{id}`` partition key."""
    if not pk.startswith(SESSION_PREFIX) or pk == SESSION_PREFIX:
        raise ValueError(f"not a session partition key: {pk!r}")
    return pk[len(SESSION_PREFIX) :]


def message_sk(created_at: datetime, message_id: str) -> str:
    return message_sk_of_iso(format_iso(created_at), message_id)


def message_sk_of_iso(created_at: str, message_id: str) -> str:
    """``message_sk`` of an instant already formatted (``format_iso``)."""
    return f"{MESSAGE_PREFIX}{created_at}#{message_id}"


def parse_message_sk(sk: str) -> tuple[str, str]:
    """``(createdAt ISO, message id)`` from ``MSG#{createdAt}#{id}``."""
    if not sk.startswith(MESSAGE_PREFIX):
        raise ValueError(f"not a message sort key: {sk!r}")
    created_at, sep, message_id = sk[len(MESSAGE_PREFIX) :].partition("#")
    if not sep or not message_id:
        raise ValueError(f"not a message sort key: {sk!r}")
    return created_at, message_id


def message_sk_after(instant: datetime) -> str:
    """Lower bound for "created strictly after ``instant``".

    ``$`` sorts right after ``#``, so every key of a later instant is at or
    above ``MSG#{iso}$`` and every key of ``instant`` itself is below it.
    """
    return f"{MESSAGE_PREFIX}{format_iso(instant)}$"


def message_sk_before(instant: datetime) -> str:
    """Upper bound for "created strictly before ``instant``" (no real key equals it)."""
    return f"{MESSAGE_PREFIX}{format_iso(instant)}#"


MESSAGE_SK_END = "MSG$"
"""Above every message sort key: ``$`` follows ``#``."""


def message_id_timestamp(message_id: str) -> datetime | None:
    """The creation instant encoded in a message id, if it encodes one.

    ULIDs carry their millisecond timestamp; ids written by the TypeScript
    adapter start with 15 digits of epoch milliseconds. Anything else (a bare
    uuid, say) gives ``None``.
    """
    if len(message_id) == _ULID_LENGTH:
        return ulid_instant(message_id)
    match = _REFERENCE_ID.match(message_id)
    if match:
        millis = int(match.group(1))
        try:
            return from_epoch_seconds(millis // 1000).replace(microsecond=(millis % 1000) * 1000)
        except (ValueError, OverflowError):
            return None  # digits past year 9999: not a timestamp after all
    return None


def message_sk_for_id(message_id: str) -> str | None:
    """The sort key of a message, derived from its id alone (no listing)."""
    created_at = message_id_timestamp(message_id)
    return None if created_at is None else message_sk(created_at, message_id)


def user_gsi_pk(user_id: str) -> str:
    return f"{USER_PREFIX}{user_id}"


def created_at_gsi_sk(created_at: datetime) -> str:
    return f"{CREATED_AT_PREFIX}{format_iso(created_at)}"


def agent_gsi_pk(agent_id: str) -> str:
    return f"{AGENT_PREFIX}{agent_id}"


def status_gsi_sk(status: str) -> str:
    return f"{STATUS_PREFIX}{status}"


def migration_sk(name: str) -> str:
    return f"{MIGRATION_PREFIX}{name}"
