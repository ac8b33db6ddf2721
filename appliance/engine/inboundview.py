"""What the box's inbound side is doing now (SPEC C14, issue #23), for the API, the console,
`why` and `/metrics`: `Engine.inbound.snapshot()` returns an `InboundSnapshot`, a frozen copy
taken at one instant (clock time `at`), safe to keep and to read from another task.

- `ringing`: calls ringing in on the box's lines, not answered yet — `RingingCall` (line,
  caller ID as the line gave it, "" when withheld; since when it rings; the running inbound
  campaign that answers on that line, None when none does; `unanswered`: "" while it is being
  answered, else why it is left ringing — no campaign answers there, the campaign is closed
  (outside its business hours with no closed-hours flow), the line is busy, out of service,
  down or cannot answer, the box is stopping).
- `in_flow`: answered calls running a call flow — `FlowCallView`: inbound ones (direction
  "in") and answered automated outbound ones ("out"), with their campaign, line, caller, the
  attempt they are recorded on and since when they are up.
- `waiting`: callers waiting in a queue for an agent — `WaitingCaller` (campaign, line, caller,
  since when they wait, the known contacts their number matches: the screen pop's ids; the
  attempt; the skill asked). A caller is in `in_flow` too while waiting (the queue is a node of
  its flow); the longest waiter is the first of its campaign.
- `talking`: answered inbound calls an agent took (`FlowCallView`, `agent` set).

`queue_length(campaign)` and `longest_wait(campaign)` read it as the metrics do. Times are the
box's clock (UTC seconds since the epoch).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RingingCall:
    line: str
    caller: str  # the caller ID as the line gave it; "" when withheld
    since: float
    campaign: str | None  # the inbound campaign answering on the line; None: none
    unanswered: str = ""  # why it is left ringing ("": it is being answered)


@dataclass(frozen=True)
class FlowCallView:
    campaign: str
    line: str
    caller: str
    since: float  # when the call was answered
    attempt_id: int
    direction: str  # "in" (answered here) or "out" (an automated campaign's answered call)
    agent: str | None = None  # the agent who took it (inbound calls put through)


@dataclass(frozen=True)
class WaitingCaller:
    campaign: str
    line: str
    caller: str
    since: float  # when the caller began to wait
    contacts: tuple[int, ...]  # known contacts with the caller's number (the screen pop)
    attempt_id: int
    skill: str | None


@dataclass(frozen=True)
class InboundSnapshot:
    at: float
    ringing: tuple[RingingCall, ...] = ()
    in_flow: tuple[FlowCallView, ...] = ()
    waiting: tuple[WaitingCaller, ...] = ()  # oldest first
    talking: tuple[FlowCallView, ...] = ()

    def queue_length(self, campaign: str) -> int:
        return sum(1 for w in self.waiting if w.campaign == campaign)

    def longest_wait(self, campaign: str) -> float:
        """Seconds the campaign's longest waiter has waited (0 with nobody waiting)."""
        since = [w.since for w in self.waiting if w.campaign == campaign]
        return max(0.0, self.at - min(since)) if since else 0.0

    def campaigns(self) -> list[str]:
        """The campaigns with a caller waiting, by name."""
        return sorted({w.campaign for w in self.waiting})
