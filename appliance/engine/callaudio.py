"""The engine's side of a call's sound (SPEC O9, H7, #24): on an answered call whose line carries
its audio to the host (`Line.audio`), answering-machine detection, the machine actions, fax and
modem outcomes, the consent prompt and the recording, and prompts said from the prompt library.

The parts that hear and keep the sound are other modules' (docs/audio.md): the detector
(`appliance.audio.amd.detect`), the beep (`appliance.audio.tones.wait_for_beep`), the recorder
(`appliance.recording.Recorder`) and the prompt library (`appliance.audio.prompts.Prompts`). This
module codes against their interfaces as the `Protocol`s below and gets the real ones in
`AudioParts`, which the daemon builds (appliance/daemon/wiring.py `audio_parts`); a part missing
(None) is a part this box does not have: the call goes on without it and its evidence says so.

On an answered outgoing call (`CallSound.screen`):
1. A recording without a consent prompt starts at once, beside the detector.
2. The detector listens from the answer and decides within the campaign's `amd.budget` (for an
   agent campaign, within the agents' connect timeout less `CONNECT_RESERVE`, so the agent is
   still joined within the 2-second rule counted from the answer). "machine": the campaign's
   `machine_action` (hang up; leave `machine_message` after the beep and hang up — both
   AnsweringMachine 7 —; or go on as with a person). "fax": Fax 6, "modem": Incompatible 5, hung
   up. "hung_up": the far end's hang-up, as without detection. "person", "undecided": the call
   goes on at once (an agent, the flow or the message).
3. On a call that goes on, the consent prompt is said (in the background: an agent is joined
   meanwhile), and the recording starts when it has been said; a consent prompt missing from the
   library, or cut short, means no recording (evidence and log say so): never recorded unasked.
4. When the call ends (`close`), the recording is stopped in the background: the attempt's
   outcome is recorded without waiting for the file, whatever the recorder does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from appliance.audio.prompts import wav_bytes
from appliance.campaigns import AmdSettings, CampaignSettings
from appliance.config import DialboxConfig
from appliance.domain import Outcome
from appliance.drivers.audio import FRAME_MS, SAMPLE_BYTES, AudioChannel
from appliance.drivers.line import CallResult, Line, LineError, NotSupported
from appliance.metrics import Metrics

log = logging.getLogger(__name__)

Direction = Literal["outbound", "inbound"]

# Seconds of the agents' connect timeout (config agents.connect_timeout, 2 s at most) kept for
# joining the agent after the detector's verdict: the detector of an agent campaign decides
# within connect_timeout - CONNECT_RESERVE of the answer at most.
CONNECT_RESERVE = 0.5
# A detection shorter than this is worth nothing (Asterisk needs a word and a silence): an agent
# campaign whose connect timeout leaves less is not screened (evidence says so).
MIN_AMD = 0.5
# Wall-clock time the detector may take beyond its budget (its budget is audio time: a stalled
# stream would otherwise hold the call); then the call is handled as a person's.
DETECT_GRACE = 1.0
# Seconds the voicemail beep is waited for (machine_action "message"), and the wall-clock grace.
BEEP_WAIT = 30.0
BEEP_GRACE = 5.0
# Seconds the line is given to report the call's end when the sound ended under the detector.
HUNG_UP_GRACE = 2.0
# Seconds a recording may take to finish its file after the call; then it is left (logged).
STOP_TIMEOUT = 120.0
# How long an attempt's completion waits for its recording's row (the results feed and the
# webhook then carry the recording); a slower disk: the row comes later, the attempt goes on.
SETTLE_TIMEOUT = 2.0


# ---------------------------------------------------------------------- the parts' interfaces
class Verdict(Protocol):
    """`appliance.audio.amd.Verdict`: kind is one of person, machine, fax, modem, undecided,
    hung_up; `at` seconds of audio time since the answer; what was heard."""

    @property
    def kind(self) -> str: ...

    @property
    def at(self) -> float: ...

    @property
    def evidence(self) -> tuple[str, ...]: ...


# `appliance.audio.amd.detect(channel, settings) -> Verdict`
Detect = Callable[[AudioChannel, AmdSettings], Awaitable[Verdict]]
# `appliance.audio.tones.wait_for_beep(channel, timeout) -> bool`
WaitForBeep = Callable[[AudioChannel, float], Awaitable[bool]]


class Recording(Protocol):
    """`appliance.recording` Recording: `stop()` never raises and never blocks the call (its
    result, a RecordingInfo or None, is not the engine's business)."""

    def stop(self) -> Awaitable[object]: ...

    agent: str | None  # the agent whose call it is; set when an agent takes it


class Recorder(Protocol):
    """`appliance.recording.Recorder`."""

    def start(
        self,
        channel: AudioChannel,
        *,
        attempt_id: int,
        campaign: str,
        line: str,
        number: str,
        agent: str | None,
        direction: Direction,
    ) -> Recording: ...


class PromptSource(Protocol):
    """`appliance.audio.prompts.Prompts`: `pcm` is 8 kHz s16le mono, or raises PromptMissing."""

    def pcm(self, name: str) -> bytes: ...

    def has(self, name: str) -> bool: ...


@dataclass(frozen=True)
class AudioParts:
    """The audio path's parts this box has (None: it has not that part)."""

    detect: Detect | None = None
    wait_for_beep: WaitForBeep | None = None
    recorder: Recorder | None = None
    prompts: PromptSource | None = None


@dataclass(frozen=True)
class _Failed:
    """A verdict the engine gives itself when the detector gave none (a `Verdict`)."""

    kind: str
    at: float
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Screened:
    """What the answered call's screening decided. `ended`: the call was ended here, with
    `outcome` (None: the line's own, a far-end hang-up) and the line's `final` result; else the
    call goes on, `spent` seconds after the answer."""

    ended: bool = False
    outcome: Outcome | None = None
    final: CallResult | None = None
    spent: float = 0.0


GO_ON = Screened()


# ---------------------------------------------------------------------- prompts by say()
async def say_prompt(line: Line, prompts: PromptSource | None, name: str) -> bool | None:
    """Say the library's prompt `name` on the line's call: True once said whole, False when the
    call's sound ended (or was hushed) first; None when it cannot be said so — the line has no
    sound, the box no library, the library no such prompt (or it is unreadable): the caller
    plays it the module's way (`Line.play`)."""
    channel = line.audio
    if channel is None or prompts is None or not channel.active:
        return None
    pcm = await _library_pcm(line, prompts, name, "said")
    if pcm is None:
        return None
    return await channel.say(pcm)


def module_file(name: str) -> str:
    """The file a library prompt is stored as on a module: a DOS-friendly stem of its name and
    a short hash of the whole name (two names never share a file)."""
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:20] or "prompt"
    return f"{stem}-{hashlib.sha1(name.encode()).hexdigest()[:6]}.wav"


async def _library_pcm(line: Line, prompts: PromptSource, name: str, how: str) -> bytes | None:
    """The library's prompt `name` as 16-bit PCM (converted off the loop: maybe a TTS run), or
    None when the library has no such prompt, cannot read it, or holds no whole samples (the
    caller then plays the module's own file of that name); `how` names the use in the log."""
    try:
        if not prompts.has(name):
            return None
        pcm = await asyncio.to_thread(prompts.pcm, name)
    except Exception as exc:  # PromptMissing meanwhile, an unreadable file: the module's way
        log.warning("%s: prompt %s not %s from the library: %s", line.name, name, how, exc)
        return None
    if not pcm or len(pcm) % SAMPLE_BYTES:
        log.warning("%s: prompt %s from the library is not 16-bit PCM (%d bytes): not %s; "
                    "add it again (dialbox prompts)", line.name, name, len(pcm), how)  # fmt: skip
        return None
    return pcm


async def store_prompt(
    line: Line, prompts: PromptSource | None, name: str, evidence: list[str] | None = None
) -> str | None:
    """The library's prompt `name` put on the module of a line that plays only its own files
    (no sound to the host, `Line.play` there): the name to play it by. The driver uploads it
    once per content while the module stays up (appliance/drivers/gsm/files.py). None when it
    cannot be so — the line has sound or cannot store files, the box has no library or the
    library no such prompt, or the module refused (the evidence says why): the caller plays
    the module's own file of that name."""
    if prompts is None or line.audio is not None or not line.capabilities.playback:
        return None
    pcm = await _library_pcm(line, prompts, name, "stored")
    if pcm is None:
        return None
    try:
        stored = await line.store_prompt(module_file(name), wav_bytes(pcm))
    except NotSupported:
        return None  # this line plays what its hardware holds: nothing to upload
    except LineError as exc:
        log.warning("%s: prompt %s not stored on the module: %s", line.name, name, exc)
        if evidence is not None:
            evidence.append(f"prompt {name} not stored on the module ({exc}): "
                            f"played the module's own {name}")  # fmt: skip
        return None
    return stored


async def play_prompt(
    line: Line, prompts: PromptSource | None, name: str, evidence: list[str] | None = None
) -> str:
    """The prompt `name` to the far end: said from the library where the line has sound and the
    library has it; else, where the line plays its module's files, the library's prompt stored
    there (`store_prompt`) and played by its stored name (a file the module lost is stored again
    once); else the module's own file of that name (`Line.play`, raising its LineError).
    "said" or "played"; LineError when the call's sound ended before it was said whole.
    `evidence`: where the library's prompt could not be used, why (the call goes on)."""
    said = await say_prompt(line, prompts, name)
    if said is None:
        for attempt in range(2):
            stored = await store_prompt(line, prompts, name, evidence)
            if stored is None:
                break
            try:
                await line.play(stored)
                return "played"
            except LineError as exc:  # lost on the module: the driver forgot it, store again
                log.warning("%s: stored prompt %s (%s) not played: %s", line.name, name,
                            stored, exc)  # fmt: skip
                if attempt and evidence is not None:
                    evidence.append(f"stored prompt {name} not played ({exc}): "
                                    f"played the module's own {name}")  # fmt: skip
                if await line.wait_call_end(0) is not None:
                    raise
        await line.play(name)
        return "played"
    if not said:
        raise LineError(f"prompt {name} cut short: the call's sound ended")
    return "said"


# ---------------------------------------------------------------------- the engine's side
class CallAudio:
    """The engine's audio path: its parts, and the recordings still finishing their files."""

    def __init__(self, parts: AudioParts | None = None, metrics: Metrics | None = None) -> None:
        self.parts = parts or AudioParts()
        self.metrics = metrics
        self._stopping: set[asyncio.Task[None]] = set()
        self._by_attempt: dict[int, asyncio.Task[None]] = {}

    @property
    def prompts(self) -> PromptSource | None:
        return self.parts.prompts

    def reload(self, config: DialboxConfig) -> None:
        """New settings (SIGHUP): recordings started from now on take the new `recordings`."""
        recorder = self.parts.recorder
        reload = getattr(recorder, "reload", None)
        if reload is not None:
            reload(config.recordings)

    def sound(
        self,
        line: Line,
        settings: CampaignSettings,
        evidence: list[str],
        *,
        campaign: str,
        attempt_id: int,
        number: str,
        agent: str | None,
        direction: Direction,
    ) -> CallSound | None:
        """The answered call's sound, when its line carries it (None: the call goes as on a
        line without sound; the evidence says what the campaign asked for that it cannot do)."""
        channel = line.audio
        if channel is None:
            lacking = [
                *(["not recorded"] if settings.record else []),
                *(["no answering-machine detection"] if settings.amd is not None else []),
            ]
            if lacking:
                evidence.append(f"line {line.name} has no audio path: {', '.join(lacking)}")
            return None
        return CallSound(self, line, channel, settings, evidence, campaign=campaign,
                         attempt_id=attempt_id, number=number, agent=agent,
                         direction=direction)  # fmt: skip

    def stop_later(self, recording: Recording, what: str, attempt_id: int | None = None) -> None:
        """Stop `recording` in the background: never raises, never waits."""

        async def stop() -> None:
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await recording.stop()
            except TimeoutError:
                log.error("recording of %s not finished within %.0f s: left", what, STOP_TIMEOUT)
            except Exception:  # the recorder's promise broken: logged, the call is long done
                log.exception("recording of %s failed to stop", what)

        task = asyncio.ensure_future(stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)
        if attempt_id is not None:
            self._by_attempt[attempt_id] = task
            task.add_done_callback(lambda _: self._by_attempt.pop(attempt_id, None))

    async def settle(self, attempt_id: int, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait (at most `timeout` s) for the attempt's recording to be stored, so that what is
        recorded of the attempt next (its result, its webhook) names it. Never raises."""
        task = self._by_attempt.get(attempt_id)
        if task is not None:
            await asyncio.wait({task}, timeout=timeout)

    @property
    def stopping(self) -> int:
        """Recordings still finishing their files."""
        return len(self._stopping)

    async def drain(self, timeout: float) -> None:
        """At shutdown: let recordings finish their files for `timeout` s, then cancel them."""
        if not self._stopping:
            return
        _, pending = await asyncio.wait(set(self._stopping), timeout=timeout)
        for task in pending:
            log.error("a recording was still finishing at shutdown: cancelled")
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


class CallSound:
    """One answered call's sound (module docstring)."""

    def __init__(
        self,
        audio: CallAudio,
        line: Line,
        channel: AudioChannel,
        settings: CampaignSettings,
        evidence: list[str],
        *,
        campaign: str,
        attempt_id: int,
        number: str,
        agent: str | None,
        direction: Direction,
    ) -> None:
        self.audio = audio
        self.line = line
        self.channel = channel
        self.settings = settings
        self.evidence = evidence
        self.campaign = campaign
        self.attempt_id = attempt_id
        self.number = number
        self.agent = agent
        self.direction: Direction = direction
        self.recording: Recording | None = None
        self.verdict: Verdict | None = None
        self._consent: asyncio.Future[None] | None = None
        self._asked = False  # record() was called
        self._closed = False

    # ------------------------------------------------------------------ recording
    def record(self) -> None:
        """Start the recording the campaign asks for: after its consent prompt (said in the
        background; `consented` waits for it), or at once. Once per call."""
        if not self.settings.record or self._asked or self._closed:
            return
        self._asked = True
        if self.audio.parts.recorder is None:
            self.evidence.append("not recorded: this box has no recorder")
            return
        prompt = self.settings.consent_prompt
        if prompt:
            self._consent = asyncio.ensure_future(self._consent_then_record(prompt))
        else:
            self._start()

    async def consented(self) -> None:
        """Wait for the consent prompt to be said (and the recording begun), if one is being
        said: a prompt the module plays must not overlap it."""
        if self._consent is not None and not self._consent.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._consent)

    async def _consent_then_record(self, prompt: str) -> None:
        try:
            said = await say_prompt(self.line, self.audio.prompts, prompt)
        except Exception as exc:  # a bug: no recording, the call goes on
            log.exception("%s: consent prompt %s not said", self.line.name, prompt)
            self.evidence.append(f"consent prompt {prompt} not said ({exc!r}): not recorded")
            return
        if said is None and not self.channel.active:
            said = False  # the call's sound ended first
        if said is None and self.audio.prompts is None:
            self.evidence.append(f"consent prompt {prompt} not said: this box has no prompt "
                                 "library: not recorded")  # fmt: skip
            return
        if said is None:
            self.evidence.append(f"consent prompt {prompt} is not in the prompt library (or not "
                                 "readable): not recorded")  # fmt: skip
            log.warning("%s: consent prompt %s is not in the prompt library (add it: dialbox "
                        "prompts); call of %s not recorded", self.line.name, prompt,
                        self.campaign)  # fmt: skip
            return
        if not said:
            self.evidence.append(f"consent prompt {prompt} cut short: not recorded")
            return
        self.evidence.append(f"said consent prompt {prompt}")
        self._start()

    def _start(self) -> None:
        recorder = self.audio.parts.recorder
        if recorder is None or self._closed:
            return
        if not self.channel.active:
            self.evidence.append("not recorded: the call's sound ended first")
            return
        try:
            self.recording = recorder.start(
                self.channel, attempt_id=self.attempt_id, campaign=self.campaign,
                line=self.line.name, number=self.number, agent=self.agent,
                direction=self.direction,
            )  # fmt: skip
        except Exception as exc:  # a recorder bug must not cost the call
            log.exception("%s: recording of attempt %s not started", self.line.name,
                          self.attempt_id)  # fmt: skip
            self.evidence.append(f"recording not started: {exc}")
            return
        self.evidence.append("recording")

    def set_agent(self, agent: str | None) -> None:
        """The agent who took the call: the recording is theirs (an agent token fetches only
        its own agent's recordings)."""
        self.agent = agent
        if self.recording is not None and agent is not None:
            self.recording.agent = agent

    def close(self) -> None:
        """The call is over: its recording is stopped in the background, its frames counted."""
        if self._closed:
            return
        self._closed = True
        if self._consent is not None and not self._consent.done():
            self._consent.cancel()
        if self.recording is not None:
            self.audio.stop_later(self.recording, f"attempt {self.attempt_id}", self.attempt_id)
        metrics, stats = self.audio.metrics, self.channel.stats
        if metrics is not None:
            metrics.record_audio(self.line.name, stats.frames, stats.dropped, stats.overruns)

    # ------------------------------------------------------------------ answering machines
    async def screen(self, budget_cap: float | None = None) -> Screened:
        """An outgoing call just answered: the recording, the detector and what its verdict
        decides (module docstring). `budget_cap`: seconds the detection may take at most (an
        agent campaign's connect timeout less CONNECT_RESERVE)."""
        settings = self.settings
        if not settings.consent_prompt:
            self.record()  # beside the detector, from the answer
        amd = settings.amd
        detect = self.audio.parts.detect
        if amd is None or detect is None:
            if amd is not None:
                self.evidence.append("no answering-machine detection: this box has no detector")
            self.record()
            return GO_ON
        budget = amd.budget / 1000
        if budget_cap is not None and budget_cap < budget:
            if budget_cap < MIN_AMD:
                self.evidence.append(f"no answering-machine detection: the agents' connect "
                                     f"timeout leaves {max(budget_cap, 0.0):.1f} s for it")  # fmt: skip
                self.record()
                return GO_ON
            budget = budget_cap
            amd = amd.model_copy(update={"budget": int(budget_cap * 1000)})
        loop = asyncio.get_running_loop()
        began = loop.time()
        verdict = await self._detect(detect, amd, budget)
        spent = max(verdict.at, loop.time() - began)
        self.verdict = verdict
        if self.audio.metrics is not None:
            self.audio.metrics.record_amd(self.campaign, verdict.kind, verdict.at)
        self.evidence.append(f"amd {verdict.kind} at {verdict.at:.2f} s")
        self.evidence.extend(e for e in verdict.evidence if e not in self.evidence)
        if verdict.kind == "machine":
            return await self._machine(spent)
        if verdict.kind == "fax":
            return Screened(True, Outcome.FAX, await self._hang_up(), spent)
        if verdict.kind == "modem":
            return Screened(True, Outcome.INCOMPATIBLE, await self._hang_up(), spent)
        if verdict.kind == "hung_up":
            final = await self.line.wait_call_end(HUNG_UP_GRACE)
            if final is not None:
                return Screened(True, None, final, spent)
            self.evidence.append("the call's sound ended but the call is up: handled as a person")
            return Screened(spent=spent)
        self.record()  # person, undecided: the call goes on at once
        return Screened(spent=spent)

    async def _detect(self, detect: Detect, amd: AmdSettings, budget: float) -> Verdict:
        try:
            async with asyncio.timeout(budget + DETECT_GRACE):
                return await detect(self.channel, amd)
        except TimeoutError:
            log.error("%s: the answering-machine detector gave no verdict within %.1f s",
                      self.line.name, budget + DETECT_GRACE)  # fmt: skip
            why = f"no verdict within {budget + DETECT_GRACE:.1f} s: handled as a person"
        except Exception as exc:  # a detector bug must not cost the call
            log.exception("%s: the answering-machine detector failed", self.line.name)
            why = f"amd failed ({exc!r}): handled as a person"
        return _Failed("undecided", self.channel.index * FRAME_MS / 1000, (why,))

    async def _machine(self, spent: float) -> Screened:
        action = self.settings.machine_action
        if action == "live":
            self.evidence.append("machine handled as a person (machine_action live)")
            self.record()
            return Screened(spent=spent)
        if action == "message":
            await self._leave_message()
        return Screened(True, Outcome.ANSWERING_MACHINE, await self._hang_up(), spent)

    async def _leave_message(self) -> None:
        name = self.settings.machine_message
        wait = self.audio.parts.wait_for_beep
        if not name:
            self.evidence.append("no message left: the campaign has no machine_message")
            return
        if wait is None:
            self.evidence.append("no message left: this box has no beep detector")
            return
        try:
            async with asyncio.timeout(BEEP_WAIT + BEEP_GRACE):
                beep = await wait(self.channel, BEEP_WAIT)
        except TimeoutError:
            beep = False
        except Exception:
            log.exception("%s: the beep detector failed", self.line.name)
            beep = False
        if not beep:
            self.evidence.append(f"no message left: no beep within {BEEP_WAIT:.0f} s")
            return
        try:
            how = await play_prompt(self.line, self.audio.prompts, name, self.evidence)
        except LineError as exc:
            self.evidence.append(f"message {name} not left: {exc}")
            return
        self.evidence.append("message left")
        self.evidence.append(f"{how} {name}")

    async def _hang_up(self) -> CallResult | None:
        try:
            return await self.line.hang_up()
        except LineError as exc:
            self.evidence.append(f"hang-up failed: {exc}")
            return None
