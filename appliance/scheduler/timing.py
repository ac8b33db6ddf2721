"""When something is due: a one-off instant, or a time of day on some weekdays in a zone (SPEC C2).

Scheduled campaign actions and the hot folder's timed imports both say when with this. A time
of day is judged on the wall clock of its zone, so a daily 12:00 is 12:00 in winter and in
summer; on the day the clocks spring forward over it (02:30 in Europe/Warsaw on the last Sunday
of March) it is due when they jump (03:00), and on the day they fall back through it it is due
once, at the first of the two (windows.local_to_instant). Pure: time is always a parameter.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from appliance.scheduler.plan import utc_text
from appliance.scheduler.windows import (
    MINUTES_PER_DAY,
    ScheduleError,
    days_text,
    local_time,
    local_to_instant,
    parse_days,
    parse_minute,
    zone,
)

ALL_DAYS = frozenset(range(7))
# Catch-up looks this far back at most: older occurrences of a daily time cannot change what
# the newer ones leave (the actions' replay), and a clock set years ahead must not loop for long.
MAX_LOOKBACK_DAYS = 1000
FIRST_YEAR, LAST_YEAR = 2000, 2200  # a one-off outside these is a typo (and no zone reaches it)
_CLOCK = re.compile(r"^\d{1,2}:\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}")


@dataclass(frozen=True, slots=True)
class When:
    """A one-off `instant` (UTC seconds), or `minute` after local midnight on `days` (0 = Monday)
    in `timezone`. `timezone` is also the zone a one-off is shown in."""

    timezone: str
    instant: float | None = None
    minute: int | None = None
    days: frozenset[int] = ALL_DAYS

    @property
    def recurring(self) -> bool:
        return self.minute is not None

    def at_text(self) -> str:
        """The canonical `at`: an ISO 8601 instant with the zone's offset, or HH:MM."""
        if self.minute is not None:
            return f"{self.minute // 60:02d}:{self.minute % 60:02d}"
        assert self.instant is not None
        return iso_local(self.instant, self.timezone)

    def days_text(self) -> str | None:
        """`daily`, `mon-fri`, `sat,sun`… for a recurring time; None for a one-off."""
        if self.minute is None:
            return None
        return days_text(sorted(self.days))

    def describe(self) -> str:
        if self.minute is None:
            return f"at {self.at_text()}"
        return f"{self.days_text()} at {self.at_text()} ({self.timezone})"

    def occurrences(self, after: float, until: float) -> list[float]:
        """The instants this is due at, `after` < t <= `until`, oldest first."""
        if until <= after:
            return []
        if self.instant is not None:
            return [self.instant] if after < self.instant <= until else []
        assert self.minute is not None
        after = max(after, until - MAX_LOOKBACK_DAYS * 86400.0)
        first = local_time(after, self.timezone).date() - dt.timedelta(days=1)
        last = local_time(until, self.timezone).date()
        out: list[float] = []
        day = first
        while day <= last:
            if day.weekday() in self.days:
                t = local_to_instant(day, self.minute, self.timezone)
                if after < t <= until and (not out or t > out[-1]):
                    out.append(t)
            day += dt.timedelta(days=1)
        return out

    def next_after(self, t: float) -> float | None:
        """The first instant this is due after `t` (None: a one-off that is past)."""
        if self.instant is not None:
            return self.instant if self.instant > t else None
        # Every listed weekday comes round within a week; two more days cover a DST jump.
        found = self.occurrences(t, t + 9 * 86400.0)
        return found[0] if found else None

    def latest(self, t: float) -> float | None:
        """The last instant this was due at or before `t`, within a week (None: none)."""
        found = self.occurrences(t - 8 * 86400.0, t)
        return found[-1] if found else None


def parse_when(at: str, days: str | None, timezone: str) -> When:
    """`at` as people write it, in `timezone` unless it carries its own offset:

    - `2026-03-02T09:00:00+01:00`, `2026-03-02T08:00Z` — that instant, once;
    - `2026-03-02 09:00` (or with T) — that wall-clock time in `timezone`, once;
    - `12:00` — every day at 12:00 in `timezone`, or on `days` (`mon-fri`, `weekdays`, `sat,sun`).

    Raises ScheduleError saying what was wrong and what to write."""
    zone(timezone)  # an unknown zone is named
    text = at.strip()
    if _CLOCK.match(text):
        try:
            minute = parse_minute(text, "at")
        except ScheduleError:
            minute = MINUTES_PER_DAY
        if minute >= MINUTES_PER_DAY:
            raise ScheduleError(f"at: {at!r} is not a time of day; write 00:00 to 23:59")
        day_set = ALL_DAYS if days is None else parse_days(days, "days")
        return When(timezone, minute=minute, days=day_set)
    if days is not None:
        raise ScheduleError(
            f"days: {days!r} goes with a time of day (at: 12:00), not with a date ({at!r})"
        )
    if not _DATE_TIME.match(text):
        raise ScheduleError(
            f"at: {at!r} is not a time; write a time of day (12:00, repeated daily or on `days`),"
            " a local date and time (2026-03-02 09:00) or an ISO 8601 instant"
            " (2026-03-02T09:00:00+01:00)"
        )
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ScheduleError(
            f"at: {at!r} is not a valid date and time (e.g. 2026-03-02 09:00, or"
            " 2026-03-02T09:00:00+01:00)"
        ) from None
    if not FIRST_YEAR <= moment.year < LAST_YEAR:
        raise ScheduleError(
            f"at: {at!r} is not a year this box schedules ({FIRST_YEAR}-{LAST_YEAR - 1})"
        )
    if moment.tzinfo is not None:
        return When(timezone, instant=moment.timestamp())
    minute = moment.hour * 60 + moment.minute
    instant = local_to_instant(moment.date(), minute, timezone) + moment.second
    return When(timezone, instant=instant)


def parse_daily_times(entries: list[str], timezone: str) -> tuple[When, ...]:
    """The hot folder's `schedule`: entries `HH:MM` (daily) or `DAYS HH:MM[,HH:MM…]`."""
    out: list[When] = []
    if not entries:
        raise ScheduleError("schedule: give at least one time, e.g. '06:30'")
    for entry in entries:
        head, _, tail = entry.strip().rpartition(" ")
        for clock in tail.split(","):
            if not _CLOCK.match(clock.strip()):
                raise ScheduleError(
                    f"schedule: {entry!r} is not a time of day like 06:30 (or 'mon-fri 06:30')"
                )
            try:
                out.append(parse_when(clock.strip(), head.strip() or None, timezone))
            except ScheduleError as exc:
                raise ScheduleError(f"schedule: {entry!r}: {exc}") from None
    return tuple(out)


def latest_of(times: tuple[When, ...], t: float) -> float | None:
    """The last instant any of `times` was due at or before `t` (within a week)."""
    found = [x for x in (w.latest(t) for w in times) if x is not None]
    return max(found) if found else None


def next_of(times: tuple[When, ...], t: float) -> float | None:
    """The first instant any of `times` is due after `t`."""
    found = [x for x in (w.next_after(t) for w in times) if x is not None]
    return min(found) if found else None


def iso_local(t: float, timezone: str) -> str:
    """`t` as ISO 8601 on the zone's wall clock with its offset, e.g. 2026-03-02T09:00:00+01:00."""
    return local_time(t, timezone).isoformat(timespec="seconds")


def iso_utc(t: float) -> str:
    """`t` as ISO 8601 in UTC, e.g. 2026-03-02T08:00:00Z (what the API emits)."""
    return utc_text(t)
