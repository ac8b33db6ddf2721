"""External lists' side in the box's store (SPEC D9, docs/external-lists.md): the customer's rows
the box marked, mirrored as the campaign's contacts; the write-backs it owes, queued durably; and
the last round's status for `why`. The customer's database itself is appliance/external/."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appliance.domain import ContactState, Summary
from appliance.store.db import Database

# Only contacts whose row the box holds (marked MarkedForDialing, not yet dialed) are dialed:
# added to the campaign's filter by the planner (engine/storeplanner.py).
HELD_SQL = "EXISTS (SELECT 1 FROM external_rows x WHERE x.contact_id = contacts.id AND x.held = 1)"


@dataclass(frozen=True)
class MirrorRow:
    """One row the box is marking, as the contact it becomes."""

    key: str
    prev_state: int  # ContactSuccessful before the mark: 0 or 2
    attempts: int  # NumberOfContacts
    redial_at: float | None
    phones: Sequence[tuple[str, str, str | None] | None]  # 5 × (as given, E.164, zone key)
    bps: Sequence[str | None]  # 12
    tz_override: str | None = None


def dedup_key(key: str) -> int:
    digest = hashlib.blake2b(b"external:" + key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _zone_set(db: Database, zones: str | None) -> int | None:
    if not zones:
        return None
    found = db.scalar("SELECT id FROM zone_sets WHERE zones = ?", (zones,))
    if found is None:
        db.conn.execute("INSERT INTO zone_sets(zones) VALUES (?)", (zones,))
        return int(db.conn.last_insert_rowid())
    return int(str(found))


def mirror(
    db: Database, campaign_id: int, list_name: str, rows: Sequence[MirrorRow], now: float
) -> int:
    """The rows as held contacts of the campaign, in one transaction (before the customer's
    mark is committed: a crash between the two leaves a held row, which start-up releases).
    Returns how many contacts were added."""
    added = 0
    with db.transaction():
        for row in rows:
            phones = [p if p is not None else (None, None, None) for p in row.phones]
            zs = [_zone_set(db, p[2]) for p in phones]
            if row.redial_at is not None:
                state, next_at = ContactState.NOT_CONNECTED, row.redial_at
            else:
                state, next_at = ContactState.PENDING, None
            values: list[Any] = [
                *(p[0] for p in phones), *(p[1] for p in phones), *zs, *row.bps,
                row.tz_override, row.attempts, now,
            ]  # fmt: skip
            found = db.conn.execute(
                "SELECT x.contact_id, k.state, k.lease_id FROM external_rows x"
                " JOIN contacts k ON k.id = x.contact_id WHERE x.campaign_id = ? AND x.row_key = ?",
                (campaign_id, row.key),
            ).fetchone()
            cols = (
                [f"phone{i}" for i in range(1, 6)] + [f"e164_{i}" for i in range(1, 6)]
                + [f"zs{i}" for i in range(1, 6)] + [f"bp{i}" for i in range(1, 13)]
                + ["tz_override", "attempts", "updated_at"]
            )  # fmt: skip
            if found is None:
                db.conn.execute(
                    f"INSERT INTO contacts(campaign_id, dedup_key, external_id, {', '.join(cols)},"
                    " state, summary, next_at, created_at)"
                    f" VALUES (?, ?, ?, {', '.join('?' * len(cols))}, ?, ?, ?, ?)",
                    (campaign_id, dedup_key(row.key), row.key, *values, state,
                     int(Summary.MARKED_FOR_DIALING), next_at, now),
                )  # fmt: skip
                contact_id = int(db.conn.last_insert_rowid())
                added += 1
            else:
                contact_id, local_state, lease_id = int(found[0]), str(found[1]), found[2]
                if lease_id is None:
                    # The customer's values rule: a row reset to NotUsed/NoSuccess is dialed
                    # afresh; one the box left waiting for a redial goes on where its strategy was.
                    keep = local_state == ContactState.NOT_CONNECTED and next_at is not None
                    sets = ", ".join(f"{c} = ?" for c in cols)
                    db.conn.execute(
                        f"UPDATE contacts SET {sets}, state = ?, next_at = ?, summary = ?,"
                        " step = CASE WHEN ? THEN step ELSE 0 END,"
                        " next_phone = CASE WHEN ? THEN next_phone ELSE NULL END WHERE id = ?",
                        (*values, state, next_at, int(Summary.MARKED_FOR_DIALING), keep, keep,
                         contact_id),
                    )  # fmt: skip
            db.conn.execute(
                "INSERT INTO external_rows(contact_id, campaign_id, list_name, row_key, held,"
                " prev_state, marked_at) VALUES (?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT(contact_id) DO UPDATE SET held = 1, prev_state = excluded.prev_state,"
                " marked_at = excluded.marked_at, list_name = excluded.list_name",
                (contact_id, campaign_id, list_name, row.key, row.prev_state, now),
            )
    return added


def holds_row(db: Database, contact_id: int) -> bool:
    """False for a contact of an external list whose row the box does not hold (any other
    contact: True). Checked inside the lease's transaction: a row released by the sync's thread
    after the planner picked it is not dialed."""
    held = db.scalar("SELECT held FROM external_rows WHERE contact_id = ?", (contact_id,))
    return held is None or bool(held)


def unhold(db: Database, campaign_id: int, keys: Sequence[str]) -> None:
    """Rows the customer's table did not let the box mark after all: not held (no release owed)."""
    with db.transaction():
        db.conn.executemany(
            "UPDATE external_rows SET held = 0 WHERE campaign_id = ? AND row_key = ?",
            [(campaign_id, k) for k in keys],
        )


def contact_state_code(summary: int, next_at: float | None) -> int:
    """ContactSuccessful for a result: Successful (1); NoSuccess (2) only with a redial time,
    which the customer's table dials again; a contact the box closed otherwise Unreachable (−1),
    which the seed has checked by a person before it goes back into a campaign."""
    if summary == Summary.SUCCESSFUL:
        return int(summary)
    return int(Summary.NO_SUCCESS if next_at is not None else Summary.UNREACHABLE)


def after_attempt(
    db: Database,
    contact_id: int,
    attempt_id: int,
    attempt_no: int,
    outcome: int,
    summary: int,
    next_at: float | None,
    now: float,
) -> None:
    """Inside the attempt's closing transaction: the row is no longer held, and its result is
    owed to the customer's table (ContactSuccessful, LastState, RedialTime, NumberOfContacts)."""
    row = db.conn.execute(
        "SELECT campaign_id, list_name, row_key FROM external_rows WHERE contact_id = ?",
        (contact_id,),
    ).fetchone()
    if row is None:
        return
    campaign_id, list_name, key = row
    db.conn.execute("UPDATE external_rows SET held = 0 WHERE contact_id = ?", (contact_id,))
    payload = {
        "state": contact_state_code(summary, next_at),
        "last_state": outcome,
        "redial_at": next_at,
        "attempts": attempt_no,
        "attempt_id": attempt_id,
    }
    db.conn.execute(
        "INSERT INTO external_writes(campaign_id, list_name, row_key, kind, payload, created_at)"
        " VALUES (?, ?, ?, 'result', ?, ?)",
        (campaign_id, list_name, key, json.dumps(payload), now),
    )


def release_keys(db: Database, campaign_id: int, keys: Sequence[str], now: float) -> None:
    """Rows whose mark may or may not have been committed (the connection failed at the commit):
    not held, and a release owed — harmless if the mark never landed, as a release only resets
    a row still MarkedForDialing."""
    with db.transaction():
        for key in keys:
            row = db.conn.execute(
                "SELECT contact_id, list_name, prev_state FROM external_rows"
                " WHERE campaign_id = ? AND row_key = ? AND held = 1",
                (campaign_id, key),
            ).fetchone()
            if row is None:
                continue
            contact_id, list_name, prev = row
            db.conn.execute("UPDATE external_rows SET held = 0 WHERE contact_id = ?", (contact_id,))
            db.conn.execute(
                "INSERT INTO external_writes(campaign_id, list_name, row_key, kind, payload,"
                " created_at) VALUES (?, ?, ?, 'release', ?, ?)",
                (campaign_id, list_name, key, json.dumps({"state": prev}), now),
            )


def release_held(
    db: Database,
    now: float,
    *,
    campaign_id: int | None = None,
    marked_before: float | None = None,
) -> int:
    """Held rows not being dialed go back to their previous state: not held here, and a release
    owed to the customer's table. All of them (stop, start after a crash), one campaign's (it
    was stopped), or those held since before `marked_before` (a row the rules kept from being
    dialed: outside hours, on DNC). Returns how many."""
    with db.transaction():
        rows = db.conn.execute(
            "SELECT x.contact_id, x.campaign_id, x.list_name, x.row_key, x.prev_state"
            " FROM external_rows x JOIN contacts k ON k.id = x.contact_id"
            " WHERE x.held = 1 AND k.lease_id IS NULL AND (? IS NULL OR x.campaign_id = ?)"
            " AND (? IS NULL OR x.marked_at < ?)",
            (campaign_id, campaign_id, marked_before, marked_before),
        ).fetchall()
        for contact_id, cid, list_name, key, prev in rows:
            db.conn.execute("UPDATE external_rows SET held = 0 WHERE contact_id = ?", (contact_id,))
            db.conn.execute(
                "INSERT INTO external_writes(campaign_id, list_name, row_key, kind, payload,"
                " created_at) VALUES (?, ?, ?, 'release', ?, ?)",
                (cid, list_name, key, json.dumps({"state": prev}), now),
            )
    return len(rows)


def held_count(db: Database, campaign_id: int) -> int:
    return int(
        str(
            db.scalar(
                "SELECT count(*) FROM external_rows WHERE campaign_id = ? AND held = 1",
                (campaign_id,),
            )
        )
    )


@dataclass(frozen=True)
class Write:
    id: int
    campaign_id: int
    key: str
    kind: str
    payload: dict[str, Any]
    tries: int


def due_writes(db: Database, list_name: str, limit: int) -> list[Write]:
    """The list's owed writes, oldest first."""
    return [
        Write(int(i), int(c), str(k), str(kind), json.loads(str(p)), int(t))
        for i, c, k, kind, p, t in db.conn.execute(
            "SELECT id, campaign_id, row_key, kind, payload, tries FROM external_writes"
            " WHERE list_name = ? AND done_at IS NULL ORDER BY id LIMIT ?",
            (list_name, limit),
        )
    ]


def pending_writes(db: Database, campaign_id: int) -> int:
    return int(
        str(
            db.scalar(
                "SELECT count(*) FROM external_writes WHERE campaign_id = ? AND done_at IS NULL",
                (campaign_id,),
            )
        )
    )


def write_done(db: Database, write_id: int, now: float) -> None:
    with db.transaction():
        db.conn.execute(
            "UPDATE external_writes SET done_at = ?, tries = tries + 1 WHERE id = ?",
            (now, write_id),
        )


def write_failed(db: Database, write_id: int, error: str) -> None:
    with db.transaction():
        db.conn.execute(
            "UPDATE external_writes SET tries = tries + 1, last_error = ? WHERE id = ?",
            (error, write_id),
        )


@dataclass(frozen=True)
class Status:
    list_name: str
    checked_at: float
    error: str | None
    matching: int
    held_by_others: int
    pending_writes: int


def set_status(db: Database, campaign_id: int, status: Status) -> None:
    with db.transaction():
        db.conn.execute(
            "INSERT INTO external_status(campaign_id, list_name, checked_at, error, matching,"
            " held_by_others, pending_writes) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(campaign_id) DO UPDATE SET list_name = excluded.list_name,"
            " checked_at = excluded.checked_at, error = excluded.error,"
            " matching = excluded.matching, held_by_others = excluded.held_by_others,"
            " pending_writes = excluded.pending_writes",
            (campaign_id, status.list_name, status.checked_at, status.error, status.matching,
             status.held_by_others, status.pending_writes),
        )  # fmt: skip


def get_status(db: Database, campaign_id: int) -> Status | None:
    row = db.conn.execute(
        "SELECT list_name, checked_at, error, matching, held_by_others, pending_writes"
        " FROM external_status WHERE campaign_id = ?",
        (campaign_id,),
    ).fetchone()
    if row is None:
        return None
    name, at, error, matching, others, pending = row
    return Status(str(name), float(str(at)), None if error is None else str(error),
                  int(str(matching)), int(str(others)), int(str(pending)))  # fmt: skip
