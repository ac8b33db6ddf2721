"""The line resources' bodies: a line's state, a test call and a test SMS with their outcomes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from appliance.api.models import Body, Document, omittable
from appliance.drivers.line import DEFAULT_RING_TIMEOUT


class Line(Document):
    name: str
    kind: Literal["gsm", "v253", "can"]
    device: str | None = omittable()
    state: Literal["up", "down", "busy", "disabled"]
    enabled: bool
    signal_dbm: int | None = None
    operator: str | None = None
    registration: str | None = omittable()
    sim: str | None = omittable()
    campaign: str | None = None
    call_seconds: float | None = None
    last_error: str | None = None
    campaigns: list[str] | None = omittable()
    audio: bool = Field(False, description="the call's sound reaches the box: recording, AMD")
    audio_path: str | None = Field(None, description='the audio path, or "no audio path: <why>"')
    conference: list[Literal["listen", "whisper", "barge"]] = Field(
        default_factory=list,
        description="how a supervisor's seat can join a call on this line (POST "
        "/agents/{name}/monitor); [] where it cannot",
    )
    conference_path: str | None = Field(
        None, description="how a supervisor joins this line's calls, or why one cannot"
    )


class TestCall(Body):
    number: str = Field(min_length=1)
    ring_timeout: float = Field(DEFAULT_RING_TIMEOUT, ge=15, le=120)
    hold: float = Field(
        5, ge=0, le=120, description="once answered, hang up after this many seconds"
    )


class TestSms(Body):
    number: str = Field(min_length=1)
    text: str = Field(min_length=1, max_length=1600)


# The line's CallResult.to_dict() and SmsResult.to_dict(); documented by their required keys.
class CallResult(Document):
    outcome: Any
    code: Any


class SmsResult(Document):
    status: Any
    parts: Any
