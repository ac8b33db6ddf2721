"""Calls ringing in on a GSM modem: caller ID, rings, the caller giving up, the answer (SPEC C14).

A call ringing in shows as ``RING`` (``+CRING: VOICE`` under ``AT+CRC=1``) every few seconds,
followed under ``AT+CLIP=1`` by ``+CLIP: "<number>",<type>[,<subaddr>,<satype>,<alpha>,<CLI
validity>]``, and on families that follow calls by indications by a row of direction 1
(``+CLCC: 1,1,4,…``, ``^DSCI: 1,1,4,…``, ``+UCALLSTAT: 1,4``). ``IncomingCall`` is emitted once
per call: at its first caller ID (``+CLIP``, or such a row naming a number); with "" when the
ID is withheld (``+CLIP`` with an empty number, or CLI validity 1 withheld / 2 unavailable), or
at the second ring when no caller ID came by then.

The caller hanging up before the answer shows as ``NO CARRIER``, a release indication
(``+CLCC``/``^DSCI`` stat 6, Huawei ``^CEND``, Wavecom ``+WIND: 6``, u-blox ``+UCALLSTAT:
<id>,6``, SIMCom ``MISSED_CALL:``/``VOICE CALL: END``, ZTE ``HANGUP:``), or only by the rings
stopping: no ring for ``Timeouts.hang_up`` (10 s, two ring periods of 5 s). Then
``RingingStopped``, for a call that was announced; the line going down ends the ringing too.

``answer`` sends ``ATA``: ``OK`` (SIMCom, Quectel, Huawei… with ``VOICE CALL: BEGIN``,
``^CONN`` or a row before or after it) or ``CONNECT`` (old ZTE sticks) make the call the
modem's current call (``Voice.adopt``), followed like an answered outgoing call; ``NO
CARRIER``/``ERROR`` (the caller hung up first) raise ``LineError`` after ``RingingStopped``.
A dial while a call rings in or is being answered is refused with ``LineBusy`` (the module
would refuse ``ATD`` with ``+CME ERROR: 3``, or hold the caller).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, field

from appliance.drivers.at.codes import FinalKind
from appliance.drivers.at.session import AtTimeout, Command, LinkDown, Urc
from appliance.drivers.gsm.calls import CallEvent, CallState, event_from_urc, parse_clcc
from appliance.drivers.gsm.voice import Voice
from appliance.drivers.gsm.voicecall import VoiceCall, VoiceHost
from appliance.drivers.line import (
    CallResult,
    IncomingCall,
    LineBusy,
    LineError,
    LineUnavailable,
    RingingStopped,
)

log = logging.getLogger(__name__)

#: A caller's number as networks give it (E.164 with +, national, short codes).
_NUMBER = re.compile(r"^\+?[0-9*#]{1,40}$")
#: The same in hex UCS-2 (``002B0034…``), as sent under ``AT+CSCS="UCS2"``.
_UCS2_NUMBER = re.compile(r"^(?:002[BbAa3]|003[0-9]){2,40}$")
#: Distinct lines kept as a ringing call's evidence (a ring storm must not fill the memory).
EVIDENCE_LINES = 8


def caller_number(raw: str) -> str | None:
    """A number field of ``+CLIP`` or a call row: the number, "" when empty, None when it is
    no number (garbage). Under ``AT+CSCS="UCS2"`` (a text-mode SMS being sent) strings come
    hex-encoded: ``002B0034…`` is decoded."""
    text = raw.strip().strip('"').strip()
    if not text:
        return ""
    if _UCS2_NUMBER.match(text):
        text = bytes.fromhex(text).decode("utf-16-be")
    return text if _NUMBER.match(text) else None


def parse_clip(value: str) -> str | None:
    """``"+4930123",145,,,,0`` -> ``+4930123``; "" when withheld or not available (an empty
    number, or CLI validity 1 or 2, 27.007 7.6); None when malformed."""
    fields = _split(value)
    if not fields or not fields[0].strip().startswith('"'):
        return None
    if len(fields) > 5 and fields[5].strip() in ("1", "2"):
        return ""
    return caller_number(fields[0])


def _split(value: str) -> list[str]:
    """Commas outside quotes."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _row_number(urc: Urc) -> str | None:
    """The number a ``+CLCC``/``^DSCI`` row of a call ringing in names (None: none)."""
    name = urc.name.upper()
    if name == "+CLCC":
        row = parse_clcc(urc.value)
        return caller_number(row.number) if row is not None and row.number else None
    if name == "^DSCI":
        fields = _split(urc.value)
        return caller_number(fields[4]) if len(fields) > 4 and fields[4].strip() else None
    return None


@dataclass(slots=True)
class Ringing:
    """One call ringing in, until answered or gone."""

    t_first: float
    number: str | None = None  # None until known ("" withheld)
    announced: bool = False  # IncomingCall emitted
    rings: int = 0
    call_id: int | None = None
    evidence: list[str] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None

    @property
    def caller(self) -> str:
        return self.number or "a withheld number"


class Incoming:
    """The calls ringing in on one modem, and their answer."""

    def __init__(self, host: VoiceHost, voice: Voice) -> None:
        self._host = host
        self._voice = voice
        self.ringing: Ringing | None = None
        self._answering: VoiceCall | None = None  # ATA sent, its result awaited

    def busy(self) -> str | None:
        """Why no call may be placed now (a call ringing in, or being answered); None: free."""
        if self._answering is not None:
            return "a call ringing in is being answered"
        if self.ringing is not None:
            return f"a call from {self.ringing.caller} is ringing in"
        return None

    # ------------------------------------------------------------------ URCs
    def on_urc(self, urc: Urc) -> bool:
        """Take a URC about a call ringing in; True if it was one."""
        name = urc.name.upper()
        text = urc.text.strip()
        if name == "RING":
            self._ring(text, ring=True)
            return True
        if name == "+CRING":
            if "VOICE" in urc.value.upper():
                self._ring(text, ring=True)
            else:
                log.info("%s: %s: a data or fax call rings in; not answered", self._host.name,
                         text)  # fmt: skip
            return True
        if name == "+CLIP":
            number = parse_clip(urc.value)
            if number is None:
                log.warning("%s: malformed caller ID ignored: %r", self._host.name, text)
            else:
                self._ring(text, number=number)
            return True
        if name == "MISSED_CALL":  # SIMCom: the caller gave up before the answer
            self._stopped(text)
            return True
        if self._voice.call is not None:
            return False  # the call that is up has its indications (voice.py)
        event = event_from_urc(urc)
        if event is None or event.mt is False:
            return False
        ringing, answering = self.ringing, self._answering
        known = ringing.call_id if ringing is not None else None
        if event.call_id is not None and known not in (None, event.call_id):
            return True  # another call's row (a second caller, waiting): not this one's
        if answering is not None:
            if event.state is not CallState.INCOMING:
                answering.on_event(event)  # e.g. VOICE CALL: BEGIN before ATA's OK
            return True
        if event.state is CallState.INCOMING:
            number = _row_number(urc)
            self._ring(text, number=number or None, call_id=event.call_id)
            return True
        if ringing is None:
            return False  # a trailing indication of the last call: voice.py's
        if event.state is CallState.RELEASED:
            self._stopped(text)
        return True  # anything else while ringing (no call of ours is up)

    def _ring(
        self,
        text: str,
        *,
        ring: bool = False,
        number: str | None = None,
        call_id: int | None = None,
    ) -> None:
        if self._voice.call is not None or self._answering is not None:
            log.debug("%s: %r during a call: ignored (call waiting is not used)",
                      self._host.name, text)  # fmt: skip
            return
        loop = asyncio.get_running_loop()
        ringing = self.ringing
        if ringing is None:
            ringing = self.ringing = Ringing(loop.time())
            log.info("%s: a call rings in (%s)", self._host.name, text)
        if ring:
            ringing.rings += 1
        if text not in ringing.evidence and len(ringing.evidence) < EVIDENCE_LINES:
            ringing.evidence.append(text)
        if call_id is not None and ringing.call_id is None:
            ringing.call_id = call_id
        if number is not None and ringing.number is None:
            ringing.number = number
        if not ringing.announced and (ringing.number is not None or ringing.rings >= 2):
            self._announce(ringing)
        if ringing.timer is not None:
            ringing.timer.cancel()
        gap = self._host.timeouts.hang_up
        ringing.timer = loop.call_later(gap, self._silence, ringing, gap)

    def _announce(self, ringing: Ringing) -> None:
        ringing.announced = True
        if ringing.number is None:
            ringing.number = ""
            ringing.evidence.append(f"no caller ID by ring {ringing.rings}")
        log.info("%s: incoming call from %s", self._host.name, ringing.caller)
        self._host.emit(IncomingCall(self._host.name, ringing.number))

    def _silence(self, ringing: Ringing, gap: float) -> None:
        if self.ringing is ringing and self._answering is None:
            self._end(ringing, f"no ring for {gap:g} s")

    def _stopped(self, why: str) -> None:
        ringing = self.ringing
        if ringing is not None and self._answering is None:
            self._end(ringing, why)

    def _end(self, ringing: Ringing, why: str) -> None:
        """The call stopped ringing unanswered: ``RingingStopped`` if it was announced."""
        if self.ringing is not ringing:
            return
        self.ringing = None
        if ringing.timer is not None:
            ringing.timer.cancel()
        log.info("%s: the call from %s stopped ringing (%s)", self._host.name, ringing.caller,
                 why)  # fmt: skip
        if ringing.announced:
            self._host.emit(RingingStopped(self._host.name, ringing.number or ""))

    def line_down(self, reason: str) -> None:
        """The port or the modem went away: a call ringing in is gone with it."""
        if self._answering is not None:
            self._answering.on_event(CallEvent(CallState.RELEASED, f"line down: {reason}"))
        if self.ringing is not None:
            self._end(self.ringing, f"line down: {reason}")

    # ------------------------------------------------------------------ answer
    async def answer(self) -> CallResult:
        host, voice = self._host, self._voice
        if voice.call is not None:
            raise LineBusy(f"{host.name}: a call is up already")
        if self._answering is not None:
            raise LineBusy(f"{host.name}: the call ringing in is being answered already")
        ringing = self.ringing
        if ringing is None:
            raise LineError(f"{host.name}: no call is ringing in")
        if not ringing.announced:  # answered at its first ring: announced all the same, once
            self._announce(ringing)
        loop = asyncio.get_running_loop()
        call = VoiceCall(ringing.number or "", 0.0, loop.time)
        call.incoming = True
        call.state = CallState.INCOMING
        call.t_dial = call.t_alert = ringing.t_first
        call.call_id = ringing.call_id
        call.evidence.extend(ringing.evidence)
        call.evidence.extend((f"rang {ringing.rings} time(s)", "ATA"))
        if ringing.timer is not None:
            ringing.timer.cancel()  # the rings stop once the module answers
        self._answering = call
        try:
            response = await host.session.run(
                Command("ATA", timeout=host.timeouts.dial, call_progress=True), urgent=True
            )
        except AtTimeout as exc:
            self._answering = None
            await self._hang_up_quietly()
            self._end(ringing, "no answer to ATA")
            raise LineError(f"{host.name}: the modem did not answer ATA ({exc})") from exc
        except LinkDown as exc:
            self._end(ringing, f"line down: {exc}")
            raise LineUnavailable(f"{host.name}: line lost while answering: {exc}") from exc
        finally:
            self._answering = None
        said = response.final.text
        answered = response.final.kind in (FinalKind.OK, FinalKind.CONNECT)
        if not answered or call.released or self.ringing is not ringing:
            gone = call.evidence[-1] if call.released else said
            self._end(ringing, f"ATA: {said}")
            raise LineError(
                f"{host.name}: the caller ({ringing.caller}) hung up before the answer ({gone})"
            )
        self.ringing = None
        call.on_event(CallEvent(CallState.ACTIVE, f"ATA: {said}"))
        log.info("%s: answered the call from %s", host.name, ringing.caller)
        return voice.adopt(call)

    async def _hang_up_quietly(self) -> None:
        """After ATA went unanswered: a module that answered late must not keep the call."""
        with contextlib.suppress(AtTimeout, LinkDown):
            await self._host.session.run(
                Command(self._host.profile.hang_up, timeout=self._host.timeouts.hang_up),
                urgent=True,
            )
