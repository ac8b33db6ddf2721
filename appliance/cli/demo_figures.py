"""What the demo shows, read from its database (and the running daemon's lines): per campaign
progress and counts, per line and per agent, calls and SMS always counted apart.

`since` is the last attempt id before this run: every figure is this run's alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from appliance.domain import FINAL_STATES, ContactState, Outcome
from appliance.store import Database
from appliance.store.campaigns import contacts_by_state, find_campaign


@dataclass(frozen=True)
class CampaignFigures:
    name: str
    type: str  # automated, sms, agent
    contacts: int
    finished: int  # contacts in a final state (nothing more will be dialed or sent)
    dialed: int  # voice attempts that ended
    answered: int
    to_agents: int  # answered calls put through to an agent
    abandoned: int  # answered, no agent in time (SPEC C11 code 15)
    sms_sent: int
    sms_failed: int
    dnc_skipped: int  # contacts closed as DNC Listed (all their numbers listed)
    in_flight: int
    seconds: float  # first attempt queued to last one ended
    states: dict[str, int] = field(default_factory=dict)

    @property
    def progress(self) -> float:
        return self.finished / self.contacts if self.contacts else 0.0

    @property
    def abandon_rate(self) -> float | None:
        """abandoned ÷ answered, as the abandon cap counts it; None before any answer."""
        return self.abandoned / self.answered if self.answered else None


@dataclass(frozen=True)
class LineFigures:
    name: str
    kind: str
    state: str  # up, busy, down, disabled ("ended" once the daemon stopped)
    attempts: int


@dataclass(frozen=True)
class AgentFigures:
    name: str
    state: str
    calls: int


@dataclass(frozen=True)
class InboundFigures:
    """The inbound campaign's calls this run (SPEC C14): answered, of them callbacks asked and
    numbers opted out in its menu, missed, and callers waiting for an agent now."""

    name: str
    answered: int
    callbacks: int
    opted_out: int
    missed: int
    waiting: int | None  # None: the daemon does not say (not running)


@dataclass(frozen=True)
class Snapshot:
    elapsed: float
    phase: str  # starting, running, draining, stopped
    campaigns: tuple[CampaignFigures, ...]
    lines: tuple[LineFigures, ...]
    agents: tuple[AgentFigures, ...]
    inbound: InboundFigures | None = None

    def total(self, name: str) -> int:
        return sum(int(getattr(c, name)) for c in self.campaigns)

    def as_dict(self) -> dict[str, Any]:
        return {
            "elapsed_seconds": round(self.elapsed, 1),
            "campaigns": [
                {**asdict(c), "seconds": round(c.seconds, 1), "abandon_rate": c.abandon_rate}
                for c in self.campaigns
            ],
            "lines": [asdict(line) for line in self.lines],
            "agents": [asdict(agent) for agent in self.agents],
            "inbound": None if self.inbound is None else asdict(self.inbound),
        }


_CAMPAIGN_SQL = (
    "SELECT"
    " coalesce(sum(channel = 'voice' AND status <> 'in_flight'), 0),"
    " coalesce(sum(channel = 'voice' AND answered_at IS NOT NULL), 0),"
    " coalesce(sum(channel = 'voice' AND agent IS NOT NULL), 0),"
    f" coalesce(sum(channel = 'voice' AND outcome = {int(Outcome.ABANDONED)}), 0),"
    " coalesce(sum(channel = 'sms' AND status <> 'in_flight' AND outcome = 0), 0),"
    " coalesce(sum(channel = 'sms' AND status <> 'in_flight' AND outcome <> 0), 0),"
    " coalesce(sum(status = 'in_flight'), 0),"
    " min(queued_at), max(ended_at)"
    " FROM attempts WHERE campaign_id = ? AND id > ?"
)


def campaign_figures(
    db: Database, names: tuple[str, ...], since: int
) -> tuple[CampaignFigures, ...]:
    out = []
    for name in names:
        campaign = find_campaign(db, name)
        if campaign is None:
            continue
        row = db.conn.execute(_CAMPAIGN_SQL, (campaign.id, since)).fetchone()
        assert row is not None  # an aggregate always has its one row
        dialed, answered, to_agents, abandoned, sent, failed, flying, first, last = row
        states = contacts_by_state(db, campaign.id)
        out.append(
            CampaignFigures(
                name=name,
                type=str(campaign.type),
                contacts=sum(states.values()),
                finished=sum(n for s, n in states.items() if s in FINAL_STATES),
                dialed=int(dialed),
                answered=int(answered),
                to_agents=int(to_agents),
                abandoned=int(abandoned),
                sms_sent=int(sent),
                sms_failed=int(failed),
                dnc_skipped=states.get(str(ContactState.DNC_LISTED), 0),
                in_flight=int(flying),
                seconds=max(float(last) - float(first), 0.0) if first and last else 0.0,
                states=dict(sorted(states.items())),
            )
        )
    return tuple(out)


def inbound_figures(
    db: Database, name: str | None, since: int, waiting: int | None
) -> InboundFigures | None:
    campaign = find_campaign(db, name) if name else None
    if campaign is None or name is None:
        return None
    answered = db.scalar(
        "SELECT count(*) FROM attempts WHERE campaign_id = ? AND id > ? AND direction = 'in'",
        (campaign.id, since),
    )
    steps = {
        str(kind): int(n)
        for kind, n in db.conn.execute(
            "SELECT s.kind, count(*) FROM attempt_steps s JOIN attempts a ON a.id = s.attempt_id"
            " WHERE a.campaign_id = ? AND a.id > ? AND (s.kind = 'callback'"
            " OR (s.kind = 'opt_out' AND s.detail LIKE '%on the DNC list%')) GROUP BY s.kind",
            (campaign.id, since),
        )
    }
    missed = db.scalar(
        "SELECT coalesce(sum(calls), 0) FROM missed_calls WHERE campaign_id = ?", (campaign.id,)
    )
    return InboundFigures(name, int(str(answered or 0)), int(steps.get("callback", 0)),
                          int(steps.get("opt_out", 0)), int(str(missed or 0)), waiting)  # fmt: skip


def attempts_by(db: Database, column: str, since: int) -> dict[str, int]:
    """This run's attempts per line or per agent."""
    assert column in ("line", "agent")
    return {
        str(key): int(count)
        for key, count in db.conn.execute(
            f"SELECT {column}, count(*) FROM attempts WHERE id > ? AND {column} IS NOT NULL"
            f" GROUP BY {column}",
            (since,),
        )
    }


def line_figures(
    db: Database, since: int, states: dict[str, tuple[str, str]]
) -> tuple[LineFigures, ...]:
    """`states`: line name -> (kind, state) from the running daemon; lines it no longer runs
    but that carried this run's attempts are listed as ended."""
    counts = attempts_by(db, "line", since)
    names = list(states) + sorted(set(counts) - set(states))
    return tuple(
        LineFigures(name, *states.get(name, ("", "ended")), counts.get(name, 0)) for name in names
    )


def agent_figures(db: Database, since: int) -> tuple[AgentFigures, ...]:
    counts = attempts_by(db, "agent", since)
    return tuple(
        AgentFigures(str(name), str(state), counts.get(str(name), 0))
        for name, state in db.conn.execute("SELECT name, state FROM agents ORDER BY name")
    )


def snapshot(
    db: Database,
    names: tuple[str, ...],
    since: int,
    *,
    elapsed: float,
    phase: str,
    lines: dict[str, tuple[str, str]],
    inbound: str | None = None,
    waiting: int | None = None,
) -> Snapshot:
    """`inbound`: the inbound campaign's name; `waiting`: its callers waiting now, if known."""
    return Snapshot(
        elapsed=elapsed,
        phase=phase,
        campaigns=campaign_figures(db, names, since),
        lines=line_figures(db, since, lines),
        agents=agent_figures(db, since),
        inbound=inbound_figures(db, inbound, since, waiting),
    )


def outcomes(db: Database, since: int) -> dict[str, Any]:
    """This run's voice outcomes by label and SMS counts (the `--json` document's first part):
    what the box dialed and sent, not the calls it answered (`inbound`)."""
    by_outcome: dict[str, int] = {}
    sms = {"sent": 0, "failed": 0, "received": 0}
    dialed = 0
    for channel, code, count in db.conn.execute(
        "SELECT channel, outcome, count(*) FROM attempts WHERE id > ? AND status <> 'in_flight'"
        " AND direction = 'out' GROUP BY channel, outcome",
        (since,),
    ):
        if channel == "sms":
            sms["sent" if code == 0 else "failed"] += int(count)
            continue
        dialed += int(count)
        label = Outcome(code).label if code is not None else "Dangling"
        by_outcome[label] = by_outcome.get(label, 0) + int(count)
    return {"dialed": dialed, "by_outcome": by_outcome, "sms": sms}
