"""The ordered plan of next dials (SPEC C5): due redials oldest first, then new contacts by priority, FIFO or LIFO.

The store hands over candidates it already believes eligible, in two groups; this module
re-judges each one with `select.classify`, orders each group itself (so the order never rests on
a query plan), never plans the same number twice, and says in words why each one was chosen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from appliance.domain import Channel, ContactState, Outcome
from appliance.scheduler.select import Candidate, Reason, Rules, classify
from appliance.scheduler.windows import local_time

Kind = Literal["redial", "callback", "new"]


class PlanCandidate(Candidate, Protocol):
    @property
    def priority(self) -> int: ...
    @property
    def step(self) -> int: ...
    @property
    def last_outcome(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class PlannedDial:
    contact_id: int
    phone_index: int
    number: str
    channel: Channel
    kind: Kind
    due_at: float | None
    priority: int
    why: str

    def as_dict(self) -> dict[str, object]:
        return {
            "contact_id": self.contact_id,
            "phone_index": self.phone_index,
            "number": self.number,
            "channel": str(self.channel),
            "kind": self.kind,
            "due_at": self.due_at,
            "priority": self.priority,
            "why": self.why,
        }


def kind_of(c: PlanCandidate) -> Kind:
    if c.due_at is None:
        return "new"
    return "callback" if c.state == ContactState.PENDING and c.attempts == 0 else "redial"


def redial_key(c: PlanCandidate) -> tuple[float, int]:
    return (c.due_at if c.due_at is not None else float("inf"), c.contact_id)


def new_key(order: Literal["fifo", "lifo"]) -> Callable[[PlanCandidate], tuple[int, int]]:
    sign = 1 if order == "fifo" else -1
    return lambda c: (-c.priority, sign * c.contact_id)


def _why(c: PlanCandidate, kind: Kind, order: str, tz: str) -> str:
    phone = f"phone {c.phone_index}"
    if kind == "new":
        return f"new contact, priority {c.priority}, {order.upper()} order, {phone}"
    assert c.due_at is not None
    when = local_time(c.due_at, tz).strftime("%Y-%m-%d %H:%M %Z")
    if kind == "callback":
        return f"callback due since {when}, {phone}"
    after = ""
    if c.last_outcome is not None:
        try:
            after = f" after {Outcome(c.last_outcome).label}"
        except ValueError:
            after = f" after outcome {c.last_outcome}"
    return f"redial due since {when}{after} (attempt {c.attempts + 1}), {phone}"


def make_plan(
    redials: Iterable[PlanCandidate],
    news: Iterable[PlanCandidate],
    rules: Rules,
    now: float,
    count: int,
    *,
    order: Literal["fifo", "lifo"],
    channel_for: Callable[[int], Channel],
    timezone: str,
) -> list[PlannedDial]:
    """Up to `count` dials: every due redial (oldest first) before any new contact (SPEC C5).

    `channel_for(step)` is the strategy's channel for that step of the plan."""
    plan: list[PlannedDial] = []
    numbers: set[str] = set()
    groups = (sorted(redials, key=redial_key), sorted(news, key=new_key(order)))
    for group in groups:
        for c in group:
            if len(plan) >= count:
                return plan
            if c.number is None or c.number in numbers:
                continue
            if classify(c, rules, now) is not Reason.READY:
                continue
            kind = kind_of(c)
            numbers.add(c.number)
            plan.append(
                PlannedDial(
                    contact_id=c.contact_id,
                    phone_index=c.phone_index,
                    number=c.number,
                    channel=channel_for(c.step),
                    kind=kind,
                    due_at=c.due_at,
                    priority=c.priority,
                    why=_why(c, kind, order, timezone),
                )
            )
    return plan


def utc_text(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
