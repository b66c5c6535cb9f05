"""SPEC §3: "Every name on this page is importable from the top-level package ``session_store``".

The names are listed here explicitly, section by section, as the SPEC names
them (the SPEC file is not part of the repository, so it is not parsed).
Methods (``create_table``, ``recount``, ``handle_stream_event``, …) are reached
through an adapter, the ORM models through ``adapter.models``, and the
factories of §6 through ``session_store.testing`` (they need the ``testing``
extra): none of them is a top-level name.
"""

from __future__ import annotations

import pytest

import session_store
from session_store import aio, domain, dynamodb, errors, protocol

# §2 Domain types (pydantic v2): the models, the nested shapes, the inputs.
DOMAIN_TYPES = [
    "Session",
    "SessionMetadata",
    "Participant",
    "Message",
    "MessageMetadata",
    "ContentBlock",
    "ToolCall",
    "ToolResult",
    "TokenBudgetConfig",
    "CompressionConfig",
    "CompressionState",
    "NewSession",
    "SessionUpdate",
    "NewMessage",
    "MessageUpdate",
    "SessionFilters",
    "MessageQuery",
    "Page",
    "HealthStatus",
]
# §3 The adapter interface.
ADAPTERS = ["StorageAdapter", "DynamoDBAdapter", "AsyncDynamoDBAdapter"]
# §4 Errors.
ERRORS = [
    "SessionError",
    "StorageError",
    "SessionNotFoundError",
    "MessageNotFoundError",
    "SessionExistsError",
    "ConcurrencyError",
    "ValidationError",
]
SPEC_NAMES = DOMAIN_TYPES + ADAPTERS + ERRORS

# Where each name is defined: the top-level name must be that very object
# (``Message`` the domain type, not the PynamoDB model; ``ValidationError``
# the package's, not pydantic's).
HOMES = {
    **dict.fromkeys(DOMAIN_TYPES, domain),
    **dict.fromkeys(ERRORS, errors),
    "StorageAdapter": protocol,
    "DynamoDBAdapter": dynamodb,
    "AsyncDynamoDBAdapter": aio,
}


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_spec_name_is_exported_at_the_top_level(name: str) -> None:
    assert hasattr(session_store, name), f"session_store.{name} is missing"
    assert name in session_store.__all__, f"{name} is not in session_store.__all__"
    assert getattr(session_store, name) is getattr(HOMES[name], name)


def test_star_import_gives_every_spec_name() -> None:
    namespace: dict[str, object] = {}
    exec("from session_store import *", namespace)
    assert set(SPEC_NAMES) <= set(namespace)


def test_all_is_consistent() -> None:
    exported = session_store.__all__
    assert len(exported) == len(set(exported)), "duplicates in __all__"
    missing = [name for name in exported if not hasattr(session_store, name)]
    assert missing == []


def test_content_block_and_health_status_from_the_top_level_work() -> None:
    from pydantic import TypeAdapter

    from session_store import ContentBlock, HealthStatus, NewMessage

    block = TypeAdapter(ContentBlock).validate_python(
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    )
    assert isinstance(block, domain.ImageUrlBlock)
    assert block.image_url.url == "https://example.com/a.png"
    message = NewMessage.model_validate(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        }
    )
    assert isinstance(message.content, list)
    assert [type(b) for b in message.content] == [domain.TextBlock, domain.ImageUrlBlock]
    status = HealthStatus.model_validate({"status": "degraded", "latencyMs": 1.5})
    assert (status.status, status.latency_ms) == ("degraded", 1.5)
