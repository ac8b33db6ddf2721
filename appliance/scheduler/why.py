"""Why a campaign dials nothing or fewer than it could (SPEC C12): campaign gates and contact counts in plain words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from appliance.domain import CampaignStatus
from appliance.scheduler.select import Reason

CONTACT_WORDS: dict[Reason, str] = {
    Reason.READY: "ready to dial now",
    Reason.OUTSIDE_HOURS: "callee outside permitted hours ({hours})",
    Reason.WAITING: "waiting for their redial or callback time",
    Reason.DNC: "number on a DNC or block list",
    Reason.EXHAUSTED: "attempts exhausted (per contact or per number)",
    Reason.DAILY_LIMIT: "today's attempt limit reached; again tomorrow",
    Reason.NUMBER_CAP: "number's rolling call cap reached ({cap})",
    Reason.LOCKED_OUT: "locked out after an abandoned call or an answering machine",
    Reason.NO_NUMBER: "no phone number for the next attempt",
    Reason.FILTERED: "left out by the campaign's filter",
    Reason.IN_FLIGHT: "being dialed right now",
    Reason.CLOSED: "finished (connected, closed by the strategy, or DNC-listed at import)",
}

# Reasons that keep a contact out of dialing for now; READY, CLOSED and IN_FLIGHT are context.
BLOCKING = tuple(
    r for r in CONTACT_WORDS if r not in (Reason.READY, Reason.CLOSED, Reason.IN_FLIGHT)
)


@dataclass(frozen=True)
class Gates:
    """Campaign-wide facts that stop or slow dialing, whatever the contacts."""

    status: CampaignStatus
    window_closed: str | None = None  # plain words from CampaignSchedule.closed_reason
    next_open: str | None = None  # when the window opens next, as text
    lines_up: int | None = None  # lines this campaign may use that are up; None: unknown
    abandon_cap: str | None = None  # plain words from limits.abandon_cap_reached
    abandon_ledger: str | None = None  # the figures with AMD false positives, where counted
    no_agent: str | None = None  # an agent campaign with nobody to take its calls, in words
    hours_text: str = ""
    cap_text: str = ""


@dataclass(frozen=True)
class Explanation:
    campaign: str
    dialing: bool
    headline: str
    blockers: list[dict[str, str]] = field(default_factory=list)  # campaign-wide, in order
    counts: dict[str, int] = field(default_factory=dict)  # Reason value -> contacts
    details: list[str] = field(default_factory=list)  # one line per non-zero reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "dialing": self.dialing,
            "headline": self.headline,
            "blockers": self.blockers,
            "counts": self.counts,
            "details": self.details,
        }

    def text(self) -> str:
        lines = [self.headline]
        lines += [f"  - {b['text']}" for b in self.blockers]
        if self.details:
            lines.append("Contacts:")
            lines += [f"  {d}" for d in self.details]
        return "\n".join(lines)


def explain(campaign: str, gates: Gates, counts: Mapping[Reason, int]) -> Explanation:
    """The campaign's answer to "why is it not dialing?", most decisive reason first."""
    blockers: list[dict[str, str]] = []
    if gates.status is CampaignStatus.STOPPED:
        blockers.append({"reason": "stopped", "text": "not started: the campaign is stopped"})
    elif gates.status is CampaignStatus.PAUSED:
        blockers.append({"reason": "paused", "text": "the campaign is paused"})
    if gates.window_closed:
        text = f"the campaign is {gates.window_closed}"
        if gates.next_open:
            text += f"; it opens next at {gates.next_open}"
        blockers.append({"reason": "outside_window", "text": text})
    if gates.lines_up == 0:
        blockers.append({"reason": "no_line", "text": "no line is up for this campaign"})
    if gates.no_agent:
        blockers.append({"reason": "no_agent", "text": gates.no_agent})
    slowing: list[dict[str, str]] = []
    if gates.abandon_cap:
        slowing.append(
            {
                "reason": "abandon_cap",
                "text": gates.abandon_cap + "; predictive pacing falls back to progressive",
            }
        )

    if gates.abandon_ledger and not gates.abandon_cap:
        slowing.append({"reason": "amd_false_positives", "text": gates.abandon_ledger})

    ready = counts.get(Reason.READY, 0)
    total = sum(counts.values())
    words = {
        r: w.format(hours=gates.hours_text, cap=gates.cap_text) for r, w in CONTACT_WORDS.items()
    }
    ordered = sorted(
        (r for r in CONTACT_WORDS if counts.get(r, 0)),
        key=lambda r: (r is not Reason.READY, -counts.get(r, 0)),
    )
    details = [f"{counts[r]:>9,}  {words[r]}" for r in ordered]

    if blockers:
        headline = f"Campaign {campaign} dials nothing: {blockers[0]['text']}."
    elif total == 0:
        headline = f"Campaign {campaign} dials nothing: it has no contacts."
    elif ready == 0:
        top = max(BLOCKING, key=lambda r: counts.get(r, 0))
        if counts.get(top, 0) == 0:
            headline = f"Campaign {campaign} dials nothing: every contact is finished or in flight."
        else:
            headline = (
                f"Campaign {campaign} dials nothing now: no contact may be dialed;"
                f" most are {words[top].split(' (')[0].lower()}."
            )
    elif gates.lines_up is not None and ready < gates.lines_up:
        headline = (
            f"Campaign {campaign} dials fewer than it could: {ready:,} contacts ready"
            f" for {gates.lines_up} lines."
        )
    else:
        headline = f"Campaign {campaign} is dialing: {ready:,} contacts ready now."
    return Explanation(
        campaign=campaign,
        dialing=not blockers and ready > 0,
        headline=headline,
        blockers=blockers + slowing,
        counts={str(r): counts.get(r, 0) for r in CONTACT_WORDS},
        details=details,
    )
