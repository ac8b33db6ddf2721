"""Campaign windows (C2) and callee calling hours (C3): weekdays, dates, holidays, DST, several zones."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.scheduler.hours import (
    CallingHours,
    allowed_zone_sets,
    zone_inside,
    zones_inside,
)
from appliance.scheduler.windows import (
    CampaignSchedule,
    ScheduleError,
    day_start,
    local_to_instant,
    parse_weekly,
    zone,
)

US = CallingHours(parse_weekly("daily 08:00-21:00"))


def at(text: str) -> float:
    """An ISO time with offset as a UTC timestamp."""
    return dt.datetime.fromisoformat(text).timestamp()


def test_window_text_round_trips_and_errors_say_where() -> None:
    hours = parse_weekly("mon-fri 10:00-13:00,14:00-20:00; sat 10:00-12:00")
    assert parse_weekly(hours.describe()) == hours
    assert parse_weekly("weekdays 09:00-24:00").describe() == "mon-fri 09:00-24:00"
    with pytest.raises(ScheduleError, match="group 2"):
        parse_weekly("mon 09:00-10:00; fri 17:00-09:00")
    with pytest.raises(ScheduleError, match="'25:00' is not a time of day"):
        parse_weekly("mon 09:00-25:00")
    with pytest.raises(ScheduleError, match="'funday'"):
        parse_weekly("funday 09:00-10:00")


def test_start_is_inclusive_end_is_exclusive() -> None:
    assert zone_inside("Europe/Warsaw", US, at("2026-06-10T08:00:00+02:00"))
    assert not zone_inside("Europe/Warsaw", US, at("2026-06-10T07:59:59+02:00"))
    assert zone_inside("Europe/Warsaw", US, at("2026-06-10T20:59:59+02:00"))
    assert not zone_inside("Europe/Warsaw", US, at("2026-06-10T21:00:00+02:00"))


def test_every_zone_of_a_multi_zone_number_must_be_inside() -> None:
    # 08:30 in New York is 05:30 in Los Angeles: a number that may be either waits.
    t = at("2026-06-10T08:30:00-04:00")
    assert zones_inside(("America/New_York",), US, t, "UTC")
    assert not zones_inside(("America/Los_Angeles", "America/New_York"), US, t, "UTC")
    sets = {1: ("America/New_York",), 2: ("America/Los_Angeles", "America/New_York"), 3: ()}
    assert allowed_zone_sets(sets, US, t, fallback="America/New_York") == {1, 3}
    assert allowed_zone_sets(sets, US, t, fallback="America/Los_Angeles") == {1}


def test_dst_spring_forward_day_uses_the_wall_clock_after_the_jump() -> None:
    # 2026-03-08: New York jumps 02:00 EST -> 03:00 EDT. 08:00 EDT is 12:00 UTC, not 13:00.
    assert zone_inside("America/New_York", US, at("2026-03-08T12:00:00+00:00"))
    assert not zone_inside("America/New_York", US, at("2026-03-08T11:59:00+00:00"))


def test_dst_fall_back_day_uses_the_wall_clock_after_the_return() -> None:
    # 2026-11-01: New York returns 02:00 EDT -> 01:00 EST; 21:00 EST is 02:00 UTC next day.
    assert zone_inside("America/New_York", US, at("2026-11-02T01:59:00+00:00"))
    assert not zone_inside("America/New_York", US, at("2026-11-02T02:00:00+00:00"))


def test_local_to_instant_in_a_gap_and_an_overlap() -> None:
    ny = "America/New_York"
    gap = local_to_instant(dt.date(2026, 3, 8), 2 * 60 + 30, ny)  # 02:30 never happens
    assert dt.datetime.fromtimestamp(gap, zone(ny)).isoformat() == "2026-03-08T03:00:00-04:00"
    overlap = local_to_instant(dt.date(2026, 11, 1), 60 + 30, ny)  # 01:30 happens twice
    assert dt.datetime.fromtimestamp(overlap, zone(ny)).isoformat() == "2026-11-01T01:30:00-04:00"
    assert local_to_instant(dt.date(2026, 1, 1), 24 * 60, ny) == at("2026-01-02T00:00:00-05:00")


def test_day_start_on_a_dst_day_is_local_midnight() -> None:
    t = at("2026-03-08T15:00:00-04:00")
    assert day_start(t, "America/New_York") == at("2026-03-08T00:00:00-05:00")


def test_french_hours_have_a_lunch_break_no_weekend_and_no_public_holidays() -> None:
    fr = CallingHours(parse_weekly("mon-fri 10:00-13:00,14:00-20:00"), holidays_country="FR")
    paris = "Europe/Paris"
    assert zone_inside(paris, fr, at("2026-06-10T12:59:00+02:00"))  # Wednesday
    assert not zone_inside(paris, fr, at("2026-06-10T13:30:00+02:00"))
    assert not zone_inside(paris, fr, at("2026-06-13T11:00:00+02:00"))  # Saturday
    assert not zone_inside(paris, fr, at("2026-07-14T11:00:00+02:00"))  # Bastille Day, Tuesday


def test_an_override_that_is_not_a_zone_is_never_inside() -> None:
    assert not zones_inside(("Mars/Olympus",), US, at("2026-06-10T12:00:00+00:00"), "UTC")


def test_campaign_schedule_dates_holidays_windows_and_next_opening() -> None:
    s = CampaignSchedule(
        "Europe/Warsaw",
        parse_weekly("mon-fri 09:00-17:00"),
        start_date=dt.date(2026, 4, 1),
        end_date=dt.date(2026, 12, 31),
        holidays_country="PL",
    )
    assert s.closed_reason(at("2026-03-31T12:00:00+02:00")) == "before its start date 2026-04-01"
    assert s.is_open(at("2026-04-01T09:00:00+02:00"))
    assert "outside its window" in (s.closed_reason(at("2026-04-01T17:00:00+02:00")) or "")
    assert "public holiday" in (s.closed_reason(at("2026-11-11T10:00:00+01:00")) or "")
    assert s.closed_reason(at("2027-01-04T10:00:00+01:00")) == "past its end date 2026-12-31"
    # Friday evening before Easter Monday (2026-04-06, a Polish holiday) -> Tuesday 09:00.
    assert s.next_open(at("2026-04-03T18:00:00+02:00")) == at("2026-04-07T09:00:00+02:00")
    assert s.next_open(at("2027-01-04T10:00:00+01:00")) is None


def test_campaign_window_opening_inside_a_dst_gap_opens_at_the_jump() -> None:
    s = CampaignSchedule("America/New_York", parse_weekly("sun 02:30-04:00"))
    t = at("2026-03-08T00:00:00-05:00")
    assert s.next_open(t) == at("2026-03-08T03:00:00-04:00")
