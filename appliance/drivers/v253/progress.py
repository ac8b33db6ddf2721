"""What a V.253 modem's DLE events and dial results mean for a call (research/modems.md 2.11).

Analog call progress is heuristic: ringback and silence events are optional on many modems, and
the modem *presumes* an answer (``VCON``/``OK``) when ringback stops for ``+VRA`` or never comes
within ``+VRN``. The decision therefore keeps every event it was made on.
"""

from __future__ import annotations

import enum

from appliance.drivers.at.codes import Final, FinalKind
from appliance.drivers.outcome import Outcome

DTMF_CODES = frozenset("0123456789*#ABCD")


class Progress(enum.Enum):
    RINGBACK = "ringback"  # the callee's phone rings: the ring timeout runs from here
    ANSWER_HINT = "answer hint"  # quiet/silence after ringback, polarity reversal
    BUSY = "busy"
    SIT = "sit"  # special information tone: number not in service
    FAX = "fax"  # a fax machine's answer tone
    DATA = "data"  # a data modem's answer tone
    HANG_UP = "hang up"  # loop current interrupted, handset on hook
    DIAL_TONE = "dial tone"  # after an answer: the far end has gone, the exchange gives tone
    DTMF = "dtmf"
    RING = "ring"  # the line rings (some modems' voice-mode RING)
    OTHER = "other"


EVENT_NAMES: dict[str, tuple[Progress, str]] = {
    "r": (Progress.RINGBACK, "ringback"),
    "q": (Progress.ANSWER_HINT, "quiet"),
    "s": (Progress.ANSWER_HINT, "silence"),
    "L": (Progress.ANSWER_HINT, "polarity reversal"),
    "v": (Progress.ANSWER_HINT, "voice"),
    "V": (Progress.ANSWER_HINT, "voice"),
    "b": (Progress.BUSY, "busy tone"),
    "K": (Progress.BUSY, "busy tone"),
    "J": (Progress.SIT, "SIT tone"),
    "a": (Progress.FAX, "fax/data answer tone"),
    "c": (Progress.FAX, "fax calling tone"),
    "f": (Progress.DATA, "Bell answer tone"),
    "e": (Progress.DATA, "data calling tone"),
    "l": (Progress.HANG_UP, "loop current interrupted"),
    "h": (Progress.HANG_UP, "on hook"),
    "d": (Progress.DIAL_TONE, "dial tone"),
    "i": (Progress.DIAL_TONE, "dial tone"),
    "R": (Progress.RING, "ring"),
}


def classify(code: str) -> tuple[Progress, str]:
    """``b`` -> (BUSY, "busy tone"); a digit -> (DTMF, "5")."""
    if code in DTMF_CODES:
        return Progress.DTMF, code
    return EVENT_NAMES.get(code, (Progress.OTHER, f"event {code!r}"))


#: What ends an unanswered dial, by the strongest evidence first.
FORCED = {
    Progress.SIT: Outcome.WRONG_NUMBER,
    Progress.FAX: Outcome.FAX,
    Progress.DATA: Outcome.INCOMPATIBLE,
    Progress.BUSY: Outcome.BUSY,
}


def dial_outcome(final: Final, *, alerted: bool) -> Outcome | None:
    """The outcome a final result of ``ATD`` gives; None when it means "answered"."""
    if final.kind in (FinalKind.CONNECT, FinalKind.OK):
        return None
    if final.kind is FinalKind.BUSY:
        return Outcome.BUSY
    if final.kind is FinalKind.NO_ANSWER:
        return Outcome.ALERTING_TIMEOUT
    if final.kind is FinalKind.NO_DIALTONE:
        return Outcome.NO_LINE
    if final.kind is FinalKind.NO_CARRIER:
        # ZyXEL: S7 ringback timeout; elsewhere the call failed before ringing
        return Outcome.ALERTING_TIMEOUT if alerted else Outcome.UNREACHABLE
    return Outcome.ERROR_OCCURRED
