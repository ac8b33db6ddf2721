"""Scheduled campaign actions (SPEC C2): what start, pause, resume and stop do to a campaign's
status, and the order in which actions due together are applied. Pure: no store, no clock.

- `start` runs a stopped or paused campaign;
- `pause` pauses a running one (a stopped campaign stays stopped);
- `resume` runs a paused one (a stopped campaign stays stopped: after a stop only `start` runs it);
- `stop` stops it, whatever it was doing.

Actions due at the same instant are applied start, resume, pause, stop — the last one wins, so
the safer state does: `pause` and `resume` both at 12:00 leave the campaign paused. Actions the
box missed while it was down are replayed in this same order on start, oldest first, so their
outcome is the one they would have had on time: a missed stop leaves the campaign stopped, a
missed pause and the resume after it leave it running.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from appliance.domain import CampaignStatus


class Action(enum.StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


# The order of actions due at the same instant: the last one applied wins.
PRECEDENCE = (Action.START, Action.RESUME, Action.PAUSE, Action.STOP)


def parse_action(text: str) -> Action:
    try:
        return Action(text.strip().lower())
    except ValueError:
        raise ValueError(
            f"{text!r} is not an action; use one of: {', '.join(a.value for a in Action)}"
        ) from None


def after(action: Action, status: CampaignStatus) -> CampaignStatus:
    """The campaign's status once `action` is applied to it at `status`."""
    if action is Action.START:
        return CampaignStatus.RUNNING
    if action is Action.STOP:
        return CampaignStatus.STOPPED
    if action is Action.PAUSE:
        return CampaignStatus.PAUSED if status is CampaignStatus.RUNNING else status
    return CampaignStatus.RUNNING if status is CampaignStatus.PAUSED else status


def why_unchanged(action: Action, status: CampaignStatus) -> str:
    """In words, why `action` left a campaign at `status` as it was."""
    if status is CampaignStatus.STOPPED and action in (Action.PAUSE, Action.RESUME):
        return f"the campaign is stopped; only start runs it again, {action} does nothing"
    return f"the campaign was already {status}"


@dataclass(frozen=True, slots=True)
class Due:
    """One occurrence of a scheduled action: `key` says which (the store's id)."""

    key: int
    action: Action
    at: float


@dataclass(frozen=True, slots=True)
class Step:
    """What one occurrence did: the status before and after it."""

    due: Due
    before: CampaignStatus
    after: CampaignStatus

    @property
    def changed(self) -> bool:
        return self.before is not self.after


def order(dues: Iterable[Due]) -> list[Due]:
    """Oldest first; at the same instant in PRECEDENCE order; then by key."""
    return sorted(dues, key=lambda d: (d.at, PRECEDENCE.index(d.action), d.key))


def replay(status: CampaignStatus, dues: Iterable[Due]) -> list[Step]:
    """Apply the occurrences in order from `status`; each step says what it did."""
    steps: list[Step] = []
    for due in order(dues):
        new = after(due.action, status)
        steps.append(Step(due, status, new))
        status = new
    return steps
