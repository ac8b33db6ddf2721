"""Call audio on a module's serial PCM port (SIMCom ``AT+CPCMREG=1``, Quectel ``AT+QPCMV=1,0``,
Huawei ``AT^DDSETEX=2``): 8 kHz s16le mono both ways, clocked by the module (#24, SPEC H7).

``PcmPort`` is the port itself, opened with the line (``at.transport.open_port``: pyserial
through serial_asyncio_fast, like the AT port) and kept open between calls; bytes that come when
no call has audio (a module's leftovers after a call) are dropped. ``SerialPcmChannel`` is one
call's ``AudioChannel`` on it: every read is cut into 20 ms frames, a partial frame carried over
to the next read; each frame heard goes to ``_deliver`` and the frame it returns is written back
at once, so the module's clock paces both directions.

What a real port does wrong, and what the channel does about it (counted in ``stats.overruns``;
the call itself is never touched):

- bytes that are not whole frames (line noise, another program's output on the port): a partial
  frame left for ``REALIGN`` with nothing following it is junk (a module writes whole frames) and
  is dropped, so the framing realigns on the next frame;
- the stream stopping mid-call (the module's PCM clock stops, the port is unplugged): after
  ``GAP`` without a frame the channel goes on by itself on the loop's clock, delivering silence
  for the frames the module did not send (and writing what is said, in case the module takes
  it), so the recorder and the detectors keep counting audio time; the module's frames resume
  the stream when they come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from appliance.drivers.at.transport import open_port
from appliance.drivers.audio import FRAME_BYTES, FRAME_MS, SILENCE, AudioChannel

log = logging.getLogger(__name__)

FRAME_TIME = FRAME_MS / 1000
#: A partial frame with nothing after it for this long is junk (a module writes whole frames).
REALIGN = FRAME_TIME / 2
#: No frame for this long: the module's stream stopped; the channel fills in silence.
GAP = 10 * FRAME_TIME
#: Bytes kept from one read to the next at most (more means a flood: the rest is dropped).
MAX_CARRY = 50 * FRAME_BYTES


class PcmPort(asyncio.Protocol):
    """The module's PCM audio port, open while the line is; routes what it reads to the call's
    channel (``start``), and drops it between calls."""

    def __init__(self, url: str, name: str, baudrate: int = 115200) -> None:
        self.url = url
        self.name = name
        self.baudrate = baudrate
        self.transport: asyncio.Transport | None = None
        self.channel: SerialPcmChannel | None = None
        self.error: str | None = None  # why the port is not open (None while it is)
        self.stray = 0  # bytes read while no call had audio
        self._closing = False

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    async def open(self) -> None:
        """Open the port (raise ``at.transport.PortError`` saying why not)."""
        if self.is_open:
            return
        self._closing = False
        try:
            # connection_made comes on the loop's next turn: the port is ours from here
            self.transport = await open_port(self.url, lambda: self, self.baudrate)
        except OSError as exc:
            self.error = str(exc)
            raise
        self.error = None

    def close(self) -> None:
        if self.channel is not None:
            self.channel._finish()
        if self.transport is not None:
            self._closing = True
            self.transport.close()
            self.transport = None

    def start(self, name: str | None = None) -> SerialPcmChannel:
        """A channel for the call that starts now (the previous one, if any, is finished)."""
        if self.channel is not None:
            self.channel._finish()
        self.channel = SerialPcmChannel(self, name or self.name)
        return self.channel

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    # ------------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        channel = self.channel
        if channel is None or not channel.active:
            self.stray += len(data)
            return
        channel.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._closing:
            return
        self.error = f"{self.url}: audio port lost ({exc or 'closed'})"
        log.warning("%s: %s", self.name, self.error)
        # the channel goes on by itself (silence, counted) until the call ends


class SerialPcmChannel(AudioChannel):
    """One call's audio on a ``PcmPort`` (see the module docstring)."""

    def __init__(self, port: PcmPort, name: str) -> None:
        super().__init__(name)
        self.port = port
        self._carry = bytearray()
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._last = loop.time()  # when a frame was last delivered (heard or filled)
        self._last_bytes = self._last  # when bytes last came from the module
        self._realign: asyncio.TimerHandle | None = None
        self._watch: asyncio.TimerHandle | None = loop.call_later(GAP, self._check_gap)
        self.filled = 0  # frames of silence delivered for frames the module did not send
        self._filling = False  # the module's stream stopped: the loop's clock goes on

    def feed(self, data: bytes) -> None:
        """Bytes read from the port: every whole frame delivered, the reply written back."""
        if self._finished:
            return
        now = self._loop.time()
        self._last_bytes = now
        carry = self._carry
        carry += data
        if len(carry) > MAX_CARRY:  # a flood no module's clock gives: keep the newest
            excess = len(carry) - MAX_CARRY
            excess += (-excess) % FRAME_BYTES  # whole frames, so alignment is kept
            del carry[:excess]
            self.stats.overruns += excess // FRAME_BYTES
        whole = len(carry) - len(carry) % FRAME_BYTES
        if whole:
            view = bytes(carry[:whole])
            del carry[:whole]
            said = [self._deliver(view[i : i + FRAME_BYTES]) for i in range(0, whole, FRAME_BYTES)]
            self._last = now
            self._filling = False
            self.port.write(said[0] if len(said) == 1 else b"".join(said))
        if carry and self._realign is None:
            self._realign = self._loop.call_later(REALIGN, self._drop_partial)

    def _drop_partial(self) -> None:
        self._realign = None
        if not self._carry or self._finished:
            return
        if self._loop.time() - self._last_bytes < REALIGN * 0.9:
            self._realign = self._loop.call_later(REALIGN, self._drop_partial)
            return
        log.debug("%s: %d bytes that are not a whole frame dropped", self.name, len(self._carry))
        self._carry.clear()
        self.stats.overruns += 1

    def _check_gap(self, confirmed: bool = False) -> None:
        """The loop's own clock while the module's is stopped: silence for each frame missed."""
        self._watch = None
        if self._finished:
            return
        now = self._loop.time()
        behind = now - self._last
        if not self._filling and behind >= GAP and not confirmed:
            # The process itself may have been held up (a loaded box): let the port deliver
            # what the module wrote meanwhile before taking the stream for stopped.
            self._watch = self._loop.call_later(REALIGN, self._check_gap, True)
            return
        if self._filling or behind >= GAP:
            if not self._filling:
                log.info("%s: no audio from the module for %.2f s: silence meanwhile",
                         self.name, behind)  # fmt: skip
            self._filling = True
            missed = int(behind / FRAME_TIME)
            for _ in range(missed):
                self.port.write(self._deliver(SILENCE))
            self.filled += missed
            self.stats.overruns += missed
            self._last += missed * FRAME_TIME  # drift-corrected: one frame per FRAME_TIME
            delay = self._last + FRAME_TIME - now
        else:
            delay = GAP - behind
        self._watch = self._loop.call_later(max(delay, 0.001), self._check_gap)

    def _finish(self) -> None:
        for timer in (self._realign, self._watch):
            if timer is not None:
                timer.cancel()
        self._realign = self._watch = None
        if self.port.channel is self:
            self.port.channel = None
        super()._finish()

    async def close(self) -> None:
        """The call is over: the stream stops (the port stays open with the line)."""
        with contextlib.suppress(Exception):
            self._finish()
