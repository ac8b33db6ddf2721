"""The campaign resources' bodies: a campaign, its creation and changes, schedule, filter, the
why-not-dialing answer and the report. (The strategy bodies are still schema literals in
appliance/api/campaigns.py.)"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema

from appliance.api.models import Body, Document, component, name_rule, omittable
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
    created_at: float | None = omittable()
    updated_at: float | None = omittable()


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
