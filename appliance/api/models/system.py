"""The box-wide resources' bodies: the live status, a log line and an audit entry."""

from __future__ import annotations

from typing import Any

from appliance.api.models import Document, Instant, omittable


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
        description="the same apart: 'voice' (calls) and 'sms' (an SMS sent is Connected, "
        "one that failed ErrorOccurred)"
    )
    campaigns: list[dict[str, Any]]
    agents: dict[str, Any] | None = omittable()


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
