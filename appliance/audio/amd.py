"""Answering-machine detection on a call's audio path (SPEC H4, H7; #24).

The core is the greeting-length logic of Asterisk's ``app_amd`` with its ``amd.conf`` settings
(``AmdSettings``, milliseconds of audio time): frames are voice or silence (``vad``); a run of
voice of ``min_word_length`` after silence of ``between_words_silence`` is a word; then

* silence before any word lasting ``initial_silence``            → machine (INITIALSILENCE)
* one utterance of ``maximum_word_length`` without a pause       → machine (MAXWORDLENGTH)
* ``maximum_number_of_words`` words                              → machine (MAXWORDS)
* ``greeting`` ms of voice since the first word                  → machine (LONGGREETING)
* ``after_greeting_silence`` of silence after the greeting       → person  (HUMAN)
* ``total_analysis_time`` with none of these                     → undecided (TOOLONG)

On top of it the ``budget`` (the 2-second rule: a live person must be handed on in time) stops
the analysis: a call undecided ``budget`` ms after the answer is "undecided", which the engine
treats as a person. amd.conf's defaults (a 1.5 s greeting, 0.8 s of silence after it) rarely
decide inside 2 s, so the budget-aware rules (``BudgetRules``: a long talk spurt, a greeting
still going at the budget, a short answer then silence — one set per budget, ``TUNED``, tuned
on ``bench/amd.py``'s tuning seeds) decide earlier on the same evidence; docs/amd.md gives the
figures and the trade-off between false positives and machines detected.

Tones come first: fax CNG → "fax"; modem answer or calling tones → "modem"; a steady beep after
speech → "machine" (the voicemail beep of a short greeting).

Every verdict carries evidence a technician can read, e.g.
``amd machine: greeting 1.52 s > 1.50 s at 2.06 s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from appliance.audio.tones import ToneTracker
from appliance.audio.vad import VoiceActivity, fit
from appliance.campaigns import AmdSettings
from appliance.drivers.audio import FRAME_MS, SILENCE, AudioChannel

Kind = Literal["person", "machine", "fax", "modem", "undecided", "hung_up"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What answered: ``at`` is seconds of audio time since the answer (the detector's start)."""

    kind: Kind
    at: float
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BudgetRules:
    """Earlier decisions that let the detector answer inside the budget (ms of audio time).

    They look at *talk spurts*: voice with the gaps shorter than ``pause`` bridged (the stops
    between words — espeak-ng's are under 0.2 s nine times in ten, its commas 0.2–0.4 s),
    measured from its first voiced frame to its last.

    * ``long_talk``: a spurt this long says machine — a greeting that runs on (amd.conf's
      ``greeting`` counts voiced frames only, so choppy speech takes far longer to reach it);
    * ``quick_silence``: silence this long after an answer whose longest spurt was at most
      ``short_answer`` says person — someone said "hello?" and waits for the caller;
    * ``deadline_talk`` (0: off): at the budget, a greeting that began at least this long ago,
      is still going (its last voice less than ``pause`` ago) and was voiced for at least
      ``deadline_density`` of that time says machine — it has talked through the time a person
      takes to answer;
    * ``min_budget_ms``: the rules apply only while the budget is at most this (a campaign that
      allows more time gets amd.conf's logic alone);
    * ``count_words``: whether amd.conf's ``maximum_number_of_words`` still decides "machine"
      while the rules apply. Off: with 20 ms frames and ``between_words_silence`` 50 ms, a
      syllable is a word, and 2 words took "hello, who is this?" for a machine in a third of
      the bench's short-phrase answers;
    * ``count_greeting``: whether amd.conf's ``greeting`` (that much voice in all) still decides
      "machine" while the rules apply — at budgets of 2.5 s and more it takes persons who answer
      with a sentence for machines.

    The defaults are the rules tuned for a 1.9 s budget; ``rules_for`` picks the set tuned for
    a campaign's budget (``TUNED``).
    """

    pause: int = 300
    long_talk: int = 1700
    quick_silence: int = 550
    short_answer: int = 700
    min_budget_ms: int = 4000
    count_words: bool = False
    deadline_talk: int = 1500
    deadline_density: float = 0.75
    count_greeting: bool = True


#: Rules per budget (ms): the set for the smallest listed budget at or above the campaign's,
#: each the most machines detected with at most 1 % of persons taken for machines on the
#: tuning seeds 101–104 of ``bench/amd.py --curve`` (1 %: two standard errors of a 2 % rate
#: measured on ~950 persons under Ofcom-minded 2 %); for 3 s, the lowest rate among the sets
#: that still tell the emulators' ``person`` from their ``machine`` (1.5 %; the end-to-end test
#: runs with a 3 s budget). Figures in docs/amd.md, seeds 1–4.
TUNED: tuple[tuple[int, BudgetRules], ...] = (
    (2200, BudgetRules()),  # 1.9 s: seeds 1-4 FP 1.0 %, machines 14.5 %
    (
        2750,  # 2.5 s: seeds 1-4 FP 0.6 %, machines 21.8 %
        BudgetRules(
            pause=400,
            long_talk=2300,
            quick_silence=550,
            deadline_talk=2100,
            deadline_density=0.75,
            count_greeting=False,
        ),
    ),
    (
        4000,  # 3 s: seeds 1-4 FP 1.6 %, machines 36.4 % (keeps the emulator's sounds right)
        BudgetRules(pause=500, long_talk=2600, deadline_talk=0, count_greeting=False),
    ),
)


def rules_for(budget: int) -> BudgetRules:
    """The budget rules tuned for ``budget`` ms (above ``min_budget_ms`` they are off anyway)."""
    for upto, rules in TUNED:
        if budget <= upto:
            return rules
    return TUNED[-1][1]


DEFAULT_RULES = BudgetRules()


@dataclass(frozen=True, slots=True)
class Features:
    """One frame as the decision sees it (``AnsweringMachineDetector.features``)."""

    voice: bool
    tone: tuple[Kind, str, float, int] | None  # a known tone: kind, name, Hz, ms so far
    beep_hz: float | None  # a steady tone long enough to be a voicemail beep


def _s(ms: float) -> str:
    return f"{ms / 1000:.2f} s"


class AnsweringMachineDetector:
    """Feed the far end's frames (20 ms, 8 kHz s16le) from the answer on; ``feed`` returns the
    verdict once there is one (and the same verdict for any frame after)."""

    def __init__(self, settings: AmdSettings, rules: BudgetRules | None = None) -> None:
        self.settings = settings
        self.rules = rules if rules is not None else rules_for(settings.budget)
        self.vad = VoiceActivity(settings.silence_threshold)
        self.tones = ToneTracker()
        self.verdict: Verdict | None = None
        self.frames = 0
        # app_amd's state
        self._in_word = False
        self._in_initial_silence = True
        self._in_greeting = False
        self._words = 0
        self._silence = 0  # ms of the current silence
        self._consecutive_voice = 0  # ms of the current utterance
        self._voice = 0  # ms of voice heard in all
        # talk spurts (BudgetRules)
        self._spurt_start = 0  # ms: start of the current spurt's first voiced frame
        self._spurt_end = -1  # ms: end of its last voiced frame; -1: none yet
        self._longest_spurt = 0
        self._spurt_voiced = 0  # ms of voice in the current spurt
        self._onset = -1  # ms: start of the greeting's first spurt; -1: no greeting yet
        self._voiced_since_onset = 0  # ms of voice since the onset

    @property
    def ms(self) -> int:
        """Audio time fed so far (ms)."""
        return self.frames * FRAME_MS

    @property
    def at(self) -> float:
        return self.ms / 1000

    def _decide(self, kind: Kind, why: str) -> Verdict:
        detail = (
            f"words {self._words}, voice {_s(self._voice)}, silence {_s(self._silence)}, "
            f"noise floor {self.vad.floor:.0f}"
        )
        self.verdict = Verdict(kind, self.at, (f"amd {kind}: {why} at {self.at:.2f} s", detail))
        return self.verdict

    def feed(self, frame: bytes) -> Verdict | None:
        """One frame heard (any bytes: cut or padded to a frame); the verdict once decided."""
        if self.verdict is not None:
            return self.verdict
        return self.step(self.features(frame))

    def features(self, frame: bytes) -> Features:
        """What one frame says, before any decision: voice, a known tone, a beep."""
        frame = fit(frame)
        tones = self.tones
        tones.feed(frame)
        known = tones.known()
        run = tones.run
        return Features(
            voice=self.vad.is_voice(frame) and not tones.pure,
            tone=(known.kind, known.name, tones.known_hz(known), known.min_ms) if known else None,
            beep_hz=run.hz if run is not None and tones.beep() else None,
        )

    def step(self, f: Features) -> Verdict | None:
        """Advance one frame of audio time on ``f`` (``features`` of that frame)."""
        if self.verdict is not None:
            return self.verdict
        self.frames += 1
        s = self.settings
        if self._in_greeting and f.beep_hz is not None:
            return self._decide(
                "machine", f"beep {f.beep_hz:.0f} Hz after {_s(self._voice)} of greeting"
            )
        if f.tone is not None:
            kind, name, hz, ms = f.tone
            return self._decide(kind, f"{name} {hz:.0f} Hz for {_s(ms)}")
        verdict = self._step(f.voice, s)
        if verdict is not None:
            return verdict
        if self.ms >= min(s.budget, s.total_analysis_time):
            late = self._deadline(s)
            if late is not None:
                return late
            why = (
                f"no decision within the budget {_s(s.budget)}"
                if s.budget <= s.total_analysis_time
                else f"total analysis time {_s(s.total_analysis_time)} reached"
            )
            return self._decide("undecided", why)
        return None

    def _step(self, voice: bool, s: AmdSettings) -> Verdict | None:
        """One frame of app_amd's state machine, then the budget rules."""
        rules = self.rules if s.budget <= self.rules.min_budget_ms else None
        if not voice:
            self._silence += FRAME_MS
            if self._silence >= s.between_words_silence:
                self._in_word = False
                self._consecutive_voice = 0
            if self._in_initial_silence and self._silence >= s.initial_silence:
                return self._decide(
                    "machine", f"initial silence {_s(self._silence)} >= {_s(s.initial_silence)}"
                )
            if self._in_greeting and self._silence >= s.after_greeting_silence:
                return self._decide(
                    "person",
                    f"silence {_s(self._silence)} after a greeting of {_s(self._voice)}"
                    f" >= {_s(s.after_greeting_silence)}",
                )
            if (
                rules is not None
                and self._in_greeting
                and self._spurt_end >= 0
                and self.ms - self._spurt_end >= rules.quick_silence
                and self._longest_spurt <= rules.short_answer
            ):
                return self._decide(
                    "person",
                    f"short answer {_s(self._longest_spurt)} <= {_s(rules.short_answer)} then "
                    f"silence {_s(self.ms - self._spurt_end)} >= {_s(rules.quick_silence)}",
                )
            return None
        pause = rules.pause if rules is not None else s.between_words_silence
        if self._spurt_end < 0 or self.ms - FRAME_MS - self._spurt_end >= pause:
            self._spurt_start = self.ms - FRAME_MS
            self._spurt_voiced = 0
        self._spurt_voiced += FRAME_MS
        self._spurt_end = self.ms
        spurt = self._spurt_end - self._spurt_start
        if self._in_greeting:
            self._longest_spurt = max(self._longest_spurt, spurt)
        self._consecutive_voice += FRAME_MS
        self._voice += FRAME_MS
        if self._onset >= 0:
            self._voiced_since_onset += FRAME_MS
        if not self._in_word and self._consecutive_voice >= s.min_word_length:
            self._words += 1
            self._in_word = True
        if self._consecutive_voice >= s.maximum_word_length:
            return self._decide(
                "machine",
                f"one utterance {_s(self._consecutive_voice)} >= {_s(s.maximum_word_length)}",
            )
        if self._words >= s.maximum_number_of_words and (rules is None or rules.count_words):
            return self._decide("machine", f"{self._words} words >= {s.maximum_number_of_words}")
        if (
            self._in_greeting
            and self._voice >= s.greeting
            and (rules is None or rules.count_greeting)
        ):
            return self._decide("machine", f"greeting {_s(self._voice)} >= {_s(s.greeting)}")
        if rules is not None and self._in_greeting and spurt >= rules.long_talk:
            return self._decide(
                "machine",
                f"talk without a pause of {_s(rules.pause)} for {_s(spurt)} >= "
                f"{_s(rules.long_talk)} (budget {_s(s.budget)})",
            )
        self._silence = 0  # as Asterisk's silence detector: silence is counted afresh
        if self._consecutive_voice >= s.min_word_length and not self._in_greeting:
            self._in_initial_silence = False
            self._in_greeting = True
            self._longest_spurt = spurt
            self._onset = self._spurt_start
            self._voiced_since_onset = self._spurt_voiced
        return None

    def _deadline(self, s: AmdSettings) -> Verdict | None:
        """At the budget: a greeting still under way, long and dense enough, says machine."""
        rules = self.rules if s.budget <= self.rules.min_budget_ms else None
        if rules is None or not rules.deadline_talk or self._onset < 0 or not self._in_greeting:
            return None
        span = self.ms - self._onset
        gap = self.ms - self._spurt_end
        density = self._voiced_since_onset / span if span else 0.0
        if span >= rules.deadline_talk and density >= rules.deadline_density and gap < rules.pause:
            return self._decide(
                "machine",
                f"still talking at the budget {_s(s.budget)}: {_s(span)} since the onset at "
                f"{_s(self._onset)}, voiced {density:.0%} >= {rules.deadline_density:.0%}",
            )
        return None


async def detect(channel: AudioChannel, settings: AmdSettings) -> Verdict:
    """Listen to ``channel`` from now and classify what answered. Returns at the latest when
    ``settings.budget`` ms of audio have been heard ("undecided"), or "hung_up" if the stream
    ends first. Frames a slow listener lost are counted as silence, so time stays audio time."""
    detector = AnsweringMachineDetector(settings)
    first: int | None = None
    async for frame in channel.listen():
        if first is None:
            first = frame.index
        while detector.frames < frame.index - first:  # frames lost: their time still passed
            verdict = detector.feed(SILENCE)
            if verdict is not None:
                return verdict
        verdict = detector.feed(frame.heard)
        if verdict is not None:
            return verdict
    return Verdict(
        "hung_up",
        detector.at,
        (f"amd hung_up: the audio stream ended after {detector.at:.2f} s, before a decision",),
    )
