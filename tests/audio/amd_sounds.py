"""Sound for the audio tests: synthetic signals (always available) and espeak-ng speech."""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np
import pytest

RATE = 8000

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng; .ci/run installs it)",
)


def pcm(x: np.ndarray) -> bytes:
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE))


def tone(hz: float, seconds: float, amp: float = 8000.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return amp * np.sin(2 * np.pi * hz * t)


def voice(seconds: float, f0: float = 140.0, amp: float = 6000.0) -> np.ndarray:
    """A synthetic voiced sound: a harmonic series on a wavering pitch, in syllables (4 Hz) —
    what a voice activity detector takes for speech, without a speech engine."""
    t = np.arange(int(seconds * RATE)) / RATE
    f = f0 * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f) / RATE
    x = sum((1 / k) * np.sin(k * phase) for k in range(1, 20))
    env = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t) ** 2
    return amp * x / np.max(np.abs(x)) * env


def cat(*parts: np.ndarray) -> np.ndarray:
    return np.concatenate(parts)


def espeak(text: str, voice: str = "en-us", speed: int = 160, level: float = 2000.0) -> np.ndarray:
    """espeak-ng speaking ``text``, at 8 kHz, scaled to an active speech RMS of ``level``."""
    import soxr

    out = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    with wave.open(io.BytesIO(out)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    y = np.asarray(soxr.resample(x, rate, RATE), dtype=np.float64)
    on = np.flatnonzero(np.abs(y) > 0.01 * np.max(np.abs(y)))
    y = y[on[0] : on[-1] + 1]
    frames = y[: len(y) // 160 * 160].reshape(-1, 160)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    active = rms[rms > rms.max() * 0.03]
    return y * level / float(np.sqrt(np.mean(active**2)))
