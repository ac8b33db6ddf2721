"""Whether one contact may be dialed now, and if not the first reason why (SPEC C3, C5, C6, C13, D7, D8).

The store's candidate rows carry everything this needs (the number the next attempt uses, its
zone set, whether a DNC list holds it, attempt counts, lockouts), so the judgement is pure. The
store's fast query applies the same rules in SQL to find candidates; `classify` is the
reference, used to re-check every pick and to count reasons for `dialbox why`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from appliance.domain import ContactState
from appliance.scheduler.hours import CallingHours, zones_inside
from appliance.scheduler.limits import Limits

# States a contact may be dialed from, once its redial time (if any) has come.
DIALABLE_STATES = frozenset(
    {ContactState.PENDING, ContactState.NOT_CONNECTED, ContactState.SMS_SENT}
)


class Reason(enum.StrEnum):
    """Why a contact is not dialed now; READY when it may be. The value is the JSON key."""

    READY = "ready"
    CLOSED = "closed"
    IN_FLIGHT = "in_flight"
    FILTERED = "filtered"
    WAITING = "waiting"
    EXHAUSTED = "attempts_exhausted"
    NO_NUMBER = "no_number"
    DNC = "dnc"
    DAILY_LIMIT = "daily_limit"
    NUMBER_CAP = "number_cap"
    LOCKED_OUT = "locked_out"
    OUTSIDE_HOURS = "outside_hours"


class Candidate(Protocol):
    """What the store knows of one contact for the next attempt (store/selection.CandidateRow)."""

    @property
    def contact_id(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def leased(self) -> bool: ...
    @property
    def matches_filter(self) -> bool: ...
    @property
    def due_at(self) -> float | None: ...  # redial or callback time; None for a new contact
    @property
    def attempts(self) -> int: ...
    @property
    def phone_index(self) -> int: ...  # the phone (1..5) the next attempt uses
    @property
    def number(self) -> str | None: ...  # its E.164 number
    @property
    def zone_set(self) -> int | None: ...  # zone_sets.id of that number
    @property
    def tz_override(self) -> str | None: ...
    @property
    def dnc(self) -> bool: ...  # on the global, campaign or block list, unexpired
    @property
    def phone_attempts(self) -> int: ...  # this contact's attempts on that phone
    @property
    def day_attempts(self) -> int: ...  # this contact's attempts since the local day began
    @property
    def window_calls(self) -> int: ...  # calls to the number across the box in the rolling window
    @property
    def locked_until(self) -> float: ...  # end of an abandon/machine lockout (0: none)


@dataclass(frozen=True)
class Rules:
    """Everything `classify` judges a contact by, besides the contact."""

    hours: CallingHours
    limits: Limits
    zone_sets: Mapping[int, tuple[str, ...]]  # zone_sets.id -> IANA zones
    fallback_zone: str  # numbers with no known zone are judged here (the campaign's zone)

    def zones(self, c: Candidate) -> tuple[str, ...]:
        """The callee's zones: the override, else every zone of the number (SPEC C3)."""
        if c.tz_override:
            return (c.tz_override,)
        return self.zone_sets.get(c.zone_set, ()) if c.zone_set is not None else ()


def classify(c: Candidate, rules: Rules, now: float) -> Reason:
    """READY, or the first rule that keeps the contact from being dialed at `now`."""
    if c.leased or c.state == ContactState.SENT_TO_DIALER:
        return Reason.IN_FLIGHT
    if c.state not in DIALABLE_STATES:
        return Reason.CLOSED
    if c.due_at is None and c.state != ContactState.PENDING:
        return Reason.CLOSED  # closed by its strategy without a redial time
    if not c.matches_filter:
        return Reason.FILTERED
    if c.due_at is not None and c.due_at > now:
        return Reason.WAITING
    limits = rules.limits
    if c.attempts >= limits.max_attempts or c.phone_attempts >= limits.max_attempts_per_number:
        return Reason.EXHAUSTED
    if not c.number:
        return Reason.NO_NUMBER
    if c.dnc:
        return Reason.DNC
    if c.day_attempts >= limits.max_attempts_per_day:
        return Reason.DAILY_LIMIT
    if limits.max_calls_per_number is not None and c.window_calls >= limits.max_calls_per_number:
        return Reason.NUMBER_CAP
    if c.locked_until > now:
        return Reason.LOCKED_OUT
    if not zones_inside(rules.zones(c), rules.hours, now, rules.fallback_zone):
        return Reason.OUTSIDE_HOURS
    return Reason.READY
