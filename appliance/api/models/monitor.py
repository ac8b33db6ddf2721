"""Listening in on an agent's call (SPEC A6): the supervisor's seat and the mode, and the answer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from appliance.api.models import Body, Document

Mode = Literal["listen", "whisper", "barge"]


class MonitorRequest(Body):
    seat: str = Field(min_length=1, max_length=64,
                      description="the supervisor's seat (a configured seat no agent is "
                      "logged in at); rung when its handset is down")  # fmt: skip
    mode: Mode = Field(description="listen: hears both, says nothing; whisper: heard by the "
                       "agent only; barge: a three-way call")  # fmt: skip
    lift_within: float = Field(15.0, ge=1, le=60,
                               description="seconds the rung handset has to be lifted")  # fmt: skip


class Monitoring(Document):
    agent: str
    seat: str = Field(description="the supervisor's seat")
    mode: Mode
    line: str = Field(description="the line that carries the agent's call")


class MonitorState(Document):
    agent: str
    seat: str | None = Field(None, description="the supervisor's seat; null: nobody listens in")
    mode: Mode | None = None
    line: str | None = Field(None, description="the line that carries the agent's call")
