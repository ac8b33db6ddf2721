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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from appliance.drivers.at.codes import FinalKind
from appliance.drivers.at.dle import END_OF_STREAM, shield
from appliance.drivers.at.port_line import AtPortLine
from appliance.drivers.at.session import AtSession, AtTimeout, Command, LinkDown, Urc
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

log = logging.getLogger(__name__)

_DIAL_STRING = re.compile(r"^\+?[0-9*#,]{1,40}$")
#: No ring for this long: the caller has hung up (or the network gave up). About two cadences of
#: the common ring patterns (Europe 1 s on / 4 s off, the UK's 3 s double ring; North America's
#: 2 s on / 4 s off, for which it is more than one and a half, so one missed RING is not the end).
RING_GONE = 10.0


class NotVoiceModem(Exception):
    """The modem answers AT but offers no voice class (+FCLASS=8)."""


class _Call(CallRecord):
    def __init__(self, number: str, ring_timeout: float, now: Callable[[], float]) -> None:
        super().__init__(number, now)
        self.ring_timeout = ring_timeout
        self.up = False  # answered and not yet ended
        self.changed = asyncio.Event()


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
    ) -> None:
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

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(voice=True, sms=False, dtmf_detect=True, dtmf_send=True,
                            playback=self._playback, answer=True)  # fmt: skip

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

    async def _end_call(self) -> None:
        self._rings.forget()
        if self._call is not None:
            await self.hang_up()

    def _may_probe(self) -> bool:
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
        log.info("%s: %s %s, voice mode", self.name, self.identity.get("manufacturer", "?"),
                 self.identity.get("model", "?"))  # fmt: skip
        self._set_up()

    # ------------------------------------------------------------------ DLE events
    def _on_dle(self, code: str) -> None:
        kind, text = classify(code)
        call = self._call
        if kind is Progress.RING:
            self._ring()
            return
        if kind is Progress.DTMF:
            if call is not None and call.up:
                call.evidence.append(f"dtmf {text}")
                self.emit(Dtmf(self.name, text))
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
        call.up = True
        log.info("%s: answered the call from %s", self.name, call.number or "an unknown number")
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
            call.up = True
            return call.result(Outcome.CONNECTED, ended=False)
        await self._on_hook(call)
        return self._finish(call, outcome)

    async def _on_hook(self, call: _Call) -> None:
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
