"""An analog line through a V.253 voice modem: the ``Line`` the engine dials on.

Voice mode (``AT+FCLASS=8``), on/off hook with ``+VLS``, ``ATD`` whose progress comes as DLE
events taken out of the byte stream by the AT session (``at.dle``), the ring timeout counted from
the first ringback, a far-end hang-up from loop-current interruption, busy or dial tone after the
answer, DTMF from the callee, playback with ``+VTX``. The modem's words are kept as evidence.
Incoming calls (SPEC C14): caller ID on at open (``+VCID=1``, else ``#CID=1``); ``RING`` and the
caller-ID block between the first two rings (``callerid.py``) give one ``IncomingCall``; no ring
for ``ring_gone`` seconds gives ``RingingStopped``; ``answer()`` goes off hook in voice mode
(``+FCLASS=8``, ``+VLS=1``) and the call is then the line's call, as an answered outgoing one.
Health: a modem that stops answering ``AT`` or whose port goes away is taken down and reopened
with back-off until it answers again (SPEC H6).

Audio (``audio="stream"``, #24): from the answer (``VCON`` of a dial, the off-hook of an incoming
call) to the call's end the modem streams the line's sound on this port (``stream.py``): full
duplex ``AT+VTR`` where ``AT+VTR=?`` says it is offered, else receive ``AT+VRX`` with each
``say`` played by switching to ``AT+VTX`` and back (the channel stays clocked: one silent frame
heard per frame sent). DLE events inside the stream are events as before (keys, ``l`` loop
current, busy, tones as evidence; ``s`` silence in a receive stream is a hang-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from appliance.drivers.at.codes import FinalKind
from appliance.drivers.at.dle import ABORT_STREAM, DLE, END_OF_STREAM, shield
from appliance.drivers.at.port_line import AtPortLine
from appliance.drivers.at.session import AtError, AtSession, AtTimeout, Command, LinkDown, Urc
from appliance.drivers.audio import FRAME_MS, SILENCE, AudioChannel
from appliance.drivers.call import CallRecord
from appliance.drivers.line import (
    MIN_RING_TIMEOUT,
    CallResult,
    Capabilities,
    Dtmf,
    LineBusy,
    LineError,
    LineHealth,
    LineUnavailable,
    NotSupported,
    Timeouts,
)
from appliance.drivers.outcome import Outcome
from appliance.drivers.ring_in import RingWatch
from appliance.drivers.v253.callerid import (
    CID_PREFIXES,
    MAX_LINES,
    caller_number,
    is_ring,
    parse_line,
)
from appliance.drivers.v253.progress import FORCED, Progress, classify, dial_outcome
from appliance.drivers.v253.stream import SampleFormat, StreamChannel, dtmf_tones, offered_formats

log = logging.getLogger(__name__)

_DIAL_STRING = re.compile(r"^\+?[0-9*#,]{1,40}$")
#: No ring for this long: the caller has hung up (or the network gave up). About two cadences of
#: the common ring patterns (Europe 1 s on / 4 s off, the UK's 3 s double ring; North America's
#: 2 s on / 4 s off, for which it is more than one and a half, so one missed RING is not the end).
RING_GONE = 10.0
#: No stream byte for this long: the modem's stream has stopped (it is restarted, at most
#: STALL_RESTARTS times a call, then the call goes on without audio).
STREAM_STALL = 2.0
STALL_RESTARTS = 3
#: Frames sent ahead of the wall clock in a half-duplex playback (the modem's buffer).
TX_LEAD = 5
#: Stream DLE codes that are neither progress nor DTMF but that modems do send (IS-101:
#: DTMF brackets, over/underrun, lost data, bong, TDD, call waiting, handset hook, end of data).
_OTHER_CODES = frozenset("/~ouY$twHpP\x03")
AUDIO_MODES = ("stream",)
#: 16-bit samples are 16000 bytes/s each way: a serial port needs at least this baud rate (10
#: bits a byte on the wire); below it 8-bit is chosen even where 16-bit is offered.
WIDE_BAUD = 230400


class NotVoiceModem(Exception):
    """The modem answers AT but offers no voice class (+FCLASS=8)."""


class _Call(CallRecord):
    def __init__(self, number: str, ring_timeout: float, now: Callable[[], float]) -> None:
        super().__init__(number, now)
        self.ring_timeout = ring_timeout
        self.up = False  # answered and not yet ended
        self.changed = asyncio.Event()
        # keys heard between the modem's VCON and the dial coroutine taking it (under load
        # the callee's first key can come in that gap): told once the call is up
        self.early_keys: list[str] = []

    def come_up(self, line: VoiceModem) -> None:
        self.up = True
        for digit in self.early_keys:
            self.evidence.append(f"dtmf {digit}")
            line.emit(Dtmf(line.name, digit))
        self.early_keys.clear()


class _Stream:
    """The audio stream of one call: its channel, the mode the modem is in, the task running it."""

    def __init__(self, channel: StreamChannel, call: _Call, fmt: SampleFormat) -> None:
        self.channel = channel
        self.call = call
        self.fmt = fmt
        self.mode = "idle"  # "duplex" (+VTR) | "rx" (+VRX) | "tx" (+VTX) | "idle"
        self.rx = bytearray()
        self.stop = asyncio.Event()
        self.wake = asyncio.Event()
        self.started = asyncio.Event()
        self.want_say = False
        self.left = False  # the modem left the data state by itself (its <DLE><ETX>)
        self.last_rx = 0.0
        self.task: asyncio.Task[None] | None = None


class VoiceModem(AtPortLine):
    """One analog line behind one V.253 voice modem."""

    RECOVERABLE = (*AtPortLine.RECOVERABLE, NotVoiceModem)
    SYNC_ESCAPE = False  # one character aborts a dial in progress

    def __init__(
        self,
        url: str,
        *,
        name: str | None = None,
        baudrate: int = 115200,
        timeouts: Timeouts | None = None,
        health_interval: float = 5.0,
        backoff: tuple[float, float] = (0.5, 30.0),
        min_ring_timeout: float = MIN_RING_TIMEOUT,
        messages: Path | None = None,
        reset_hook: Callable[[], Awaitable[None]] | None = None,
        ring_gone: float = RING_GONE,
        audio: str | None = None,
        stream_stall: float = STREAM_STALL,
    ) -> None:
        if audio is not None and audio not in AUDIO_MODES:
            raise ValueError(f"a V.253 line's audio is {' or '.join(AUDIO_MODES)!r} (the sound "
                             f"streamed on the modem's own port) or none, not {audio!r}")  # fmt: skip
        super().__init__(
            url,
            name=name or Path(url).name,
            baudrate=baudrate,
            timeouts=timeouts,
            health_interval=health_interval,
            backoff=backoff,
            reset_hook=reset_hook,
        )
        self.min_ring_timeout = min_ring_timeout
        self.messages = messages
        self.caller_id: str | None = None  # the command that turned caller ID on, if any did
        self.identity: dict[str, str] = {}
        self._playback = False
        self._call: _Call | None = None
        self._last: _Call | None = None  # its end is still asked for after a line loss ended it
        self._tasks: set[asyncio.Task[None]] = set()
        self._rings = RingWatch(self.name, self.emit, ring_gone)  # a call ringing in
        self.audio_mode = audio
        self.stream_stall = stream_stall
        self.duplex = False  # AT+VTR offered (else AT+VRX with AT+VTX for each say)
        self.sample_format: SampleFormat | None = None  # None: no audio path
        self.audio_problem: str | None = None if audio else "no audio configured"
        self._stream: _Stream | None = None

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(voice=True, sms=False, dtmf_detect=True, dtmf_send=True,
                            playback=self._playback, answer=True,
                            audio=self.sample_format is not None)  # fmt: skip

    @property
    def audio(self) -> AudioChannel | None:
        stream = self._stream
        if stream is None or not stream.channel.active or not stream.call.up:
            return None
        return stream.channel

    def describe_audio(self) -> str:
        if self.audio_problem is not None:
            return f"no audio path: {self.audio_problem}"
        if self.sample_format is None:
            return "no audio path yet: the modem's voice formats are read when the line is up"
        duplex = "full duplex AT+VTR" if self.duplex else "half duplex AT+VRX/AT+VTX"
        return f"voice stream on the data port ({duplex}, {self.sample_format.name})"

    def health(self) -> LineHealth:
        return LineHealth(
            up=self._up,
            registered=self._up,
            registration="analog line" if self._up else "not registered",
            sim="none",
            last_error=self._last_error,
        )

    # ------------------------------------------------------------------ AtPortLine
    def _attach(self, session: AtSession) -> None:
        session.set_dle_listener(self._on_dle)
        session.add_urc_listener(self._on_urc)
        session.extra_urc_prefixes = CID_PREFIXES

    def _call_lost(self, reason: str) -> None:
        call = self._call
        if call is not None and not call.ended.done():
            call.evidence.append(f"line down: {reason}")
            call.forced, call.end_reason = Outcome.ERROR_OCCURRED, f"line down: {reason}"
            self._finish(call)
        stream = self._stream
        if stream is not None:
            stream.stop.set()
            stream.wake.set()
            stream.channel._finish()

    async def _end_call(self) -> None:
        self._rings.forget()
        if self._call is not None:
            await self.hang_up()

    def _may_probe(self) -> bool:
        session = self._session
        if session is not None and session.streaming:
            return False  # the port carries the call's sound; a stall is noticed by the stream
        call = self._call  # V.250 6.3.1: any character aborts a dial; an answered call is fine
        return call is None or call.up or call.ended.done()

    async def _poll_health(self) -> None:
        if self._call is None:  # a character would abort a dial; a call in progress is health
            await self.session.check(Command("AT", timeout=self.timeouts.probe))

    async def _initialise(self) -> None:
        session = self.session
        try:
            await self._sync()
        except AtTimeout as exc:
            raise AtTimeout(f"{exc}; wrong port, baud rate, or modem off") from None
        await session.check(self._cmd("ATE0"))
        await session.check(self._cmd("ATV1"))
        for key, command in (("manufacturer", "AT+GMI"), ("model", "AT+GMM"),
                             ("revision", "AT+GMR")):  # fmt: skip
            response = await session.run(self._cmd(command, bare=True))
            if response.ok and response.lines:
                self.identity[key] = response.lines[0].split(":", 1)[-1].strip()
        classes = await session.run(self._cmd("AT+FCLASS=?", bare=True))
        offered = {c.strip().split(".")[0] for line in classes.lines for c in line.split(",")}
        if not classes.ok or "8" not in offered:
            raise NotVoiceModem(
                f"the modem offers no voice mode (+FCLASS=? -> {', '.join(classes.lines) or '-'})"
                "; an analog line needs a V.253 voice modem"
            )
        await session.check(self._cmd("AT+FCLASS=8"))
        await session.check(self._cmd("AT+VLS=0"))  # on hook
        self.caller_id = None
        for command in ("AT+VCID=1", "AT#CID=1"):
            if (await session.run(self._cmd(command, bare=True))).ok:
                self.caller_id = command
                break
        if self.caller_id is None:
            log.info("%s: the modem reports no caller ID: incoming calls show no number", self.name)
        formats = await session.run(self._cmd("AT+VSM=?", bare=True))
        self._playback = formats.ok and bool(formats.lines)
        if self.audio_mode is not None:
            await self._init_audio(formats.lines if formats.ok else ())
        log.info("%s: %s %s, voice mode", self.name, self.identity.get("manufacturer", "?"),
                 self.identity.get("model", "?"))  # fmt: skip
        self._set_up()

    async def _init_audio(self, lines: tuple[str, ...]) -> None:
        """Choose the stream's sample format (``+VSM``) and whether it can be full duplex."""
        session = self.session
        self.sample_format = None
        offered = offered_formats(lines)
        if self.baudrate < WIDE_BAUD:  # 16 kB/s of samples do not fit in 115200 baud
            offered = [fmt for fmt in offered if fmt.width == 1] or offered
        for fmt in offered:
            if (await session.run(self._cmd(fmt.command))).ok:
                self.sample_format = fmt
                break
        if self.sample_format is None:
            listed = "; ".join(lines) or "nothing"
            self.audio_problem = (f"the modem offers no linear 8000 Hz voice format (AT+VSM=? "
                                  f"lists {listed}): no audio path")  # fmt: skip
            log.warning("%s: %s", self.name, self.audio_problem)
            return
        self.duplex = (await session.run(self._cmd("AT+VTR=?", bare=True))).ok
        self.audio_problem = None
        log.info("%s: audio %s (%s, +VSM=%d), %s", self.name, self.sample_format.kind,
                 self.sample_format.name, self.sample_format.cml,
                 "full duplex (+VTR)" if self.duplex else "half duplex (+VRX/+VTX)")  # fmt: skip

    # ------------------------------------------------------------------ DLE events
    def _on_dle(self, code: str) -> None:
        stream = self._stream
        if stream is not None and stream.mode != "idle":
            if code == "o":
                stream.channel.stats.overruns += 1
                return
            kind, _ = classify(code)
            if kind is Progress.OTHER and code not in _OTHER_CODES:
                # no modem sends this pair: a data DLE it failed to double (or line noise); kept
                # as the two data bytes so the samples stay aligned, and counted
                stream.channel.garbage += 1
                if stream.mode in ("duplex", "rx"):
                    self._heard(stream, bytes([DLE]) + code.encode("latin-1"))
                return
            call = self._call
            if code == "s" and stream.mode == "rx" and call is not None and call.up:
                # silence from the start of a receive stream (+VSD): the presumed hang-up
                call.evidence.append("silence")
                call.end_reason = call.end_reason or "far end hung up (silence)"
                self._spawn(self._on_hook_and_finish(call))
                return
        kind, text = classify(code)
        call = self._call
        if kind is Progress.RING:
            self._ring()
            return
        if kind is Progress.DTMF:
            if call is not None and call.up:
                call.evidence.append(f"dtmf {text}")
                self.emit(Dtmf(self.name, text))
            elif call is not None and not call.ended.done() and len(call.early_keys) < 32:
                call.early_keys.append(text)
            return
        if call is None or call.ended.done():
            return
        if not call.evidence or call.evidence[-1] != text:  # busy tone repeats every few s
            call.evidence.append(text)
        if call.up:
            if kind in (Progress.HANG_UP, Progress.BUSY, Progress.DIAL_TONE):
                call.end_reason = call.end_reason or "far end hung up"
                self._spawn(self._on_hook_and_finish(call))
            return
        if call.t_end is not None:
            # going on hook after the call was up (the exchange's busy tone follows the loop
            # current's drop, and can come while our on-hook command is on its way): evidence
            # of the end, not a busy line
            return
        if kind is Progress.RINGBACK and call.t_alert is None:
            call.t_alert = call.now()
        elif kind is Progress.ANSWER_HINT and call.t_alert is not None and call.t_answer is None:
            call.t_answer = call.now()
        elif kind in FORCED and call.forced is None:
            call.forced = FORCED[kind]
            call.end_reason = text
        call.changed.set()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ incoming calls
    def _on_urc(self, urc: Urc) -> None:
        if is_ring(urc.text):
            self._ring()
            return
        parsed = parse_line(urc.text)
        if parsed is not None:
            self._caller_id(*parsed)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _busy_with_call(self) -> bool:
        call = self._call
        return call is not None and not call.ended.done()

    def _ring(self) -> None:
        if not self._busy_with_call():  # off hook, a RING is noise (or glare: the dial decides)
            self._rings.ring()

    def _caller_id(self, key: str, value: str) -> None:
        if self._busy_with_call():
            return
        ringing = self._rings.start()
        ringing.items += 1
        if ringing.items > MAX_LINES:
            return
        ringing.note(f"{key}={value}" if value else key)
        if key == "NMBR":
            self._rings.identify(*caller_number(value))

    async def answer(self) -> CallResult:
        if not self._up:
            raise LineUnavailable(f"{self.name}: line is down ({self._last_error or 'not open'})")
        if self._busy_with_call():
            assert self._call is not None
            raise LineBusy(f"{self.name}: a call with {self._call.number} is in progress")
        ringing = self._rings.take()
        if ringing is None:
            raise LineError(f"{self.name}: no call is ringing in (or the caller has hung up)")
        call = _Call(ringing.number or "", 0.0, self._now)
        call.t_dial = call.t_alert = ringing.t_first
        call.evidence.extend(ringing.evidence)
        previous, self._call, self._last = self._last, call, call
        try:
            for text in ("AT+FCLASS=8", "AT+VLS=1"):  # voice mode (a reset modem left it), off hook
                call.evidence.append(text)
                command = Command(text, timeout=self.timeouts.command, call_progress=True)
                response = await self.session.run(command, urgent=True)
                call.evidence.append(response.final.text)
                if response.final.kind not in (FinalKind.OK, FinalKind.CONNECT):
                    raise LineError(f"{self.name}: {text} answered {response.final.text}: "
                                    "the caller may have hung up")  # fmt: skip
        except (AtTimeout, LinkDown, LineError) as exc:
            if call.ended.done():  # the line went down under the answer
                raise LineUnavailable(f"{self.name}: line went down while answering") from exc
            if self._call is call:
                self._call, self._last = None, previous  # no call was taken
            self._rings.restore(ringing)  # still ringing, for another try, until the rings stop
            await self._on_hook(call)
            self._check_responsive()
            if isinstance(exc, LineError):
                raise
            raise LineError(f"{self.name}: the modem did not answer {exc}") from exc
        call.t_answer = self._now()
        call.come_up(self)
        log.info("%s: answered the call from %s", self.name, call.number or "an unknown number")
        await self._start_audio(call)
        return call.result(Outcome.CONNECTED, ended=False)

    # ------------------------------------------------------------------ voice
    async def dial(self, number: str, ring_timeout: float = 25.0) -> CallResult:
        try:
            return await self._dial(number, ring_timeout)
        finally:
            self._check_responsive()

    async def _dial(self, number: str, ring_timeout: float) -> CallResult:
        if not self._up:
            raise LineUnavailable(f"{self.name}: line is down ({self._last_error or 'not open'})")
        if self._call is not None:
            raise LineBusy(f"{self.name}: a call to {self._call.number} is in progress")
        if self._rings.ringing is not None:
            caller = self._rings.ringing.number or "an unknown number"
            raise LineBusy(f"{self.name}: a call from {caller} is ringing in")
        loop = asyncio.get_running_loop()
        call = _Call(number, max(ring_timeout, self.min_ring_timeout), loop.time)
        if not _DIAL_STRING.match(number):
            call.evidence.append(f"invalid dial string {number!r}")
            call.t_end = call.now()
            return call.result(Outcome.WRONG_NUMBER, ended=True)
        self._call = self._last = call
        text = f"ATDT{number.lstrip('+')}"
        call.evidence.append(text)
        budget = self.timeouts.setup + call.ring_timeout + self.timeouts.command
        command = Command(text, timeout=budget, call_progress=True)
        dialing = asyncio.ensure_future(self.session.run(command, urgent=True))
        try:
            while not dialing.done():
                if call.forced is not None or call.ended.done():
                    break
                if call.t_alert is not None:
                    deadline, why = call.t_alert + call.ring_timeout, "ring timeout"
                else:
                    deadline, why = call.t_dial + self.timeouts.setup, "no ringback (setup timeout)"
                if call.t_answer is None and call.now() >= deadline:
                    call.forced = (
                        Outcome.ALERTING_TIMEOUT
                        if call.t_alert is not None
                        else Outcome.UNREACHABLE
                    )
                    call.end_reason = why
                    call.evidence.append(why)
                    break
                call.changed.clear()
                waiter = asyncio.ensure_future(call.changed.wait())
                # once answered, the modem's VCON is awaited (ATD has its own time budget)
                left = None if call.t_answer is not None else max(0.0, deadline - call.now())
                await asyncio.wait([dialing, waiter], timeout=left,
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                waiter.cancel()
            if not dialing.done():
                # V.250 6.3.1: any character aborts a dial in progress; the modem then answers it
                with contextlib.suppress(LinkDown):
                    self.session.write_raw(b"\r")
            response = await dialing
        except (AtTimeout, LinkDown) as exc:
            if call.ended.done():
                return call.ended.result()
            call.evidence.append(f"ATD: {exc}")
            call.forced = call.forced or Outcome.ERROR_OCCURRED
            call.end_reason = call.end_reason or f"modem did not finish ATD: {exc}"
            await self._on_hook(call)
            return self._finish(call)
        call.evidence.extend(response.lines)
        call.evidence.append(response.final.text)
        if call.ended.done():
            return call.ended.result()
        outcome = call.forced or dial_outcome(response.final, alerted=call.t_alert is not None)
        if outcome is None:
            call.t_answer = call.t_answer or call.now()
            call.come_up(self)
            await self._start_audio(call)
            return call.result(Outcome.CONNECTED, ended=False)
        await self._on_hook(call)
        return self._finish(call, outcome)

    async def _on_hook(self, call: _Call) -> None:
        await self._stop_audio()
        for text in ("AT+VLS=0", "ATH"):
            try:
                response = await self.session.run(
                    Command(text, timeout=self.timeouts.hang_up), urgent=True
                )
            except (AtTimeout, LinkDown) as exc:
                call.evidence.append(f"{text}: {exc}")
                return
            if response.ok:
                return
            call.evidence.append(f"{text}: {response.final.text}")

    async def _on_hook_and_finish(self, call: _Call) -> None:
        if call.ended.done():
            return
        call.t_end = call.now()
        call.up = False
        await self._on_hook(call)
        self._finish(call)

    def _finish(self, call: _Call, outcome: Outcome | None = None) -> CallResult:
        call.up = False
        if self._call is call:
            self._call = None
        return call.publish(self, call.forced or outcome or Outcome.CONNECTED)

    async def hang_up(self) -> CallResult | None:
        call = self._call
        if call is None or call.ended.done():
            last = call or self._last
            return last.ended.result() if last is not None and last.ended.done() else None
        call.end_reason = call.end_reason or "hung up by us"
        if not call.up:  # still dialling: stop the dial, the dial() call reports it
            call.forced = call.forced or Outcome.ERROR_OCCURRED
            call.changed.set()
            return await asyncio.shield(call.ended)
        await self._on_hook_and_finish(call)
        return call.ended.result()

    async def wait_call_end(self, timeout: float | None = None) -> CallResult | None:
        call = self._call or self._last
        return None if call is None else await call.wait_end(timeout)

    async def send_dtmf(self, digits: str) -> None:
        channel = self.audio
        if channel is not None:  # no AT+VTS inside a data stream: the keys are said as tones
            try:
                tones = dtmf_tones(digits)
            except ValueError as exc:
                raise LineError(f"{self.name}: {exc}") from exc
            if not await channel.say(tones):
                raise LineError(f"{self.name}: the call ended before the keys were sent")
            return
        for digit in digits:
            await self.session.check(self._cmd(f"AT+VTS={digit}"))

    async def play(self, message: str) -> None:
        """Stream a stored message (raw audio in the modem's +VSM format) to the far end."""
        if not self._playback:
            raise NotSupported(f"{self.name}: this modem offers no voice formats (+VSM)")
        path = Path(message)
        if not path.is_absolute() and self.messages is not None:
            path = self.messages / path
        try:
            audio = path.read_bytes()
        except OSError as exc:
            raise LineError(f"{self.name}: cannot read message {path}: {exc}") from exc
        channel, fmt = self.audio, self.sample_format
        if channel is not None and fmt is not None:  # the stream has the port: say it there
            await channel.say(fmt.to_s16(audio[: len(audio) - len(audio) % fmt.width]))
            return
        session = self.session
        response = await session.run(
            Command("AT+VTX", timeout=self.timeouts.command, call_progress=True)
        )
        if response.final.text.upper() != "CONNECT":
            raise LineError(f"{self.name}: AT+VTX answered {response.final.text}")
        session.write_raw(shield(audio) + END_OF_STREAM)
        # The modem's OK for the stream comes once it has played it; an AT sent behind the
        # stream is read only then, so its answer marks the end of playback.
        seconds = len(audio) / 8000.0
        await session.check(Command("AT", timeout=self.timeouts.command + seconds))

    # ------------------------------------------------------------------ the call's sound
    async def _start_audio(self, call: _Call) -> None:
        """Enter the voice stream for an answered call (returns once it runs, or failed)."""
        fmt = self.sample_format
        if fmt is None or self.audio_mode is None:
            return
        stream = _Stream(StreamChannel(self.name, self._stop_audio), call, fmt)
        self._stream = stream
        stream.task = asyncio.ensure_future(self._run_stream(stream))
        await stream.started.wait()

    async def _stop_audio(self) -> None:
        """Leave the stream (the call ends, or the engine closed the channel)."""
        stream = self._stream
        if stream is None:
            return
        stream.stop.set()
        stream.wake.set()
        task = stream.task
        if task is not None and task is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

    async def _run_stream(self, stream: _Stream) -> None:
        call, channel = stream.call, stream.channel
        restarts = 0
        try:
            while not stream.stop.is_set() and call.up:
                command, mode = ("AT+VTR", "duplex") if self.duplex else ("AT+VRX", "rx")
                if not await self._enter(stream, command, mode):
                    break
                stream.started.set()
                why = await self._hold(stream)
                end = bytes([DLE, ord("^" if self.duplex else "!")])
                await self._leave(stream, None if why == "left" else end)
                if why == "say":
                    await self._transmit(stream)
                elif why in ("stall", "left"):
                    channel.stalls += 1
                    restarts += 1
                    text = (
                        f"audio stream stopped ({self.stream_stall:g} s without a byte)"
                        if why == "stall"
                        else "the modem ended the audio stream"
                    )
                    if not call.evidence or call.evidence[-1] != text:
                        call.evidence.append(text)
                    if restarts > STALL_RESTARTS:
                        log.warning("%s: %s %d times: the call goes on without audio",
                                    self.name, text, restarts)  # fmt: skip
                        break
                    log.info("%s: %s; restarting it", self.name, text)
        except (AtTimeout, AtError, LinkDown) as exc:
            call.evidence.append(f"audio stream: {exc}")
            log.warning("%s: audio stream failed: %s", self.name, exc)
        finally:
            stream.mode = "idle"
            stream.started.set()
            channel._finish()
            if self._stream is stream:
                self._stream = None

    async def _enter(self, stream: _Stream, command: str, mode: str) -> bool:
        """``command`` (+VTR/+VRX) answered CONNECT: the stream runs in ``mode``."""
        stream.rx.clear()
        stream.want_say = stream.left = False
        stream.last_rx = self._now()

        def left() -> None:
            stream.left = True
            stream.wake.set()

        # the mode is set before the answer: the modem's first bytes come right behind its
        # CONNECT, before this coroutine runs again (the sink gets nothing until then)
        stream.mode = mode
        try:
            response = await self.session.start_stream(
                Command(command, timeout=self.timeouts.command, call_progress=True),
                lambda data: self._heard(stream, data),
                left,
            )
        except BaseException:
            stream.mode = "idle"
            raise
        if response.final.text.upper() != "CONNECT":
            stream.mode = "idle"
            stream.call.evidence.append(f"{command}: {response.final.text}")
            log.warning("%s: %s answered %s: no audio for this call", self.name, command,
                        response.final.text)  # fmt: skip
            return False
        return True

    async def _leave(self, stream: _Stream, terminator: bytes | None) -> None:
        stream.mode = "idle"
        session = self.session
        if session.streaming:
            await session.end_stream(terminator, self.timeouts.command)
        if terminator is None:
            # the modem left the stream while our frames were on the way: they reached its
            # command line; end that line and see the modem answer before the next command
            session.write_raw(b"\r")
            await session.run(Command("AT", timeout=self.timeouts.command))

    async def _hold(self, stream: _Stream) -> str:
        """Wait while the stream runs: "stop", "say" (half duplex: frames are queued), "stall"
        (no byte for ``stream_stall`` s), "left" (the modem ended the stream itself)."""
        while True:
            stream.wake.clear()
            if stream.stop.is_set() or not stream.call.up:
                return "stop"
            if stream.want_say:
                return "say"
            if stream.left:
                return "left"
            idle = self._now() - stream.last_rx
            if idle >= self.stream_stall:
                return "stall"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stream.wake.wait(), self.stream_stall - idle)

    def _heard(self, stream: _Stream, data: bytes) -> None:
        """Stream bytes (unshielded) from the modem: whole frames go to the channel; in full
        duplex the frame said in the same 20 ms goes back at once."""
        stream.last_rx = self._now()
        if stream.mode not in ("duplex", "rx"):
            return  # the tail of a stream being left
        stream.rx += data
        fmt, channel = stream.fmt, stream.channel
        size = fmt.frame_bytes
        while len(stream.rx) >= size and stream.mode in ("duplex", "rx"):
            chunk = bytes(stream.rx[:size])
            del stream.rx[:size]
            if stream.mode == "rx" and channel.saying:
                stream.want_say = True  # half duplex: leave +VRX and play it with +VTX
                stream.wake.set()
                return
            said = channel._deliver(fmt.to_s16(chunk))
            if stream.mode == "duplex":
                with contextlib.suppress(LinkDown):
                    self.session.write_stream(shield(fmt.from_s16(said)))

    async def _transmit(self, stream: _Stream) -> None:
        """Half duplex: play what is queued with ``+VTX``, paced by the wall clock (``TX_LEAD``
        frames ahead); each frame sent is one frame of the channel, heard as silence."""
        call, channel, fmt = stream.call, stream.channel, stream.fmt
        if stream.stop.is_set() or not call.up:
            return
        session = self.session
        response = await session.start_stream(
            Command("AT+VTX", timeout=self.timeouts.command, call_progress=True), None
        )
        if response.final.text.upper() != "CONNECT":
            call.evidence.append(f"AT+VTX: {response.final.text}")
            channel.hush()
            return
        stream.mode = "tx"
        loop = asyncio.get_running_loop()
        start, sent, frame = loop.time(), 0, FRAME_MS / 1000
        aborted = False
        try:
            while channel.saying:
                if stream.stop.is_set() or not call.up:
                    aborted = True
                    break
                said = channel._deliver(SILENCE)
                session.write_stream(shield(fmt.from_s16(said)))
                sent += 1
                ahead = start + (sent - TX_LEAD) * frame - loop.time()
                if ahead > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stream.stop.wait(), ahead)
        finally:
            stream.mode = "idle"
            if session.streaming:
                terminator = ABORT_STREAM if aborted else END_OF_STREAM
                await session.end_stream(terminator, self.timeouts.command + TX_LEAD * frame)
