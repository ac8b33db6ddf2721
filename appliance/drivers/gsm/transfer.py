"""Agent seats reached by phone: hold the customer, call the agent, join the two by ECT (SPEC A1).

With the customer's call answered and up, ``AT+CHLD=2`` puts it on hold, ``ATD<agent>;`` calls
the agent's phone, and once the agent answers ``AT+CHLD=4`` (explicit call transfer, TS 22.091;
27.007 7.13) joins the two calls; the network then clears both towards the module (TS 24.091),
so the customer's call ends for us with AgentTransfer (SPEC C11, 11). The agent's call takes
the lowest free index (27.007 7.18), learnt from the modem rather than assumed. Its progress
comes from the profile's indications, routed by the call id they carry (``+CLCC``, ``^DSCI``,
``^ORIG/^CONF/^CONN/^CEND``), and from ``+CLCC`` whenever an indication names no call
(``NO CARRIER``, SIMCom ``VOICE CALL: END``): with two calls up, only the list says which one
ended (research/modems.md 1.2: "+CLCC as the authoritative snapshot after any call URC").

Everything runs within the caller's budget (SPEC A4/C13: 2 s to an agent or a message). When
the agent does not answer in time, is busy, or the network refuses the transfer (``+CME ERROR:
3``), the agent's call is released (``AT+CHLD=1x``), the customer retrieved (``AT+CHLD=2``) and
``LineError`` says why; the customer's call is then active again, for the information message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import NoReturn

from appliance.drivers.at.codes import FinalKind
from appliance.drivers.at.session import AtError, AtTimeout, Command, LinkDown, Response
from appliance.drivers.gsm.calls import (
    CLCC_STATES,
    CallEvent,
    CallState,
    ClccRow,
    cause_from_ceer,
    parse_clcc,
)
from appliance.drivers.gsm.profiles import CallTracking
from appliance.drivers.gsm.voicecall import VoiceCall, VoiceHost
from appliance.drivers.line import CallResult, LineError, LineUnavailable
from appliance.drivers.outcome import Outcome

log = logging.getLogger(__name__)

_RANGE = re.compile(r"(\d)\s*-\s*(\d)")


def parse_chld(value: str) -> frozenset[str]:
    """``(0,1,1x,2,2x,3,4)`` (or ``(0-4)``) -> the operations a module offers for ``+CHLD``."""
    ops: set[str] = set()
    for part in value.strip().strip("()").split(","):
        part = part.strip().strip('"').lower()
        m = _RANGE.fullmatch(part)
        if m:
            ops.update(str(i) for i in range(int(m.group(1)), int(m.group(2)) + 1))
        elif part:
            ops.add(part)
    return frozenset(ops)


class _Leg:
    """The agent's call, as far as the modem tells about it."""

    def __init__(self, number: str, now: Callable[[], float]) -> None:
        self.number = number
        self.now = now
        self.t_dial = now()
        self.t_answer: float | None = None
        self.state = CallState.DIALING
        self.call_id: int | None = None
        self.seen = False  # listed by +CLCC at least once
        self.absent = 0  # +CLCC answers without it
        self.final: str | None = None  # the indication that ended it
        self.cause: int | None = None

    def on_event(self, event: CallEvent) -> None:
        if self.state is CallState.RELEASED:
            if event.state is CallState.RELEASED and event.cause is not None:
                self.cause = event.cause  # BUSY after +CLCC stat 6: keep the reason
            return
        log.debug("agent call to %s: %s", self.number, event.raw)
        if event.cause is not None:
            self.cause = event.cause
        if event.state is CallState.ACTIVE and self.t_answer is None:
            self.t_answer = self.now()
        if event.state is CallState.RELEASED:
            self.final = event.raw
        if event.state is not CallState.INCOMING:
            self.state = event.state


class Transfer:
    """One attempt to hand the customer's call to an agent's phone."""

    def __init__(
        self,
        host: VoiceHost,
        call: VoiceCall,
        number: str,
        timeout: float,
        finish: Callable[[], Awaitable[CallResult]],
    ) -> None:
        self._host = host
        self.call = call
        self.number = number
        self.timeout = timeout
        self._finish = finish
        self._loop = asyncio.get_running_loop()
        self.deadline = self._loop.time() + timeout
        self.changed = asyncio.Event()
        self.customer_id: int | None = None
        self.customer_gone = False
        self.recheck = False  # an indication named no call: ask +CLCC which one it was
        self.leg: _Leg | None = None
        self.joined = False  # AT+CHLD=4 answered OK

    @property
    def _name(self) -> str:
        return self._host.name

    def _left(self) -> float:
        return self.deadline - self._loop.time()

    # ------------------------------------------------------------------ indications
    def on_event(self, event: CallEvent) -> None:
        """Every call indication while the transfer runs comes here, not to the customer's call:
        the agent's call is a second call whose indications must not end the first."""
        self.changed.set()
        cid, leg = event.call_id, self.leg
        if cid is not None and cid == self.customer_id:
            if event.state is CallState.RELEASED and not self.joined:
                self.customer_gone = True
                self.call.evidence.append(event.raw)
            return
        if leg is None or self.joined:
            self.recheck = True
            return
        if cid is not None:
            if leg.call_id is None and self.customer_id is not None:
                leg.call_id = cid
            if cid == leg.call_id:
                leg.on_event(event)
            return
        if event.raw.upper() in ("BUSY", "NO ANSWER") or event.state in (
            CallState.ALERTING,
            CallState.ACTIVE,
        ):
            # Final codes of the agent's ATD, MO RING/MO CONNECTED, VOICE CALL: BEGIN: only
            # the call being set up can ring, be answered or be found busy.
            leg.on_event(event)
        else:
            self.recheck = True

    # ------------------------------------------------------------------ the procedure
    async def run(self) -> None:
        try:
            await self._run()
        except LinkDown as exc:
            raise LineUnavailable(
                f"{self._name}: line lost while calling the agent: {exc}"
            ) from exc

    async def _run(self) -> None:
        call, number = self.call, self.number
        rows = await self._clcc(self._host.timeouts.command)
        customer = next((r for r in rows or () if r.stat in (0, 1)), None)
        if customer is None:
            if rows is not None:
                await self._customer_ended()
            raise LineError(f"{self._name}: no customer call is up to connect to {number}")
        self.customer_id = call.call_id = customer.call_id
        response = await self._run_cmd("AT+CHLD=2", min(self._host.timeouts.command, self._left()))
        if response is None or not response.ok:
            await self._restore(f"could not put the customer on hold: {_said(response)}")
        call.evidence.append("AT+CHLD=2: OK (customer held)")
        leg = self.leg = _Leg(number, self._loop.time)
        call.evidence.append(f"ATD{number}; (agent)")
        response = await self._run_cmd(
            Command(
                f"ATD{number};",
                timeout=max(0.0, min(self._host.timeouts.dial, self._left())),
                call_progress=True,
                prefixes=("+COLP:",),
            )
        )
        if response is None:
            await self._restore(self._too_late() if self._left() <= 0 else "no answer to ATD")
        elif response.final.kind is FinalKind.CONNECT:
            leg.on_event(CallEvent(CallState.ACTIVE, response.final.text))
        elif not response.ok:
            leg.on_event(CallEvent(CallState.RELEASED, response.final.text))
        await self._follow()
        assert leg.t_answer is not None
        call.evidence.append(f"agent {number} answered after {leg.t_answer - leg.t_dial:.1f} s")
        response = await self._run_cmd("AT+CHLD=4", self._host.timeouts.command)
        if response is None or not response.ok:
            await self._restore(f"network refused the transfer: {_said(response)}")
        self.joined = True
        call.evidence.append("AT+CHLD=4: OK (ECT done)")
        call.forced, call.end_reason = Outcome.AGENT_TRANSFER, f"transferred to agent {number}"
        await self._wait_left()
        await self._finish()

    async def _follow(self) -> None:
        """Until the agent answers; a failure, the customer hanging up or the budget spent
        restore the customer and raise."""
        leg = self.leg
        assert leg is not None
        polled = self._host.profile.call_tracking is CallTracking.CLCC_POLL
        interval = self._host.poll_interval if polled else self._host.timeouts.command
        next_poll = self._loop.time()
        while True:
            if self.customer_gone:
                await self._restore(f"the customer hung up while agent {self.number} was called")
            if leg.state is CallState.ACTIVE:
                return
            if leg.state is CallState.RELEASED:
                await self._restore(await self._leg_failure(leg))
            left = self._left()
            if left <= 0:
                await self._restore(self._too_late())
            if self.recheck or self._loop.time() >= next_poll:
                self.recheck = False
                self._apply(await self._clcc(min(self._host.timeouts.command, left)))
                next_poll = self._loop.time() + interval
                continue
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                wait = min(left, next_poll - self._loop.time())
                await asyncio.wait_for(self.changed.wait(), max(0.0, wait))

    def _apply(self, rows: list[ClccRow] | None) -> None:
        """What a +CLCC list says about the customer's call and the agent's."""
        leg = self.leg
        if rows is None or leg is None:
            return
        if not any(r.call_id == self.customer_id for r in rows):
            self.customer_gone = True
            self.call.evidence.append("+CLCC: (customer call gone)")
        if leg.call_id is None:
            leg.call_id = next(
                (r.call_id for r in rows if r.outgoing and r.call_id != self.customer_id), None
            )
        row = next((r for r in rows if r.call_id == leg.call_id), None)
        if row is not None:
            leg.seen = True
            state = CLCC_STATES.get(row.stat)
            if state is not None and state is not leg.state:
                leg.on_event(CallEvent(state, f"+CLCC: {row.call_id},stat {row.stat}"))
            return
        leg.absent += 1
        if leg.seen or leg.absent >= 2:
            leg.on_event(CallEvent(CallState.RELEASED, "+CLCC: (agent call gone)"))

    async def _leg_failure(self, leg: _Leg) -> str:
        if leg.cause is None:  # the cause may follow the release (BUSY), or only +CEER has it
            with contextlib.suppress(AtTimeout, AtError):
                response = await self._host.session.check(
                    Command("AT+CEER", timeout=self._host.timeouts.command), urgent=True
                )
                for value in response.values("+CEER:"):
                    leg.cause = leg.cause if leg.cause is not None else cause_from_ceer(value)
        said = leg.final or "released"
        if leg.cause == 17:
            return f"agent {self.number} is busy ({said})"
        if leg.cause == 21:
            return f"agent {self.number} rejected the call ({said})"
        cause = "" if leg.cause is None else f", cause {leg.cause}"
        return f"agent {self.number} did not take the call ({said}{cause})"

    def _too_late(self) -> str:
        return f"agent {self.number} did not answer within {self.timeout:.1f} s"

    # ------------------------------------------------------------------ endings
    async def _restore(self, reason: str) -> NoReturn:
        """Release the agent's call, retrieve the customer, raise ``LineError(reason)``."""
        call = self.call
        call.evidence.append(reason)
        log.info("%s: agent transfer to %s failed: %s", self._name, self.number, reason)
        timeouts = self._host.timeouts
        limit = self._loop.time() + timeouts.hang_up
        rows = await self._clcc(timeouts.command)
        released: set[int] = set()
        while rows is not None:
            others = [r for r in rows if r.call_id != self.customer_id]
            if not others or self._loop.time() >= limit:
                break
            for row in others:
                if row.call_id in released:
                    continue
                released.add(row.call_id)
                for text in (f"AT+CHLD=1{row.call_id}", "AT+CHLD=1"):
                    response = await self._run_cmd(text, timeouts.hang_up)
                    call.evidence.append(f"{text}: {_said(response)} (agent call released)")
                    if response is not None and response.ok:
                        break
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), self._host.poll_interval)
            rows = await self._clcc(timeouts.command)
        customer = next((r for r in rows or () if r.call_id == self.customer_id), None)
        if rows is not None and customer is None:
            await self._customer_ended()
            raise LineError(f"{self._name}: {reason}; the customer's call has ended")
        if customer is not None and customer.stat == 1:
            response = await self._run_cmd("AT+CHLD=2", timeouts.command)
            call.evidence.append(f"AT+CHLD=2: {_said(response)} (customer retrieved)")
            if response is None or not response.ok:
                raise LineError(
                    f"{self._name}: {reason}; the customer stays on hold ({_said(response)})"
                )
        raise LineError(f"{self._name}: {reason}")

    async def _wait_left(self) -> None:
        """After ECT the modem is part of neither call: wait until +CLCC lists neither."""
        leg = self.leg
        ours = {self.customer_id, leg.call_id if leg is not None else None}
        limit = self._loop.time() + self._host.timeouts.hang_up
        while True:
            rows = await self._clcc(self._host.timeouts.command)
            if rows is not None and not any(r.call_id in ours for r in rows):
                self.call.evidence.append("+CLCC: (no call) the modem left both calls")
                return
            if self._loop.time() >= limit:
                break
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), self._host.poll_interval)
        text = self._host.profile.hang_up
        response = await self._run_cmd(text, self._host.timeouts.hang_up)
        self.call.evidence.append(f"calls still listed after ECT; {text}: {_said(response)}")

    async def _customer_ended(self) -> None:
        call = self.call
        call.end_reason = call.end_reason or "far end hung up"
        call.on_event(CallEvent(CallState.RELEASED, "customer call gone"))
        await self._finish()

    # ------------------------------------------------------------------ AT
    async def _run_cmd(self, command: Command | str, timeout: float = 0.0) -> Response | None:
        """The response, or None when the modem did not answer in time (LinkDown propagates)."""
        cmd = command if isinstance(command, Command) else Command(command, timeout=timeout)
        try:
            return await self._host.session.run(cmd, urgent=True)
        except AtTimeout as exc:
            self.call.evidence.append(f"{cmd.text}: {exc}")
            return None

    async def _clcc(self, timeout: float) -> list[ClccRow] | None:
        try:
            response = await self._host.session.check(
                Command("AT+CLCC", timeout=max(timeout, 0.05)), urgent=True
            )
        except (AtTimeout, AtError) as exc:
            log.debug("%s: +CLCC failed: %s", self._name, exc)
            return None
        return [r for r in map(parse_clcc, response.values("+CLCC:")) if r is not None]


def _said(response: Response | None) -> str:
    return "no answer" if response is None else response.final.text
