"""A V.253 modem's voice data stream as the call's ``AudioChannel`` (research/modems.md 2.11).

The modem streams the line's sound on its own data port once the host enters a data state:
``AT+VTR`` full duplex (both ways at once; left with ``<DLE>^``), ``AT+VRX`` receive (left with
``<DLE>!``), ``AT+VTX`` transmit (left with ``<DLE><ETX>``). The samples are in the ``+VSM``
format the host chose; a data byte 0x10 travels as ``<DLE><DLE>`` both ways, and DLE events
(DTMF, loop-current interruption, tones) keep coming inside the stream. This module knows the
formats and their conversion to the channel's s16le, which formats a modem's ``AT+VSM=?`` list
offers, and the channel object; the modem driver (``modem.py``) runs the stream.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from appliance.drivers.audio import FRAME_SAMPLES, RATE, AudioChannel

#: An 8-bit sample's sign bit flipped: unsigned <-> two's complement.
_FLIP = bytes(b ^ 0x80 for b in range(256))


@dataclass(frozen=True, slots=True)
class SampleFormat:
    """One ``+VSM`` sample format the driver can convert: ``kind`` u8 (8-bit linear unsigned),
    s8 (8-bit linear signed) or s16 (16-bit linear, little-endian)."""

    cml: int  # the modem's compression method number (vendor-specific)
    kind: str
    name: str  # as the modem lists it

    @property
    def width(self) -> int:
        return 2 if self.kind == "s16" else 1

    @property
    def frame_bytes(self) -> int:
        """Bytes of one 20 ms frame in this format."""
        return FRAME_SAMPLES * self.width

    @property
    def command(self) -> str:
        return f"AT+VSM={self.cml},{RATE}"

    def to_s16(self, data: bytes) -> bytes:
        """Samples in this format -> s16le (8-bit samples become the high byte)."""
        if self.kind == "s16":
            return data
        out = bytearray(2 * len(data))
        out[1::2] = data.translate(_FLIP) if self.kind == "u8" else data
        return bytes(out)

    def from_s16(self, pcm: bytes) -> bytes:
        """s16le -> samples in this format (8-bit: the high byte, i.e. truncated)."""
        if self.kind == "s16":
            return pcm
        high = pcm[1::2]
        return high.translate(_FLIP) if self.kind == "u8" else high


_LINE = re.compile(r'^\s*(?:\+VSM:\s*)?(\d+)\s*,\s*"([^"]*)"\s*(.*)$', re.IGNORECASE)
#: Preference: 16-bit linear keeps the line's full resolution; 8-bit unsigned is what vgetty
#: uses everywhere (``AT+VSM=1``, .ub files); 8-bit signed last.
_PREFERENCE = ("s16", "u8", "s8")


def _kind(name: str, fields: list[str]) -> str | None:
    upper = name.upper()
    if any(word in upper for word in ("ADPCM", "LAW", "G711", "G.711", "GSM", "CELP")):
        return None
    bits = fields[0] if fields and fields[0].isdigit() else ""
    if bits == "16" or re.search(r"16[- ]?BIT", upper):
        return "s16" if "UNSIGNED" not in upper else None
    if bits not in ("", "8"):
        return None
    if "UNSIGNED" in upper or re.search(r"8[- ]?BIT LINEAR", upper):
        return "u8"  # Rockwell/Conexant "8-BIT LINEAR" is unsigned (vgetty's .ub)
    if "SIGNED" in upper or "LINEAR" in upper or "PCM" in upper:
        return "s8"
    return None


def _rates(rest: str) -> set[int]:
    return {int(n) for n in re.findall(r"\d+", rest) if int(n) >= 4000}


def offered_formats(lines: tuple[str, ...] | list[str]) -> list[SampleFormat]:
    """The formats of an ``AT+VSM=?`` answer this driver can convert at 8000 Hz, best first.

    Lines look like ``128,"8-BIT LINEAR",(7200,8000,11025)`` (Rockwell/Conexant) or
    ``1,"UNSIGNED PCM",8,0,(8000),(0),(0)`` (V.253's own layout); a line without rates is
    taken to offer 8000 Hz."""
    found: list[SampleFormat] = []
    for line in lines:
        match = _LINE.match(line)
        if match is None:
            continue
        cml, name, rest = int(match.group(1)), match.group(2), match.group(3)
        fields = [f.strip() for f in rest.strip().lstrip(",").split(",")]
        kind = _kind(name, fields)
        rates = _rates(rest)
        if kind is None or (rates and RATE not in rates):
            continue
        found.append(SampleFormat(cml, kind, name))
    found.sort(key=lambda f: _PREFERENCE.index(f.kind))
    return found


# ------------------------------------------------------------------ DTMF by sound
_DTMF = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}  # fmt: skip


def dtmf_tones(digits: str, tone_ms: int = 100, gap_ms: int = 100) -> bytes:
    """The keys as sound (s16le 8 kHz): the modem cannot take ``AT+VTS`` inside a data
    stream, so the keys are said on the channel instead."""
    out = bytearray()
    n, gap = RATE * tone_ms // 1000, bytes(2 * (RATE * gap_ms // 1000))
    for digit in digits.upper():
        if digit not in _DTMF:
            raise ValueError(f"{digit!r} is not a DTMF key (0-9 * # A-D)")
        low, high = _DTMF[digit]
        for i in range(n):
            t = i / RATE
            value = 8000 * (math.sin(2 * math.pi * low * t) + math.sin(2 * math.pi * high * t))
            out += int(value).to_bytes(2, "little", signed=True)
        out += gap
    return bytes(out)


class StreamChannel(AudioChannel):
    """The channel of one call on a V.253 modem. ``garbage`` counts DLE pairs no modem sends
    inside a stream (a lone data DLE the modem failed to double, an unknown code): they are
    kept as the two data bytes they most likely were, so the sample count stays right."""

    def __init__(self, name: str, stop: Callable[[], Awaitable[None]]) -> None:
        super().__init__(name)
        self.garbage = 0
        self.stalls = 0  # times the modem's stream stopped coming and was restarted
        self._stop = stop

    async def close(self) -> None:
        await self._stop()
        self._finish()
