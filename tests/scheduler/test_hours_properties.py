"""Properties of calling hours (hypothesis): the memoized zone-set judgement agrees with zoneinfo at every instant,
including DST transition days, for numbers with one zone or many."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.phones import zones_for
from appliance.scheduler.hours import CallingHours, allowed_zone_sets, zones_inside
from appliance.scheduler.windows import CampaignSchedule, local_to_instant, parse_weekly

NUMBERS = (
    "+12125550101", "+12085550123", "+16055550123", "+18675550123", "+18885550123",
    "+79161234567", "+61412345678", "+61891234567", "+5511987654321", "+5592987654321",
    "+442079460000", "+33142685300", "+17055550123", "+13065550123",
)  # fmt: skip
ZONE_SETS = {i: zones_for(n) for i, n in enumerate(NUMBERS)}
TRANSITIONS = [
    dt.datetime(2026, 3, 8, 7, tzinfo=dt.UTC), dt.datetime(2026, 11, 1, 6, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 29, 1, tzinfo=dt.UTC), dt.datetime(2026, 10, 25, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 4, 4, 16, tzinfo=dt.UTC), dt.datetime(2026, 10, 3, 16, tzinfo=dt.UTC),
]  # fmt: skip
HOURS = st.sampled_from(
    [
        "daily 08:00-21:00",
        "mon-fri 10:00-13:00,14:00-20:00",
        "daily 01:30-03:30",
        "sat,sun 00:00-24:00",
    ]
)


@st.composite
def instants(draw: st.DrawFn) -> float:
    base = draw(st.sampled_from(TRANSITIONS)).timestamp()
    return base + draw(st.integers(-40 * 3600, 40 * 3600))


def oracle(zone: str, t: float, text: str) -> bool:
    """Wall-clock minute and weekday by UTC offset arithmetic, windows read by hand."""
    tz = ZoneInfo(zone)
    utc = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=t)
    offset = tz.fromutc(utc.replace(tzinfo=tz)).utcoffset()
    assert offset is not None
    wall = utc + offset
    minute = wall.hour * 60 + wall.minute
    return {
        "daily 08:00-21:00": 480 <= minute < 1260,
        "mon-fri 10:00-13:00,14:00-20:00": wall.weekday() < 5
        and (600 <= minute < 780 or 840 <= minute < 1200),
        "daily 01:30-03:30": 90 <= minute < 210,
        "sat,sun 00:00-24:00": wall.weekday() >= 5,
    }[text]


@settings(max_examples=2000, deadline=None)
@given(instants(), HOURS)
def test_zone_sets_are_inside_exactly_when_every_zone_is(t: float, text: str) -> None:
    rules = CallingHours(parse_weekly(text))
    allowed = allowed_zone_sets(ZONE_SETS, rules, t, "UTC")
    for set_id, zones in ZONE_SETS.items():
        expected = all(oracle(z, t, text) for z in zones)
        assert (set_id in allowed) == expected, (zones, t)
        assert zones_inside(zones, rules, t, "UTC") == expected


@settings(max_examples=500, deadline=None)
@given(instants(), HOURS, st.sampled_from(sorted({z for zs in ZONE_SETS.values() for z in zs})))
def test_next_open_is_open_and_nothing_earlier_is(t: float, text: str, zone: str) -> None:
    schedule = CampaignSchedule(zone, parse_weekly(text))
    opens = schedule.next_open(t)
    assert opens is not None and opens >= t
    assert schedule.is_open(opens)
    if opens > t:  # the minute before the opening (or t itself) is closed
        assert not schedule.is_open(max(t, opens - 60))


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(TRANSITIONS), st.integers(-2, 2), st.integers(0, 1439))
def test_local_to_instant_lands_on_or_just_after_the_wall_time(
    base: dt.datetime, day: int, minute: int
) -> None:
    zone = "America/New_York" if base.month in (3, 11) and base.hour > 5 else "Europe/Paris"
    date = (base + dt.timedelta(days=day)).astimezone(ZoneInfo(zone)).date()
    t = local_to_instant(date, minute, zone)
    wall = dt.datetime.fromtimestamp(t, ZoneInfo(zone)).replace(tzinfo=None)
    wanted = dt.datetime.combine(date, dt.time(minute // 60, minute % 60))
    assert wanted <= wall <= wanted + dt.timedelta(hours=1)
    # and it is the first such instant: a second earlier the wall clock had not reached it
    assert dt.datetime.fromtimestamp(t - 1, ZoneInfo(zone)).replace(tzinfo=None) < wanted
