"""The typed shape of dialbox.yaml: every section a frozen pydantic model; unknown keys are errors."""

from __future__ import annotations

import datetime as dt
import re
import socket
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from appliance.errors import DialboxError
from appliance.names import MAX_LENGTH, PATTERN, check_name

CONTACT_COLUMNS = (
    *(f"phone{i}" for i in range(1, 6)),
    *(f"bp{i}" for i in range(1, 13)),
    "external_id",
    "priority",
    "timezone",
    "callback_at",
    "owner_agent",
)


def _named(kind: str) -> AfterValidator:
    return AfterValidator(lambda value: check_name(kind, value))


# The name rule (appliance/names.py); the pattern is in the schema, the check words the refusal.
LineName = Annotated[
    str,
    Field(min_length=1, max_length=MAX_LENGTH, json_schema_extra={"pattern": PATTERN}),
    _named("line"),
]
SeatName = Annotated[
    str,
    Field(min_length=1, max_length=MAX_LENGTH, json_schema_extra={"pattern": PATTERN}),
    _named("seat"),
]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def check_region(value: str) -> str:
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"{value!r} is not a region libphonenumber knows; use an ISO 3166 code such as US, GB, PL, DE"
        )
    return region


def check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not an IANA time zone (e.g. Europe/Warsaw, America/New_York)"
        ) from None
    return value


class CallingHours(Section):
    """Hours in the callee's local time when a number may be dialed (SPEC C3)."""

    start: dt.time = dt.time(8, 0)
    end: dt.time = dt.time(21, 0)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock_time(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted 08:00 as the base-60 integer 480 (8 × 60 + 0): take it as
        # the HH:MM the person wrote, not as seconds after midnight.
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value < 24 * 60:
                raise ValueError(f'{value} is not a time of day; write HH:MM, e.g. "08:00"')
            return dt.time(value // 60, value % 60)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> CallingHours:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end:%H:%M}) must be after start ({self.start:%H:%M})")
        return self


class CustomCompliance(Section):
    """The `custom` compliance profile (SPEC C13), used where `compliance_profile: custom`."""

    calling_hours: str = Field(
        default="daily 08:00-21:00",
        description="weekday windows in the callee's local time, e.g. 'mon-fri 09:00-20:00'",
    )
    holidays: str | None = Field(
        default=None, description="no calls on this country's public holidays (callee local)"
    )
    abandon_cap: float | None = Field(default=3.0, ge=0.0, le=100.0)
    abandon_windows_hours: tuple[float, ...] = (24.0, 720.0)
    count_amd_false_positives: bool = Field(
        default=False,
        description="add each campaign's amd_false_positive estimate to its abandoned calls "
        "(as Ofcom does)",
    )
    abandon_lockout_hours: float = Field(default=0.0, ge=0.0, le=8760.0)
    machine_lockout_hours: float = Field(default=0.0, ge=0.0, le=8760.0)
    max_calls_per_number: int | None = Field(default=None, ge=1, le=1000)
    calls_window_days: float = Field(default=30.0, gt=0.0, le=366.0)
    min_ring_seconds: int = Field(default=15, ge=5, le=120)
    connect_seconds: float = Field(default=2.0, gt=0.0, le=10.0)

    @field_validator("calling_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        from appliance.scheduler.windows import parse_weekly

        return parse_weekly(value).describe()

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: str | None) -> str | None:
        return None if value is None else check_holiday_country(value)


def check_holiday_country(value: str) -> str:
    import holidays

    code = value.strip().upper()
    if code not in holidays.list_supported_countries():
        raise ValueError(
            f"{value!r} is not a country the holidays package knows (e.g. US, GB, PL, DE)"
        )
    return code


class ColumnMapping(Section):
    """A named-column file layout: which header holds which contact field (SPEC D2)."""

    columns: dict[str, str]
    match_headers: bool = Field(
        default=True,
        description="use this mapping automatically when a file's header has every mapped column",
    )

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(CONTACT_COLUMNS))
        if unknown:
            raise ValueError(
                f"unknown contact field(s) {', '.join(unknown)}; allowed: {', '.join(CONTACT_COLUMNS)}"
            )
        if "phone1" not in value:
            raise ValueError("a mapping must say which column holds phone1")
        return value


def _yaml_clock(value: object) -> object:
    """YAML 1.1 reads an unquoted 12:00 as the base-60 integer 720: take it as the HH:MM written."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}"
    return value


class ImportSettings(Section):
    hot_folder: Path | None = None
    settle_seconds: float = Field(default=2.0, ge=0.0, le=3600.0)
    mappings: dict[str, ColumnMapping] = Field(default_factory=dict)
    # Timed import: files wait in the hot folder until one of these times (the box's timezone).
    schedule: tuple[str, ...] | None = Field(
        default=None, description="'06:30', or a list: ['06:30', 'mon-fri 13:00']"
    )

    @field_validator("schedule", mode="before")
    @classmethod
    def _times(cls, value: object) -> object:
        if value is None:
            return None
        items = value if isinstance(value, list | tuple) else [value]
        return tuple(_yaml_clock(item) for item in items)

    @field_validator("schedule")
    @classmethod
    def _parse_times(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            from appliance.scheduler.timing import parse_daily_times

            parse_daily_times(list(value), "UTC")  # the syntax; the zone is the box's
        return value

    @model_validator(mode="after")
    def _schedule_needs_a_folder(self) -> ImportSettings:
        if self.schedule is not None and self.hot_folder is None:
            raise ValueError("schedule times the hot folder's imports: set hot_folder too")
        return self

    map: dict[str, str] = Field(
        default_factory=dict,
        description="column header -> field for files read by their header's names, as "
        "`dialbox import --map` (every import: the hot folder, uploads, the CLI)",
    )

    @field_validator("map")
    @classmethod
    def _map_targets(cls, value: dict[str, str]) -> dict[str, str]:
        # The same check as --map (importing.headers.map_entry), with field names as written.
        targets = {*CONTACT_COLUMNS, "phone", "ignore"}
        for column, field in value.items():
            if not column.strip():
                raise ValueError("a column name is empty")
            if field.strip().lower() not in targets:
                raise ValueError(
                    f"{column!r}: {field!r} is not a contact field; use one of "
                    f"{', '.join(CONTACT_COLUMNS)}, phone (the next free phone) or ignore"
                )
            if column.strip() == "*" and field.strip().lower() != "ignore":
                raise ValueError("'*' may only be ignored ('*': ignore)")
        return {column: field.strip().lower() for column, field in value.items()}

    @field_validator("mappings")
    @classmethod
    def _mapping_names(cls, value: dict[str, ColumnMapping]) -> dict[str, ColumnMapping]:
        for name in value:
            check_name("mapping", name)
        return value


LineKind = Literal["gsm", "v253", "can"]


class LineConfig(Section):
    name: LineName
    kind: LineKind = "gsm"
    device: str = Field(min_length=1, description="device path, pty, socket://, loop:// or CAN bus")
    profile: Literal[
        "auto", "generic", "simcom", "quectel", "huawei", "ublox", "wavecom", "zte"
    ] = "auto"
    pin: str | None = Field(default=None, pattern=r"^[0-9]{4,8}$")
    caller_id: str | None = None
    enabled: bool = True
    campaigns: tuple[str, ...] = ()
    # The call's sound on the host (SPEC H7, #24): a GSM module's PCM audio port (its own serial
    # device, e.g. /dev/serial/by-id/...-if04-port0); a V.253 modem streams on its data port and
    # says "stream"; None: no audio path (no recording, no answering-machine detection here).
    audio: str | None = Field(default=None, min_length=1, max_length=4096)


class RecordingSettings(Section):
    """Where call recordings go and how long they stay (SPEC O9, #24)."""

    directory: Path | None = None  # None: `recordings` beside the database
    format: Literal["flac", "opus", "wav"] = "flac"
    retain_days: float = Field(default=90.0, gt=0.0, le=3650.0)
    budget_mb: int = Field(default=2048, ge=1, le=10_000_000, description="oldest deleted first")


class PromptSettings(Section):
    """Audio prompts played on lines with an audio path (SPEC H7, #24)."""

    directory: Path | None = None  # None: `prompts` beside the database; files dropped here
    tts: bool = True  # prompts written as text are spoken by espeak-ng, where it is installed


class SeatConfig(Section):
    """An agent's seat (SPEC A1): an FXS port of a line card, or a phone reached through a line."""

    name: SeatName
    kind: Literal["can", "phone"] = "can"
    device: str | None = Field(default=None, description="can: BUS:CHANNEL/SLOT/PORT")
    number: str | None = Field(default=None, pattern=r"^\+?[0-9]{3,20}$")
    enabled: bool = True

    @model_validator(mode="after")
    def _where(self) -> SeatConfig:
        if self.kind == "can" and not self.device:
            raise ValueError("a seat of kind can needs device: BUS:CHANNEL/SLOT/PORT")
        if self.kind == "phone" and not self.number:
            raise ValueError(
                "a seat of kind phone needs number: the agent's phone, e.g. +48601234567"
            )
        return self


class AgentSettings(Section):
    """How answered calls of agent campaigns reach agents (SPEC A1, A4)."""

    connect_timeout: float = Field(
        default=2.0, gt=0.0, le=2.0, description="answer to agent at most; then abandoned"
    )
    info_message: str = "info-no-agent"
    wrap_up: float = Field(default=15.0, ge=0.0, le=3600.0, description="seconds after a call")
    unanswered_pause: bool = True  # a seat that did not take a call pauses its agent


class TlsSettings(Section):
    """HTTPS on the API's TCP listener: a PEM certificate (chain) and its private key."""

    cert: Path | None = None
    key: Path | None = None

    @model_validator(mode="after")
    def _both_absolute(self) -> TlsSettings:
        if (self.cert is None) != (self.key is None):
            raise ValueError("set both cert and key (PEM files), or neither for plain HTTP")
        for name, path in (("cert", self.cert), ("key", self.key)):
            if path is not None and not path.is_absolute():
                raise ValueError(f"{name} must be an absolute path, e.g. /var/lib/dialbox/tls/")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert is not None


class ApiSettings(Section):
    listen: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    socket: Path | None = None
    tls: TlsSettings = TlsSettings()


class EngineSettings(Section):
    """The dial loop (SPEC C8, O1)."""

    dangling_timeout: float = Field(
        default=600.0, ge=30.0, description="seconds without an outcome"
    )
    dangling_action: Literal["close", "requeue"] = "requeue"
    requeue_delay: float = Field(
        default=7200.0, ge=0.0, description="a requeued contact waits this long"
    )
    drain_timeout: float = Field(default=60.0, ge=0.0, le=3600.0)
    tick: float = Field(
        default=0.5, gt=0.0, le=10.0, description="seconds between scheduling rounds"
    )
    webhook_timeout: float = Field(default=10.0, gt=0.0, le=120.0)
    webhook_retry_min: float = Field(default=2.0, gt=0.0, le=3600.0)
    webhook_retry_max: float = Field(default=300.0, gt=0.0, le=86400.0)


def _host_box_id() -> str:
    """The host name as a box id: lower case, anything outside [a-z0-9-] made '-', 32 at most."""
    name = re.sub(r"[^a-z0-9-]", "-", socket.gethostname().split(".")[0].lower()).strip("-")
    return name[:32] or "box"


class BoxSettings(Section):
    """This daemon as one box of several on one store (#27, docs/operations.md "Several boxes")."""

    id: str = Field(
        default_factory=_host_box_id,
        pattern=r"^[a-z0-9-]{1,32}$",
        description="this box's name among the boxes on the store (default: the host name)",
    )
    heartbeat_seconds: float = Field(default=5.0, gt=0.0, le=300.0)
    sweep_after_seconds: float = Field(
        default=30.0,
        ge=1.0,
        le=86400.0,
        description="a box silent this long is dead: the others sweep its attempts in flight",
    )

    @model_validator(mode="after")
    def _sweep_after_beats(self) -> BoxSettings:
        if self.sweep_after_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                f"box.sweep_after_seconds ({self.sweep_after_seconds:g}) must be at least twice"
                f" box.heartbeat_seconds ({self.heartbeat_seconds:g}): a box one beat late"
                " would be swept while alive"
            )
        return self


class ScheduleEntry(Section):
    """A scheduled campaign action (SPEC C2; docs/scheduler.md, "Scheduled actions")."""

    campaign: str = Field(min_length=1, max_length=MAX_LENGTH)
    action: Literal["start", "pause", "resume", "stop"]
    at: str = Field(
        min_length=1, max_length=64, description="12:00, 2026-03-02 09:00 or an ISO 8601 instant"
    )
    days: str | None = Field(default=None, max_length=64, description="with a time of day")
    timezone: str | None = None  # None: the campaign's, else the box's

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: object) -> object:
        if isinstance(value, dt.datetime):  # YAML reads 2026-03-02T09:00:00+01:00 as one
            return value.isoformat()
        if isinstance(value, dt.date):
            raise ValueError(f"{value} is a date without a time; write e.g. '{value} 09:00'")
        return _yaml_clock(value)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @model_validator(mode="after")
    def _when(self) -> ScheduleEntry:
        from appliance.scheduler.timing import parse_when

        parse_when(self.at, self.days, self.timezone or "UTC")  # the syntax, with what to write
        return self


_LEVELS = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


EXTERNAL_DEFAULT_COLUMNS: dict[str, str] = {
    # the German seed's names (SPEC D9); phone1 is the one number a row must have
    "campaign": "CampaignName",
    "state": "ContactSuccessful",
    "last_state": "LastState",
    "redial_time": "RedialTime",
    "attempts": "NumberOfContacts",
    "phone1": "Phone1",
}
EXTERNAL_FIELDS = (
    "campaign", "state", "last_state", "redial_time", "attempts",
    *(f"phone{i}" for i in range(1, 6)), *(f"bp{i}" for i in range(1, 13)), "timezone",
)  # fmt: skip


class ExternalList(Section):
    """A campaign's contacts in the customer's database (SPEC D9, docs/external-lists.md): a
    table or view reached by a SQLAlchemy URL, its columns mapped to the box's fields."""

    name: str = Field(min_length=1, max_length=MAX_LENGTH, pattern=PATTERN)
    url: str = Field(min_length=1, max_length=4096, description="SQLAlchemy URL, no password")
    password_file: Path | None = None  # a file holding the password (first line)
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    table: str = Field(min_length=1, max_length=255, description="table or view, schema.table")
    key: str = Field(default="id", min_length=1, max_length=255, description="primary key column")
    columns: dict[str, str] = Field(default_factory=dict, description="field: column")
    batch: int = Field(default=50, ge=1, le=10_000, description="rows marked per round at most")
    interval: float = Field(default=5.0, gt=0.0, le=3600.0, description="seconds between rounds")
    hold_timeout: float = Field(default=900.0, ge=10.0, le=86400.0)
    timezone: str = "UTC"  # the zone of RedialTime where the column has no time zone
    retry_min: float = Field(default=2.0, gt=0.0, le=3600.0)
    retry_max: float = Field(default=120.0, gt=0.0, le=86400.0)
    connect_timeout: int = Field(default=5, ge=1, le=300)

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str) -> str:
        head = value.split("@", 1)[0] if "@" in value else ""
        if ":" in head.split("//", 1)[-1]:
            raise ValueError(
                "the URL holds a password; put it in password_file or password_env instead"
            )
        return value

    @field_validator("columns")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        for field in value:
            if field not in EXTERNAL_FIELDS:
                raise ValueError(
                    f"columns names {field!r}, which is not a field; use: {', '.join(EXTERNAL_FIELDS)}"
                )
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return check_timezone(value)

    def mapping(self) -> dict[str, str]:
        """field -> the customer's column: the German defaults with `columns` over them."""
        return {**EXTERNAL_DEFAULT_COLUMNS, **self.columns}


class SmtpRelay(Section):
    """The SMTP relay e-mail goes out through (#26)."""

    host: str = Field(min_length=1, max_length=253)
    port: int | None = Field(default=None, ge=1, le=65535, description="None: 587, 465 for smtps")
    security: Literal["starttls", "smtps", "none"] = "starttls"
    user: str | None = Field(default=None, max_length=256)
    password_file: Path | None = None  # the password, first line; relative to this file
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout: float = Field(default=30.0, gt=0.0, le=600.0)
    ca_file: Path | None = (
        None  # CA certificates the relay's is checked against; none: the system's
    )

    @model_validator(mode="after")
    def _auth(self) -> SmtpRelay:
        if self.password_file is not None and self.password_env is not None:
            raise ValueError("give password_file or password_env, not both")
        if self.user is None and (self.password_file or self.password_env):
            raise ValueError("a password needs a user: set user")
        return self


class ImapBounces(Section):
    """The mailbox bounces come back to, read over IMAP (#26): each unseen message that names a
    message the box sent (its Message-ID, or the VERP address it came to) fails that attempt."""

    host: str = Field(min_length=1, max_length=253)
    port: int | None = Field(default=None, ge=1, le=65535, description="None: 993, 143 unless ssl")
    security: Literal["ssl", "starttls", "none"] = "ssl"
    user: str = Field(min_length=1, max_length=256)
    password_file: Path | None = None  # the password, first line; relative to this file
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    mailbox: str = Field(default="INBOX", min_length=1, max_length=255)
    poll: float = Field(default=60.0, ge=5.0, le=86_400.0)  # seconds between reads
    timeout: float = Field(default=30.0, gt=0.0, le=600.0)
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _password(self) -> ImapBounces:
        if (self.password_file is None) == (self.password_env is None):
            raise ValueError("give password_file or password_env (one of them)")
        return self


class EmailTemplate(Section):
    """One campaign's message: subject, text and HTML parts with $field placeholders (#26)."""

    subject: str = Field(min_length=1, max_length=998)
    text: str = Field(min_length=1, max_length=100_000)
    html: str | None = Field(default=None, max_length=500_000)

    @model_validator(mode="after")
    def _fields(self) -> EmailTemplate:
        for part in ("subject", "text", "html"):
            value = getattr(self, part)
            if value is not None:
                check_template(value, part)
        return self


# What an e-mail template may name: the contact's fields and the box's own values.
TEMPLATE_FIELDS = (
    *(f"phone{i}" for i in range(1, 6)),
    *(f"bp{i}" for i in range(1, 13)),
    "external_id",
    "campaign",
    "email",
    "unsubscribe_url",
)


def check_template(text: str, part: str) -> None:
    """A template part's placeholders ($bp1, ${bp1}) are known fields; ValueError otherwise."""
    import string

    template = string.Template(text)
    if not template.is_valid():
        raise ValueError(
            f"{part}: a '$' that starts no placeholder; write $$ for a dollar sign, $bp1 or"
            " ${bp1} for a field"
        )
    unknown = sorted(set(template.get_identifiers()) - set(TEMPLATE_FIELDS))
    if unknown:
        raise ValueError(
            f"{part} names {', '.join('$' + u for u in unknown)}, which a contact does not have;"
            f" fields: {', '.join('$' + f for f in TEMPLATE_FIELDS)}"
        )


class EmailSettings(Section):
    """The e-mail channel (#26, docs/email.md): relay, sender, templates, unsubscribe, bounces."""

    relay: SmtpRelay
    from_: str = Field(alias="from", min_length=3, max_length=320)
    # The box's address as the callee's browser reaches it: the unsubscribe link's base.
    public_url: str = Field(pattern=r"^https?://[^\s/?#]+(?::[0-9]+)?(?:/[^\s?#]*)?$")
    unsubscribe_mailto: str | None = Field(default=None, pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    unsubscribe_numbers: bool = False  # the contact's numbers go on DNC with the address
    # VERP (#26): the envelope sender is bounces+TAG@domain, TAG naming the attempt, so a
    # bounce delivered there names its attempt even without the original's Message-ID.
    bounce_address: str | None = Field(default=None, pattern=r"^[^@\s<>+]+@[^@\s<>]+$")
    retry_min: float = Field(default=60.0, gt=0.0, le=86_400.0)  # relay down or 4xx
    retry_max: float = Field(default=3600.0, gt=0.0, le=86_400.0)
    give_up_after: float = Field(default=3 * 86_400.0, gt=0.0, le=30 * 86_400.0)
    max_sending: int = Field(default=4, ge=1, le=64)  # messages handed to the relay at once
    templates: dict[str, EmailTemplate] = Field(default_factory=dict)
    imap: ImapBounces | None = None  # a mailbox bounces come back to; None: the webhook only

    @field_validator("from_")
    @classmethod
    def _from(cls, value: str) -> str:
        import email.utils

        _, address = email.utils.parseaddr(value)
        if "@" not in address or any(c in value for c in "\r\n"):
            raise ValueError(f"{value!r} is not an address like 'Dialbox <noreply@example.com>'")
        return value


class StoreSettings(Section):
    """Where the store lives (#27): `sqlite:///path` (the embedded default, what `database:`
    alone means) or `postgresql://user@host[:port]/dbname` shared by several boxes; the
    password in `password_file` (its first line) or `password_env`, never in the URL."""

    url: str = Field(min_length=1, max_length=4096, description="sqlite:///… or postgresql://…")
    password_file: Path | None = None
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value.startswith("sqlite:///"):
            if not value[len("sqlite:///") :].strip():
                raise ValueError(
                    "sqlite:/// names no file; write e.g. sqlite:////var/lib/dialbox/dialbox.db"
                )
            return value
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                f"{value.split(':', 1)[0]!r} is no store dialbox knows; write sqlite:///path or"
                " postgresql://user@host/dbname"
            )
        head = value.split("@", 1)[0] if "@" in value else ""
        if ":" in head.split("//", 1)[-1]:
            raise ValueError(
                "the URL holds a password; put it in password_file or password_env instead"
            )
        return value

    @property
    def postgresql(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://"))


class DialboxConfig(Section):
    """The whole file. Relative paths are resolved against the file's own directory."""

    # The SQLite database; with a PostgreSQL `store`, where the box keeps its local files
    # (recordings, prompts… beside it, as for SQLite).
    database: Path
    store: StoreSettings | None = None
    region: str = "US"
    timezone: str = "UTC"
    compliance_profile: Literal["us", "uk", "fr", "custom"] = "us"
    calling_hours: CallingHours = CallingHours()
    holidays_country: str | None = None
    compliance: CustomCompliance = CustomCompliance()
    import_: ImportSettings = Field(default=ImportSettings(), alias="import")
    lines: tuple[LineConfig, ...] = ()
    seats: tuple[SeatConfig, ...] = ()
    agents: AgentSettings = AgentSettings()
    api: ApiSettings = ApiSettings()
    engine: EngineSettings = EngineSettings()
    box: BoxSettings = Field(default_factory=BoxSettings)
    schedules: tuple[ScheduleEntry, ...] = ()
    recordings: RecordingSettings = RecordingSettings()
    prompts: PromptSettings = PromptSettings()
    email: EmailSettings | None = None  # the e-mail channel (#26); None: no e-mail steps
    log_level: _LEVELS = "INFO"
    # customers' databases as campaigns' contacts (SPEC D9, docs/external-lists.md)
    external_lists: tuple[ExternalList, ...] = Field(default=(), max_length=64)
    flows: tuple[str, ...] = Field(
        default=(),
        max_length=64,
        description="files (or globs, e.g. flows/*.yaml) of call flows (IVR, docs/flows.md), "
        "relative to this file",
    )

    @field_validator("flows", mode="before")
    @classmethod
    def _flow_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("flows")
    @classmethod
    def _flow_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not pattern.strip() or "\x00" in pattern:
                raise ValueError("a flow file's name is empty; write e.g. flows/*.yaml")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        return check_region(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("holidays_country")
    @classmethod
    def _holiday_country(cls, value: str | None) -> str | None:
        return None if value is None else check_holiday_country(value)

    @model_validator(mode="before")
    @classmethod
    def _sqlite_store(cls, data: Any) -> Any:
        """`store.url: sqlite:///path` is `database: path`."""
        if isinstance(data, dict):
            store = data.get("store")
            url = store.get("url") if isinstance(store, dict) else None
            if isinstance(url, str) and url.startswith("sqlite:///"):
                data = {**data, "database": url[len("sqlite:///") :]}
        return data

    def store_url(self) -> str:
        """What store.Database opens: the SQLite file, or the PostgreSQL URL with its password
        (from password_file or password_env) put in."""
        if self.store is None or not self.store.postgresql:
            return str(self.database)
        from urllib.parse import quote

        from appliance.config.secrets import read_password

        password = read_password("store", self.store.password_env, self.store.password_file)
        if password is None:
            return self.store.url
        scheme, rest = self.store.url.split("://", 1)
        user, at, host = rest.rpartition("@")
        if not at:
            raise DialboxError(
                "store.url names no user for its password; write postgresql://USER@host/dbname"
            )
        return f"{scheme}://{user}:{quote(password, safe='')}@{host}"

    @model_validator(mode="after")
    def _unique_external(self) -> DialboxConfig:
        names = [x.name for x in self.external_lists]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two external lists are named {name!r}")
        return self

    @model_validator(mode="after")
    def _unique_schedules(self) -> DialboxConfig:
        seen: dict[ScheduleEntry, int] = {}
        for index, entry in enumerate(self.schedules):
            if entry in seen:
                raise ValueError(f"schedules[{index}] repeats schedules[{seen[entry]}]")
            seen[entry] = index
        return self

    @model_validator(mode="after")
    def _unique_lines(self) -> DialboxConfig:
        seen: set[str] = set()
        for line in self.lines:
            if line.name in seen:
                raise ValueError(f"two lines are named {line.name!r}; line names must be unique")
            seen.add(line.name)
        for seat in self.seats:
            if seat.name in seen:
                raise ValueError(f"a seat is named {seat.name!r} like another line or seat")
            seen.add(seat.name)
        ports: dict[str, str] = {}
        places: list[tuple[str, str, str]] = [(x.name, x.kind, x.device) for x in self.lines]
        places += [(x.name, x.kind, x.device or "") for x in self.seats]
        for name, kind, device in places:
            if kind == "can" and device:
                if device in ports:
                    raise ValueError(f"{name} and {ports[device]} are both on the port {device}")
                ports[device] = name
        return self
