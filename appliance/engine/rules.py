"""A campaign's rules as the store has them now (`CampaignRules`), and the box's own profile and
hours from the config: what the planner judges a campaign's contacts by."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.campaigns import CampaignSettings
from appliance.config.models import DialboxConfig
from appliance.domain import CampaignType, Channel
from appliance.scheduler.compliance import DAY, HOUR, Profile
from appliance.scheduler.hours import CallingHours
from appliance.scheduler.limits import Limits
from appliance.scheduler.strategy import Strategy
from appliance.scheduler.windows import (
    CampaignSchedule,
    WeeklyHours,
    Window,
    parse_weekly,
)
from appliance.store.campaigns import CampaignRow


@dataclass(frozen=True)
class CampaignRules:
    """Everything one campaign is judged by, as the store has it now."""

    campaign: CampaignRow
    settings: CampaignSettings
    timezone: str
    profile: Profile
    schedule: CampaignSchedule
    strategy: Strategy
    limits: Limits

    def channel_for(self, step: int) -> Channel:
        if self.campaign.type is CampaignType.SMS:
            return Channel.SMS  # an SMS campaign never switches to voice (SPEC C1)
        spec = self.strategy.spec(step) or self.strategy.attempts[-1]
        return spec.channel


def custom_profile(config: DialboxConfig) -> Profile:
    c = config.compliance
    return Profile(
        name="custom",
        calling_hours=CallingHours(parse_weekly(c.calling_hours), c.holidays),
        abandon_cap=c.abandon_cap,
        abandon_windows=tuple(h * HOUR for h in c.abandon_windows_hours) or (DAY,),
        abandon_lockout=c.abandon_lockout_hours * HOUR,
        machine_lockout=c.machine_lockout_hours * HOUR,
        max_calls_per_number=c.max_calls_per_number,
        calls_window=c.calls_window_days * DAY,
        connect_seconds=c.connect_seconds,
        min_ring_seconds=c.min_ring_seconds,
        counts_false_positives=c.count_amd_false_positives,
    )


def box_hours(config: DialboxConfig) -> WeeklyHours:
    """The box's `calling_hours` as daily windows."""
    start = config.calling_hours.start.hour * 60 + config.calling_hours.start.minute
    end = config.calling_hours.end.hour * 60 + config.calling_hours.end.minute
    return WeeklyHours((Window(frozenset(range(7)), start, end),))
