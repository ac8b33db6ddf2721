"""One FXO port of a line card as a ``Line`` (docs/line-card-protocol.md §4.2).

Dial: ``OFF_HOOK`` -> ``DIAL_TONE`` -> ``DIAL`` frames -> ``DIAL_END`` (ring timeout) -> the card's
call progress: ``RINGBACK``, ``BUSY``, ``SIT``, ``FAX_TONE``, ``MODEM_TONE``, ``ANSWER``, then
``MACHINE``/``PERSON``, ``DTMF``, ``CALL_END`` with its cause. Every event is kept as evidence.
An answered call is bridged to an agent's FXS seat on the same card (``connect``, SPEC A1/A4) or
hears one of the card's stored messages (``play``). A port fault or a lost card ends the call
ErrorOccurred and takes the line down until the card says the port is idle again (SPEC H6).

Incoming calls (§4.4, SPEC C14): ``INCOMING_RING`` per ring, the caller ID in ``CALLER_ID``
frames (between the first two rings) -> one ``IncomingCall``; ``RINGING_STOPPED``, or no ring for
``ring_gone`` seconds (a lost frame) -> ``RingingStopped``; ``answer()`` sends ``ANSWER`` and the
call is then the line's call as an answered outgoing one (DTMF, play, connect, ``CALL_END``).

Supervision (§4.5, SPEC A6): ``monitor(seat, mode)`` joins a supervisor's FXS handset on the same
card to the call bridged to an agent (``MONITOR`` -> ``MONITORED``), in mode listen, whisper or
barge; ``unmonitor()`` ends it (``UNMONITOR`` -> ``MONITOR_END``), as do the card when the
supervisor hangs up, the agent leaves or the call ends. A card without the conference (no object
``0x200B``, ``MONITOR`` answered "not supported") gives ``CannotConference``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from appliance.drivers.call import CallRecord
from appliance.drivers.can.card import Backplane, CardError
from appliance.drivers.can.port import CardPort
from appliance.drivers.can.protocol import (
    CallerIdReader,
    Cause,
    Ev,
    Event,
    Mode,
    Op,
    Role,
    State,
    Status,
    code_digit,
    dial_frames,
    digit_code,
    monitor_end_reason,
)
from appliance.drivers.can.seat import CanSeat
from appliance.drivers.line import (
    CONFERENCE_MODES,
    MIN_RING_TIMEOUT,
    CallResult,
    CannotConference,
    Capabilities,
    ConferenceConflict,
    ConferenceError,
    Dtmf,
    Line,
    LineBusy,
    LineDown,
    LineError,
    LineHealth,
    LineUnavailable,
    LineUp,
    NotSupported,
    Seat,
)
from appliance.drivers.outcome import Outcome
from appliance.drivers.ring_in import RingWatch

log = logging.getLogger(__name__)

DIAL_TONE_WAIT = 3.5
SETUP = 60.0
PLAY_TIMEOUT = 120.0  # a stored message plays once; longer than any information message
RING_GONE = 10.0  # no INCOMING_RING for this long: the rings stopped (the card's frame was lost)
MAX_CALLER_FRAMES = 8  # CALLER_ID frames taken per ringing call (a 32-digit number needs 5)

CAUSE_OUTCOMES = {
    Cause.NO_ANSWER: Outcome.ALERTING_TIMEOUT,
    Cause.BUSY: Outcome.BUSY,
    Cause.SIT: Outcome.WRONG_NUMBER,
    Cause.NO_DIAL_TONE: Outcome.NO_LINE,
    Cause.LINE_FAULT: Outcome.UNREACHABLE,
    Cause.FAX: Outcome.FAX,
    Cause.MODEM: Outcome.INCOMPATIBLE,
    Cause.CARD_RESET: Outcome.ERROR_OCCURRED,
}
PLAY_ENDS = {0: "finished", 1: "stopped", 2: "call ended"}


class _Call(CallRecord):
    def __init__(self, number: str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(number, loop.time)
        self.events: asyncio.Queue[Event] = asyncio.Queue()


class CanLine(Line):
    """Port ``port`` of the card in slot ``node`` on ``backplane``."""

    def __init__(self, backplane: Backplane, node: int, port: int, *, name: str | None = None,
                 min_ring_timeout: float = MIN_RING_TIMEOUT,
                 play_timeout: float = PLAY_TIMEOUT, ring_gone: float = RING_GONE) -> None:  # fmt: skip
        super().__init__(name or f"card{node}.{port}")
        self.backplane = backplane
        self.node = node
        self.port = port
        self.min_ring_timeout = min_ring_timeout
        self.play_timeout = play_timeout
        self._call: _Call | None = None
        self._last: _Call | None = None  # its end is still asked for after a card loss ended it
        self._bridged: asyncio.Future[None] | None = None  # BRIDGED awaited by connect()
        self._played: asyncio.Future[int] | None = None  # PLAY_DONE awaited by play()
        self._peer: int | None = None  # the port the call is bridged to (BRIDGED, UNBRIDGED)
        self._conference: tuple[str, str] | None = None  # the supervisor's seat, the mode
        self._supervisor: str | None = None  # the seat a MONITOR in flight joins
        self._monitored: asyncio.Future[None] | None = None  # MONITORED awaited by monitor()
        self._unmonitored: asyncio.Future[None] | None = None  # MONITOR_END, by unmonitor()
        self._monitor_lock = asyncio.Lock()
        self._rings = RingWatch(self.name, self.emit, ring_gone)  # a call ringing in
        self._caller = CallerIdReader()
        self._port = CardPort(backplane, node, port, Role.FXO,
                              on_event=self._on_event, on_health=self._on_health)  # fmt: skip

    @property
    def capabilities(self) -> Capabilities:
        card = self.backplane.cards.get(self.node)
        conference = card.conference if card is not None and card.up else ()
        return Capabilities(voice=True, dtmf_detect=True, dtmf_send=True,
                            playback=bool(self._messages()), answer=True,
                            conference=conference)  # fmt: skip

    def health(self) -> LineHealth:
        return self._port.health("line card port")

    async def open(self) -> None:
        await self._port.start(self.name)

    async def close(self) -> None:
        self._rings.forget()
        if self._call is not None:
            await self.hang_up()

    def _messages(self) -> list[str]:
        card = self.backplane.cards.get(self.node)
        return list(card.messages) if card is not None and card.up else []

    def _on_health(self, up: bool, reason: str, evidence: str) -> None:
        if up:
            self.emit(LineUp(self.name))
            return
        call = self._call
        if call is not None and not call.ended.done():
            call.evidence.append(evidence)
            call.forced, call.end_reason = Outcome.ERROR_OCCURRED, reason
            self._finish(call)
        self.emit(LineDown(self.name, reason))

    # ------------------------------------------------------------------ events
    def _on_event(self, event: Event) -> None:
        call = self._call
        if event.event in (Ev.INCOMING_RING, Ev.CALLER_ID, Ev.RINGING_STOPPED):
            if call is None or call.ended.done():  # a card rings a port that is on hook only
                self._ringing_in(event)
            return
        if event.event == Ev.DTMF:
            digit = code_digit(event.args[0])
            if call is not None:
                call.evidence.append(f"DTMF {digit}")
            self.emit(Dtmf(self.name, digit))
            return
        if event.event == Ev.BRIDGED and self._bridged is not None and not self._bridged.done():
            self._bridged.set_result(None)
        elif event.event == Ev.PLAY_DONE and self._played is not None and not self._played.done():
            self._played.set_result(event.args[1])
        elif event.event == Ev.UNBRIDGED:
            self._peer = None
        elif event.event in (Ev.MONITORED, Ev.MONITOR_END):
            self._conference_event(event)
            return
        if event.event == Ev.BRIDGED:
            self._peer = event.args[1]
        elif event.event == Ev.STATE:  # the card's word on the bridge and the conference (§4.5)
            self._peer = event.args[2] if event.args[1] else None
            mode = event.args[3]
            if mode in Mode._value2member_map_:
                seat = self._supervisor or f"card{self.node}.{event.args[4]}"
                self._conference = (seat, Mode(mode).name.lower())
            else:
                self._conference = None
        if call is None or call.ended.done():
            return
        if event.event == Ev.STATE:
            if call.answered and event.args[0] == State.IDLE:
                # the card says on hook: its CALL_END was lost (an overrun, §7)
                call.evidence.append("STATE idle")
                call.end_reason = "far end hung up"
                self._finish(call)
            return
        call.evidence.append(_describe(event))
        if call.t_answer is not None:  # answered: the card's verdict on who answered, the end
            if event.event == Ev.MACHINE:
                call.forced = Outcome.ANSWERING_MACHINE
            elif event.event == Ev.CALL_END:
                call.end_reason = call.end_reason or "far end hung up"
                self._finish(call)
            return
        call.events.put_nowait(event)

    def _ringing_in(self, event: Event) -> None:
        """§5.1: ``INCOMING_RING`` (byte 3: the ring's number), ``CALLER_ID`` frames,
        ``RINGING_STOPPED``."""
        if event.event == Ev.RINGING_STOPPED:
            self._rings.stopped("RINGING_STOPPED")
            return
        if self._rings.ringing is None:
            self._caller = CallerIdReader()  # a new call: a new caller ID
        if event.event == Ev.INCOMING_RING:
            self._rings.ring(f"INCOMING_RING({event.args[0]})")
            return
        ringing = self._rings.start()
        ringing.items += 1
        if ringing.items > MAX_CALLER_FRAMES:
            return
        known = self._caller.feed(event.args)
        if known is not None:
            if known[0]:
                ringing.note(f"CALLER_ID({known[0]})")
            self._rings.identify(*known)

    async def answer(self) -> CallResult:
        if not self._port.up:
            raise LineUnavailable(f"{self.name}: line is down ({self._port.last_error})")
        if self._call is not None and not self._call.ended.done():
            raise LineBusy(f"{self.name}: a call with {self._call.number} is in progress")
        ringing = self._rings.take()
        if ringing is None:
            raise LineError(f"{self.name}: no call is ringing in (or the caller has hung up)")
        call = _Call(ringing.number or "", asyncio.get_running_loop())
        call.t_dial = call.t_alert = ringing.t_first
        call.evidence.extend(ringing.evidence)
        call.evidence.append("ANSWER")
        # answered from here on for the card's events: the ACK comes before any the answer causes
        call.t_answer = call.now()
        previous, self._call, self._last = self._last, call, call
        try:
            await self._command(Op.ANSWER)
        except CardError as exc:
            if call.ended.done():  # the port went down, or the call ended, meanwhile
                raise LineUnavailable(f"{self.name}: the call ended while answering") from exc
            self._call, self._last = None, previous
            if exc.status != Status.NOT_RINGING:
                self._rings.restore(ringing)  # not answered, still ringing: another try may do
            if exc.status == Status.NOT_RINGING:
                raise LineError(f"{self.name}: the caller hung up before the answer") from exc
            raise LineError(f"{self.name}: cannot answer: {exc}") from exc
        if call.ended.done():  # a CALL_END or a fault came with the answer
            return call.ended.result()
        log.info("%s: answered the call from %s", self.name, call.number or "an unknown number")
        return call.result(Outcome.CONNECTED, ended=False)

    # ------------------------------------------------------------------ voice
    async def dial(self, number: str, ring_timeout: float = 25.0) -> CallResult:
        if not self._port.up:
            raise LineUnavailable(f"{self.name}: line is down ({self._port.last_error})")
        if self._call is not None:
            raise LineBusy(f"{self.name}: a call to {self._call.number} is in progress")
        if self._rings.ringing is not None:
            caller = self._rings.ringing.number or "an unknown number"
            raise LineBusy(f"{self.name}: a call from {caller} is ringing in")
        call = self._call = self._last = _Call(number, asyncio.get_running_loop())
        ring = max(ring_timeout, self.min_ring_timeout)
        try:
            await self._command(Op.OFF_HOOK)
            first = await self._next(call, DIAL_TONE_WAIT)
            while first is not None and first.event not in (Ev.DIAL_TONE, Ev.NO_DIAL_TONE):
                first = await self._next(call, DIAL_TONE_WAIT)  # a late word of the last call
            if call.ended.done():  # the port failed meanwhile
                return call.ended.result()
            if first is None or first.event != Ev.DIAL_TONE:
                call.forced = Outcome.NO_LINE
                return await self._hang_up_and_finish(call, "no dial tone")
            for frame in dial_frames(self.port, number, 0):
                await self._command(Op.DIAL, frame.args)
            await self._command(Op.DIAL_END, int(ring).to_bytes(2, "little"))
            call.evidence.append(f"dialled {number}")
            while True:
                budget = (
                    (call.t_alert + ring + 5.0) if call.t_alert is not None else call.t_dial + SETUP
                )
                event = await self._next(call, budget - call.now())
                if call.ended.done():
                    return call.ended.result()
                if event is None:
                    call.forced = Outcome.ALERTING_TIMEOUT if call.t_alert else Outcome.UNREACHABLE
                    return await self._hang_up_and_finish(call, "no progress from the card")
                if event.event == Ev.RINGBACK and call.t_alert is None:
                    call.t_alert = call.now()
                elif event.event == Ev.ANSWER:
                    call.t_answer = call.now()
                    if call.t_alert is None:
                        call.t_alert = call.t_answer
                    return call.result(Outcome.CONNECTED, ended=False)
                elif event.event == Ev.CALL_END:
                    cause = (
                        Cause(event.args[0])
                        if event.args[0] in Cause._value2member_map_
                        else Cause.OTHER
                    )
                    call.forced = call.forced or CAUSE_OUTCOMES.get(cause, Outcome.UNREACHABLE)
                    return self._finish(call)
                elif event.event == Ev.FAX_TONE:
                    call.forced = Outcome.FAX
                elif event.event == Ev.MODEM_TONE:
                    call.forced = Outcome.INCOMPATIBLE
        except CardError as exc:
            call.evidence.append(str(exc))
            call.forced = call.forced or Outcome.ERROR_OCCURRED
            return self._finish(call)
        finally:
            if call.ended.done() and self._call is call:
                self._call = None

    async def _next(self, call: _Call, timeout: float) -> Event | None:
        """The card's next event for this call; None on timeout or once the call has ended."""
        get = asyncio.ensure_future(call.events.get())
        ok = await self._first(get, call, timeout)
        return get.result() if ok else None

    @staticmethod
    async def _first(waiter: Awaitable[Any], call: _Call, timeout: float) -> bool:
        """Whether ``waiter`` finishes within ``timeout`` seconds and before the call ends."""
        task: asyncio.Future[Any] = asyncio.ensure_future(waiter)
        await asyncio.wait([task, call.ended], timeout=max(0.0, timeout),
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if task.done() and not task.cancelled():
            return True
        task.cancel()
        return False

    async def _command(self, op: Op, args: bytes = b"") -> None:
        await self.backplane.command(self.node, self.port, op, args)

    async def _hang_up_and_finish(self, call: _Call, reason: str) -> CallResult:
        call.end_reason = call.end_reason or reason
        try:
            await self._command(Op.ON_HOOK)
        except CardError as exc:
            call.evidence.append(str(exc))
        return self._finish(call)

    def _finish(self, call: _Call) -> CallResult:
        if self._call is call:
            self._call = None
            self._peer = self._conference = None  # the card takes them down with the call
        answered = Outcome.CONNECTED if call.answered else Outcome.UNREACHABLE
        return call.publish(self, call.forced or answered)

    async def hang_up(self) -> CallResult | None:
        call = self._call
        if call is None or call.ended.done():
            last = call or self._last
            return last.ended.result() if last is not None and last.ended.done() else None
        if call.t_answer is None:
            call.forced = call.forced or Outcome.ERROR_OCCURRED
        return await self._hang_up_and_finish(call, "hung up by us")

    async def wait_call_end(self, timeout: float | None = None) -> CallResult | None:
        call = self._call or self._last
        return None if call is None else await call.wait_end(timeout)

    async def send_dtmf(self, digits: str) -> None:
        for digit in digits:
            await self._command(Op.SEND_DTMF, bytes([digit_code(digit)]))

    def _answered(self, doing: str) -> _Call:
        call = self._call
        if call is None or not call.answered or call.ended.done():
            raise LineError(f"{self.name}: no answered call to {doing}")
        return call

    # ------------------------------------------------------------------ playback
    async def play(self, message: str) -> None:
        """Play one of the card's stored messages (object 0x2021) once into the answered call;
        return when the card says ``PLAY_DONE`` or the call ends."""
        messages = self._messages()
        if not messages:
            raise NotSupported(f"{self.name}: card {self.node} stores no messages to play")
        if message not in messages:
            raise LineError(f"{self.name}: card {self.node} has no message {message!r}; "
                            f"it has {', '.join(messages)}")  # fmt: skip
        call = self._answered(f"play {message!r} into")
        loop = asyncio.get_running_loop()
        done = self._played = loop.create_future()
        started = loop.time()
        call.evidence.append(f"PLAY {message}")
        try:
            await self._command(Op.PLAY, bytes([messages.index(message) + 1, 1]))
            finished = await self._first(done, call, self.play_timeout)
        except CardError as exc:
            raise LineError(f"{self.name}: PLAY {message}: {exc}") from exc
        finally:
            self._played = None
        if finished:
            how = PLAY_ENDS.get(done.result(), str(done.result()))
            call.evidence.append(f"played {message} ({how}, {loop.time() - started:.1f} s)")
        elif not call.ended.done():
            with contextlib.suppress(CardError):
                await self._command(Op.STOP_PLAY)
            raise LineError(f"{self.name}: no PLAY_DONE for {message} "
                            f"within {self.play_timeout:.0f} s")  # fmt: skip

    # ------------------------------------------------------------------ agents
    def can_reach(self, seat: Seat) -> bool:
        """FXS seats on the same card; cross-card bridges over the TDM bus are not done yet."""
        return (
            isinstance(seat, CanSeat)
            and seat.backplane is self.backplane
            and seat.node == self.node
        )

    async def connect(self, seat: Seat, timeout: float) -> None:
        if not isinstance(seat, CanSeat) or not self.can_reach(seat):
            raise NotSupported(f"{self.name}: cannot bridge to seat {seat.name}: only FXS ports "
                               f"of card {self.node} on the same bus are reachable")  # fmt: skip
        call = self._answered(f"connect to seat {seat.name}")
        if not seat.health().up:
            raise LineUnavailable(f"seat {seat.name} is down ({seat.health().last_error})")
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + timeout
        rang = sent = False
        try:
            if not seat.off_hook:
                await seat.ring()
                rang = True
                call.evidence.append(f"RING {seat.name}")
                lifted = await self._first(seat.wait_off_hook(), call, deadline - loop.time())
                if not lifted:
                    raise LineError(self._why(call, f"seat {seat.name} did not answer", timeout))
            bridged = self._bridged = loop.create_future()
            sent = True
            await asyncio.wait_for(self._command(Op.BRIDGE, bytes([seat.node, seat.port, 0])),
                                   max(0.0, deadline - loop.time()))  # fmt: skip
            if not await self._first(bridged, call, deadline - loop.time()):
                raise LineError(
                    self._why(call, f"bridge to seat {seat.name} not confirmed", timeout)
                )
        except (LineError, CardError, TimeoutError) as exc:
            error = exc if isinstance(exc, LineError) else LineError(
                f"bridge to seat {seat.name} not confirmed within {timeout:.1f} s: "
                f"{str(exc) or 'no ACK in time'}"
            )  # fmt: skip
            call.evidence.append(str(error))
            await self._undo(seat, rang, sent and not call.ended.done())
            raise error from exc
        finally:
            self._bridged = None
        call.evidence.append(
            f"bridged to {seat.name} ({seat.label}) after {loop.time() - started:.2f} s"
        )

    @staticmethod
    def _why(call: _Call, what: str, timeout: float) -> str:
        if call.ended.done():
            return f"{what}: the call ended meanwhile"
        return f"{what} within {timeout:.1f} s"

    async def _undo(self, seat: CanSeat, rang: bool, sent: bool) -> None:
        """After a failed connect: no half bridge on the card, and the seat stops ringing."""
        if sent:
            with contextlib.suppress(CardError):
                await self._command(Op.UNBRIDGE)
        if rang:
            with contextlib.suppress(LineError):
                await seat.release()

    # ------------------------------------------------------------------ supervision (§4.5)
    @property
    def monitoring(self) -> tuple[str, str] | None:
        return self._conference

    def describe_conference(self) -> str:
        card = self.backplane.cards.get(self.node)
        if card is None or not card.up:
            return f"card {self.node} is not up: what it can do is not known yet"
        if not card.conference:
            return (f"card {self.node} ({card.name}) cannot conference: it has no object "
                    "0x200B (firmware older than docs/line-card-protocol.md §4.5)")  # fmt: skip
        return (f"a 3-party bridge on card {self.node} ({', '.join(card.conference)}): a "
                f"supervisor's handset on an FXS port of card {self.node} joins the call")  # fmt: skip

    def _conference_event(self, event: Event) -> None:
        """``MONITORED`` (mode, call port, agent port, supervisor port) or ``MONITOR_END``."""
        call = self._call
        if event.event == Ev.MONITORED:
            mode = event.args[0]
            name = Mode(mode).name.lower() if mode in Mode._value2member_map_ else str(mode)
            seat = self._supervisor or f"card{self.node}.{event.args[3]}"
            self._conference = (seat, name)
            if self._monitored is not None and not self._monitored.done():
                self._monitored.set_result(None)
            if call is not None:
                call.evidence.append(f"MONITORED({name}, {seat})")
            return
        was, self._conference = self._conference, None
        if self._unmonitored is not None and not self._unmonitored.done():
            self._unmonitored.set_result(None)
        if call is not None and was is not None:
            call.evidence.append(f"MONITOR_END({was[0]}: {monitor_end_reason(event.args[0])})")

    async def monitor(self, seat: Seat, mode: str, timeout: float) -> None:
        if mode not in CONFERENCE_MODES:
            raise CannotConference(f"{mode!r} is not a conference mode: one of "
                                   f"{', '.join(CONFERENCE_MODES)}")  # fmt: skip
        if mode not in self.capabilities.conference:
            raise CannotConference(f"line {self.name} cannot bridge a third party in {mode} "
                                   f"mode: {self.describe_conference()}")  # fmt: skip
        if not isinstance(seat, CanSeat) or seat.backplane is not self.backplane:
            raise CannotConference(f"line {self.name} cannot bridge a third party: seat "
                                   f"{seat.name} is not a handset on the line's CAN bus")  # fmt: skip
        if seat.node != self.node:
            raise CannotConference(
                f"line {self.name} cannot bridge a third party: seat {seat.name} is on card "
                f"{seat.node} and the call on card {self.node}; a card conferences its own FXS "
                "ports only (cross-card bridges over the TDM bus are not done yet)"
            )
        async with self._monitor_lock:
            call = self._call
            if call is None or call.ended.done() or call.t_answer is None or self._peer is None:
                raise ConferenceConflict(f"line {self.name} has no call bridged to an agent")
            if seat.port == self._peer:
                raise CannotConference(f"seat {seat.name} is the agent's own seat in this call")
            current = self._conference
            if current is not None and current[0] != seat.name:
                raise ConferenceConflict(f"supervisor seat {current[0]} is already on the call on "
                                         f"line {self.name} ({current[1]}); one supervisor a "
                                         "call: end that first")  # fmt: skip
            if not seat.health().up:
                raise ConferenceConflict(f"seat {seat.name} is down ({seat.health().last_error})")
            await self._join(call, seat, Mode[mode.upper()], timeout)

    async def _join(self, call: _Call, seat: CanSeat, mode: Mode, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        rang = False
        try:
            if not seat.off_hook:
                try:
                    await seat.ring()
                except LineError as exc:
                    raise ConferenceConflict(f"seat {seat.name} cannot be rung: {exc}") from exc
                rang = True
                if not await self._first(seat.wait_off_hook(), call, deadline - loop.time()):
                    raise ConferenceConflict(self._why(
                        call, f"seat {seat.name} did not lift the handset", timeout))  # fmt: skip
            done = self._monitored = loop.create_future()
            self._supervisor = seat.name
            try:
                await self._command(Op.MONITOR, bytes([seat.node, seat.port, mode]))
            except CardError as exc:
                raise self._refused(exc, seat, mode) from exc
            if not await self._first(done, call, max(0.5, deadline - loop.time())):
                raise ConferenceConflict(self._why(call, "the card did not confirm the "
                                                   "conference", timeout))  # fmt: skip
        except ConferenceError as exc:
            if rang and not seat.off_hook:
                with contextlib.suppress(LineError):
                    await seat.release()  # stop ringing a handset nobody lifted
            call.evidence.append(f"monitor by {seat.name} refused: {exc}")
            raise
        finally:
            self._monitored = None
        log.info("%s: seat %s joined the call (%s)", self.name, seat.name, mode.name.lower())

    def _refused(self, exc: CardError, seat: CanSeat, mode: Mode) -> ConferenceError:
        why = {
            Status.NOT_LIFTED: f"seat {seat.name} is on hook: lift the handset and try again",
            Status.NOT_BRIDGED: f"line {self.name} has no call bridged to an agent",
            Status.BUSY: f"seat {seat.name} is in another call, or another supervisor is on "
            "this one",
            Status.PORT_FAULT: f"a port fault on card {self.node}",
        }.get(exc.status) if exc.status is not None else None  # fmt: skip
        if why is not None:
            return ConferenceConflict(why)
        if exc.status in (Status.NOT_SUPPORTED, Status.BAD_ARGUMENT):
            return CannotConference(
                f"line {self.name} cannot bridge a third party: card {self.node} refused MONITOR "
                f"{mode.name.lower()} ({exc.status.name}): a card older than "
                "docs/line-card-protocol.md §4.5, or a mode its mixer lacks"
            )
        return ConferenceConflict(f"line {self.name}: {exc}")

    async def unmonitor(self) -> None:
        async with self._monitor_lock:
            current = self._conference
            if current is None:
                raise ConferenceConflict(f"nobody listens in on line {self.name}")
            loop = asyncio.get_running_loop()
            ended = self._unmonitored = loop.create_future()
            try:
                await self._command(Op.UNMONITOR)
                await asyncio.wait_for(ended, 1.0)
            except CardError as exc:
                raise ConferenceConflict(f"line {self.name}: {exc}") from exc
            except TimeoutError:
                self._conference = None  # the card said nothing: take it as over
            finally:
                self._unmonitored = None

    async def bridge(self, node: int, port: int) -> None:
        """Connect this port's call to another port of the card (``connect`` does it for seats)."""
        try:
            await self._command(Op.BRIDGE, bytes([node, port, 0]))
        except CardError as exc:
            raise LineError(str(exc)) from exc

    async def unbridge(self) -> None:
        try:
            await self._command(Op.UNBRIDGE)
        except CardError as exc:
            raise LineError(str(exc)) from exc


def _describe(event: Event) -> str:
    name = event.event.name
    if event.event == Ev.CALL_END:
        cause = event.args[0]
        label = Cause(cause).name if cause in Cause._value2member_map_ else hex(cause)
        return f"CALL_END({label})"
    if event.event == Ev.PLAY_DONE:
        return f"PLAY_DONE({PLAY_ENDS.get(event.args[1], event.args[1])})"
    if event.event in (Ev.SIT, Ev.FAX_TONE, Ev.MODEM_TONE, Ev.ANSWER, Ev.MACHINE, Ev.PERSON,
                       Ev.UNBRIDGED):  # fmt: skip
        return f"{name}({event.args[0]})"
    if event.event == Ev.BRIDGED:
        return f"BRIDGED(card{event.args[0]}.{event.args[1]})"
    return name
