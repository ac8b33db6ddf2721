"""A campaign's typed settings (the JSON `settings` column) and how `campaign set KEY=VALUE` parses them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from appliance import names
from appliance.config.models import DialboxConfig, check_timezone
from appliance.errors import DialboxError

# Dates kept as ISO text in the settings JSON column.
IsoDate = Annotated[dt.date, PlainSerializer(lambda d: d.isoformat(), return_type=str)]

Pacing = Literal["manual", "preview", "timed_preview", "progressive", "predictive"]


class CampaignSettings(BaseModel):
    """Everything about a campaign that is not its name, type, region, status or filter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order: Literal["fifo", "lifo"] = "fifo"
    timezone: str | None = None  # campaign windows' zone; None: the box's timezone
    profile: Literal["us", "uk", "fr", "custom"] | None = None  # None: the box's profile
    pacing: Pacing = "progressive"
    ratio: float = Field(default=1.0, ge=0.1, le=10.0)
    preview_seconds: int = Field(default=30, ge=1, le=3600)
    skill: str | None = Field(default=None, max_length=64)  # agents must have it (A1)
    ring_timeout: int = Field(default=25, ge=15, le=120)  # SPEC C6: at least 15 s
    max_attempts: int = Field(default=10, ge=1, le=1000)
    max_attempts_per_number: int = Field(default=5, ge=1, le=1000)
    max_attempts_per_day: int = Field(default=3, ge=1, le=1000)
    weight: int = Field(default=1, ge=1, le=1000)
    max_lines: int | None = Field(default=None, ge=1)
    caller_id: str | None = None
    mapping: str | None = None  # named column mapping from config `import.mappings`
    webhook: str | None = None
    message: str | None = None  # automated campaigns: message played on answer
    # Automated and inbound campaigns: the call flow (IVR, docs/flows.md) an answered call runs,
    # by its name in the config's flow files (checked where the config is known: API, CLI).
    flow: str | None = Field(default=None, max_length=64)
    sms_text: str | None = None  # SMS campaigns and voice->SMS switches
    # Schedule (SPEC C2): weekday windows in `timezone`, e.g. "mon-fri 09:00-17:00; sat 10:00-14:00"
    # (None: any time), an inclusive date range, and the box's public holidays skipped.
    windows: str | None = None
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None
    skip_holidays: bool = True
    strategy: str | None = None  # a stored strategy's name (SPEC C4); None: the default strategy
    # Calls per number in a rolling 30 days, across the box (None: only the profile's cap).
    max_attempts_per_30_days: int | None = Field(default=None, ge=1, le=1000)
    abandon_lockout_hours: float = Field(default=0.0, ge=0.0, le=8760.0)  # beyond the profile's
    # Share of live answers the answering-machine detection takes for machines and hangs up on
    # (measured by the campaign, e.g. 0.02). Profiles that count them (uk: Ofcom) add the
    # estimate to the abandon figure the cap is judged on (SPEC C13, #19).
    amd_false_positive: float = Field(default=0.0, ge=0.0, le=0.5)

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from appliance.scheduler.windows import parse_weekly

        return parse_weekly(value).describe()

    @model_validator(mode="after")
    def _dates(self) -> CampaignSettings:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @field_validator("flow")
    @classmethod
    def _flow_name(cls, value: str | None) -> str | None:
        if value is not None and re.fullmatch(names.PATTERN, value) is None:
            raise ValueError(f"flow name {value!r} is not allowed: {names.RULE}")
        return value


def check_flow(name: str | None, config: DialboxConfig) -> None:
    """A campaign's `flow` names a flow of the config's flow files; DialboxError (the API's 422)
    saying which flows there are, or what is wrong with the files."""
    if name is None:
        return
    from appliance.config.loader import ConfigError, config_flows

    try:
        flows = config_flows(config)
    except ConfigError as exc:
        raise DialboxError(
            f"flow {name!r} cannot be checked: the flow files have problems "
            f"(`dialbox check-config` lists them all): {exc.problems[0]}"
        ) from None
    if name not in flows:
        known = ", ".join(sorted(flows)) or "none (list flow files under flows: in dialbox.yaml)"
        raise DialboxError(f"no flow named {name!r}; the flow files define: {known}")


SETTING_KEYS = tuple(CampaignSettings.model_fields)


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """`KEY=VALUE` words into a dict, with a clear error for a word without `=`."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise DialboxError(f"expected KEY=VALUE, got {pair!r}")
        out[key.strip().lower()] = value
    return out


def apply_settings(current: CampaignSettings, changes: dict[str, str]) -> CampaignSettings:
    """Return new settings with `changes` (raw strings) applied and validated."""
    unknown = sorted(set(changes) - set(SETTING_KEYS))
    if unknown:
        raise DialboxError(
            f"unknown campaign setting(s): {', '.join(unknown)}; "
            f"allowed: type, region, filter, {', '.join(SETTING_KEYS)}"
        )
    data: dict[str, Any] = current.model_dump()
    for key, raw in changes.items():
        data[key] = _scalar(raw)
    try:
        return CampaignSettings.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise DialboxError("invalid campaign setting: " + "; ".join(problems)) from None


def _scalar(raw: str) -> Any:
    """Interpret a command-line value as YAML would (`4` is a number, `none` clears)."""
    if raw.strip().lower() in ("", "none", "null"):
        return None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
