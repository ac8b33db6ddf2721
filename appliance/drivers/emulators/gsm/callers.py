"""Callers of the emulated modems: who rings in, what they press, when they give up (SPEC C14).

One incoming call, as the control socket takes it (``farm.py``)::

    <modem> incoming <number|withheld> [keys=1@2.0,9@5.5] [hangup=S] [ring=S]

``keys``: each key (0-9 * # A-D) with the seconds after the answer it is pressed at;
``hangup``: the caller hangs up that many seconds after the answer (default: never, the
dialer hangs up); ``ring``: the caller gives up after that many seconds of ringing unanswered
(default: the network's own no-answer timer, 30 s). Every delay is scaled by the script's
``time_scale``.

``dialbox emulate gsm --incoming FILE`` takes a list of such calls, TOML or JSON::

    [[calls]]
    at = 5                      # seconds after the emulator starts (scaled too)
    modem = 0                   # gsm0 (the default)
    number = "+48601234567"     # or "withheld"
    keys = "1@2.0,9@5.5"        # optional, as above
    hangup = 10.0               # optional
    ring = 4.0                  # optional

(JSON: ``{"calls": [{...}, ...]}`` or the list alone.) Every error names the file and the
field (``calls.toml: calls[1].keys: …``).
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.drivers.emulators.gsm.script import Event, ScriptError

WITHHELD = "withheld"
KEYS = "0123456789*#ABCD"
_NUMBER = re.compile(r"^\+?[0-9*#]{1,40}$")
_CALL_KEYS = ("at", "modem", "number", "keys", "hangup", "ring")
_OPTIONS = ("keys", "hangup", "ring")
SYNTAX = "<number|withheld> [keys=1@2.0,9@5.5] [hangup=SECONDS] [ring=SECONDS]"


@dataclass(frozen=True, slots=True)
class IncomingPlan:
    number: str  # "" when withheld
    keys: tuple[tuple[str, float], ...] = ()  # (key, seconds after the answer), in time order
    hangup: float | None = None  # seconds after the answer; None: never (the host hangs up)
    ring: float | None = None  # seconds of ringing before the caller gives up; None: network

    def argument(self) -> str:
        """The plan in control-socket syntax (what ``parse_incoming`` reads back)."""
        parts = [self.number or WITHHELD]
        if self.keys:
            parts.append("keys=" + ",".join(f"{k}@{s:g}" for k, s in self.keys))
        if self.hangup is not None:
            parts.append(f"hangup={self.hangup:g}")
        if self.ring is not None:
            parts.append(f"ring={self.ring:g}")
        return " ".join(parts)


def caller(value: object) -> str:
    """The caller's number ("" for ``withheld``); ValueError when it is not one."""
    if not isinstance(value, str) or not (value == WITHHELD or _NUMBER.match(value)):
        raise ValueError(
            f"{value!r}: expected a string: the caller's number (digits, * or #, an optional "
            "leading +; at most 40) or 'withheld'"
        )
    return "" if value == WITHHELD else value


def seconds(value: object, *, zero: bool = False) -> float:
    """A finite number of seconds, above 0 (or at least 0 with ``zero``)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{value!r}: expected seconds, e.g. 2.5") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{value!r}: expected seconds, e.g. 2.5")
    if value < 0 or (value == 0 and not zero):
        raise ValueError(f"{value!r}: expected seconds {'>= 0' if zero else '> 0'}")
    return float(value)


def keys(value: object) -> tuple[tuple[str, float], ...]:
    """``1@2.0,9@5.5`` -> ((``1``, 2.0), (``9``, 5.5)), sorted by time (keys pressed at the
    same moment keep their order)."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r}: expected KEY@SECONDS,... as in '1@2.0,9@5.5'")
    out: list[tuple[str, float]] = []
    for item in value.split(","):
        key, at, when = item.strip().partition("@")
        key = key.upper()
        if not at or len(key) != 1 or key not in KEYS:
            raise ValueError(
                f"{item.strip()!r}: expected KEY@SECONDS, KEY one of 0-9 * # A-D "
                "(e.g. keys=1@2.0,9@5.5)"
            )
        try:
            out.append((key, seconds(when, zero=True)))
        except ValueError as exc:
            raise ValueError(f"{item.strip()!r}: {exc}") from None
    return tuple(sorted(out, key=lambda pair: pair[1]))


def plan(
    number: object,
    keys_value: object = None,
    hangup: object = None,
    ring: object = None,
) -> IncomingPlan:
    """A validated plan; ValueError names the field at fault (``keys: …``)."""

    def field(name: str, check: Any, value: object) -> Any:
        try:
            return check(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None

    made = IncomingPlan(
        field("number", caller, number),
        field("keys", keys, keys_value) if keys_value is not None else (),
        field("hangup", seconds, hangup) if hangup is not None else None,
        field("ring", seconds, ring) if ring is not None else None,
    )
    late = [f"{k}@{s:g}" for k, s in made.keys if made.hangup is not None and s >= made.hangup]
    if late:
        raise ValueError(
            f"keys: {', '.join(late)} not before hangup={made.hangup:g} (the caller is gone)"
        )
    return made


def parse_incoming(argument: str) -> IncomingPlan:
    """The control command's argument: ``<number|withheld> [keys=…] [hangup=S] [ring=S]``."""
    words = argument.split()
    if not words:
        raise ValueError(f"expected: incoming {SYNTAX}")
    options: dict[str, str] = {}
    for word in words[1:]:
        name, eq, value = word.partition("=")
        if not eq or name not in _OPTIONS or name in options:
            raise ValueError(f"{word!r}: expected: incoming {SYNTAX}")
        options[name] = value
    return plan(words[0], options.get("keys"), options.get("hangup"), options.get("ring"))


def load_incoming(path: Path, modems: int) -> list[Event]:
    """The calls of an ``--incoming`` file as farm events (action ``incoming``); ScriptError
    names the file and the field of the first fault."""
    try:
        text = path.read_text(encoding="utf-8")
        data: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise ScriptError(f"{path}: {exc}") from exc
    calls = data.get("calls") if isinstance(data, dict) else data
    if isinstance(data, dict) and set(data) != {"calls"}:
        extra = sorted(set(data) - {"calls"})
        raise ScriptError(
            f"{path}: expected only a list 'calls' ([[calls]] in TOML)"
            + (f"; unknown key(s) {extra}" if extra else "; it is missing")
        )
    if not isinstance(calls, list):
        raise ScriptError(f"{path}: calls: expected a list of calls ([[calls]] in TOML)")
    events: list[Event] = []
    for i, entry in enumerate(calls):
        where = f"{path}: calls[{i}]"
        if not isinstance(entry, dict):
            raise ScriptError(f"{where}: expected a table with at, number, ...")
        unknown = sorted(set(entry) - set(_CALL_KEYS))
        if unknown:
            raise ScriptError(f"{where}: unknown key(s) {unknown}; known: {list(_CALL_KEYS)}")
        for required in ("at", "number"):
            if required not in entry:
                raise ScriptError(f"{where}: {required} is missing")
        try:
            at = seconds(entry["at"], zero=True)
        except ValueError as exc:
            raise ScriptError(f"{where}.at: {exc}") from None
        modem = entry.get("modem", 0)
        if isinstance(modem, str) and modem.startswith("gsm"):
            modem = modem[3:]
        if isinstance(modem, str) and modem.isdigit():
            modem = int(modem)
        if isinstance(modem, bool) or not isinstance(modem, int) or not 0 <= modem < modems:
            raise ScriptError(
                f"{where}.modem: {entry.get('modem')!r}: expected 0..{modems - 1} "
                f"(or gsm0..gsm{modems - 1}; --count is {modems})"
            )
        try:
            made = plan(entry["number"], entry.get("keys"), entry.get("hangup"), entry.get("ring"))
        except ValueError as exc:
            raise ScriptError(f"{where}.{exc}") from None
        events.append(Event(at, "incoming", modem, made.argument()))
    return events
