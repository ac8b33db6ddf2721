"""Eligibility reasons, plan order, profiles, limits, line sharing and the why text (pure)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from appliance.campaigns import CampaignSettings
from appliance.domain import CampaignStatus, Channel
from appliance.scheduler.compliance import BUILTIN, DAY, HOUR, profile
from appliance.scheduler.hours import CallingHours
from appliance.scheduler.limits import AbandonFigure, abandon_cap_reached, limits_for
from appliance.scheduler.lines import Share, share_lines
from appliance.scheduler.plan import make_plan
from appliance.scheduler.select import Reason, Rules, classify
from appliance.scheduler.why import Gates, explain
from appliance.scheduler.windows import parse_weekly
from tests.scheduler.fakes import Row

NOON_WARSAW = dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC).timestamp()
RULES = Rules(
    hours=CallingHours(parse_weekly("daily 08:00-21:00")),
    limits=limits_for(CampaignSettings(), profile("uk")),
    zone_sets={1: ("Europe/Warsaw",), 2: ("America/Los_Angeles", "America/New_York")},
    fallback_zone="Europe/Warsaw",
)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (Row(1), Reason.READY),
        (Row(1, state="Connected"), Reason.CLOSED),
        (Row(1, state="Not Connected", due_at=None, attempts=1), Reason.CLOSED),
        (Row(1, state="Sent to Dialer", leased=True), Reason.IN_FLIGHT),
        (Row(1, matches_filter=False), Reason.FILTERED),
        (Row(1, state="Not Connected", due_at=NOON_WARSAW + 1, attempts=1), Reason.WAITING),
        (Row(1, attempts=10), Reason.EXHAUSTED),
        (Row(1, phone_attempts=5), Reason.EXHAUSTED),
        (Row(1, number=None), Reason.NO_NUMBER),
        (Row(1, dnc=True), Reason.DNC),
        (Row(1, day_attempts=3), Reason.DAILY_LIMIT),
        (Row(1, locked_until=NOON_WARSAW + 60), Reason.LOCKED_OUT),
        (Row(1, zone_set=2), Reason.OUTSIDE_HOURS),  # 05:00 in Los Angeles
        (Row(1, zone_set=2, tz_override="Europe/Warsaw"), Reason.READY),
        (Row(1, zone_set=None), Reason.READY),  # unknown zone: judged in the fallback zone
    ],
)
def test_classify_reasons(row: Row, reason: Reason) -> None:
    assert classify(row, RULES, NOON_WARSAW) is reason


def test_french_number_cap_counts_calls_across_the_box() -> None:
    rules = dataclasses.replace(RULES, limits=limits_for(CampaignSettings(), profile("fr")))
    assert classify(Row(1, window_calls=3), rules, NOON_WARSAW) is Reason.READY
    assert classify(Row(1, window_calls=4), rules, NOON_WARSAW) is Reason.NUMBER_CAP


def test_plan_puts_due_redials_first_oldest_first_then_priority_then_fifo_or_lifo() -> None:
    t = NOON_WARSAW
    redials = [
        Row(5, state="Not Connected", due_at=t - 10, attempts=1, number="+48221000005"),
        Row(6, state="Not Connected", due_at=t - 99, attempts=1, number="+48221000006"),
    ]
    news = [
        Row(1, priority=0, number="+48221000001"),
        Row(2, priority=9, number="+48221000002"),
        Row(3, priority=0, number="+48221000003"),
    ]
    plan = make_plan(
        redials, news, RULES, t, 10, order="fifo", channel_for=lambda s: Channel.VOICE,
        timezone="Europe/Warsaw",
    )  # fmt: skip
    assert [p.contact_id for p in plan] == [6, 5, 2, 1, 3]
    assert [p.kind for p in plan] == ["redial", "redial", "new", "new", "new"]
    lifo = make_plan(
        [], news, RULES, t, 2, order="lifo", channel_for=lambda s: Channel.SMS,
        timezone="Europe/Warsaw",
    )  # fmt: skip
    assert [p.contact_id for p in lifo] == [2, 3] and lifo[0].channel is Channel.SMS


def test_plan_skips_ineligible_rows_and_never_plans_one_number_twice() -> None:
    news = [Row(1, dnc=True), Row(2, number="+48221000002"), Row(3, number="+48221000002")]
    plan = make_plan(
        [], news, RULES, NOON_WARSAW, 10, order="fifo", channel_for=lambda s: Channel.VOICE,
        timezone="UTC",
    )  # fmt: skip
    assert [p.contact_id for p in plan] == [2]
    assert "new contact, priority 0" in plan[0].why


def test_profiles_carry_the_regulators_figures() -> None:
    us, uk, fr = BUILTIN["us"], BUILTIN["uk"], BUILTIN["fr"]
    assert (us.abandon_cap, us.abandon_windows, us.min_ring_seconds) == (3.0, (30 * DAY,), 15)
    assert (uk.abandon_windows, uk.abandon_lockout, uk.machine_lockout) == (
        (DAY,),
        72 * HOUR,
        24 * HOUR,
    )
    assert (fr.max_calls_per_number, fr.calls_window) == (4, 30 * DAY)
    assert fr.calling_hours.hours.describe() == "mon-fri 10:00-13:00,14:00-20:00"
    assert fr.calling_hours.holidays_country == "FR"


def test_box_hours_narrow_a_profile_but_never_widen_it() -> None:
    narrowed = profile("us", box_hours=parse_weekly("daily 09:00-20:00"))
    assert narrowed.calling_hours.hours.describe() == "daily 09:00-20:00"
    wider = profile("fr", box_hours=parse_weekly("daily 06:00-23:00"))
    assert wider.calling_hours.hours.describe() == "mon-fri 10:00-13:00,14:00-20:00"
    with pytest.raises(ValueError, match="unknown compliance profile 'de'"):
        profile("de")


def test_limits_take_the_stricter_of_campaign_and_profile() -> None:
    settings = CampaignSettings(max_attempts_per_30_days=2, abandon_lockout_hours=100)
    limits = limits_for(settings, profile("fr"))
    assert limits.max_calls_per_number == 2
    assert limits.abandon_lockout == 100 * HOUR
    assert limits_for(CampaignSettings(), profile("uk")).abandon_lockout == 72 * HOUR


def test_abandon_cap() -> None:
    uk = profile("uk")
    assert abandon_cap_reached(uk, [AbandonFigure(DAY, 100, 2)]) is None
    text = abandon_cap_reached(uk, [AbandonFigure(DAY, 100, 3)])
    assert text is not None and "3 of 100" in text and "24 h" in text
    assert abandon_cap_reached(uk, [AbandonFigure(DAY, 0, 0)]) is None


def test_lines_are_shared_by_weight_with_pins_and_caps() -> None:
    free = [f"l{i}" for i in range(6)]
    got = share_lines(free, {}, [Share("a", weight=2), Share("b", weight=1)])
    assert (len(got["a"]), len(got["b"])) == (4, 2)
    got = share_lines(free, {"l0": ["b"], "l1": ["b"]}, [Share("a", 1, max_lines=1), Share("b")])
    assert got["a"] == ["l2"] and set(got["b"]) >= {"l0", "l1"} and len(got["b"]) == 5
    got = share_lines(free, {}, [Share("a", busy=3), Share("b", demand=1)])
    assert (len(got["a"]), got["b"]) == (5, ["l0"])
    assert share_lines(["l0"], {"l0": ["c"]}, [Share("a")]) == {}


def test_why_names_the_campaign_gate_first_and_counts_contacts() -> None:
    counts = {Reason.OUTSIDE_HOURS: 1200, Reason.DNC: 3, Reason.CLOSED: 10}
    e = explain("Spring", Gates(CampaignStatus.PAUSED, hours_text="08-21"), counts)
    assert e.headline == "Campaign Spring dials nothing: the campaign is paused."
    assert not e.dialing and e.counts["outside_hours"] == 1200
    e = explain("Spring", Gates(CampaignStatus.RUNNING, hours_text="08-21"), counts)
    assert "most are callee outside permitted hours" in e.headline
    assert "1,200  callee outside permitted hours (08-21)" in e.text()
    e = explain("Spring", Gates(CampaignStatus.RUNNING, lines_up=4), {Reason.READY: 2})
    assert e.headline.startswith("Campaign Spring dials fewer than it could: 2 contacts ready")
    e = explain("Spring", Gates(CampaignStatus.RUNNING, lines_up=0), {Reason.READY: 2})
    assert e.blockers[0]["reason"] == "no_line"
