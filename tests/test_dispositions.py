"""The disposition model (appliance/dispositions.py) and what each action decides for a contact
(appliance/agent_disposition.py, through the strategy's `next_action`)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from appliance.agent_disposition import DispositionRefused, check, decider
from appliance.dispositions import DEFAULT_DISPOSITIONS, DispositionSpec, parse_action
from appliance.domain import Channel, ContactState, Summary
from appliance.scheduler.strategy import DEFAULT_STRATEGY, parse_strategy
from appliance.store.agents import DisposedContact

NOW = 1_800_000_000.0


def contact(phones: int = 1, attempts: int = 1, step: int = 0) -> DisposedContact:
    return DisposedContact(
        contact_id=1, number="+48601234567", phone_index=1, channel=Channel.VOICE,
        state=ContactState.CONNECTED, step=step, attempts=attempts,
        phones=tuple(i < phones for i in range(5)),
        phone_attempts=(attempts, 0, 0, 0, 0),
    )  # fmt: skip


def spec(action: str, code: str = "x", **more: str) -> DispositionSpec:
    return DispositionSpec(code=code, label="X", action=action, **more)  # type: ignore[arg-type]


def test_the_default_set_is_the_polish_seeds() -> None:
    assert [(d.code, d.label, d.action, d.needs_date) for d in DEFAULT_DISPOSITIONS] == [
        ("end", "End of handling", "close Connected", False),
        ("new_contact", "New contact (pick a date)", "callback", True),
        ("no_answer", "No answer", "retry 2h", False),
        ("wrong_number", "Wrong number", "block", False),
        ("voicemail", "Voicemail", "retry 2h", False),
        ("busy", "Busy", "retry 2h", False),
        ("fax", "Fax", "block", False),
    ]


@pytest.mark.parametrize(
    ("given", "text"),
    [("close", "close Connected"), ("close dnc listed", "close DNC Listed"),
     ("Retry 1h30m", "retry 90m"), ("retry 7200", "retry 2h"), ("sms", "sms"),
     ("sms 5m", "sms 5m"), ("block", "block"), ("dnc", "dnc"), ("callback", "callback")],
)  # fmt: skip
def test_actions_read_back_as_written(given: str, text: str) -> None:
    assert parse_action(given).text() == text
    assert parse_action(text).text() == text


@pytest.mark.parametrize(
    ("given", "words"),
    [("", "expected an action"), ("retry", "needs a delay"), ("retry soon", "not a delay"),
     ("close Pending", "closes as one of"), ("close Sent to Dialer", "closes as one of"),
     ("block 2h", "takes nothing after it"), ("callback later", "self, group or anyone"),
     ("jump", "not an action")],
)  # fmt: skip
def test_bad_actions_say_what_is_expected(given: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_action(given)


def test_callback_for_belongs_to_callbacks() -> None:
    assert spec("callback anyone").callback_for == "anyone"
    assert spec("callback", callback_for="group").desk()["callback_for"] == "group"
    assert spec("callback").desk()["callback_for"] == "self"
    with pytest.raises(ValidationError, match="callback_for belongs to a callback"):
        spec("retry 2h", callback_for="self")
    with pytest.raises(ValidationError, match="give one of them"):
        spec("callback group", callback_for="self")


def test_what_each_action_decides() -> None:
    def decide(action: str, who: DisposedContact, **more: float) -> tuple[object, ...]:
        change = decider(spec(action), DEFAULT_STRATEGY, now=NOW, max_attempts=10,
                         max_attempts_per_number=5, **more)(who)  # type: ignore[arg-type]  # fmt: skip
        return (change.state, change.summary, change.next_at, change.next_phone,
                change.block_number, change.dnc_list)  # fmt: skip

    one, two = contact(), contact(phones=2)
    assert decide("close", one) == (ContactState.CONNECTED, Summary.SUCCESSFUL, None, None,
                                    False, False)  # fmt: skip
    assert decide("retry 2h", one) == (ContactState.NOT_CONNECTED, Summary.NO_SUCCESS,
                                       NOW + 7200, 1, False, False)  # fmt: skip
    assert decide("block", two) == (ContactState.NOT_CONNECTED, Summary.NO_SUCCESS, NOW, 2,
                                    True, False)  # fmt: skip
    assert decide("block", one) == (ContactState.RETRIES_COMPLETED, Summary.UNREACHABLE, None,
                                    None, True, False)  # fmt: skip
    assert decide("dnc", one) == (ContactState.DNC_LISTED, Summary.UNREACHABLE, None, None,
                                  False, True)  # fmt: skip
    # the campaign's limits hold: the last allowed attempt is not retried
    assert decide("retry 2h", contact(attempts=10))[0] is ContactState.RETRIES_COMPLETED


def test_sms_needs_an_sms_attempt_in_the_strategy() -> None:
    with pytest.raises(DispositionRefused, match="no SMS attempt"):
        check(spec("sms"), DEFAULT_STRATEGY, "sales")
    strategy = parse_strategy({"name": "s", "attempts": [{"channel": "voice"},
                                                         {"channel": "sms", "phone": "same"}]})  # fmt: skip
    check(spec("sms"), strategy, "sales")
    change = decider(spec("sms 10m"), strategy, now=NOW, max_attempts=10,
                     max_attempts_per_number=5)(contact())  # fmt: skip
    assert (change.state, change.next_at, change.step) == (
        ContactState.NOT_CONNECTED,
        NOW + 600,
        1,
    )
