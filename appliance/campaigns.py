"""A campaign's typed settings (the JSON `settings` column) and how `campaign set KEY=VALUE` parses them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
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
from appliance.config.models import DialboxConfig, LineName, check_timezone
from appliance.dispositions import (
    MAX_DISPOSITIONS,
    MAX_SCRIPT,
    DispositionSpec,
    check_list,
    list_shape,
)
from appliance.errors import DialboxError
from appliance.names import MAX_LENGTH, PATTERN

# Dates kept as ISO text in the settings JSON column.
IsoDate = Annotated[dt.date, PlainSerializer(lambda d: d.isoformat(), return_type=str)]

Pacing = Literal["manual", "preview", "timed_preview", "progressive", "predictive"]
# A flow's name (config `flows:`, appliance/flows) as a campaign names it.
FlowName = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH, pattern=PATTERN)]
Overflow = Literal["hang_up", "callback", "node"]


class AmdSettings(BaseModel):
    """Answering-machine detection on the audio path (SPEC H7, #24): the greeting-length logic
    of Asterisk's app_amd, its amd.conf defaults (milliseconds), and the decision budget: a call
    still undecided ``budget`` ms after the answer is taken for a person (handed on in time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_silence: int = Field(default=2500, ge=100, le=10_000)
    greeting: int = Field(default=1500, ge=100, le=10_000)
    after_greeting_silence: int = Field(default=800, ge=100, le=10_000)
    total_analysis_time: int = Field(default=5000, ge=500, le=30_000)
    min_word_length: int = Field(default=100, ge=10, le=5000)
    between_words_silence: int = Field(default=50, ge=10, le=5000)
    maximum_number_of_words: int = Field(default=2, ge=1, le=20)
    silence_threshold: int = Field(default=256, ge=0, le=32767)
    maximum_word_length: int = Field(default=5000, ge=100, le=30_000)
    budget: int = Field(default=1900, ge=500, le=30_000)


MachineAction = Literal["hang_up", "message", "live"]


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
    # The e-mail step (#26, docs/email.md): the business parameter holding the contact's
    # address, and the template (config email.templates) its message is made from.
    email_field: str | None = Field(default=None, pattern=r"^bp([1-9]|1[0-2])$")
    email_template: str | None = Field(default=None, min_length=1, max_length=MAX_LENGTH)
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
    # Inbound campaigns (SPEC C14, #23). Their `windows` are the business hours, `skill` the
    # skill their queue asks of agents, `flow` the call flow a caller hears first.
    answer_lines: tuple[LineName, ...] = Field(default=(), max_length=256)
    closed_flow: FlowName | None = None  # outside the windows; None: not answered (missed call)
    queue_max_wait: int = Field(default=120, ge=5, le=3600)  # seconds before the overflow
    overflow: Overflow = "hang_up"
    overflow_node: str | None = Field(default=None, min_length=1, max_length=MAX_LENGTH)
    overflow_message: str | None = Field(default=None, min_length=1, max_length=255)
    callback_campaign: str | None = Field(default=None, min_length=1, max_length=MAX_LENGTH)
    inbound_first: bool = True  # agents shared with outbound campaigns take inbound calls first
    # Seconds between announcements of a waiting caller's place in the queue, where the line can
    # play (prompts queue-position-1 … queue-position-9, queue-position-many); None: none.
    announce_position: int | None = Field(default=None, ge=5, le=600)
    # The audio path (SPEC O9, H7, #24), on lines that carry the call's sound to the host.
    record: bool = False  # record every answered call
    consent_prompt: str | None = Field(default=None, max_length=MAX_LENGTH)  # played first
    amd: AmdSettings | None = None  # answering-machine detection; None: off
    machine_action: MachineAction = "hang_up"  # a machine: hang up, leave a message, or live
    machine_message: str | None = Field(default=None, max_length=MAX_LENGTH)  # after the beep
    # The agent's desk (SPEC A1, #25): the dispositions agents end a call with, each mapped to
    # an action on the contact (appliance/dispositions.py; None: the Polish seed's set), and
    # the script text shown to the agent during the call.
    dispositions: tuple[DispositionSpec, ...] | None = Field(
        default=None, max_length=MAX_DISPOSITIONS
    )
    script: str | None = Field(default=None, max_length=MAX_SCRIPT)
    # SPEC D9: the contacts are the rows of this config `external_lists` entry whose campaign
    # column holds the campaign's name (docs/external-lists.md); None: imported contacts
    external_list: str | None = Field(default=None, min_length=1, max_length=MAX_LENGTH)

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

    @model_validator(mode="after")
    def _overflow(self) -> CampaignSettings:
        if self.overflow == "callback" and self.callback_campaign is None:
            raise ValueError(
                "overflow 'callback' needs callback_campaign: the agent or automated campaign"
                " that calls the caller back"
            )
        if self.overflow == "node" and self.overflow_node is None:
            raise ValueError("overflow 'node' needs overflow_node: the node of the flow to go to")
        if len(set(self.answer_lines)) != len(self.answer_lines):
            raise ValueError("answer_lines names a line twice")
        return self

    @field_validator("dispositions", mode="before")
    @classmethod
    def _disposition_list(cls, value: Any) -> Any:
        return list_shape(value)

    @field_validator("dispositions")
    @classmethod
    def _dispositions(
        cls, value: tuple[DispositionSpec, ...] | None
    ) -> tuple[DispositionSpec, ...] | None:
        return check_list(value)

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


def check_external_list(name: str | None, config: DialboxConfig) -> None:
    """A campaign's `external_list` names an entry of the config's `external_lists` (SPEC D9);
    DialboxError (the API's 422) listing those there are."""
    if name is None or any(x.name == name for x in config.external_lists):
        return
    known = (
        ", ".join(x.name for x in config.external_lists) or "none (add one under external_lists:)"
    )
    raise DialboxError(f"no external list named {name!r}; the config defines: {known}")


def check_email_template(name: str | None, config: DialboxConfig) -> None:
    """A campaign's `email_template` names a template of the config (DialboxError: the API's
    422, saying which there are)."""
    if name is None:
        return
    templates = config.email.templates if config.email is not None else {}
    if name not in templates:
        known = ", ".join(sorted(templates)) or "none (define them under email.templates)"
        raise DialboxError(f"no e-mail template named {name!r}; the config defines: {known}")


SETTING_KEYS = tuple(CampaignSettings.model_fields)
# The settings only an inbound campaign has (other campaigns refuse them: `type_problems`).
INBOUND_KEYS = ("answer_lines", "closed_flow", "queue_max_wait", "overflow", "overflow_node",
                "overflow_message", "callback_campaign", "inbound_first", "announce_position")  # fmt: skip


def type_problems(type_: str, settings: CampaignSettings) -> list[tuple[str, str]]:
    """(key, what is wrong) for settings the campaign type does not take: the inbound ones on
    another type. (An inbound campaign ignores the dialing ones: they keep their defaults.)"""
    if type_ == "inbound":
        return []
    given = settings.model_dump(exclude_defaults=True)
    return [
        (
            key,
            f"{key} is a setting of inbound campaigns; this one is {type_}: clear it"
            " (none; null in the API)",
        )
        for key in INBOUND_KEYS
        if key in given
    ]


@dataclass(frozen=True)
class OtherCampaign:
    """What `inbound_start_problems` needs to know of the box's other campaigns."""

    name: str
    type: str
    status: str
    settings: CampaignSettings


def inbound_start_problems(
    name: str, settings: CampaignSettings, lines: Sequence[str], others: Sequence[OtherCampaign]
) -> list[str]:
    """Why an inbound campaign cannot start answering (empty: it can): it names no line, or a
    line the config does not have, or one another running or paused inbound campaign answers
    on (a line answers for one inbound campaign); its callback campaign is missing or does not
    call. (That the flows it names exist is the flows' check, with the config that holds them.)"""
    found: list[str] = []
    if not settings.answer_lines:
        found.append(
            "it names no line to answer on: set answer_lines to the configured lines that"
            " answer its calls, e.g. answer_lines=[gsm1]"
        )
    unknown = [line for line in settings.answer_lines if line not in lines]
    if unknown:
        found.append(
            f"answer_lines names {', '.join(unknown)}, which the config does not have (lines:"
            f" {', '.join(lines) or 'none'})"
        )
    for other in others:
        if other.name == name or other.type != "inbound" or other.status == "stopped":
            continue
        shared = sorted(set(settings.answer_lines) & set(other.settings.answer_lines))
        if shared:
            found.append(
                f"{', '.join(shared)} already answer(s) for inbound campaign {other.name!r}"
                f" ({other.status}); a line answers for one inbound campaign: stop it or take"
                " the line out of one answer_lines"
            )
    if settings.callback_campaign is not None:
        target = next((o for o in others if o.name == settings.callback_campaign), None)
        if target is None:
            found.append(f"callback_campaign {settings.callback_campaign!r} does not exist")
        elif target.type not in ("agent", "automated"):
            found.append(
                f"callback_campaign {target.name!r} is {target.type}: callbacks are calls, from"
                " an agent or automated campaign"
            )
    return found


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
        value = _scalar(raw)
        if value is None:  # `none` restores the default (also of a setting that cannot be null)
            data.pop(key, None)
        else:
            data[key] = value
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
