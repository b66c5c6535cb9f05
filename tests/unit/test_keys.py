"""The key layout (SPEC §1): builders, parsers, bounds and id checks in ``keys.py``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from ulid import ULID

from session_store import keys
from session_store.errors import ValidationError
from session_store.keys import (
    MESSAGE_SK_END,
    META_SK,
    MIGRATIONS_PK,
    agent_gsi_pk,
    check_agent_id,
    check_message_id,
    check_session_id,
    check_user_id,
    created_at_gsi_sk,
    message_id_timestamp,
    message_sk,
    message_sk_after,
    message_sk_before,
    message_sk_for_id,
    migration_sk,
    parse_message_sk,
    parse_session_pk,
    session_pk,
    status_gsi_sk,
    user_gsi_pk,
)

INSTANT = datetime(2026, 11, 24, 13, 8, 53, 123000, tzinfo=UTC)
REFERENCE_ID = "001795526002316-000000-ae79f939-b1ef-4f00-b773-5290f876e515"
REFERENCE_INSTANT = datetime(2026, 11, 24, 13, 13, 22, 316000, tzinfo=UTC)

Checker = Callable[[object], str]


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def dynamodb_order(text: str) -> bytes:
    """DynamoDB compares string keys by their UTF-8 bytes."""
    return text.encode("utf-8")


# --- constants ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("constant", "expected"),
    [
        (keys.SESSION_PREFIX, "SESSION#"),
        (keys.META_SK, "META"),
        (keys.MESSAGE_PREFIX, "MSG#"),
        (keys.USER_PREFIX, "USER#"),
        (keys.CREATED_AT_PREFIX, "CREATED_AT#"),
        (keys.AGENT_PREFIX, "AGENT#"),
        (keys.STATUS_PREFIX, "STATUS#"),
        (keys.MIGRATIONS_PK, "SCHEMA#MIGRATIONS"),
        (keys.MIGRATION_PREFIX, "MIGRATION#"),
        (keys.MESSAGE_SK_END, "MSG$"),
    ],
)
def test_prefixes_are_the_contract(constant: str, expected: str) -> None:
    assert constant == expected


def test_migration_partition_is_not_a_session_partition() -> None:
    assert not MIGRATIONS_PK.startswith(keys.SESSION_PREFIX)
    assert migration_sk("0001_initial") == "MIGRATION#0001_initial"


# --- session partition key ----------------------------------------------------


@pytest.mark.parametrize(
    ("session_id", "pk"),
    [
        ("s1", "SESSION#s1"),
        ("ae79f939-b1ef-4f00-b773-5290f876e515", "SESSION#ae79f939-b1ef-4f00-b773-5290f876e515"),
        ("a#b#c", "SESSION#a#b#c"),
        ("SESSION#nested", "SESSION#SESSION#nested"),
        ("héllo wörld", "SESSION#héllo wörld"),
        ("会话-🧵", "SESSION#会话-🧵"),
        (" ", "SESSION# "),
    ],
)
def test_session_pk_round_trip(session_id: str, pk: str) -> None:
    assert session_pk(session_id) == pk
    assert parse_session_pk(pk) == session_id


@pytest.mark.parametrize("pk", ["USER#u1", "session#s1", "SESSION", "", "META", " SESSION#s1"])
def test_parse_session_pk_rejects_other_keys(pk: str) -> None:
    with pytest.raises(ValueError, match="not a session partition key"):
        parse_session_pk(pk)


def test_session_meta_sort_key() -> None:
    assert META_SK == "META"
    # META sorts before every message key, so a MSG# range never reads it.
    assert dynamodb_order(META_SK) < dynamodb_order(keys.MESSAGE_PREFIX)


# --- message sort key ---------------------------------------------------------


@pytest.mark.parametrize(
    ("created_at", "message_id", "sk"),
    [
        (
            INSTANT,
            "01M86V11MCA50B783C2KESVEV3",
            "MSG#2026-11-24T13:08:53.123Z#01M86V11MCA50B783C2KESVEV3",
        ),
        (INSTANT, REFERENCE_ID, f"MSG#2026-11-24T13:08:53.123Z#{REFERENCE_ID}"),
        (INSTANT, "a#b", "MSG#2026-11-24T13:08:53.123Z#a#b"),
        (INSTANT, "#", "MSG#2026-11-24T13:08:53.123Z##"),
        (INSTANT, "x#", "MSG#2026-11-24T13:08:53.123Z#x#"),
        (
            INSTANT,
            "MSG#2020-01-01T00:00:00.000Z#y",
            "MSG#2026-11-24T13:08:53.123Z#MSG#2020-01-01T00:00:00.000Z#y",
        ),
        (INSTANT, "ünïcødé-消息-🙂", "MSG#2026-11-24T13:08:53.123Z#ünïcødé-消息-🙂"),
        # microseconds are truncated, never rounded up
        (
            datetime(2026, 11, 24, 13, 8, 53, 123999, tzinfo=UTC),
            "m",
            "MSG#2026-11-24T13:08:53.123Z#m",
        ),
        # other offsets are converted to UTC
        (
            datetime(
                2026, 11, 24, 18, 38, 53, 123000, tzinfo=timezone(timedelta(hours=5, minutes=30))
            ),
            "m",
            "MSG#2026-11-24T13:08:53.123Z#m",
        ),
        (
            datetime(2026, 11, 23, 21, 0, tzinfo=timezone(timedelta(hours=-8))),
            "m",
            "MSG#2026-11-24T05:00:00.000Z#m",
        ),
    ],
)
def test_message_sk_round_trip(created_at: datetime, message_id: str, sk: str) -> None:
    assert message_sk(created_at, message_id) == sk
    iso, parsed_id = parse_message_sk(sk)
    assert parsed_id == message_id
    assert iso == sk[len("MSG#") : len("MSG#") + len("2026-11-24T13:08:53.123Z")]


def test_message_sk_refuses_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        message_sk(datetime(2026, 11, 24, 13, 8, 53), "m")


@pytest.mark.parametrize(
    "sk",
    [
        "META",
        "",
        "MSG#",
        "MSG#2026-11-24T13:08:53.123Z",
        "MSG#2026-11-24T13:08:53.123Z#",
        "msg#2026-11-24T13:08:53.123Z#m",
        "SESSION#s1",
        "MSG$",
    ],
)
def test_parse_message_sk_rejects_non_message_keys(sk: str) -> None:
    with pytest.raises(ValueError, match="not a message sort key"):
        parse_message_sk(sk)


# --- GSI keys -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [("u1", "USER#u1"), ("a#b", "USER#a#b"), ("ユーザー", "USER#ユーザー")],
)
def test_user_gsi_pk(user_id: str, expected: str) -> None:
    assert user_gsi_pk(user_id) == expected


@pytest.mark.parametrize(
    ("agent_id", "expected"),
    [("agent-1", "AGENT#agent-1"), ("a#b", "AGENT#a#b"), ("🤖", "AGENT#🤖")],
)
def test_agent_gsi_pk(agent_id: str, expected: str) -> None:
    assert agent_gsi_pk(agent_id) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", "STATUS#active"),
        ("paused", "STATUS#paused"),
        ("completed", "STATUS#completed"),
        ("expired", "STATUS#expired"),
    ],
)
def test_status_gsi_sk(status: str, expected: str) -> None:
    assert status_gsi_sk(status) == expected


def test_status_gsi_sk_takes_the_enum_value() -> None:
    from session_store.domain import SessionStatus

    assert status_gsi_sk(SessionStatus.PAUSED) == "STATUS#paused"


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        (INSTANT, "CREATED_AT#2026-11-24T13:08:53.123Z"),
        (
            datetime(2026, 11, 24, 13, 8, 53, 999999, tzinfo=UTC),
            "CREATED_AT#2026-11-24T13:08:53.999Z",
        ),
        (datetime(1970, 1, 1, tzinfo=UTC), "CREATED_AT#1970-01-01T00:00:00.000Z"),
        (
            datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
            "CREATED_AT#2025-12-31T23:30:00.000Z",
        ),
    ],
)
def test_created_at_gsi_sk(created_at: datetime, expected: str) -> None:
    assert created_at_gsi_sk(created_at) == expected


def test_created_at_gsi_sk_sorts_chronologically() -> None:
    instants = [
        INSTANT + timedelta(milliseconds=step) for step in (-86_400_000, -1, 0, 1, 999, 1000)
    ]
    built = [created_at_gsi_sk(instant) for instant in instants]
    assert sorted(built, key=dynamodb_order) == built


# --- strict bounds ------------------------------------------------------------

SAME_INSTANT_IDS = [
    "01M86V11MCA50B783C2KESVEV3",
    "#",
    "##",
    "!bang",
    " space",
    "$dollar",
    "a#b",
    "~tilde",
    "zzz",
    "ünïcødé",
    "🙂",
    "\x7f",
]


def test_sk_bounds_are_the_contract() -> None:
    assert message_sk_after(INSTANT) == "MSG#2026-11-24T13:08:53.123Z$"
    assert message_sk_before(INSTANT) == "MSG#2026-11-24T13:08:53.123Z#"
    # '$' comes right after '#': nothing of the same instant can sit between them.
    assert ord("$") == ord("#") + 1


@pytest.mark.parametrize(
    "instant",
    [
        INSTANT,
        datetime(2026, 11, 24, 13, 8, 53, 123456, tzinfo=UTC),  # truncated to the same ms
        datetime(2026, 11, 24, 14, 8, 53, 123000, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_sk_bounds_are_strict(instant: datetime) -> None:
    """Sort real keys: keys of the bound's own millisecond are excluded from both sides."""
    earlier = [
        message_sk(INSTANT - timedelta(days=400), "old"),
        message_sk(INSTANT - timedelta(seconds=1), "~z"),
        message_sk(INSTANT - timedelta(milliseconds=1), "🙂"),
        message_sk(INSTANT - timedelta(milliseconds=1), "$"),
    ]
    same = [message_sk(INSTANT, message_id) for message_id in SAME_INSTANT_IDS]
    later = [
        message_sk(INSTANT + timedelta(milliseconds=1), "!"),
        message_sk(INSTANT + timedelta(milliseconds=1), "#"),
        message_sk(INSTANT + timedelta(seconds=1), " "),
        message_sk(INSTANT + timedelta(days=400), "new"),
    ]
    every = sorted(earlier + same + later, key=dynamodb_order)

    after = dynamodb_order(message_sk_after(instant))
    before = dynamodb_order(message_sk_before(instant))

    # SK > :after  (and, equivalently here, SK >= :after: no key equals the bound)
    assert [k for k in every if dynamodb_order(k) > after] == sorted(later, key=dynamodb_order)
    assert [k for k in every if dynamodb_order(k) >= after] == sorted(later, key=dynamodb_order)
    # SK < :before (and SK <= :before)
    assert [k for k in every if dynamodb_order(k) < before] == sorted(earlier, key=dynamodb_order)
    assert [k for k in every if dynamodb_order(k) <= before] == sorted(earlier, key=dynamodb_order)
    # the instant's own keys sit strictly between the two bounds
    assert [k for k in every if before < dynamodb_order(k) < after] == sorted(
        same, key=dynamodb_order
    )


def test_sk_bounds_select_a_window() -> None:
    """``after(a)`` .. ``before(b)`` is the open interval (a, b) at millisecond precision."""
    start = INSTANT
    built = {
        step: message_sk(start + timedelta(milliseconds=step), f"id{step}") for step in range(-2, 8)
    }
    low = dynamodb_order(message_sk_after(start))
    high = dynamodb_order(message_sk_before(start + timedelta(milliseconds=5)))
    selected = [step for step, key in built.items() if low < dynamodb_order(key) < high]
    assert selected == [1, 2, 3, 4]


def test_message_range_is_bounded_by_msg_prefix_and_end() -> None:
    samples = [
        message_sk(datetime(1970, 1, 1, tzinfo=UTC), "!"),
        message_sk(INSTANT, "\U0010ffff"),
        message_sk(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "\U0010ffff" * 3),
    ]
    for key in samples:
        assert dynamodb_order("MSG#") < dynamodb_order(key) < dynamodb_order(MESSAGE_SK_END)
    assert dynamodb_order(META_SK) < dynamodb_order("MSG#")
    assert dynamodb_order(message_sk_after(datetime(9999, 12, 31, tzinfo=UTC))) < dynamodb_order(
        MESSAGE_SK_END
    )


def test_sk_bounds_refuse_naive_datetimes() -> None:
    naive = datetime(2026, 11, 24, 13, 8, 53)
    with pytest.raises(ValueError, match="timezone-aware"):
        message_sk_after(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        message_sk_before(naive)


# --- timestamps from message ids ----------------------------------------------

KNOWN_ULID_INSTANTS = [
    datetime(2026, 11, 24, 13, 13, 22, 316000, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2000, 2, 29, 23, 59, 59, 999000, tzinfo=UTC),
    datetime(2099, 1, 1, 0, 0, 0, 1000, tzinfo=UTC),
]


@pytest.mark.parametrize("instant", KNOWN_ULID_INSTANTS)
def test_message_id_timestamp_of_a_ulid(instant: datetime) -> None:
    message_id = str(ULID.from_datetime(instant))
    assert len(message_id) == 26
    assert message_id_timestamp(message_id) == instant
    assert message_sk_for_id(message_id) == message_sk(instant, message_id)


def test_message_id_timestamp_of_a_fixed_ulid() -> None:
    assert message_id_timestamp("01M86V11MCA50B783C2KESVEV3") == REFERENCE_INSTANT
    assert str(ULID.from_timestamp(REFERENCE_INSTANT.timestamp()))[:10] == "01M86V11MC"


@pytest.mark.parametrize(
    ("message_id", "expected"),
    [
        (REFERENCE_ID, REFERENCE_INSTANT),
        (
            "001795526002316-000041-00000000-0000-0000-0000-000000000000",
            REFERENCE_INSTANT,
        ),
        (
            "000000000000000-000000-ae79f939-b1ef-4f00-b773-5290f876e515",
            datetime(1970, 1, 1, tzinfo=UTC),
        ),
        (
            "000000000000999-000000-ae79f939-b1ef-4f00-b773-5290f876e515",
            datetime(1970, 1, 1, 0, 0, 0, 999000, tzinfo=UTC),
        ),
        (
            "001704067200000-123456-ae79f939-b1ef-4f00-b773-5290f876e515",
            datetime(2024, 1, 1, tzinfo=UTC),
        ),
    ],
)
def test_message_id_timestamp_of_a_reference_id(message_id: str, expected: datetime) -> None:
    assert message_id_timestamp(message_id) == expected
    assert message_sk_for_id(message_id) == message_sk(expected, message_id)


def test_reference_id_sort_key_is_the_iso_of_its_prefix() -> None:
    assert message_sk_for_id(REFERENCE_ID) == f"MSG#2026-11-24T13:13:22.316Z#{REFERENCE_ID}"


@pytest.mark.parametrize(
    "message_id",
    [
        "ae79f939-b1ef-4f00-b773-5290f876e515",  # bare uuid
        "AE79F939B1EF4F00B7735290F876E515",  # uuid hex
        "garbage",
        "",
        "this-is-not-a-ulid-at-all!",  # 26 chars
        "01ARZ3NDEKTSV4RRFFQ69G5FAU",  # 26 chars, 'U' is not Crockford base32
        "01ARZ3NDEKTSV4RRFFQ69G5FA",  # 25 chars
        "01ARZ3NDEKTSV4RRFFQ69G5FAVV",  # 27 chars
        "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",  # 26 chars, timestamp overflows 48 bits
        "1795526002316-000000-ae79f939-b1ef-4f00-b773-5290f876e515",  # 13 digits
        "001795526002316-00000-ae79f939-b1ef-4f00-b773-5290f876e515",  # 5-digit counter
        "001795526002316_000000_ae79f939",  # wrong separators
        "x001795526002316-000000-ae79f939",
    ],
)
def test_message_id_timestamp_none_for_other_ids(message_id: str) -> None:
    assert message_id_timestamp(message_id) is None
    assert message_sk_for_id(message_id) is None


# --- id checks ----------------------------------------------------------------

# (checker, kind named in the message, limit in UTF-8 bytes: key limit minus prefix)
CHECKERS = [
    pytest.param(check_session_id, "session id", 2048 - len("SESSION#"), id="session"),
    pytest.param(
        check_message_id,
        "message id",
        1024 - len("MSG#") - len("2026-11-24T13:08:53.123Z") - len("#"),
        id="message",
    ),
    pytest.param(check_user_id, "user id", 2048 - len("USER#"), id="user"),
    pytest.param(check_agent_id, "agent id", 2048 - len("AGENT#"), id="agent"),
]


def test_limits_are_dynamodb_key_limits() -> None:
    assert keys.MAX_SESSION_ID_BYTES == 2040
    assert keys.MAX_MESSAGE_ID_BYTES == 995
    assert keys.MAX_USER_ID_BYTES == 2043
    assert keys.MAX_AGENT_ID_BYTES == 2042


def fill(limit: int, unit: str, extra: int) -> str:
    """A string of ``limit + extra`` UTF-8 bytes made mostly of ``unit``, ASCII-padded."""
    size = utf8_len(unit)
    count = (limit + extra) // size
    text = unit * count + "a" * ((limit + extra) - count * size)
    assert utf8_len(text) == limit + extra
    return text


@pytest.mark.parametrize(
    "checker", [check_session_id, check_message_id, check_user_id, check_agent_id]
)
@pytest.mark.parametrize(
    "value",
    ["x", "a#b", "ünïcødé", "🙂", " ", "01M86V11MCA50B783C2KESVEV3", REFERENCE_ID],
)
def test_check_id_returns_valid_ids(checker: Checker, value: str) -> None:
    assert checker(value) == value


@pytest.mark.parametrize(("checker", "kind", "limit"), CHECKERS)
def test_check_id_refuses_empty(checker: Checker, kind: str, limit: int) -> None:
    with pytest.raises(ValidationError, match=f"^{kind} must not be empty$"):
        checker("")


@pytest.mark.parametrize(("checker", "kind", "limit"), CHECKERS)
@pytest.mark.parametrize(
    ("value", "type_name"),
    [(None, "NoneType"), (123, "int"), (b"bytes", "bytes"), (["s1"], "list"), (1.5, "float")],
)
def test_check_id_refuses_non_strings(
    checker: Checker, kind: str, limit: int, value: object, type_name: str
) -> None:
    with pytest.raises(ValidationError, match=f"^{kind} must be a string, got {type_name}$"):
        checker(value)


@pytest.mark.parametrize(("checker", "kind", "limit"), CHECKERS)
@pytest.mark.parametrize(
    "unit", ["a", "é", "€", "🙂"], ids=["1-byte", "2-byte", "3-byte", "4-byte"]
)
def test_check_id_byte_limit(checker: Checker, kind: str, limit: int, unit: str) -> None:
    at_limit = fill(limit, unit, 0)
    assert checker(at_limit) == at_limit

    over = fill(limit, unit, 1)
    with pytest.raises(ValidationError, match=f"at most {limit}$") as raised:
        checker(over)
    assert raised.value.code == "VALIDATION_ERROR"
    assert f"{kind} is {limit + 1} bytes long" in raised.value.message


@pytest.mark.parametrize(("checker", "kind", "limit"), CHECKERS)
def test_check_id_counts_bytes_not_characters(checker: Checker, kind: str, limit: int) -> None:
    # Fewer characters than the limit, but one 4-byte character too many bytes.
    text = "a" * (limit - 3) + "🙂"
    assert len(text) < limit
    assert utf8_len(text) == limit + 1
    with pytest.raises(ValidationError, match=f"{limit + 1} bytes"):
        checker(text)


def test_longest_message_id_makes_a_sort_key_of_exactly_1024_bytes() -> None:
    longest = check_message_id("€" * (995 // 3) + "aa")
    assert utf8_len(message_sk(INSTANT, longest)) == 1024


def test_longest_session_id_makes_a_partition_key_of_exactly_2048_bytes() -> None:
    assert utf8_len(session_pk(check_session_id("é" * 1020))) == 2048
    assert utf8_len(user_gsi_pk(check_user_id("é" * 1021 + "a"))) == 2048
    assert utf8_len(agent_gsi_pk(check_agent_id("é" * 1021))) == 2048


def test_validation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        check_session_id("")
