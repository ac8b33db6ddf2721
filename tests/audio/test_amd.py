"""Answering-machine, fax and modem detection on the audio path (#24): real sound through a
LoopbackChannel, decided in audio time (frames × 20 ms), never the wall clock."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from appliance.audio.amd import (
    TUNED,
    AnsweringMachineDetector,
    BudgetRules,
    Verdict,
    detect,
    rules_for,
)
from appliance.campaigns import AmdSettings
from appliance.drivers.audio import FRAME_BYTES, LoopbackChannel
from tests.audio.amd_sounds import cat, espeak, needs_espeak, pcm, silence, tone, voice

SETTINGS = AmdSettings()


def run(sound: bytes, settings: AmdSettings = SETTINGS, *, end: bool = False) -> Verdict:
    """``detect`` on a channel fed ``sound`` (then closed when ``end``)."""

    async def main() -> Verdict:
        channel = LoopbackChannel("t")
        task = asyncio.create_task(detect(channel, settings))
        await asyncio.sleep(0)  # detect is listening
        channel.feed(sound)
        if end:
            await channel.close()
        verdict = await asyncio.wait_for(task, 5)
        await channel.close()
        return verdict

    return asyncio.run(main())


# ---------------------------------------------------------------- synthetic: always run
def test_a_short_answer_then_silence_is_a_person_within_the_budget() -> None:
    v = run(pcm(cat(silence(0.4), voice(0.5), silence(2.0))))
    assert v.kind == "person"
    assert v.at < SETTINGS.budget / 1000
    assert v.evidence[0].startswith("amd person: short answer")
    assert f"at {v.at:.2f} s" in v.evidence[0]


def test_a_greeting_that_runs_on_is_a_machine() -> None:
    v = run(pcm(cat(silence(0.2), voice(3.0), silence(1.0))))
    assert v.kind == "machine"
    assert v.at <= SETTINGS.budget / 1000
    assert "talk without a pause" in v.evidence[0]


def test_a_short_greeting_then_a_beep_is_a_machine() -> None:
    v = run(pcm(cat(silence(0.2), voice(0.6), silence(0.2), tone(1000, 0.4), silence(2))))
    assert v.kind == "machine"
    assert "beep 1000 Hz" in v.evidence[0]


def test_fax_cng_is_fax() -> None:
    v = run(pcm(cat(silence(0.3), tone(1100, 0.5), silence(3.0))))
    assert v.kind == "fax"
    assert "fax CNG 1100 Hz" in v.evidence[0]
    assert v.at == pytest.approx(0.3 + 0.4, abs=0.05)


@pytest.mark.parametrize("hz", [2100.0, 2225.0, 1300.0])
def test_modem_tones_are_modem(hz: float) -> None:
    v = run(pcm(cat(silence(0.2), tone(hz, 3.0), silence(0.5))))
    assert v.kind == "modem"
    assert f"{hz:.0f} Hz" in v.evidence[0]


def test_fax_cng_under_loud_noise_is_still_fax() -> None:
    rng = np.random.default_rng(4)
    sound = cat(silence(0.3), tone(1100, 0.5, amp=1500), silence(3.0))
    v = run(pcm(sound + rng.standard_normal(len(sound)) * 750))
    assert v.kind == "fax", v.evidence


def test_a_beep_at_the_fax_frequency_after_a_greeting_is_a_machine() -> None:
    v = run(pcm(cat(silence(0.2), voice(0.6), silence(0.2), tone(1100, 0.6), silence(2))))
    assert v.kind == "machine" and "beep 1100 Hz" in v.evidence[0]


def test_a_tone_60_hz_off_cng_is_not_fax() -> None:
    v = run(pcm(cat(silence(0.3), tone(1160, 0.5), silence(3.0))))
    assert v.kind != "fax"


def test_silence_is_undecided_at_the_budget_in_audio_time_not_wall_time() -> None:
    started = time.monotonic()
    v = run(pcm(silence(8.0)))  # 8 s of audio, fed at once
    assert time.monotonic() - started < 3.0  # no waiting for the wall clock
    assert v.kind == "undecided"
    assert v.at == pytest.approx(1.9)  # the default budget: 1.9 s, a p95 under 2 s
    assert "budget 1.90 s" in v.evidence[0]
    # a campaign that gives it more time hears amd.conf's initial silence (2.5 s) out
    v = run(pcm(silence(8.0)), AmdSettings(budget=5000))
    assert (v.kind, v.at) == ("machine", pytest.approx(2.5))
    assert "initial silence" in v.evidence[0]


def test_a_stream_that_ends_before_a_decision_is_hung_up() -> None:
    v = run(pcm(cat(silence(0.3), voice(0.3))), end=True)
    assert v.kind == "hung_up"
    assert v.at == pytest.approx(0.6)
    assert "ended after 0.60 s" in v.evidence[0]
    assert run(b"", end=True).kind == "hung_up"


@pytest.mark.parametrize(
    "name",
    ["full-scale noise", "dc", "clipped square", "random bytes", "alternating extremes"],
)
def test_hostile_sound_never_crashes_and_decides_by_the_budget(name: str) -> None:
    rng = np.random.default_rng(7)
    n = 8000 * 4
    sound = {
        "full-scale noise": pcm(rng.uniform(-32768, 32767, n)),
        "dc": pcm(np.full(n, 30000.0)),
        "clipped square": pcm(np.sign(np.sin(np.arange(n) * 0.3)) * 40000),
        "random bytes": rng.integers(0, 256, n * 2, dtype=np.uint8).tobytes(),
        "alternating extremes": pcm(np.tile([32767.0, -32768.0], n // 2)),
    }[name]
    v = run(sound)
    assert v.kind in ("person", "machine", "fax", "modem", "undecided")
    assert v.at <= 2.0
    assert v.evidence


def test_feed_takes_frames_of_any_length() -> None:
    det = AnsweringMachineDetector(SETTINGS)
    for chunk in (b"", b"\x01", bytes(FRAME_BYTES * 3), b"\xff" * 7):
        assert det.feed(chunk) is None
    assert det.ms == 80  # each call is one frame of audio time
    while (v := det.feed(b"")) is None:
        pass
    assert v.kind == "undecided" and det.feed(bytes(FRAME_BYTES)) is v


def test_amd_conf_logic_alone_decides_person_on_its_after_greeting_silence() -> None:
    # budget rules off (a long budget): amd.conf's 0.8 s of silence after the greeting
    det = AnsweringMachineDetector(AmdSettings(budget=5000), BudgetRules())
    sound = pcm(cat(silence(0.4), voice(0.5), silence(2.0)))
    verdicts = [det.feed(sound[i : i + FRAME_BYTES]) for i in range(0, len(sound), FRAME_BYTES)]
    v = next(v for v in verdicts if v is not None)
    assert v.kind == "person" and "0.80 s" in v.evidence[0]
    assert v.at == pytest.approx(0.4 + 0.5 + 0.8, abs=0.1)


# ---------------------------------------------------------------- espeak-ng speech
@needs_espeak
def test_a_person_saying_hello_is_a_person_within_the_budget() -> None:
    v = run(pcm(cat(silence(0.5), espeak("hello?"), silence(3.0))))
    assert v.kind in ("person", "undecided")  # undecided at the budget: treated as a person
    assert v.kind == "person", v.evidence
    assert v.at < 2.0


@needs_espeak
def test_a_voicemail_greeting_is_a_machine() -> None:
    greeting = espeak(
        "Hi, you have reached the voicemail of Anna. I cannot take your call right now, "
        "please leave a message after the tone."
    )
    sound = pcm(cat(silence(0.2), greeting[: 8000 * 5], silence(0.5)))
    v = run(sound, AmdSettings(budget=3000))  # a campaign that gives the detector 3 s
    assert v.kind == "machine", v.evidence
    assert v.at <= 3.0
    # within the default 1.9 s this greeting is not yet told from a person who answers with a
    # sentence: it is left undecided (handed on as a person — the safe side, docs/amd.md)
    v = run(sound)
    assert (v.kind, v.at) == ("undecided", pytest.approx(1.9)), v.evidence


@needs_espeak
def test_a_person_in_loud_noise_is_not_taken_for_a_machine() -> None:
    rng = np.random.default_rng(3)
    sound = cat(silence(0.6), espeak("yes?"), silence(3.0))
    v = run(pcm(sound + rng.standard_normal(len(sound)) * 400))
    assert v.kind in ("person", "undecided"), v.evidence


def test_amd_conf_word_count_decides_when_the_budget_rules_are_off() -> None:
    # two words (100 ms of voice, 0.3 s apart) with a 5 s budget: amd.conf's MAXWORDS-2
    sound = pcm(cat(silence(0.3), voice(0.3), silence(0.3), voice(0.3), silence(3)))
    v = run(sound, AmdSettings(budget=5000))
    assert v.kind == "machine" and "2 words >= 2" in v.evidence[0]
    # inside the default 2 s budget the word count is off (BudgetRules.count_words)
    assert run(sound).kind != "machine"


# ---------------------------------------------------------------- the deadline rule, the budgets
def syllables(seconds: float, gap: float) -> np.ndarray:
    """Speech-like voice in 0.25 s bursts separated by ``gap`` s of silence (word gaps)."""
    parts: list[np.ndarray] = []
    while sum(len(p) for p in parts) < seconds * 8000:
        parts += [voice(0.25), silence(gap)]
    return cat(*parts)[: int(seconds * 8000)]


DEADLINE = BudgetRules(long_talk=5000, deadline_talk=1200, deadline_density=0.6, pause=300)


def test_a_greeting_still_going_at_the_budget_is_a_machine_at_the_budget() -> None:
    # word gaps of 0.12 s (under the 0.3 s pause): one greeting since 0.3 s, dense, still going
    det = AnsweringMachineDetector(AmdSettings(budget=1900), DEADLINE)
    sound = pcm(cat(silence(0.3), syllables(4.0, 0.12)))
    v = next(
        v for i in range(0, len(sound), FRAME_BYTES) if (v := det.feed(sound[i : i + FRAME_BYTES]))
    )
    assert v.kind == "machine"
    assert v.at == pytest.approx(1.9)
    assert "still talking at the budget 1.90 s" in v.evidence[0]


def test_the_deadline_rule_spares_a_talker_who_paused_or_started_late() -> None:
    # hostile twins of the case above: the same voice, but it stopped 0.4 s before the budget
    # (a pause longer than `pause`), or it began too late to have talked `deadline_talk`
    for sound in (
        cat(silence(0.3), syllables(1.2, 0.12), silence(3.0)),
        cat(silence(1.0), syllables(4.0, 0.12)),
    ):
        det = AnsweringMachineDetector(AmdSettings(budget=1900), DEADLINE)
        data = pcm(sound)
        v = next(
            v
            for i in range(0, len(data), FRAME_BYTES)
            if (v := det.feed(data[i : i + FRAME_BYTES]))
        )
        assert v.kind != "machine", v.evidence


def test_sparse_sound_is_not_a_greeting_at_the_deadline() -> None:
    # bursts with gaps just under `pause`: still going, but voiced well under 60 % of the time
    det = AnsweringMachineDetector(AmdSettings(budget=1900), DEADLINE)
    data = pcm(cat(silence(0.3), *[cat(voice(0.1), silence(0.28))] * 12))
    v = next(
        v for i in range(0, len(data), FRAME_BYTES) if (v := det.feed(data[i : i + FRAME_BYTES]))
    )
    assert v.kind != "machine", v.evidence


def test_the_budget_picks_the_rules_tuned_for_it() -> None:
    assert [upto for upto, _ in TUNED] == sorted(upto for upto, _ in TUNED)
    assert rules_for(1900) is TUNED[0][1] and rules_for(AmdSettings().budget) == BudgetRules()
    assert rules_for(2500) is TUNED[1][1] and rules_for(3000) is TUNED[2][1]
    assert rules_for(20_000) is TUNED[-1][1]  # beyond min_budget_ms the rules are off anyway
    assert AnsweringMachineDetector(AmdSettings(budget=3000)).rules is rules_for(3000)
    assert AmdSettings().budget < 2000  # the default decides with a p95 under 2 s
