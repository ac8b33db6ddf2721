"""Voice calls on a GSM modem: dial, follow call progress, ring timeout, hang up, outcome.

The ring timeout counts from alerting (SPEC C6), not from ``ATD``: the time the network takes to
set the call up is not the callee's ringing time. Progress comes from the profile's source
(``+CLCC`` polling or URCs, ``^DSCI``, Huawei ``^CEND``, Wavecom ``+WIND``...) and from final
result codes that arrive as URCs after ``OK`` (python-gsmmodem #101).

No one signal is trusted alone (#20): call-state URCs the profile promises must show within
``_urc_grace`` of ``ATD``'s ``OK``, else ``+CLCC`` is polled (and the module is remembered as
silent); a module answering neither is followed by its final result codes, within the ring
timeout. A module that withholds ``ATD``'s result until the call is answered or fails
(Wavecom, old ZTE sticks) is not a dead modem: the call's deadlines run while ``ATD`` waits
(the ring timeout from alerting, or from ``ATD`` + ``Timeouts.presumed_setup`` when nothing
says the phone rings), then the dial is aborted with one character (V.250 6.3.1) and the
outcome is classified from what was seen: the modem answering the abort means the callee did
not answer (AlertingTimeout); silence means the modem is gone (ErrorOccurred).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable

from appliance.drivers.at.codes import Final, FinalKind
from appliance.drivers.at.session import (
    AtError,
    AtTimeout,
    Command,
    LinkDown,
    Response,
    Urc,
)
from appliance.drivers.gsm.calls import (
    CLCC_STATES,
    CallEvent,
    CallState,
    ClccRow,
    cause_from_ceer,
    decide_unanswered,
    event_from_urc,
    parse_clcc,
)
from appliance.drivers.gsm.profiles import URC_TRACKING
from appliance.drivers.gsm.transfer import Transfer
from appliance.drivers.gsm.voicecall import VoiceCall, VoiceHost
from appliance.drivers.line import (
    CallResult,
    LineBusy,
    LineError,
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


#: Final result codes that may arrive as URCs; every other call URC is an indication.
_FINAL_WORDS = frozenset({"NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "NO DIAL TONE"})


class Voice:
    """The call side of one modem; at most one call at a time: placed by ``dial``, or rung in
    and answered (incoming.py hands it over with ``adopt``)."""

    def __init__(self, host: VoiceHost) -> None:
        self._host = host
        self.call: VoiceCall | None = None
        # The last call placed: its end is still asked for after the line dropped it (the
        # engine was playing a message when the port went away), and must not read "no call".
        self.last: VoiceCall | None = None
        self._poller: asyncio.Task[None] | None = None
        self._ended_at: float | None = None  # loop time the last call was decided
        self.transfer: Transfer | None = None  # an agent transfer in progress (transfer.py)
        self._transfers = 0  # how many were started: a poll answered across one is stale
        self._dialing: asyncio.Future[Response] | None = None  # ATD awaiting its result
        self.clcc_ok: bool | None = None  # AT+CLCC answered during a call (None: not yet asked)
        # Why a dial must not be placed now though no call is ours yet (a call ringing in,
        # incoming.py): the module would refuse ATD, or hold the caller. None: free.
        self.blocked: Callable[[], str | None] = lambda: None

    @property
    def _now(self) -> Callable[[], float]:
        return asyncio.get_running_loop().time

    # ------------------------------------------------------------------ dialling
    async def dial(self, number: str, ring_timeout: float) -> CallResult:
        self._check_free()
        call = VoiceCall(number, ring_timeout, self._now)
        if not _DIAL_STRING.match(number):
            call.evidence.append(f"invalid dial string {number!r}")
            call.t_end = call.now()
            return call.result(Outcome.WRONG_NUMBER, ended=True)
        if self._ended_at is not None and call.now() - self._ended_at < SETTLE:
            with contextlib.suppress(AtTimeout, LinkDown):  # ATD below meets a lost link
                await self._host.session.run(
                    Command("AT", timeout=self._host.timeouts.command), urgent=True
                )
            self._check_free()  # a call may have rung in meanwhile
        self.call = self.last = call
        text = f"ATD{number};"
        call.evidence.append(text)
        timeouts = self._host.timeouts
        # ATD's own timeout is only a backstop: the call's deadlines decide (_await_atd).
        backstop = timeouts.setup + call.ring_timeout + 2 * timeouts.command
        command = Command(text, timeout=backstop, call_progress=True, prefixes=("+COLP:",))
        self._dialing = dialing = asyncio.ensure_future(
            self._host.session.run(command, urgent=True)
        )
        try:
            response = await self._await_atd(call, dialing)
        except AtTimeout as exc:
            call.evidence.append(f"no answer to ATD ({exc})")
            call.forced, call.end_reason = Outcome.ERROR_OCCURRED, "modem did not answer ATD"
            await self._send_hang_up(call)
            return await self._finish(call)
        except LinkDown as exc:
            self.line_down(str(exc))
            return await self._finish(call)
        finally:
            self._dialing = None
        if response is None:  # aborted at the ring timeout: classified already
            await self._send_hang_up(call)
            return await self._finish(call)
        call.evidence.extend(response.lines)
        if response.final.kind is not FinalKind.CONNECT:
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
        elif self._host.has_quirk("atd-held") or call.t_alert is not None:
            # The OK ended a dial the module held: the callee answered (Wavecom, +COLP=1) or,
            # on ZTE sticks, rejected the call. +CLCC says which.
            await self._verify_held_ok(call)
            if call.released:
                return await self._finish(call)
        if self._host.profile.call_tracking in URC_TRACKING:
            self._poller = asyncio.create_task(self._watch(call))
        else:
            self._poller = asyncio.create_task(self._poll(call))
        return await self._await_decision(call)

    def _check_free(self) -> None:
        if self.call is not None:
            with_whom = "from" if self.call.incoming else "to"
            raise LineBusy(
                f"{self._host.name}: a call {with_whom} {self.call.number or 'a withheld number'} "
                "is in progress"
            )
        why = self.blocked()
        if why is not None:
            raise LineBusy(f"{self._host.name}: {why}")

    def adopt(self, call: VoiceCall) -> CallResult:
        """A call that rang in, just answered (incoming.py), becomes the current call and is
        followed as an answered outgoing one is: its indications, and +CLCC polled (at
        ``poll_interval`` where polling is how calls are followed, else as the safety net
        for a lost release indication)."""
        self.call = self.last = call
        tracking = self._host.profile.call_tracking
        urcs = tracking in URC_TRACKING and not self._host.has_quirk("call-urcs-silent")
        interval = self._host.timeouts.command if urcs else None
        self._poller = asyncio.create_task(self._poll(call, interval))
        return call.result(Outcome.CONNECTED, ended=False)

    async def _await_atd(
        self, call: VoiceCall, dialing: asyncio.Future[Response]
    ) -> Response | None:
        """ATD's response, awaited within the call's deadlines. When they pass with the result
        still withheld, the dial is aborted with one character (V.250 6.3.1): the modem's
        answer to that proves it alive and the call unanswered (AlertingTimeout; None is
        returned), no answer means the modem is gone (AtTimeout)."""
        timeouts = self._host.timeouts
        # A family that reports call progress by indications answers ATD at once (unless known
        # to hold it): its ATD unanswered for Timeouts.dial with no indication at all is a
        # modem gone, as before #20 (held under +COLP=1, its indications still come).
        prompt = self._host.profile.call_tracking in URC_TRACKING and not self._host.has_quirk(
            "atd-held"
        )
        gone = False
        while not dialing.done():
            gone = False
            if call.released:  # an indication said so (+WIND: 6): the final result follows
                deadline, why = (call.t_end or call.now()) + timeouts.command, ""
            elif call.answered:
                deadline, why = call.t_dial + dialing_backstop(timeouts, call), ""
            elif call.t_alert is not None:
                deadline, why = call.t_alert + call.ring_timeout, "ring timeout"
            else:
                deadline = call.t_dial + timeouts.presumed_setup + call.ring_timeout
                why = "ring timeout (no call progress from the module; counted from ATD)"
                if prompt and not call.indicated and call.t_dial + timeouts.dial < deadline:
                    deadline, gone = call.t_dial + timeouts.dial, True
            left = deadline - call.now()
            if left <= 0:
                break
            call.changed.clear()
            waiter: asyncio.Future[object] = asyncio.ensure_future(call.changed.wait())
            both: list[asyncio.Future[object]] = [dialing, waiter]  # type: ignore[list-item]
            await asyncio.wait(both, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        else:
            return dialing.result()
        session = self._host.session
        with contextlib.suppress(LinkDown):
            session.write_raw(b"\r")  # V.250 6.3.1: any character aborts a dial in progress
        call.evidence.append("ATD aborted: ATD's result withheld past the call's deadline")
        try:
            response = await asyncio.wait_for(asyncio.shield(dialing), timeouts.command)
        except TimeoutError:
            session.give_up("no answer to the dial's abort")
            return await dialing  # raises AtTimeout
        call.evidence.append(f"{response.final.text} (the dial's abort answered)")
        if response.final.kind is FinalKind.CONNECT:  # answered as we aborted: it stands
            call.on_event(CallEvent(CallState.ACTIVE, response.final.text))
            return response
        if not why:  # released or answered meanwhile: the evidence decides
            return response
        if gone:
            call.forced, call.end_reason = Outcome.ERROR_OCCURRED, "modem did not answer ATD"
            call.evidence.append(f"no result to ATD within {timeouts.dial:g} s")
            return None
        self._host.learn("atd-held", "ATD's result withheld while the call was set up")
        if response.final.kind is FinalKind.OK and not call.answered:
            await self._verify_held_ok(call)  # OK: answered just now, or the abort's answer
            if call.answered:
                return response
        call.forced, call.end_reason = Outcome.ALERTING_TIMEOUT, why
        call.evidence.append(why)
        return None

    async def _verify_held_ok(self, call: VoiceCall) -> None:
        """ATD's OK after the module held it: +CLCC lists the call active (answered), or no
        call (released: ZTE's reject); without +CLCC the OK means answered (Wavecom, COLP)."""
        rows = await self._clcc_rows(call)
        if rows is None:
            call.on_event(CallEvent(CallState.ACTIVE, "OK (held dial answered)"))
        elif rows:
            value, row = rows[0]
            state = CLCC_STATES.get(row.stat)
            if state is not None:
                call.seen = True
                call.on_event(CallEvent(state, f"+CLCC: {value}"))
        else:
            call.on_event(CallEvent(CallState.RELEASED, "+CLCC: (no call)"))

    async def _clcc_rows(self, call: VoiceCall) -> list[tuple[str, ClccRow]] | None:
        """This call's +CLCC rows; None when +CLCC is not answered (unsupported, or no time)."""
        try:
            response = await self._host.session.check(
                Command("AT+CLCC", timeout=self._host.timeouts.command)
            )
        except (AtTimeout, AtError) as exc:
            log.debug("%s: +CLCC failed: %s", self._host.name, exc)
            if isinstance(exc, AtError):
                self.clcc_ok = False
            return None
        self.clcc_ok = True
        return [
            (value, row)
            for value in response.values("+CLCC:")
            if (row := parse_clcc(value)) is not None and row.outgoing is not call.incoming
            if call.call_id is None or row.call_id == call.call_id
        ]

    def _urc_grace(self) -> float:
        """How long after ATD's OK the profile's first call-state indication must come."""
        return max(self._host.poll_interval, self._host.timeouts.probe)

    async def _watch(self, call: VoiceCall) -> None:
        """URC profiles: the indications must show within the grace (+CLCC is polled until
        they do, so nothing is missed meanwhile), else +CLCC is polled from then on and the
        module remembered as silent; once the call is answered, a slow +CLCC poll is the
        safety net for a lost release indication."""
        silent = self._host.has_quirk("call-urcs-silent")
        if not silent and not call.indicated:
            until = call.now() + self._urc_grace()
            await self._poll(call, until=lambda: call.indicated or call.now() >= until)
            if call.released:
                return
            silent = not call.indicated
            if silent:
                tracking = self._host.profile.call_tracking.value
                self._host.learn(
                    "call-urcs-silent",
                    f"no {tracking} indication within {self._urc_grace():g} s of ATD's OK",
                )
        if silent:
            await self._poll(call)
            return
        await call.settled.wait()
        if call.released:
            return
        # A release URC lost (the modem went quiet for a moment, a noisy line) would otherwise
        # hold the call until it is hung up.
        await self._poll(call, self._host.timeouts.command)

    async def _await_decision(self, call: VoiceCall) -> CallResult:
        while True:
            if call.state is CallState.RELEASED:
                return await self._finish(call)
            if call.state is CallState.ACTIVE:
                if self._poller is None or self._poller.done():
                    # A safety net for URC profiles: a release URC lost (the modem went quiet for
                    # a moment, a noisy line) would otherwise hold the call until it is hung up.
                    self._poller = asyncio.create_task(
                        self._poll(call, self._host.timeouts.command)
                    )
                return call.result(Outcome.CONNECTED, ended=False)
            timeouts = self._host.timeouts
            if call.t_alert is not None:
                deadline = call.t_alert + call.ring_timeout
            elif call.blind:  # nothing will say it rings: the ring timeout runs from ATD
                deadline = call.t_dial + timeouts.presumed_setup + call.ring_timeout
            else:
                deadline = call.t_dial + timeouts.setup
            remaining = deadline - call.now()
            if remaining <= 0:
                if call.t_alert is not None:
                    call.forced, call.end_reason = Outcome.ALERTING_TIMEOUT, "ring timeout"
                elif call.blind:
                    call.forced = Outcome.ALERTING_TIMEOUT
                    call.end_reason = "ring timeout (no call progress from the module)"
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

    async def _poll(
        self,
        call: VoiceCall,
        interval: float | None = None,
        until: Callable[[], bool] | None = None,
    ) -> None:
        """Generic call progress: ask +CLCC (27.007 7.18) until the call is released. While an
        agent transfer runs it owns the call's indications: no polls, and a list asked for
        across one is not believed. A module that refuses +CLCC and sends no indication is
        blind: its final result codes and the ring timeout decide (_await_decision)."""
        empty = refused = 0
        while not call.released and not (until is not None and until()):
            generation = self._transfers
            rows = None
            if self.transfer is None:
                try:
                    rows = await self._clcc_rows(call)
                except LinkDown:
                    return
                if rows is None and self.clcc_ok is False:
                    refused += 1
                    if refused >= 2 and not call.indicated:
                        call.blind = True  # asking again will not help
                        call.evidence.append("+CLCC refused: following final result codes")
                        call.changed.set()
                        return
            if rows is not None and self.transfer is None and generation == self._transfers:
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
                            call.end_reason = call.end_reason or "far end hung up"
                            await self._finish(call)
                        return
            if call.released:
                return
            call.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.changed.wait(), interval or self._host.poll_interval)

    # ------------------------------------------------------------------ ending
    async def _finish(self, call: VoiceCall) -> CallResult:
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

    async def _query_cause(self, call: VoiceCall) -> None:
        try:
            response = await self._host.session.check(
                Command("AT+CEER", timeout=self._host.timeouts.command)
            )
        except (AtTimeout, AtError, LinkDown):
            return
        for value in response.values("+CEER:"):
            call.evidence.append(f"+CEER: {value}")
            call.cause = cause_from_ceer(value)

    async def _send_hang_up(self, call: VoiceCall) -> None:
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
        dialing = self._dialing
        if dialing is not None and not dialing.done():
            with contextlib.suppress(LinkDown):  # ATD still waits: one character aborts it
                self._host.session.write_raw(b"\r")
            with contextlib.suppress(AtTimeout, LinkDown, TimeoutError):
                await asyncio.wait_for(asyncio.shield(dialing), self._host.timeouts.command)
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
        if event.mt and not call.incoming:
            return True  # a call ringing in (waiting) beside ours: not this call's progress
        if self.transfer is not None:
            self.transfer.on_event(event)  # the agent's call is one we place, whoever rang
            return True
        if event.mt is False and call.incoming:
            return True  # a row of a call we placed: not the caller's
        if event.call_id is not None and call.call_id not in (None, event.call_id):
            return True  # the agent's call, lingering after a transfer that failed
        was_answered = call.answered
        if event.raw.upper() not in _FINAL_WORDS:
            call.indicated = True
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


def dialing_backstop(timeouts: Timeouts, call: VoiceCall) -> float:
    """The longest ATD may take for a call already answered by an indication (its final
    result normally follows at once)."""
    return timeouts.setup + call.ring_timeout + timeouts.command
