"""The error body every operation may answer with: RFC 9457 problem details (api/problems.py)."""

from __future__ import annotations

from pydantic import Field

from appliance.api.models import Document, omittable


class ProblemError(Document):
    where: str | None = omittable(description="the field (body.settings.ratio) or the parameter")
    pointer: str | None = omittable(
        description="the RFC 6901 JSON pointer of the field in the body"
    )
    message: str | None = omittable()


class Problem(Document):
    type: str
    title: str
    status: int
    detail: str = Field(description="what went wrong and what to do about it")
    instance: str | None = omittable()
    errors: list[ProblemError] | None = omittable()
