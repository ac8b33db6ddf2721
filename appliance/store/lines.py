"""The lines table: what the daemon last knew of each line, for tools that ask without the daemon."""

from __future__ import annotations

import json
from typing import Any

from appliance.store.db import Database


def record_line(
    db: Database,
    name: str,
    kind: str,
    device: str,
    *,
    enabled: bool,
    up: bool,
    info: dict[str, Any],
    now: float,
) -> None:
    """Insert or update one line's row (state `up` or `down`)."""
    with db.transaction():
        db.conn.execute(
            "INSERT INTO lines(name, kind, device, enabled, state, info, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, device = excluded.device,"
            " enabled = excluded.enabled, state = excluded.state, info = excluded.info,"
            " updated_at = excluded.updated_at",
            (
                name,
                kind,
                device,
                int(enabled),
                "up" if up else "down",
                json.dumps(info, sort_keys=True),
                now,
            ),
        )


def forget_other_lines(db: Database, names: list[str]) -> None:
    """Drop rows of lines no longer in the config."""
    with db.transaction():
        marks = ",".join("?" for _ in names)
        db.conn.execute(
            f"DELETE FROM lines WHERE name NOT IN ({marks})" if names else "DELETE FROM lines",
            names,
        )
