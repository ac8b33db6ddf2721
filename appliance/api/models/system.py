"""The box-wide resources' bodies: the live status, a log line and an audit entry."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from appliance.api.models import Document, Instant, omittable
from appliance.api.models.recordings import RecordingsStatus


class InboundCampaign(Document):
    """an inbound campaign's figures now"""

    name: str
    status: str
    answer_lines: list[str]
    waiting: int = Field(description="callers waiting in its queue for an agent")
    longest_wait_seconds: float = Field(description="how long the first of them has waited")
    ringing: int = Field(description="calls ringing in on its lines, not answered yet")
    in_flow: int = Field(description="answered calls in its call flow (waiting ones too)")
    talking: int = Field(description="answered calls an agent took")
    missed_open: int = Field(description="its missed calls not yet called back or dismissed")
    missed_open_today: int = Field(
        description="of those, the ones whose last call came today (the campaign's timezone)"
    )


class MatchedName(Document):
    """a known contact with a waiting caller's number (the screen pop)"""

    contact_id: int
    campaign: str
    name: str | None = Field(
        None, description="bp1 and bp2 (first and last name), else bp12 (company), else the"
        " external id; null when it has none of them",
    )  # fmt: skip


class WaitingCallerStatus(Document):
    """a caller waiting in a queue, longest first"""

    campaign: str
    line: str
    caller: str | None = Field(None, description="the caller ID as the line gave it")
    withheld: bool
    since: Instant = Field(description="when the caller began to wait")
    waited_seconds: float
    skill: str | None = None
    attempt_id: int
    matched: list[MatchedName]


class RingingStatus(Document):
    """a call ringing in, not answered yet"""

    line: str
    caller: str | None = Field(None, description="the caller ID as the line gave it")
    withheld: bool
    since: Instant
    ringing_seconds: float
    campaign: str | None = Field(
        None, description="the inbound campaign answering on that line; null: none does"
    )
    unanswered: str | None = Field(
        None, description="why it is left ringing (closed, the line busy...); null: it is being"
        " answered",
    )  # fmt: skip


class InboundStatus(Document):
    live: bool = Field(
        description="false when the daemon runs no engine: queues and ringing calls unknown"
    )
    campaigns: list[InboundCampaign]
    waiting: list[WaitingCallerStatus]
    ringing: list[RingingStatus]
    missed_open: int = Field(description="open missed calls of every inbound campaign")


class Status(Document):
    version: str
    time: Instant
    status: str | None = omittable()
    lines: list[dict[str, Any]]
    calls_in_flight: int
    dials_last_minute: int | None = omittable(description="calls dialed in the last two minutes")
    dials_per_minute: list[int] | None = omittable(
        description="calls dialed (not SMS) per minute over the last 30 minutes, oldest first"
    )
    outcomes_last_hour: dict[str, Any] | None = omittable(
        description="ended attempts of the last hour by outcome, calls and SMS together"
    )
    outcomes_last_hour_by_channel: dict[str, dict[str, int]] | None = omittable(
        description="the same apart: 'voice' (calls), 'sms' (an SMS sent is Connected, "
        "one that failed ErrorOccurred) and 'email' (EmailSent, EmailFailed, …; #26)"
    )
    campaigns: list[dict[str, Any]]
    agents: dict[str, Any] | None = omittable()
    inbound: InboundStatus | None = omittable(
        description="inbound campaigns (SPEC C14): their queues, calls ringing in, missed calls"
    )
    recordings: RecordingsStatus | None = omittable(
        description="call recordings (SPEC O9): the last 24 hours, failures and forced deletions"
    )
    figures_as_of: Instant | None = omittable(
        description="when the scanned figures were computed: the abandon rates, the last hour's"
        " outcomes and the recordings' summary (recomputed in the background when 5 s old; the"
        " contacts by state and the dials per minute are current)"
    )
    figures_age_seconds: float | None = omittable(
        description="how old those figures were when this answer was made, in seconds"
    )


class LogLine(Document):
    seq: int | None = omittable()
    time: Instant | None = omittable()
    level: str | None = omittable()
    logger: str | None = omittable()
    message: str | None = omittable()


class AuditEntry(Document):
    id: int
    at: Instant
    actor: str
    action: str
    target: str | None = None
    detail: Any = None
