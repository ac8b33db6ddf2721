"""Inbound calls (SPEC C14, issue #23): an answered call recorded on the caller's contact with
the known contacts it matches (store/callers.py), and its end with its flow's record, in one
transaction each. Missed calls and callbacks are store/missed.py's, re-exported here: every
function the engine calls on an inbound call is importable from this module.

How a caller is kept: attempts need a contact, so the caller becomes one contact of the inbound
campaign per number, made at the first answered call and found again at the next. It is closed
(*Connected*, summary Successful) from the start and never leased: an inbound campaign never
dials (the doctor's rule for inbound campaigns, engine/doctor.py), and one caller may call on
two lines at once. A withheld caller ID, or one that is not a phone number, makes a contact of
its own for that call. The contacts of other campaigns with that number — the outbound contact
that just called them — are `matched`, not moved.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.domain import CampaignType, ContactState, Outcome, Summary
from appliance.errors import DialboxError, NotFound
from appliance.store import dialect
from appliance.store.callers import (
    Match,
    caller_contact,
    caller_key,
    caller_number,
    matches,
)
from appliance.store.campaigns import CampaignRow
from appliance.store.db import Database
from appliance.store.flowrecords import (
    FlowOutcome,
    clean,
    flow_payload,
    write_flow,
)
from appliance.store.missed import (
    Callback,
    MissedCall,
    Refused,
    dismiss_missed,
    get_missed,
    list_missed,
    make_callback,
    record_missed,
)

__all__ = [
    "Callback",
    "InboundCall",
    "Match",
    "MissedCall",
    "Refused",
    "caller_number",
    "complete_inbound",
    "dismiss_missed",
    "get_missed",
    "inbound_payload",
    "list_missed",
    "make_callback",
    "matches",
    "record_inbound",
    "record_missed",
]


@dataclass(frozen=True)
class InboundCall:
    """An answered call as recorded: its attempt, the caller's contact, and whom it matches."""

    attempt_id: int
    contact_id: int  # the caller's contact in the inbound campaign
    campaign_id: int
    campaign: str
    attempt_no: int  # the caller's how-manyth call to this campaign
    number: str  # E.164; '' when withheld or not a phone number
    caller_id: str  # as the line gave it
    line: str | None
    answered_at: float
    new_caller: bool  # the contact was made by this call
    matched: tuple[Match, ...]  # other known contacts with that number, most recent first


def _caller_contact(
    db: Database, campaign_id: int, number: str, given: str, now: float
) -> tuple[int, bool]:
    """The caller's contact in the campaign (made now if new): (id, made now)."""
    if number:
        found = caller_contact(db, campaign_id, number)
        if found is not None:
            return found, False
        key = caller_key(number)
    else:
        while True:  # a contact of its own: any key the campaign does not use
            key = secrets.randbits(63) - (1 << 62)
            if (
                db.scalar(
                    "SELECT 1 FROM contacts WHERE campaign_id = ? AND dedup_key = ?",
                    (campaign_id, key),
                )
                is None
            ):
                break  # fmt: skip
    db.conn.execute(
        "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, state, summary, attempts,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
        (campaign_id, key, given, number, ContactState.CONNECTED.value,
         int(Summary.SUCCESSFUL), now, now),
    )  # fmt: skip
    return int(db.conn.last_insert_rowid()), True


def record_inbound(
    db: Database,
    campaign: CampaignRow,
    line: str | None,
    caller_id: str,
    now: float,
    *,
    answered_at: float | None = None,
    box: str | None = None,
) -> InboundCall:
    """An answered call on an inbound campaign: the caller's contact (made at its first call)
    and an attempt in flight on it (direction 'in', no lease; `answered_at` default `now`), with
    the known contacts it matches. DialboxError if the campaign is not inbound (NotFound: gone)."""
    number, given = caller_number(caller_id, campaign.region)
    answered = now if answered_at is None else answered_at
    with db.transaction():
        kind = db.scalar("SELECT type FROM campaigns WHERE id = ?", (campaign.id,))
        if kind is None:
            raise NotFound(f"campaign {campaign.name!r} was deleted")
        if kind != CampaignType.INBOUND:
            raise DialboxError(f"campaign {campaign.name!r} is {kind}, not inbound")
        contact_id, made = _caller_contact(db, campaign.id, number, given, now)
        attempt_no = (
            int(str(db.scalar("SELECT attempts FROM contacts WHERE id = ?", (contact_id,)))) + 1
        )
        db.conn.execute(
            "INSERT INTO attempts(contact_id, campaign_id, attempt_no, phone_index, number,"
            " channel, line, status, queued_at, answered_at, direction, box)"
            " VALUES (?, ?, ?, 1, ?, 'voice', ?, 'in_flight', ?, ?, 'in', ?)",
            (contact_id, campaign.id, attempt_no, number, line, now, answered, box),
        )
        attempt_id = int(db.conn.last_insert_rowid())
        db.conn.execute(
            "UPDATE contacts SET attempts = ?, last_attempt_at = ?, updated_at = ? WHERE id = ?",
            (attempt_no, now, now, contact_id),
        )
        found = tuple(matches(db, number, exclude=contact_id))
    return InboundCall(attempt_id, contact_id, campaign.id, campaign.name, attempt_no, number,
                       given, line, answered, made, found)  # fmt: skip


def complete_inbound(
    db: Database,
    attempt_id: int,
    outcome: Outcome,
    now: float,
    *,
    flow: FlowOutcome | None = None,
    disposition: str | None = None,
    agent: str | None = None,
    line: str | None = None,
    evidence: Sequence[str] = (),
    outbox_payload: Mapping[str, Any] | None = None,
) -> bool:
    """An inbound call's end, in one transaction: its outcome, its flow's steps, answers and
    fields (set on the caller's contact), its disposition (given, else the flow's), and the
    webhook document (`inbound_payload`) into the outbox. False, changing nothing, if the
    attempt is not an inbound one in flight (already ended, or swept as dangling)."""
    record = clean(flow, now) if flow is not None else None
    chosen = disposition or (record.disposition if record is not None else None)
    with db.transaction():
        dialect.of(db).order_results(db)
        row = db.conn.execute(
            "UPDATE attempts SET status = 'done',"
            " seq = (SELECT ifnull(max(seq), 0) + 1 FROM attempts), outcome = ?,"
            " disposition = ?, evidence = ?, ended_at = ?, agent = coalesce(?, agent),"
            " line = coalesce(?, line)"
            " WHERE id = ? AND status = 'in_flight' AND direction = 'in'"
            " RETURNING contact_id, campaign_id",
            (int(outcome), chosen, json.dumps([str(e) for e in evidence]), now, agent, line,
             attempt_id),
        ).fetchone()  # fmt: skip
        if row is None:
            return False
        contact_id, campaign_id = int(row[0]), int(row[1])
        if record is not None:
            write_flow(db, attempt_id, contact_id, record)
        db.conn.execute(
            "UPDATE contacts SET last_outcome = ?, updated_at = ? WHERE id = ?",
            (int(outcome), now, contact_id),
        )
        if outbox_payload is not None:
            db.conn.execute(
                "INSERT INTO outbox(campaign_id, contact_id, attempt_id, payload, created_at,"
                " next_try_at) VALUES (?, ?, ?, ?, ?, ?)",
                (campaign_id, contact_id, attempt_id, json.dumps(outbox_payload), now, now),
            )
    return True


def inbound_payload(
    call: InboundCall,
    outcome: Outcome,
    now: float,
    *,
    flow: FlowOutcome | None = None,
    agent: str | None = None,
    line: str | None = None,
) -> dict[str, Any]:
    """The webhook document of an ended inbound call (pure): the keys of the engine's outbound
    `_payload` (times in epoch seconds, `dialed_at` null), and `direction` 'in', the caller ID
    as given, the matched contacts' ids, the agent, and the flow's steps, answers, disposition
    and fields (`store.flowrecords.flow_payload`)."""
    return {
        "campaign": call.campaign,
        "contact_id": call.contact_id,
        "attempt_id": call.attempt_id,
        "attempt_no": call.attempt_no,
        "number": call.number,
        "channel": "voice",
        "line": line or call.line,
        "outcome": outcome.label,
        "code": int(outcome),
        "dialed_at": None,
        "answered_at": call.answered_at,
        "ended_at": now,
        "caller_id": call.caller_id,
        "matched": [m.contact_id for m in call.matched],
        "agent": agent,
        **flow_payload(flow, now, "in"),
    }
