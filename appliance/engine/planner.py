"""The engine's seam to the scheduler: which contacts to dial on which lines, and what follows an outcome.

The engine asks these questions every round; the answers come from the pure scheduler over the
store's candidate queries. Keeping them behind one small interface keeps the dial loop about
lines and calls only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from appliance.domain import Channel, Outcome
from appliance.engine.rules import CampaignRules
from appliance.errors import DialboxError
from appliance.flows import FlowResult
from appliance.store.attempts import DANGLING_EVIDENCE, Completion, DecideDangling, Lease
from appliance.store.campaigns import CampaignRow, get_campaign_by_id
from appliance.store.db import Database
from appliance.store.flowrecords import flow_payload

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
    flow: FlowResult | None = None  # the call flow an answered automated call ran


def attempt_payload(
    campaign: str, got: Lease, report: AttemptReport, now: float, channel: str
) -> dict[str, Any]:
    """An outbound attempt's webhook document: the attempt, and what a call flow gave
    (direction, steps, answers, disposition, fields: `store.flowrecords.flow_payload`; without
    a flow, the report's disposition). The dialer's calls and SMS and the mailer's e-mails."""
    made = flow_payload(report.flow, now, "out")
    if report.flow is None:
        made["disposition"] = report.disposition
    return made | {
        "campaign": campaign,
        "contact_id": got.contact_id,
        "attempt_id": got.attempt_id,
        "attempt_no": got.attempt_no,
        "number": got.number,
        "channel": channel,
        "line": report.line,
        "outcome": report.outcome.label,
        "code": int(report.outcome),
        "dialed_at": report.dialed_at,
        "answered_at": report.answered_at,
        "ended_at": now,
    }


@dataclass(frozen=True)
class RoundState:
    """What the engine knows at the start of a round, for the planner's one call (`assign`)."""

    now: float
    free_lines: Sequence[str]
    pins: Mapping[str, tuple[str, ...]]  # line -> the campaigns it is pinned to (none: any)
    busy: Mapping[str, int]  # campaign name -> lines it uses now
    in_flight: frozenset[int] = frozenset()  # contacts being dialed now
    # Agent campaigns (A1-A5), by name: the dials their pacing allows now, the contacts held
    # back (callbacks of absent owners, previews on screen) and the free lines that can reach
    # a seat of their agents (a call answered on another could only be abandoned).
    wanted: Mapping[str, int] = field(default_factory=dict)
    held: Mapping[str, frozenset[int]] = field(default_factory=dict)
    reachable: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Assignment:
    """One campaign's dials this round, each with the free line it goes out on, in order."""

    campaign: CampaignRow
    dials: tuple[tuple[Pick, str], ...]


class Planner(Protocol):
    def running(self) -> Sequence[CampaignRow]:
        """Campaigns whose status is running, as the store has them now (SPEC C9: live edits),
        that dial: not inbound ones."""
        ...

    def assign(self, campaigns: Sequence[CampaignRow], state: RoundState) -> list[Assignment]:
        """The round's dials: free lines shared by weights, pins and caps (SPEC C7), and each
        campaign's picks on its lines (C3, C5, C6, D7, D8), capped by `state.wanted`."""
        ...

    def pick(self, campaign: CampaignRow, now: float, count: int, exclude: set[int]) -> list[Pick]:
        """Up to `count` dials for the campaign now, in order (SPEC C3, C5, C6, D7, D8): one
        campaign's, outside the round (an agent's next preview, A2)."""
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

    def rules_for(self, campaign: CampaignRow) -> CampaignRules:
        """The campaign's rules as the store has them now: its schedule (an inbound campaign's
        business hours) and its profile's calling hours (a callback's next permitted time)."""
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
