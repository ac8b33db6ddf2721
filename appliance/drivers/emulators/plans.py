"""Call plans for the analog emulators (V.253 modem, CAN line card): per number, else seeded.

A plan says how the far end behaves: the outcome, seconds of ringback before it, seconds of talk
once answered, keys pressed. Numbers a script does not list get a random plan from the script's
outcome weights, seeded, so a run can be repeated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


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
        plan = self.numbers.get(digits(number))
        if plan is not None:
            return plan
        names = list(self.weights)
        outcome = rng.choices(names, weights=[self.weights[n] for n in names])[0]
        return Plan(outcome, ring=round(rng.uniform(4.0, 20.0), 1), talk=rng.uniform(5.0, 30.0))
