"""The sound of a call, where the line carries it to the host (SPEC H7, #24).

A line whose hardware streams call audio to the host (Quectel ``AT+QPCMV``, SIMCom
``AT+CPCMREG``, Huawei ``AT^DDSETEX`` PCM ports; a V.253 modem's ``+VTR`` stream) gives the
engine an ``AudioChannel`` for its current call. The channel speaks one format whatever the
hardware's: 8 kHz, 16-bit signed little-endian, mono, in frames of 20 ms (160 samples, 320
bytes). A driver converts its hardware's format (8-bit linear, mu-law, DLE shielding...) at the
edge.

The hardware clocks the stream: for every frame it delivers from the far end, the driver sends
one frame back — the next frame queued by ``say``, or silence. So what the box heard and what it
said in the same 20 ms come out together, as one ``AudioFrame``; a recording keeps both sides
aligned, and times on the call (answering-machine detection, a consent prompt) are counted in
*audio time* — ``index`` × 20 ms — not by the wall clock, so they are the same whether the
frames arrive in real time or faster (an emulator in a test).

Several listeners (the recorder, the answering-machine detector) each get every frame through
their own bounded queue; a listener that falls behind loses frames (counted in ``stats`` and in
its own ``dropped``) rather than holding the line's I/O up: the call never waits for a consumer.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

RATE = 8000  # samples per second
SAMPLE_BYTES = 2  # s16le
FRAME_MS = 20
FRAME_SAMPLES = RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_BYTES  # 320
SILENCE = bytes(FRAME_BYTES)
#: Frames a listener may fall behind before it loses frames (10 s of audio).
LISTEN_QUEUE = 500


def frames_of(pcm: bytes) -> list[bytes]:
    """``pcm`` (s16le, 8 kHz) cut into whole frames; the last is padded with silence."""
    if len(pcm) % SAMPLE_BYTES:
        raise ValueError("PCM must hold whole 16-bit samples")
    out = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
    if out and len(out[-1]) < FRAME_BYTES:
        out[-1] = out[-1] + bytes(FRAME_BYTES - len(out[-1]))
    return out


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """20 ms of the call: ``heard`` from the far end, ``said`` by the box in the same frame."""

    index: int  # frames since the channel started; audio time is index * FRAME_MS
    heard: bytes
    said: bytes

    @property
    def at(self) -> float:
        """Seconds of audio time since the channel started (at the frame's start)."""
        return self.index * FRAME_MS / 1000


@dataclass(slots=True)
class AudioStats:
    frames: int = 0  # frames exchanged with the hardware
    dropped: int = 0  # frames some listener lost because it fell behind
    overruns: int = 0  # frames the hardware said it lost, or bytes that were not whole frames


class _Listener:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[AudioFrame | None] = asyncio.Queue(LISTEN_QUEUE)
        self.dropped = 0


class AudioChannel(abc.ABC):
    """The audio of one line's current call. Implementations read the hardware's stream, cut
    it into frames and call ``_deliver`` once per frame heard (on the event loop), writing back
    the frame it returns; ``_finish`` when the stream ends (the call ended, the port failed)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stats = AudioStats()
        self._listeners: list[_Listener] = []
        self._said: deque[bytes] = deque()
        self._waiters: deque[tuple[int, asyncio.Future[bool]]] = deque()
        self._queued = 0  # frames ever queued by say()
        self._sent = 0  # frames of those sent
        self._index = 0
        self._finished = False

    # ------------------------------------------------------------------ the engine's side
    @property
    def active(self) -> bool:
        """The stream is running: frames are heard and ``say`` is sent."""
        return not self._finished

    @property
    def index(self) -> int:
        """Frames exchanged so far: the channel's audio clock (× ``FRAME_MS``)."""
        return self._index

    def listen(self) -> AsyncIterator[AudioFrame]:
        """Every frame from this call on until the stream ends (then the iteration stops). The
        listener is registered at once, not at the first ``anext``: a consumer started in a task
        of its own misses no frame delivered in between."""
        listener = _Listener()
        if self._finished:
            listener.queue.put_nowait(None)
        else:
            self._listeners.append(listener)
        return self._frames(listener)

    async def _frames(self, listener: _Listener) -> AsyncIterator[AudioFrame]:
        try:
            while True:
                frame = await listener.queue.get()
                if frame is None:
                    return
                yield frame
        finally:
            if listener in self._listeners:
                self._listeners.remove(listener)

    async def say(self, pcm: bytes) -> bool:
        """Send ``pcm`` (s16le 8 kHz) to the far end after what is already queued; return True
        once the hardware has taken its last frame, False when the stream ended (or ``hush``
        dropped it) first."""
        frames = frames_of(pcm)
        if self._finished:
            return False
        if not frames:
            return True
        self._said.extend(frames)
        self._queued += len(frames)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append((self._queued, done))
        return await done

    def hush(self) -> None:
        """Drop everything queued to say (the caller spoke over a prompt, the call moves on)."""
        self._said.clear()
        self._sent = self._queued
        while self._waiters:
            _, done = self._waiters.popleft()
            if not done.done():
                done.set_result(False)

    @property
    def saying(self) -> bool:
        """Frames are queued to be said."""
        return bool(self._said)

    # ------------------------------------------------------------------ the driver's side
    def _deliver(self, heard: bytes) -> bytes:
        """One frame heard from the far end: hand it to every listener with the frame said in
        the same 20 ms, which is returned for the driver to write to the hardware."""
        if len(heard) != FRAME_BYTES:
            raise ValueError(f"a frame is {FRAME_BYTES} bytes, not {len(heard)}")
        if self._said:
            said = self._said.popleft()
            self._sent += 1
        else:
            said = SILENCE
        frame = AudioFrame(self._index, heard, said)
        self._index += 1
        self.stats.frames += 1
        for listener in self._listeners:
            try:
                listener.queue.put_nowait(frame)
            except asyncio.QueueFull:
                listener.dropped += 1
                self.stats.dropped += 1
        while self._waiters and self._waiters[0][0] <= self._sent:
            _, done = self._waiters.popleft()
            if not done.done():
                done.set_result(True)
        return said

    def _finish(self) -> None:
        """The stream ended: listeners' iterations stop, pending ``say`` calls return False."""
        if self._finished:
            return
        self._finished = True
        self._said.clear()
        while self._waiters:
            _, done = self._waiters.popleft()
            if not done.done():
                done.set_result(False)
        for listener in self._listeners:
            while True:
                try:
                    listener.queue.put_nowait(None)
                    break
                except asyncio.QueueFull:
                    listener.queue.get_nowait()  # the end matters more than the oldest frame
                    listener.dropped += 1
                    self.stats.dropped += 1

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop the stream and release the audio port (the call is over)."""


class LoopbackChannel(AudioChannel):
    """A channel fed by the caller of ``feed`` — for code that consumes audio (the recorder,
    the detectors) to be exercised on known sound without a line. Not a driver."""

    def feed(self, heard: bytes) -> list[bytes]:
        """Deliver ``heard`` (cut into frames); the frames said back, in order."""
        return [self._deliver(frame) for frame in frames_of(heard)]

    async def close(self) -> None:
        self._finish()
