"""Tones on the line (#24): the detectors' frequencies, and waiting for the voicemail beep."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from appliance.audio.tones import ToneTracker, goertzel_share, wait_for_beep
from appliance.drivers.audio import FRAME_BYTES, LoopbackChannel
from tests.audio.amd_sounds import cat, pcm, silence, tone, voice


def track(sound: bytes) -> ToneTracker:
    t = ToneTracker()
    for i in range(0, len(sound), FRAME_BYTES):
        t.feed(sound[i : i + FRAME_BYTES])
    return t


@pytest.mark.parametrize(
    ("hz", "kind"), [(1100, "fax"), (2100, "modem"), (2225, "modem"), (1300, "modem")]
)
def test_known_tones_are_named_once_long_enough(hz: float, kind: str) -> None:
    assert track(pcm(tone(hz, 0.2))).known() is None  # too short yet
    known = track(pcm(tone(hz, 0.6))).known()
    assert known is not None and known.kind == kind


def test_goertzel_share_is_one_for_the_tone_and_small_elsewhere() -> None:
    x = tone(2100, 0.02)
    assert goertzel_share(x, 2100) == pytest.approx(1.0, abs=0.02)
    assert goertzel_share(x, 1100) < 0.01
    assert goertzel_share(np.zeros(160), 1100) == 0.0


def test_speech_and_noise_are_not_tones() -> None:
    rng = np.random.default_rng(1)
    assert track(pcm(voice(1.0))).known() is None
    t = track(pcm(rng.standard_normal(8000) * 3000))
    assert t.run is None or not t.beep()


def wait(sound: bytes, timeout: float = 10.0, end: bool = False) -> tuple[bool, int]:
    async def main() -> tuple[bool, int]:
        channel = LoopbackChannel("t")
        task = asyncio.create_task(wait_for_beep(channel, timeout))
        await asyncio.sleep(0)
        channel.feed(sound)
        if end:
            await channel.close()
        got = await asyncio.wait_for(task, 5)
        index = channel.index
        await channel.close()
        return got, index

    return asyncio.run(main())


def test_the_beep_after_the_greeting_is_waited_for() -> None:
    assert wait(pcm(cat(voice(2.0), silence(0.3), tone(850, 0.5), silence(5))))[0] is True


def test_a_greeting_then_silence_without_a_beep_also_says_speak_now() -> None:
    assert wait(pcm(cat(voice(2.0), silence(4))))[0] is True


def test_no_beep_within_the_timeout_of_audio_time_is_false() -> None:
    assert wait(pcm(silence(4)), timeout=2.0)[0] is False
    assert wait(pcm(voice(4)), timeout=2.0)[0] is False


def test_a_stream_that_ends_is_false() -> None:
    assert wait(pcm(voice(1.0)), end=True)[0] is False


def test_garbage_does_not_crash_the_wait() -> None:
    rng = np.random.default_rng(2)
    junk = rng.integers(0, 256, 8000 * 3 * 2, dtype=np.uint8).tobytes()
    assert wait(junk, timeout=2.0)[0] in (True, False)
