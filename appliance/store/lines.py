"""The lines table: what each box's daemon last knew of each of its lines, for tools that ask
without the daemon. A line is (box, name): several boxes on one store may each have a gsm0."""

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
    box: str,
) -> None:
    """Insert or update one line's row (state `up` or `down`) of `box`."""
    with db.transaction():
        db.conn.execute(
            "INSERT INTO lines(box, name, kind, device, enabled, state, info, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(box, name) DO UPDATE SET kind = excluded.kind, device = excluded.device,"
            " enabled = excluded.enabled, state = excluded.state, info = excluded.info,"
            " updated_at = excluded.updated_at",
            (
                box,
                name,
                kind,
                device,
                int(enabled),
                "up" if up else "down",
                json.dumps(info, sort_keys=True),
                now,
            ),
        )


def forget_other_lines(db: Database, names: list[str], box: str) -> None:
    """Drop the rows of `box`'s lines no longer in its config, and those recorded before lines
    were kept per box (box ''); other boxes' lines stay."""
    with db.transaction():
        db.conn.execute("DELETE FROM lines WHERE box = ''")
        marks = ",".join("?" for _ in names)
        db.conn.execute(
            f"DELETE FROM lines WHERE box = ? AND name NOT IN ({marks})"
            if names
            else "DELETE FROM lines WHERE box = ?",
            [box, *names],
        )
