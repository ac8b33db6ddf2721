"""Why a campaign dials nothing or fewer than it could (SPEC C12): campaign gates and contact counts in plain words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    external: str | None = None  # an external list that gives no rows, in words (SPEC D9)
    external_note: str | None = None  # what slows it: rows held by others, results owed


@dataclass(frozen=True)
class Explanation:
    campaign: str
    dialing: bool
    headline: str
    blockers: list[dict[str, str]] = field(default_factory=list)  # campaign-wide, in order
    counts: dict[str, int] = field(default_factory=dict)  # Reason value -> contacts
    details: list[str] = field(default_factory=list)  # one line per non-zero reason
    details_title: str = "Contacts:"  # what the details are, in `text`

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
            lines.append(self.details_title)
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
    if gates.external:
        blockers.append({"reason": "external_list", "text": gates.external})
    if gates.no_agent:
        blockers.append({"reason": "no_agent", "text": gates.no_agent})
    slowing: list[dict[str, str]] = []
    if gates.external_note:
        slowing.append({"reason": "external_list", "text": gates.external_note})
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


# --------------------------------------------------------------------------- inbound campaigns
@dataclass(frozen=True)
class InboundGates:
    """What keeps an inbound campaign (SPEC C14) from answering calls, or from answering them
    as meant: its status, its lines, its business hours, its flows, its agents."""

    status: CampaignStatus
    answer_lines: tuple[str, ...] = ()
    # answer line -> "up", "down", "out of service", "disabled in the config", "not in the
    # config", or "unknown" (the daemon never ran)
    line_states: Mapping[str, str] = field(default_factory=dict)
    window_closed: str | None = None  # plain words from CampaignSchedule.closed_reason
    next_open: str | None = None  # when it opens next, as text in the campaign's zone
    flow: str | None = None
    flow_problem: str | None = None  # the flow it names is not defined (or files are broken)
    closed_flow: str | None = None
    closed_flow_problem: str | None = None
    flows_known: tuple[str, ...] = ()  # the flows the config's flow files define
    queues: bool = True  # its calls can reach a queue for an agent
    no_agent: str | None = None  # nobody to take the queue's callers, in words
    overflow: str = "hang_up"
    queue_max_wait: int = 120
    missed_open: int = 0


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names) or "none"


def _line_blocker(gates: InboundGates) -> dict[str, str] | None:
    if not gates.answer_lines:
        return {"reason": "no_line", "text": "it names no line to answer on: set answer_lines"
                " to the configured lines that answer its calls, e.g. answer_lines=[gsm1]"}  # fmt: skip
    states = gates.line_states
    if any(states.get(line) in ("up", "unknown") for line in gates.answer_lines):
        return None
    missing = [line for line in gates.answer_lines if states.get(line) == "not in the config"]
    if len(missing) == len(gates.answer_lines):
        return {"reason": "no_line", "text": f"answer_lines names {_listed(missing)}, which the"
                " config does not have: name configured lines"}  # fmt: skip
    said = "; ".join(f"{line} {states.get(line, 'down')}" for line in gates.answer_lines)
    return {"reason": "line_down", "text": f"no line it answers on is up ({said})"}


def explain_inbound(campaign: str, gates: InboundGates) -> Explanation:
    """An inbound campaign's answer to "why does it answer no call?", most decisive first:
    `blockers` stop it answering; the entries after them say what goes otherwise than meant."""
    blockers: list[dict[str, str]] = []
    warnings: list[dict[str, str]] = []
    if gates.status is CampaignStatus.STOPPED:
        blockers.append({"reason": "stopped", "text": "not started: the campaign is stopped"})
    elif gates.status is CampaignStatus.PAUSED:
        blockers.append({"reason": "paused", "text": "the campaign is paused"})
    line = _line_blocker(gates)
    if line is not None:
        blockers.append(line)
    known = f" (the flow files define: {_listed(gates.flows_known)})"
    if gates.window_closed:
        text = f"the campaign is closed: {gates.window_closed}"
        if gates.next_open:
            text += f"; it opens next at {gates.next_open}"
        if gates.closed_flow and not gates.closed_flow_problem:
            warnings.append({"reason": "closed", "text": text + f"; meanwhile callers hear flow"
                             f" {gates.closed_flow!r}"})  # fmt: skip
        else:
            why = (f"; its closed_flow: {gates.closed_flow_problem}" if gates.closed_flow_problem
                   else "; set closed_flow to a flow callers hear meanwhile")  # fmt: skip
            blockers.append({"reason": "outside_window", "text": text + ": calls ringing in are"
                             " not answered, each kept as a missed call" + why})  # fmt: skip
    if gates.flow_problem:
        warnings.append({"reason": "unknown_flow", "text": f"its flow: {gates.flow_problem};"
                         " callers go straight to the queue meanwhile"})  # fmt: skip
    elif gates.flow is None:
        warnings.append({"reason": "no_flow", "text": "no flow is set: callers go straight to"
                         " the queue; set flow to give them a menu" + known})  # fmt: skip
    if gates.queues and gates.no_agent:
        warnings.append({"reason": "no_agent", "text": f"{gates.no_agent}: a caller who waits"
                         f" for an agent overflows ({gates.overflow}) after"
                         f" {gates.queue_max_wait} s"})  # fmt: skip
    usable = [n for n in gates.answer_lines if gates.line_states.get(n) in ("up", "unknown")]
    down = [n for n in gates.answer_lines if n not in usable]
    if usable and down and not blockers:
        warnings.append({"reason": "line_down", "text": "it answers on "
                         f"{_listed(usable)} only: " + "; ".join(
                             f"{n} {gates.line_states.get(n, 'down')}" for n in down)})  # fmt: skip
    if blockers:
        headline = f"Campaign {campaign} answers no call: {blockers[0]['text']}."
    elif warnings:
        headline = (
            f"Campaign {campaign} answers calls on {_listed(usable)}, but {warnings[0]['text']}."
        )
    else:
        headline = f"Campaign {campaign} answers calls on {_listed(usable)}."
    details = [f"line {n}: {gates.line_states.get(n, 'unknown')}" for n in gates.answer_lines]
    if gates.missed_open:
        details.append(f"{gates.missed_open:,} missed calls open: call them back or dismiss"
                       f" them (GET /missed-calls?campaign={campaign})")  # fmt: skip
    return Explanation(campaign=campaign, dialing=not blockers, headline=headline,
                       blockers=blockers + warnings, counts={}, details=details,
                       details_title="Now:")  # fmt: skip
