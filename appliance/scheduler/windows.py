"""Weekly time windows and campaign schedules: weekday windows in a zone, date range, holidays (SPEC C2).

A window is judged on the wall clock of its zone at an instant: the instant is converted to
local time (zoneinfo), so DST needs no special case — in a spring-forward gap there is no local
time to judge, and in a fall-back overlap both instants carry their own wall time. Only when a
local time is turned back into an instant (`next_open`) does a gap matter: a window that opens
at a time the clocks skip opens at the first instant after it.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_pkg

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60


class ScheduleError(ValueError):
    """A window, date or zone that does not parse; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Window:
    """Days of the week (0 = Monday) and a span of wall-clock minutes, start inclusive, end exclusive."""

    days: frozenset[int]
    start: int  # minutes after midnight, 0..1439
    end: int  # minutes after midnight, start+1..1440

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= MINUTES_PER_DAY:
            raise ScheduleError(
                f"window {_hhmm(self.start)}-{_hhmm(self.end)}: the end must be after the start, within one day"
            )
        if not self.days or not self.days <= frozenset(range(7)):
            raise ScheduleError("a window needs at least one day of the week")

    def contains(self, weekday: int, minute: int) -> bool:
        return weekday in self.days and self.start <= minute < self.end


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """A set of windows; a wall-clock time is inside when any window holds it."""

    windows: tuple[Window, ...]

    def contains(self, local: dt.datetime) -> bool:
        weekday, minute = local.weekday(), local.hour * 60 + local.minute
        return any(w.contains(weekday, minute) for w in self.windows)

    def spans(self, weekday: int) -> list[tuple[int, int]]:
        """The (start, end) minute spans open on a weekday, sorted."""
        return sorted((w.start, w.end) for w in self.windows if weekday in w.days)

    def intersect(self, other: WeeklyHours) -> WeeklyHours:
        """Times inside both (a legal profile narrowed by the box's configured hours)."""
        out: list[Window] = []
        for day in range(7):
            for a_start, a_end in self.spans(day):
                for b_start, b_end in other.spans(day):
                    start, end = max(a_start, b_start), min(a_end, b_end)
                    if start < end:
                        out.append(Window(frozenset({day}), start, end))
        return WeeklyHours(tuple(out))

    def describe(self) -> str:
        """The canonical text form, e.g. ``mon-fri 10:00-13:00,14:00-20:00``."""
        by_spans: dict[tuple[tuple[int, int], ...], list[int]] = {}
        for day in range(7):
            spans = tuple(self.spans(day))
            if spans:
                by_spans.setdefault(spans, []).append(day)
        if not by_spans:
            return "never"
        parts = []
        for spans, days in by_spans.items():
            times = ",".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in spans)
            parts.append(f"{days_text(days)} {times}")
        return "; ".join(parts)


ALWAYS = WeeklyHours((Window(frozenset(range(7)), 0, MINUTES_PER_DAY),))

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def days_text(days: list[int]) -> str:
    if days == list(range(7)):
        return "daily"
    runs: list[str] = []
    start = prev = days[0]
    for day in [*days[1:], -2]:
        if day != prev + 1:
            runs.append(
                DAY_NAMES[start] if start == prev else f"{DAY_NAMES[start]}-{DAY_NAMES[prev]}"
            )
            start = day
        prev = day
    return ",".join(runs)


def parse_minute(text: str, where: str) -> int:
    match = _TIME.match(text.strip())
    if not match:
        raise ScheduleError(f"{where}: {text!r} is not a time like 09:00")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ScheduleError(f"{where}: {text!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


def parse_days(text: str, where: str) -> frozenset[int]:
    text = text.strip().lower()
    if text in ("daily", "all", "every", "mon-sun"):
        return frozenset(range(7))
    if text == "weekdays":
        return frozenset(range(5))
    if text == "weekends":
        return frozenset({5, 6})
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            a = DAY_NAMES.index(first[:3]) if len(first) >= 3 else -1
            b = DAY_NAMES.index(last[:3]) if last else a
        except ValueError:
            a = b = -1
        if a < 0 or b < 0:
            raise ScheduleError(
                f"{where}: {part.strip()!r} is not a day or range of days (mon, tue-fri, weekdays, daily)"
            )
        if b < a:
            raise ScheduleError(f"{where}: day range {part.strip()!r} runs backwards")
        days.update(range(a, b + 1))
    return frozenset(days)


def parse_weekly(text: str) -> WeeklyHours:
    """Parse ``mon-fri 09:00-12:00,13:00-17:00; sat 10:00-14:00`` (``;``-separated day groups).

    Days: ``mon``..``sun``, ranges ``tue-thu``, lists ``mon,wed``, ``weekdays``, ``weekends``,
    ``daily``. Times are minutes of the wall clock, start inclusive, end exclusive; ``24:00``
    ends at midnight. A window may not cross midnight: write it as two."""
    windows: list[Window] = []
    groups = [g.strip() for g in text.split(";") if g.strip()]
    if not groups:
        raise ScheduleError("empty window text; write e.g. 'mon-fri 09:00-17:00'")
    for n, group in enumerate(groups, 1):
        where = f"window group {n} ({group!r})"
        days_text, _, times_text = group.partition(" ")
        if not times_text.strip():
            raise ScheduleError(f"{where}: expected days then times, e.g. 'mon-fri 09:00-17:00'")
        days = parse_days(days_text, where)
        for span in times_text.replace(" ", "").split(","):
            start_text, sep, end_text = span.partition("-")
            if not sep:
                raise ScheduleError(f"{where}: {span!r} is not a span like 09:00-17:00")
            start, end = parse_minute(start_text, where), parse_minute(end_text, where)
            if end <= start:
                raise ScheduleError(
                    f"{where}: {span!r} ends before it starts (a window cannot cross midnight; split it)"
                )
            windows.append(Window(days, start, end))
    return WeeklyHours(tuple(windows))


@functools.lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone, with an error that names it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"{name!r} is not an IANA time zone (e.g. Europe/Warsaw)") from None


@functools.lru_cache(maxsize=256)
def _holidays(country: str, year: int) -> holidays_pkg.HolidayBase:
    return holidays_pkg.country_holidays(country, years=year)


def holiday_name(country: str | None, day: dt.date) -> str | None:
    """The public holiday on `day` in `country` (holidays package), or None."""
    if country is None:
        return None
    name = _holidays(country, day.year).get(day)
    return None if name is None else str(name)


def local_time(t: float, tz: str) -> dt.datetime:
    """The wall-clock time in zone `tz` at UTC instant `t`."""
    return dt.datetime.fromtimestamp(t, zone(tz))


def local_to_instant(day: dt.date, minute: int, tz: str) -> float:
    """The first instant at or after wall-clock `minute` of `day` in `tz`.

    In an overlap (clocks fall back) the earlier of the two instants is taken; in a gap (clocks
    spring forward over the time) the instant the clocks jump, when the wall time first passes it."""
    day, minute = day + dt.timedelta(days=minute // MINUTES_PER_DAY), minute % MINUTES_PER_DAY
    naive = dt.datetime.combine(day, dt.time(minute // 60, minute % 60))
    z = zone(tz)
    stamps = [naive.replace(tzinfo=z, fold=fold).timestamp() for fold in (0, 1)]
    real = [t for t in stamps if dt.datetime.fromtimestamp(t, z).replace(tzinfo=None) == naive]
    if real:
        return min(real)
    lo, hi = min(stamps), max(stamps)  # the gap's transition lies between the two readings
    while hi - lo > 1:
        mid = (lo + hi) / 2
        if dt.datetime.fromtimestamp(mid, z).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return float(int(hi))


def day_start(t: float, tz: str) -> float:
    """The first instant of the local day that holds `t` (for per-day attempt limits)."""
    return local_to_instant(local_time(t, tz).date(), 0, tz)


@dataclass(frozen=True, slots=True)
class CampaignSchedule:
    """When a campaign may dial, on its own clock (SPEC C2)."""

    timezone: str
    hours: WeeklyHours = ALWAYS
    start_date: dt.date | None = None
    end_date: dt.date | None = None  # inclusive
    holidays_country: str | None = None  # skip this country's public holidays

    def closed_reason(self, t: float) -> str | None:
        """None when the campaign's schedule is open at `t`, else why not, in plain words."""
        local = local_time(t, self.timezone)
        today = local.date()
        if self.start_date is not None and today < self.start_date:
            return f"before its start date {self.start_date.isoformat()}"
        if self.end_date is not None and today > self.end_date:
            return f"past its end date {self.end_date.isoformat()}"
        name = holiday_name(self.holidays_country, today)
        if name is not None:
            return f"a public holiday in {self.holidays_country} ({name})"
        if not self.hours.contains(local):
            return f"outside its window ({self.hours.describe()}, {self.timezone})"
        return None

    def is_open(self, t: float) -> bool:
        return self.closed_reason(t) is None

    def next_open(self, t: float, horizon_days: int = 400) -> float | None:
        """The first instant at or after `t` when the schedule is open (None within the horizon)."""
        if self.is_open(t):
            return t
        first = local_time(t, self.timezone).date()
        for offset in range(horizon_days + 1):
            day = first + dt.timedelta(days=offset)
            if self.end_date is not None and day > self.end_date:
                return None
            if self.start_date is not None and day < self.start_date:
                continue
            if holiday_name(self.holidays_country, day) is not None:
                continue
            for start, _end in self.hours.spans(day.weekday()):
                at = max(local_to_instant(day, start, self.timezone), t)
                if self.is_open(at):
                    return at
        return None
