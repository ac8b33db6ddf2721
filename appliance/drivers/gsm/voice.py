"""Voice calls on a GSM modem: dial, follow call progress, ring timeout, hang up, outcome.

The ring timeout counts from alerting (SPEC C6), not from ``ATD``: the time the network takes to
set the call up is not the callee's ringing time. Progress comes from the profile's source
(``+CLCC`` polling or URCs, ``^DSCI``, Huawei ``^CEND``...) and from final result codes that
arrive as URCs after ``OK`` (python-gsmmodem #101).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from typing import Protocol

from appliance.drivers.at.codes import Final, FinalKind
from appliance.drivers.at.session import AtError, AtSession, AtTimeout, Command, LinkDown, Urc
from appliance.drivers.call import CallRecord
from appliance.drivers.gsm.calls import (
    CLCC_STATES,
    CallEvent,
    CallState,
    cause_from_ceer,
    decide_unanswered,
    event_from_urc,
    parse_clcc,
)
from appliance.drivers.gsm.profiles import CallTracking, Profile
from appliance.drivers.gsm.transfer import Transfer
from appliance.drivers.line import (
    CallResult,
    LineBusy,
    LineError,
    LineEvent,
    NotSupported,
    Timeouts,
)
from appliance.drivers.outcome import Outcome

log = logging.getLogger(__name__)

_DIAL_STRING = re.compile(r"^\+?[0-9*#]{1,40}$")
# A modem reports a call's end several ways at once (+CLCC stat 6, VOICE CALL: END, NO CARRIER,
# ^CEND...), and the bytes may reach us in separate reads. A dial this soon after the last call
# ended first exchanges a bare AT: whatever the modem wrote before reading it arrives before its
# OK, so the old call's trailing indications can never be taken for the new call's.
SETTLE = 5.0


class VoiceHost(Protocol):
    """What the voice part needs from its modem."""

    name: str
    profile: Profile
    timeouts: Timeouts
    poll_interval: float

    @property
    def session(self) -> AtSession: ...

    def emit(self, event: LineEvent) -> None: ...


class _Call(CallRecord):
    def __init__(self, number: str, ring_timeout: float, now: Callable[[], float]) -> None:
        super().__init__(number, now)
        self.ring_timeout = ring_timeout
        self.state = CallState.DIALING
        self.end_status: int | None = None
        self.final: Final | None = None
        self.changed = asyncio.Event()
        self.alerted = asyncio.Event()  # the callee's phone rings (the ring timeout runs)
        self.seen = False  # listed by +CLCC at least once
        self.call_id: int | None = None  # its +CLCC index, once a second call makes it matter

    def on_event(self, event: CallEvent) -> None:
        if self.state is CallState.RELEASED:
            if not self.ended.done() and event.state is CallState.RELEASED:
                self.evidence.append(event.raw)  # e.g. BUSY after +CLCC stat 6: keep it
                self.cause = self.cause if event.cause is None else event.cause
            return
        self.evidence.append(event.raw)
        if event.cause is not None:
            self.cause = event.cause
        if event.end_status is not None:
            self.end_status = event.end_status
        if event.state is CallState.ALERTING and self.t_alert is None:
            self.t_alert = self.now()
            self.alerted.set()
        if event.state is CallState.ACTIVE and self.t_answer is None:
            self.t_answer = self.now()
            if self.t_alert is None:
                self.t_alert = self.t_answer
        if event.state is CallState.RELEASED:
            self.t_end = self.now()
        if event.state is not CallState.INCOMING:
            self.state = event.state
        self.changed.set()

    @property
    def released(self) -> bool:
        return self.state is CallState.RELEASED


class Voice:
    """The call side of one modem; at most one outgoing call at a time."""

    def __init__(self, host: VoiceHost) -> None:
        self._host = host
        self.call: _Call | None = None
        # The last call placed: its end is still asked for after the line dropped it (the
        # engine was playing a message when the port went away), and must not read "no call".
        self.last: _Call | None = None
        self._poller: asyncio.Task[None] | None = None
        self._ended_at: float | None = None  # loop time the last call was decided
        self.transfer: Transfer | None = None  # an agent transfer in progress (transfer.py)
        self._transfers = 0  # how many were started: a poll answered across one is stale

    @property
    def _now(self) -> Callable[[], float]:
        return asyncio.get_running_loop().time

    # ------------------------------------------------------------------ dialling
    async def dial(self, number: str, ring_timeout: float) -> CallResult:
        if self.call is not None:
            raise LineBusy(f"{self._host.name}: a call to {self.call.number} is in progress")
        call = _Call(number, ring_timeout, self._now)
        if not _DIAL_STRING.match(number):
            call.evidence.append(f"invalid dial string {number!r}")
            call.t_end = call.now()
            return call.result(Outcome.WRONG_NUMBER, ended=True)
        if self._ended_at is not None and call.now() - self._ended_at < SETTLE:
            with contextlib.suppress(AtTimeout, LinkDown):  # ATD below meets a lost link
                await self._host.session.run(
                    Command("AT", timeout=self._host.timeouts.command), urgent=True
                )
            if self.call is not None:
                raise LineBusy(f"{self._host.name}: a call to {self.call.number} is in progress")
        self.call = self.last = call
        text = f"ATD{number};"
        call.evidence.append(text)
        try:
            response = await self._host.session.run(
                Command(
                    text, timeout=self._host.timeouts.dial, call_progress=True, prefixes=("+COLP:",)
                ),
                urgent=True,
            )
        except AtTimeout:
            call.evidence.append("no answer to ATD")
            call.forced, call.end_reason = Outcome.ERROR_OCCURRED, "modem did not answer ATD"
            await self._send_hang_up(call)
            return await self._finish(call)
        except LinkDown as exc:
            self.line_down(str(exc))
            return await self._finish(call)
        call.evidence.extend(response.lines)
        call.evidence.append(response.final.text)
        if call.state is CallState.RELEASED:  # released (or the line went down) meanwhile
            return await self._finish(call)
        if response.final.kind is FinalKind.CONNECT:
            call.on_event(CallEvent(CallState.ACTIVE, response.final.text))
        elif response.final.kind is not FinalKind.OK:
            call.final = response.final
            call.t_end = call.now()
            call.state = CallState.RELEASED
            return await self._finish(call)
        if self._host.profile.call_tracking is CallTracking.CLCC_POLL:
            self._poller = asyncio.create_task(self._poll(call))
        return await self._await_decision(call)

    async def _await_decision(self, call: _Call) -> CallResult:
        while True:
            if call.state is CallState.RELEASED:
                return await self._finish(call)
            if call.state is CallState.ACTIVE:
                if self._poller is None:
                    # A safety net for URC profiles: a release URC lost (the modem went quiet for
                    # a moment, a noisy line) would otherwise hold the call until it is hung up.
                    self._poller = asyncio.create_task(
                        self._poll(call, self._host.timeouts.command)
                    )
                return call.result(Outcome.CONNECTED, ended=False)
            if call.t_alert is not None:
                deadline = call.t_alert + call.ring_timeout
            else:
                deadline = call.t_dial + self._host.timeouts.setup
            remaining = deadline - call.now()
            if remaining <= 0:
                if call.t_alert is not None:
                    call.forced, call.end_reason = Outcome.ALERTING_TIMEOUT, "ring timeout"
                else:
                    call.forced, call.end_reason = (
                        Outcome.UNREACHABLE,
                        "no alerting (setup timeout)",
                    )
                call.evidence.append(call.end_reason)
                await self._send_hang_up(call)
                return await self._finish(call)
            call.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.changed.wait(), remaining)

    async def _poll(self, call: _Call, interval: float | None = None) -> None:
        """Generic call progress: ask +CLCC (27.007 7.18) until the call is released. While an
        agent transfer runs it owns the call's indications: no polls, and a list asked for
        across one is not believed."""
        empty = 0
        while not call.released:
            generation = self._transfers
            response = None
            if self.transfer is None:
                try:
                    response = await self._host.session.check(
                        Command("AT+CLCC", timeout=self._host.timeouts.command)
                    )
                except (AtTimeout, AtError) as exc:
                    log.debug("%s: +CLCC poll failed: %s", self._host.name, exc)
                except LinkDown:
                    return
            if response is not None and self.transfer is None and generation == self._transfers:
                rows = [
                    (value, row)
                    for value in response.values("+CLCC:")
                    if (row := parse_clcc(value)) is not None and row.outgoing
                    if call.call_id is None or row.call_id == call.call_id
                ]
                if rows:
                    call.seen = True
                    empty = 0
                    value, row = rows[0]
                    state = CLCC_STATES.get(row.stat)
                    if state is not None and state is not call.state:
                        call.on_event(CallEvent(state, f"+CLCC: {value}"))
                else:
                    empty += 1
                    if call.seen or empty >= 2:
                        call.on_event(CallEvent(CallState.RELEASED, "+CLCC: (no call)"))
                        if call.answered:
                            await self._finish(call)
                        return
            if call.released:
                return
            call.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.changed.wait(), interval or self._host.poll_interval)

    # ------------------------------------------------------------------ ending
    async def _finish(self, call: _Call) -> CallResult:
        """Decide and publish the call's final result (idempotent)."""
        if call.ended.done():
            return call.ended.result()
        if call.t_end is None:
            call.t_end = call.now()
        call.state = CallState.RELEASED
        if call.forced is not None:
            outcome = call.forced
        elif call.answered:
            outcome = Outcome.CONNECTED
        else:
            if call.cause is None and call.final is None:
                await self._query_cause(call)
            outcome = decide_unanswered(
                alerted=call.t_alert is not None,
                final=call.final,
                cause=call.cause,
                end_status=call.end_status,
            )
        if call.ended.done():
            return call.ended.result()
        self._ended_at = call.now()
        if self.call is call:
            self.call = None
        if self._poller is not None and self._poller is not asyncio.current_task():
            self._poller.cancel()
        self._poller = None
        return call.publish(self._host, outcome)

    async def _query_cause(self, call: _Call) -> None:
        try:
            response = await self._host.session.check(
                Command("AT+CEER", timeout=self._host.timeouts.command)
            )
        except (AtTimeout, AtError, LinkDown):
            return
        for value in response.values("+CEER:"):
            call.evidence.append(f"+CEER: {value}")
            call.cause = cause_from_ceer(value)

    async def _send_hang_up(self, call: _Call) -> None:
        for text in (self._host.profile.hang_up, "ATH"):
            try:
                response = await self._host.session.run(
                    Command(text, timeout=self._host.timeouts.hang_up), urgent=True
                )
            except (AtTimeout, LinkDown) as exc:
                call.evidence.append(f"{text}: {exc}")
                break
            call.evidence.append(f"{text}: {response.final.text}")
            if response.ok:
                break
        call.on_event(CallEvent(CallState.RELEASED, "hung up"))

    async def hang_up(self) -> CallResult | None:
        call = self.call
        if call is None or call.ended.done():
            last = call or self.last
            return last.ended.result() if last is not None and last.ended.done() else None
        if call.forced is Outcome.ERROR_OCCURRED and call.released:
            return await self._finish(call)  # the line went down under it: nothing to hang up
        call.end_reason = call.end_reason or "hung up by us"
        if not call.answered:
            call.forced = call.forced or Outcome.ERROR_OCCURRED
        await self._send_hang_up(call)
        return await self._finish(call)

    async def wait_end(self, timeout: float | None) -> CallResult | None:
        call = self.call or self.last
        return None if call is None else await call.wait_end(timeout)

    def line_down(self, reason: str) -> None:
        """The port or the modem went away: the call in progress ended in error (SPEC C11)."""
        call = self.call
        if call is None or call.ended.done():
            return
        call.evidence.append(f"line down: {reason}")
        call.forced, call.end_reason = Outcome.ERROR_OCCURRED, f"line down: {reason}"
        call.on_event(CallEvent(CallState.RELEASED, "line down"))
        asyncio.get_running_loop().create_task(self._finish(call))

    # ------------------------------------------------------------------ URCs
    def on_urc(self, urc: Urc) -> bool:
        """Feed a URC to the call in progress; True if it was call progress."""
        event = event_from_urc(urc)
        call = self.call
        if event is None or call is None or event.state is CallState.INCOMING:
            return event is not None and event.state is not CallState.INCOMING
        if self.transfer is not None:
            self.transfer.on_event(event)
            return True
        if event.call_id is not None and call.call_id not in (None, event.call_id):
            return True  # the agent's call, lingering after a transfer that failed
        was_answered = call.answered
        call.on_event(event)
        if event.state is CallState.RELEASED and was_answered:
            call.end_reason = call.end_reason or "far end hung up"
            asyncio.get_running_loop().create_task(self._finish(call))
        elif event.state is CallState.RELEASED and event.raw.upper() in ("BUSY", "NO ANSWER"):
            call.final = Final(FinalKind[event.raw.upper().replace(" ", "_")], event.raw)
        return True

    # ------------------------------------------------------------------ agents
    async def connect(self, number: str, timeout: float) -> None:
        """Hand the answered call to the phone at ``number`` by explicit call transfer within
        ``timeout`` seconds (transfer.py); ``LineError`` with the customer's call still up."""
        call = self.call
        if call is None or not call.answered or call.released:
            raise LineError(f"{self._host.name}: no answered call to connect to {number}")
        if self.transfer is not None:
            raise LineBusy(f"{self._host.name}: a transfer to {self.transfer.number} is running")
        if not _DIAL_STRING.match(number):
            raise LineError(f"{self._host.name}: the agent's number {number!r} is not dialable")
        if timeout <= 0:
            raise LineError(f"{self._host.name}: no time left to reach agent {number}")
        self.transfer = Transfer(self._host, call, number, timeout, lambda: self._finish(call))
        self._transfers += 1
        try:
            await self.transfer.run()
        finally:
            self.transfer = None
            call.changed.set()  # the poller resumes

    # ------------------------------------------------------------------ in-call
    async def send_dtmf(self, digits: str) -> None:
        template = self._host.profile.dtmf_send
        if template is None:
            raise NotSupported(f"{self._host.name}: DTMF sending not supported")
        for digit in digits:
            await self._host.session.check(
                Command(
                    template.format(digit=digit, call_id=1), timeout=self._host.timeouts.command
                )
            )
