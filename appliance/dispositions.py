"""An agent campaign's dispositions (SPEC A1, C4, C10, #25): the words an agent ends a call with,
each mapped to what the strategy does with the contact.

A campaign's `dispositions` setting is a list of entries such as

    - {code: no_answer, label: "No answer", action: retry 2h}
    - {code: new_contact, label: "New contact (pick a date)", action: callback}
    - {code: wrong_number, label: "Wrong number", action: block}

Actions: ``close [STATE]`` (the contact is done; STATE one of the final states, Connected when
left out), ``retry DELAY`` (the next planned attempt after DELAY: 90s, 30m, 2h, 1d, 1h30m),
``callback`` (at a date the agent picks, for the agent, the agent's group or anyone:
``callback_for``, or ``callback group``), ``block`` (the number on the permanent block list,
then the contact's next number, else closed), ``dnc`` (the campaign's DNC list, closed DNC
Listed) and ``sms [DELAY]`` (the strategy's next SMS attempt). Delays and states are those of
the call strategies (appliance/scheduler/strategy.py). Without the setting a campaign has the
Polish seed's set, `DEFAULT_DISPOSITIONS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from appliance.domain import FINAL_STATES, ContactState
from appliance.scheduler.strategy import StrategyError, format_delay, parse_delay

CODE_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
CODE_RULE = "a code is 1-32 lower-case letters, digits or '_', starting with a letter"
MAX_DISPOSITIONS = 50
MAX_SCRIPT = 8000

Kind = Literal["close", "retry", "callback", "block", "dnc", "sms"]
CallbackFor = Literal["self", "group", "anyone"]
KINDS: tuple[str, ...] = ("close", "retry", "callback", "block", "dnc", "sms")
_FORMS = "close [STATE], retry DELAY, callback [self|group|anyone], block, dnc or sms [DELAY]"
_CLOSING = ", ".join(s.value for s in ContactState if s in FINAL_STATES)


@dataclass(frozen=True, slots=True)
class DispositionAction:
    """An action parsed: what it does, after how long (retry, sms) and with which state (close,
    dnc)."""

    kind: Kind
    after: float | None = None  # seconds: retry (always), sms (when given)
    state: ContactState | None = None  # close: the final state; dnc: DNC Listed
    callback_for: CallbackFor | None = None  # callback: given as `callback group`

    def text(self) -> str:
        if self.kind == "close":
            return f"close {self.state or ContactState.CONNECTED}"
        if self.kind == "callback" and self.callback_for is not None:
            return f"callback {self.callback_for}"
        if self.after is not None and self.kind in ("retry", "sms"):
            return f"{self.kind} {format_delay(self.after)}"
        return self.kind


def parse_action(text: object) -> DispositionAction:
    """``close Connected`` / ``retry 2h`` / ``callback group`` / ``block`` / ``dnc`` /
    ``sms 5m``; a ValueError says what was expected."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected an action: {_FORMS}; got {text!r}")
    word, _, rest = text.strip().partition(" ")
    kind, rest = word.lower(), rest.strip()
    if kind not in KINDS:
        raise ValueError(f"{word!r} is not an action; expected {_FORMS}")
    if kind == "close":
        if not rest:
            return DispositionAction("close", state=ContactState.CONNECTED)
        try:
            state = ContactState.parse(rest)
        except ValueError:
            state = None
        if state not in FINAL_STATES:
            raise ValueError(f"close {rest!r}: a contact closes as one of {_CLOSING}")
        return DispositionAction("close", state=state)
    if kind in ("retry", "sms"):
        if not rest:
            if kind == "retry":
                raise ValueError("retry needs a delay, e.g. 'retry 2h' (90s, 30m, 2h, 1d, 1h30m)")
            return DispositionAction("sms")
        try:
            after = parse_delay(rest, kind)
        except StrategyError as exc:
            raise ValueError(str(exc)) from None
        return DispositionAction(kind, after=after)  # type: ignore[arg-type]
    if kind == "callback":
        if not rest:
            return DispositionAction("callback")
        if rest.lower() not in ("self", "group", "anyone"):
            raise ValueError(f"callback {rest!r}: a callback is for self, group or anyone")
        return DispositionAction("callback", callback_for=rest.lower())  # type: ignore[arg-type]
    if rest:
        raise ValueError(f"{kind} takes nothing after it, got {text.strip()!r}")
    if kind == "dnc":
        return DispositionAction("dnc", state=ContactState.DNC_LISTED)
    return DispositionAction(kind)  # type: ignore[arg-type]


class DispositionSpec(BaseModel):
    """One disposition an agent may set: its code (what the API takes and the reports count),
    the label the desktop shows, and its action on the contact (docs/config.md, Dispositions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=CODE_PATTERN, description=CODE_RULE)
    label: str = Field(min_length=1, max_length=80)
    action: str = Field(
        max_length=64,
        description=f"one of {_FORMS}; delays like 90s, 30m, 2h, 1d; states: {_CLOSING}",
    )
    callback_for: CallbackFor | None = Field(
        default=None,
        description="callback only: whose callback it is unless the agent says otherwise"
        " (default self)",
    )

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: Any) -> Any:
        if isinstance(value, str) and re.fullmatch(CODE_PATTERN, value) is None:
            raise ValueError(f"code {value!r} is not allowed: {CODE_RULE}")
        return value

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not value.strip() or any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in value):
            raise ValueError("a label is printable text on one line")
        return value.strip()

    @field_validator("action")
    @classmethod
    def _action(cls, value: str) -> str:
        return parse_action(value).text()

    @model_validator(mode="before")
    @classmethod
    def _callback_for_in_action(cls, data: Any) -> Any:
        """`action: callback group` is `action: callback, callback_for: group`."""
        if not isinstance(data, dict) or not isinstance(data.get("action"), str):
            return data
        word, _, rest = data["action"].strip().partition(" ")
        who = rest.strip().lower()
        if word.lower() != "callback" or who not in ("self", "group", "anyone"):
            return data
        given = data.get("callback_for")
        if given is not None and given != who:
            raise ValueError(
                f"action says callback {who} but callback_for is {given!r}: give one of them"
            )
        return {**data, "action": "callback", "callback_for": who}

    @model_validator(mode="after")
    def _callback(self) -> DispositionSpec:
        if self.callback_for is not None and self.parsed.kind != "callback":
            raise ValueError(
                f"{self.code}: callback_for belongs to a callback; the action is {self.action!r}"
            )
        return self

    @property
    def parsed(self) -> DispositionAction:
        return parse_action(self.action)

    @property
    def needs_date(self) -> bool:
        return self.parsed.kind == "callback"

    def desk(self) -> dict[str, Any]:
        """The entry as the agent's desktop gets it (GET /campaigns/{name}/desk)."""
        act = self.parsed
        return {
            "code": self.code,
            "label": self.label,
            "action": self.action,
            "after": act.after,
            "state": None if act.state is None else str(act.state),
            "needs_date": act.kind == "callback",
            "callback_for": (self.callback_for or "self") if act.kind == "callback" else None,
        }


_EXAMPLE = "[{code: no_answer, label: No answer, action: retry 2h}, ...]"


def list_shape(value: Any) -> Any:
    """Before the entries are read: a list (of at least one entry), or null for the default."""
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise ValueError(
            f"expected a list of dispositions such as {_EXAMPLE}, or null for the default set;"
            f" got {type(value).__name__}"
        )
    if not value:
        raise ValueError(
            "an empty list leaves agents nothing to end a call with: give at least one"
            " disposition, or null for the default set"
        )
    return value


def check_list(value: tuple[DispositionSpec, ...] | None) -> tuple[DispositionSpec, ...] | None:
    """A campaign's list: each code once."""
    if value is None:
        return None
    codes = [d.code for d in value]
    twice = sorted({c for c in codes if codes.count(c) > 1})
    if twice:
        raise ValueError(f"code(s) {', '.join(twice)} given twice; each code once")
    return value


def _spec(code: str, label: str, action: str) -> DispositionSpec:
    return DispositionSpec(code=code, label=label, action=action)


# The Polish seed's dispositions (SPEC C4, the OUT MANUAL): what a campaign without its own
# `dispositions` offers its agents.
DEFAULT_DISPOSITIONS: tuple[DispositionSpec, ...] = (
    _spec("end", "End of handling", "close Connected"),
    _spec("new_contact", "New contact (pick a date)", "callback"),
    _spec("no_answer", "No answer", "retry 2h"),
    _spec("wrong_number", "Wrong number", "block"),
    _spec("voicemail", "Voicemail", "retry 2h"),
    _spec("busy", "Busy", "retry 2h"),
    _spec("fax", "Fax", "block"),
)


def in_force(value: tuple[DispositionSpec, ...] | None) -> tuple[DispositionSpec, ...]:
    """The campaign's list: its own, else the default set."""
    return DEFAULT_DISPOSITIONS if value is None else value


# An inbound campaign never dials (SPEC C14): its agents' calls end with what needs no redial.
INBOUND_KINDS = ("close", "block", "dnc")


def offered(
    value: tuple[DispositionSpec, ...] | None, campaign_type: str
) -> tuple[DispositionSpec, ...]:
    """The dispositions an agent may set on a call of a campaign of this type: its list (or the
    default set), without those that dial again in an inbound campaign."""
    listed = in_force(value)
    if campaign_type == "inbound":
        return tuple(d for d in listed if d.parsed.kind in INBOUND_KINDS)
    return listed


def find(value: tuple[DispositionSpec, ...] | None, code: str) -> DispositionSpec | None:
    return next((d for d in in_force(value) if d.code == code), None)


def codes_text(specs: tuple[DispositionSpec, ...]) -> str:
    return ", ".join(d.code for d in specs) or "none"


__all__ = [
    "CODE_PATTERN",
    "DEFAULT_DISPOSITIONS",
    "MAX_DISPOSITIONS",
    "MAX_SCRIPT",
    "DispositionAction",
    "DispositionSpec",
    "check_list",
    "codes_text",
    "find",
    "in_force",
    "list_shape",
    "offered",
    "parse_action",
]
