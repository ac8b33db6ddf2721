"""When a callback is due (SPEC C14, issue #23): the first instant at which a campaign may call a
number — its schedule open (windows, dates, holidays) and every zone of the number inside the
profile's calling hours, exactly as the dial loop judges a contact (hours.zones_inside,
CampaignSchedule.closed_reason). Pure: the caller hands in the rules and the number's zones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from appliance.scheduler.compliance import DAY, Profile
from appliance.scheduler.hours import CallingHours
from appliance.scheduler.windows import CampaignSchedule, ScheduleError, zone

HORIZON_DAYS = 400  # beyond this, no permitted time (a campaign past its end date, "never" hours)
_ROUNDS = 1000  # each round moves to the next opening of one rule; they agree long before


class CampaignRulesLike(Protocol):
    """What of a campaign's rules the due time depends on (engine.rules.CampaignRules)."""

    @property
    def profile(self) -> Profile: ...
    @property
    def schedule(self) -> CampaignSchedule: ...
    @property
    def timezone(self) -> str: ...


def next_permitted(
    t: float,
    zones: Sequence[str],
    hours: CallingHours,
    schedule: CampaignSchedule,
    fallback_zone: str,
    horizon_days: int = HORIZON_DAYS,
) -> float | None:
    """The first instant at or after `t` when `schedule` is open and the calling `hours` hold in
    every one of `zones` (none known: in `fallback_zone`); None within the horizon."""
    names = tuple(zones) or (fallback_zone,)
    try:
        for name in names:
            zone(name)
    except ScheduleError:
        return None  # a zone that is not one: never called on a guess (as hours._zone_inside)
    rules = [schedule] + [
        CampaignSchedule(timezone=name, hours=hours.hours, holidays_country=hours.holidays_country)
        for name in names
    ]
    deadline = t + horizon_days * DAY
    at = t
    for _ in range(_ROUNDS):
        moved = False
        for rule in rules:
            opens = rule.next_open(at, horizon_days)
            if opens is None or opens > deadline:
                return None
            if opens > at:
                at, moved = opens, True
        if not moved:
            return at
    return None


def callback_due(
    rules: CampaignRulesLike, zones: Sequence[str], now: float, delay: float = 0.0
) -> float | None:
    """When a callback contact of the campaign for a number with these zones is due: the next
    permitted time from `now + delay` (None: none within HORIZON_DAYS). The engine and the API
    call it with `planner.rules_for(campaign)` and `appliance.phones.zones_for(number)`."""
    return next_permitted(
        now + max(delay, 0.0), zones, rules.profile.calling_hours, rules.schedule, rules.timezone
    )
