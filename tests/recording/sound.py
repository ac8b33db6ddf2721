"""Known sound for the recording tests: distinct, non-silent frames on both sides, so a frame
out of place, lost or swapped between the channels shows."""

from __future__ import annotations

import math
from array import array

from appliance.drivers.audio import FRAME_BYTES, FRAME_SAMPLES, RATE


def tone(hz: float, frames: int, amplitude: int = 8000, phase: float = 0.0) -> bytes:
    """A sine of `frames` 20 ms frames, s16le 8 kHz."""
    n = frames * FRAME_SAMPLES
    return array(
        "h", (int(amplitude * math.sin(phase + 2 * math.pi * hz * i / RATE)) for i in range(n))
    ).tobytes()


def numbered(frames: int, seed: int = 0) -> bytes:
    """Frames whose every sample says which frame it is (and of which side, by `seed`)."""
    out = bytearray()
    for i in range(frames):
        value = ((i * 37 + seed * 1000) % 20000) - 10000 or 1
        out += array("h", [value] * FRAME_SAMPLES).tobytes()
    assert len(out) == frames * FRAME_BYTES
    return bytes(out)
