"""When a callback is due (#23): the first instant at which the campaign's schedule is open and
every zone of the number is inside the calling hours — the dial loop's own judgement, checked
here against it minute by minute — or None when there is none."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.scheduler.callbacks import next_permitted
from appliance.scheduler.compliance import FR, US
from appliance.scheduler.hours import zones_inside
from appliance.scheduler.windows import CampaignSchedule, parse_weekly

PARIS = ("Europe/Paris",)
US_SPLIT = ("America/Chicago", "America/New_York")  # a number libphonenumber puts in both


def _utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


def test_the_fr_profile_skips_the_lunch_break_the_weekend_and_may_day() -> None:
    always = CampaignSchedule("Europe/Paris")
    # Thursday 30 April 2026, 13:30 in Paris: lunch; 14:00 opens
    assert next_permitted(_utc(2026, 4, 30, 11, 30), PARIS, FR.calling_hours, always,
                          "Europe/Paris") == _utc(2026, 4, 30, 12, 0)  # fmt: skip
    # Thursday 20:30: closed; Friday 1 May is a public holiday, then the weekend: Monday 10:00
    assert next_permitted(_utc(2026, 4, 30, 18, 30), PARIS, FR.calling_hours, always,
                          "Europe/Paris") == _utc(2026, 5, 4, 8, 0)  # fmt: skip
    inside = _utc(2026, 5, 4, 9, 17)
    assert next_permitted(inside, PARIS, FR.calling_hours, always, "Europe/Paris") == inside


def test_the_campaign_windows_and_every_zone_of_the_number_must_agree() -> None:
    # a campaign in Warsaw that calls 15:00-17:00 its time; a US number in two zones: 08:00
    # in Chicago is 09:00 in New York, 15:00 in Warsaw (in January)
    schedule = CampaignSchedule("Europe/Warsaw", parse_weekly("mon-fri 15:00-17:00"))
    got = next_permitted(_utc(2026, 1, 12, 6, 0), US_SPLIT, US.calling_hours, schedule,
                         "Europe/Warsaw")  # fmt: skip
    assert got == _utc(2026, 1, 12, 14, 0)
    # from 16:30 in Warsaw the window and Chicago's hours never meet before it closes: next day
    assert next_permitted(_utc(2026, 1, 12, 16, 5), US_SPLIT, US.calling_hours, schedule,
                          "Europe/Warsaw") == _utc(2026, 1, 13, 14, 0)  # fmt: skip


def test_no_permitted_time_is_none() -> None:
    ended = CampaignSchedule("Europe/Paris", end_date=dt.date(2026, 1, 31))
    assert next_permitted(_utc(2026, 3, 1), PARIS, FR.calling_hours, ended, "Europe/Paris") is None
    never = CampaignSchedule("Europe/Paris", parse_weekly("sat 10:00-12:00"))
    weekdays_only = FR.calling_hours  # Monday to Friday: never on a Saturday
    assert next_permitted(_utc(2026, 3, 1), PARIS, weekdays_only, never, "Europe/Paris") is None
    assert next_permitted(_utc(2026, 3, 1), ("Not/AZone",), FR.calling_hours,
                          CampaignSchedule("UTC"), "UTC") is None  # fmt: skip


@settings(max_examples=30, deadline=None)
@given(
    start=st.integers(min_value=int(_utc(2025, 1, 1)), max_value=int(_utc(2027, 12, 31))),
    zones=st.sampled_from([PARIS, US_SPLIT, ("Asia/Kolkata",), ("Australia/Lord_Howe",), ()]),
    windows=st.sampled_from(["mon-fri 09:00-17:00", "daily 00:00-24:00", "sat,sun 10:00-11:30"]),
)
def test_it_is_the_first_minute_the_dial_loop_would_call(
    start: int, zones: tuple[str, ...], windows: str
) -> None:
    """Checked against the dial loop's judgement: every minute of the first two days, then
    every quarter hour (every edge here — windows, hours, zone offsets — is on one) up to the
    answer or the horizon. Lord Howe against New York's weekdays meets only while New York
    keeps standard time; against its weekends, never."""
    schedule = CampaignSchedule("America/New_York", parse_weekly(windows))
    hours = US.calling_hours
    got = next_permitted(float(start), zones, hours, schedule, "America/New_York")

    def allowed(t: float) -> bool:
        return schedule.is_open(t) and zones_inside(zones, hours, t, "America/New_York")

    end = got if got is not None else start + 400 * 86400.0
    if got is not None:
        assert allowed(got) and got >= start
    assert got == start or not allowed(float(start))
    first = (start // 60 + 1) * 60
    for t in range(first, int(min(end, start + 2 * 86400)), 60):
        assert not allowed(float(t)), (t, got)
    for t in range((start // 900 + 1) * 900, int(end), 900):
        assert not allowed(float(t)), (t, got)
