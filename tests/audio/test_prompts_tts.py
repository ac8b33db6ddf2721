"""Prompts written as text (#24), spoken by espeak-ng; without it, or with tts off, a clear error
saying what to do, and nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from appliance.audio.prompts import MAX_TEXT, PromptError, Prompts, TtsUnavailable
from appliance.drivers.audio import RATE, SAMPLE_BYTES
from tests.audio.prompt_sounds import samples_of

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(
    ESPEAK is None, reason="espeak-ng is not installed (apt-get install espeak-ng; .ci/run does)"
)


def voiced_seconds(pcm: bytes) -> float:
    """Seconds of 20 ms frames louder than -40 dBFS."""
    x = samples_of(pcm)
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return float(np.sum(rms > 32768 * 0.01) * 0.02)


@needs_espeak
def test_text_is_spoken_at_8k_and_longer_text_takes_longer(tmp_path: Path) -> None:
    prompts = Prompts(tmp_path)
    short = prompts.add_text("hi", "Hello.")
    long = prompts.add_text(
        "consent", "This call may be recorded for quality and training purposes. Thank you."
    )
    assert (long.format, long.file, long.text) == (
        "text",
        "consent.txt",
        "This call may be recorded for quality and training purposes. Thank you.",
    )
    assert short.duration is not None and long.duration is not None
    assert 0.3 < short.duration < long.duration < 15
    pcm = prompts.pcm("consent")
    assert len(pcm) / (SAMPLE_BYTES * RATE) == pytest.approx(long.duration, abs=0.001)
    assert voiced_seconds(pcm) > 2.0  # speech, not silence
    # A dropped .txt is spoken too; an uploaded .txt file is a text prompt.
    (tmp_path / "dropped.txt").write_text("Press one to speak to an agent.\n", "utf-8")
    assert voiced_seconds(prompts.pcm("dropped")) > 1.0
    info = prompts.add("uploaded", b"Goodbye.", "goodbye.txt")
    assert info.format == "text" and info.text == "Goodbye."


@needs_espeak
def test_text_that_looks_like_an_option_is_spoken_not_obeyed(tmp_path: Path) -> None:
    prompts = Prompts(tmp_path)
    evil = tmp_path / "evil.wav"
    info = prompts.add_text("dash", f"--help -w {evil}")
    assert info.duration and info.duration > 0.5
    assert not evil.exists()


def test_without_espeak_ng_text_is_refused_saying_to_install_it(tmp_path: Path) -> None:
    prompts = Prompts(tmp_path, espeak=str(tmp_path / "no-such-espeak-ng"))
    with pytest.raises(TtsUnavailable, match=r"apt-get install espeak-ng.*upload a WAV"):
        prompts.add_text("hello", "Hello there.")
    assert list(tmp_path.iterdir()) == []
    # A dropped text file says so when played, and in the list; once espeak-ng is there it plays.
    (tmp_path / "dropped.txt").write_text("Hello.", "utf-8")
    with pytest.raises(PromptError, match=r"prompt 'dropped' is text.*apt-get install espeak-ng"):
        prompts.pcm("dropped")
    [info] = prompts.list()
    assert info.text == "Hello." and "espeak-ng" in (info.error or "")
    if ESPEAK is not None:
        prompts.espeak = ESPEAK
        assert prompts.pcm("dropped")


def test_with_tts_off_text_is_refused_saying_how_to_turn_it_on(tmp_path: Path) -> None:
    prompts = Prompts(tmp_path, tts=False)
    with pytest.raises(TtsUnavailable, match=r"prompts\.tts: true"):
        prompts.add_text("hello", "Hello there.")
    with pytest.raises(TtsUnavailable):
        prompts.add("hello", b"Hello there.", "hello.txt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("   \n ", "the text is empty"),
        ("a" * (MAX_TEXT + 1), f"at most {MAX_TEXT}"),
        ("bell\x07", "control character"),
    ],
)
def test_bad_text_is_refused(tmp_path: Path, text: str, why: str) -> None:
    prompts = Prompts(tmp_path)
    with pytest.raises(PromptError, match=why):
        prompts.add_text("t", text)
    with pytest.raises(PromptError, match="not UTF-8"):
        prompts.add("t", b"\xff\xfe bad", "t.txt")
    assert list(tmp_path.iterdir()) == []
