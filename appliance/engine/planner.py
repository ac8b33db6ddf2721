"""The engine's seam to the scheduler: which contacts to dial on which lines, and what follows an outcome.

The engine asks these questions every round; the answers come from the pure scheduler over the
store's candidate queries. Keeping them behind one small interface keeps the dial loop about
lines and calls only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from appliance.domain import Channel, Outcome
from appliance.errors import DialboxError
from appliance.store.attempts import DANGLING_EVIDENCE, Completion, DecideDangling, Lease
from appliance.store.campaigns import CampaignRow, get_campaign_by_id
from appliance.store.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pick:
    """One dial the scheduler allows now."""

    contact_id: int
    phone_index: int
    number: str
    channel: Channel
    reason: str = ""


@dataclass(frozen=True)
class AttemptReport:
    """What the engine saw of one attempt, for the strategy to decide what follows."""

    outcome: Outcome
    evidence: Sequence[str] = ()
    dialed_at: float | None = None
    answered_at: float | None = None
    line: str | None = None
    agent: str | None = None
    disposition: str | None = None


class Planner(Protocol):
    def running(self) -> Sequence[CampaignRow]:
        """Campaigns whose status is running, as the store has them now (SPEC C9: live edits)."""
        ...

    def share(
        self,
        free_lines: Sequence[str],
        pins: dict[str, tuple[str, ...]],
        busy: dict[str, int],
        campaigns: Sequence[CampaignRow],
        wanted: Mapping[str, int] | None = None,
    ) -> dict[str, list[str]]:
        """Free lines by campaign name: weights, pins and caps (SPEC C7); `wanted` caps the
        dials of campaigns paced by their agents (A3, A4)."""
        ...

    def pick(self, campaign: CampaignRow, now: float, count: int, exclude: set[int]) -> list[Pick]:
        """Up to `count` dials for the campaign now, in order (SPEC C3, C5, C6, D7, D8)."""
        ...

    def abandon_cap(self, campaign: CampaignRow) -> float | None:
        """The campaign's abandon cap as a fraction of answered calls (None: no cap)."""
        ...

    def false_positive_share(self, campaign: CampaignRow) -> float:
        """The campaign's AMD false-positive share where its profile counts them, else 0."""
        ...

    def check(self, campaign: CampaignRow, contact_id: int, now: float) -> Pick | str:
        """One contact dialed now by an agent's choice (A5), or why not."""
        ...

    def decide(
        self, campaign: CampaignRow, lease: Lease, report: AttemptReport, now: float
    ) -> Completion:
        """The strategy's answer to an outcome: next state, redial time, phone, block (SPEC C4)."""
        ...


def dangling_decider(planner: Planner, db: Database, requeue_delay: float) -> DecideDangling:
    """What follows a dangling attempt with `dangling_action: requeue` (SPEC C8): the strategy's
    and the limits' answer, as for any outcome, to ErrorOccurred — no outcome came back, the
    box's own trouble — so the last allowed attempt closes the contact (Retries Completed) and
    a redial is never due sooner than `requeue_delay`, since the callee may have been rung.
    None (the contact closes as Dangling) when the campaign's rules cannot be read."""

    def decide(got: Lease, now: float) -> Completion | None:
        try:
            campaign = get_campaign_by_id(db, got.campaign_id)
            report = AttemptReport(Outcome.ERROR_OCCURRED, (DANGLING_EVIDENCE,))
            done = planner.decide(campaign, got, report, now)
        except (DialboxError, LookupError) as exc:
            log.error("attempt %s: no decision for its dangling call: %s", got.attempt_id, exc)
            return None
        if done.next_at is not None:
            done = dataclasses.replace(done, next_at=max(done.next_at, now + requeue_delay))
        return done

    return decide
