"""When scheduled things are due (scheduler/timing.py) and what actions do (scheduler/actions.py)."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.domain import CampaignStatus
from appliance.scheduler.actions import PRECEDENCE, Action, Due, after, replay
from appliance.scheduler.timing import (
    iso_local,
    latest_of,
    next_of,
    parse_daily_times,
    parse_when,
)
from appliance.scheduler.windows import ScheduleError

ZONES = ("Europe/Warsaw", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC")
RUNNING, PAUSED, STOPPED = CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.STOPPED


def test_the_three_ways_to_say_when() -> None:
    once = parse_when("2026-03-02T09:00:00+01:00", None, "America/New_York")
    assert once.instant == dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC).timestamp()
    assert once.at_text() == "2026-03-02T03:00:00-05:00"  # shown in its zone
    local = parse_when("2026-03-02 09:00", None, "Europe/Warsaw")
    assert local.instant == once.instant and not local.recurring
    daily = parse_when("12:00", "weekdays", "Europe/Warsaw")
    assert (daily.at_text(), daily.days_text(), daily.recurring) == ("12:00", "mon-fri", True)
    assert parse_when("7:05", None, "UTC").at_text() == "07:05"
    assert parse_when("12:00", "sat,sun", "UTC").days_text() == "sat-sun"


@pytest.mark.parametrize(
    ("text", "days", "zone"),
    [
        ("noon", None, "UTC"), ("12:00", None, "Mars/Base"), ("12:00:00", None, "UTC"),
        ("2026-03-02", None, "UTC"), ("2026-03-02 09:00", "daily", "UTC"), ("-1:00", None, "UTC"),
        ("2026-03-02T09:00+25:00", None, "UTC"), ("12:00", "", "UTC"), ("12:00", "sun-mon", "UTC"),
    ],
)  # fmt: skip
def test_what_is_refused(text: str, days: str | None, zone: str) -> None:
    with pytest.raises(ScheduleError):
        parse_when(text, days, zone)


def test_the_state_machine() -> None:
    table = {
        (Action.START, STOPPED): RUNNING, (Action.START, PAUSED): RUNNING,
        (Action.PAUSE, RUNNING): PAUSED, (Action.PAUSE, STOPPED): STOPPED,
        (Action.RESUME, PAUSED): RUNNING, (Action.RESUME, STOPPED): STOPPED,
        (Action.STOP, RUNNING): STOPPED, (Action.STOP, PAUSED): STOPPED,
    }  # fmt: skip
    for (action, status), expected in table.items():
        assert after(action, status) is expected
    assert PRECEDENCE[-1] is Action.STOP


@given(st.sampled_from(ZONES), st.integers(0, 1439), st.integers(0, 400 * 86400))
def test_daily_occurrences_are_once_a_local_day_at_that_time(
    zone: str, minute: int, offset: int
) -> None:
    when = parse_when(f"{minute // 60:02d}:{minute % 60:02d}", None, zone)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp() + offset
    found = when.occurrences(start, start + 10 * 86400)
    dates = [dt.datetime.fromtimestamp(t, ZoneInfo(zone)).date() for t in found]
    assert found == sorted(set(found)) and len(dates) == len(set(dates))
    assert 9 <= len(found) <= 11
    for t in found:
        local = dt.datetime.fromtimestamp(t, ZoneInfo(zone))
        # on the wall clock at that minute, or (a DST gap skipped it) the first minute after
        assert local.hour * 60 + local.minute >= minute or local.hour * 60 + local.minute < 90
    assert when.next_after(start) == (found[0] if found[0] > start else found[1])


def test_hot_folder_times() -> None:
    times = parse_daily_times(["06:30", "mon-fri 13:00,17:00"], "Europe/Warsaw")
    monday_noon = dt.datetime(2026, 3, 2, 12, tzinfo=ZoneInfo("Europe/Warsaw")).timestamp()
    assert (
        iso_local(latest_of(times, monday_noon) or 0, "Europe/Warsaw")
        == "2026-03-02T06:30:00+01:00"
    )
    assert (
        iso_local(next_of(times, monday_noon) or 0, "Europe/Warsaw") == "2026-03-02T13:00:00+01:00"
    )
    saturday = dt.datetime(2026, 3, 7, 12, tzinfo=ZoneInfo("Europe/Warsaw")).timestamp()
    assert iso_local(next_of(times, saturday) or 0, "Europe/Warsaw") == "2026-03-08T06:30:00+01:00"


actions = st.sampled_from(list(Action))


@given(
    st.sampled_from([RUNNING, PAUSED, STOPPED]),
    st.lists(st.tuples(actions, st.integers(0, 5)), max_size=12),
)
def test_replay_is_the_actions_applied_in_time_then_precedence_order(
    status: CampaignStatus, items: list[tuple[Action, int]]
) -> None:
    dues = [Due(i, action, float(t)) for i, (action, t) in enumerate(items)]
    steps = replay(status, dues)
    expected = status
    for due in sorted(dues, key=lambda d: (d.at, PRECEDENCE.index(d.action), d.key)):
        expected = after(due.action, expected)
    assert (steps[-1].after if steps else status) is expected
    assert all(a.after is b.before for a, b in itertools.pairwise(steps))
