"""The campaign resources' bodies: a campaign, its creation and changes, schedule, strategy,
filter, the why-not-dialing answer and the report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, WithJsonSchema

from appliance.api.models import Body, Document, Instant, component, name_rule, omittable
from appliance.domain import CampaignStatus, CampaignType

TypeName = Annotated[str, WithJsonSchema({"enum": [t.value for t in CampaignType]})]
StatusName = Annotated[str, WithJsonSchema({"enum": [s.value for s in CampaignStatus]})]
# The settings model's own schema, as it is published (appliance/api/campaigns.py).
Settings = Annotated[dict[str, Any], WithJsonSchema(component("CampaignSettings"))]


class CampaignContacts(Document):
    total: int | None = omittable()
    by_state: dict[str, int] | None = omittable()


class Campaign(Document):
    id: int
    name: str
    type: TypeName
    region: str
    status: StatusName
    filter: str | None = None
    strategy_id: int | None = None
    settings: Settings
    contacts: CampaignContacts
    created_at: Instant | None = omittable()
    updated_at: Instant | None = omittable()


class CampaignCreate(Body):
    name: Annotated[str, name_rule("campaign")]
    type: TypeName = "agent"
    region: str | None = omittable(description="ISO 3166 code; default: the box's")
    filter: str | None = Field(None, description="a D8 filter expression")
    settings: dict[str, Any] | None = omittable(description="see CampaignSettings")


# Only the fields given change (model_fields_set).
class CampaignUpdate(Body):
    type: TypeName | None = omittable()
    region: str | None = omittable()
    filter: str | None = None
    settings: dict[str, Any] | None = omittable(
        description="only the settings to change; null restores a default"
    )


class Schedule(Body):
    windows: str | None = Field(None, examples=["mon-fri 09:00-17:00"])
    timezone: str | None = None
    start_date: str | None = Field(None, json_schema_extra={"format": "date"})
    end_date: str | None = Field(None, json_schema_extra={"format": "date"})
    skip_holidays: bool | None = omittable()


class Filter(Body):
    filter: str | None


class Why(Document):
    campaign: Any


class Report(Document):
    campaign: str
    by: Literal["hour", "day"]
    timezone: str | None = omittable()
    rows: list[dict[str, Any]]
    contacts_by_state: dict[str, Any]
    outcomes: dict[str, Any] | None = omittable()
    abandon: dict[str, Any]


Action = Annotated[
    str, Field(min_length=1, examples=["retry 2h", "next_number", "close Connected", "block"])
]


class StrategyAttempt(Body):
    # Keys beyond these (wait) are for the strategy's own parser to take or refuse.
    model_config = ConfigDict(extra="allow")

    channel: Literal["voice", "sms"] | None = omittable()
    phone: Annotated[
        int | Literal["next"] | None,
        WithJsonSchema(
            {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 5}, {"const": "next"}]}
        ),
    ] = omittable()


class Strategy(Body):
    """ordered attempts and per-outcome actions (SPEC C4; docs/scheduler.md)"""

    name: str = Field(min_length=1, pattern="\\S")
    attempts: list[StrategyAttempt] | None = omittable(min_length=1)
    on: dict[str, Action] | None = omittable()
    steps_on: dict[str, dict[str, Action]] | None = omittable()
    repeat_last: bool | None = omittable()

    def definition(self) -> dict[str, Any]:
        """The strategy as given, for scheduler.strategy.parse_strategy."""
        return self.model_dump(exclude_unset=True)


class StrategyInForce(Strategy):
    model_config = ConfigDict(
        json_schema_extra={
            "description": "the strategy as stored (what it names and its default; other outcomes"
            " take the built-in table), with warnings about terminal outcomes it changes"
        }
    )

    warnings: list[str] | None = omittable(
        description="each terminal outcome (Connected, AgentTransfer, AgentHangUp,"
        " WrongNumber, Fax, Banned) named with another action than the built-in one"
    )
