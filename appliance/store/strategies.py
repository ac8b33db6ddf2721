"""Stored call strategies (SPEC C4): named JSON definitions, read at every dial so edits apply at once (C9)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from appliance.errors import NotFound
from appliance.names import check_name
from appliance.store.campaigns import audit
from appliance.store.db import Database


@dataclass(frozen=True, slots=True)
class StoredStrategy:
    id: int
    name: str
    definition: dict[str, Any]
    updated_at: float


def save_strategy(
    db: Database, name: str, definition: dict[str, Any], now: float, actor: str
) -> StoredStrategy:
    """Create or replace the strategy `name` (the caller has validated `definition`); audited.
    `campaign:<name>` is a campaign's own (named after a campaign that exists); any other name
    follows the name rule."""
    if not name.startswith("campaign:"):
        check_name("strategy", name)
    text = json.dumps(definition, sort_keys=True)
    with db.transaction():
        db.conn.execute(
            "INSERT INTO strategies(name, definition, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET definition = excluded.definition,"
            " updated_at = excluded.updated_at",
            (name, text, now),
        )
        audit(db, actor, "strategy.save", name, definition, now)
    found = get_strategy(db, name)
    assert found is not None
    return found


def get_strategy(db: Database, name: str) -> StoredStrategy | None:
    row = db.conn.execute(
        "SELECT id, name, definition, updated_at FROM strategies WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        return None
    return StoredStrategy(int(row[0]), str(row[1]), json.loads(str(row[2])), float(row[3]))


def strategy_stamp(db: Database, name: str) -> float | None:
    """When the strategy last changed (None: not stored): a cheap check before re-parsing."""
    value = db.scalar("SELECT updated_at FROM strategies WHERE name = ?", (name,))
    return None if value is None else float(value)


def list_strategies(db: Database) -> list[StoredStrategy]:
    return [
        StoredStrategy(int(i), str(n), json.loads(str(d)), float(u))
        for i, n, d, u in db.conn.execute(
            "SELECT id, name, definition, updated_at FROM strategies ORDER BY name"
        )
    ]


def delete_strategy(db: Database, name: str, now: float, actor: str) -> None:
    with db.transaction():
        if db.conn.execute(
            "DELETE FROM strategies WHERE name = ? RETURNING id", (name,)
        ).fetchall():
            audit(db, actor, "strategy.delete", name, {}, now)
            return
    raise NotFound(f"no strategy named {name!r}")
