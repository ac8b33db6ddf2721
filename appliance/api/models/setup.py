"""First-run setup's bodies: the box as configured, a change to it, a probe, a new token."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from appliance.api.models import Body, Document, name_rule, omittable
from appliance.store.tokens import Scope

Hours = Annotated[str, Field(pattern="^([01][0-9]|2[0-3]):[0-5][0-9]$")]
LineName = Annotated[str, name_rule("line")]
TokenName = Annotated[str, name_rule("token")]


class Setup(Document):
    config: dict[str, Any]
    ports: list[dict[str, Any]]
    tokens: list[dict[str, Any]]


class Probe(Body):
    device: str = Field(min_length=1)


class CallingHours(Body):
    start: Hours
    end: Hours


class SetupChange(Body):
    """what first-run setup changes in the config file; omitted keys stay"""

    region: str | None = omittable(min_length=2, max_length=3)
    timezone: str | None = omittable(min_length=1)
    compliance_profile: Literal["us", "uk", "fr", "custom"] | None = omittable()
    holidays_country: str | None = None
    calling_hours: CallingHours | None = omittable(
        description="the box's hours: they narrow the us, uk and fr profiles' hours"
    )
    custom_calling_hours: str | None = omittable(
        min_length=1,
        max_length=200,
        description="the custom profile's hours (config compliance.calling_hours), weekday "
        "windows in the callee's local time, e.g. 'mon-fri 09:00-20:00'",
    )
    pin_lines: dict[str, list[Annotated[str, Field(min_length=1)]]] | None = omittable(
        description="line name -> the only campaigns it serves ([] unpins)"
    )
    name_lines: dict[str, LineName] | None = omittable(description="device path -> line name")


class SetupChanged(Document):
    restart_needed: Any


class TokenCreate(Body):
    name: TokenName
    scope: Scope = "crm"


class TokenCreated(Document):
    name: Any
    token: Any
