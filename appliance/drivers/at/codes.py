"""AT final result codes: which lines end a command, and the 27.007/27.005 error numbers."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class FinalKind(enum.Enum):
    OK = "OK"
    ERROR = "ERROR"  # ERROR, COMMAND NOT SUPPORT (Huawei), NA (Samsung), MODEM ERROR (Motorola)
    CME = "+CME ERROR"
    CMS = "+CMS ERROR"
    CONNECT = "CONNECT"
    NO_CARRIER = "NO CARRIER"
    BUSY = "BUSY"
    NO_ANSWER = "NO ANSWER"
    NO_DIALTONE = "NO DIALTONE"


#: Results that only end a dial/answer command; at any other time they are call-progress URCs.
CALL_PROGRESS = frozenset(
    {
        FinalKind.CONNECT,
        FinalKind.NO_CARRIER,
        FinalKind.BUSY,
        FinalKind.NO_ANSWER,
        FinalKind.NO_DIALTONE,
    }
)

# V.250 numeric result codes (ATV0); 2 is RING, a URC, so it is not here.
_NUMERIC = {
    "0": FinalKind.OK,
    "1": FinalKind.CONNECT,
    "3": FinalKind.NO_CARRIER,
    "4": FinalKind.ERROR,
    "6": FinalKind.NO_DIALTONE,
    "7": FinalKind.BUSY,
    "8": FinalKind.NO_ANSWER,
}

_WORDS = {
    "OK": FinalKind.OK,
    "ERROR": FinalKind.ERROR,
    "COMMAND NOT SUPPORT": FinalKind.ERROR,  # Huawei
    "NA": FinalKind.ERROR,  # Samsung
    "NO CARRIER": FinalKind.NO_CARRIER,
    "BUSY": FinalKind.BUSY,
    "NO ANSWER": FinalKind.NO_ANSWER,
    "NO DIALTONE": FinalKind.NO_DIALTONE,
    "NO DIAL TONE": FinalKind.NO_DIALTONE,  # V.253 modems spell it both ways
    "VCON": FinalKind.CONNECT,  # V.253: voice connection (the far end presumed answered)
    "#VCON": FinalKind.CONNECT,  # Rockwell/Conexant #CLS=8 voice
}

_ERROR_RE = re.compile(r"^\+(CME|CMS) ERROR:\s*(.*)$", re.IGNORECASE)
_MODEM_ERROR_RE = re.compile(r"^MODEM ERROR:\s*\d+$", re.IGNORECASE)  # Motorola


@dataclass(frozen=True, slots=True)
class Final:
    """A classified final result line."""

    kind: FinalKind
    text: str
    code: int | None = None  # +CME/+CMS number when numeric (or mapped from verbose text)


def classify_final(line: str, *, numeric: bool = True) -> Final | None:
    """The final result a line is, or None. ``numeric`` allows V0 single-digit codes."""
    upper = line.upper()
    if upper in _WORDS:
        return Final(_WORDS[upper], line)
    if upper.startswith("CONNECT"):
        return Final(FinalKind.CONNECT, line)
    if numeric and line in _NUMERIC:
        return Final(_NUMERIC[line], line)
    match = _ERROR_RE.match(line)
    if match:
        kind = FinalKind.CME if match.group(1).upper() == "CME" else FinalKind.CMS
        detail = match.group(2).strip()
        table = CME_TEXT if kind is FinalKind.CME else CMS_TEXT
        return Final(kind, line, int(detail) if detail.isdigit() else _code_for_text(table, detail))
    if _MODEM_ERROR_RE.match(line):
        return Final(FinalKind.ERROR, line)
    return None


def _code_for_text(table: dict[int, str], text: str) -> int | None:
    folded = text.lower()
    for code, name in table.items():
        if name.lower() == folded:
            return code
    return None


#: 27.007 section 9.2 (+CMEE=2 verbose texts as most modules print them), plus vendor codes.
CME_TEXT: dict[int, str] = {
    0: "phone failure",
    1: "no connection to phone",
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    15: "SIM wrong",
    16: "incorrect password",
    17: "SIM PIN2 required",
    18: "SIM PUK2 required",
    20: "memory full",
    21: "invalid index",
    22: "not found",
    23: "memory failure",
    24: "text string too long",
    25: "invalid characters in text string",
    26: "dial string too long",
    27: "invalid characters in dial string",
    30: "no network service",
    31: "network timeout",
    32: "network not allowed - emergency calls only",
    100: "unknown",
    515: "please wait, init or command processing in progress",
}

#: 27.005 section 3.2.5 (the ME/TA range; 1-255 are network RP/TP causes).
CMS_TEXT: dict[int, str] = {
    300: "ME failure",
    301: "SMS service of ME reserved",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    313: "SIM failure",
    314: "SIM busy",
    315: "SIM wrong",
    320: "memory failure",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
}

#: Errors that mean "not now, ask again" (research/modems.md 0.5): SIM busy, init in progress.
RETRYABLE_CME = frozenset({14, 515})
RETRYABLE_CMS = frozenset({314, 512})
