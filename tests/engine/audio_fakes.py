"""Fakes for the engine's audio path (#24, engine/callaudio.py): a line whose calls carry sound
(a `LoopbackChannel` fed by a scripted far end), and a detector, beep detector, recorder and
prompt library that implement the interfaces the engine codes against. Audio time is frames:
the far end delivers one 20 ms frame per turn of the event loop, no sleeps."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from appliance.campaigns import AmdSettings
from appliance.domain import Outcome
from appliance.drivers.audio import (
    FRAME_BYTES,
    FRAME_MS,
    SILENCE,
    AudioChannel,
    AudioFrame,
    LoopbackChannel,
    frames_of,
)
from appliance.drivers.line import CallResult, Capabilities
from tests.engine.test_engine_direct import FakeLine


def tone(value: int, frames: int) -> bytes:
    """`frames` frames of a constant sample `value` (recognisable in what was said)."""
    return value.to_bytes(2, "little", signed=True) * (FRAME_BYTES // 2) * frames


@dataclass(frozen=True)
class Verdict:
    """As `appliance.audio.amd.Verdict`."""

    kind: str
    at: float
    evidence: tuple[str, ...]


class Detector:
    """`detect(channel, settings)`: listens from now and gives `kind` once `frames` frames were
    heard; "hung_up" when the stream ends first (as the real one). `fail`: raises instead."""

    def __init__(self, kind: str, frames: int = 40, fail: bool = False) -> None:
        self.kind, self.frames, self.fail = kind, frames, fail
        self.settings: list[AmdSettings] = []
        self.calls = 0

    async def __call__(self, channel: AudioChannel, settings: AmdSettings) -> Verdict:
        self.calls += 1
        self.settings.append(settings)
        if self.fail:
            raise RuntimeError("detector bug")
        heard = 0
        async for frame in channel.listen():
            heard += 1
            if heard >= self.frames:
                at = (frame.index + 1) * FRAME_MS / 1000
                return Verdict(self.kind, at, (f"fake {self.kind}: {heard} frames",))
        return Verdict("hung_up", channel.index * FRAME_MS / 1000, ("the stream ended",))


class Beep:
    """`wait_for_beep(channel, timeout)`: True after `frames` frames (False: never heard)."""

    def __init__(self, heard: bool = True, frames: int = 10) -> None:
        self.heard, self.frames = heard, frames
        self.at: int | None = None  # the channel's index when the beep was reported

    async def __call__(self, channel: AudioChannel, timeout: float) -> bool:
        heard = 0
        async for _ in channel.listen():
            heard += 1
            if heard >= self.frames:
                self.at = channel.index
                return self.heard
        return False


class Recording:
    """A recording: listens to every frame from its start; `stop` as told (ok, raise, hang)."""

    def __init__(self, channel: AudioChannel, mode: str, stalled: bool) -> None:
        self.channel = channel
        self.mode = mode
        self.started_at = channel.index
        self.frames: list[AudioFrame] = []
        self.stopped = False
        self.finished = False
        self._task = asyncio.ensure_future(self._listen(stalled))

    async def _listen(self, stalled: bool) -> None:
        async for frame in self.channel.listen():
            self.frames.append(frame)
            if stalled:  # registered, then never reads again: its queue fills and drops
                await asyncio.Event().wait()

    async def stop(self) -> str | None:
        self.stopped = True
        if self.mode == "raise":
            raise OSError("No space left on device")
        if self.mode == "hang":
            await asyncio.Event().wait()
        await self._task
        self.finished = True
        return "info"


class Recorder:
    """`Recorder.start(channel, ...)`: what it was asked, the recordings it made."""

    def __init__(self, mode: str = "ok", fail_start: bool = False, stalled: bool = False) -> None:
        self.mode, self.fail_start, self.stalled = mode, fail_start, stalled
        self.started: list[tuple[Recording, dict[str, Any]]] = []

    def start(self, channel: AudioChannel, **details: Any) -> Recording:
        if self.fail_start:
            raise OSError("recordings directory not writable")
        recording = Recording(channel, self.mode, self.stalled)
        self.started.append((recording, details))
        return recording


class Library:
    """The prompt library: `has`, `pcm` of the prompts given."""

    def __init__(self, **prompts: bytes) -> None:
        self.prompts = prompts
        self.asked: list[str] = []

    def has(self, name: str) -> bool:
        return name in self.prompts

    def pcm(self, name: str) -> bytes:
        self.asked.append(name)
        return self.prompts[name]


class FarEnd:
    """The far end's hardware: one frame heard per turn of the loop (`sound`, then silence) while
    the channel runs; keeps what the box said back."""

    def __init__(self, channel: LoopbackChannel, sound: bytes = b"", limit: int = 20_000) -> None:
        self.channel = channel
        self.heard = frames_of(sound)
        self.said: list[bytes] = []
        self.limit = limit
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        i = 0
        while self.channel.active and i < self.limit:
            frame = self.heard[i] if i < len(self.heard) else SILENCE
            self.said.extend(self.channel.feed(frame))
            i += 1
            await asyncio.sleep(0)  # one frame per turn: not a timing sleep

    def heard_back(self, pcm: bytes) -> bool:
        """The box said `pcm` (whole, in order) to the far end."""
        return pcm in b"".join(self.said)


class SoundLine(FakeLine):
    """FakeLine whose answered calls carry sound: `pick_up` (outgoing) or `answer` (incoming)
    starts a LoopbackChannel, the call's end finishes it."""

    def __init__(self, name: str, sound: bool = True, playback: bool = True) -> None:
        super().__init__(name)
        self.sound, self.playback = sound, playback
        self.channel: LoopbackChannel | None = None
        self.plays: list[str] = []
        self.hangups = 0

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(playback=self.playback, audio=self.sound, answer=True)

    @property
    def audio(self) -> AudioChannel | None:
        return self.channel

    async def play(self, message: str) -> None:
        self.plays.append(message)

    async def hang_up(self) -> CallResult | None:
        self.hangups += 1
        return await super().hang_up()

    def pick_up(self) -> LoopbackChannel | None:
        """The callee answers the call being dialed; the engine goes on by itself."""
        assert self._dialing is not None
        self._talking.clear()
        self._ended = asyncio.get_running_loop().create_future()
        self.channel = LoopbackChannel(self.name) if self.sound else None
        self._dialing.set_result(
            CallResult(self.dialed[-1], Outcome.CONNECTED, ("answered",), {}, answered=True,
                       ended=False)
        )  # fmt: skip
        return self.channel

    async def answer(self) -> CallResult:  # type: ignore[override]  # Line.answer: a call in
        self.dialed.append("+12125550199")
        self._ended = asyncio.get_running_loop().create_future()
        self.channel = LoopbackChannel(self.name) if self.sound else None
        return CallResult("+12125550199", Outcome.CONNECTED, ("answered",), {}, answered=True,
                          ended=False)  # fmt: skip

    async def held(self) -> None:
        """The engine waits for the call's end (the message said, the hold begun)."""
        await self._talking.wait()

    def _finish(self, outcome: Outcome, why: str) -> None:
        super()._finish(outcome, why)
        if self.channel is not None:
            self.channel._finish()
