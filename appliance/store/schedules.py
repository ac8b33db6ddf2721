"""Scheduled campaign actions (SPEC C2) and timed runs: rows, due ones, what was applied.

The arithmetic of when (appliance/scheduler/timing.py) and of what an action does
(scheduler/actions.py) is the caller's: these are the rows, written in the caller's transaction
where it has one, so a campaign's new status and its actions' progress commit together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.errors import NotFound
from appliance.store import dialect
from appliance.store.campaigns import audit
from appliance.store.db import Database

_COLUMNS = (
    "id, campaign_id, action, at_text, days, timezone, source, config_key, created_at,"
    " created_by, next_due_at, last_due_at, last_applied_at, last_result"
)


@dataclass(frozen=True, slots=True)
class ActionRow:
    id: int
    campaign_id: int
    action: str
    at_text: str
    days: str | None  # None: a one-off
    timezone: str
    source: str  # api, cli or config
    config_key: str | None
    created_at: float
    created_by: str
    next_due_at: float | None  # None: done
    last_due_at: float | None
    last_applied_at: float | None
    last_result: str | None


def _row(values: Any) -> ActionRow:
    return ActionRow(*values)


@dataclass(frozen=True, slots=True)
class NewAction:
    campaign_id: int
    action: str
    at_text: str
    days: str | None
    timezone: str
    source: str
    next_due_at: float | None
    config_key: str | None = None
    last_result: str | None = None  # a row added as done says why


def add_action(db: Database, new: NewAction, campaign: str, now: float, actor: str) -> ActionRow:
    """Insert one scheduled action, audited (`schedule.add`)."""
    with db.transaction():
        row = db.conn.execute(
            "INSERT INTO scheduled_actions(campaign_id, action, at_text, days, timezone, source,"
            " config_key, created_at, created_by, next_due_at, last_result)"
            f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
            (new.campaign_id, new.action, new.at_text, new.days, new.timezone, new.source,
             new.config_key, now, actor, new.next_due_at, new.last_result),
        ).fetchone()  # fmt: skip
        added = _row(row)
        audit(db, actor, "schedule.add", campaign, _detail(added), now)
    return added


def list_actions(db: Database, campaign_id: int) -> list[ActionRow]:
    """The campaign's actions: those still due first (soonest first), then those done."""
    return [
        _row(r)
        for r in db.conn.execute(
            f"SELECT {_COLUMNS} FROM scheduled_actions WHERE campaign_id = ?"
            " ORDER BY next_due_at IS NULL, next_due_at, id",
            (campaign_id,),
        )
    ]


def get_action(db: Database, campaign_id: int, action_id: int) -> ActionRow:
    row = db.conn.execute(
        f"SELECT {_COLUMNS} FROM scheduled_actions WHERE campaign_id = ? AND id = ?",
        (campaign_id, action_id),
    ).fetchone()
    if row is None:
        raise NotFound(
            f"the campaign has no scheduled action {action_id}; list them to see their ids"
        )
    return _row(row)


def delete_action(db: Database, row: ActionRow, campaign: str, now: float, actor: str) -> None:
    with db.transaction():
        db.conn.execute("DELETE FROM scheduled_actions WHERE id = ?", (row.id,))
        audit(db, actor, "schedule.delete", campaign, _detail(row), now)


def due_campaigns(db: Database, now: float) -> list[int]:
    """The campaigns with an action whose next occurrence has come."""
    return [
        int(str(r[0]))
        for r in db.conn.execute(
            "SELECT DISTINCT campaign_id FROM scheduled_actions"
            + dialect.of(db).indexed_by("scheduled_actions_due")
            + " WHERE next_due_at IS NOT NULL AND next_due_at <= ? ORDER BY campaign_id",
            (now,),
        )
    ]


def due_actions(db: Database, campaign_id: int, now: float) -> list[ActionRow]:
    """The campaign's actions whose next occurrence has come, oldest first (read them inside
    the transaction that applies them: another process may have deleted one meanwhile)."""
    return [
        _row(r)
        for r in db.conn.execute(
            f"SELECT {_COLUMNS} FROM scheduled_actions WHERE campaign_id = ?"
            " AND next_due_at IS NOT NULL AND next_due_at <= ? ORDER BY next_due_at, id",
            (campaign_id, now),
        )
    ]


def count_actions(db: Database, campaign_id: int) -> int:
    return int(
        str(
            db.scalar(
                "SELECT count(*) FROM scheduled_actions WHERE campaign_id = ?", (campaign_id,)
            )
        )
    )


def record_applied(
    db: Database,
    row: ActionRow,
    *,
    last_due_at: float,
    next_due_at: float | None,
    result: str,
    now: float,
) -> None:
    """Move the action past its occurrence at `last_due_at`; call in the caller's transaction."""
    db.conn.execute(
        "UPDATE scheduled_actions SET last_due_at = ?, next_due_at = ?, last_applied_at = ?,"
        " last_result = ? WHERE id = ?",
        (last_due_at, next_due_at, now, result, row.id),
    )


def config_actions(db: Database) -> list[ActionRow]:
    """The rows that came from the config file."""
    return [
        _row(r)
        for r in db.conn.execute(
            f"SELECT {_COLUMNS} FROM scheduled_actions WHERE source = 'config' ORDER BY id"
        )
    ]


def timed_run(db: Database, name: str) -> float | None:
    """The last scheduled run of `name` (a timed import), or None before the first."""
    value = db.scalar("SELECT last_due_at FROM timed_runs WHERE name = ?", (name,))
    return None if value is None else float(str(value))


def set_timed_run(db: Database, name: str, due: float) -> None:
    with db.transaction():
        db.conn.execute(
            "INSERT INTO timed_runs(name, last_due_at) VALUES (?, ?)"
            " ON CONFLICT(name) DO UPDATE SET last_due_at = excluded.last_due_at",
            (name, due),
        )


def _detail(row: ActionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "action": row.action,
        "at": row.at_text,
        "days": row.days,
        "timezone": row.timezone,
        "source": row.source,
    }
