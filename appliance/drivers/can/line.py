"""One FXO port of a line card as a ``Line`` (docs/line-card-protocol.md §4.2).

Dial: ``OFF_HOOK`` -> ``DIAL_TONE`` -> ``DIAL`` frames -> ``DIAL_END`` (ring timeout) -> the card's
call progress: ``RINGBACK``, ``BUSY``, ``SIT``, ``FAX_TONE``, ``MODEM_TONE``, ``ANSWER``, then
``MACHINE``/``PERSON``, ``DTMF``, ``CALL_END`` with its cause. Every event is kept as evidence.
"""

from __future__ import annotations

import asyncio
import logging

from appliance.drivers.call import CallRecord
from appliance.drivers.can.card import Backplane, CardError
from appliance.drivers.can.protocol import Cause, Ev, Event, Op, code_digit, dial_frames
from appliance.drivers.line import (
    MIN_RING_TIMEOUT,
    CallResult,
    Capabilities,
    Dtmf,
    Line,
    LineBusy,
    LineDown,
    LineError,
    LineHealth,
    LineUnavailable,
    LineUp,
)
from appliance.drivers.outcome import Outcome

log = logging.getLogger(__name__)

DIAL_TONE_WAIT = 3.5
SETUP = 60.0

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


class _Call(CallRecord):
    def __init__(self, number: str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(number, loop.time)
        self.events: asyncio.Queue[Event] = asyncio.Queue()


class CanLine(Line):
    """Port ``port`` of the card in slot ``node`` on ``backplane``."""

    def __init__(self, backplane: Backplane, node: int, port: int, *, name: str | None = None,
                 min_ring_timeout: float = MIN_RING_TIMEOUT) -> None:  # fmt: skip
        super().__init__(name or f"card{node}.{port}")
        self.backplane = backplane
        self.node = node
        self.port = port
        self.min_ring_timeout = min_ring_timeout
        self._up = False
        self._last_error: str | None = "card not seen yet"
        self._call: _Call | None = None
        backplane.attach(node, port, self._on_event)
        backplane.on_card(self._on_card)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(voice=True, dtmf_detect=True, dtmf_send=True, playback=False)

    def health(self) -> LineHealth:
        return LineHealth(
            up=self._up, registered=self._up,
            registration="line card port" if self._up else "not registered",
            sim="none", last_error=self._last_error,
        )  # fmt: skip

    async def open(self) -> None:
        await self.backplane.start()
        card = self.backplane.cards.get(self.node)
        if card is not None and card.up:
            self._on_card(self.node, True)

    async def close(self) -> None:
        if self._call is not None:
            await self.hang_up()

    def _on_card(self, node: int, up: bool) -> None:
        if node != self.node:
            return
        if up and not self._up:
            self._up, self._last_error = True, None
            self.emit(LineUp(self.name))
        elif not up and self._up:
            self._up, self._last_error = False, "heartbeat lost"
            call = self._call
            if call is not None and not call.ended.done():
                call.evidence.append("card lost (heartbeat)")
                call.forced, call.end_reason = Outcome.ERROR_OCCURRED, "card lost"
                self._finish(call)
            self.emit(LineDown(self.name, "heartbeat lost"))

    # ------------------------------------------------------------------ events
    def _on_event(self, event: Event) -> None:
        call = self._call
        if event.event == Ev.DTMF:
            digit = code_digit(event.args[0])
            if call is not None:
                call.evidence.append(f"DTMF {digit}")
            self.emit(Dtmf(self.name, digit))
            return
        if call is None or call.ended.done():
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

    # ------------------------------------------------------------------ voice
    async def dial(self, number: str, ring_timeout: float = 25.0) -> CallResult:
        if not self._up:
            raise LineUnavailable(f"{self.name}: line is down ({self._last_error})")
        if self._call is not None:
            raise LineBusy(f"{self.name}: a call to {self._call.number} is in progress")
        call = self._call = _Call(number, asyncio.get_running_loop())
        ring = max(ring_timeout, self.min_ring_timeout)
        try:
            await self._command(Op.OFF_HOOK)
            first = await self._next(call, DIAL_TONE_WAIT)
            while first is not None and first.event not in (Ev.DIAL_TONE, Ev.NO_DIAL_TONE):
                first = await self._next(call, DIAL_TONE_WAIT)  # a late word of the last call
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
            call.forced = Outcome.ERROR_OCCURRED
            return self._finish(call)
        finally:
            if call.ended.done() and self._call is call:
                self._call = None

    async def _next(self, call: _Call, timeout: float) -> Event | None:
        try:
            return await asyncio.wait_for(call.events.get(), max(0.0, timeout))
        except TimeoutError:
            return None

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
        answered = Outcome.CONNECTED if call.answered else Outcome.UNREACHABLE
        return call.publish(self, call.forced or answered)

    async def hang_up(self) -> CallResult | None:
        call = self._call
        if call is None:
            return None
        if call.t_answer is None:
            call.forced = call.forced or Outcome.ERROR_OCCURRED
        return await self._hang_up_and_finish(call, "hung up by us")

    async def wait_call_end(self, timeout: float | None = None) -> CallResult | None:
        call = self._call
        return None if call is None else await call.wait_end(timeout)

    async def send_dtmf(self, digits: str) -> None:
        from appliance.drivers.can.protocol import digit_code

        for digit in digits:
            await self._command(Op.SEND_DTMF, bytes([digit_code(digit)]))

    async def bridge(self, node: int, port: int) -> None:
        """Connect this port's call to another port (an agent's FXS seat)."""
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
    if event.event in (Ev.SIT, Ev.FAX_TONE, Ev.MODEM_TONE, Ev.ANSWER, Ev.MACHINE, Ev.PERSON):
        return f"{name}({event.args[0]})"
    return name
