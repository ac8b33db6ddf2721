"""Domain vocabulary shared by every layer: outcome codes, contact states, channels (SPEC C11)."""

from __future__ import annotations

import enum

from appliance.drivers.outcome import Outcome

__all__ = ["Outcome"]


class ContactState(enum.StrEnum):
    """Contact request states (SPEC C11); the value is the name users see."""

    PENDING = "Pending"
    SENT_TO_DIALER = "Sent to Dialer"
    CONNECTED = "Connected"
    NOT_CONNECTED = "Not Connected"
    RETRIES_COMPLETED = "Retries Completed"
    DNC_LISTED = "DNC Listed"
    SMS_SENT_AND_CLOSED = "SMS sent and Closed"
    SMS_SENT = "SMS sent"
    DANGLING = "Dangling"
    SMS_RESPONDED = "SMS responded"
    EMAIL_SENT = "E-mail sent"  # the e-mail step's message went out; closed (#26)

    @classmethod
    def parse(cls, text: str) -> ContactState:
        folded = text.strip().replace("_", " ").lower()
        for member in cls:
            if folded in (member.value.lower(), member.name.replace("_", " ").lower()):
                return member
        raise ValueError(f"unknown contact state {text!r}; expected one of: {', '.join(cls)}")


# States in which a contact is finished for this campaign: nothing more will be dialed.
FINAL_STATES: frozenset[ContactState] = frozenset(
    {
        ContactState.CONNECTED,
        ContactState.RETRIES_COMPLETED,
        ContactState.DNC_LISTED,
        ContactState.SMS_SENT_AND_CLOSED,
        ContactState.SMS_RESPONDED,
        ContactState.EMAIL_SENT,
    }
)


class Summary(enum.IntEnum):
    """Per-contact summary, as written back to external lists (German seed, SPEC D9)."""

    UNREACHABLE = -1
    NOT_USED = 0
    SUCCESSFUL = 1
    NO_SUCCESS = 2
    MARKED_FOR_DIALING = 3


class Channel(enum.StrEnum):
    VOICE = "voice"
    SMS = "sms"
    EMAIL = "email"  # to the address in a business parameter (campaign setting email_field)


class CampaignType(enum.StrEnum):
    """SPEC C1: agent voice, automated voice (message + DTMF), SMS broadcast; SPEC C14: inbound
    (answers calls on its lines; never dials)."""

    AGENT = "agent"
    AUTOMATED = "automated"
    SMS = "sms"
    INBOUND = "inbound"


class CampaignStatus(enum.StrEnum):
    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"


PHONE_FIELDS = tuple(f"phone{i}" for i in range(1, 6))
BP_FIELDS = tuple(f"bp{i}" for i in range(1, 13))
# The order of the values in a contact row: the import's row check makes them in this order, a
# staged import keeps them so (`store.imports.STAGE_COLUMNS`) and the store binds them so.
ROW_FIELDS = (
    "source_line",
    "dedup_key",
    *PHONE_FIELDS,
    *(f"e164_{i}" for i in range(1, 6)),
    *(
        f"zones{i}" for i in range(1, 6)
    ),  # zone key strings; the store turns them into zone_sets ids
    *BP_FIELDS,
    "external_id",
    "priority",
    "tz_override",
    "callback_at",
    "owner_agent",
)
MAX_PHONE_CHARS = 28
MAX_BP_CHARS = 255
