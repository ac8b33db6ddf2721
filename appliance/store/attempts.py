"""Attempts: lease a contact before dialing, record what happened, and sweep dangling attempts (C8).

The dial path writes in this order (DESIGN.md): `lease()` commits the contact as *Sent to Dialer*
and the attempt as in flight before a byte goes to a modem; `complete()` records the outcome
and the strategy's decision in one transaction. Nothing else writes a contact while its lease
is out. After a crash, `sweep_dangling()` finds the attempts left in flight and settles them as its
caller decides (the strategy and the limits: appliance/engine/planner.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.domain import Channel, ContactState, Outcome, Summary
from appliance.store import dialect
from appliance.store.db import Database
from appliance.store.dnc import block_number, is_blocked
from appliance.store.external import after_attempt, holds_row
from appliance.store.flowrecords import FlowOutcome, clean, write_flow

log = logging.getLogger(__name__)

# Contacts in these states may be leased (if their redial time has come).
LEASABLE = (ContactState.PENDING, ContactState.NOT_CONNECTED, ContactState.SMS_SENT)


@dataclass(frozen=True)
class Lease:
    attempt_id: int
    contact_id: int
    campaign_id: int
    attempt_no: int
    phone_index: int
    number: str
    channel: Channel
    # Several boxes on one store (#27, store/boxes.py): the box that leased it and the contact's
    # lease generation then; a completion is refused unless both still hold (fencing). None:
    # not checked (a lease made by a caller that names no box).
    box: str | None = None
    generation: int | None = None


@dataclass(frozen=True)
class LeaseRefused:
    contact_id: int
    reason: str  # "gone", "leased", "state", "dnc", "released" (an external row, D9), "rules"
    detail: str = ""  # "rules": why (the rules re-read in the lease's transaction, #27)


@dataclass(frozen=True)
class Completion:
    """The outcome of one attempt and what the strategy decided follows (all in one transaction)."""

    outcome: Outcome
    new_state: ContactState
    summary: Summary
    next_at: float | None = None
    next_phone: int | None = None
    step: int | None = None
    block_number: bool = False  # wrong number, fax: the permanent block list (D7)
    disposition: str | None = None
    evidence: Sequence[str] = ()
    dialed_at: float | None = None
    answered_at: float | None = None
    line: str | None = None
    agent: str | None = None


def lease(
    db: Database,
    contact_id: int,
    phone_index: int,
    channel: Channel,
    now: float,
    *,
    line: str | None = None,
    agent: str | None = None,
    box: str | None = None,
    lease_for: float | None = None,
    recheck: Callable[[], str | None] | None = None,
) -> Lease | LeaseRefused:
    """Mark the contact *Sent to Dialer* and open an attempt, committed before anything is dialed.

    The DNC lists are checked again here, inside the transaction: lists change after import
    and after the scheduler picked the contact (D7). `box`: the box leasing it (#27), the lease
    expiring `lease_for` seconds from now unless its heartbeat renews it; `recheck`: the
    campaign's rules read again inside the transaction (another box may have dialed the number
    or the contact since the plan), a refusal's words or None."""
    if not 1 <= phone_index <= 5:
        raise ValueError(f"phone index {phone_index} is not 1..5")
    d = dialect.of(db)
    with db.transaction():
        # PostgreSQL: the contact's row locked until this transaction commits the lease, or
        # skipped when another box's lease holds it (dialect.lock_skip; SQLite has one writer)
        row = db.conn.execute(
            f"SELECT campaign_id, state, lease_id, attempts, e164_{phone_index}, lease_gen"
            f" FROM contacts WHERE id = ?{d.lock_skip}",
            (contact_id,),
        ).fetchone()
        if row is None:
            if d.lock_skip and db.scalar("SELECT 1 FROM contacts WHERE id = ?", (contact_id,)):
                return LeaseRefused(contact_id, "leased")  # being leased by another connection
            return LeaseRefused(contact_id, "gone")
        campaign_id, state, lease_id, attempts, number, generation = row
        if lease_id is not None:
            return LeaseRefused(contact_id, "leased")
        if state not in LEASABLE or not number:
            return LeaseRefused(contact_id, "state")
        assert (
            isinstance(campaign_id, int) and isinstance(attempts, int) and isinstance(number, str)
        )
        if is_blocked(db, campaign_id, number, now):
            return LeaseRefused(contact_id, "dnc")
        if not holds_row(db, contact_id):  # an external list's row released meanwhile (D9)
            return LeaseRefused(contact_id, "released")
        if recheck is not None:
            # other boxes lease from the store: one lease of a number at a time (PostgreSQL)
            dialect.lock_number(db, number)
            if (why := recheck()) is not None:
                return LeaseRefused(contact_id, "rules", why)
        attempt_no = attempts + 1
        generation = int(generation or 0) + 1
        db.conn.execute(
            "INSERT INTO attempts(contact_id, campaign_id, attempt_no, phone_index, number, channel,"
            " line, agent, status, queued_at, box, lease_expires, lease_gen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'in_flight', ?, ?, ?, ?)",
            (
                contact_id,
                campaign_id,
                attempt_no,
                phone_index,
                number,
                str(channel),
                line,
                agent,
                now,
                box,
                None if lease_for is None else now + lease_for,
                generation,
            ),
        )
        attempt_id = db.conn.last_insert_rowid()
        db.conn.execute(
            "UPDATE contacts SET state = ?, summary = ?, lease_id = ?, attempts = ?, last_attempt_at = ?,"
            " updated_at = ?, lease_gen = ? WHERE id = ?",
            (
                ContactState.SENT_TO_DIALER,
                int(Summary.MARKED_FOR_DIALING),
                attempt_id,
                attempt_no,
                now,
                now,
                generation,
                contact_id,
            ),
        )
    return Lease(attempt_id, contact_id, campaign_id, attempt_no, phone_index, number, channel,
                 box, generation)  # fmt: skip


def mark_dialed(db: Database, attempt_id: int, line: str, now: float) -> None:
    """The line accepted the dial: note which line and when (still in flight)."""
    with db.transaction():
        db.conn.execute(
            "UPDATE attempts SET line = ?, dialed_at = ? WHERE id = ? AND status = 'in_flight'",
            (line, now, attempt_id),
        )


def complete(
    db: Database,
    lease: Lease,
    completion: Completion,
    now: float,
    outbox_payload: Mapping[str, Any] | None = None,
    *,
    flow: FlowOutcome | None = None,
) -> bool:
    """Record the outcome and the next state in one transaction; False if the attempt was no
    longer in flight (already swept as dangling), in which case nothing is changed. `flow`: the
    call flow an answered automated call ran (its steps, answers and fields are kept with it,
    its disposition unless the completion has one; store/flowrecords.py)."""
    c = completion
    record = clean(flow, now) if flow is not None else None
    disposition = c.disposition or (record.disposition if record is not None else None)
    with db.transaction():
        if lease.generation is not None and (stale := fenced(db, lease)) is not None:
            log.warning("attempt %s: completion refused, nothing recorded: %s",
                        lease.attempt_id, stale)  # fmt: skip
            return False
        dialect.of(db).order_results(db)
        changed = db.conn.execute(
            "UPDATE attempts SET status = 'done', seq = (SELECT ifnull(max(seq), 0) + 1 FROM attempts),"
            " outcome = ?, disposition = ?, evidence = ?,"
            " dialed_at = coalesce(?, dialed_at), answered_at = ?, ended_at = ?,"
            " line = coalesce(?, line), agent = coalesce(?, agent)"
            " WHERE id = ? AND status = 'in_flight' RETURNING id",
            (
                int(c.outcome),
                disposition,
                json.dumps(list(c.evidence)),
                c.dialed_at,
                c.answered_at,
                now,
                c.line,
                c.agent,
                lease.attempt_id,
            ),
        ).fetchall()
        if not changed:
            return False
        if record is not None:
            write_flow(db, lease.attempt_id, lease.contact_id, record)
        db.conn.execute(
            "UPDATE contacts SET state = ?, summary = ?, next_at = ?, next_phone = coalesce(?, next_phone),"
            " step = coalesce(?, step), last_outcome = ?, lease_id = NULL, updated_at = ?,"
            # a callback this attempt answered is done (C10); its owner keeps the contact
            " callback_at = CASE WHEN callback_at <= ? THEN NULL ELSE callback_at END"
            " WHERE id = ? AND lease_id = ?",
            (
                c.new_state,
                int(c.summary),
                c.next_at,
                c.next_phone,
                c.step,
                int(c.outcome),
                now,
                now,
                lease.contact_id,
                lease.attempt_id,
            ),
        )
        if c.block_number:
            block_number(
                db, lease.number, c.outcome.label, now, source=f"attempt:{lease.attempt_id}"
            )
        # an external list's row (SPEC D9): its result owed to the customer's table
        after_attempt(db, lease.contact_id, lease.attempt_id, lease.attempt_no, int(c.outcome),
                      int(c.summary), c.next_at, now)  # fmt: skip
        if outbox_payload is not None:
            db.conn.execute(
                "INSERT INTO outbox(campaign_id, contact_id, attempt_id, payload, created_at, next_try_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    lease.campaign_id,
                    lease.contact_id,
                    lease.attempt_id,
                    json.dumps(outbox_payload),
                    now,
                    now,
                ),
            )
    return True


def fenced(db: Database, lease: Lease) -> str | None:
    """Why a completion of `lease` would be stale (#27), or None: the attempt is no longer in
    flight (swept as dangling), or no longer this box's, or its contact was leased again since
    (a higher lease generation: another box owns it now)."""
    row = db.conn.execute(
        "SELECT a.status, a.box, a.lease_gen, k.lease_gen, k.lease_id,"
        " (SELECT box FROM attempts WHERE id = k.lease_id)"
        " FROM attempts a LEFT JOIN contacts k ON k.id = a.contact_id WHERE a.id = ?",
        (lease.attempt_id,),
    ).fetchone()
    if row is None:
        return "the attempt is gone (its campaign was deleted)"
    status, box, generation, contact_generation, lease_id, owner = row
    if box != lease.box:
        return f"the attempt is box {box}'s, not box {lease.box}'s"
    if generation != lease.generation:
        return f"the attempt's lease generation is {generation}, not {lease.generation}"
    if contact_generation is not None and contact_generation != lease.generation:
        return (
            f"contact {lease.contact_id} was leased again (generation {contact_generation},"
            f" attempt {lease_id}{f' by box {owner}' if owner else ''}) after this box's attempt"
            f" was swept"
        )
    if status != "in_flight":
        return f"the attempt is {status} (swept: its box was silent too long, or it dangled)"
    return None


DANGLING_EVIDENCE = "dangling: no outcome came back"

# What follows a dangling attempt: the caller's decision (the strategy and the limits, which this
# layer does not know), or None to close the contact as Dangling.
DecideDangling = Callable[[Lease, float], Completion | None]


@dataclass(frozen=True)
class DanglingAttempt:
    attempt_id: int
    contact_id: int
    campaign_id: int
    number: str
    queued_at: float
    requeued: bool  # the contact has a redial; else it was closed
    state: ContactState = ContactState.DANGLING  # the contact's state after the sweep


def sweep_dangling(
    db: Database,
    now: float,
    *,
    older_than: float | None = None,
    decide: DecideDangling | None = None,
    exclude: Sequence[int] = (),
    only: Sequence[int] | None = None,
    box: str | None = None,
    mine: str | None = None,
    expired_before: float | None = None,
) -> list[DanglingAttempt]:
    """Attempts still in flight (all of them at start-up after a crash, or those queued before
    `older_than` while running) become *dangling*: no outcome is recorded for them. Without
    `decide` their contacts are closed as *Dangling*; with it (requeue), each contact takes what
    `decide` answers for the attempt — the strategy's and the limits' answer, so a contact whose
    last allowed attempt dangled is closed rather than requeued with nothing left to dial — and
    is closed as Dangling where it answers None. Each attempt is settled in its own transaction.
    `only`: just these attempts (`dialbox doctor --repair`). Several boxes on one store (#27):
    `box`, only that box's attempts whose lease expired before `expired_before` (a dead box's,
    store/boxes.py); `mine`, only this box's and those no box leased (a box's own sweeps: the
    others' attempts are theirs until their heartbeat stops)."""
    rows = db.conn.execute(
        "SELECT id, contact_id, campaign_id, attempt_no, phone_index, number, channel, queued_at,"
        " direction, box, lease_gen FROM attempts WHERE status = 'in_flight' AND (? IS NULL OR queued_at < ?)"
        # e-mails waiting for the relay are in flight on purpose (store/email.py, #26)
        " AND id NOT IN (SELECT attempt_id FROM email_sends WHERE state IN ('queued', 'claimed'))"
        " AND (? IS NULL OR box = ?) AND (? IS NULL OR box IS NULL OR box = ?)"
        " AND (? IS NULL OR lease_expires IS NULL OR lease_expires < ?)"
        " ORDER BY id",
        (older_than, older_than, box, box, mine, mine, expired_before, expired_before),
    ).fetchall()
    swept: list[DanglingAttempt] = []
    for (
        attempt_id,
        contact_id,
        campaign_id,
        attempt_no,
        phone_index,
        number,
        channel,
        queued,
        direction,
        leased_by,
        generation,
    ) in rows:
        if attempt_id in exclude or (only is not None and attempt_id not in only):
            continue
        assert isinstance(attempt_id, int) and isinstance(contact_id, int)
        assert isinstance(campaign_id, int) and isinstance(attempt_no, int)
        assert isinstance(queued, float | int)
        got = Lease(
            attempt_id, contact_id, campaign_id, attempt_no, int(phone_index or 1), str(number),
            Channel(str(channel)), None if leased_by is None else str(leased_by),
            None if generation is None else int(generation),
        )  # fmt: skip
        if direction == "in":
            # An answered call (store/inbound.py): no lease, nothing to redial; its caller's
            # contact stays as it is (closed), only the attempt is marked dangling.
            if _settle(db, got, None, now, expired_before) is not None:
                swept.append(DanglingAttempt(attempt_id, contact_id, campaign_id, str(number),
                                             float(queued), False, ContactState.CONNECTED))  # fmt: skip
            continue
        decided = decide(got, now) if decide is not None else None
        settled = _settle(db, got, decided, now, expired_before)
        if settled is not None:
            swept.append(
                DanglingAttempt(
                    attempt_id, contact_id, campaign_id, str(number), float(queued),
                    settled.next_at is not None, settled.new_state,
                )
            )  # fmt: skip
    return swept


def _settle(
    db: Database,
    got: Lease,
    decided: Completion | None,
    now: float,
    expired_before: float | None = None,
) -> Completion | None:
    """Mark one attempt dangling and write its contact's next state; None if it was no longer
    in flight (or, `expired_before`, its lease was renewed meanwhile: its box is alive)."""
    if decided is None:
        decided = Completion(
            Outcome.ERROR_OCCURRED, ContactState.DANGLING, Summary.NO_SUCCESS, next_at=None
        )
    with db.transaction():
        dialect.of(db).order_results(db)
        changed = db.conn.execute(
            "UPDATE attempts SET status = 'dangling', ended_at = ?, evidence = ?,"
            " seq = (SELECT ifnull(max(seq), 0) + 1 FROM attempts)"
            " WHERE id = ? AND status = 'in_flight'"
            " AND (? IS NULL OR lease_expires IS NULL OR lease_expires < ?) RETURNING id",
            (now, json.dumps([DANGLING_EVIDENCE]), got.attempt_id, expired_before, expired_before),
        ).fetchall()
        if not changed:
            return None
        db.conn.execute(
            "UPDATE contacts SET state = ?, summary = ?, next_at = ?,"
            " next_phone = coalesce(?, next_phone), step = coalesce(?, step), lease_id = NULL,"
            " updated_at = ? WHERE id = ? AND lease_id = ?",
            (
                decided.new_state,
                int(decided.summary),
                decided.next_at,
                decided.next_phone,
                decided.step,
                now,
                got.contact_id,
                got.attempt_id,
            ),
        )
        if decided.block_number:
            block_number(
                db, got.number, decided.outcome.label, now, source=f"attempt:{got.attempt_id}"
            )
        after_attempt(db, got.contact_id, got.attempt_id, got.attempt_no, int(decided.outcome),
                      int(decided.summary), decided.next_at, now)  # fmt: skip
    return decided
