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
    dials_last_minute: int | None = omittable()
    dials_per_minute: list[int] | None = omittable(description="the last 30 minutes, oldest first")
    outcomes_last_hour: dict[str, Any] | None = omittable()
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
