"""Compliance profiles (SPEC C13): named rule sets `us`, `uk`, `fr` and a custom one, as data.

Figures (research/dialers.md §5): US — 08:00–21:00 callee local, abandoned calls ≤ 3 % of
answered per campaign per 30 days, 2 s to agent or message, ring ≥ 15 s (47 CFR 64.1200).
UK — ≤ 3 % per 24 h, no repeat call within 72 h of an abandoned call, within 24 h of an
answering-machine result (Ofcom). France — Mon–Fri 10:00–13:00 and 14:00–20:00 callee local,
never on public holidays, ≤ 4 calls per number per 30 days (Décret 2022-1313). A box's own
`calling_hours` can narrow a named profile's hours but never widen them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from appliance.scheduler.hours import DEFAULT_HOURS, CallingHours
from appliance.scheduler.windows import WeeklyHours, parse_weekly

HOUR = 3600.0
DAY = 24 * HOUR
PROFILE_NAMES = ("us", "uk", "fr", "custom")


@dataclass(frozen=True, slots=True)
class Profile:
    """The rules one campaign is judged by."""

    name: str
    calling_hours: CallingHours
    abandon_cap: float | None = 3.0  # percent of calls answered by a person; None: no cap
    abandon_windows: tuple[float, ...] = (DAY, 30 * DAY)  # seconds each rate is judged over
    abandon_lockout: float = 0.0  # seconds a number rests after an abandoned call
    machine_lockout: float = 0.0  # seconds a number rests after an answering machine
    max_calls_per_number: int | None = None  # per rolling `calls_window`, across the box
    calls_window: float = 30 * DAY
    connect_seconds: float = 2.0  # answered call to agent or message
    # Live answers taken for machines (AMD false positives) count as abandoned calls, estimated
    # from the campaign's `amd_false_positive` share (Ofcom: a "reasoned estimate").
    counts_false_positives: bool = False
    min_ring_seconds: int = 15

    def rules_text(self) -> list[str]:
        """The profile's rules in plain words (for `why` and the docs)."""
        out = [f"calling hours: {self.calling_hours.describe()}"]
        if self.abandon_cap is not None:
            spans = " and ".join(span_text(w) for w in self.abandon_windows)
            out.append(f"abandoned calls at most {self.abandon_cap:g}% of answered per {spans}")
        if self.counts_false_positives:
            out.append(
                "answering-machine false positives (people taken for machines) count as"
                " abandoned calls, estimated from the campaign's amd_false_positive share"
            )
        if self.abandon_lockout:
            out.append(
                f"no call to a number within {span_text(self.abandon_lockout)} of an abandoned call"
            )
        if self.machine_lockout:
            out.append(
                f"no call to a number within {span_text(self.machine_lockout)} of an answering machine"
            )
        if self.max_calls_per_number is not None:
            out.append(
                f"at most {self.max_calls_per_number} calls per number per {span_text(self.calls_window)}"
            )
        out.append(
            f"ring at least {self.min_ring_seconds} s; answered calls reach an agent or a message"
            f" within {self.connect_seconds:g} s"
        )
        return out


def span_text(seconds: float) -> str:
    if seconds % DAY == 0 and seconds >= 7 * DAY:
        return f"{int(seconds // DAY)} days"
    return f"{seconds / HOUR:g} h"


US = Profile("us", CallingHours(DEFAULT_HOURS), abandon_windows=(30 * DAY,))
UK = Profile(
    "uk",
    CallingHours(DEFAULT_HOURS),
    abandon_windows=(DAY,),
    abandon_lockout=72 * HOUR,
    machine_lockout=24 * HOUR,
    counts_false_positives=True,
)
FR = Profile(
    "fr",
    CallingHours(parse_weekly("mon-fri 10:00-13:00,14:00-20:00"), holidays_country="FR"),
    max_calls_per_number=4,
    calls_window=30 * DAY,
)
BUILTIN: dict[str, Profile] = {p.name: p for p in (US, UK, FR)}


def profile(
    name: str, *, box_hours: WeeklyHours | None = None, custom: Profile | None = None
) -> Profile:
    """The named profile; `box_hours` (config `calling_hours`) narrows a built-in one's hours.

    `custom` is the profile built from config `compliance:` (its hours are used as given)."""
    if name == "custom":
        if custom is None:
            return dataclasses.replace(
                US, name="custom", calling_hours=CallingHours(box_hours or DEFAULT_HOURS)
            )
        return dataclasses.replace(custom, name="custom")
    try:
        base = BUILTIN[name]
    except KeyError:
        raise ValueError(
            f"unknown compliance profile {name!r}; expected one of {', '.join(PROFILE_NAMES)}"
        ) from None
    if box_hours is None:
        return base
    narrowed = base.calling_hours.hours.intersect(box_hours)
    return dataclasses.replace(
        base, calling_hours=dataclasses.replace(base.calling_hours, hours=narrowed)
    )
