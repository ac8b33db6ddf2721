"""Call plans for the analog emulators (V.253 modem, CAN line card): per number, else seeded.

A plan says how the far end behaves: the outcome, seconds of ringback before it, seconds of talk
once answered, keys pressed. Numbers a script does not list get a random plan from the script's
outcome weights, seeded, so a run can be repeated.
"""

from __future__ import annotations

import json
import random
import tomllib
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
