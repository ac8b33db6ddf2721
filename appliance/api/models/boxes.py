"""The boxes on the store (#27): each daemon's lines, heartbeat, version and state."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from appliance.api.models import Document, Instant


class BoxLine(Document):
    name: str
    up: bool
    busy: bool
    campaign: str | None = None


class Box(Document):
    id: str = Field(description="the box's `box.id` (default its host name)")
    version: str = Field(description="the dialbox version it runs")
    state: Literal["up", "silent", "stopped", "swept"] = Field(
        description="up: heartbeating; silent: no heartbeat for longer than box.heartbeat_seconds"
        " × 2 (swept once past box.sweep_after_seconds); stopped: stopped cleanly; swept: found"
        " dead, its attempts in flight settled as dangling by another box"
    )
    draining: bool = Field(description="leases nothing new (its calls in flight finish)")
    this_box: bool = Field(description="the box that answered this request")
    lines: list[BoxLine]
    lines_up: int
    started_at: Instant
    heartbeat_at: Instant
    heartbeat_age_seconds: float
    swept_at: Instant | None = None
    swept_by: str | None = None
