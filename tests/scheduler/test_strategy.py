"""Strategies (SPEC C4): every default transition, SMS waits, limits, and parse errors that name the place."""

from __future__ import annotations

import pytest
import yaml

from appliance.domain import Channel, ContactState, Outcome, Summary
from appliance.scheduler.strategy import (
    DEFAULT_STRATEGY,
    Action,
    AttemptContext,
    StrategyError,
    next_action,
    parse_delay,
    parse_strategy,
    to_dict,
)

NOW = 1_800_000_000.0
TWO_HOURS = 7200.0


def ctx(
    *,
    step: int = 0,
    phone: int = 1,
    channel: Channel = Channel.VOICE,
    phones: tuple[bool, ...] = (True, True, False, False, False),
    attempts: int = 1,
    phone_attempts: tuple[int, ...] | None = None,
) -> AttemptContext:
    if phone_attempts is None:
        phone_attempts = tuple(1 if i == phone else 0 for i in range(1, 6))
    return AttemptContext(step, phone, channel, phones, attempts, phone_attempts)


def decide(outcome: Outcome, c: AttemptContext | None = None, **kw: object):  # type: ignore[no-untyped-def]
    limits = {"max_attempts": 10, "max_attempts_per_number": 5}
    limits.update(kw)  # type: ignore[arg-type]
    return next_action(DEFAULT_STRATEGY, c or ctx(), outcome, NOW, **limits)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "outcome", [Outcome.ALERTING_TIMEOUT, Outcome.BUSY, Outcome.ANSWERING_MACHINE]
)
def test_no_answer_busy_voicemail_retry_the_same_number_in_two_hours(outcome: Outcome) -> None:
    d = decide(outcome)
    assert d.state is ContactState.NOT_CONNECTED
    assert d.summary is Summary.NO_SUCCESS
    assert d.next_at == NOW + TWO_HOURS
    assert d.next_phone == 1
    assert d.channel is Channel.VOICE
    assert d.block_number is False
    assert d.step == 1


@pytest.mark.parametrize("outcome", [Outcome.WRONG_NUMBER, Outcome.FAX])
def test_wrong_number_and_fax_block_the_number_for_good_and_move_on(outcome: Outcome) -> None:
    d = decide(outcome)
    assert d.block_number is True
    assert d.next_phone == 2  # the other number, at once
    assert d.next_at == NOW
    assert d.state is ContactState.NOT_CONNECTED


@pytest.mark.parametrize("outcome", [Outcome.WRONG_NUMBER, Outcome.FAX])
def test_blocking_the_only_number_closes_the_contact_as_unreachable(outcome: Outcome) -> None:
    d = decide(outcome, ctx(phones=(True, False, False, False, False)))
    assert d.block_number is True
    assert d.next_at is None and d.channel is None
    assert d.state is ContactState.RETRIES_COMPLETED  # final: no redial will come (issue 17)
    assert d.summary is Summary.UNREACHABLE


@pytest.mark.parametrize(
    "outcome", [Outcome.CONNECTED, Outcome.AGENT_TRANSFER, Outcome.AGENT_HANG_UP]
)
def test_end_of_handling_closes_as_connected(outcome: Outcome) -> None:
    d = decide(outcome)
    assert (d.state, d.summary, d.next_at, d.block_number) == (
        ContactState.CONNECTED,
        Summary.SUCCESSFUL,
        None,
        False,
    )


def test_every_outcome_has_a_default_action_and_none_leaves_the_contact_dangling() -> None:
    for outcome in Outcome:
        d = decide(outcome)
        closed = d.next_at is None
        assert closed == (d.channel is None)
        if not closed:
            assert d.state is ContactState.NOT_CONNECTED and d.next_at >= NOW  # type: ignore[operator]


def test_box_side_trouble_retries_sooner_than_callee_side() -> None:
    assert decide(Outcome.NO_LINE).next_at == NOW + 600
    assert decide(Outcome.ERROR_OCCURRED).next_at == NOW + 600
    assert decide(Outcome.BANNED).state is ContactState.DNC_LISTED


def test_the_last_allowed_attempt_closes_as_retries_completed() -> None:
    d = decide(Outcome.BUSY, ctx(attempts=10), max_attempts=10)
    assert d.state is ContactState.RETRIES_COMPLETED and d.next_at is None
    assert d.summary is Summary.NO_SUCCESS


def test_a_number_out_of_budget_hands_over_to_the_next_number() -> None:
    d = decide(Outcome.BUSY, ctx(phone_attempts=(5, 0, 0, 0, 0), attempts=5))
    assert d.next_phone == 2 and d.next_at == NOW + TWO_HOURS
    d = decide(Outcome.BUSY, ctx(phone_attempts=(5, 5, 0, 0, 0), attempts=9))
    assert d.state is ContactState.RETRIES_COMPLETED


STRATEGY_YAML = """
name: voice-then-sms
attempts:
  - {channel: voice, phone: 1}
  - {channel: voice, phone: next}
  - {channel: sms, phone: 1, wait: 1d}
  - {channel: voice, phone: 1}
repeat_last: false
on:
  NoAnswer: retry 30m
  Busy: {action: sms, after: 5m}
  default: close Not Connected
"""


def strategy():  # type: ignore[no-untyped-def]
    return parse_strategy(yaml.safe_load(STRATEGY_YAML), "test.yaml")


def test_busy_switches_to_sms_attempt_of_the_plan() -> None:
    d = next_action(
        strategy(), ctx(), Outcome.BUSY, NOW, max_attempts=10, max_attempts_per_number=5
    )
    assert (d.channel, d.step, d.next_phone, d.next_at) == (Channel.SMS, 2, 1, NOW + 300)


def test_phone_next_takes_the_next_number() -> None:
    d = next_action(
        strategy(), ctx(), Outcome.ALERTING_TIMEOUT, NOW, max_attempts=10, max_attempts_per_number=5
    )
    assert (d.step, d.next_phone, d.channel, d.next_at) == (1, 2, Channel.VOICE, NOW + 1800)


def test_sms_with_a_wait_is_sms_sent_until_expiry_then_the_next_attempt() -> None:
    c = ctx(step=2, channel=Channel.SMS, attempts=3)
    d = next_action(
        strategy(), c, Outcome.CONNECTED, NOW, max_attempts=10, max_attempts_per_number=5
    )
    assert d.state is ContactState.SMS_SENT
    assert (d.next_at, d.step, d.channel) == (NOW + 86400, 3, Channel.VOICE)


def test_sms_without_a_wait_closes_at_once() -> None:
    s = parse_strategy({"name": "sms", "attempts": [{"channel": "sms", "phone": 1}]})
    c = ctx(channel=Channel.SMS)
    d = next_action(s, c, Outcome.CONNECTED, NOW, max_attempts=10, max_attempts_per_number=5)
    assert (d.state, d.summary, d.next_at) == (
        ContactState.SMS_SENT_AND_CLOSED,
        Summary.SUCCESSFUL,
        None,
    )


def test_past_the_plan_without_repeat_closes_as_retries_completed() -> None:
    c = ctx(step=3, attempts=4)
    d = next_action(
        strategy(), c, Outcome.ALERTING_TIMEOUT, NOW, max_attempts=10, max_attempts_per_number=5
    )
    assert d.state is ContactState.RETRIES_COMPLETED


def test_unlisted_outcomes_take_the_strategys_default() -> None:
    d = next_action(
        strategy(), ctx(), Outcome.REJECTED, NOW, max_attempts=10, max_attempts_per_number=5
    )
    # `close Not Connected` closes: a Not Connected contact without a redial would be neither
    # due nor final, so it is Retries Completed (issue 17: nothing left without a future)
    assert d.state is ContactState.RETRIES_COMPLETED and d.next_at is None


def test_an_sms_campaign_never_switches_to_voice() -> None:
    d = next_action(
        strategy(), ctx(channel=Channel.SMS), Outcome.ALERTING_TIMEOUT, NOW,
        max_attempts=10, max_attempts_per_number=5, sms_only=True,
    )  # fmt: skip
    assert d.channel is Channel.SMS


def test_round_trip_through_plain_data() -> None:
    s = strategy()
    again = parse_strategy(to_dict(s))
    assert again == s
    assert parse_strategy(to_dict(DEFAULT_STRATEGY)) == DEFAULT_STRATEGY


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"attempts": []}, "name"),
        ({"name": "x", "attempts": []}, "x.attempts: expected a non-empty list"),
        ({"name": "x", "attempts": [{"phone": 6}]}, "attempts[0].phone: 6 is not 1..5"),
        ({"name": "x", "attempts": [{"channel": "fax"}]}, "attempts[0].channel: 'fax'"),
        ({"name": "x", "on": {"Bsy": "retry"}}, "on.Bsy: unknown outcome 'Bsy'"),
        ({"name": "x", "on": {"Busy": "redial 2h"}}, "on.Busy: 'redial' is not an action"),
        ({"name": "x", "on": {"Busy": "retry soon"}}, "on.Busy.after: 'soon' is not a delay"),
        ({"name": "x", "on": {"Busy": "close Happy"}}, "on.Busy.state: unknown contact state"),
        (
            {"name": "x", "on": {"Busy": "sms"}},
            "switches to SMS, but 'attempts' has no SMS attempt",
        ),
        ({"name": "x", "colour": 1}, "unknown key(s) colour"),
        (
            {"name": "x", "attempts": [{"channel": "voice", "wait": "1h"}]},
            "only an SMS attempt waits",
        ),
    ],
)
def test_parse_errors_name_the_key_path(data: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyError) as info:
        parse_strategy(data, "x")
    assert message in str(info.value)


def test_delays() -> None:
    assert parse_delay("2h", "d") == 7200
    assert parse_delay("1h30m", "d") == 5400
    assert parse_delay(90, "d") == 90
    assert parse_delay("1d", "d") == 86400
    with pytest.raises(StrategyError):
        parse_delay("-5", "d")


def test_default_strategy_is_the_polish_seeds() -> None:
    on = DEFAULT_STRATEGY.on
    for o in (Outcome.ALERTING_TIMEOUT, Outcome.BUSY, Outcome.ANSWERING_MACHINE):
        assert (on[o].action, on[o].after) == (Action.RETRY, TWO_HOURS)
    for o in (Outcome.WRONG_NUMBER, Outcome.FAX):
        assert on[o].action is Action.BLOCK


# -- a custom `default:` covers what the strategy leaves open, never the terminal outcomes (#17)

PATIENT = {"name": "patient", "on": {"default": "retry 2h"}}


def _next(s, outcome: Outcome, c: AttemptContext | None = None):  # type: ignore[no-untyped-def]
    return next_action(s, c or ctx(), outcome, NOW, max_attempts=10, max_attempts_per_number=5)


@pytest.mark.parametrize(
    "outcome", [Outcome.CONNECTED, Outcome.AGENT_TRANSFER, Outcome.AGENT_HANG_UP]
)
def test_a_custom_default_never_redials_a_connected_contact(outcome: Outcome) -> None:
    d = _next(parse_strategy(PATIENT), outcome)
    assert (d.state, d.summary, d.next_at) == (ContactState.CONNECTED, Summary.SUCCESSFUL, None)


@pytest.mark.parametrize("outcome", [Outcome.WRONG_NUMBER, Outcome.FAX])
def test_a_custom_default_still_puts_wrong_numbers_and_faxes_on_the_block_list(
    outcome: Outcome,
) -> None:
    d = _next(parse_strategy(PATIENT), outcome)
    assert d.block_number is True
    assert (d.next_phone, d.next_at) == (2, NOW)  # the other number at once, as by default


def test_a_custom_default_keeps_banned_numbers_dnc_listed() -> None:
    assert _next(parse_strategy(PATIENT), Outcome.BANNED).state is ContactState.DNC_LISTED


def test_a_custom_default_covers_the_other_outcomes_the_strategy_does_not_name() -> None:
    s = parse_strategy({"name": "p", "on": {"Busy": "retry 5m", "default": "retry 2h"}})
    assert _next(s, Outcome.BUSY).next_at == NOW + 300
    assert _next(s, Outcome.NO_LINE).next_at == NOW + TWO_HOURS  # built in: 10 min
    assert _next(s, Outcome.INCOMPATIBLE).next_phone == 1  # built in: next number


def test_an_explicit_terminal_override_is_honored_and_warned_about() -> None:
    from appliance.scheduler.strategy import strategy_warnings

    s = parse_strategy(
        {
            "name": "stubborn",
            "on": {"Connected": "retry 1d", "Fax": "retry 2h", "default": "retry 2h"},
            "steps_on": {"1": {"WrongNumber": "next_number"}},
        },
        "strategy 'stubborn'",
    )
    d = _next(s, Outcome.CONNECTED)
    assert (d.state, d.next_at) == (ContactState.NOT_CONNECTED, NOW + 86400)
    assert _next(s, Outcome.FAX).block_number is False
    assert _next(s, Outcome.WRONG_NUMBER).block_number is False  # steps_on names it for step 1
    assert _next(s, Outcome.WRONG_NUMBER, ctx(step=1)).block_number is True
    warnings = strategy_warnings(s)
    assert len(warnings) == 3, warnings
    assert any("on.Connected" in w and "redial" in w for w in warnings), warnings
    assert any("on.Fax" in w and "block list" in w for w in warnings), warnings
    assert any("steps_on.1.WrongNumber" in w for w in warnings), warnings
    assert strategy_warnings(parse_strategy(PATIENT)) == []
    assert strategy_warnings(DEFAULT_STRATEGY) == []
    # the stored form keeps what was named and the default, so a re-read is the same strategy
    assert parse_strategy(to_dict(s)) == s
    assert parse_strategy(to_dict(parse_strategy(PATIENT))) == parse_strategy(PATIENT)
    assert strategy_warnings(parse_strategy(to_dict(parse_strategy(PATIENT)))) == []


# -- the forms the docs show, and what is said about the ones they do not (#22) --------------


@pytest.mark.parametrize(
    ("mapping", "text"),
    [
        ({"action": "sms", "after": "5m"}, "sms 5m"),
        ({"action": "retry", "after": 7200}, "retry 2h"),
        ({"action": "Next-Number", "after": "90s"}, "next_number 90s"),
        ({"action": "close", "state": "Not Connected"}, "close Not Connected"),
        ({"action": "block"}, "block"),
    ],
)
def test_an_action_as_a_mapping_is_the_same_action_as_text(
    mapping: dict[str, object], text: str
) -> None:
    attempts = [{"channel": "voice"}, {"channel": "sms", "phone": "same"}]
    as_mapping = parse_strategy({"name": "m", "attempts": attempts, "on": {"Busy": mapping}})
    as_text = parse_strategy({"name": "m", "attempts": attempts, "on": {"Busy": text}})
    assert as_mapping.on[Outcome.BUSY] == as_text.on[Outcome.BUSY]
    assert as_mapping.on[Outcome.BUSY].text() == text.replace("Next-Number", "next_number")


@pytest.mark.parametrize(
    ("delay", "seconds"),
    [("5m", 300), ("2h", 7200), ("1d", 86400), ("90s", 90), ("1h30m", 5400), ("2 H", 7200),
     (600, 600), ("600", 600), ("0", 0)],
)  # fmt: skip
def test_delays_in_every_documented_unit(delay: object, seconds: float) -> None:
    assert parse_delay(delay, "d") == seconds


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"after": "5m"}, "on.Busy: the mapping has no 'action' (one of retry, next_number"),
        ({"action": "retry", "delay": "5m"}, "on.Busy: unknown key(s) delay; an action mapping takes action, after"),
        ({"action": "retry", "after": "soon"}, "on.Busy.after: 'soon' is not a delay like 90s"),
        ({"action": "retry", "after": "1w"}, "on.Busy.after: '1w' is not a delay"),
        ({"action": "retry", "after": "-5m"}, "on.Busy.after: '-5m' is not a delay"),
        ({"action": "retry", "after": True}, "on.Busy.after: True is not a delay"),
        ({"action": "retry", "after": "400d"}, "must be between 0 and 366 days"),
        ({"action": "retry", "state": "Connected"}, "on.Busy: only 'close' takes a state"),
        ({"action": "close", "after": "5m"}, "on.Busy: 'close' takes no delay"),
        ({"action": "close", "state": "Pending"}, "on.Busy.state: a contact cannot be closed as 'Pending'"),
        ({"action": "redial"}, "on.Busy: 'redial' is not an action; expected one of retry"),
        (["retry", "2h"], "on.Busy: expected an action such as 'retry 2h' or {action: sms, after: 5m}, got"),
        (None, "on.Busy: expected an action such as"),
    ],
)  # fmt: skip
def test_a_bad_action_form_says_which_key_and_what_was_expected(
    action: object, message: str
) -> None:
    with pytest.raises(StrategyError) as info:
        parse_strategy({"name": "x", "on": {"Busy": action}}, "x")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "on": "retry 2h"}, "x.on: expected a mapping of outcome to action, e.g. {Busy: retry 2h}"),
        ({"name": "x", "attempts": {"channel": "voice"}}, "x.attempts: expected a non-empty list of attempts such as [{channel: voice, phone: 1}]"),
        ({"name": "x", "attempts": [{"chanel": "sms"}]}, "x.attempts[0]: unknown key(s) chanel; an attempt takes channel, phone"),
        ({"name": "x", "colour": 1}, "a strategy takes name, attempts, on, steps_on and repeat_last"),
        ({"name": "x", "steps_on": {"2": {"Busy": "block"}}}, "x.steps_on.2: not an attempt number 1..1"),
    ],
)  # fmt: skip
def test_a_bad_strategy_form_says_what_was_expected(data: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyError) as info:
        parse_strategy(data, "x")
    assert message in str(info.value)
