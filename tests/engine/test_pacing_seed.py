"""A restarted pacer (engine/pacing.py `_seed`) replays the stored history whole and consistently:
it dials no more than a pacer that lived through the same history (#19)."""

from __future__ import annotations

import random
from pathlib import Path

from appliance.campaigns import CampaignSettings
from appliance.domain import Outcome
from appliance.engine.pacing import Pacers
from appliance.scheduler.pacing import AgentView, Pacer
from appliance.store import Database, open_database
from tests.scheduler.dbfixtures import add_campaign, add_contact

START = 1_800_000_000.0
SHIFT = 8 * 3600.0


Event = tuple[float, int, str, float]


def _store(
    db: Database,
    campaign: int,
    number: str,
    t: float,
    answered_at: float | None,
    ended: float,
    outcome: Outcome,
    abandon_after: float = 0.0,
) -> list[Event]:
    """One done attempt stored, and the events a live pacer would have had of it."""
    contact = add_contact(db, campaign, [number])
    db.conn.execute(
        "INSERT INTO attempts(contact_id, campaign_id, attempt_no, phone_index, number,"
        " channel, status, queued_at, dialed_at, answered_at, ended_at, outcome)"
        " VALUES (?, ?, 1, 1, ?, 'voice', 'done', ?, ?, ?, ?, ?)",
        (contact, campaign, number, t, t, answered_at, ended, int(outcome)),
    )
    events: list[Event] = [(t, 0, "dial", 0.0)]
    if answered_at is None:
        kind = "busy" if outcome is Outcome.BUSY else "noanswer"
        events.append((ended, 4, kind, ended - t))
    else:
        events.append((answered_at, 1, "answer", answered_at - t))
        if outcome is Outcome.ABANDONED:
            events.append((answered_at + abandon_after, 2, "abandon", 0.0))
        else:
            events.append((ended, 3, "talk", ended - answered_at))
    return events


def _lived(events: list[Event]) -> Pacer:
    """A pacer fed the events live, in time order."""
    live = Pacer("predictive", wrap=15.0)
    for at, _, kind, value in sorted(events):
        if kind == "dial":
            live.dialed(at)
        elif kind == "answer":
            live.answered(at, value)
        elif kind == "abandon":
            live.abandoned(at)
        elif kind == "talk":
            live.talk_ended(value, at)
        else:
            live.resolved(at, kind, value)
    return live


def _day_of_history(path: Path) -> tuple[Pacers, int, Pacer, float]:
    """One 8 h shift of a 10-agent campaign: p 0.3, answers after ~10 s, no-answers ring 25 s,
    talks ~180 s, 2 % abandoned — stored as attempts and, alongside, fed live to a pacer."""
    db = open_database(path / "box.db")
    campaign = add_campaign(db, "c", '{"pacing": "predictive"}')
    rng = random.Random(7)
    events: list[Event] = []
    t = START
    n = 0
    while t < START + SHIFT:
        n += 1
        r = rng.random()
        answered_at: float | None = None
        if r < 0.3:
            delay = rng.uniform(5.0, 15.0)
            answered_at = t + delay
            abandoned = rng.random() < 0.02
            outcome = Outcome.ABANDONED if abandoned else Outcome.CONNECTED
            ended = answered_at + (2.0 if abandoned else rng.expovariate(1 / 180.0))
        elif r < 0.5:
            outcome, ended = Outcome.BUSY, t + rng.uniform(2.0, 6.0)
        else:
            outcome, ended = Outcome.ALERTING_TIMEOUT, t + 25.0
        events += _store(db, campaign, f"+1212555{n:04d}", t, answered_at, ended, outcome, 2.0)
        t += rng.uniform(1.0, 7.0)  # about 60 dials per agent-hour over 10 agents
    live = _lived(events)
    return Pacers(db, 15.0), campaign, live, START + SHIFT + 600.0


def test_a_restarted_pacer_dials_no_more_than_one_that_lived_through_the_same_day(
    tmp_path: Path,
) -> None:
    pacers, campaign, lived, now = _day_of_history(tmp_path)
    settings = CampaignSettings(pacing="predictive")
    restarted = pacers.get(campaign, settings, 0.03, now)
    assert restarted.stats.answer_rate() <= 1.0
    assert abs(restarted.stats.answer_rate() - lived.stats.answer_rate()) < 0.02
    # Agents and calls in flight as a 10-agent, 30-line campaign sees them through a shift.
    rng = random.Random(1)
    for _ in range(200):
        idle = rng.randint(0, 10)
        agents = AgentView(idle, tuple(rng.uniform(0.0, 400.0) for _ in range(10 - idle)))
        ringing = tuple(rng.uniform(0.0, 24.0) for _ in range(rng.randint(0, 8)))
        waiting = rng.randint(0, 2)
        fresh = lived.dials_wanted(now, agents, ringing, waiting, lines_free=30)
        again = restarted.dials_wanted(now, agents, ringing, waiting, lines_free=30)
        assert again <= fresh, (agents, ringing, waiting)


def test_the_engine_reports_a_paced_dials_non_live_end_with_its_time_from_dial(
    tmp_path: Path,
) -> None:
    """#19: busy, no answer, machine and failures reach the pacer (`AgentCalls.unanswered`, called
    when an agent campaign's voice attempt ends); a call that reached the agents' queue does not."""
    from types import SimpleNamespace
    from typing import Any, cast

    from appliance.engine.agentcalls import AgentCalls

    db = open_database(tmp_path / "box.db")
    campaign_id = add_campaign(db, "c", '{"pacing": "predictive"}')
    pacers = Pacers(db, 15.0)
    pacer = pacers.get(campaign_id, CampaignSettings(pacing="predictive"), 0.03, START)
    calls = {7: SimpleNamespace(stage="ringing"), 8: SimpleNamespace(stage="waiting")}
    loop = cast(Any, SimpleNamespace(calls=calls))
    agents = AgentCalls(loop, db, cast(Any, None), cast(Any, None), cast(Any, None), None, pacers)
    campaign = cast(Any, SimpleNamespace(id=campaign_id))
    agents.unanswered(campaign, 7, Outcome.BUSY, START, START + 3.5)
    agents.unanswered(campaign, 8, Outcome.CONNECTED, START, START + 200.0)
    assert pacer.stats.outcomes_reported
    assert pacer.stats.non_live.sorted == [3.5]


def _half_hour(path: Path, abandons_ago: float) -> tuple[Pacers, int, Pacer, float]:
    """A 20-agent campaign's last 4 hours: a dial every 10 s, every third answered 8 s later
    and talked 100 s; the three answers of the 90 s up to `abandons_ago` s before the restart
    abandoned. Stored as attempts and fed live to a pacer."""
    db = open_database(path / "box.db")
    campaign = add_campaign(db, "c", '{"pacing": "predictive"}')
    now = START + 4 * 3600.0
    events: list[Event] = []
    last = now - abandons_ago
    for n in range(1440):
        t = START + n * 10.0
        answered_at = t + 8.0 if n % 3 == 0 else None
        if answered_at is None:
            outcome, ended = Outcome.BUSY, t + 4.0
        elif last - 90.0 < answered_at <= last:
            outcome, ended = Outcome.ABANDONED, answered_at + 2.0
        else:
            outcome, ended = Outcome.CONNECTED, answered_at + 100.0
        if ended <= now:  # still under way at the restart: not stored as done
            events += _store(db, campaign, f"+1212556{n:04d}", t, answered_at, ended, outcome)
    assert sum(1 for e in events if e[2] == "abandon") == 3
    live = _lived(events)
    return Pacers(db, 15.0), campaign, live, now


# 20 agents: 5 idle, 15 talking; 60 lines free, nothing ringing
TEAM = AgentView(5, tuple(float(20 * i) for i in range(15)))


def test_a_restart_inside_a_braked_half_hour_stays_braked(tmp_path: Path) -> None:
    """#19: 3 abandons among the half hour's ~60 answers (the day's 480 hold no others) leave it
    under 1.5 before 6 %, so a team of 20 dials 1:1; a restart replays the half hour and keeps
    that (the test below: with the abandons 35 minutes back it dials ahead of its idle agents)."""
    pacers, campaign, lived, now = _half_hour(tmp_path, abandons_ago=300.0)
    settings = CampaignSettings(pacing="predictive")
    restarted = pacers.get(campaign, settings, 0.03, now)
    assert restarted.short_headroom(now, TEAM) == lived.short_headroom(now, TEAM) < 1.5
    assert restarted.dials_wanted(now, TEAM, (), 0, lines_free=60) <= TEAM.idle
    assert lived.dials_wanted(now, TEAM, (), 0, lines_free=60) <= TEAM.idle


def test_the_half_hour_brake_lets_go_once_its_abandons_are_older(tmp_path: Path) -> None:
    """The same history with the abandons 35 minutes back: the brake is off and the pacer dials
    ahead of its idle agents (so the test above can fail)."""
    pacers, campaign, _, now = _half_hour(tmp_path, abandons_ago=2100.0)
    restarted = pacers.get(campaign, CampaignSettings(pacing="predictive"), 0.03, now)
    assert restarted.short_headroom(now, TEAM) == float("inf")
    assert restarted.dials_wanted(now, TEAM, (), 0, lines_free=60) > TEAM.idle
