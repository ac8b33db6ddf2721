"""An agent's live state as the desk keeps it in memory: `LiveAgent`, the call on its screen
(`LiveCall`), the contact previewed before dialing (`Offer`), and a caller waiting in a queue
for the next agent (`Waiter`, SPEC C14)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.drivers.line import Line


@dataclass
class Offer:
    """A contact shown to an agent before it is dialed (preview, A2)."""

    campaign: str
    contact_id: int
    offered_at: float
    contact: dict[str, Any]


@dataclass
class LiveCall:
    """The call an agent is on (or has just finished): the screen pop's content."""

    attempt_id: int
    contact_id: int
    campaign: str
    number: str
    line: str
    started_at: float
    contact: dict[str, Any]
    connected_at: float | None = None
    ended_at: float | None = None
    hang_up: Callable[[], None] | None = None  # asks the engine to end the customer's call


@dataclass
class LiveAgent:
    """One agent position: who, where, in which state since when, and what is on screen."""

    name: str
    group: str | None
    skills: tuple[str, ...]
    state: str = "logged_out"
    seat: str | None = None
    campaigns: tuple[str, ...] = ()
    reason: str | None = None
    since: float = 0.0
    idle_since: float = 0.0
    call: LiveCall | None = None
    offer: Offer | None = None
    wrap_until: float | None = None
    pause_after: str | None = None  # pause (with this reason) when the current call is over
    skipped: dict[int, float] = field(default_factory=dict)  # contact -> offer again after
    changes: int = 0  # how many times its state was set (a waiting caller's `tried` reads it)

    def serves(self, campaign: str) -> bool:
        return campaign in self.campaigns

    @property
    def busy(self) -> bool:
        """On a call, or held for one being dialed or handed over (not a preview on screen)."""
        return self.state == "talking" or (self.state == "reserved" and self.offer is None)


@dataclass
class Waiter:
    """A caller waiting for an agent (an inbound queue, or an automated call's "press 1"): the
    desk gives the longest waiter the longest-idle agent it can take (`AgentDesk.hand_over`)."""

    seq: int  # the order callers joined in (ties of `since`)
    campaign: str
    skill: str | None
    line: Line
    since: float  # clock time the caller began to wait
    first: bool  # inbound first: the agents owed to it are not counted for outbound pacing
    # agents who did not take this call, by their `changes` then: not tried again until their
    # state changes (they go ready once more, after a pause)
    tried: dict[str, int] = field(default_factory=dict)
