"""`why` (SPEC C12): why a campaign dials nothing or fewer than it could — its gates (status,
window, lines, abandon cap, agents) and how many contacts each reason holds back, in words
(`scheduler/why.py`); and the lines a campaign may use, as `why` and `plan` count them.

The planner's queries reach it through `Rulebook`, the part of `StorePlanner` it reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol

from appliance.config.models import DialboxConfig
from appliance.domain import CampaignType
from appliance.engine.rules import CampaignRules
from appliance.scheduler import why as words
from appliance.scheduler.compliance import DAY
from appliance.scheduler.limits import (
    AbandonFigure,
    abandon_cap_reached,
    false_positive_estimate,
)
from appliance.scheduler.select import Reason, Rules, classify
from appliance.scheduler.why import Explanation, Gates
from appliance.scheduler.windows import local_time
from appliance.store.agents import campaign_agents
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
    )


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
) -> Explanation:
    """SPEC C12: why the campaign dials nothing or fewer than it could, with counts.
    `agents`: what the running engine knows of its agents' seats (none reachable...)."""
    shut = gates(planner, campaign, now, lines_up)
    if agents and not shut.no_agent:
        shut = dataclasses.replace(shut, no_agent=agents)
    return words.explain(campaign.name, shut, reasons(planner, campaign, now))
