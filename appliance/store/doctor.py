"""The record invariants' queries for `dialbox doctor`: contacts with no way forward, leases and attempts that disagree, limits overrun.

Read-only facts; the judging (which contact is stranded by its campaign's rules) is done by
appliance/engine/doctor.py with the scheduler's rules. The one write here, `settle_contact`,
changes a contact only if it is still as the check saw it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from appliance.domain import ContactState, Summary
from appliance.store.db import Database

# Evidence a line or the engine writes when a call did NOT reach anybody: an attempt with an
# answered outcome whose evidence says one of these contradicts itself. "line down:" only
# before an answer (a line may drop after the callee picked up).
FAILED_EVIDENCE = (
    "dangling: no outcome came back",  # the sweep (store/attempts.py)
    "no outcome from line",  # the engine's deadline (engine/dialer.py)
    "line error:",  # a LineError in the engine
    "internal error:",  # a driver bug caught by the engine
    "sms failed",  # an SMS the modem refused
    "ErrorOccurred",
)
ANSWERED_OUTCOMES = (0, 11, 12)  # Connected, AgentTransfer, AgentHangUp (SPEC C11)


@dataclass(frozen=True, slots=True)
class OpenContact:
    """A contact in a leasable state with no lease out, and what its next attempt would use."""

    contact_id: int
    state: str
    summary: int
    attempts: int
    next_at: float | None
    step: int
    phone_index: int
    number: str | None
    phone_attempts: int
    blocked: bool  # that number is on the permanent block list (never dialed again, D7)
    last_status: str | None  # the contact's last attempt: done / dangling / in_flight
    last_outcome: int | None
    last_attempt_no: int | None
    last_attempt_id: int | None
    last_channel: str | None


def open_contacts(
    db: Database, campaign_id: int, first_phone: int, now: float, *, dialed_only: bool = False
) -> list[OpenContact]:
    """Contacts of the campaign in Pending, Not Connected or SMS sent, not leased. With
    `dialed_only`, only those dialed at least once (what a crash or a sweep can leave behind)."""
    phone = "coalesce(k.next_phone, :first)"
    number = "(CASE " + phone + "".join(f" WHEN {i} THEN k.e164_{i}" for i in range(1, 6)) + " END)"
    last = "(SELECT {col} FROM attempts a WHERE a.contact_id = k.id ORDER BY a.attempt_no DESC LIMIT 1)"
    sql = (
        f"SELECT k.id, k.state, k.summary, k.attempts, k.next_at, k.step, {phone}, {number},"
        f" (SELECT count(*) FROM attempts a WHERE a.contact_id = k.id AND a.phone_index = {phone}),"
        f" EXISTS (SELECT 1 FROM dnc d WHERE d.e164 = {number} AND d.kind = 'block'"
        "  AND (d.campaign_id IS NULL OR d.campaign_id = k.campaign_id)"
        "  AND (d.expires_at IS NULL OR d.expires_at > :now)),"
        f" {last.format(col='status')}, {last.format(col='outcome')},"
        f" {last.format(col='attempt_no')}, {last.format(col='id')}, {last.format(col='channel')}"
        " FROM contacts k WHERE k.campaign_id = :cid AND k.lease_id IS NULL"
        " AND k.state IN ('Pending', 'Not Connected', 'SMS sent')"
        + (" AND k.attempts > 0" if dialed_only else "")
        + " ORDER BY k.id"
    )
    params = {"cid": campaign_id, "first": first_phone, "now": now}
    return [
        OpenContact(
            int(r[0]),
            str(r[1]),
            int(r[2]),
            int(r[3]),
            r[4],
            int(r[5]),
            int(r[6]),
            None if r[7] is None else str(r[7]),
            int(r[8]),
            bool(r[9]),
            None if r[10] is None else str(r[10]),
            r[11],
            r[12],
            r[13],
            None if r[14] is None else str(r[14]),
        )
        for r in db.conn.execute(sql, params)
    ]


def unheld_in_flight(db: Database) -> list[int]:
    """Attempts in flight whose contact does not hold them as its lease (dialed ones: an
    inbound call takes no lease), or whose contact is gone."""
    return _ids(
        db,
        "SELECT a.id FROM attempts a LEFT JOIN contacts k ON k.id = a.contact_id"
        " WHERE a.status = 'in_flight' AND (k.lease_id IS NULL OR k.lease_id != a.id)"
        # an answered inbound call holds no lease (store/inbound.py)
        " AND (a.direction = 'out' OR k.id IS NULL) ORDER BY a.id",
    )


def in_flight(db: Database) -> list[int]:
    # (not e-mails queued for the relay: the daemon's mailer resumes them, docs/email.md)
    return _ids(
        db,
        "SELECT id FROM attempts WHERE status = 'in_flight' AND id NOT IN"
        " (SELECT attempt_id FROM email_sends WHERE state IN ('queued', 'claimed')) ORDER BY id",
    )


def stale_leases(db: Database) -> list[int]:
    """Contacts whose lease points at an attempt that is not in flight (or not theirs), and
    contacts *Sent to Dialer* with no lease at all: neither can be dialed or completed."""
    return _ids(
        db,
        "SELECT k.id FROM contacts k LEFT JOIN attempts a ON a.id = k.lease_id"
        " WHERE (k.lease_id IS NOT NULL AND (a.id IS NULL OR a.status != 'in_flight'"
        "  OR a.contact_id != k.id))"
        " OR (k.lease_id IS NULL AND k.state = 'Sent to Dialer') ORDER BY k.id",
    )


def outcome_mismatches(db: Database) -> list[int]:
    """Attempts whose outcome disagrees with their status or their evidence."""
    failed = " OR ".join("a.evidence LIKE ?" for _ in FAILED_EVIDENCE)
    answered = ", ".join(map(str, ANSWERED_OUTCOMES))
    return _ids(
        db,
        "SELECT a.id FROM attempts a WHERE (a.status != 'done' AND a.outcome IS NOT NULL)"
        " OR (a.status = 'done' AND a.outcome IS NULL)"
        f" OR (a.outcome IN ({answered}) AND ({failed}"
        "  OR (a.answered_at IS NULL AND a.evidence LIKE '%line down:%')))"
        " ORDER BY a.id",
        tuple(f"%{e}%" for e in FAILED_EVIDENCE),
    )


def inbound_open(db: Database, campaign_id: int) -> list[int]:
    """Contacts of an inbound campaign that wait for a dial or hold a lease: an inbound
    campaign never dials, so its contacts — its callers — are closed (store/inbound.py)."""
    return _ids(
        db,
        "SELECT k.id FROM contacts k WHERE k.campaign_id = ? AND (k.lease_id IS NOT NULL"
        " OR k.state IN ('Pending', 'Not Connected', 'SMS sent', 'Sent to Dialer')) ORDER BY k.id",
        (campaign_id,),
    )


def contacts_over_attempts(db: Database, campaign_id: int, max_attempts: int) -> list[int]:
    """Contacts with more attempts than the campaign allows (counted or recorded)."""
    return _ids(
        db,
        "SELECT k.id FROM contacts k WHERE k.campaign_id = ? AND (k.attempts > ?"
        " OR (SELECT count(*) FROM attempts a WHERE a.contact_id = k.id) > ?) ORDER BY k.id",
        (campaign_id, max_attempts, max_attempts),
    )


def contacts_over_number_attempts(db: Database, campaign_id: int, per_number: int) -> list[int]:
    """Contacts with more attempts on one of their phones than `max_attempts_per_number`."""
    return _ids(
        db,
        "SELECT DISTINCT contact_id FROM (SELECT contact_id, phone_index, count(*) AS n"
        " FROM attempts WHERE campaign_id = ? GROUP BY contact_id, phone_index) AS p WHERE n > ?"
        " ORDER BY contact_id",
        (campaign_id, per_number),
    )


def attempt_count_mismatches(db: Database) -> list[int]:
    """Contacts whose attempt counter is not the number of their attempt records."""
    return _ids(
        db,
        "SELECT k.id FROM contacts k WHERE k.attempts !="
        " (SELECT count(*) FROM attempts a WHERE a.contact_id = k.id) ORDER BY k.id",
    )


def over_number_cap(db: Database, campaign_id: int, cap: int, window: float) -> list[int]:
    """The campaign's voice calls made when their number already had `cap` voice calls made
    (from any campaign) in the rolling `window` before them (SPEC C13: the `fr` profile).
    Answered inbound calls are not calls made."""
    return _ids(
        db,
        "SELECT a.id FROM attempts a WHERE a.campaign_id = ? AND a.channel = 'voice'"
        " AND a.direction = 'out' AND (SELECT count(*) FROM attempts b WHERE b.number = a.number"
        "  AND b.channel = 'voice' AND b.direction = 'out' AND b.queued_at > a.queued_at - ?"
        "  AND b.id < a.id) >= ? ORDER BY a.id",
        (campaign_id, window, cap),
    )


def integrity_problems(db: Database) -> list[str]:
    """`PRAGMA integrity_check` and `foreign_key_check`, in words (empty: sound). PostgreSQL
    enforces its foreign keys as rows are written and checks its own pages: nothing to ask."""
    if db.postgresql:
        return []
    found = [str(r[0]) for r in db.conn.execute("PRAGMA integrity_check") if str(r[0]) != "ok"]
    found += [
        f"{table} row {rowid} points at a missing {parent} row"
        for table, rowid, parent, _ in db.conn.execute("PRAGMA foreign_key_check")
    ]
    return found


def named_rows(db: Database) -> list[tuple[str, str]]:
    """(kind, name) of every campaign, agent, active token (not a desk session's, named
    `desk:<agent>:...` by the box) and stored strategy (a campaign's own, `campaign:<name>`, goes
    with its campaign), for the name rule's check."""
    sql = (
        "SELECT 'campaign', name FROM campaigns"
        " UNION ALL SELECT 'agent', name FROM agents"
        " UNION ALL SELECT 'token', name FROM tokens WHERE revoked_at IS NULL AND agent IS NULL"
        " UNION ALL SELECT 'strategy', name FROM strategies WHERE name NOT LIKE 'campaign:%'"
    )
    return [(str(kind), str(name)) for kind, name in db.conn.execute(sql)]


def counts(db: Database) -> dict[str, int]:
    return {
        table: int(db.scalar(f"SELECT count(*) FROM {table}") or 0)
        for table in ("campaigns", "contacts", "attempts")
    }


def settle_contact(
    db: Database,
    contact_id: int,
    seen_state: str,
    state: ContactState,
    summary: Summary,
    now: float,
    *,
    next_at: float | None = None,
    next_phone: int | None = None,
    step: int | None = None,
) -> bool:
    """Give a contact a new state (and redial), clearing its lease — only if it is still in
    the state the check saw and no live lease appeared since; True if changed."""
    with db.transaction():
        changed = db.conn.execute(
            "UPDATE contacts SET state = ?, summary = ?, next_at = ?,"
            " next_phone = coalesce(?, next_phone), step = coalesce(?, step), lease_id = NULL,"
            " updated_at = ? WHERE id = ? AND state = ? AND (lease_id IS NULL OR NOT EXISTS"
            " (SELECT 1 FROM attempts a WHERE a.id = contacts.lease_id"
            "  AND a.status = 'in_flight' AND a.contact_id = contacts.id)) RETURNING id",
            (state, int(summary), next_at, next_phone, step, now, contact_id, seen_state),
        ).fetchall()
    return bool(changed)


def contact_state(db: Database, contact_id: int) -> tuple[int, str] | None:
    """(campaign id, state) of a contact."""
    row = db.conn.execute(
        "SELECT campaign_id, state FROM contacts WHERE id = ?", (contact_id,)
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def last_attempt(
    db: Database, contact_id: int
) -> tuple[int, int, int, str, str, str, int | None] | None:
    """(id, attempt_no, phone_index, number, channel, status, outcome) of the contact's last attempt."""
    row = db.conn.execute(
        "SELECT id, attempt_no, coalesce(phone_index, 1), number, channel, status, outcome"
        " FROM attempts WHERE contact_id = ? ORDER BY attempt_no DESC LIMIT 1",
        (contact_id,),
    ).fetchone()
    if row is None:
        return None
    return (
        int(row[0]), int(row[1]), int(row[2]), str(row[3]), str(row[4]), str(row[5]),
        None if row[6] is None else int(row[6]),
    )  # fmt: skip


def _ids(db: Database, sql: str, params: Sequence[object] = ()) -> list[int]:
    return [int(r[0]) for r in db.conn.execute(sql, tuple(params))]
