"""The emulated module's PCM audio port (#24): the far end's sound while a call is up, after the
dialect's audio command, and what the host says captured.

Each modem has a second pty, ``DIR/gsm<N>-audio`` (listed beside its AT port). Like a real
module it sends nothing until the host has switched call audio on and a call is up: Quectel
``AT+QPCMV=1,0`` (a setting kept until ``AT+QPCMV=0`` or a reboot; ``1,2`` selects the USB audio
class, which is not emulated: accepted, and nothing comes on this port), SIMCom
``AT+CPCMREG=1`` (refused with ``+CME ERROR: 3`` when no call is up; off again when the call
ends), Huawei ``AT^DDSETEX=2`` (off again when the call ends). Then it writes one 20 ms frame
(320 bytes of 8 kHz s16le mono) every 20 ms of the loop's clock divided by ``Script.audio_speed``
(1: real time), drift-corrected, until the call ends: the call's sound
(``emulators/sounds.py``), then silence.

The sound of a call: the one set for the next call (control ``<modem> sound <source>``), else
the number's ``sound`` in the script, else the script's ``sound`` (default ``person``).
What the host writes while the stream runs is kept for the current (or last) call
(``captured``) and, with ``<modem> capture <path>``, appended to that file.

Hostile modes (control): ``audio-garbage on`` writes random bytes of random lengths instead of
frames; ``audio-stop on`` stops the stream mid-call (the module's PCM clock dies) until ``off``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from appliance.drivers.emulators.pty import PtyPort
from appliance.drivers.emulators.sounds import sound

if TYPE_CHECKING:
    from appliance.drivers.emulators.gsm.device import EmulatedModem

log = logging.getLogger(__name__)

FRAME_BYTES = 320  # 20 ms of 8 kHz s16le mono (appliance.drivers.audio's format)
FRAME_TIME = 0.02
#: Frames the host may leave unread before the module drops its output (a real module's FIFO).
BACKLOG = 10 * FRAME_BYTES
#: What the host said is kept for at most this many bytes per call (30 minutes).
MAX_CAPTURE = 30 * 60 * 8000 * 2


class AudioSim:
    def __init__(self, modem: EmulatedModem, link: Path) -> None:
        self.m = modem
        self.port = PtyPort(link, self._on_bytes)
        self.enabled = False  # the dialect's audio command was given
        self.uac = False  # Quectel AT+QPCMV=1,2: audio on the USB audio class (not emulated)
        self.garbage = False
        self.stopped = False
        self.next_sound: str | None = None  # for the next call (control `sound`)
        self.source: str | None = None  # the current (or last) call's sound
        self.captured = bytearray()  # what the host said during the current (or last) call
        self.frames_sent = 0  # frames of the current (or last) call written to the host
        self.dropped = 0  # frames not written because the host did not read (BACKLOG)
        self.capture_path: Path | None = None
        self._capture: BinaryIO | None = None
        self._pcm = b""
        self._pos = 0
        self._timer: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._ticks = 0

    @property
    def streaming(self) -> bool:
        return self._timer is not None

    # ------------------------------------------------------------------ lifecycle
    def plug(self) -> None:
        self.port.plug()

    def unplug(self) -> None:
        self._stop()
        self.port.unplug()

    def reset(self) -> None:
        """A reboot: the audio setting is gone with the call."""
        self.enabled = self.uac = False
        self._stop()

    def set_capture(self, path: Path | None) -> None:
        if self._capture is not None:
            self._capture.close()
            self._capture = None
        self.capture_path = path
        if path is not None:
            self._capture = path.open("ab")

    def close(self) -> None:
        self.unplug()
        self.set_capture(None)

    # ------------------------------------------------------------------ the stream
    def update(self) -> None:
        """After any change of the calls or the audio setting: stream while a call is up and
        audio is on (SIMCom and Huawei switch it off with the call)."""
        calls = self.m.calls.calls
        if not calls and self.m.dialect.family in ("simcom", "huawei"):
            self.enabled = False
        call = self.m.calls.active()
        on = call is not None and self.enabled and not self.uac and self.port.plugged
        if on and not self.streaming:
            assert call is not None
            name = self.next_sound or call.plan.sound or self.m.script.sound
            self.next_sound = None
            self._begin(name)
            journal = self.m.journal
            if journal is not None and call.journal_id is not None:
                journal.record("audio", call=call.journal_id, modem=self.m.name,
                               number=call.number, sound=name)  # fmt: skip
        elif not on and self.streaming:
            self._stop()

    def _begin(self, name: str) -> None:
        self.source = name
        self._pcm = sound(name)
        self._pos = 0
        self.captured = bytearray()
        self.frames_sent = 0
        loop = asyncio.get_running_loop()
        self._start = loop.time()
        self._ticks = 0
        log.debug("%s: audio %s", self.m.name, name)
        self._timer = loop.call_at(self._start, self._tick)

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        self._ticks += 1
        period = FRAME_TIME / self.m.script.audio_speed
        self._timer = loop.call_at(self._start + self._ticks * period, self._tick)
        if self.stopped:
            return
        if self.garbage:
            rng = self.m.rng
            self.port.write(bytes(rng.randrange(256) for _ in range(rng.randint(1, 700))))
            return
        frame = self._pcm[self._pos : self._pos + FRAME_BYTES]
        self._pos += FRAME_BYTES
        if len(frame) < FRAME_BYTES:
            frame += bytes(FRAME_BYTES - len(frame))  # the sound is over: silence
        if self.port.pending > BACKLOG:
            self.dropped += 1
            return
        self.port.write(frame)
        self.frames_sent += 1

    def _on_bytes(self, data: bytes) -> None:
        if not self.streaming:
            return  # nothing is listening on the module's side
        if len(self.captured) < MAX_CAPTURE:
            self.captured += data[: MAX_CAPTURE - len(self.captured)]
        if self._capture is not None:
            self._capture.write(data)
            self._capture.flush()
