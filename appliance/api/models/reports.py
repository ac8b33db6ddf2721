"""The reports' documents (SPEC O7): rows per period and agent, line or campaign, their totals, the
series across them per period, and the whole period's figures (appliance/store/reports.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from appliance.api.models import Document

Iso = str  # ISO 8601 with the box's UTC offset, e.g. 2026-03-08T03:00:00-04:00


class AgentFigures(Document):
    calls: int = Field(description="calls joined to the agent")
    talk_seconds: float
    wrap_seconds: float
    paused_seconds: float
    logged_in_seconds: float
    occupancy: float | None = Field(
        description="(talk + wrap-up) / logged-in time; null: not logged in"
    )
    dispositions: dict[str, int] = Field(description="calls by the disposition the agent set")


class AgentTotal(AgentFigures):
    agent: str


class AgentRow(AgentTotal):
    period: Iso


class AgentPeriod(AgentFigures):
    period: Iso


class LineFigures(Document):
    attempts: int
    calls: int
    sms: int
    human: int
    machine: int
    no_answer: int
    busy: int
    invalid: int
    faults: int = Field(description="NoLine, ErrorOccurred, dangling attempts, SMS not sent")
    busy_seconds: float = Field(description="time in calls, from the dial to the end")


class LineTotal(LineFigures):
    line: str | None = Field(description="null: attempts no line carried")
    signal_dbm: int | None = Field(description="the last signal reading the daemon recorded")
    state: str | None = Field(None, description="up or down when last recorded (totals)")
    last_error: str | None = Field(None, description="the line's last error (totals)")
    recorded_at: Iso | None = Field(None, description="when the daemon recorded these (totals)")


class LineRow(LineTotal):
    period: Iso


class LinePeriod(LineFigures):
    period: Iso


class CampaignFigures(Document):
    attempts: int = Field(description="voice calls, SMS and e-mails")
    calls: int
    connects: int = Field(description="calls answered (or abandoned)")
    human: int = Field(description="connects not answered by a machine or fax")
    to_agent: int
    abandoned: int
    abandon_rate: float | None = Field(description="abandoned / connects; null: no connects")
    talk_seconds: float
    sms_sent: int
    sms_failed: int
    sms_replied: int = Field(description="contacts sent an SMS here who replied since")
    email_sent: int = Field(description="e-mails the relay took (bounced ones too; #26)")
    email_failed: int = Field(description="e-mails the relay refused, or given up")
    email_bounced: int = Field(description="e-mails a bounce came back for")
    dnc_skips: int = Field(description="contacts an import set aside as DNC listed")


class CampaignTotal(CampaignFigures):
    campaign: str


class CampaignRow(CampaignTotal):
    period: Iso


class CampaignPeriod(CampaignFigures):
    period: Iso


class _Period(Document):
    from_: Iso = Field(alias="from")
    to: Iso = Field(description="exclusive")
    by: Literal["hour", "day", "total"]
    timezone: str
    campaign: str | None
    columns: list[str] = Field(description="the CSV's columns, in order")


class AgentsReport(_Period):
    report: Literal["agents"]
    rows: list[AgentRow]
    totals: list[AgentTotal]
    series: list[AgentPeriod]
    total: AgentFigures


class LinesReport(_Period):
    report: Literal["lines"]
    rows: list[LineRow]
    totals: list[LineTotal]
    series: list[LinePeriod]
    total: LineFigures


class CampaignsReport(_Period):
    report: Literal["campaigns"]
    rows: list[CampaignRow]
    totals: list[CampaignTotal]
    series: list[CampaignPeriod]
    total: CampaignFigures
