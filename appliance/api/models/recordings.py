"""The recordings resource's body (SPEC O9, #24): one recording's row."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from appliance.api.models import Document, Instant


class Recording(Document):
    """a call recording: its file (complete), why there is none (failed), or when and why it
    was removed (deleted — the row stays)"""

    id: int
    attempt_id: int = Field(description="the call's attempt (GET /contacts/{id} shows it)")
    campaign: str
    line: str
    number: str = Field(description="the far end, E.164")
    agent: str | None = Field(None, description="the agent who took the call, if one did")
    direction: Annotated[str, WithJsonSchema({"enum": ["outbound", "inbound"]})]
    started_at: Instant
    duration: float = Field(description="seconds of audio (20 ms frames)")
    format: Annotated[str, WithJsonSchema({"enum": ["flac", "opus", "wav"]})]
    bytes: int = Field(description="the file's size; 0 without one")
    sha256: str | None = Field(
        None, description="the file's SHA-256 (hex), taken when it was written"
    )
    status: Annotated[str, WithJsonSchema({"enum": ["complete", "failed", "deleted"]})]
    error: str | None = Field(
        None, description="failed: why the call went unrecorded; deleted: a note on the deletion"
    )
    frames_lost: int = Field(
        description="20 ms frames the file lacks (written as silence): the disk fell behind"
    )
    deleted_at: Instant | None = None
    deleted_why: str | None = Field(
        None, description="age (retain_days), budget (budget_mb), or who deleted it (api:<token>)"
    )
    audio: str | None = Field(None, description="where to fetch the audio; null without a file")


class RecordingsStatus(Document):
    """call recordings of the last 24 hours, and what needs a look (#24)"""

    last_24h: dict[str, int] = Field(
        description="recordings started by status (complete, failed, deleted), and deletions by"
        " reason (deleted_age, deleted_budget, deleted_api)"
    )
    kept_bytes: int = Field(description="bytes of the recording files kept")
    last_failure: dict[str, Any] | None = Field(
        None, description="the latest failed recording: id, started_at, error"
    )
    alerts: list[str] = Field(
        description="recordings that failed, deletions the disk budget forced: what to do"
    )
