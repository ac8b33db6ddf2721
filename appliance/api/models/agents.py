"""The agent resources' bodies: an agent, its position, login, pause, disposition, a manual dial
and the agent's list."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, RootModel

from appliance.api.models import Body, Document, Instant, omittable

Int64 = Annotated[int, Field(ge=1, le=2**63 - 1)]


class Agent(Document):
    name: str
    group: str | None = None
    skills: list[str] | None = omittable()
    extension: str | None = Field(None, description="the agent's usual seat")
    state: Literal["logged_out", "ready", "reserved", "talking", "wrap_up", "paused"]
    reason: str | None = None
    seat: str | None = None
    seat_up: bool | None = None
    campaigns: list[str] | None = omittable()
    since: Instant | None = Field(None, description="when the agent entered this state")
    wrap_until: Instant | None = Field(None, description="when the wrap-up ends")
    call: dict[str, Any] | None = Field(
        None,
        description="the screen pop: the call (started_at, connected_at, ended_at: ISO 8601)"
        " and the contact",
    )
    preview: dict[str, Any] | None = Field(
        None, description="a contact shown before dialing (offered_at, dials_at: ISO 8601)"
    )


class AgentPosition(Body):
    extension: str | None = Field(None, max_length=64)
    group: str | None = Field(None, max_length=64)
    skills: list[Annotated[str, Field(max_length=64)]] | None = omittable(max_length=32)


class AgentLogin(Body):
    seat: str | None = omittable(min_length=1, max_length=64)
    campaigns: list[Annotated[str, Field(min_length=1)]] = Field(max_length=64)
    ready: bool = False


class AgentPause(Body):
    reason: str | None = omittable(max_length=200)


class AgentDisposition(Body):
    disposition: str = Field(
        min_length=1,
        max_length=64,
        description="a disposition code of the call's campaign (GET /campaigns/{name}/desk)",
    )
    attempt_id: Int64 | None = omittable()
    callback_at: str | None = Field(
        None,
        json_schema_extra={"format": "date-time"},
        description="ISO 8601 with an offset, e.g. 2026-11-24T10:00:00Z: the callback's time,"
        " which a code that needs a date requires (and no other code takes)",
    )
    callback_for: Literal["self", "group", "anyone"] | None = Field(
        None, description="whose callback it is; none: the disposition's own, else self"
    )
    note: str | None = Field(
        None, max_length=200, description="free text kept with the disposition (its audit entry)"
    )
    dnc: bool = Field(False, description="also put the number on the campaign's DNC list")
    pause: bool = Field(False, description="pause after this call instead of going ready")


class DeskDisposition(Document):
    code: str
    label: str
    action: str = Field(description="close STATE, retry DELAY, callback, block, dnc or sms [DELAY]")
    after: float | None = Field(None, description="retry, sms: seconds before the next attempt")
    state: str | None = Field(None, description="close, dnc: the state the contact closes as")
    needs_date: bool = Field(description="the agent must give callback_at")
    callback_for: Literal["self", "group", "anyone"] | None = Field(
        None, description="a callback's owner unless the agent says otherwise"
    )


class CampaignDesk(Document):
    campaign: str
    script: str | None = Field(None, description="the text shown to the agent during the call")
    dispositions: list[DeskDisposition]


class AgentDial(Body):
    campaign: str = Field(min_length=1)
    contact_id: Int64


class AgentDialed(Document):
    attempt_id: int


class AgentListItem(Document):
    contact_id: Any
    callback_due: Any
    callback_at: Instant | None = None
    next_at: Instant | None = None


class AgentList(RootModel[list[AgentListItem]]):
    pass
