"""Attempt outcome codes a line reports (SPEC C11, German seed numbering); the app re-exports them."""

from __future__ import annotations

import enum


class Outcome(enum.IntEnum):
    """Attempt outcome codes, with the numbers of the German seed (SPEC C11)."""

    CONNECTED = 0
    BUSY = 1
    KNOCKING = 2
    UNREACHABLE = 3
    WRONG_NUMBER = 4
    INCOMPATIBLE = 5
    FAX = 6
    ANSWERING_MACHINE = 7
    NO_LINE = 8
    ERROR_OCCURRED = 9
    NO_AGENT = 10
    AGENT_TRANSFER = 11
    AGENT_HANG_UP = 12
    ALERTING_TIMEOUT = 13
    TRANSFER_TIMEOUT = 14
    ABANDONED = 15
    REJECTED = 16
    # The e-mail channel (#26): not the German seed's, numbered after its call outcomes.
    EMAIL_SENT = 20  # the relay took the message (SMTP 250)
    EMAIL_FAILED = 21  # the relay refused it for good (5xx)
    EMAIL_BOUNCED = 22  # a bounce came back for it (webhook)
    EMAIL_SKIPPED = 23  # no valid address, or the address is on the e-mail DNC list
    BANNED = 1000

    @property
    def label(self) -> str:
        """The seed's CamelCase name, e.g. ``AnsweringMachine`` (used in exports and the API)."""
        return _OUTCOME_LABELS[self]

    @classmethod
    def from_label(cls, text: str) -> Outcome:
        """Parse a seed name (``NoAnswer`` aliases ``AlertingTimeout``), an enum name or a code."""
        key = text.strip()
        if key.lstrip("-").isdigit():
            return cls(int(key))
        folded = key.replace("_", "").replace(" ", "").lower()
        for member in cls:
            if folded in (member.label.lower(), member.name.replace("_", "").lower()):
                return member
        if folded in _OUTCOME_ALIASES:
            return _OUTCOME_ALIASES[folded]
        raise ValueError(
            f"unknown outcome {text!r}; expected one of: {', '.join(o.label for o in cls)}"
        )


_OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.CONNECTED: "Connected",
    Outcome.BUSY: "Busy",
    Outcome.KNOCKING: "Knocking",
    Outcome.UNREACHABLE: "Unreachable",
    Outcome.WRONG_NUMBER: "WrongNumber",
    Outcome.INCOMPATIBLE: "Incompatible",
    Outcome.FAX: "Fax",
    Outcome.ANSWERING_MACHINE: "AnsweringMachine",
    Outcome.NO_LINE: "NoLine",
    Outcome.ERROR_OCCURRED: "ErrorOccurred",
    Outcome.NO_AGENT: "NoAgent",
    Outcome.AGENT_TRANSFER: "AgentTransfer",
    Outcome.AGENT_HANG_UP: "AgentHangUp",
    Outcome.ALERTING_TIMEOUT: "AlertingTimeout",
    Outcome.TRANSFER_TIMEOUT: "TransferTimeout",
    Outcome.ABANDONED: "Abandoned",
    Outcome.REJECTED: "Rejected",
    Outcome.EMAIL_SENT: "EmailSent",
    Outcome.EMAIL_FAILED: "EmailFailed",
    Outcome.EMAIL_BOUNCED: "EmailBounced",
    Outcome.EMAIL_SKIPPED: "EmailSkipped",
    Outcome.BANNED: "Banned",
}

# "No answer" in the Polish and English seeds is the German seed's AlertingTimeout;
# "voicemail" is AnsweringMachine.
_OUTCOME_ALIASES: dict[str, Outcome] = {
    "noanswer": Outcome.ALERTING_TIMEOUT,
    "voicemail": Outcome.ANSWERING_MACHINE,
    "machine": Outcome.ANSWERING_MACHINE,
    "abandon": Outcome.ABANDONED,
}
