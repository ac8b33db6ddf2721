"""Voice calls of the emulated module: ATD with scripted outcomes, call URCs per dialect.

A call's life follows its plan (script.CallPlan): setup, then alerting, then answer, busy,
reject or ringing until the network's no-answer timer; unreachable, invalid and congested
numbers are released during setup. Each change is announced the way the family does it:
``+CLCC`` URCs and ``VOICE CALL:`` (SIMCom), ``^DSCI`` (Quectel), ``^ORIG/^CONF/^CONN/^CEND``
(Huawei), ``+WIND: 5/2/6`` (Wavecom), ``+UCALLSTAT`` (u-blox), ``CONNECT``/``HANGUP:`` (ZTE),
nothing but the final code for a generic module (clients poll ``+CLCC``). Modules that withhold
ATD's final result until the call is answered or fails (Wavecom, old ZTE sticks, any module
under ``+COLP=1``) abort the dial on any character from the host (V.250 6.3.1): ``NO CARRIER``.

Several calls may exist at once (one held while another is placed, ``hold.py``); each has the
lowest free index from 1 (27.007 7.18 ``<id>``), which every indication that carries one uses.

A call ringing in (``ring_in``, a caller's plan from ``callers.py``) rings every 5 s:
``RING`` (``+CRING: VOICE`` under ``AT+CRC=1``) then, under ``AT+CLIP=1``, the caller ID in the
dialect's form (a withheld number: ``+CLIP`` with an empty number and CLI validity 1, or no
``+CLIP`` at all on Wavecom and ZTE), and a direction-1 row (``+CLCC``, ``^DSCI``,
``+UCALLSTAT``: stat 4). ``ATA`` answers it (``OK``, ZTE ``CONNECT``, then the answer's
indications); the caller's keys follow as the dialect's DTMF URC, and the caller hangs up when
the plan says. A caller giving up while it rings: ``NO CARRIER`` (with the release row), SIMCom
``MISSED_CALL:``, Huawei ``^CEND:<id>,0,104,16``, ZTE nothing (the rings just stop).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.drivers.emulators.gsm.callers import IncomingPlan
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
NETWORK_RING_IN = 30.0  # how long the network lets a call ring in unanswered (scaled)
RING_PERIOD = 5.0  # seconds between RINGs of a call ringing in (scaled)

CLCC_STAT = {"dialing": 2, "alerting": 3, "active": 0, "held": 1, "released": 6, "incoming": 4}
# Qualcomm-based Quectel firmware: 1 held, 2 orig, 3 connect, 4 incoming, 5 waiting, 6 end;
# 7 alerting per research/modems.md 2.4. A retrieved call gets no ^DSCI (no "retrieved" stat).
DSCI_STAT = {"dialing": 2, "alerting": 7, "active": 3, "held": 1, "released": 6, "incoming": 4}
# u-blox +UCALLSTAT: 0 active, 1 held, 2 dialling, 3 alerting, 4 ringing, 6 disconnected.
UCALLSTAT = {"dialing": 2, "alerting": 3, "active": 0, "held": 1, "released": 6, "incoming": 4}
# Wavecom +WIND bits (AT+WIND=<bitmap>).
WIND_ALERT, WIND_CREATED, WIND_RELEASED = 2, 16, 32

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
    index: int = 1
    outgoing: bool = True
    state: str = "dialing"  # dialing | alerting | active | held | incoming | released
    mpty: bool = False  # part of a multiparty call (+CHLD=3)
    answered_at: float | None = None
    deferred: bool = False  # ATD's result is held until answer (+COLP=1, Wavecom, ZTE)
    journal_id: int | None = None  # the call's id in the emulator's journal
    caller: IncomingPlan | None = None  # a call ringing in: what its caller does
    timers: list[asyncio.TimerHandle] = field(default_factory=list)


class CallSim:
    def __init__(self, modem: EmulatedModem) -> None:
        self.m = modem
        self.calls: list[SimCall] = []  # in index order
        self.last_cause = 16
        self.ect = modem.script.ect  # the network allows explicit call transfer (+CHLD=4)
        self.transitions: list[tuple[float, str]] = []  # (loop time, state): for benchmarks

    def later(self, call: SimCall, delay: float, fn: Callable[[], None]) -> None:
        now = asyncio.get_running_loop().time()  # timers gone by are dropped (a call rings on)
        call.timers = [t for t in call.timers if t.when() > now and not t.cancelled()]
        call.timers.append(self.m.later(delay, fn))

    def active(self) -> SimCall | None:
        return next((c for c in self.calls if c.state == "active"), None)

    def by_index(self, index: int) -> SimCall | None:
        return next((c for c in self.calls if c.index == index), None)

    def drop(self, why: str = "gone") -> None:
        """The module went away (reboot, unplug): the calls are gone without a word."""
        for call in self.calls:
            for timer in call.timers:
                timer.cancel()
            self._journal(call, "end", by="module gone", why=why, answered=call.answered_at
                          is not None, seconds=self._seconds(call))  # fmt: skip
        self.calls = []
        self.m.audio.update()

    def _seconds(self, call: SimCall) -> float:
        return round(self.m.now - call.answered_at, 3) if call.answered_at is not None else 0.0

    def _journal(self, call: SimCall, event: str, **fields: object) -> None:
        journal = self.m.journal
        if journal is not None and call.journal_id is not None:
            journal.record(
                event, call=call.journal_id, modem=self.m.name, number=call.number, **fields
            )

    def _add(self, call: SimCall) -> None:
        used = {c.index for c in self.calls}
        call.index = next(i for i in range(1, len(used) + 2) if i not in used)
        self.calls.append(call)
        self.calls.sort(key=lambda c: c.index)

    # ------------------------------------------------------------------ progress
    def dial(self, number: str) -> None:
        """``ATD<number>;``: place the call, recorded in the journal whatever happens."""
        journal = self.m.journal
        if journal is None:
            self._dial(number)
            return
        call_id = journal.next_id()
        try:
            call = self._dial(number, call_id)
        except CmdError as exc:
            refused = f"+CME ERROR: {exc.cme}" if exc.cme is not None else "ERROR"
            journal.record("dial", call=call_id, modem=self.m.name, number=number, refused=refused)
            raise
        except ResultLater:
            self._journal_dial(
                call_id, number, next((c for c in self.calls if c.journal_id == call_id), None)
            )
            raise
        self._journal_dial(call_id, number, call)

    def _journal_dial(self, call_id: int, number: str, call: SimCall | None) -> None:
        assert self.m.journal is not None
        plan = call.plan.outcome if call is not None else None
        self.m.journal.record("dial", call=call_id, modem=self.m.name, number=number, plan=plan)

    def _dial(self, number: str, journal_id: int | None = None) -> SimCall:
        m = self.m
        m.sim_check()
        if m.reg_stat not in (1, 5):
            raise CmdError(cme=30)  # no network service
        states = {c.state for c in self.calls}
        # One call may be placed while the others are on hold; a call being set up or ringing
        # in, or an active call beside a held one, leaves no room: operation not allowed.
        if states - {"active", "held"} or {"active", "held"} <= states:
            raise CmdError(cme=3)
        plan = m.script.plan_for(number, m.rng)
        if plan.outcome == "no-network":
            raise CmdError(cme=30)
        for other in self.calls:  # SIM800 manual: ATD during an active call holds it first
            self.hold(other)
        call = SimCall(number, plan, journal_id=journal_id)
        self._add(call)
        cause, alerts = OUTCOMES[plan.outcome]
        self.later(call, 0.0, lambda: self._announce(call))
        if alerts:
            self.later(call, plan.setup, lambda: self._alerting(call))
        else:
            self.later(call, plan.setup, lambda: self.release(call, cause))
        if m.settings.colp or m.dialect.atd_held:
            call.deferred = True  # SIM800 manual: with COLP=1 the result waits for the answer
            raise ResultLater
        return call

    def abort_dial(self) -> bool:
        """A character from the host while ATD's result is withheld: the dial is abandoned
        (V.250 6.3.1) with NO CARRIER, and the character is discarded. True if it did."""
        call = next((c for c in self.calls if c.deferred), None)
        if call is None:
            return False
        call.deferred = False
        self.m.result("NO CARRIER")
        self.release(call, 16, local=True)
        return True

    def _announce(self, call: SimCall) -> None:
        m = self.m
        if m.dialect.family == "huawei":
            m.urc(f"^ORIG:{call.index},0")
        if m.dialect.family == "wavecom" and m.settings.wind & WIND_CREATED:
            m.urc(f"+WIND: 5,{call.index}")
        self.state_changed(call)

    def _alerting(self, call: SimCall) -> None:
        call.state = "alerting"
        self._journal(call, "alerting")
        if self.m.dialect.family == "huawei":
            self.m.urc(f"^CONF:{call.index}")
        if self.m.settings.moring:
            self.m.urc("MO RING")
        if self.m.dialect.family == "wavecom" and self.m.settings.wind & WIND_ALERT:
            self.m.urc("+WIND: 2")
        self.state_changed(call)
        plan = call.plan
        if plan.outcome == "answer":
            self.later(call, plan.ring, lambda: self.answered(call))
        elif plan.outcome == "busy":
            self.later(call, min(plan.ring, 1.0), lambda: self.release(call, 17))
        elif plan.outcome == "reject":
            self.later(call, plan.ring, lambda: self.release(call, 21))
        else:
            self.later(call, NETWORK_NO_ANSWER, lambda: self.release(call, 19))

    def answered(self, call: SimCall) -> None:
        m = self.m
        call.state = "active"
        self.transitions.append((m.now, "active"))
        call.answered_at = m.now
        self._journal(call, "answer")
        if call.deferred:
            call.deferred = False
            if m.settings.colp:
                m.info(f'+COLP: "{call.number}",{_toa(call.number)}')
            m.result(m.dialect.atd_held or "OK")
        if m.dialect.family == "huawei":
            m.urc(f"^CONN:{call.index},0")
        if m.settings.moring and call.outgoing:
            m.urc("MO CONNECTED")
        if m.dialect.family == "simcom":
            m.urc("VOICE CALL: BEGIN")
        self.state_changed(call)
        if call.caller is not None:
            self._caller_talks(call, call.caller)
            return
        for i, digit in enumerate(call.plan.dtmf):
            self.later(call, 0.3 * (i + 1), functools.partial(self._dtmf, digit))
        self.later(call, call.plan.talk, lambda: self.release(call, 16))

    def _caller_talks(self, call: SimCall, plan: IncomingPlan) -> None:
        """The answered caller's keys at their times (those at one time in one go, so their
        order holds), then the caller's hang-up, if planned."""
        moments: dict[float, list[str]] = {}
        for key, at in plan.keys:
            moments.setdefault(at, []).append(key)
        for at, pressed in moments.items():
            self.later(call, at, functools.partial(self._press, call, pressed))
        if plan.hangup is not None:
            self.later(call, plan.hangup, lambda: self.release(call, 16))

    def _press(self, call: SimCall, keys: list[str]) -> None:
        if call not in self.calls:
            return
        for key in keys:
            self._journal(call, "key", key=key)
            self._dtmf(key)

    def _dtmf(self, digit: str) -> None:
        """The far end pressed a key: the dialect's URC, when detection is on (none on
        generic, Wavecom and ZTE modules: the key is lost, as there)."""
        m = self.m
        if m.dialect.family == "simcom" and m.settings.ddet:
            m.urc(f"+RXDTMF: {digit}")
        elif m.dialect.family == "sim800" and m.settings.ddet:
            m.urc(f"+DTMF: {digit}")
        elif m.dialect.family == "quectel" and m.settings.qtonedet:
            m.urc(f"+QTONEDET: {ord(digit)}")
        elif m.dialect.family == "huawei":
            m.urc(f"^DDTMF: {digit}")
        elif m.dialect.family == "ublox" and m.settings.udtmfd:
            m.urc(f"+UUDTMFD: {digit}")

    def release(self, call: SimCall, cause: int, local: bool = False) -> None:
        """End the call; ``local`` when we hung up (no final code, as on real modules)."""
        m = self.m
        if call not in self.calls:
            return
        for timer in call.timers:
            timer.cancel()
        self.calls.remove(call)
        self.last_cause = cause
        self.transitions.append((m.now, "released"))
        seconds = int(m.now - call.answered_at) if call.answered_at is not None else 0
        self._journal(call, "end", by="host" if local else "far end", cause=cause,
                      answered=call.answered_at is not None, seconds=self._seconds(call))  # fmt: skip
        call.state = "released"
        self.state_changed(call)
        if call.caller is not None and call.answered_at is None:
            self._gone_ringing(call, local)
            return
        if m.dialect.family == "huawei":
            # ^CEND:<id>,<duration>,<end_status>[,<cc_cause>]: cause only when the network ended
            end = f"^CEND:{call.index},{seconds}"
            m.urc(f"{end},29" if local else f"{end},104,{cause}")
        if m.dialect.family == "simcom" and call.answered_at is not None:
            m.urc(f"VOICE CALL: END: {seconds:06d}")
        wind_end = m.dialect.family == "wavecom" and bool(m.settings.wind & WIND_RELEASED)
        if local:
            if wind_end:
                m.urc(f"+WIND: 6,{call.index}")
            return
        final = {17: "BUSY", 19: "NO ANSWER"}.get(cause, "NO CARRIER")
        if call.deferred:
            call.deferred = False
            if cause == 21 and m.dialect.reject_final:
                final = m.dialect.reject_final  # ZTE: a rejected call ends ATD with just OK
            m.result(final)
        elif m.dialect.family == "zte" and call.answered_at is not None:
            m.urc(f"HANGUP: {call.index}")  # ZTE: the end of an answered call
        else:
            m.urc(final) if m.settings.verbose else m.result(final)
        if wind_end:
            m.urc(f"+WIND: 6,{call.index}")

    def hold(self, call: SimCall) -> None:
        if call.state == "active":
            call.state = "held"
            self.state_changed(call)

    def retrieve(self, call: SimCall) -> None:
        if call.state == "held":
            call.state = "active"
            self.state_changed(call, dsci=False)

    def state_changed(self, call: SimCall, dsci: bool = True) -> None:
        m = self.m
        m.audio.update()  # the audio port streams while a call is up (audio.py)
        if m.settings.clcc_urc and m.dialect.clcc_urc_sent:
            m.urc(f"+CLCC: {clcc_row(call)}")
        if m.settings.ucallstat:
            m.urc(f"+UCALLSTAT: {call.index},{UCALLSTAT[call.state]}")
        if m.settings.dsci and dsci:
            stat = DSCI_STAT[call.state]
            direction = 0 if call.outgoing else 1
            m.urc(f'^DSCI: {call.index},{direction},{stat},0,"{call.number}",{_toa(call.number)}')

    # ------------------------------------------------------------------ incoming
    def ring_in(self, plan: IncomingPlan) -> str | None:
        """A call rings in from ``plan.number`` ("" withheld): RING (or +CRING) and the caller
        ID every RING_PERIOD until answered, or the caller gives up (``plan.ring``), or the
        network does (NETWORK_RING_IN). Returns why it cannot ring (None: it rings)."""
        m = self.m
        if not m.port.plugged or m.booting:
            return "the module is off (unplugged or booting)"
        if m.reg_stat not in (1, 5):
            return "the module is not registered: no call reaches it"
        if self.calls:
            return "a call is in progress (call waiting is not emulated: the caller hears busy)"
        call = SimCall(plan.number, CallPlan("answer"), outgoing=False, state="incoming")
        call.caller = plan
        if m.journal is not None:
            call.journal_id = m.journal.next_id()
            m.journal.record("incoming", call=call.journal_id, modem=m.name, number=plan.number,
                             withheld=not plan.number)  # fmt: skip
        self._add(call)
        self.state_changed(call)
        if plan.ring is not None:
            self.later(call, plan.ring, lambda: self.release(call, 16))  # the caller gives up
        else:
            self.later(call, NETWORK_RING_IN, lambda: self.release(call, 19))
        self._ring_once(call)
        return None

    def _ring_once(self, call: SimCall) -> None:
        m = self.m
        if call not in self.calls or call.state != "incoming":
            return
        m.urc("+CRING: VOICE" if m.settings.crc else "RING")
        if m.settings.clip:
            if call.number:
                m.urc(m.dialect.clip.format(number=call.number, toa=_toa(call.number)))
            elif m.dialect.clip_withheld is not None:
                m.urc(m.dialect.clip_withheld)
        self.later(call, RING_PERIOD, lambda: self._ring_once(call))

    def _gone_ringing(self, call: SimCall, local: bool) -> None:
        """A call ringing in ended unanswered: the caller (or the network) gave up, or the
        host rejected it (``local``: AT+CHUP/ATH)."""
        m = self.m
        family = m.dialect.family
        if family == "huawei":
            m.urc(f"^CEND:{call.index},0,29" if local else f"^CEND:{call.index},0,104,16")
        elif local or family == "zte":
            pass  # a rejected call ends with the command's OK; ZTE: the rings just stop
        elif family == "simcom":
            m.urc(f"MISSED_CALL: {time.strftime('%I:%M%p')} {call.number}")
        else:
            m.urc("NO CARRIER") if m.settings.verbose else m.result("NO CARRIER")
        if family == "wavecom" and m.settings.wind & WIND_RELEASED:
            m.urc(f"+WIND: 6,{call.index}")


def _toa(number: str) -> int:
    return 145 if number.startswith("+") else 129


def clcc_row(call: SimCall) -> str:
    """``<id>,<dir>,<stat>,<mode>,<mpty>,<number>,<type>`` (27.007 7.18)."""
    direction = 0 if call.outgoing else 1
    stat = CLCC_STAT[call.state]
    number = f'"{call.number}",{_toa(call.number)}'
    return f"{call.index},{direction},{stat},0,{int(call.mpty)},{number}"


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
    for call in list(m.calls.calls):  # every call, held ones too, as +CHUP on SIMCom
        m.calls.release(call, 16, local=True)


@handles("A")
def answer(m: EmulatedModem, op: Op) -> None:
    """ATA: the final result (OK; ZTE CONNECT) first, then the answer's indications, as
    SIMCom's OK then VOICE CALL: BEGIN. Nothing ringing: NO CARRIER."""
    call = next((c for c in m.calls.calls if c.state == "incoming"), None)
    if call is None:
        m.result("NO CARRIER")  # V.250 6.3.5: no call to answer
        raise ResultLater
    for timer in call.timers:
        timer.cancel()
    call.timers.clear()
    m.result(m.dialect.ata_final)
    m.calls.answered(call)
    raise ResultLater


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
    for call in m.calls.calls:
        m.info(f"+CLCC: {clcc_row(call)}")


@handles("+VTS", "^DTMF")
def send_dtmf(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info(f"{op.name}: (0-9,#,*,A-D)")
        return
    if m.calls.active() is None:
        raise CmdError(cme=3)


@handles("+CEER")
def ceer(m: EmulatedModem, op: Op) -> None:
    cause = m.calls.last_cause
    text = CAUSE_TEXT.get(cause, "Normal, unspecified")
    if m.dialect.family == "quectel":
        m.info(f'+CEER: "CC CAUSE",{cause},"{text}"')
    else:
        m.info(f"+CEER: {text}")


@handles("+QPCMV")
def qpcmv(m: EmulatedModem, op: Op) -> None:
    """Quectel voice over USB: ``1,0`` PCM on the audio port (the setting holds until ``0``),
    ``1,2`` the USB audio class (not emulated: nothing on the audio port)."""
    audio = m.audio
    if op.kind == "test":
        m.info("+QPCMV: (0,1),(0-2)")
    elif op.kind == "read":
        m.info(f"+QPCMV: {int(audio.enabled)},{2 if audio.uac else 0}")
    elif op.kind == "set":
        enable, port = op.int_arg(0), op.int_arg(1, 0)
        if enable not in (0, 1) or port not in (0, 1, 2):
            raise CmdError(cme=50)
        audio.enabled, audio.uac = enable == 1, enable == 1 and port == 2
        audio.update()
    else:
        raise CmdError(cme=50)


@handles("+CPCMREG")
def cpcmreg(m: EmulatedModem, op: Op) -> None:
    """SIMCom PCM on the audio port: ``1`` only while a call is up (off with the call)."""
    audio = m.audio
    if op.kind == "test":
        m.info("+CPCMREG: (0,1)")
    elif op.kind == "read":
        m.info(f"+CPCMREG: {int(audio.enabled)}")
    elif op.kind == "set":
        value = op.int_arg(0)
        if value == 1 and not m.calls.calls:
            raise CmdError(cme=3)  # operation not allowed: no call
        audio.enabled = value == 1
        audio.update()
    else:
        raise CmdError(cme=50)


@handles("^DDSETEX")
def ddsetex(m: EmulatedModem, op: Op) -> None:
    """Huawei: ``2`` streams the call's PCM on the second port (until the call ends)."""
    if op.kind == "set":
        if op.int_arg(0) != 2:
            raise CmdError(cme=50)
        m.audio.enabled = True
        m.audio.update()


@handles("+QPSND", "+CCMXPLAY")
def playback(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        return
    args = split_args(op.args)
    if m.calls.active() is None:
        raise CmdError(cme=903 if op.name == "+QPSND" else 3)
    quectel = op.name == "+QPSND"
    file = (args[1] if len(args) > 1 else "") if quectel else (args[0] if args else "")
    if not file:
        raise CmdError(cme=50)
    data = m.files.lookup(file)  # only what the module stores plays (files.py)
    if data is None:
        raise CmdError(cme=405) if quectel else CmdError()
    m.files.played.append((file, data))
    done = "+QPSND: 0" if quectel else "+AUDIOSTATE: audio play stop"
    m.later(1.0, lambda: m.urc(done))
