"""Emulator scripts: per-number call outcomes, random outcome weights, SIM, replies, events.

A script is TOML or JSON (stdlib parsers; the emulator imports nothing beyond the drivers)::

    time_scale = 0.1            # every delay below is multiplied by this
    pin = "1234"                # the SIM asks for this PIN (none: SIM ready at once)
    sim_busy_after_pin = 3.0    # +CME ERROR: 14 for this long after the PIN (or boot)
    signal = 21                 # +CSQ rssi
    operator = "Emulnet"
    ect = true                  # the network allows explicit call transfer (+CHLD=4)
    cfun = 1                    # +CFUN at boot: 0 or 4 = radio off until AT+CFUN=1
    sound = "person"            # the far end's sound on the audio port (emulators/sounds.py)
    audio_speed = 1.0           # audio frames this many times faster than real time

    [random]                    # weights for numbers not listed below (seeded by --seed)
    answer = 5
    busy = 2
    no-answer = 2

    [[numbers]]
    number = "+15550000001"
    outcome = "answer"          # see OUTCOMES
    ring = 2.0                  # seconds alerting before answer/reject
    talk = 4.0                  # seconds until the callee hangs up
    dtmf = "1#"                 # keys the callee presses after answering
    sms = "delivered"           # delivered | failed | pending (no report)
    sound = "machine"           # this number's far end on the audio port (default: sound)

    [[replies]]                 # injected answers, matched on the whole command line
    command = "AT+CSQ"
    lines = ["+CSQ: 3,99"]
    final = "OK"
    once = true

    [[events]]                  # failure switches at a time (seconds, scaled)
    at = 10
    modem = 0                   # omitted: every modem
    action = "reboot"           # see farm.ACTIONS
"""

from __future__ import annotations

import json
import random
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.drivers.emulators.sounds import SOURCES

# outcome -> (24.008 cause at release, reaches alerting)
OUTCOMES: dict[str, tuple[int, bool]] = {
    "answer": (16, True),
    "busy": (17, True),
    "no-answer": (19, True),
    "reject": (21, True),
    "unreachable": (20, False),
    "invalid": (1, False),
    "congestion": (34, False),
    "no-network": (0, False),  # ATD refused: +CME ERROR: 30
}

DEFAULT_WEIGHTS = {
    "answer": 5.0,
    "busy": 2.0,
    "no-answer": 2.0,
    "reject": 1.0,
    "unreachable": 1.0,
}


class ScriptError(ValueError):
    """A script names an unknown key or value; the message says which and where."""


@dataclass(frozen=True, slots=True)
class CallPlan:
    outcome: str
    ring: float = 3.0
    talk: float = 5.0
    setup: float = 0.5
    dtmf: str = ""
    sms: str = "delivered"
    sound: str | None = None  # the far end's audio (emulators/sounds.py); None: the script's


@dataclass(frozen=True, slots=True)
class Reply:
    command: str
    lines: tuple[str, ...]
    final: str
    once: bool


@dataclass(frozen=True, slots=True)
class Event:
    at: float
    action: str
    modem: int | None = None
    argument: str = ""


@dataclass(slots=True)
class Script:
    time_scale: float = 1.0
    pin: str | None = None
    sim_busy_after_pin: float = 0.0
    signal: int = 21
    operator: str = "Emulnet"
    boot_time: float = 0.3
    ect: bool = True
    cfun: int = 1
    sound: str = "person"  # the far end's audio when neither the number nor control says
    audio_speed: float = 1.0  # audio frames this many times faster than real time
    numbers: dict[str, CallPlan] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    replies: list[Reply] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def plan_for(self, number: str, rng: random.Random) -> CallPlan:
        """The scripted plan for ``number``, else a seeded random one."""
        plan = self.numbers.get(_norm(number))
        if plan is not None:
            return plan
        names = list(self.weights)
        outcome = rng.choices(names, weights=[self.weights[n] for n in names])[0]
        return CallPlan(
            outcome,
            ring=round(rng.uniform(1.0, 8.0), 2),
            talk=round(rng.uniform(3.0, 20.0), 2),
            setup=round(rng.uniform(0.2, 1.5), 2),
        )


def _norm(number: str) -> str:
    return number.strip().rstrip(";")


_TOP_KEYS = {
    "time_scale",
    "pin",
    "sim_busy_after_pin",
    "signal",
    "operator",
    "boot_time",
    "ect",
    "cfun",
    "sound",
    "audio_speed",
    "random",
    "numbers",
    "replies",
    "events",
}
_NUMBER_KEYS = {"number", "outcome", "ring", "talk", "setup", "dtmf", "sms", "sound"}


def _sound(value: Any, where: str) -> str:
    if value not in SOURCES:
        raise ScriptError(f"{where}: sound {value!r}; expected one of {', '.join(SOURCES)}")
    return str(value)


def load(path: Path) -> Script:
    """Read a TOML (.toml) or JSON script; unknown keys are errors, never ignored."""
    try:
        text = path.read_text(encoding="utf-8")
        data: dict[str, Any] = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise ScriptError(f"{path}: {exc}") from exc
    return parse(data, str(path))


def parse(data: dict[str, Any], where: str = "script") -> Script:
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ScriptError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
    script = Script()
    for key in ("time_scale", "sim_busy_after_pin", "boot_time"):
        if key in data:
            setattr(script, key, float(data[key]))
    if "cfun" in data:
        if data["cfun"] not in (0, 1, 4):
            raise ScriptError(f"{where}: cfun {data['cfun']!r}; expected 0, 1 or 4")
        script.cfun = int(data["cfun"])
    if "signal" in data:
        script.signal = int(data["signal"])
    if "sound" in data:
        script.sound = _sound(data["sound"], where)
    if "audio_speed" in data:
        script.audio_speed = float(data["audio_speed"])
        if script.audio_speed <= 0:
            raise ScriptError(f"{where}: audio_speed {data['audio_speed']!r}; expected > 0")
    script.pin = data.get("pin")
    script.operator = str(data.get("operator", script.operator))
    if "ect" in data:
        if not isinstance(data["ect"], bool):
            raise ScriptError(f"{where}: ect {data['ect']!r}; expected true or false")
        script.ect = data["ect"]
    if "random" in data:
        weights = {str(k): float(v) for k, v in data["random"].items()}
        bad = set(weights) - set(OUTCOMES)
        if bad:
            raise ScriptError(f"{where}: [random] unknown outcome(s) {sorted(bad)}")
        script.weights = weights
    for i, entry in enumerate(data.get("numbers", [])):
        unknown = set(entry) - _NUMBER_KEYS
        if unknown or "number" not in entry:
            raise ScriptError(
                f"{where}: numbers[{i}]: unknown key(s) {sorted(unknown)} or no number"
            )
        outcome = entry.get("outcome", "answer")
        if outcome not in OUTCOMES:
            raise ScriptError(
                f"{where}: numbers[{i}].outcome {outcome!r}; expected one of {sorted(OUTCOMES)}"
            )
        script.numbers[_norm(str(entry["number"]))] = CallPlan(
            outcome,
            ring=float(entry.get("ring", 3.0)),
            talk=float(entry.get("talk", 5.0)),
            setup=float(entry.get("setup", 0.5)),
            dtmf=str(entry.get("dtmf", "")),
            sms=str(entry.get("sms", "delivered")),
            sound=_sound(entry["sound"], f"{where}: numbers[{i}]") if "sound" in entry else None,
        )
    for entry in data.get("replies", []):
        script.replies.append(
            Reply(
                str(entry["command"]).upper(),
                tuple(entry.get("lines", ())),
                str(entry.get("final", "OK")),
                bool(entry.get("once", False)),
            )
        )
    for entry in data.get("events", []):
        modem = entry.get("modem")
        script.events.append(
            Event(
                float(entry["at"]),
                str(entry["action"]),
                None if modem is None else int(modem),
                str(entry.get("argument", "")),
            )
        )
    return script
