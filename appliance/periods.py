"""A report's period (SPEC O7): from and to as ISO 8601 texts read in the box's time zone, cut
into hours or days as that zone counts them — a day is local midnight to local midnight (23 or 25
hours across a DST change), an hour is a local clock hour (the repeated hour of an autumn change
is two buckets, told apart by their UTC offsets) — and each bucket labelled with its start in ISO
8601 with the explicit offset, e.g. ``2026-03-08T03:00:00-04:00``.

How long a period may be depends on how it is cut (MAX_DAYS): a report answers in well under a
second, and a table of hours a person can read has a few hundred rows, not ninety thousand."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from appliance.errors import DialboxError

BY = ("hour", "day", "total")

# The longest period each cut covers, in days.
MAX_DAYS = {"hour": 31, "day": 366, "total": 366}

# Dates a report may name: none of the box's records is older, and the arithmetic of a local
# day stays clear of the calendar's ends.
EARLIEST, LATEST = 0.0, 7_258_118_400.0  # 1970-01-01, 2200-01-01 (UTC)

_EXAMPLE = "e.g. 2026-03-08, 2026-03-08T09:00 or 2026-03-08T09:00:00-05:00"


class PeriodError(DialboxError):
    """A from, to or by that cannot make a period; the message says which and what to write."""


def zone_of(name: str) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"unknown time zone {name!r}") from None


def iso_local(t: float, zone: dt.tzinfo) -> str:
    """The instant in the zone, to the second, with its offset (UTC as +00:00)."""
    return dt.datetime.fromtimestamp(t, zone).isoformat(timespec="seconds")


def _local_midnight(day: dt.date, zone: dt.tzinfo) -> float:
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).timestamp()


def parse_instant(text: str, zone: dt.tzinfo, *, name: str, end: bool = False) -> float:
    """An ISO 8601 date or date-time as seconds since the epoch. A date alone is local midnight
    in the zone — the start of that day, or for the end of a period (`end`) the end of it, so
    from=2026-03-01&to=2026-03-31 is all of March; a time without an offset is a local time."""
    text = text.strip()
    try:
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            day = dt.date.fromisoformat(text)
            return _local_midnight(day + dt.timedelta(days=1) if end else day, zone)
        moment = dt.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.timestamp()
    except (ValueError, IndexError, OverflowError, OSError):
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise PeriodError(
            f"{name}: {shown!r} is not an ISO 8601 date or time; write {_EXAMPLE}"
        ) from None


def _in_range(t: float, name: str) -> float:
    if not EARLIEST <= t < LATEST:
        raise PeriodError(f"{name}: the date is out of range; give one from 1970 to 2199")
    return t


@dataclass(frozen=True)
class Bucket:
    start: float  # where the bucket's rows begin (the period's start for the first one)
    end: float  # exclusive
    label: str  # the bucket's own start (a local hour or midnight) in ISO 8601 with offset


@dataclass(frozen=True)
class Period:
    start: float  # seconds since the epoch, inclusive
    end: float  # exclusive
    by: str  # hour | day | total
    zone_name: str

    @property
    def zone(self) -> dt.tzinfo:
        return zone_of(self.zone_name)

    def label(self, t: float) -> str:
        return iso_local(t, self.zone)

    def buckets(self) -> list[Bucket]:
        """The period cut into local hours or days (one bucket for `total`), clipped to it."""
        zone = self.zone
        if self.by == "total":
            return [Bucket(self.start, self.end, self.label(self.start))]
        first = dt.datetime.fromtimestamp(self.start, zone)
        out: list[Bucket] = []
        if self.by == "hour":
            # Local hours: whole-hour steps from the local hour the period starts in (a zone's
            # offset changes by whole hours, so the steps stay on its clock hours).
            at = first.replace(minute=0, second=0, microsecond=0).timestamp()
            while at < self.end:
                nxt = at + 3600.0
                out.append(Bucket(max(at, self.start), min(nxt, self.end), self.label(at)))
                at = nxt
            return out
        day = first.date()
        while (at := _local_midnight(day, zone)) < self.end:
            nxt = _local_midnight(day + dt.timedelta(days=1), zone)
            if nxt > self.start:
                out.append(Bucket(max(at, self.start), min(nxt, self.end), self.label(at)))
            day += dt.timedelta(days=1)
        return out

    def as_dict(self) -> dict[str, str]:
        return {
            "from": self.label(self.start),
            "to": self.label(self.end),
            "by": self.by,
            "timezone": self.zone_name,
        }


def make_period(
    start: str | None, end: str | None, by: str | None, zone_name: str, now: float
) -> Period:
    """The period from the texts a person gave. Without `start`: today (from local midnight);
    without `end`: one local day after the start. Refused with a message saying what to write:
    a text that is no ISO 8601 date or time, from not before to, a period longer than `by`
    allows (MAX_DAYS), an unknown cut."""
    by = by or "day"
    if by not in BY:
        raise PeriodError(f"by: {by!r} is not one of {', '.join(BY)}")
    zone = zone_of(zone_name)
    if start is None:
        begin = _local_midnight(dt.datetime.fromtimestamp(now, zone).date(), zone)
    else:
        begin = _in_range(parse_instant(start, zone, name="from"), "from")
    if end is None:
        finish = _local_midnight(
            dt.datetime.fromtimestamp(begin, zone).date() + dt.timedelta(days=1), zone
        )
    else:
        finish = _in_range(parse_instant(end, zone, name="to", end=True), "to")
    if begin >= finish:
        raise PeriodError(
            f"from ({iso_local(begin, zone)}) must be before to ({iso_local(finish, zone)})"
        )
    days = (finish - begin) / 86400.0
    limit = MAX_DAYS[by]
    if days > limit + 1 / 24:  # an hour of slack: a period of whole local days across a DST change
        raise PeriodError(
            f"the period is {days:.0f} days long; by={by} reports cover at most {limit} days"
            + ("; ask by=day for a longer one" if by == "hour" else "; ask for a shorter period")
        )
    return Period(begin, finish, by, zone_name)
