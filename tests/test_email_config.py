"""The e-mail channel's config, strategy words, templates and tokens (#26), without a relay."""

from __future__ import annotations

import pytest

from appliance.campaigns import CampaignSettings, apply_settings, check_email_template
from appliance.config.loader import ConfigError, parse_config
from appliance.domain import Channel, ContactState, Outcome
from appliance.errors import DialboxError
from appliance.mailing import make_token, read_token, render, valid_address
from appliance.scheduler.strategy import (
    AttemptContext,
    StrategyError,
    next_action,
    parse_strategy,
    to_dict,
)

CONFIG = """\
database: /tmp/x.db
email:
  relay: {host: smtp.example, security: starttls, user: box, password_env: SMTP_PASSWORD}
  from: "Shop <shop@example.com>"
  public_url: https://box.example.com
  templates:
    hello:
      subject: Hello $bp1
      text: |
        Dear $bp1,
        your code is ${bp13}.
"""


def test_a_template_naming_a_missing_field_is_a_config_error_with_file_and_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG, "dialbox.yaml")
    (problem,) = caught.value.problems
    text = str(problem)
    assert "dialbox.yaml" in text and "$bp13" in text and "$bp12" in text
    assert problem.line is not None and 7 <= problem.line <= 11


def test_a_lone_dollar_and_a_header_in_from_are_refused_and_a_good_config_loads() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.replace("${bp13}", "$ 5"), "dialbox.yaml")
    assert "write $$ for a dollar sign" in str(caught.value.problems[0])
    config = parse_config(CONFIG.replace("${bp13}", "${bp12} ($$5)"), "dialbox.yaml")
    assert config.email is not None and config.email.relay.port is None
    subject, text, html = render(config.email.templates["hello"], {"bp1": "Ann", "bp12": "Z9"})
    assert (subject, html) == ("Hello Ann", None) and "code is Z9 ($5)" in text
    check_email_template("hello", config)
    with pytest.raises(DialboxError, match=r"no e-mail template named 'nope'.*hello"):
        check_email_template("nope", config)
    bad_from = CONFIG.replace("${bp13}", "x").replace('"Shop <shop@example.com>"', "nobody")
    with pytest.raises(ConfigError, match="not an address"):
        parse_config(bad_from, "dialbox.yaml")


def test_the_campaign_names_a_business_parameter_for_the_address() -> None:
    settings = apply_settings(CampaignSettings(), {"email_field": "bp3", "email_template": "t"})
    assert settings.email_field == "bp3"
    with pytest.raises(DialboxError, match="email_field"):
        apply_settings(CampaignSettings(), {"email_field": "phone1"})


def test_addresses_are_checked_before_anything_is_sent() -> None:
    assert valid_address(" Ann <ann@example.org> ") == "ann@example.org"
    assert valid_address("ann@example.org") == "ann@example.org"
    for bad in (None, "", "ann", "ann@", "@example.org", "ann@example", "a b@example.org",
                "ann@example.org\r\nBcc: x@y.org", "ann..k@example.org"):  # fmt: skip
        assert valid_address(bad) is None, bad


def test_a_token_says_whose_message_it_came_in_and_a_changed_one_says_nothing() -> None:
    secret = b"k" * 32
    token = make_token(secret, 3, 41, "Ann@Example.org")
    found = read_token(secret, token)
    assert found is not None and (found.campaign_id, found.contact_id) == (3, 41)
    assert found.address == "ann@example.org"
    assert read_token(b"other" * 8, token) is None
    parts = token.split(".")
    assert read_token(secret, ".".join([parts[0], "42", *parts[2:]])) is None
    assert read_token(secret, token[:-2]) is None
    assert read_token(secret, "a.b.c.d") is None


def _ctx(step: int, channel: Channel) -> AttemptContext:
    return AttemptContext(step, 1, channel, (True, False, False, False, False), step + 1)


def test_the_email_action_jumps_to_the_email_step_and_a_sent_email_closes() -> None:
    strategy = parse_strategy(
        {
            "name": "e",
            "attempts": [{"channel": "voice"}, {"channel": "voice"}, {"channel": "email"}],
            "on": {"Busy": "email 5m"},
        }
    )
    assert strategy.attempts[2].phone == "same"
    busy = next_action(strategy, _ctx(0, Channel.VOICE), Outcome.BUSY, 100.0,
                       max_attempts=10, max_attempts_per_number=10)  # fmt: skip
    assert (busy.step, busy.channel, busy.next_at) == (2, Channel.EMAIL, 400.0)
    sent = next_action(strategy, _ctx(2, Channel.EMAIL), Outcome.EMAIL_SENT, 500.0,
                       max_attempts=10, max_attempts_per_number=10)  # fmt: skip
    assert (sent.state, sent.next_at) == (ContactState.EMAIL_SENT, None)
    assert parse_strategy(to_dict(strategy)).attempts == strategy.attempts
    # A catch-all `default` does not resend a message that went out.
    caught = parse_strategy({"name": "d", "attempts": [{"channel": "email"}],
                             "on": {"default": "retry 1h"}})  # fmt: skip
    assert caught.on[Outcome.EMAIL_SENT].state is ContactState.EMAIL_SENT
    assert Outcome.from_label("EmailBounced") is Outcome.EMAIL_BOUNCED


def test_an_email_action_without_an_email_attempt_is_refused() -> None:
    with pytest.raises(StrategyError, match=r"switches to e-mail.*channel: email"):
        parse_strategy({"name": "x", "on": {"Busy": "email"}})
    with pytest.raises(StrategyError, match="not voice, sms or email"):
        parse_strategy({"name": "x", "attempts": [{"channel": "fax"}]})


def test_the_console_dashboard_counts_emails_apart_from_calls_and_sms() -> None:
    from tui.panes.dashboard import last_hour

    split = {"voice": {"Busy": 2}, "sms": {}, "email": {"EmailSent": 3, "EmailBounced": 1}}
    text = last_hour({"outcomes_last_hour_by_channel": split})
    assert text == "calls, last hour: Busy 2\ne-mail, last hour: sent 3  bounced 1"


def test_a_bounce_names_the_message_it_returns_and_not_itself() -> None:
    from appliance.mailing import bounce_facts

    returned = (
        b"From: MAILER-DAEMON@mx.example\r\nTo: bounces+7.abcdefabcdef@shop.example\r\n"
        b"Message-ID: <own@mx.example>\r\nSubject: failure notice\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        b"Final-Recipient: rfc822; a@b.example\r\nAction: failed\r\nStatus: 5.2.2\r\n\r\n"
        b"--B\r\nContent-Type: message/rfc822\r\n\r\n"
        b"From: shop@shop.example\r\nMessage-ID: <m1.dialbox@shop.example>\r\n\r\nhello\r\n"
        b"--B--\r\n"
    )
    facts = bounce_facts(returned)
    assert facts.message_ids == ("m1.dialbox@shop.example",)
    assert facts.recipients == ("bounces+7.abcdefabcdef@shop.example",)
    assert facts.reason == "Status: 5.2.2"
    plain = (
        b"Subject: Delivery failed\r\n\r\nYour mail\r\nMessage-ID: <q@x.example>\r\nbounced.\r\n"
    )
    assert bounce_facts(plain).message_ids == ("q@x.example",)
    assert bounce_facts(plain).reason == "Delivery failed"
    assert bounce_facts(b"\x00\xff garbage").message_ids == ()


def test_after_an_email_that_did_not_go_out_the_plan_goes_on_past_its_email_steps() -> None:
    plan = {"name": "p", "attempts": [{"channel": "email"}, {"channel": "email"},
                                      {"channel": "voice"}]}  # fmt: skip
    strategy = parse_strategy(plan)
    for outcome in (Outcome.EMAIL_SKIPPED, Outcome.EMAIL_FAILED, Outcome.EMAIL_BOUNCED):
        got = next_action(strategy, _ctx(0, Channel.EMAIL), outcome, 10.0,
                          max_attempts=10, max_attempts_per_number=10)  # fmt: skip
        assert (got.step, got.channel, got.next_at) == (2, Channel.VOICE, 10.0)
    # Only e-mails follow (the last one repeated): closed, not the same skip again and again.
    only = parse_strategy({"name": "o", "attempts": [{"channel": "email"}]})
    got = next_action(only, _ctx(0, Channel.EMAIL), Outcome.EMAIL_SKIPPED, 10.0,
                      max_attempts=10, max_attempts_per_number=10)  # fmt: skip
    assert (got.state, got.why) == (
        ContactState.RETRIES_COMPLETED,
        "EmailSkipped: no attempt but e-mail follows",
    )
    # A strategy that names the outcome is taken at its word: tomorrow, the same e-mail again.
    again = parse_strategy({"name": "a", "attempts": [{"channel": "email"}],
                            "on": {"EmailFailed": "retry 1d"}})  # fmt: skip
    got = next_action(again, _ctx(0, Channel.EMAIL), Outcome.EMAIL_FAILED, 10.0,
                      max_attempts=10, max_attempts_per_number=10)  # fmt: skip
    assert (got.channel, got.next_at) == (Channel.EMAIL, 10.0 + 86400)
