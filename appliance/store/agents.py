"""Agents (SPEC A1): who they are, where they sit, their state; dispositions and callbacks (C10).

The engine keeps agents' live state in memory and writes each change here, so the metrics, the
console and a restarted daemon see it. A disposition and a callback are written in one
transaction with the audit entry that names who set them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.domain import Channel, ContactState, Summary
from appliance.names import check_name
from appliance.store import dialect
from appliance.store.campaigns import audit
from appliance.store.db import Database
from appliance.store.selection import phone_attempt_counts

STATES = ("logged_out", "ready", "reserved", "talking", "wrap_up", "paused")


@dataclass(frozen=True)
class AgentRow:
    name: str
    extension: str | None  # the agent's usual seat
    group: str | None
    skills: tuple[str, ...]
    state: str
    seat: str | None
    campaigns: tuple[str, ...]
    reason: str | None
    updated_at: float


_COLUMNS = "name, extension, group_name, skills, state, seat, campaigns, reason, updated_at"


def _row(r: Sequence[Any]) -> AgentRow:
    return AgentRow(
        name=r[0], extension=r[1], group=r[2], skills=tuple(json.loads(r[3] or "[]")),
        state=r[4], seat=r[5], campaigns=tuple(json.loads(r[6] or "[]")), reason=r[7],
        updated_at=r[8],
    )  # fmt: skip


def list_agents(db: Database) -> list[AgentRow]:
    return [_row(r) for r in db.conn.execute(f"SELECT {_COLUMNS} FROM agents ORDER BY name")]


def get_agent(db: Database, name: str) -> AgentRow | None:
    r = db.conn.execute(f"SELECT {_COLUMNS} FROM agents WHERE name = ?", (name,)).fetchone()
    return None if r is None else _row(r)


def put_agent(
    db: Database,
    name: str,
    *,
    extension: str | None,
    group: str | None,
    skills: Sequence[str],
    now: float,
    actor: str,
) -> tuple[AgentRow, bool]:
    """Create or update an agent's position; True when it was created. A new agent's name
    follows the name rule; one from before it is still updated in place."""
    with db.transaction():
        created = get_agent(db, name) is None
        if created:
            check_name("agent", name)
        db.conn.execute(
            "INSERT INTO agents(name, extension, group_name, skills, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET extension = excluded.extension,"
            " group_name = excluded.group_name, skills = excluded.skills,"
            " updated_at = excluded.updated_at",
            (name, extension, group, json.dumps(sorted(set(skills))), now),
        )
        audit(db, actor, "agent.create" if created else "agent.update", name,
              {"extension": extension, "group": group, "skills": sorted(set(skills))}, now)  # fmt: skip
    row = get_agent(db, name)
    assert row is not None
    return row, created


def delete_agent(db: Database, name: str, now: float, actor: str) -> bool:
    with db.transaction():
        gone = db.conn.execute("DELETE FROM agents WHERE name = ? RETURNING id", (name,)).fetchall()
        if gone:
            audit(db, actor, "agent.delete", name, {}, now)
    return bool(gone)


def save_state(
    db: Database,
    name: str,
    state: str,
    now: float,
    *,
    seat: str | None,
    campaigns: Sequence[str],
    reason: str | None = None,
    actor: str | None = None,
) -> None:
    """Write an agent's state (and where they are logged in), and append it to the agents'
    ledger (`agent_states`, for the reports); audited when a person changed it."""
    with db.transaction():
        db.conn.execute(
            "UPDATE agents SET state = ?, seat = ?, campaigns = ?, reason = ?, updated_at = ?"
            " WHERE name = ?",
            (state, seat, json.dumps(list(campaigns)), reason, now, name),
        )
        # the ledger the reports read agents' time from (migrations/*_agent_states.sql)
        db.conn.execute(
            "INSERT INTO agent_states(agent, state, at, reason) VALUES (?, ?, ?, ?)",
            (name, state, now, reason),
        )
        if actor is not None:
            audit(db, actor, f"agent.{state}", name,
                  {"seat": seat, "campaigns": list(campaigns), "reason": reason}, now)  # fmt: skip


def agents_by_state(db: Database) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for state, n in db.conn.execute("SELECT state, count(*) FROM agents GROUP BY state"):
        counts[str(state)] = int(n)
    return counts


def campaign_agents(db: Database, campaign: str) -> dict[str, int]:
    """Agents logged in to the campaign, by state (for `why`, C12)."""
    return {
        str(state): int(n)
        for state, n in db.conn.execute(
            "SELECT state, count(*) FROM agents"
            f" WHERE {dialect.of(db).json_contains('agents.campaigns', '?')}"
            " AND state <> 'logged_out' GROUP BY state",
            (campaign,),
        )
    }


@dataclass(frozen=True)
class DisposedContact:
    """The contact a disposition is set on, as its transaction reads it: what the strategy needs
    to decide what follows (appliance/agent_disposition.py)."""

    contact_id: int
    number: str  # the number the attempt dialed
    phone_index: int  # 1..5, the phone the attempt dialed
    channel: Channel
    state: ContactState
    step: int  # the plan's attempt the contact is at
    attempts: int  # attempts made so far
    phones: tuple[bool, ...]  # which of phones 1..5 it has
    phone_attempts: tuple[int, ...]  # attempts per phone 1..5 so far


@dataclass(frozen=True)
class ContactChange:
    """What a disposition does to its contact, written with it (a decision of the strategy)."""

    state: ContactState
    summary: Summary
    next_at: float | None  # None: nothing more is due
    next_phone: int | None = None  # None: as it was
    step: int | None = None  # None: as it was
    callback_at: float | None = None  # a callback's time; else any callback is cleared
    owner: str | None = None  # the callback's owner: an agent, '@group', None for anyone
    block_number: bool = False  # the number on the permanent block list (D7)
    dnc_list: bool = False  # the number on the campaign's DNC list
    why: str = ""


class ContactInFlight(Exception):
    """The disposition's contact is being dialed again, or was dialed since: the disposition
    would overwrite what that attempt decides, so nothing is written."""

    def __init__(self, contact_id: int, attempt_id: int, leased: bool) -> None:
        self.contact_id, self.attempt_id, self.leased = contact_id, attempt_id, leased
        doing = "is being dialed now" if leased else "was dialed again since"
        super().__init__(f"contact {contact_id} {doing} (attempt {attempt_id})")


Decide = Callable[[DisposedContact], ContactChange]


@dataclass(frozen=True)
class Disposition:
    """The agent's word on a call: `text` (a disposition code) kept on the attempt, `note` in
    its audit entry. `change` decides what follows for the contact; without it only a callback
    (`callback_at`, for `callback_owner`) changes the contact."""

    attempt_id: int
    text: str
    callback_at: float | None = None
    callback_owner: str | None = None  # an agent's name, '@group', or None for anyone
    dnc: bool = False
    note: str | None = None
    change: Decide | None = None


def set_disposition(
    db: Database, d: Disposition, now: float, actor: str, *, campaign_id: int, campaign: str
) -> dict[str, Any]:
    """The agent's word on a call: kept on the attempt; the contact takes what `d.change`
    decides (a callback makes it due at its time for its owner, C10); the number goes on the
    permanent block list or the campaign's DNC list as decided, or as `dnc` asks. One
    transaction with the audit entry. A contact in flight, or dialed again since this attempt,
    is never overwritten: `ContactInFlight`, and nothing is written."""
    from appliance.store.dnc import add_numbers, block_number

    with db.transaction():
        row = db.conn.execute(
            "SELECT contact_id, number, phone_index, channel FROM attempts WHERE id = ?",
            (d.attempt_id,),
        ).fetchone()
        if row is None:
            raise KeyError(d.attempt_id)
        contact_id, number = int(row[0]), str(row[1])
        change: ContactChange | None = None
        if d.change is not None:
            contact = _disposed(db, contact_id, number, int(row[2] or 1), str(row[3]),
                                d.attempt_id)  # fmt: skip
            change = d.change(contact)
        db.conn.execute("UPDATE attempts SET disposition = ? WHERE id = ?", (d.text, d.attempt_id))
        if change is not None:
            db.conn.execute(
                "UPDATE contacts SET state = ?, summary = ?, next_at = ?,"
                " next_phone = coalesce(?, next_phone), step = coalesce(?, step),"
                " callback_at = ?, owner_agent = ?, updated_at = ?"
                " WHERE id = ? AND lease_id IS NULL",
                (change.state.value, int(change.summary), change.next_at, change.next_phone,
                 change.step, change.callback_at, change.owner, now, contact_id),
            )  # fmt: skip
        elif d.callback_at is not None:
            # Waiting again, due at the callback time, for its owner; a lease in flight (none
            # after a call) is never overwritten.
            db.conn.execute(
                "UPDATE contacts SET state = ?, next_at = ?, callback_at = ?, owner_agent = ?,"
                " updated_at = ? WHERE id = ? AND lease_id IS NULL",
                (ContactState.NOT_CONNECTED.value, d.callback_at, d.callback_at,
                 d.callback_owner, now, contact_id),
            )  # fmt: skip
        details: dict[str, Any] = {
            "disposition": d.text, "note": d.note, "callback_at": d.callback_at,
            "owner": d.callback_owner, "dnc": d.dnc,
        }  # fmt: skip
        if change is not None:
            details.update(
                {"state": change.state.value, "next_at": change.next_at,
                 "callback_at": change.callback_at, "owner": change.owner,
                 "blocked": change.block_number, "why": change.why}
            )  # fmt: skip
        audit(db, actor, "attempt.disposition", str(d.attempt_id), details, now)
        reason = f"agent disposition: {d.text}"
        if change is not None and change.block_number:
            block_number(db, number, reason, now, source=f"attempt:{d.attempt_id}")
        if d.dnc or (change is not None and change.dnc_list):
            add_numbers(db, [number], campaign_id=campaign_id, campaign=campaign, now=now,
                        actor=actor, reason=reason, source="agent")  # fmt: skip
    return {"attempt_id": d.attempt_id, "contact_id": contact_id, "change": change}


def _disposed(
    db: Database, contact_id: int, number: str, phone_index: int, channel: str, attempt_id: int
) -> DisposedContact:
    """The contact as the disposition's transaction finds it; `ContactInFlight` when another
    attempt holds its lease or came after this one."""
    r = db.conn.execute(
        "SELECT state, step, attempts, lease_id, e164_1, e164_2, e164_3, e164_4, e164_5,"
        " (SELECT max(id) FROM attempts WHERE contact_id = contacts.id)"
        " FROM contacts WHERE id = ?",
        (contact_id,),
    ).fetchone()
    if r is None:
        raise KeyError(contact_id)
    if r[3] is not None:
        raise ContactInFlight(contact_id, int(r[3]), True)
    if r[9] is not None and int(r[9]) != attempt_id:
        raise ContactInFlight(contact_id, int(r[9]), False)
    return DisposedContact(
        contact_id, number, phone_index, Channel(channel), ContactState(str(r[0])), int(r[1] or 0),
        int(r[2] or 0), tuple(bool(n) for n in r[4:9]), phone_attempt_counts(db, contact_id),
    )  # fmt: skip


@dataclass(frozen=True)
class EndedCall:
    """What a disposition needs to know of the attempt it is set on."""

    status: str
    agent: str | None  # the agent the call was given to
    campaign: str
    campaign_id: int


def ended_call(db: Database, attempt_id: int) -> EndedCall | None:
    row = db.conn.execute(
        "SELECT a.status, a.agent, c.name, c.id FROM attempts a JOIN campaigns c"
        " ON c.id = a.campaign_id WHERE a.id = ?",
        (attempt_id,),
    ).fetchone()
    return None if row is None else EndedCall(str(row[0]), row[1], str(row[2]), int(row[3]))


def owned_elsewhere(db: Database, campaign_id: int, present: Sequence[str]) -> list[int]:
    """Contacts owned by agents (or groups) not among `present`: their callbacks wait for them."""
    marks = ",".join("?" for _ in present) or "NULL"
    return [
        int(r[0])
        for r in db.conn.execute(
            "SELECT id FROM contacts WHERE campaign_id = ? AND owner_agent IS NOT NULL"
            f" AND owner_agent NOT IN ({marks}) AND state IN ('Pending', 'Not Connected')",
            (campaign_id, *present),
        )
    ]


def owner_of(db: Database, contact_id: int) -> str | None:
    r = db.conn.execute("SELECT owner_agent FROM contacts WHERE id = ?", (contact_id,)).fetchone()
    return None if r is None or r[0] is None else str(r[0])


def agent_list(db: Database, campaign_id: int, owner: str, group: str | None, now: float,
               limit: int = 50) -> list[dict[str, Any]]:  # fmt: skip
    """The agent's manual-dial list (A5): due callbacks first (marked), then waiting contacts."""
    owners = [owner] + ([f"@{group}"] if group else [])
    marks = ",".join("?" for _ in owners)
    rows = db.conn.execute(
        "SELECT id, external_id, phone1, e164_1, state, callback_at, owner_agent, next_at,"
        f" (callback_at IS NOT NULL AND callback_at <= ? AND (owner_agent IS NULL OR owner_agent IN ({marks})))"
        " AS due FROM contacts WHERE campaign_id = ? AND state IN ('Pending', 'Not Connected')"
        f" AND (owner_agent IS NULL OR owner_agent IN ({marks}))"
        " ORDER BY due DESC, coalesce(next_at, callback_at, 0), priority DESC, id LIMIT ?",
        (now, *owners, campaign_id, *owners, limit),
    )
    return [
        {"contact_id": r[0], "external_id": r[1], "phone1": r[2], "number": r[3], "state": r[4],
         "callback_at": r[5], "owner": r[6], "next_at": r[7], "callback_due": bool(r[8])}
        for r in rows
    ]  # fmt: skip
