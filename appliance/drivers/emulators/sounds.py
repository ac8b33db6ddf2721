"""The far end's sound for the emulators: a person, a voicemail, a fax, a modem (#24).

``sound(name)`` is the audio an emulated callee sends from the answer on, as 8 kHz s16le mono
PCM (the ``appliance.drivers.audio`` format). After it ends an emulator keeps sending silence
until the call ends. Spoken parts are small WAVs committed under ``sounds/`` (made with espeak-ng
and sox; the commands are in ``sounds/README.md``); tones are generated here.

Sources (``SOURCES``):

- ``person`` — "hello?" then 6 s of silence (a person waiting for the caller to speak);
- ``person-long`` — a spoken sentence (3.8 s) then 6 s of silence (a person who talks on);
- ``machine`` — a 4 s voicemail greeting, 0.3 s of silence, a 1 kHz beep of 0.4 s, then 6 s of
  silence (time to leave a message);
- ``silence`` — 10 s of silence (a callee who never speaks);
- ``fax`` — CNG: 1100 Hz for 0.5 s then 3 s of silence, four times (T.30);
- ``modem`` — the 2100 Hz answer tone (V.25 ANS) for 3 s.
"""

from __future__ import annotations

import array
import functools
import math
import sys
import wave
from pathlib import Path

RATE = 8000  # the channel format of appliance.drivers.audio (not imported: kept standalone)
#: Peak of the generated tones: -10 dBFS, about a real line's level.
TONE_PEAK = 10_000
#: Where the spoken clips are.
DIRECTORY = Path(__file__).with_name("sounds")

SOURCES = ("person", "person-long", "machine", "silence", "fax", "modem")


class UnknownSound(ValueError):
    """A sound name that is not one of ``SOURCES``."""


def silence(seconds: float) -> bytes:
    return bytes(2 * round(seconds * RATE))


def tone(hz: float, seconds: float, peak: int = TONE_PEAK) -> bytes:
    """A sine of ``hz`` for ``seconds``, with 5 ms ramps so it starts and stops without a click."""
    n = round(seconds * RATE)
    ramp = min(40, n // 2)
    samples = array.array("h", bytes(2 * n))
    step = 2 * math.pi * hz / RATE
    for i in range(n):
        gain = min(1.0, (i + 1) / ramp, (n - i) / ramp) if ramp else 1.0
        samples[i] = round(peak * gain * math.sin(step * i))
    return _le(samples)


def clip(name: str) -> bytes:
    """A committed WAV under ``sounds/`` as s16le 8 kHz mono PCM."""
    path = DIRECTORY / f"{name}.wav"
    with wave.open(str(path), "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise ValueError(f"{path}: not 8 kHz mono 16-bit; remake it as sounds/README.md says")
        return w.readframes(w.getnframes())


@functools.cache
def sound(name: str) -> bytes:
    """The far end's audio for source ``name`` (one of ``SOURCES``), s16le mono 8 kHz."""
    if name == "person":
        return clip("hello") + silence(6.0)
    if name == "person-long":
        return clip("sentence") + silence(6.0)
    if name == "machine":
        return clip("greeting") + silence(0.3) + tone(1000, 0.4) + silence(6.0)
    if name == "silence":
        return silence(10.0)
    if name == "fax":
        return (tone(1100, 0.5) + silence(3.0)) * 4
    if name == "modem":
        return tone(2100, 3.0)
    raise UnknownSound(f"no sound {name!r}: use one of {', '.join(SOURCES)}")


def _le(samples: array.array[int]) -> bytes:
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()
