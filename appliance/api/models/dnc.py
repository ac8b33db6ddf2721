"""The DNC resources' bodies: an entry, a change to the lists and what it did, a number's check."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from appliance.api.models import Body, Document, omittable


class DncEntry(Document):
    e164: str
    list: str = Field(description="global, campaign:<name> or block")
    reason: str | None = None
    active: bool


class DncChange(Body):
    numbers: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1, max_length=10000)
    campaign: str | None = omittable(min_length=1, description="its list; default: global")
    block: bool = Field(False, description="the permanent block list")
    reason: str | None = omittable()
    expires: str | None = omittable(description="a date or date-time, or a duration such as 90d")


class DncChanged(Document):
    list: Any


class DncCheck(Document):
    number: str | None = omittable()
    e164: str
    campaign: str | None = None
    listed: bool
    lists: list[DncEntry]
    expired: list[DncEntry] | None = omittable()
