"""Incoming calls on a V.253 voice modem: ``RING`` and the caller-ID block, pure.

With caller ID on (``AT+VCID=1``; Rockwell/Conexant also ``AT#CID=1``) the modem reports the
block the exchange sends between the first and the second ring (Bellcore FSK; in the UK before the
first ring) as text lines (research/modems.md 2.11)::

    RING
    DATE = 0321
    TIME = 1405
    NMBR = 5551234          (P: withheld by the caller, O: unavailable / out of area)
    NAME = JOHN DOE
    RING

``=`` comes with or without spaces; ``MESG``/``ERRM`` are a block the modem could not decode.
Everything here is bounded: a line is cut at ``MAX_VALUE`` characters, and the driver takes at
most ``MAX_LINES`` caller-ID lines per ringing call, whatever a broken modem or line sends.
"""

from __future__ import annotations

import re

#: Caller-ID line names (V.253 +VCID formatted output, Rockwell #CID, distinctive ring).
CID_PREFIXES = ("DATE", "TIME", "NMBR", "NAME", "MESG", "ERRM", "DDN_NMBR", "DRON", "DROF")
WITHHELD = {"P": "withheld", "O": "unavailable"}
MAX_VALUE = 64
MAX_LINES = 16

_CID_LINE = re.compile(r"^(" + "|".join(CID_PREFIXES) + r")\s*(?:=\s*(.*?))?\s*$", re.IGNORECASE)
_RING = re.compile(r"^RING(?:\s+\w{1,8})?$")  # RING, RING A (distinctive ring); not RINGING
_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")
_SEPARATORS = str.maketrans("", "", " -.()/")


def is_ring(text: str) -> bool:
    return bool(_RING.match(text.strip().upper()))


def parse_line(text: str) -> tuple[str, str] | None:
    """``NMBR = 5551234`` -> ("NMBR", "5551234"); None for any other line."""
    match = _CID_LINE.match(text.strip()[: MAX_VALUE + 16])
    if match is None:
        return None
    return match.group(1).upper(), (match.group(2) or "")[:MAX_VALUE]


def caller_number(value: str) -> tuple[str, str]:
    """An ``NMBR`` value -> (the number, or "" when not given; what it was, for the evidence)."""
    bare = value.strip().upper()
    if bare in WITHHELD:
        return "", WITHHELD[bare]
    number = bare.translate(_SEPARATORS)
    if _NUMBER.match(number):
        return number, "number"
    return "", "unreadable"
