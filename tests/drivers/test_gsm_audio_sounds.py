"""The emulators' far-end sounds (#24): each source is what it says, in the channel's format."""

from __future__ import annotations

import array
import math
import wave

import pytest

from appliance.drivers.audio import RATE
from appliance.drivers.emulators import sounds
from appliance.drivers.emulators.sounds import SOURCES, UnknownSound, sound


def samples(pcm: bytes) -> array.array[int]:
    return array.array("h", pcm)


def power(pcm: bytes) -> float:
    s = samples(pcm)
    return sum(x * x for x in s) / max(1, len(s))


def goertzel(pcm: bytes, hz: float) -> float:
    """Power of ``hz`` in ``pcm`` relative to its total power (1.0 = a pure tone)."""
    s = samples(pcm)
    coeff = 2 * math.cos(2 * math.pi * hz / RATE)
    a = b = 0.0
    for x in s:
        a, b = x + coeff * a - b, a
    tone = a * a + b * b - coeff * a * b
    total = sum(x * x for x in s) * len(s) / 2
    return tone / total if total else 0.0


def at(pcm: bytes, start: float, end: float) -> bytes:
    return pcm[2 * round(start * RATE) : 2 * round(end * RATE)]


def test_every_source_is_whole_samples_and_named_ones_fail_clearly() -> None:
    for name in SOURCES:
        pcm = sound(name)
        assert pcm and len(pcm) % 2 == 0
    with pytest.raises(UnknownSound, match="use one of person, person-long"):
        sound("robot")


def test_person_says_hello_then_waits_six_seconds() -> None:
    pcm = sound("person")
    assert power(at(pcm, 0.0, 0.4)) > 1e5  # speech from the answer
    assert len(pcm) / 2 / RATE == pytest.approx(6.48, abs=0.05)
    assert power(at(pcm, 0.5, 6.48)) == 0


def test_person_long_talks_for_seconds() -> None:
    pcm = sound("person-long")
    spoken = [power(at(pcm, t, t + 0.5)) > 1e4 for t in (0.0, 1.0, 2.0, 3.0)]
    assert spoken.count(True) >= 3
    assert power(at(pcm, 3.9, 9.7)) == 0


def test_machine_greets_for_four_seconds_then_beeps_at_1khz() -> None:
    pcm = sound("machine")
    greeting = clip_seconds("greeting")
    assert 3.5 < greeting < 4.5
    assert power(at(pcm, 0.5, 3.5)) > 1e5
    beep = at(pcm, greeting + 0.3, greeting + 0.7)
    assert goertzel(beep, 1000) > 0.9
    assert power(at(pcm, greeting + 0.75, greeting + 6.5)) == 0


def test_fax_is_cng_and_modem_is_the_answer_tone() -> None:
    fax = sound("fax")
    assert len(fax) / 2 / RATE == pytest.approx(14.0)
    for cycle in range(4):
        assert goertzel(at(fax, cycle * 3.5, cycle * 3.5 + 0.5), 1100) > 0.9
        assert power(at(fax, cycle * 3.5 + 0.5, cycle * 3.5 + 3.5)) == 0
    modem = sound("modem")
    assert len(modem) / 2 / RATE == pytest.approx(3.0)
    assert goertzel(modem, 2100) > 0.9
    assert goertzel(modem, 1100) < 0.01


def test_silence_is_silent() -> None:
    assert power(sound("silence")) == 0


def test_clips_are_small_8khz_mono_16bit() -> None:
    for path in sorted(sounds.DIRECTORY.glob("*.wav")):
        assert path.stat().st_size < 100_000, path
        with wave.open(str(path)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)


def clip_seconds(name: str) -> float:
    return len(sounds.clip(name)) / 2 / RATE
