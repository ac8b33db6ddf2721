"""Call plans for the analog emulators (V.253 modem, CAN line card): per number, else seeded.

A plan says how the far end behaves: the outcome, seconds of ringback before it, seconds of talk
once answered, keys pressed. Numbers a script does not list get a random plan from the script's
outcome weights, seeded, so a run can be repeated.

Incoming calls (``IncomingPlan``, SPEC C14) are scripted the same way for every emulator: the
control command ``<line> incoming <number|withheld> [keys=1@2.0,9@5.5] [hangup=S] [ring=S]`` and
the ``--incoming FILE`` script (TOML ``[[calls]]`` or JSON) of ``{at, modem | port, number, keys,
hangup, ring}``; times in the emulator's seconds (scaled by its ``time_scale``).
"""

from __future__ import annotations

import json
import random
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Plan:
    outcome: str
    ring: float = 6.0
    talk: float = 10.0
    dtmf: str = ""


def digits(number: str) -> str:
    """The dialled digits a plan is keyed by (``+1 (555) 000-1`` -> ``+15550001``)."""
    return "".join(c for c in number if c.isdigit() or c in "*#+")


@dataclass
class PlanScript:
    time_scale: float = 1.0
    numbers: dict[str, Plan] = field(default_factory=dict)
    weights: dict[str, float] = field(
        default_factory=lambda: {"answer": 5.0, "busy": 2.0, "no-answer": 2.0}
    )

    def plan_for(self, number: str, rng: random.Random) -> Plan:
        dialled = digits(number)
        bare = dialled.lstrip("+")
        # A line card dials the digits only; a script may list the number with its "+".
        for key in (dialled, bare, "+" + bare):
            plan = self.numbers.get(key)
            if plan is not None:
                return plan
        names = list(self.weights)
        outcome = rng.choices(names, weights=[self.weights[n] for n in names])[0]
        return Plan(outcome, ring=round(rng.uniform(4.0, 20.0), 1), talk=rng.uniform(5.0, 30.0))


def load_plans(script: PlanScript, path: Path, outcomes: tuple[str, ...]) -> None:
    """Fill ``script`` from a TOML or JSON file (``time_scale``, ``[random]``, ``[[numbers]]``)."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    parse_plans(script, data, outcomes, str(path))


def parse_plans(
    script: PlanScript, data: dict[str, Any], outcomes: tuple[str, ...], where: str = "script"
) -> None:
    unknown = set(data) - {"time_scale", "numbers", "random"}
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
    script.time_scale = float(data.get("time_scale", script.time_scale))
    if "random" in data:
        script.weights = {str(k): float(v) for k, v in data["random"].items()}
    for i, item in enumerate(data.get("numbers", ())):
        outcome = str(item.get("outcome", "answer"))
        extra = set(item) - {"number", "outcome", "ring", "talk", "dtmf"}
        if outcome not in outcomes or extra or "number" not in item:
            raise ValueError(
                f"{where}: numbers[{i}]: needs number, outcome one of {', '.join(outcomes)}; "
                f"optional ring, talk, dtmf"
            )
        script.numbers[digits(str(item["number"]))] = Plan(
            outcome,
            float(item.get("ring", 6.0)),
            float(item.get("talk", 10.0)),
            str(item.get("dtmf", "")),
        )
    for name in script.weights:
        if name not in outcomes:
            raise ValueError(f"{where}: random.{name}: one of {', '.join(outcomes)}")


# ------------------------------------------------------------------ incoming calls (SPEC C14)
#: What a caller who withholds the number is scripted as, and what the line then says.
PRESENTATIONS = ("withheld", "unavailable")
MAX_KEYS = 64
MAX_SECONDS = 86400.0
DEFAULT_RING = 30.0  # a caller lets the phone ring this long, then gives up
_KEY_DIGITS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True, slots=True)
class IncomingPlan:
    """A caller: the number shown (``presentation`` "number"), or none ("withheld" /
    "unavailable"); the keys pressed, each ``(digit, seconds after the answer)``; ``hangup``
    seconds after the answer the caller hangs up (None: stays until the box ends the call);
    ``ring``: seconds of ringing unanswered after which the caller gives up."""

    number: str
    presentation: str = "number"
    keys: tuple[tuple[str, float], ...] = ()
    hangup: float | None = None
    ring: float = DEFAULT_RING


@dataclass(frozen=True, slots=True)
class ScheduledCall:
    """An incoming call of a script: ``at`` seconds after the emulator starts, on ``target``
    (a modem, ``v2530`` or ``0``; a card port, ``3/1``; "" = the first line)."""

    at: float
    target: str
    plan: IncomingPlan


def _seconds(value: Any, what: str, *, positive: bool = False) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: {value!r} is not a number of seconds") from None
    if isinstance(value, bool) or not 0.0 <= seconds <= MAX_SECONDS or (positive and not seconds):
        low = "more than 0" if positive else "0"
        raise ValueError(f"{what}: {value!r}: seconds from {low} to {MAX_SECONDS:g}")
    return seconds


def caller(value: Any, what: str = "number") -> tuple[str, str]:
    """``+1 555 0001`` -> ("+15550001", "number"); ``withheld`` -> ("", "withheld")."""
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    if text.lower() in PRESENTATIONS:
        return "", text.lower()
    number = digits(text)
    if (
        not 1 <= len(number.lstrip("+")) <= 32
        or "+" in number[1:]
        or text.strip(" 0123456789*#+-().")
    ):
        raise ValueError(f"{what}: {value!r}: the caller's number (digits, an optional leading "
                         f"+) or one of {', '.join(PRESENTATIONS)}")  # fmt: skip
    return number, "number"


def parse_keys(value: Any, what: str = "keys") -> tuple[tuple[str, float], ...]:
    """``1@2.0,9@5.5`` (or a list of ``1@2.0`` items) -> (("1", 2.0), ("9", 5.5))."""
    items = value if isinstance(value, list) else str(value).split(",")
    if len(items) > MAX_KEYS:
        raise ValueError(f"{what}: {len(items)} keys; at most {MAX_KEYS}")
    keys: list[tuple[str, float]] = []
    for item in items:
        digit, at, rest = f"{item}".strip().partition("@")
        try:
            if not isinstance(item, str) or not at or len(digit) != 1:
                raise ValueError
            if digit.upper() not in _KEY_DIGITS:
                raise ValueError
            keys.append((digit.upper(), _seconds(rest, what)))
        except ValueError:
            raise ValueError(f"{what}: {item!r}: expected DIGIT@SECONDS after the answer, "
                             "e.g. 1@2.0,9@5.5 (digits 0-9 * # A-D, seconds 0-86400)") from None  # fmt: skip
    return tuple(sorted(keys, key=lambda k: k[1]))


def parse_incoming_command(text: str) -> IncomingPlan:
    """The control command's arguments: ``<number|withheld> [keys=1@2.0,9@5.5] [hangup=S]
    [ring=S]``."""
    words = text.split()
    if not words:
        raise ValueError("incoming needs: <number|withheld> [keys=1@2.0,9@5.5] [hangup=S] [ring=S]")
    number, presentation = caller(words[0])
    options: dict[str, str] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or key not in ("keys", "hangup", "ring") or key in options:
            raise ValueError(f"incoming: {word!r}: options are keys=1@2.0,..., hangup=S, ring=S "
                             "(each once)")  # fmt: skip
        options[key] = value
    return IncomingPlan(
        number,
        presentation,
        parse_keys(options["keys"]) if "keys" in options else (),
        _seconds(options["hangup"], "hangup") if "hangup" in options else None,
        _seconds(options.get("ring", DEFAULT_RING), "ring", positive=True),
    )


TargetCheck = Callable[[str], None]


def parse_incoming(data: Any, where: str, check: TargetCheck | None = None) -> list[ScheduledCall]:
    """Incoming calls of a script: ``{"calls": [...]}`` (TOML ``[[calls]]``) or a JSON list of
    ``{at, modem | port, number, keys, hangup, ring}``. ``check`` raises ``ValueError`` for a
    target the emulator does not have. Errors say the file and the field."""
    if isinstance(data, dict):
        unknown = set(data) - {"calls"}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; expected [[calls]]")
        data = data.get("calls", [])
    if not isinstance(data, list):
        raise ValueError(f"{where}: calls: expected a list of calls")
    calls: list[ScheduledCall] = []
    fields = {"at", "modem", "port", "number", "keys", "hangup", "ring"}
    for i, item in enumerate(data):
        here = f"{where}: calls[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{here}: expected a table with at, modem or port, number, ...")
        extra = set(item) - fields
        if extra:
            raise ValueError(f"{here}: unknown key(s) {sorted(extra)}; one of {sorted(fields)}")
        if "modem" in item and "port" in item:
            raise ValueError(f"{here}: modem or port, not both")
        if "number" not in item:
            raise ValueError(f"{here}.number: missing (the caller's number, or withheld)")
        name = "modem" if "modem" in item else "port"
        target = str(item.get(name, "")).strip()
        if check is not None:
            try:
                check(target)
            except ValueError as exc:
                raise ValueError(f"{here}.{name}: {exc}") from None
        number, presentation = caller(item["number"], f"{here}.number")
        keys = parse_keys(item["keys"], f"{here}.keys") if item.get("keys") else ()
        hangup = item.get("hangup")
        plan = IncomingPlan(
            number,
            presentation,
            keys,
            None if hangup is None else _seconds(hangup, f"{here}.hangup"),
            _seconds(item.get("ring", DEFAULT_RING), f"{here}.ring", positive=True),
        )
        calls.append(ScheduledCall(_seconds(item.get("at", 0.0), f"{here}.at"), target, plan))
    return calls


def load_incoming(path: Path, check: TargetCheck | None = None) -> list[ScheduledCall]:
    """``--incoming FILE``: TOML or JSON (by the suffix), see ``parse_incoming``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read it: {exc}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: "
                         f"{exc}") from None  # fmt: skip
    return parse_incoming(data, str(path), check)
