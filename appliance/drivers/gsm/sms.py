"""Long SMS: choose the alphabet, split into concatenated parts, and reassemble received parts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.drivers.gsm import gsm7
from appliance.drivers.gsm.pdu import DCS_GSM7, DCS_UCS2, Concat, Deliver, UserData

# 23.040 / 23.038: one part holds 160 septets or 140 octets; a concat UDH costs 6 octets.
SINGLE_GSM7, PART_GSM7 = 160, 153
SINGLE_UCS2, PART_UCS2 = 70, 67
MAX_PARTS = 255


class MessageTooLong(ValueError):
    """More than 255 parts."""


def split(text: str, reference: int) -> list[UserData]:
    """The parts of ``text``: GSM-7 when every character fits, else UCS-2. Escape pairs and
    UTF-16 surrogate pairs are never cut across parts (23.040 9.2.3.24.1)."""
    if gsm7.is_gsm7(text):
        units = [len(gsm7.char_septets(ch)) for ch in text]
        dcs, single, per_part = DCS_GSM7, SINGLE_GSM7, PART_GSM7
    else:
        units = [len(ch.encode("utf-16-be")) // 2 for ch in text]
        dcs, single, per_part = DCS_UCS2, SINGLE_UCS2, PART_UCS2
    if sum(units) <= single:
        return [UserData(dcs, text)]
    chunks: list[str] = []
    start, used = 0, 0
    for i, size in enumerate(units):
        if used + size > per_part:
            chunks.append(text[start:i])
            start, used = i, 0
        used += size
    chunks.append(text[start:])
    if len(chunks) > MAX_PARTS:
        raise MessageTooLong(f"message needs {len(chunks)} parts; at most {MAX_PARTS} allowed")
    ref = reference & 0xFF
    return [
        UserData(dcs, chunk, Concat(ref, len(chunks), n)) for n, chunk in enumerate(chunks, start=1)
    ]


@dataclass(frozen=True, slots=True)
class ReceivedSms:
    """A whole received message (all its parts joined)."""

    sender: str
    text: str
    timestamp: str
    parts: int


@dataclass(slots=True)
class _Partial:
    parts: dict[int, Deliver] = field(default_factory=dict)
    first_seen: float = 0.0


class Reassembler:
    """Joins concatenated parts by (sender, reference, total); parts may arrive in any order.
    An incomplete message is released as it is after ``max_age`` seconds (a part can be lost)."""

    def __init__(self, max_age: float = 600.0, clock: Callable[[], float] = time.monotonic):
        self._partials: dict[tuple[str, int, int], _Partial] = {}
        self._max_age = max_age
        self._clock = clock

    def add(self, message: Deliver) -> ReceivedSms | None:
        concat = message.data.concat
        if concat is None or concat.total <= 1:
            return _whole([message])
        key = (message.sender, concat.reference, concat.total)
        partial = self._partials.setdefault(key, _Partial(first_seen=self._clock()))
        partial.parts[concat.sequence] = message
        if len(partial.parts) == concat.total:
            del self._partials[key]
            return _whole([partial.parts[n] for n in sorted(partial.parts)])
        return None

    def expired(self) -> list[ReceivedSms]:
        """Incomplete messages older than ``max_age``, joined as far as they go."""
        now = self._clock()
        out = []
        for key, partial in list(self._partials.items()):
            if now - partial.first_seen >= self._max_age:
                del self._partials[key]
                out.append(_whole([partial.parts[n] for n in sorted(partial.parts)]))
        return out


def _whole(parts: list[Deliver]) -> ReceivedSms:
    first = parts[0]
    stamp = first.timestamp.isoformat() if first.timestamp else ""
    return ReceivedSms(first.sender, "".join(p.data.text for p in parts), stamp, len(parts))
