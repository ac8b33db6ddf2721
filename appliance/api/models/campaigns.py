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
    counts_as_of: Instant | None = omittable(
        description="when the contacts were counted by reason (a scan of the campaign: done at"
        " most every 5 s, and again when the campaign changed); the gates are judged now"
    )
    counts_age_seconds: float | None = omittable(
        description="how old those counts were when this answer was made, in seconds"
    )


class Report(Document):
    campaign: str
    by: Literal["hour", "day"]
    timezone: str | None = omittable()
    rows: list[dict[str, Any]]
    contacts_by_state: dict[str, Any]
    outcomes: dict[str, Any] | None = omittable()
    abandon: dict[str, Any]


# A strategy's values are checked by its own parser (appliance/scheduler/strategy.py), whose
# errors name the key path and what it expects; the schemas here say the shapes it takes.
Delay = Annotated[
    float | str,
    WithJsonSchema(
        {
            "type": ["string", "number"],
            "minimum": 0,
            "description": "a delay: 90s, 30m, 2h, 1d, 1h30m, or seconds",
            "examples": ["5m", "2h", "1d", "90s", "1h30m", 600],
        }
    ),
]
ACTIONS = "retry, next_number, sms, email, block or close"


class ActionMapping(Body):
    """an action as a mapping, e.g. {action: sms, after: 5m} or {action: close, state: Connected}"""

    action: str = Field(min_length=1, description=ACTIONS, examples=["retry", "sms", "close"])
    after: Delay | None = omittable()
    state: str | None = omittable(
        description="close only: the C11 state to close with", examples=["Connected"]
    )


Action = Annotated[
    str | ActionMapping,
    Field(
        description=f"an action ({ACTIONS}) as text with its delay or state, e.g. 'retry 2h',"
        " 'close Connected', or as a mapping, e.g. {action: sms, after: 5m}",
        examples=["retry 2h", "next_number", "close Connected", {"action": "sms", "after": "5m"}],
    ),
]
Actions = Annotated[
    dict[str, Action],
    Field(description="outcome (a C11 name, alias or code) -> action; under `on`, `default` too"),
]


class StrategyAttempt(Body):
    """one planned attempt"""

    channel: Literal["voice", "sms", "email"] | None = omittable()
    phone: Annotated[
        int | Literal["next", "same"] | None,
        WithJsonSchema(
            {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 5}, {"enum": ["next", "same"]}]}
        ),
    ] = omittable()
    wait: Delay | None = omittable(
        description="SMS only: how long to wait for a reply (state SMS sent) before the next attempt"
    )


class Strategy(Body):
    """ordered attempts and per-outcome actions (SPEC C4; docs/scheduler.md)"""

    name: str = Field(min_length=1, pattern="\\S")
    attempts: list[StrategyAttempt] | None = omittable(min_length=1)
    on: Actions | None = omittable()
    steps_on: dict[str, Actions] | None = omittable(
        description="attempt number (1-based) -> its own outcome -> action overrides"
    )
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
