"""Attempt limits, lockouts and the abandon cap a campaign is held to (SPEC C6, C13), from its settings and profile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from appliance.campaigns import CampaignSettings
from appliance.scheduler.compliance import DAY, Profile, span_text


@dataclass(frozen=True, slots=True)
class Limits:
    max_attempts: int  # per contact, ever
    max_attempts_per_number: int  # per contact and phone
    max_attempts_per_day: int  # per contact, per local day of the campaign's zone
    max_calls_per_number: int | None  # per number across the box, rolling `calls_window`
    calls_window: float
    abandon_lockout: float  # a number rests this long after an abandoned call
    machine_lockout: float  # … and after an answering machine

    @property
    def lockout_horizon(self) -> float:
        return max(self.abandon_lockout, self.machine_lockout)


def limits_for(settings: CampaignSettings, profile: Profile) -> Limits:
    """The campaign's own limits, tightened by its compliance profile (the stricter one wins)."""
    caps = [c for c in (settings.max_attempts_per_30_days, profile.max_calls_per_number) if c]
    window = profile.calls_window if profile.max_calls_per_number else 30 * DAY
    return Limits(
        max_attempts=settings.max_attempts,
        max_attempts_per_number=settings.max_attempts_per_number,
        max_attempts_per_day=settings.max_attempts_per_day,
        max_calls_per_number=min(caps) if caps else None,
        calls_window=window,
        abandon_lockout=max(profile.abandon_lockout, settings.abandon_lockout_hours * 3600.0),
        machine_lockout=profile.machine_lockout,
    )


@dataclass(frozen=True, slots=True)
class AbandonFigure:
    """One rolling window of the per-campaign abandon ledger (SPEC C13)."""

    window: float  # seconds
    answered: int  # calls answered by a person (or a machine taken for one)
    abandoned: int

    @property
    def rate(self) -> float:
        """Percent of answered calls abandoned (0 when nothing was answered)."""
        return 100.0 * self.abandoned / self.answered if self.answered else 0.0


def abandon_cap_reached(profile: Profile, figures: Sequence[AbandonFigure]) -> str | None:
    """Plain words when any window's abandon rate has reached the profile's cap, else None.

    At the cap a predictive campaign falls back to progressive dialing (SPEC A4)."""
    if profile.abandon_cap is None:
        return None
    for figure in figures:
        if figure.answered and figure.rate >= profile.abandon_cap:
            return (
                f"abandon cap reached: {figure.abandoned} of {figure.answered} answered calls"
                f" ({figure.rate:.1f}%) abandoned in the last {span_text(figure.window)};"
                f" the {profile.name} profile allows {profile.abandon_cap:g}%"
            )
    return None
