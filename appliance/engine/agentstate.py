"""An agent's live state as the desk keeps it in memory: `LiveAgent`, the call on its screen
(`LiveCall`) and the contact previewed before dialing (`Offer`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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

    def serves(self, campaign: str) -> bool:
        return campaign in self.campaigns

    @property
    def busy(self) -> bool:
        """On a call, or held for one being dialed or handed over (not a preview on screen)."""
        return self.state == "talking" or (self.state == "reserved" and self.offer is None)
