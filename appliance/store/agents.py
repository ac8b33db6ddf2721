"""Agents (SPEC A1): who they are, where they sit, their state; dispositions and callbacks (C10).

The engine keeps agents' live state in memory and writes each change here, so the metrics, the
console and a restarted daemon see it. A disposition and a callback are written in one
transaction with the audit entry that names who set them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appliance.domain import ContactState
from appliance.names import check_name
from appliance.store.campaigns import audit
from appliance.store.db import Database

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
            "SELECT state, count(*) FROM agents, json_each(agents.campaigns)"
            " WHERE json_each.value = ? AND state <> 'logged_out' GROUP BY state",
            (campaign,),
        )
    }


@dataclass(frozen=True)
class Disposition:
    attempt_id: int
    text: str
    callback_at: float | None = None
    callback_owner: str | None = None  # an agent's name, '@group', or None for anyone
    dnc: bool = False


def set_disposition(
    db: Database, d: Disposition, now: float, actor: str, *, campaign_id: int, campaign: str
) -> dict[str, Any]:
    """The agent's word on a call: kept on the attempt; a callback makes the contact due at its
    time for its owner (C10); `dnc` puts the number on the campaign's list. One transaction."""
    from appliance.store.dnc import add_numbers

    with db.transaction():
        row = db.conn.execute(
            "SELECT contact_id, number FROM attempts WHERE id = ?", (d.attempt_id,)
        ).fetchone()
        if row is None:
            raise KeyError(d.attempt_id)
        contact_id, number = int(row[0]), str(row[1])
        db.conn.execute("UPDATE attempts SET disposition = ? WHERE id = ?", (d.text, d.attempt_id))
        if d.callback_at is not None:
            # Waiting again, due at the callback time, for its owner; a lease in flight (none
            # after a call) is never overwritten.
            db.conn.execute(
                "UPDATE contacts SET state = ?, next_at = ?, callback_at = ?, owner_agent = ?,"
                " updated_at = ? WHERE id = ? AND lease_id IS NULL",
                (ContactState.NOT_CONNECTED.value, d.callback_at, d.callback_at,
                 d.callback_owner, now, contact_id),
            )  # fmt: skip
        audit(db, actor, "attempt.disposition", str(d.attempt_id),
              {"disposition": d.text, "callback_at": d.callback_at, "owner": d.callback_owner,
               "dnc": d.dnc}, now)  # fmt: skip
        if d.dnc:
            add_numbers(db, [number], campaign_id=campaign_id, campaign=campaign, now=now,
                        actor=actor, reason=f"agent disposition: {d.text}", source="agent")  # fmt: skip
    return {"attempt_id": d.attempt_id, "contact_id": contact_id}


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
