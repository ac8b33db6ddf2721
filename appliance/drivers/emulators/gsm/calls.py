"""Voice calls of the emulated module: ATD with scripted outcomes, call URCs per dialect.

A call's life follows its plan (script.CallPlan): setup, then alerting, then answer, busy,
reject or ringing until the network's no-answer timer; unreachable, invalid and congested
numbers are released during setup. Each change is announced the way the family does it:
``+CLCC`` URCs and ``VOICE CALL:`` (SIMCom), ``^DSCI`` (Quectel), ``^ORIG/^CONF/^CONN/^CEND``
(Huawei), nothing but the final code for a generic module (clients poll ``+CLCC``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.drivers.emulators.gsm.device import (
    CmdError,
    EmulatedModem,
    Op,
    ResultLater,
    handles,
    split_args,
)
from appliance.drivers.emulators.gsm.script import OUTCOMES, CallPlan

NETWORK_NO_ANSWER = 60.0  # the network's own alerting timer (seconds, scaled)

CLCC_STAT = {"dialing": 2, "alerting": 3, "active": 0, "released": 6, "incoming": 4}
DSCI_STAT = {"dialing": 2, "alerting": 7, "active": 3, "released": 6, "incoming": 4}

CAUSE_TEXT = {
    1: "Unassigned (unallocated) number",
    16: "Normal call clearing",
    17: "User busy",
    19: "No answer",
    20: "Subscriber absent",
    21: "Call rejected",
    34: "No circuit/channel available",
}


@dataclass(slots=True)
class SimCall:
    number: str
    plan: CallPlan
    outgoing: bool = True
    state: str = "dialing"
    answered_at: float | None = None
    deferred: bool = False  # ATD's result is held until answer (+COLP=1)
    timers: list[asyncio.TimerHandle] = field(default_factory=list)


class CallSim:
    def __init__(self, modem: EmulatedModem) -> None:
        self.m = modem
        self.call: SimCall | None = None
        self.last_cause = 16
        self.transitions: list[tuple[float, str]] = []  # (loop time, state): for benchmarks

    def _later(self, call: SimCall, delay: float, fn: Callable[[], None]) -> None:
        call.timers.append(self.m.later(delay, fn))

    def drop(self) -> None:
        """The module went away (reboot, unplug): the call is gone without a word."""
        if self.call is not None:
            for timer in self.call.timers:
                timer.cancel()
        self.call = None

    # ------------------------------------------------------------------ progress
    def dial(self, number: str) -> None:
        m = self.m
        m.sim_check()
        if m.reg_stat not in (1, 5):
            raise CmdError(cme=30)  # no network service
        if self.call is not None:
            raise CmdError(cme=3)
        plan = m.script.plan_for(number, m.rng)
        if plan.outcome == "no-network":
            raise CmdError(cme=30)
        call = SimCall(number, plan)
        self.call = call
        cause, alerts = OUTCOMES[plan.outcome]
        self._later(call, 0.0, lambda: self._announce(call))
        if alerts:
            self._later(call, plan.setup, lambda: self._alerting(call))
        else:
            self._later(call, plan.setup, lambda: self.release(call, cause))
        if m.settings.colp:
            call.deferred = True  # SIM800 manual: with COLP=1 the result waits for the answer
            raise ResultLater

    def _announce(self, call: SimCall) -> None:
        m = self.m
        if m.dialect.name == "huawei":
            m.urc("^ORIG:1,0")
        self._state_urcs(call)

    def _alerting(self, call: SimCall) -> None:
        call.state = "alerting"
        if self.m.dialect.name == "huawei":
            self.m.urc("^CONF:1")
        if self.m.settings.moring:
            self.m.urc("MO RING")
        self._state_urcs(call)
        plan = call.plan
        if plan.outcome == "answer":
            self._later(call, plan.ring, lambda: self._active(call))
        elif plan.outcome == "busy":
            self._later(call, min(plan.ring, 1.0), lambda: self.release(call, 17))
        elif plan.outcome == "reject":
            self._later(call, plan.ring, lambda: self.release(call, 21))
        else:
            self._later(call, NETWORK_NO_ANSWER, lambda: self.release(call, 19))

    def _active(self, call: SimCall) -> None:
        m = self.m
        call.state = "active"
        self.transitions.append((m.now, "active"))
        call.answered_at = m.now
        if call.deferred:
            call.deferred = False
            if m.settings.colp:
                m.info(f'+COLP: "{call.number}",{_toa(call.number)}')
            m.result("OK")
        if m.dialect.name == "huawei":
            m.urc("^CONN:1,0")
        if m.settings.moring:
            m.urc("MO CONNECTED")
        if m.dialect.name == "simcom":
            m.urc("VOICE CALL: BEGIN")
        self._state_urcs(call)
        for i, digit in enumerate(call.plan.dtmf):
            self._later(call, 0.3 * (i + 1), functools.partial(self._dtmf, digit))
        self._later(call, call.plan.talk, lambda: self.release(call, 16))

    def _dtmf(self, digit: str) -> None:
        m = self.m
        if m.dialect.name == "simcom" and m.settings.ddet:
            m.urc(f"+RXDTMF: {digit}")
        elif m.dialect.name == "quectel" and m.settings.qtonedet:
            m.urc(f"+QTONEDET: {ord(digit)}")
        elif m.dialect.name == "huawei":
            m.urc(f"^DDTMF: {digit}")

    def release(self, call: SimCall, cause: int, local: bool = False) -> None:
        """End the call; ``local`` when we hung up (no final code, as on real modules)."""
        m = self.m
        if self.call is not call:
            return
        for timer in call.timers:
            timer.cancel()
        self.call = None
        self.last_cause = cause
        self.transitions.append((m.now, "released"))
        seconds = int(m.now - call.answered_at) if call.answered_at is not None else 0
        call.state = "released"
        self._state_urcs(call)
        if m.dialect.name == "huawei":
            # ^CEND:<id>,<duration>,<end_status>[,<cc_cause>]: cause only when the network ended
            m.urc(f"^CEND:1,{seconds},29" if local else f"^CEND:1,{seconds},104,{cause}")
        if m.dialect.name == "simcom" and call.answered_at is not None:
            m.urc(f"VOICE CALL: END: {seconds:06d}")
        if local:
            return
        final = {17: "BUSY", 19: "NO ANSWER"}.get(cause, "NO CARRIER")
        if call.deferred:
            m.result(final)
        else:
            m.urc(final) if m.settings.verbose else m.result(final)

    def _state_urcs(self, call: SimCall) -> None:
        m = self.m
        direction = 0 if call.outgoing else 1
        if m.settings.clcc_urc:
            stat = CLCC_STAT[call.state]
            m.urc(f'+CLCC: 1,{direction},{stat},0,0,"{call.number}",{_toa(call.number)}')
        if m.settings.dsci:
            stat = DSCI_STAT[call.state]
            m.urc(f'^DSCI: 1,{direction},{stat},0,"{call.number}",{_toa(call.number)}')

    # ------------------------------------------------------------------ incoming
    def ring(self, number: str) -> None:
        """An incoming call: RING (or +CRING) with +CLIP every 5 s until answered or gone."""
        if self.call is not None:
            return
        call = SimCall(number, CallPlan("answer", talk=30.0), outgoing=False, state="incoming")
        self.call = call
        self._state_urcs(call)

        def ring_once(left: int) -> None:
            if self.call is not call or call.state != "incoming":
                return
            self.m.urc("+CRING: VOICE" if self.m.settings.crc else "RING")
            if self.m.settings.clip:
                self.m.urc(f'+CLIP: "{number}",{_toa(number)},,,,0')
            if left > 1:
                self._later(call, 5.0, lambda: ring_once(left - 1))
            else:
                self.release(call, 19)

        ring_once(6)


def _toa(number: str) -> int:
    return 145 if number.startswith("+") else 129


# ---------------------------------------------------------------------- handlers
@handles("D")
def dial(m: EmulatedModem, op: Op) -> None:
    text = op.args.strip()
    if not text.endswith(";"):
        raise CmdError(cme=4)  # data calls are not emulated (a voice dial ends in ';')
    number = text[:-1].strip()
    if not number or any(c not in "+0123456789*#" for c in number):
        raise CmdError(cme=27)  # invalid characters in dial string
    m.calls.dial(number)


@handles("H", "+CHUP")
def hang_up(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        return
    if m.calls.call is not None:
        m.calls.release(m.calls.call, 16, local=True)


@handles("A")
def answer(m: EmulatedModem, op: Op) -> None:
    call = m.calls.call
    if call is None or call.state != "incoming":
        raise CmdError()  # real modules answer NO CARRIER/ERROR here
    for timer in call.timers:
        timer.cancel()
    call.timers.clear()
    m.calls._active(call)


@handles("+CLCC")
def clcc(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info("+CLCC: (0-1)")
        return
    if op.kind == "read":
        m.info(f"+CLCC: {int(m.settings.clcc_urc)}")
        return
    if op.kind == "set":
        if not m.dialect.clcc_urc:
            raise CmdError(cme=4)
        m.settings.clcc_urc = op.int_arg(0, 0) == 1
        return
    call = m.calls.call
    if call is not None:
        direction = 0 if call.outgoing else 1
        m.info(
            f'+CLCC: 1,{direction},{CLCC_STAT[call.state]},0,0,"{call.number}",{_toa(call.number)}'
        )


@handles("+VTS", "^DTMF")
def send_dtmf(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info(f"{op.name}: (0-9,#,*,A-D)")
        return
    if m.calls.call is None or m.calls.call.state != "active":
        raise CmdError(cme=3)


@handles("+CEER")
def ceer(m: EmulatedModem, op: Op) -> None:
    cause = m.calls.last_cause
    text = CAUSE_TEXT.get(cause, "Normal, unspecified")
    if m.dialect.name == "quectel":
        m.info(f'+CEER: "CC CAUSE",{cause},"{text}"')
    else:
        m.info(f"+CEER: {text}")


@handles("+QPSND", "+CCMXPLAY")
def playback(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        return
    args = split_args(op.args)
    if m.calls.call is None or m.calls.call.state != "active":
        raise CmdError(cme=903 if op.name == "+QPSND" else 3)
    if not args or not args[0]:
        raise CmdError(cme=50)
    done = "+QPSND: 0" if op.name == "+QPSND" else "+AUDIOSTATE: audio play stop"
    m.later(1.0, lambda: m.urc(done))
