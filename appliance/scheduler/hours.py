"""Calling hours in the callee's local time (SPEC C3): every zone a number maps to must be inside.

The callee's zones come from the contact's override, else from libphonenumber (several for
numbers of US, Canadian, Russian, Australian, Brazilian… area codes). A number with no known
zone is judged in a fallback zone (the campaign's). Results are memoized per (zone, minute):
window edges are whole minutes and today's UTC offsets are whole minutes, so every instant of
a UTC minute gets the same answer.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from appliance.scheduler.windows import (
    ALWAYS,
    ScheduleError,
    WeeklyHours,
    holiday_name,
    local_time,
    parse_weekly,
    zone,
)

DEFAULT_HOURS = parse_weekly("daily 08:00-21:00")


@dataclass(frozen=True)
class CallingHours:
    """When a callee may be called, on the callee's own clock."""

    hours: WeeklyHours = DEFAULT_HOURS
    holidays_country: str | None = None  # no calls on this country's public holidays (fr)
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        # Hashed once: it keys the per-minute memo on every judgement.
        object.__setattr__(self, "_hash", hash((self.hours, self.holidays_country)))

    def __hash__(self) -> int:
        return self._hash

    def describe(self) -> str:
        text = f"{self.hours.describe()} callee local time"
        if self.holidays_country:
            text += f", not on {self.holidays_country} public holidays"
        return text


UNRESTRICTED = CallingHours(ALWAYS)


def _minute(t: float) -> int:
    return int(t // 60)


@functools.lru_cache(maxsize=65536)
def _zone_inside(name: str, rules: CallingHours, minute: int) -> bool:
    try:
        zone(name)
    except ScheduleError:
        return False  # an override that is not a zone: never dial on a guess
    local = local_time(minute * 60.0, name)
    if holiday_name(rules.holidays_country, local.date()) is not None:
        return False
    return rules.hours.contains(local)


def zone_inside(name: str, rules: CallingHours, t: float) -> bool:
    """Whether wall-clock time in zone `name` at instant `t` is inside the calling hours."""
    return _zone_inside(name, rules, _minute(t))


def zones_inside(zones: Iterable[str], rules: CallingHours, t: float, fallback: str) -> bool:
    """All of the callee's zones inside the hours; no zone at all: judged in `fallback`."""
    names = tuple(zones) or (fallback,)
    minute = _minute(t)
    return all(_zone_inside(name, rules, minute) for name in names)


def allowed_zone_sets(
    zone_sets: Mapping[int, tuple[str, ...]], rules: CallingHours, t: float, fallback: str
) -> frozenset[int]:
    """The ids of the zone sets whose every zone is inside the hours at `t` (the store's zs1..zs5)."""
    return frozenset(
        set_id for set_id, zones in zone_sets.items() if zones_inside(zones, rules, t, fallback)
    )


def allowed_zones(names: Iterable[str], rules: CallingHours, t: float) -> frozenset[str]:
    """The zones among `names` that are inside the hours at `t` (for timezone overrides)."""
    minute = _minute(t)
    return frozenset(name for name in names if _zone_inside(name, rules, minute))


def split_zones(key: str | None) -> tuple[str, ...]:
    """A stored zone key (sorted, '|'-joined; '' or None when unknown) as a tuple of zones."""
    return tuple(z for z in (key or "").split("|") if z)
