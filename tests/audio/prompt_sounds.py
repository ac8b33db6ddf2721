"""Sounds for the prompts' tests, made here with numpy and soundfile (no committed files)."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from appliance.drivers.audio import RATE


def tone(
    freq: float, seconds: float, rate: int, channels: int = 1, level: float = 0.5
) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    mono = level * np.sin(2 * np.pi * freq * t)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


def encoded(samples: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    out = io.BytesIO()
    sf.write(out, samples, rate, format=fmt, subtype=subtype)
    return out.getvalue()


def samples_of(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, "<i2").astype(np.float64)


def dominant(pcm: bytes) -> float:
    """The strongest frequency (Hz) of 8 kHz s16le sound, by FFT with a Hann window."""
    x = samples_of(pcm)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * RATE / len(x))


def power_at(pcm: bytes, freq: float) -> float:
    """Goertzel: the power of `freq` in 8 kHz s16le sound, relative to the total."""
    x = samples_of(pcm) / 32768
    coeff = 2 * np.cos(2 * np.pi * freq / RATE)
    s1 = s2 = 0.0
    for sample in x:
        s1, s2 = sample + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return float(power / (len(x) * np.sum(x * x) / 2 + 1e-12))
