"""Voice activity on 20 ms frames of 8 kHz s16le: is the far end talking in this frame?

Two tests must both pass for a frame to count as voice:

* the energy gate, as Asterisk's silence detector (``silence_threshold``, 0–32767): the frame's
  mean absolute amplitude, after its DC offset is removed, must reach the threshold — and must
  stand out of the line's own noise floor (the quietest frames of the last seconds), so a
  steady hiss or hum louder than the threshold is not taken for a voice;
* Google's WebRTC voice activity detector (``webrtcvad-wheels``), which tells speech from other
  sound (tones, noise bursts) by its spectrum.

Any bytes are accepted: a frame that is short, long or of odd length is cut or padded to one
frame rather than raising, because it comes from a line the box does not control.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import webrtcvad

from appliance.drivers.audio import FRAME_BYTES, RATE

#: How much louder than the noise floor a frame must be to count as voice (≈ +4 dB).
FLOOR_RATIO = 1.6
#: Frames over which the noise floor is measured (2 s of audio)...
FLOOR_FRAMES = 100
#: ... as this percentile of their levels: the pauses between words, the wait before speech.
FLOOR_PERCENTILE = 20
#: WebRTC VAD aggressiveness 0 (least) to 3 (most eager to call a frame non-speech).
AGGRESSIVENESS = 1


def fit(frame: bytes) -> bytes:
    """``frame`` cut or padded with silence to exactly one frame."""
    if len(frame) == FRAME_BYTES:
        return frame
    return frame[:FRAME_BYTES].ljust(FRAME_BYTES, b"\0")


def samples(frame: bytes) -> np.ndarray:
    """One frame as float64 samples (after ``fit``)."""
    return np.frombuffer(fit(frame), dtype="<i2").astype(np.float64)


def level(x: np.ndarray) -> float:
    """Mean absolute amplitude of ``x`` with its DC offset removed (0–32768)."""
    return float(np.mean(np.abs(x - x.mean()))) if len(x) else 0.0


class VoiceActivity:
    """Frame-by-frame voice decision with a noise floor that follows the line."""

    def __init__(self, silence_threshold: int, aggressiveness: int = AGGRESSIVENESS) -> None:
        self.threshold = silence_threshold
        self._vad = webrtcvad.Vad(aggressiveness)
        self._levels: deque[float] = deque(maxlen=FLOOR_FRAMES)
        self.last_level = 0.0

    @property
    def floor(self) -> float:
        """The line's noise floor: the ``FLOOR_PERCENTILE`` level of the last ``FLOOR_FRAMES``."""
        if not self._levels:
            return 0.0
        ordered = sorted(self._levels)
        return ordered[(len(ordered) - 1) * FLOOR_PERCENTILE // 100]

    def is_voice(self, frame: bytes) -> bool:
        frame = fit(frame)
        x = np.frombuffer(frame, dtype="<i2").astype(np.float64)
        lvl = level(x)
        self.last_level = lvl
        self._levels.append(lvl)
        if lvl < self.threshold or lvl < self.floor * FLOOR_RATIO:
            return False
        # the VAD sees the frame without its DC offset (a DC-shifted line is still a line)
        centred = np.clip(np.rint(x - x.mean()), -32768, 32767).astype("<i2").tobytes()
        return bool(self._vad.is_speech(centred, RATE))
