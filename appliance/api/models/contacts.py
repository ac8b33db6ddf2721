"""The contact resources' bodies: a pushed record (the record feed), an import's report, a
contact and an attempt's result."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from appliance.api.models import Body, Document, Instant, component, omittable
from appliance.domain import ContactState

Cell = str | None  # a cell of the record; None: not given


class ContactRecord(Body):
    """one contact as the record feed takes it (SPEC D1); times are ISO 8601"""

    # The fields are config.models.CONTACT_COLUMNS (tests/api/test_openapi_models.py checks).
    phone1: str
    phone2: Cell = omittable()
    phone3: Cell = omittable()
    phone4: Cell = omittable()
    phone5: Cell = omittable()
    bp1: Cell = omittable()
    bp2: Cell = omittable()
    bp3: Cell = omittable()
    bp4: Cell = omittable()
    bp5: Cell = omittable()
    bp6: Cell = omittable()
    bp7: Cell = omittable()
    bp8: Cell = omittable()
    bp9: Cell = omittable()
    bp10: Cell = omittable()
    bp11: Cell = omittable()
    bp12: Cell = omittable()
    external_id: Cell = omittable()
    priority: str | int | None = omittable()
    timezone: Cell = omittable()
    callback_at: Cell = omittable()
    owner_agent: Cell = omittable()

    def cells(self) -> dict[str, str]:
        """The fields given, as the text of their cells."""
        return {k: str(v) for k, v in self.model_dump(exclude_unset=True).items()}


class Reject(Document):
    line: int | None = omittable()
    field: str | None = None
    reason: str | None = omittable()
    value: str | None = omittable()


class ImportColumn(Document):
    """one column of the file and the contact field it fills"""

    column: str | None = Field(description="its name in the header; null without a header")
    field: str | None = Field(description="phone1..phone5, bp1..bp12, …; null: left out")


class ImportReport(Document):
    file: str | None = omittable()
    campaign: str
    import_id: int | None = None
    layout: str | None = omittable(
        description="how the file was read: ecm (the ECM column order), header (the header's "
        "names) or a column mapping's name"
    )
    columns: list[ImportColumn] | None = omittable(description="how each column was read")
    rows: int
    imported: int
    rejected: int
    duplicates: int
    dnc: int
    rejects: list[Reject] = Field(
        description="the first 1,000 rejects; all of them: GET .../imports/{id}/rejects"
    )
    rejects_omitted: int | None = omittable(description="rejects beyond those listed")
    rejects_by_reason: dict[str, int] | None = omittable(
        description="every reject's reason with how many rows it rejected"
    )
    rejects_url: str | None = omittable(description="the full reject report")


class ImportPreview(Document):
    """a dry run: how the file would be read and what it would reject; nothing is written"""

    dry_run: bool
    file: str
    campaign: str
    layout: str
    header: bool
    columns: list[ImportColumn]
    rows: int
    valid: int = Field(description="rows that pass the checks (before the campaign's own "
                       "duplicates and DNC lists)")  # fmt: skip
    repeated_in_file: int
    rejected: int
    rejects: list[Reject] = Field(description="the first 20 rejects")
    rejects_by_reason: dict[str, int]


class Contact(Document):
    contact_id: int
    campaign: str
    external_id: str | None = None
    state: Annotated[str, WithJsonSchema({"enum": [s.value for s in ContactState]})]
    attempts: Annotated[
        int | list[Any] | None, WithJsonSchema({"oneOf": [{"type": "integer"}, {"type": "array"}]})
    ] = omittable()


class FlowStep(Document):
    """one step a call flow took (SPEC C14, #23)"""

    at: Instant
    node: str = Field(description="the flow's node; empty for the box's own notes")
    kind: str = Field(description="play, digit, branch, queue, dnc, callback, set_field, …")
    detail: str


class Result(Document):
    seq: int
    attempt_id: int
    contact_id: int
    campaign: str
    status: Annotated[str, WithJsonSchema({"enum": ["done", "dangling"]})]
    outcome: str | None = None
    outcome_code: int | None = None
    contact_state: str | None = omittable()
    direction: Annotated[str, WithJsonSchema({"enum": ["out", "in"]})] | None = omittable(
        description="out: a call or SMS the box made; in: a call it answered (inbound)"
    )
    steps: list[FlowStep] | None = omittable(description="the call flow's steps, in order")
    answers: dict[str, str] | None = omittable(
        description="the call flow's questions (ids) and the answers they got"
    )
    recording_id: int | None = Field(
        None, description="the call's recording (GET /recordings/{id}); null: none (#24)"
    )
    recording_status: str | None = Field(None, description="complete, failed or deleted")
    recording_sha256: str | None = Field(None, description="the recording file's SHA-256")
    email_address: str | None = Field(None, description="an e-mail attempt's address (#26)")
    message_id: str | None = Field(None, description="an e-mail attempt's Message-ID")


class PushedRecord(Document):
    report: ImportReport
    contact: Annotated[
        dict[str, Any] | None,
        WithJsonSchema({"oneOf": [component("Contact"), {"type": "null"}]}),
    ] = omittable()
