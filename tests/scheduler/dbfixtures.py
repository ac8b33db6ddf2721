"""Contacts, attempts and DNC rows written straight into a test database (no importer needed)."""

from __future__ import annotations

from collections.abc import Sequence

from appliance.phones import zone_key
from appliance.store.db import Database


def zone_set_id(db: Database, e164: str) -> int:
    key = zone_key(e164) or ""
    row = db.conn.execute("SELECT id FROM zone_sets WHERE zones = ?", (key,)).fetchone()
    if row is not None:
        return int(row[0])  # type: ignore[arg-type]
    db.conn.execute("INSERT INTO zone_sets(zones) VALUES (?)", (key,))
    return db.conn.last_insert_rowid()


def add_campaign(db: Database, name: str, settings: str = "{}", status: str = "running") -> int:
    db.conn.execute(
        "INSERT INTO campaigns(name, type, region, status, settings, created_at, updated_at)"
        " VALUES (?, 'agent', 'US', ?, ?, 0, 0)",
        (name, status, settings),
    )
    return db.conn.last_insert_rowid()


_seq = [0]


def add_contact(
    db: Database,
    campaign_id: int,
    numbers: Sequence[str | None],
    *,
    state: str = "Pending",
    next_at: float | None = None,
    callback_at: float | None = None,
    priority: int = 0,
    attempts: int = 0,
    last_attempt_at: float | None = None,
    tz_override: str | None = None,
    next_phone: int | None = None,
    step: int = 0,
    bp1: str | None = None,
    contact_id: int | None = None,
) -> int:
    _seq[0] += 1
    nums = list(numbers) + [None] * (5 - len(numbers))
    zs = [zone_set_id(db, n) if n else None for n in nums]
    db.conn.execute(
        # id: its default (the next one) unless given; PostgreSQL's identity takes no NULL
        "INSERT INTO contacts(id, campaign_id, dedup_key, phone1, phone2, phone3, phone4, phone5,"
        " e164_1, e164_2, e164_3, e164_4, e164_5, zs1, zs2, zs3, zs4, zs5, state, next_at,"
        " callback_at, priority, attempts, last_attempt_at, tz_override, next_phone, step, bp1,"
        " created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)"
        .replace("(id, ", "(" if contact_id is None else "(id, ", 1)
        .replace("(?, ", "(" if contact_id is None else "(?, ", 1),
        (
            *(() if contact_id is None else (contact_id,)), campaign_id, _seq[0], nums[0] or "", *nums[1:], *nums, *zs, state,
            next_at, callback_at, priority, attempts, last_attempt_at, tz_override, next_phone,
            step, bp1,
        ),
    )  # fmt: skip
    # the id given (PostgreSQL's lastval() names only ids its sequence gave)
    return contact_id if contact_id is not None else db.conn.last_insert_rowid()


def add_attempt(
    db: Database,
    contact_id: int,
    campaign_id: int,
    number: str,
    queued_at: float,
    *,
    phone_index: int = 1,
    outcome: int | None = 1,
    channel: str = "voice",
    answered_at: float | None = None,
) -> None:
    n = db.scalar("SELECT count(*) FROM attempts WHERE contact_id = ?", (contact_id,))
    db.conn.execute(
        "INSERT INTO attempts(contact_id, campaign_id, attempt_no, phone_index, number, channel,"
        " status, queued_at, ended_at, answered_at, outcome) VALUES (?, ?, ?, ?, ?, ?, 'done', ?, ?, ?, ?)",
        (
            contact_id, campaign_id, int(n or 0) + 1, phone_index, number, channel, queued_at,
            queued_at + 30, answered_at, outcome,
        ),
    )  # fmt: skip


def add_dnc(
    db: Database,
    e164: str,
    campaign_id: int | None = None,
    kind: str = "dnc",
    expires_at: float | None = None,
) -> None:
    db.conn.execute(
        "INSERT INTO dnc(e164, campaign_id, kind, added_at, expires_at) VALUES (?, ?, ?, 0, ?)",
        (e164, campaign_id, kind, expires_at),
    )


def refuse_inserts(db: Database, table: str, message: str) -> None:
    """Make every INSERT into `table` fail with `message` (a disk that says no), on either engine."""
    if db.engine == "postgresql":
        db.conn.execute(
            f"CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN RAISE EXCEPTION '{message}'; END $$;"
            f" CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION refuse_{table}()"
        )
        return
    db.conn.execute(
        f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table}"
        f" BEGIN SELECT RAISE(ABORT, '{message}'); END"
    )
