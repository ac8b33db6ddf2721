"""Steady tones on the line: fax and modem answer tones, and the voicemail beep.

Each 20 ms frame is reduced to its dominant frequency, how pure it is (the share of the frame's
energy within ±100 Hz of that frequency, Hann-windowed spectrum) and its level. Consecutive pure
frames at the same frequency make a *run*; a run long enough at a known frequency is a tone:

=========================  ==========  ==============  ==========================================
tone                       frequency   kind            sent by
=========================  ==========  ==============  ==========================================
CNG                        1100 Hz     ``fax``         a calling fax (0.5 s on, 3 s off)
CED / ANS (V.25, T.30)     2100 Hz     ``modem``       an answering modem (or fax: see docs/amd.md)
Bell 103 answer            2225 Hz     ``modem``       an answering Bell 103/212 modem
V.25 calling tone          1300 Hz     ``modem``       a calling data modem
voicemail beep             400–2000    (beep)          a machine, at the end of its greeting
=========================  ==========  ==============  ==========================================

A run's frequency is confirmed with a Goertzel-style single-frequency DFT at the nominal
frequency (numpy: one complex dot product per frame and frequency), so a tone 30 Hz off does not
pass for CNG. All durations are audio time: frames × 20 ms.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

import numpy as np

from appliance.audio.vad import VoiceActivity, level, samples
from appliance.drivers.audio import FRAME_MS, FRAME_SAMPLES, RATE, AudioChannel

#: Share of a frame's energy near its peak for the frame to count as a steady tone.
PURITY = 0.8
#: Share of a frame's energy at a known tone's frequency (single-frequency DFTs) for it to count.
GOERTZEL_SHARE = 0.5
#: Quietest tone worth hearing (mean absolute amplitude; a -40 dBm0 tone is ~30).
MIN_LEVEL = 60.0
#: A run follows one frequency within this many Hz.
DRIFT_HZ = 25.0
#: Frames a run may miss (a phase reversal in ANSam, a click) without ending.
GAP_FRAMES = 1

_FFT = 1024
_WINDOW = np.hanning(FRAME_SAMPLES)
_FREQS = np.fft.rfftfreq(_FFT, 1 / RATE)
_NEAR = 100.0  # Hz either side of the peak counted as "the tone"


@dataclass(frozen=True, slots=True)
class KnownTone:
    name: str
    hz: float
    tolerance: float  # Hz
    min_ms: int  # a run this long is the tone
    kind: Literal["fax", "modem"]  # the verdict it gives


KNOWN_TONES: tuple[KnownTone, ...] = (
    KnownTone("fax CNG", 1100.0, 38.0, 400, "fax"),
    KnownTone("modem answer tone (CED/ANS)", 2100.0, 30.0, 500, "modem"),
    KnownTone("Bell 103 answer tone", 2225.0, 30.0, 500, "modem"),
    KnownTone("modem calling tone", 1300.0, 30.0, 400, "modem"),
)

#: A voicemail beep: a steady tone in this band, at least this long.
BEEP_BAND = (400.0, 2000.0)
BEEP_MIN_MS = 140  # 7 frames: a 150 ms beep fills at least 7 frames once its edges are counted


def dominant(x: np.ndarray) -> tuple[float, float]:
    """The frame's dominant frequency (Hz) and its purity (0–1)."""
    x = x - x.mean()
    spec = np.abs(np.fft.rfft(x * _WINDOW, _FFT)) ** 2
    total = float(spec.sum())
    if total <= 0.0:
        return 0.0, 0.0
    k = int(np.argmax(spec))
    if 0 < k < len(spec) - 1:  # parabolic interpolation of the peak
        a, b, c = np.log(spec[k - 1 : k + 2] + 1e-12)
        den = a - 2 * b + c
        shift = 0.5 * (a - c) / den if den else 0.0
    else:
        shift = 0.0
    hz = float(_FREQS[k] + shift * (_FREQS[1] - _FREQS[0]))
    near = np.abs(_FREQS - hz) <= _NEAR
    return hz, float(spec[near].sum() / total)


def goertzel_share(x: np.ndarray, hz: float) -> float:
    """Share of the frame's energy at ``hz`` (a single-frequency DFT, as Goertzel computes it),
    1.0 for a pure tone at exactly ``hz``."""
    x = x - x.mean()
    energy = float(np.dot(x, x))
    if energy <= 0.0:
        return 0.0
    n = np.arange(len(x))
    y = np.dot(x, np.exp(-2j * np.pi * hz * n / RATE))
    return float(min(1.0, 2.0 * abs(y) ** 2 / (len(x) * energy)))


#: Where each known tone is probed, as fractions of its tolerance.
_OFFSETS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
_N = np.arange(FRAME_SAMPLES)
_PROBES = np.exp(
    -2j
    * np.pi
    * np.outer(np.concatenate([t.hz + _OFFSETS * t.tolerance for t in KNOWN_TONES]), _N / RATE)
)


def _shares(x: np.ndarray) -> np.ndarray:
    """``goertzel_share`` of the frame at every probe: one row per known tone."""
    x = x - x.mean()
    energy = float(np.dot(x, x))
    if energy <= 0.0 or len(x) != FRAME_SAMPLES:
        return np.zeros((len(KNOWN_TONES), len(_OFFSETS)))
    y = np.abs(_PROBES @ x) ** 2 * 2.0 / (FRAME_SAMPLES * energy)
    out: np.ndarray = np.minimum(1.0, y).reshape(len(KNOWN_TONES), len(_OFFSETS))
    return out


@dataclass(frozen=True, slots=True)
class Run:
    """A steady tone heard so far (or just ended)."""

    hz: float
    frames: int
    start: int  # frame index (since the tracker started) of its first frame

    @property
    def ms(self) -> int:
        return self.frames * FRAME_MS


class ToneTracker:
    """Feed frames; ``run`` is the steady tone going on (None when none), ``known`` the known
    tone it has become, ``ended`` the run that ended on the last frame fed."""

    def __init__(self) -> None:
        self.index = 0
        self.run: Run | None = None
        self.ended: Run | None = None
        self.pure = False  # the last frame was a steady tone
        self._hz_sum = 0.0
        self._gap = 0
        self._known_frames = [0] * len(KNOWN_TONES)
        self._known_gap = [0] * len(KNOWN_TONES)
        self._known_hz = [t.hz for t in KNOWN_TONES]

    def feed(self, frame: bytes) -> None:
        x = samples(frame)
        self.ended = None
        hz, purity = dominant(x)
        self.pure = purity >= PURITY and level(x) >= MIN_LEVEL
        run = self.run
        if self.pure and run is not None and abs(hz - run.hz) <= DRIFT_HZ:
            self._hz_sum += hz
            frames = run.frames + 1 + self._gap
            self.run = Run(self._hz_sum / (frames - self._gap), frames, run.start)
            self._gap = 0
        elif run is not None and not self.pure and self._gap < GAP_FRAMES:
            self._gap += 1
        else:
            if run is not None:
                self.ended = run
            self.run = Run(hz, 1, self.index) if self.pure else None
            self._hz_sum = hz if self.pure else 0.0
            self._gap = 0
        shares = _shares(x)
        for i, tone in enumerate(KNOWN_TONES):
            best = int(np.argmax(shares[i]))
            if (
                shares[i][best] >= GOERTZEL_SHARE
                and abs(hz - tone.hz) <= tone.tolerance  # the spectrum's peak is the tone
                and level(x) >= MIN_LEVEL
            ):
                self._known_frames[i] += 1 + self._known_gap[i]
                self._known_gap[i] = 0
                self._known_hz[i] = hz
            elif self._known_frames[i] and self._known_gap[i] < GAP_FRAMES:
                self._known_gap[i] += 1
            else:
                self._known_frames[i] = 0
                self._known_gap[i] = 0
        self.index += 1

    def known(self) -> KnownTone | None:
        """The known tone heard long enough: consecutive frames (one may miss) whose share of
        energy at the tone's frequency (single-frequency DFTs across its tolerance) is at least
        ``GOERTZEL_SHARE`` — so a tone still counts under noise that spoils its purity."""
        for tone, frames in zip(KNOWN_TONES, self._known_frames, strict=True):
            if frames * FRAME_MS >= tone.min_ms:
                return tone
        return None

    def known_hz(self, tone: KnownTone) -> float:
        """The frequency of ``tone`` as last heard (the spectrum's peak)."""
        return self._known_hz[KNOWN_TONES.index(tone)]

    def beep(self, run: Run | None = None) -> bool:
        """``run`` (default: the current one) is long enough, in the band, to be a beep."""
        run = run if run is not None else self.run
        return run is not None and BEEP_BAND[0] <= run.hz <= BEEP_BAND[1] and run.ms >= BEEP_MIN_MS


#: After the greeting, this much silence also says "leave the message now" (no beep heard).
SILENCE_AFTER_GREETING_MS = 1500


async def wait_for_beep(channel: AudioChannel, timeout: float) -> bool:
    """Wait for the voicemail beep — a steady single tone of 400–2000 Hz for ≥ 150 ms — and
    return True when it ends; or True when a greeting was heard and then
    ``SILENCE_AFTER_GREETING_MS`` of silence (a machine with no beep). False when ``timeout``
    seconds of audio time passed first, or the stream ended. Time is counted in frames heard;
    a stream that stalls without ending is also given up after ``timeout`` + 5 s of wall time."""
    try:
        async with asyncio.timeout(timeout + 5.0):  # no extra task: listening starts at once
            return await _beep(channel, timeout)
    except TimeoutError:
        return False


async def _beep(channel: AudioChannel, timeout: float) -> bool:
    tones = ToneTracker()
    vad = VoiceActivity(silence_threshold=256)
    limit = int(timeout * 1000) // FRAME_MS
    voiced = 0
    quiet = 0
    frames = 0
    async for frame in channel.listen():
        tones.feed(frame.heard)
        if tones.beep(tones.ended):
            return True
        voice = vad.is_voice(frame.heard) and not tones.pure
        if voice:
            voiced += 1
            quiet = 0
        elif tones.run is None:
            quiet += 1
            if voiced * FRAME_MS >= 300 and quiet * FRAME_MS >= SILENCE_AFTER_GREETING_MS:
                return True
        frames += 1
        if frames >= limit:
            return False
    return False
