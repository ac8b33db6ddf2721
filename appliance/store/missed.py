"""Missed calls and callbacks (SPEC C14, issue #23): calls an inbound campaign did not serve,
listed, called back or dismissed; and the callback contact — a contact in a chosen outbound
campaign, due at the next permitted time for the number — that a missed call, a caller's
choice in a call flow or the queue's overflow asks for.

The due time is the caller's to work out with the scheduler's rules (the campaign's windows and
its profile's calling hours for the number's zones: `scheduler.callbacks.callback_due`); this
module never computes it. It refuses, with a reason in words, a callback for a withheld number,
one on a DNC or block list that applies to the campaign, one into a campaign that does not call
(inbound or SMS), and one with no permitted time. A number that already has an open callback in
the campaign keeps that one (`Callback.already`). Each function is one transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from appliance.domain import BP_FIELDS, CampaignType, ContactState
from appliance.phones import InvalidPhone, normalize, zone_key
from appliance.store.callers import CALLBACK_PREFIX, caller_contact, caller_number, matches
from appliance.store.campaigns import CampaignRow, audit
from appliance.store.db import Database
from appliance.store.dnc import listings

REASONS = ("hung_up_ringing", "hung_up_in_queue", "overflow", "closed")
STATUSES = ("open", "callback_made", "dismissed")
_OPEN_STATES = (ContactState.PENDING.value, ContactState.NOT_CONNECTED.value,
                ContactState.SENT_TO_DIALER.value)  # fmt: skip


@dataclass(frozen=True)
class Refused:
    """Why a callback or a dismissal was not done: `code` for programs, `reason` for people.

    Codes: gone (no such missed call or campaign), handled (called back or dismissed already),
    withheld (no number to call), campaign (the campaign does not call), dnc (listed), no_time
    (no permitted time)."""

    code: str
    reason: str


@dataclass(frozen=True)
class Callback:
    """A callback contact: made now, or the open one the number already had (`already`)."""

    contact_id: int
    campaign_id: int
    campaign: str
    number: str
    due_at: float | None  # its callback time
    owner: str | None
    already: bool

    def detail(self) -> str:
        """The words a flow's step keeps."""
        made = "already waiting" if self.already else "made"
        return f"callback contact {self.contact_id} in {self.campaign} {made}"


@dataclass(frozen=True)
class MissedCall:
    id: int
    campaign_id: int
    campaign: str
    line: str | None
    number: str  # '' when withheld or not a number
    caller_id: str
    contact_id: int | None
    attempt_id: int | None
    reason: str
    at: float
    last_at: float
    calls: int
    waited: float | None
    status: str
    handled_at: float | None
    handled_by: str | None
    callback_contact_id: int | None
    callback_campaign: str | None
    callback_state: str | None
    callback_due_at: float | None
    callback_owner: str | None
    callback_attempts: int | None

    def as_dict(self, iso: Any) -> dict[str, Any]:
        """The API's document; `iso` writes instants (api.times.iso_time)."""
        callback = None
        if self.callback_contact_id is not None:
            callback = {
                "contact_id": self.callback_contact_id,
                "campaign": self.callback_campaign,
                "state": self.callback_state,
                "due_at": iso(self.callback_due_at),
                "owner": self.callback_owner,
                "attempts": self.callback_attempts,
            }
        return {
            "id": self.id,
            "campaign": self.campaign,
            "line": self.line,
            "number": self.number or None,
            "caller_id": self.caller_id or None,
            "withheld": not self.number,
            "contact_id": self.contact_id,
            "attempt_id": self.attempt_id,
            "reason": self.reason,
            "at": iso(self.at),
            "last_at": iso(self.last_at),
            "calls": self.calls,
            "waited_seconds": None if self.waited is None else round(self.waited, 1),
            "status": self.status,
            "handled_at": iso(self.handled_at),
            "handled_by": self.handled_by,
            "callback": callback,
        }


_SELECT = (
    "SELECT m.id, m.campaign_id, cp.name, m.line, m.number, m.caller_id, m.contact_id,"
    " m.attempt_id, m.reason, m.at, m.last_at, m.calls, m.waited, m.status, m.handled_at,"
    " m.handled_by, m.callback_contact_id, bcp.name, b.state, b.callback_at, b.owner_agent,"
    " b.attempts FROM missed_calls m JOIN campaigns cp ON cp.id = m.campaign_id"
    " LEFT JOIN contacts b ON b.id = m.callback_contact_id"
    " LEFT JOIN campaigns bcp ON bcp.id = b.campaign_id"
)


def _missed(r: tuple[Any, ...]) -> MissedCall:
    return MissedCall(*r)


def get_missed(db: Database, missed_id: int) -> MissedCall | None:
    row = db.conn.execute(_SELECT + " WHERE m.id = ?", (missed_id,)).fetchone()
    return None if row is None else _missed(row)


def list_missed(
    db: Database,
    *,
    campaign_id: int | None = None,
    status: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[MissedCall]:
    """Missed calls with id above `after` (keyset paging, oldest first: the order to call them
    back in), of one campaign and one status if given."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown missed call status {status!r}; expected one of {STATUSES}")
    sql = _SELECT + " WHERE m.id > ?"
    params: list[Any] = [after]
    if campaign_id is not None:
        sql += " AND m.campaign_id = ?"
        params.append(campaign_id)
    if status is not None:
        sql += " AND m.status = ?"
        params.append(status)
    sql += " ORDER BY m.id LIMIT ?"
    params.append(limit)
    return [_missed(r) for r in db.conn.execute(sql, params)]


def record_missed(
    db: Database,
    campaign: CampaignRow,
    line: str | None,
    caller_id: str,
    reason: str,
    now: float,
    *,
    attempt_id: int | None = None,
    waited: float | None = None,
) -> MissedCall:
    """A call the inbound campaign did not serve (`reason`, one of REASONS). The caller's known
    contact is kept with it (theirs in the campaign, else the one last called at that number);
    an open missed call of the same number takes it as one more call."""
    if reason not in REASONS:
        raise ValueError(f"unknown missed call reason {reason!r}; expected one of {REASONS}")
    number, given = caller_number(caller_id, campaign.region)
    wait = None if waited is None or not 0 <= waited < 1e9 else float(waited)
    with db.transaction():
        contact = caller_contact(db, campaign.id, number)
        if contact is None and number:
            known = matches(db, number, limit=1)
            contact = known[0].contact_id if known else None
        row = db.conn.execute(
            "INSERT INTO missed_calls(campaign_id, line, number, caller_id, contact_id,"
            " attempt_id, reason, at, last_at, waited) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(campaign_id, number) WHERE status = 'open' AND number <> ''"
            " DO UPDATE SET calls = missed_calls.calls + 1, last_at = excluded.last_at,"
            " reason = excluded.reason, line = excluded.line, caller_id = excluded.caller_id,"
            " attempt_id = coalesce(excluded.attempt_id, missed_calls.attempt_id),"
            " contact_id = coalesce(excluded.contact_id, missed_calls.contact_id),"
            " waited = excluded.waited"
            " RETURNING id",
            (campaign.id, line, number, given, contact, attempt_id, reason, now, now, wait),
        ).fetchone()
        assert row is not None
    found = get_missed(db, int(row[0]))
    assert found is not None
    return found


def dismiss_missed(db: Database, missed_id: int, now: float, actor: str) -> MissedCall | Refused:
    """Close an open missed call without calling back; audited."""
    with db.transaction():
        refused = _open(db, missed_id)
        if refused is not None:
            return refused
        db.conn.execute(
            "UPDATE missed_calls SET status = 'dismissed', handled_at = ?, handled_by = ?"
            " WHERE id = ?",
            (now, actor, missed_id),
        )
        audit(db, actor, "missed_call.dismiss", str(missed_id), {}, now)
    found = get_missed(db, missed_id)
    assert found is not None
    return found


def _open(db: Database, missed_id: int) -> Refused | None:
    """None if the missed call is open, else why it cannot be handled."""
    row = db.conn.execute(
        "SELECT m.status, m.handled_at, m.handled_by, m.callback_contact_id"
        " FROM missed_calls m WHERE m.id = ?",
        (missed_id,),
    ).fetchone()
    if row is None:
        return Refused("gone", f"there is no missed call {missed_id}")
    status, _, by, contact = row
    if status == "callback_made":
        return Refused("handled", f"missed call {missed_id} was called back already"
                       f" (contact {contact}, by {by})")  # fmt: skip
    if status == "dismissed":
        return Refused("handled", f"missed call {missed_id} was dismissed already (by {by})")
    return None


def callback_key(number: str, n: int) -> int:
    """The dedup key of the number's `n`th callback contact in a campaign."""
    digest = hashlib.blake2b(f"callback\x1f{number}\x1f{n}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _zone_set(db: Database, number: str) -> int:
    """The zone_sets id of the number's zones (added if new), as an import would give it."""
    key = zone_key(number) or ""
    found = db.scalar("SELECT id FROM zone_sets WHERE zones = ?", (key,))
    if found is not None:
        return int(str(found))
    db.conn.execute("INSERT INTO zone_sets(zones) VALUES (?)", (key,))
    return int(db.conn.last_insert_rowid())


def _refusal(db: Database, campaign: CampaignRow, number: str, due_at: float | None,
             now: float) -> Refused | None:  # fmt: skip
    if not number:
        return Refused("withheld", "the caller's number was withheld (or is not a phone"
                       " number): there is no number to call back; dismiss the missed call")  # fmt: skip
    kind = db.scalar("SELECT type FROM campaigns WHERE id = ?", (campaign.id,))
    if kind is None:
        return Refused("gone", f"campaign {campaign.name!r} was deleted")
    if kind not in (CampaignType.AGENT, CampaignType.AUTOMATED):
        return Refused("campaign", f"campaign {campaign.name!r} is {kind}: it does not call;"
                       " call back from an agent or automated campaign")  # fmt: skip
    listed = [e for e in listings(db, number, campaign_id=campaign.id, only_for_campaign=True)
              if e.active(now)]  # fmt: skip
    if listed:
        entry = listed[0]
        why = f" ({entry.reason})" if entry.reason else ""
        return Refused("dnc", f"{number} is on the {entry.list_name} list{why}: it is never"
                       " called back")  # fmt: skip
    if due_at is None:
        return Refused("no_time", f"campaign {campaign.name!r} has no time within a year when"
                       f" its windows and calling hours allow a call to {number}")  # fmt: skip
    return None


def make_callback(
    db: Database,
    campaign: CampaignRow,
    number: str,
    due_at: float | None,
    now: float,
    *,
    actor: str,
    owner: str | None = None,
    missed_call_id: int | None = None,
    fields_from: int | None = None,
) -> Callback | Refused:
    """A contact in `campaign` (agent or automated) that calls `number` back at `due_at` (the
    next permitted time, which the caller computed), for `owner` (an agent, '@group', or
    anyone); its business fields copied from contact `fields_from` (the caller's known
    contact). With `missed_call_id`, that open missed call becomes `callback_made` in the same
    transaction (refused if it is not open). `number` is E.164 (or a number of the campaign's
    region); '' is a withheld one. Audited."""
    try:
        e164 = normalize(number, campaign.region) if number else ""
    except InvalidPhone:
        e164 = ""
    with db.transaction():
        if missed_call_id is not None:
            refused = _open(db, missed_call_id)
            if refused is not None:
                return refused
        refused = _refusal(db, campaign, e164, due_at, now)
        if refused is not None:
            return refused
        assert due_at is not None
        made = _callback_contact(db, campaign, e164, due_at, now, owner, fields_from)
        if missed_call_id is not None:
            db.conn.execute(
                "UPDATE missed_calls SET status = 'callback_made', handled_at = ?,"
                " handled_by = ?, callback_contact_id = ? WHERE id = ?",
                (now, actor, made.contact_id, missed_call_id),
            )
        audit(db, actor, "contact.callback", campaign.name,
              {"contact_id": made.contact_id, "number": e164, "due_at": made.due_at,
               "owner": made.owner, "already": made.already, "missed_call": missed_call_id},
              now)  # fmt: skip
    return made


def _callback_contact(db: Database, campaign: CampaignRow, number: str, due_at: float,
                      now: float, owner: str | None, fields_from: int | None) -> Callback:  # fmt: skip
    """The number's open callback contact in the campaign, else a new one."""
    made = db.conn.execute(
        "SELECT id, callback_at, owner_agent, state FROM contacts WHERE campaign_id = ?"
        " AND external_id = ? ORDER BY id",
        (campaign.id, CALLBACK_PREFIX + number),
    ).fetchall()
    for contact_id, callback_at, was_owner, state in made:
        if state in _OPEN_STATES:
            return Callback(int(str(contact_id)), campaign.id, campaign.name, number,
                            None if callback_at is None else float(str(callback_at)),
                            None if was_owner is None else str(was_owner), True)  # fmt: skip
    fields: tuple[Any, ...] = (None,) * len(BP_FIELDS)
    if fields_from is not None:
        row = db.conn.execute(
            f"SELECT {', '.join(BP_FIELDS)} FROM contacts WHERE id = ?", (fields_from,)
        ).fetchone()
        if row is not None:
            fields = tuple(row)
    n = len(made)
    while db.scalar("SELECT 1 FROM contacts WHERE campaign_id = ? AND dedup_key = ?",
                    (campaign.id, callback_key(number, n))) is not None:  # fmt: skip
        n += 1
    db.conn.execute(
        "INSERT INTO contacts(campaign_id, dedup_key, external_id, phone1, e164_1, zs1,"
        f" {', '.join(BP_FIELDS)}, callback_at, owner_agent, created_at, updated_at)"
        f" VALUES (?, ?, ?, ?, ?, ?, {', '.join('?' * len(BP_FIELDS))}, ?, ?, ?, ?)",
        (campaign.id, callback_key(number, n), CALLBACK_PREFIX + number, number, number,
         _zone_set(db, number), *fields, due_at, owner, now, now),
    )  # fmt: skip
    return Callback(int(db.conn.last_insert_rowid()), campaign.id, campaign.name, number, due_at,
                    owner, False)  # fmt: skip
