"""`why` (SPEC C12): why a campaign dials nothing or fewer than it could — its gates (status,
window, lines, abandon cap, agents) and how many contacts each reason holds back, in words
(`scheduler/why.py`); and the lines a campaign may use, as `why` and `plan` count them.

The planner's queries reach it through `Rulebook`, the part of `StorePlanner` it reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from appliance.campaigns import CampaignSettings
from appliance.config.models import DialboxConfig
from appliance.domain import CampaignType
from appliance.engine.rules import CampaignRules
from appliance.flows import Flow, Flows
from appliance.flows.model import Queue as FlowQueue
from appliance.scheduler import why as words
from appliance.scheduler.compliance import DAY
from appliance.scheduler.limits import (
    AbandonFigure,
    abandon_cap_reached,
    false_positive_estimate,
)
from appliance.scheduler.select import Reason, Rules, classify
from appliance.scheduler.why import Explanation, Gates, InboundGates
from appliance.scheduler.windows import local_time
from appliance.store import external
from appliance.store.agents import campaign_agents, list_agents
from appliance.store.boxes import list_boxes
from appliance.store.campaigns import CampaignRow
from appliance.store.db import Database
from appliance.store.selection import (
    SelectionQuery,
    abandon_counts,
    every_contact,
)


class Rulebook(Protocol):
    """What `why` reads of the planner: a campaign's rules and their selection at a moment."""

    db: Database
    config: DialboxConfig

    def rules_for(self, campaign: CampaignRow) -> CampaignRules: ...

    def selection(self, cr: CampaignRules, now: float) -> tuple[SelectionQuery, Rules]: ...

    def false_positive_share(self, campaign: CampaignRow) -> float: ...


def usable_lines(config: DialboxConfig, campaign: CampaignRow) -> list[str]:
    """Enabled configured lines this campaign may use: unpinned, or pinned to it (SPEC C7)."""
    return [
        line.name
        for line in config.lines
        if line.enabled and (not line.campaigns or campaign.name in line.campaigns)
    ]


@dataclass(frozen=True)
class BoxShare:
    """One box's part in a campaign (#27): its lines up that the campaign may use, as the box
    last reported them, and the campaign's calls it has in flight."""

    box: str
    state: str  # up, silent, stopped, swept
    draining: bool
    lines_up: int
    in_flight: int

    def text(self) -> str:
        if self.state != "up":
            return f"box {self.box}: {self.state}, dials nothing"
        if self.draining:
            return (
                f"box {self.box}: draining, leases nothing new ({self.in_flight} calls in flight)"
            )
        return f"box {self.box}: {self.lines_up} lines up for it, {self.in_flight} calls in flight"


def box_shares(
    db: Database, campaign: CampaignRow, now: float, heartbeat: float, sweep_after: float
) -> list[BoxShare]:
    """Each box on the store and its part in the campaign (`why` per box, #27)."""
    in_flight: dict[str, int] = {
        str(box): int(str(n))
        for box, n in db.conn.execute(
            "SELECT box, count(*) FROM attempts WHERE campaign_id = ? AND status = 'in_flight'"
            " GROUP BY box",
            (campaign.id,),
        )
    }
    out = []
    for row in list_boxes(db):
        state = row.state
        if state == "up" and row.age(now) > 2 * heartbeat:
            state = "silent"
        usable = sum(
            1
            for line in row.lines
            if line.get("up")
            and (not line.get("campaigns") or campaign.name in line.get("campaigns", ()))
        )
        out.append(BoxShare(row.id, state, row.draining, usable,
                            in_flight.get(row.id, 0)))  # fmt: skip
    return out


def boxes_text(shares: Sequence[BoxShare]) -> str:
    """`why`'s part per box, after its answer for the whole campaign."""
    return "\nBoxes:\n" + "\n".join(f"  {share.text()}" for share in shares)


def boxes_lines_up(shares: Sequence[BoxShare]) -> int:
    """The campaign's lines up across the boxes that lease (up, not draining)."""
    return sum(s.lines_up for s in shares if s.state == "up" and not s.draining)


def campaign_lines_up(
    config: DialboxConfig, campaign: CampaignRow, up: Mapping[str, bool] | None
) -> int | None:
    """Lines up that the campaign may use, given which lines are up and in service (`up`: name
    -> up; None when nobody knows, e.g. the daemon never ran). What `why` says about lines, for
    the CLI (the lines the daemon recorded) and the API (the running pool's) alike."""
    usable = usable_lines(config, campaign)
    if not usable:
        return 0
    if up is None:
        return None
    return sum(1 for name in usable if up.get(name, False))


def gates(
    planner: Rulebook, campaign: CampaignRow, now: float, lines_up: int | None = None
) -> Gates:
    """What holds the whole campaign back now: its status, window, lines, abandon cap, agents."""
    cr = planner.rules_for(campaign)
    closed = cr.schedule.closed_reason(now)
    next_open = None
    if closed:
        at = cr.schedule.next_open(now)
        if at is not None:
            next_open = local_time(at, cr.timezone).strftime("%a %Y-%m-%d %H:%M %Z")
    share = planner.false_positive_share(campaign)
    figures = []
    for w in cr.profile.abandon_windows:
        answered, abandoned = abandon_counts(planner.db, campaign.id, now, w)
        fp = false_positive_estimate(answered, share)
        figures.append(AbandonFigure(w, answered, abandoned, fp))
    ledger = None
    if share:
        ledger = "; ".join(f.text() for f in figures) + (
            f" — AMD false positives estimated at {100 * share:g}% of live answers,"
            f" counted as abandoned by the {cr.profile.name} profile"
        )
    cap = cr.limits.max_calls_per_number
    external, external_note = external_words(planner, campaign, cr)
    return Gates(
        status=campaign.status,
        window_closed=closed,
        next_open=next_open,
        lines_up=lines_up,
        abandon_cap=abandon_cap_reached(cr.profile, figures),
        abandon_ledger=ledger,
        no_agent=no_agent(planner, campaign),
        hours_text=cr.profile.calling_hours.describe(),
        cap_text=f"{cap} calls per {cr.limits.calls_window / DAY:g} days" if cap else "",
        external=external,
        external_note=external_note,
    )


def external_words(
    planner: Rulebook, campaign: CampaignRow, cr: CampaignRules
) -> tuple[str | None, str | None]:
    """An external campaign (SPEC D9): what stops it (the list cannot be read, no row
    matches) and what slows it (rows others hold, results not yet written back), from the sync's
    last round (store/external.py)."""
    name = cr.settings.external_list
    if name is None:
        return None, None
    status = external.get_status(planner.db, campaign.id)
    lists = {x.name: x for x in planner.config.external_lists}
    if status is None:
        return None, f"its external list {name} has not been read yet (the daemon reads it)"
    notes = []
    if status.held_by_others:
        notes.append(f"{status.held_by_others:,} rows of external list {name} for this campaign"
                     " are MarkedForDialing by others (another dialer, or an edit of the"
                     " customer's); they are left alone")  # fmt: skip
    if status.pending_writes:
        notes.append(f"{status.pending_writes:,} results wait to be written back to external"
                     f" list {name}")  # fmt: skip
    note = "; ".join(notes) or None
    if status.error:
        return f"its external list cannot be used: {status.error}", note
    held = external.held_count(planner.db, campaign.id)
    if status.matching == 0 and held == 0:
        cfg = lists.get(name)
        m = cfg.mapping() if cfg is not None else {}
        rule = (
            f"{m.get('campaign', 'CampaignName')} = {campaign.name!r},"
            f" {m.get('state', 'ContactSuccessful')} NotUsed (0) or NoSuccess (2),"
            f" {m.get('redial_time', 'RedialTime')} empty or due,"
            f" {m.get('attempts', 'NumberOfContacts')} under {cr.settings.max_attempts}"
        )
        return f"no row of external list {name} matches ({rule})", note
    return None, note


def no_agent(planner: Rulebook, campaign: CampaignRow) -> str | None:
    """An agent campaign dials only for agents: none logged in, or every one paused."""
    if campaign.type is not CampaignType.AGENT:
        return None
    states = campaign_agents(planner.db, campaign.name)
    if not states:
        return "no agent is logged in to this campaign"
    working = sum(n for s, n in states.items() if s != "paused")
    if working == 0:
        return f"every agent logged in to this campaign is paused ({states['paused']})"
    return None


def reasons(planner: Rulebook, campaign: CampaignRow, now: float) -> dict[Reason, int]:
    """How many of the campaign's contacts each reason keeps from being dialed now."""
    cr = planner.rules_for(campaign)
    query, rules = planner.selection(cr, now)
    counts: dict[Reason, int] = {}
    for row in every_contact(planner.db, query):
        reason = classify(row, rules, now)
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def explain(
    planner: Rulebook,
    campaign: CampaignRow,
    now: float,
    lines_up: int | None = None,
    agents: str | None = None,
    up: Mapping[str, bool] | None = None,
    counted: dict[Reason, int] | None = None,
) -> Explanation:
    """SPEC C12: why the campaign dials nothing or fewer than it could, with counts.
    `agents`: what the running engine knows of its agents' seats (none reachable...); `up`:
    which lines are up and in service (None: unknown), what an inbound campaign is judged by
    (`explain_inbound`); `counted`: the contacts' `reasons` counted a moment ago (the API's
    cache), else they are counted now."""
    if campaign.type is CampaignType.INBOUND:
        return words.explain_inbound(campaign.name, inbound_gates(planner, campaign, now, up))
    shut = gates(planner, campaign, now, lines_up)
    if agents and not shut.no_agent:
        shut = dataclasses.replace(shut, no_agent=agents)
    counts = counted if counted is not None else reasons(planner, campaign, now)
    return words.explain(campaign.name, shut, counts)


# --------------------------------------------------------------------------- inbound campaigns
def line_states(
    config: DialboxConfig, names: Sequence[str], up: Mapping[str, bool] | None
) -> dict[str, str]:
    """Each named line's state in words, for `why` (scheduler/why.py InboundGates)."""
    configured = {line.name: line for line in config.lines}
    states: dict[str, str] = {}
    for name in names:
        line = configured.get(name)
        if line is None:
            states[name] = "not in the config"
        elif not line.enabled:
            states[name] = "disabled in the config"
        elif up is None or name not in up:
            states[name] = "unknown"
        else:
            states[name] = "up" if up[name] else "down or out of service"
    return states


def _flow_problem(name: str | None, flows: Flows | None, broken: str | None) -> str | None:
    if name is None:
        return None
    if flows is None:
        return f"flow {name!r} cannot be read: {broken}"
    if name not in flows:
        return f"no flow named {name!r} in the flow files (they define: {', '.join(sorted(flows)) or 'none'})"
    return None


def _skills(settings: CampaignSettings, flow: Flow | None) -> tuple[bool, set[str | None]]:
    """(its calls can reach a queue, the skills its queues ask: None for any agent)."""
    if flow is None:
        return True, {settings.skill}
    asked = {n.action.skill or settings.skill for n in flow.nodes.values()
             if isinstance(n.action, FlowQueue)}  # fmt: skip
    return bool(asked), asked


def _overflow(settings: CampaignSettings, flow: Flow | None) -> str:
    """Where a caller goes when the queue's wait runs out: the flow's own overflow node when
    each of its queues names one, else the campaign's `overflow`."""
    queues = [n.action for n in (flow.nodes.values() if flow else ())
              if isinstance(n.action, FlowQueue)]  # fmt: skip
    if queues and all(q.overflow for q in queues):
        return "on to the flow's overflow node"
    return settings.overflow


def inbound_no_agent(
    planner: Rulebook, campaign: CampaignRow, skills: set[str | None]
) -> str | None:
    """Nobody to take an inbound campaign's queue: no agent logged in to it, none with a
    skill its queue asks, or every such one paused."""
    agents = [a for a in list_agents(planner.db)
              if campaign.name in a.campaigns and a.state != "logged_out"]  # fmt: skip
    if not agents:
        return "no agent is logged in to this campaign"
    for skill in sorted(s for s in skills if s is not None):
        able = [a for a in agents if skill in a.skills]
        if not able:
            return f"no agent logged in to it has the skill {skill!r} its queue asks"
        if all(a.state == "paused" for a in able):
            return f"every agent logged in to it with the skill {skill!r} is paused ({len(able)})"
    if all(a.state == "paused" for a in agents):
        return f"every agent logged in to this campaign is paused ({len(agents)})"
    return None


def inbound_gates(
    planner: Rulebook, campaign: CampaignRow, now: float, up: Mapping[str, bool] | None
) -> InboundGates:
    """What keeps an inbound campaign from answering, or from answering as meant, now."""
    from appliance.config.loader import ConfigError, config_flows

    config = planner.config
    cr = planner.rules_for(campaign)
    settings = cr.settings
    closed = cr.schedule.closed_reason(now)
    next_open = None
    if closed:
        at = cr.schedule.next_open(now)
        if at is not None:
            next_open = local_time(at, cr.timezone).strftime("%a %Y-%m-%d %H:%M %Z")
    flows: Flows | None
    broken = None
    try:
        flows = config_flows(config)
    except ConfigError as exc:
        flows = None
        broken = (
            f"the flow files have problems (`dialbox check-config` lists them): {exc.problems[0]}"
        )
    flow_problem = _flow_problem(settings.flow, flows, broken)
    flow = flows.get(settings.flow) if flows is not None and settings.flow else None
    queues, skills = _skills(settings, flow)
    missed = planner.db.scalar(
        "SELECT count(*) FROM missed_calls WHERE campaign_id = ? AND status = 'open'",
        (campaign.id,),
    )
    return InboundGates(
        status=campaign.status,
        answer_lines=settings.answer_lines,
        line_states=line_states(config, settings.answer_lines, up),
        window_closed=closed,
        next_open=next_open,
        flow=settings.flow,
        flow_problem=flow_problem,
        closed_flow=settings.closed_flow,
        closed_flow_problem=_flow_problem(settings.closed_flow, flows, broken),
        flows_known=tuple(sorted(flows)) if flows is not None else (),
        queues=queues,
        no_agent=inbound_no_agent(planner, campaign, skills) if queues else None,
        overflow=_overflow(settings, flow),
        queue_max_wait=settings.queue_max_wait,
        missed_open=int(str(missed or 0)),
    )
