"""Attempt limits, lockouts and the abandon cap a campaign is held to (SPEC C6, C13), from its settings and profile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from appliance.scheduler.compliance import DAY, Profile, span_text


class LimitSettings(Protocol):
    """The settings of a campaign its limits are made from (`campaigns.CampaignSettings` has
    them): the scheduler reads them without importing the settings' pydantic model."""

    @property
    def max_attempts(self) -> int: ...
    @property
    def max_attempts_per_number(self) -> int: ...
    @property
    def max_attempts_per_day(self) -> int: ...
    @property
    def max_attempts_per_30_days(self) -> int | None: ...
    @property
    def abandon_lockout_hours(self) -> float: ...


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


def limits_for(settings: LimitSettings, profile: Profile) -> Limits:
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
    # People the answering-machine detection took for machines and hung up on, estimated from
    # the campaign's share (profiles that count them, uk); each is abandoned and answered.
    false_positives: float = 0.0

    @property
    def rate(self) -> float:
        """Percent of answered calls abandoned, false positives included in both (0 when
        nothing was answered)."""
        answered = self.answered + self.false_positives
        return 100.0 * (self.abandoned + self.false_positives) / answered if answered else 0.0

    def text(self) -> str:
        fp = self.false_positives
        extra = f" plus an estimated {fp:.1f} AMD false positives" if fp else ""
        return (
            f"{self.abandoned} of {self.answered} answered calls abandoned{extra}"
            f" ({self.rate:.1f}%) in the last {span_text(self.window)}"
        )


def false_positive_estimate(answered: int, share: float) -> float:
    """People taken for machines among `answered` live answers that reached the queue, when
    the detection takes a `share` of live answers for machines: share ÷ (1 − share) × answered."""
    return answered * share / (1.0 - share) if 0.0 < share < 1.0 else 0.0


def abandon_cap_reached(profile: Profile, figures: Sequence[AbandonFigure]) -> str | None:
    """Plain words when any window's abandon rate has reached the profile's cap, else None.

    At the cap a predictive campaign falls back to progressive dialing (SPEC A4)."""
    if profile.abandon_cap is None:
        return None
    for figure in figures:
        if figure.answered and figure.rate >= profile.abandon_cap:
            return (
                f"abandon cap reached: {figure.text()};"
                f" the {profile.name} profile allows {profile.abandon_cap:g}%"
            )
    return None
