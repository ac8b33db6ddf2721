"""Call strategies (SPEC C4): an ordered plan of attempts and per-outcome actions, and what follows an outcome.

A strategy is data (YAML or JSON, stored per campaign):

    name: default
    attempts:                     # the ordered plan; the last one repeats (repeat_last)
      - {channel: voice, phone: 1}   # phone: 1..5, next, same
      - {channel: sms, phone: same, wait: 24h}   # SMS: wait for a reply, else close at once
      - {channel: email}             # e-mail to the campaign's `email_field` address (#26)
    on:                           # outcome -> action; `default` covers the rest, except
      NoAnswer: retry 2h          #   the terminal outcomes (TERMINAL), which keep the built-in
      WrongNumber: block          #   action unless named here
    steps_on: {}                  # optional per-step overrides: {1: {Busy: sms}}

Actions: ``retry [DELAY]`` (the next planned attempt), ``next_number [DELAY]``, ``sms [DELAY]``
(jump to the next SMS attempt), ``email [DELAY]`` (the next e-mail attempt), ``block [DELAY]`` (number on the permanent block list, then the
next number), ``close [STATE]``. Delays: ``90s``, ``30m``, ``2h``, ``1d``, ``1h30m`` or seconds.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from appliance.domain import Channel, ContactState, Outcome, Summary

PHONES = 5


class StrategyError(ValueError):
    """A strategy that does not parse; the message names the key path and what was expected."""


class Action(enum.StrEnum):
    RETRY = "retry"
    NEXT_NUMBER = "next_number"
    SMS = "sms"
    EMAIL = "email"
    BLOCK = "block"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class OutcomeAction:
    action: Action
    after: float = 0.0  # seconds before the next attempt is due
    state: ContactState | None = None  # CLOSE: the state to close with

    def text(self) -> str:
        if self.action is Action.CLOSE:
            return f"close {self.state}" if self.state else "close"
        return f"{self.action} {format_delay(self.after)}" if self.after else str(self.action)


@dataclass(frozen=True, slots=True)
class AttemptSpec:
    channel: Channel = Channel.VOICE
    phone: int | str = 1  # 1..5, "next" or "same"
    wait: float | None = None  # SMS: seconds to wait for a reply (state SMS sent)


@dataclass(frozen=True)
class Strategy:
    name: str
    attempts: tuple[AttemptSpec, ...]
    on: Mapping[Outcome, OutcomeAction]  # every outcome has an entry
    steps_on: Mapping[int, Mapping[Outcome, OutcomeAction]] = field(default_factory=dict)
    repeat_last: bool = True
    named: frozenset[Outcome] = frozenset()  # the outcomes `on` names (the rest: default/built in)
    default: OutcomeAction | None = None  # `on.default` as given

    def spec(self, step: int) -> AttemptSpec | None:
        if step < len(self.attempts):
            return self.attempts[step]
        return self.attempts[-1] if self.repeat_last else None

    def action_for(self, step: int, outcome: Outcome) -> OutcomeAction:
        override = self.steps_on.get(step, {}).get(outcome)
        return override if override is not None else self.on[outcome]

    def first_phone(self) -> int:
        """The phone a never-dialed contact starts with ('next' and 'same' start at phone 1)."""
        phone = self.attempts[0].phone
        return phone if isinstance(phone, int) else 1


# -- parsing -------------------------------------------------------------------------------

_EXAMPLES = "'retry 2h' or {action: sms, after: 5m}"
_DELAY_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_delay(value: object, where: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``2h``, ``1d`` or ``1h30m``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif re.fullmatch(rf"(?:{_DELAY_PART.pattern})+", text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _DELAY_PART.findall(text))
        else:
            raise StrategyError(f"{where}: {value!r} is not a delay like 90s, 30m, 2h, 1d")
    else:
        raise StrategyError(f"{where}: {value!r} is not a delay like 90s, 30m, 2h, 1d")
    if seconds < 0 or seconds > 366 * 86400:
        raise StrategyError(f"{where}: delay {value!r} must be between 0 and 366 days")
    return seconds


def format_delay(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def parse_action(value: object, where: str) -> OutcomeAction:
    """``retry 2h`` / ``close Connected`` / ``{action: retry, after: 2h}``."""
    if isinstance(value, str):
        word, _, rest = value.strip().partition(" ")
        data: dict[str, Any] = {"action": word}
        if rest.strip():
            data["state" if word.strip().lower() == "close" else "after"] = rest.strip()
    elif isinstance(value, Mapping):
        data = dict(value)
    else:
        raise StrategyError(f"{where}: expected an action such as {_EXAMPLES}, got {value!r}")
    unknown = sorted(map(str, set(data) - {"action", "after", "state"}))
    if unknown:
        raise StrategyError(
            f"{where}: unknown key(s) {', '.join(unknown)}; an action mapping takes action,"
            " after (a delay) and state (close only), e.g. {action: sms, after: 5m}"
        )
    if "action" not in data:
        raise StrategyError(
            f"{where}: the mapping has no 'action' (one of {', '.join(Action)}),"
            " e.g. {action: sms, after: 5m}"
        )
    try:
        action = Action(str(data.get("action", "")).strip().lower().replace("-", "_"))
    except ValueError:
        raise StrategyError(
            f"{where}: {data.get('action')!r} is not an action; expected one of {', '.join(Action)}"
        ) from None
    after = parse_delay(data["after"], f"{where}.after") if "after" in data else 0.0
    state = None
    if "state" in data:
        if action is not Action.CLOSE:
            raise StrategyError(f"{where}: only 'close' takes a state")
        try:
            state = ContactState.parse(str(data["state"]))
        except ValueError as exc:
            raise StrategyError(f"{where}.state: {exc}") from None
        if state in (ContactState.PENDING, ContactState.SENT_TO_DIALER):
            raise StrategyError(f"{where}.state: a contact cannot be closed as {str(state)!r}")
    if action is Action.CLOSE and after:
        raise StrategyError(f"{where}: 'close' takes no delay")
    return OutcomeAction(action, after, state)


def _parse_outcome_map(value: object, where: str) -> dict[Outcome | None, OutcomeAction]:
    if not isinstance(value, Mapping):
        raise StrategyError(
            f"{where}: expected a mapping of outcome to action, e.g. {{Busy: retry 2h}},"
            f" got {value!r}"
        )
    out: dict[Outcome | None, OutcomeAction] = {}
    for key, raw in value.items():
        here = f"{where}.{key}"
        if str(key).strip().lower() == "default":
            out[None] = parse_action(raw, here)
            continue
        try:
            outcome = Outcome.from_label(str(key))
        except ValueError as exc:
            raise StrategyError(f"{here}: {exc}") from None
        if outcome in out:
            raise StrategyError(f"{here}: outcome {outcome.label} is given twice")
        out[outcome] = parse_action(raw, here)
    return out


def _parse_attempt(value: object, where: str) -> AttemptSpec:
    if not isinstance(value, Mapping):
        raise StrategyError(f"{where}: expected {{channel: voice, phone: 1}}, got {value!r}")
    unknown = sorted(set(map(str, value)) - {"channel", "phone", "wait"})
    if unknown:
        raise StrategyError(
            f"{where}: unknown key(s) {', '.join(unknown)}; an attempt takes channel, phone"
            " and wait (SMS only)"
        )
    try:
        channel = Channel(str(value.get("channel", "voice")).strip().lower())
    except ValueError:
        raise StrategyError(
            f"{where}.channel: {value.get('channel')!r} is not voice, sms or email"
        ) from None
    # An e-mail attempt goes to an address, not a number: it keeps the contact's number (the
    # attempt's record and its per-number count) unless it names one.
    raw_phone = value.get("phone", "same" if channel is Channel.EMAIL else 1)
    phone: int | str
    if isinstance(raw_phone, str) and raw_phone.strip().lower() in ("next", "same"):
        phone = raw_phone.strip().lower()
    else:
        try:
            phone = int(str(raw_phone))
        except ValueError:
            phone = 0
        if not 1 <= phone <= PHONES:
            raise StrategyError(f"{where}.phone: {raw_phone!r} is not 1..5, 'next' or 'same'")
    wait = None
    if "wait" in value and value["wait"] is not None:
        if channel is not Channel.SMS:
            raise StrategyError(f"{where}.wait: only an SMS attempt waits for a reply")
        wait = parse_delay(value["wait"], f"{where}.wait")
    return AttemptSpec(channel, phone, wait)


def parse_strategy(data: object, source: str = "strategy") -> Strategy:
    """A Strategy from parsed YAML/JSON; a StrategyError names the key path inside `source`."""
    if not isinstance(data, Mapping):
        raise StrategyError(f"{source}: expected a mapping with 'attempts' and 'on'")
    # YAML 1.1 (PyYAML) reads a bare `on:` key as the boolean true.
    data = {("on" if key is True else key): value for key, value in data.items()}
    unknown = sorted(set(map(str, data)) - {"name", "attempts", "on", "steps_on", "repeat_last"})
    if unknown:
        raise StrategyError(
            f"{source}: unknown key(s) {', '.join(unknown)}; a strategy takes name, attempts,"
            " on, steps_on and repeat_last"
        )
    name = str(data.get("name") or "").strip()
    if not name:
        raise StrategyError(f"{source}.name: a strategy needs a name")
    raw_attempts = data.get("attempts", [{"channel": "voice", "phone": 1}])
    if not isinstance(raw_attempts, list) or not raw_attempts:
        raise StrategyError(
            f"{source}.attempts: expected a non-empty list of attempts such as"
            f" [{{channel: voice, phone: 1}}], got {raw_attempts!r}"
        )
    attempts = tuple(
        _parse_attempt(a, f"{source}.attempts[{i}]") for i, a in enumerate(raw_attempts)
    )
    given = _parse_outcome_map(data.get("on") or {}, f"{source}.on")
    fallback = given.pop(None, None)
    on = {o: _resolve(o, given, fallback) for o in Outcome}
    steps_on: dict[int, Mapping[Outcome, OutcomeAction]] = {}
    raw_steps = data.get("steps_on") or {}
    if not isinstance(raw_steps, Mapping):
        raise StrategyError(f"{source}.steps_on: expected a mapping of attempt number to actions")
    for key, value in raw_steps.items():
        try:
            number = int(str(key))
        except ValueError:
            number = 0
        if not 1 <= number <= len(attempts):
            raise StrategyError(
                f"{source}.steps_on.{key}: not an attempt number 1..{len(attempts)}"
            )
        overrides = _parse_outcome_map(value, f"{source}.steps_on.{key}")
        if None in overrides:
            raise StrategyError(f"{source}.steps_on.{key}: 'default' is only allowed under 'on'")
        steps_on[number - 1] = {o: a for o, a in overrides.items() if o is not None}
    repeat_last = data.get("repeat_last", True)
    if not isinstance(repeat_last, bool):
        raise StrategyError(f"{source}.repeat_last: expected true or false")
    named = frozenset(o for o in given if o is not None)
    strategy = Strategy(name, attempts, on, steps_on, repeat_last, named, fallback)
    _check_sms_targets(strategy, source)
    _check_email_targets(strategy, source)
    return strategy


def _resolve(
    outcome: Outcome,
    given: Mapping[Outcome | None, OutcomeAction],
    fallback: OutcomeAction | None,
) -> OutcomeAction:
    """An outcome's action: as named; else the strategy's `default`, unless the outcome is
    terminal (TERMINAL: a person was reached, or the number must never be dialed again), which
    keeps the built-in action — a catch-all must not redial Connected contacts or take wrong
    numbers and faxes off the permanent block list (SPEC C4, D7)."""
    named = given.get(outcome)
    if named is not None:
        return named
    if fallback is not None and outcome not in TERMINAL:
        return fallback
    return DEFAULT_ON[outcome]


def strategy_warnings(strategy: Strategy, source: str = "") -> list[str]:
    """Plain words for each terminal outcome the strategy names with another action than the
    built-in one: honored, but the person who wrote it should know what it does."""
    prefix = f"{source}." if source else ""
    found: list[tuple[str, Outcome, OutcomeAction]] = [
        (f"{prefix}on.{o.label}", o, strategy.on[o])
        for o in Outcome
        if o in strategy.named and o in TERMINAL
    ]
    for step, actions in sorted(strategy.steps_on.items()):
        found += [
            (f"{prefix}steps_on.{step + 1}.{o.label}", o, act)
            for o, act in actions.items()
            if o in TERMINAL
        ]
    warnings = []
    for where, outcome, act in found:
        builtin = DEFAULT_ON[outcome]
        if act == builtin:
            continue
        warnings.append(
            f"{where}: {act.text()} replaces the built-in {builtin.text()}: {TERMINAL[outcome]}"
        )
    return warnings


def _check_sms_targets(strategy: Strategy, source: str) -> None:
    """An `sms` action needs an SMS attempt in the plan to switch to (after the last one, the
    contact closes as Retries Completed)."""
    if any(spec.channel is Channel.SMS for spec in strategy.attempts):
        return
    for step in range(len(strategy.attempts)):
        for outcome in Outcome:
            if strategy.action_for(step, outcome).action is Action.SMS:
                raise StrategyError(
                    f"{source}: outcome {outcome.label} switches to SMS, but 'attempts' has no"
                    " SMS attempt; add one such as {channel: sms, phone: same}"
                )


def _check_email_targets(strategy: Strategy, source: str) -> None:
    """An `email` action needs an e-mail attempt in the plan to switch to."""
    if any(spec.channel is Channel.EMAIL for spec in strategy.attempts):
        return
    for step in range(len(strategy.attempts)):
        for outcome in Outcome:
            if strategy.action_for(step, outcome).action is Action.EMAIL:
                raise StrategyError(
                    f"{source}: outcome {outcome.label} switches to e-mail, but 'attempts' has"
                    " no e-mail attempt; add one such as {channel: email}"
                )


def to_dict(strategy: Strategy) -> dict[str, Any]:
    """The strategy as plain data (what the store keeps and `parse_strategy` reads back)."""
    attempts: list[dict[str, Any]] = []
    for spec in strategy.attempts:
        item: dict[str, Any] = {"channel": str(spec.channel), "phone": spec.phone}
        if spec.wait is not None:
            item["wait"] = format_delay(spec.wait)
        attempts.append(item)
    return {
        "name": strategy.name,
        "attempts": attempts,
        "repeat_last": strategy.repeat_last,
        # What the strategy names and its default, as written: outcomes it leaves open follow
        # the rules of `parse_strategy` again when it is read back.
        "on": {
            **{o.label: strategy.on[o].text() for o in Outcome if o in strategy.named},
            **({"default": strategy.default.text()} if strategy.default is not None else {}),
        },
        "steps_on": {
            str(step + 1): {o.label: a.text() for o, a in actions.items()}
            for step, actions in strategy.steps_on.items()
        },
    }


_RETRY_2H = OutcomeAction(Action.RETRY, 7200.0)
_RETRY_SOON = OutcomeAction(Action.RETRY, 600.0)
_CONNECTED = OutcomeAction(Action.CLOSE, 0.0, ContactState.CONNECTED)
_RETRY_NOW = OutcomeAction(Action.RETRY, 0.0)
# E-mail outcomes of a message that did not go out (or came back).
EMAIL_NOT_SENT = frozenset({Outcome.EMAIL_FAILED, Outcome.EMAIL_BOUNCED, Outcome.EMAIL_SKIPPED})

# The Polish seed's dispositions (SPEC C4): no answer, busy, voicemail -> again in 2 h; wrong
# number, fax -> number blocked for good; end of handling -> close. The rest follow the same
# spirit: a person was reached -> Connected; the box's own trouble (no line, error) -> soon.
DEFAULT_ON: dict[Outcome | None, OutcomeAction] = {
    Outcome.CONNECTED: _CONNECTED,
    Outcome.AGENT_TRANSFER: _CONNECTED,
    Outcome.AGENT_HANG_UP: _CONNECTED,
    Outcome.ALERTING_TIMEOUT: _RETRY_2H,
    Outcome.BUSY: _RETRY_2H,
    Outcome.ANSWERING_MACHINE: _RETRY_2H,
    Outcome.KNOCKING: _RETRY_2H,
    Outcome.UNREACHABLE: _RETRY_2H,
    Outcome.REJECTED: _RETRY_2H,
    Outcome.ABANDONED: _RETRY_2H,
    Outcome.NO_AGENT: _RETRY_2H,
    Outcome.TRANSFER_TIMEOUT: _RETRY_2H,
    Outcome.NO_LINE: _RETRY_SOON,
    Outcome.ERROR_OCCURRED: _RETRY_SOON,
    Outcome.WRONG_NUMBER: OutcomeAction(Action.BLOCK),
    Outcome.FAX: OutcomeAction(Action.BLOCK),
    Outcome.INCOMPATIBLE: OutcomeAction(Action.NEXT_NUMBER),
    Outcome.BANNED: OutcomeAction(Action.CLOSE, 0.0, ContactState.DNC_LISTED),
    # The e-mail channel (#26): a message sent closes the contact as E-mail sent (like an SMS
    # without a wait); refused, bounced or no address -> the plan's next attempt at once.
    Outcome.EMAIL_SENT: OutcomeAction(Action.CLOSE, 0.0, ContactState.EMAIL_SENT),
    Outcome.EMAIL_FAILED: _RETRY_NOW,
    Outcome.EMAIL_BOUNCED: _RETRY_NOW,
    Outcome.EMAIL_SKIPPED: _RETRY_NOW,
    None: _RETRY_2H,
}

# Outcomes a strategy's `default` does not cover, and what their built-in action protects: only
# a strategy that names one of them changes its action (and is warned about it).
_REACHED = "the contact was reached; any other action redials or reopens it"
TERMINAL: dict[Outcome, str] = {
    Outcome.CONNECTED: _REACHED,
    Outcome.AGENT_TRANSFER: _REACHED,
    Outcome.AGENT_HANG_UP: _REACHED,
    Outcome.WRONG_NUMBER: "the number no longer goes on the permanent block list (SPEC D7)",
    Outcome.FAX: "the number no longer goes on the permanent block list (SPEC D7)",
    Outcome.BANNED: "the contact is no longer closed as DNC Listed",
    Outcome.EMAIL_SENT: "the message went out; any other action sends again or reopens it",
}

DEFAULT_STRATEGY = Strategy(
    name="default",
    attempts=(AttemptSpec(Channel.VOICE, 1),),
    on={o: DEFAULT_ON[o] for o in Outcome},
    named=frozenset(Outcome),
)


# -- deciding ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptContext:
    """The contact as the attempt that just ended left it (counts include that attempt)."""

    step: int  # index of the plan's attempt just made
    phone_index: int  # 1..5, the phone just dialed
    channel: Channel
    phones: tuple[bool, ...]  # which of phones 1..5 the contact has
    attempts: int  # attempts made so far, this one included
    phone_attempts: tuple[int, ...] = (0, 0, 0, 0, 0)  # per phone 1..5, this one included


@dataclass(frozen=True, slots=True)
class Decision:
    """What follows an outcome: the engine writes it in the attempt's closing transaction."""

    state: ContactState
    summary: Summary
    next_at: float | None  # None: nothing more is due
    next_phone: int | None
    step: int
    channel: Channel | None  # the next attempt's channel; None when closed
    block_number: bool
    why: str


def _summary(state: ContactState, unreachable: bool) -> Summary:
    if state in (
        ContactState.CONNECTED,
        ContactState.SMS_SENT_AND_CLOSED,
        ContactState.SMS_RESPONDED,
        ContactState.EMAIL_SENT,
    ):
        return Summary.SUCCESSFUL
    if state is ContactState.DNC_LISTED or unreachable:
        return Summary.UNREACHABLE
    return Summary.NO_SUCCESS


def _next_sms(strategy: Strategy, step: int) -> int | None:
    for index in range(step + 1, len(strategy.attempts)):
        if strategy.attempts[index].channel is Channel.SMS:
            return index
    last = strategy.attempts[-1]
    if strategy.repeat_last and last.channel is Channel.SMS and step >= len(strategy.attempts) - 1:
        return step + 1
    return None


def _next_email(strategy: Strategy, step: int) -> int | None:
    for index in range(step + 1, len(strategy.attempts)):
        if strategy.attempts[index].channel is Channel.EMAIL:
            return index
    last = strategy.attempts[-1]
    if (
        strategy.repeat_last
        and last.channel is Channel.EMAIL
        and step >= len(strategy.attempts) - 1
    ):
        return step + 1
    return None


def _past_email(strategy: Strategy, step: int) -> int | None:
    """The first step from `step` on whose attempt is not an e-mail (None: only e-mails, or
    nothing, follow)."""
    for index in range(step, len(strategy.attempts)):
        if strategy.attempts[index].channel is not Channel.EMAIL:
            return index
    if strategy.repeat_last and strategy.attempts[-1].channel is not Channel.EMAIL:
        return step  # beyond the plan: its last attempt, repeated, is not an e-mail
    return None if step < len(strategy.attempts) or strategy.repeat_last else step


def _pick_phone(
    wanted: int | str, ctx: AttemptContext, per_number: int, blocked: int | None
) -> int | None:
    """The phone for the next attempt: the wanted one if it exists, is not the number just
    blocked and has budget left under the per-number limit, else the next such one (wrapping)."""
    if wanted == "same":
        start = ctx.phone_index
    elif wanted == "next":
        start = ctx.phone_index % PHONES + 1
    else:
        start = int(wanted)
    for offset in range(PHONES):
        phone = (start - 1 + offset) % PHONES + 1
        if (
            ctx.phones[phone - 1]
            and phone != blocked
            and ctx.phone_attempts[phone - 1] < per_number
        ):
            return phone
    return None


def next_action(
    strategy: Strategy,
    ctx: AttemptContext,
    outcome: Outcome,
    now: float,
    *,
    max_attempts: int,
    max_attempts_per_number: int,
    sms_only: bool = False,
) -> Decision:
    """What the strategy says follows `outcome` of the attempt described by `ctx` (SPEC C4).

    `sms_only` (an SMS campaign) treats every planned attempt as SMS: such a campaign never
    switches a contact to voice (SPEC C1)."""
    act = strategy.action_for(ctx.step, outcome)
    block = act.action is Action.BLOCK
    blocked = ctx.phone_index if block else None

    def close(state: ContactState, why: str, unreachable: bool = False) -> Decision:
        # Not Connected promises a redial; a contact closed without one would be neither due
        # nor final (SPEC C8, C11), so it closes as Retries Completed (`dialbox doctor`).
        if state is ContactState.NOT_CONNECTED:
            state = ContactState.RETRIES_COMPLETED
        return Decision(state, _summary(state, unreachable), None, None, ctx.step, None, block, why)

    if ctx.channel is Channel.SMS and outcome is Outcome.CONNECTED:
        spec = strategy.spec(ctx.step)
        wait = spec.wait if spec is not None else None
        if wait is None:
            return close(ContactState.SMS_SENT_AND_CLOSED, "SMS sent; no reply awaited")
        follow = strategy.spec(ctx.step + 1) if ctx.step + 1 < len(strategy.attempts) else None
        if follow is None or ctx.attempts >= max_attempts:
            return Decision(
                ContactState.SMS_SENT, Summary.NO_SUCCESS, None, None, ctx.step, None, False,
                "SMS sent; waiting for a reply, no attempt follows",
            )  # fmt: skip
        phone = _pick_phone(follow.phone, ctx, max_attempts_per_number, None)
        if phone is None:
            return close(ContactState.SMS_SENT_AND_CLOSED, "SMS sent; no number left to try")
        channel = Channel.SMS if sms_only else follow.channel
        return Decision(
            ContactState.SMS_SENT, Summary.NO_SUCCESS, now + wait, phone, ctx.step + 1, channel,
            False, f"SMS sent; next attempt after {format_delay(wait)} without a reply",
        )  # fmt: skip

    if act.action is Action.CLOSE:
        state = act.state or (
            ContactState.CONNECTED if outcome is Outcome.CONNECTED else ContactState.NOT_CONNECTED
        )
        return close(state, f"{outcome.label}: {act.text()}")
    if ctx.attempts >= max_attempts:
        return close(
            ContactState.RETRIES_COMPLETED, f"{outcome.label}: {max_attempts} attempts made"
        )

    step = ctx.step + 1
    if act.action is Action.SMS:
        target = _next_sms(strategy, ctx.step)
        if target is None:
            return close(ContactState.RETRIES_COMPLETED, f"{outcome.label}: no SMS attempt follows")
        step = target
    if act.action is Action.EMAIL:
        target = _next_email(strategy, ctx.step)
        if target is None:
            return close(
                ContactState.RETRIES_COMPLETED, f"{outcome.label}: no e-mail attempt follows"
            )
        step = target
    if outcome in EMAIL_NOT_SENT and act == DEFAULT_ON[outcome] and not sms_only:
        # The built-in action after an e-mail that did not go out: the same address would
        # fail the same way, so the plan goes on with its next attempt that is not an e-mail.
        onward = _past_email(strategy, step)
        if onward is None:
            return close(
                ContactState.RETRIES_COMPLETED, f"{outcome.label}: no attempt but e-mail follows"
            )
        step = onward
    spec = strategy.spec(step)
    if spec is None:
        return close(ContactState.RETRIES_COMPLETED, f"{outcome.label}: every planned attempt made")
    wanted: int | str = spec.phone
    if act.action in (Action.NEXT_NUMBER, Action.BLOCK):
        wanted = "next"
    phone = _pick_phone(wanted, ctx, max_attempts_per_number, blocked)
    if phone is None:
        if block:
            return close(
                ContactState.NOT_CONNECTED, f"{outcome.label}: number blocked, no other", True
            )
        return close(ContactState.RETRIES_COMPLETED, f"{outcome.label}: no number left to try")
    channel = Channel.SMS if sms_only or act.action is Action.SMS else spec.channel
    if act.action is Action.EMAIL and not sms_only:
        channel = Channel.EMAIL
    why = f"{outcome.label}: {act.text()}" + (
        f" (phone {phone})" if phone != ctx.phone_index else ""
    )
    return Decision(
        ContactState.NOT_CONNECTED, Summary.NO_SUCCESS, now + act.after, phone, step, channel,
        block, why,
    )  # fmt: skip
