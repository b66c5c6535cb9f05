"""Create the table from the models, or adopt an existing one.

A missing table is created with both GSIs (GSI1 user index, GSI2 agent index,
projection ALL) and TTL on ``ttl``. An existing table, for example one made
for the TypeScript adapter with only ``PK``/``SK``, gets whichever GSI it
lacks and TTL on ``ttl``. ``migrate()`` does that (``ensure_table``) before
any migration runs, every time, and logs what it changed; so this migration
records the resulting layout: the table's indexes and TTL attribute.
"""

from __future__ import annotations

from session_store.table import TTL_ATTRIBUTE, BoundModels


def up(bound: BoundModels) -> dict[str, object]:
    described = bound.gateway.describe_table() or {}
    indexes = sorted(index["IndexName"] for index in described.get("GlobalSecondaryIndexes", []))
    return {"indexes": indexes, "ttlAttribute": TTL_ATTRIBUTE}
