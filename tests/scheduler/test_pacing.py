"""Pacing: progressive arithmetic, the abandon ledger's windows, predictive never past lines or the cap."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.scheduler.pacing import (
    BASE_RISK,
    CAP_RISK,
    DAY,
    RAMP_ANSWERS,
    RAMP_FROM,
    RISK_DOWN,
    RISK_UP,
    SHORT_WINDOW,
    SMALL_BASE_RISK,
    SMALL_RISK_DOWN,
    SMALL_RISK_UP,
    STEER_EVERY,
    STEER_GAIN,
    STEER_HORIZON,
    AbandonLedger,
    AgentView,
    Pacer,
)


def _with_answers(mode: str, ratio: float, answered: int, abandoned: int = 0) -> Pacer:
    pacer = Pacer(mode, ratio=ratio)
    for t in range(answered):
        pacer.answered(float(t), 10.0)
    for t in range(abandoned):
        pacer.abandoned(float(t))
    return pacer


def test_progressive_dials_ratio_times_idle_less_calls_in_flight() -> None:
    pacer = _with_answers("progressive", 2.0, answered=500)
    assert pacer.dials_wanted(600.0, AgentView(idle=3), (1.0, 2.0), 1, lines_free=10) == 3
    assert (
        pacer.dials_wanted(600.0, AgentView(idle=3), (), 0, lines_free=4) == 4
    )  # never past free lines
    assert pacer.dials_wanted(600.0, AgentView(idle=0), (), 0, lines_free=4) == 0


def test_an_overdial_ratio_gives_way_to_one_to_one_at_the_cap() -> None:
    # A new campaign has no answers to measure abandons by: it starts 1:1, whatever its ratio.
    assert Pacer("progressive", ratio=2.0).dials_wanted(0.0, AgentView(idle=3), (), 0, 10) == 3
    # At the cap (4 of 100 abandoned), 1:1 again; well under it, the ratio holds.
    capped = _with_answers("progressive", 2.0, answered=100, abandoned=4)
    assert capped.dials_wanted(200.0, AgentView(idle=3), (), 0, lines_free=10) == 3
    assert (
        _with_answers("progressive", 2.0, 1000, 5).dials_wanted(
            2000.0, AgentView(idle=3), (), 0, lines_free=10
        )
        == 6
    )


def test_ledger_rolls_24h_and_30d_separately() -> None:
    ledger = AbandonLedger()
    for t in range(100):
        ledger.answered(float(t))
    for t in range(3):
        ledger.abandoned(float(t))
    assert ledger.rate(200.0) == 0.03
    assert ledger.rate(DAY + 50.0) == 0.0  # the 24 h window has moved past them
    assert ledger.rate(DAY + 50.0, 30 * DAY) == 0.03


def test_predictive_falls_back_to_progressive_at_the_cap() -> None:
    pacer = Pacer("predictive")
    for t in range(100):
        pacer.answered(float(t), 10.0)
    for t in range(4):
        pacer.abandoned(float(t))
    assert pacer.at_cap(200.0)
    assert pacer.dials_wanted(200.0, AgentView(idle=2), (), 0, lines_free=10) == 2


def test_the_cap_keeps_a_reserve_for_the_calls_in_flight() -> None:
    pacer = Pacer("predictive")
    assert not pacer.at_cap(0.0)  # nothing abandoned yet: a new campaign starts (cautiously)
    for t in range(60):
        pacer.answered(float(t), 10.0)
    pacer.abandoned(1.0)
    assert not pacer.at_cap(100.0)  # 1 of 60 and a reserve of 0.6: 1.6 < 1.8
    pacer.abandoned(2.0)
    assert pacer.at_cap(100.0)  # 2 of 60
    pacer = Pacer("predictive")
    for t in range(200):
        pacer.answered(float(t), 10.0)
    for t in range(3):
        pacer.abandoned(float(t))
    assert not pacer.at_cap(300.0)  # 1.5 %, and 2 more would still leave it under 3 %
    pacer.abandoned(4.0)
    assert pacer.at_cap(300.0)  # 2 %: the calls in flight could take it to the cap
    assert pacer.dials_wanted(300.0, AgentView(idle=2), (), 0, lines_free=10) == 2


def _rare_answers(abandoned: int, answered: int = 300) -> Pacer:
    """A predictive pacer that has seen one dial in ten answered, `abandoned` of them lost."""
    pacer = Pacer("predictive")
    for t in range(answered * 10):
        pacer.dialed(float(t))
        if t % 10 == 0:
            pacer.answered(float(t), 10.0)
        else:
            pacer.resolved(float(t), "noanswer", 22.0)
    for t in range(abandoned):
        pacer.abandoned(float(t))
    return pacer


def test_between_the_reserve_line_and_the_hard_line_it_dials_ahead_cautiously() -> None:
    """#19: the reserve line is crossed by noise; progressive 1:1 there cost S4 (p 0.15) a fifth
    of its talk time. Predictive goes on at CAP_RISK, and only the hard line (one abandon short
    of the cap) makes it progressive."""
    now = 3000.0
    free = AgentView(idle=4, talk_elapsed=(5.0,) * 6)  # a team of 10: its reserves are 2 and 1
    calm = _rare_answers(abandoned=0)  # 0 of 300
    band = _rare_answers(abandoned=7)  # 7 + 2 ≥ 9, but 7 + 1 < 9
    hard = _rare_answers(abandoned=8)
    assert not calm.at_cap(now) and band.at_cap(now) and not band.at_hard_cap(now)
    assert hard.at_hard_cap(now)
    wanted = calm.dials_wanted(now, free, (), 0, lines_free=60)
    cautious = band.dials_wanted(now, free, (), 0, lines_free=60)
    assert 4 < cautious < wanted
    assert hard.dials_wanted(now, free, (), 0, lines_free=60) == 4


def test_a_burst_of_abandons_in_the_last_half_hour_brakes_at_once() -> None:
    """#19 robustness (§5.7): a 30-minute window must not pass 6 % although the 24 h rate is
    far under the cap: SHORT_SHARE × cap of the last SHORT_WINDOW s brakes to CAP_RISK."""
    quiet = _rare_answers(abandoned=0, answered=600)
    burst = _rare_answers(abandoned=0, answered=600)
    now = 6000.0  # the last half hour (from 4200 s) holds 180 answers
    for k in range(8):
        burst.abandoned(now - 60.0 * k)  # 8 of 180: 4.4 % (≥ 3.9 %), 1.3 % of the day
    assert not burst.at_cap(now) and burst.short_brake(now) and not quiet.short_brake(now)
    free = AgentView(idle=4)
    assert burst.dials_wanted(now, free, (), 0, 60) < quiet.dials_wanted(now, free, (), 0, 60)
    assert not burst.short_brake(now + SHORT_WINDOW)  # forgotten after the window


def test_a_team_of_20_brakes_by_the_abandons_the_half_hour_can_still_take() -> None:
    """#19: D1s day 18 reached 11 abandons of 175 answers in half an hour (6.3 %) before the
    3.9 % ratio brake had stopped it. With 20 agents on, fewer than SHORT_HEAD (5) abandons
    left before 6 % of the window's answers dials at CAP_RISK, fewer than HARD_HEAD (1.5) 1:1."""
    now = 5995.0  # the last half hour (from 4195 s) holds 180 answers: 6 % is 10.8 abandons

    def window(abandons: int) -> Pacer:
        pacer = _rare_answers(abandoned=0, answered=600)
        for k in range(abandons):
            pacer.abandoned(now - 60.0 * k)
        return pacer

    team = AgentView(idle=4, talk_elapsed=(5.0,) * 16)
    small = AgentView(idle=4, talk_elapsed=(5.0,) * 6)
    quiet, five, six, ten = window(0), window(5), window(6), window(10)
    assert five.short_headroom(now, team) == pytest.approx(5.8)  # not under SHORT_HEAD
    assert six.short_headroom(now, team) == pytest.approx(4.8)  # under SHORT_HEAD
    assert ten.short_headroom(now, team) == pytest.approx(0.8)  # under HARD_HEAD
    assert not six.short_brake(now)  # the ratio (3.9 %) brakes at 8
    assert math.isinf(six.short_headroom(now, small))  # a team of 10: the ratio alone
    assert math.isinf(quiet.short_headroom(now, team))
    free = quiet.dials_wanted(now, team, (), 0, 60)
    braked = window(0)._predictive(now, team, (), 0, CAP_RISK)
    assert 4 < braked < five.dials_wanted(now, team, (), 0, 60) <= free
    assert six.dials_wanted(now, team, (), 0, 60) == braked
    assert window(6).dials_wanted(now, small, (), 0, 60) > braked  # a team of 10 dials on
    assert ten.dials_wanted(now, team, (), 0, 60) == 4  # 1:1
    assert ten.dials_wanted(now, team, (0.5, 1.0), 1, 60) == 1  # calls in flight count
    assert ten.dials_wanted(now + SHORT_WINDOW, team, (), 0, 60) > 4  # forgotten
    power = window(10)  # a configured over-dial ratio gives way to 1:1 there too
    power.ratio = 3.0
    assert power.dials_wanted(now, team, (), 0, 60) == 4
    power.mode = "progressive"
    assert power.dials_wanted(now, team, (), 0, 60) == 4
    calm = window(0)
    calm.mode, calm.ratio = "progressive", 3.0
    assert calm.dials_wanted(now, team, (), 0, 60) == 12  # elsewhere the ratio holds


def test_predictive_overdials_for_idle_agents_when_answers_are_rare() -> None:
    pacer = Pacer("predictive")
    for t in range(1000):
        pacer.dialed()
        if t % 10 == 0:  # one dial in ten answered
            pacer.answered(float(t), 10.0)
    assert not pacer.at_cap(1000.0)
    assert pacer.dials_wanted(1000.0, AgentView(idle=4), (), 0, lines_free=30) > 4


@settings(max_examples=300, deadline=None)
@given(
    idle=st.integers(0, 20),
    talking=st.lists(st.floats(0, 600), max_size=20),
    wrapping=st.lists(st.floats(0, 15), max_size=5),
    ringing=st.lists(st.floats(0, 25), max_size=30),
    waiting=st.integers(0, 5),
    lines=st.integers(0, 40),
)
def test_never_more_dials_than_free_lines(
    idle: int,
    talking: list[float],
    wrapping: list[float],
    ringing: list[float],
    waiting: int,
    lines: int,
) -> None:
    for mode in ("progressive", "predictive"):
        pacer = Pacer(mode)
        view = AgentView(idle, tuple(talking), tuple(wrapping))
        assert 0 <= pacer.dials_wanted(0.0, view, tuple(ringing), waiting, lines) <= lines


@settings(max_examples=2000)
@given(
    mode=st.sampled_from(["progressive", "predictive"]),
    ratio=st.floats(min_value=0.1, max_value=10.0),
    answered=st.integers(min_value=0, max_value=400),
    abandoned_share=st.floats(min_value=0.0, max_value=0.2),
    idle=st.integers(min_value=0, max_value=30),
    ringing=st.lists(st.floats(min_value=0.0, max_value=30.0), max_size=30),
    waiting=st.integers(min_value=0, max_value=10),
    lines=st.integers(min_value=0, max_value=90),
)
def test_at_the_hard_cap_no_call_is_dialed_without_an_idle_agent_for_it(
    mode: str,
    ratio: float,
    answered: int,
    abandoned_share: float,
    idle: int,
    ringing: list[float],
    waiting: int,
    lines: int,
) -> None:
    """The law (C13, A4): once the abandon rate is within one abandon of the cap, whatever the
    mode or over-dial ratio, calls ringing or waiting never outnumber the idle agents."""
    pacer = _with_answers(mode, ratio, answered, int(answered * abandoned_share))
    now = float(answered + 10)
    wanted = pacer.dials_wanted(now, AgentView(idle), tuple(ringing), waiting, lines)
    if pacer.at_hard_cap(now):  # the hard line of this team (a small one keeps less reserve)
        assert wanted <= max(0, idle - len(ringing) - waiting)


def _pacer_with(answered: int, abandoned: int) -> Pacer:
    """A predictive pacer that has seen one dial in three answered."""
    pacer = Pacer("predictive")
    for t in range(answered):
        for _ in range(3):
            pacer.dialed(float(t))
        pacer.answered(float(t), 10.0)
    for t in range(abandoned):
        pacer.abandoned(float(t))
    return pacer


AGENTS = AgentView(idle=8, talk_elapsed=(30.0, 60.0))


def _law(pacer: Pacer, abandoned: int, answered: int) -> float:
    target = pacer.target
    error = (abandoned - pacer.allowed(answered)) / (target * (answered + STEER_HORIZON))
    ramp = min(1.0, (answered + RAMP_FROM) / RAMP_ANSWERS)
    return BASE_RISK * min(RISK_UP, max(RISK_DOWN, math.exp(-STEER_GAIN * error))) * ramp


def test_steering_accelerates_when_the_24h_rate_is_well_under_target() -> None:
    at_target = _pacer_with(2000, 45)  # 2.25 %: the target, the base risk
    base = at_target.dials_wanted(1000.0, AGENTS, (), 0, lines_free=30)
    assert at_target.risk == pytest.approx(BASE_RISK)
    pacer = _pacer_with(2000, 0)
    faster = pacer.dials_wanted(1000.0, AGENTS, (), 0, lines_free=30)
    assert pacer.risk == pytest.approx(BASE_RISK * RISK_UP)
    assert faster > base


def test_steering_brakes_in_proportion_when_the_24h_rate_is_over_target() -> None:
    pacer = _pacer_with(1000, 27)  # 2.7 %: over the 2.25 % target, under the cap with its reserve
    assert not pacer.at_cap(1000.0)
    slower = pacer.dials_wanted(1000.0, AGENTS, (), 0, lines_free=30)
    assert pacer.risk == pytest.approx(_law(pacer, 27, 1000))
    assert pacer.risk < BASE_RISK
    assert slower <= _pacer_with(2000, 45).dials_wanted(1000.0, AGENTS, (), 0, lines_free=30)


def test_a_new_campaign_starts_cautious_and_one_early_abandon_brakes_without_the_fallback() -> None:
    pacer = _pacer_with(10, 0)
    pacer.dials_wanted(100.0, AGENTS, (), 0, lines_free=30)
    assert pacer.risk == pytest.approx(_law(pacer, 0, 10)) and pacer.risk < BASE_RISK
    pacer = _pacer_with(60, 1)  # 1 of 60: under the cap, over the target
    pacer.dials_wanted(100.0, AGENTS, (), 0, lines_free=30)
    assert not pacer.at_cap(100.0)
    assert pacer.risk == pytest.approx(_law(pacer, 1, 60))


def test_steering_acts_once_per_period() -> None:
    pacer = _pacer_with(90, 0)
    pacer.dials_wanted(100.0, AGENTS, (), 0, lines_free=30)
    first = pacer.risk
    for t in range(90, 1000):
        pacer.answered(float(t), 10.0)
    pacer.dials_wanted(100.0 + STEER_EVERY / 2, AGENTS, (), 0, lines_free=30)
    assert pacer.risk == first  # the last look was under a period ago
    pacer.dials_wanted(100.0 + STEER_EVERY, AGENTS, (), 0, lines_free=30)
    assert pacer.risk == pytest.approx(_law(pacer, 0, 1000))


SMALL = AgentView(idle=1, talk_elapsed=(30.0, 60.0))  # a 3-agent office


def test_a_small_team_keeps_half_an_abandon_in_reserve_where_a_large_one_keeps_two() -> None:
    """370 answers make a 3-agent day: a reserve of 2 abandons is half a point of its cap (#19)."""
    small, large = _pacer_with(300, 7), _pacer_with(300, 7)  # 7 of 300: 2.3 %
    small.dials_wanted(1000.0, SMALL, (), 0, lines_free=1)
    large.dials_wanted(1000.0, AGENTS, (), 0, lines_free=30)
    assert small.small_team and not large.small_team
    assert large.at_cap(1000.0) and not small.at_cap(1000.0)
    small.abandoned(1000.0)  # 8 of 300 and half an abandon: 8.5 of the 9 the cap allows
    assert not small.at_cap(1000.0)
    small.abandoned(1000.0)  # 9 of 300: at the cap itself
    assert small.at_hard_cap(1000.0)
    assert small.dials_wanted(1000.0, SMALL, (), 0, lines_free=2) == 1  # 1:1 for the idle agent


def test_a_small_team_steers_from_the_target_s_level_without_the_ramp() -> None:
    """A new campaign: a large team starts far under its base risk (the ramp, and the steering
    held to the fallback line less a gap); a small team's model risk is about what it measures,
    and it starts within its narrow band."""
    small, large = _pacer_with(10, 0), _pacer_with(10, 0)
    small.dials_wanted(100.0, SMALL, (), 0, lines_free=2)
    large.dials_wanted(100.0, AGENTS, (), 0, lines_free=30)
    assert large.risk == pytest.approx(_law(large, 0, 10))
    error = (0 - small.allowed(10)) / (small.target * (10 + STEER_HORIZON))
    factor = min(SMALL_RISK_UP, max(SMALL_RISK_DOWN, math.exp(-STEER_GAIN * error)))
    assert small.risk == pytest.approx(SMALL_BASE_RISK * factor)
    assert small.risk > 3 * large.risk
    under = _pacer_with(300, 0)
    under.dials_wanted(1000.0, SMALL, (), 0, lines_free=2)
    assert under.risk == pytest.approx(SMALL_BASE_RISK * SMALL_RISK_UP)
    # the team grows to SHORT_AGENTS: the large team's steering at the next period
    under.dials_wanted(1000.0 + STEER_EVERY, AGENTS, (), 0, lines_free=30)
    assert not under.small_team and under.risk == pytest.approx(BASE_RISK * RISK_UP)


def test_a_large_team_logging_in_or_at_lunch_is_not_a_small_team() -> None:
    """Agents logging in one by one before the first answer, and half a team at lunch, keep the
    large team's law: the team that counts is the largest on over the day."""
    pacer = Pacer("predictive")
    for n in range(1, 21):
        pacer.dials_wanted(0.0, AgentView(idle=n), (), 0, lines_free=60)
        assert not pacer.small_team
    for t in range(200):
        pacer.answered(float(t), 10.0)
    lunch = AgentView(idle=2, talk_elapsed=(30.0,) * 6)  # 8 of the 20 on
    pacer.dials_wanted(4 * 3600.0, lunch, (), 0, lines_free=60)
    assert not pacer.small_team
    pacer.dials_wanted(4 * 3600.0 + DAY + 1, lunch, (), 0, lines_free=60)  # a day on, 8 it is
    assert pacer.small_team
