"""The scheduled-actions resource's bodies (SPEC C2): an action to add, one action, a campaign's."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema

from appliance.api.models import Body, Document, omittable

IsoTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
IsoTimeOrNull = Annotated[
    str | None, WithJsonSchema({"type": ["string", "null"], "format": "date-time"})
]


class ScheduledActionCreate(Body):
    action: Literal["start", "pause", "resume", "stop"]
    at: str = Field(
        min_length=1,
        max_length=64,
        description="HH:MM: every day (or on `days`); YYYY-MM-DD HH:MM: once, in `timezone`;"
        " an ISO 8601 instant with its offset: once",
        examples=["12:00", "2026-03-02 09:00", "2026-03-31T18:00:00+02:00"],
    )
    days: str | None = omittable(
        max_length=64,
        description="with `at: HH:MM` only: mon-fri, weekdays, weekends, sat,sun; default daily",
    )
    timezone: str | None = omittable(
        max_length=64,
        description="IANA zone `at` is read in; default: the campaign's, else the box's",
    )


class ScheduledAction(Document):
    id: int
    action: Literal["start", "pause", "resume", "stop"]
    at: str = Field(
        description="HH:MM (repeats), or the instant in ISO 8601 with the zone's offset"
    )
    days: str | None = Field(description="the days a repeating action is due on; null: once")
    timezone: str
    repeats: bool
    source: Literal["api", "cli", "config"]
    next_due: IsoTimeOrNull = Field(description="UTC; null: a one-off that is done")
    next_due_local: IsoTimeOrNull = Field(description="the same instant in `timezone`")
    last_due: IsoTimeOrNull = Field(description="the occurrence last applied (UTC)")
    last_applied: IsoTimeOrNull = Field(
        description="when the box applied it (later than last_due after a catch-up)"
    )
    last_result: str | None = Field(description="what it did, e.g. 'running → paused'")
    created_at: IsoTime
    created_by: str


class ScheduledActions(Document):
    campaign: str
    status: str
    timezone: str = Field(description="the zone new actions are read in unless they name one")
    now: IsoTime
    next_due: ScheduledAction | None = Field(description="the action due soonest")
    last_applied: ScheduledAction | None = Field(description="the action applied last")
    actions: list[ScheduledAction]
