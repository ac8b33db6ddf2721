"""The box-wide resources' bodies: the live status and a log line."""

from __future__ import annotations

from typing import Any

from appliance.api.models import Document, omittable


class Status(Document):
    version: str
    time: float
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
    time: float | None = omittable()
    level: str | None = omittable()
    logger: str | None = omittable()
    message: str | None = omittable()
