"""A call ringing in on a line (SPEC C14), as the analog drivers (V.253, the card's FXO ports)
follow it: its rings, its caller ID, one ``IncomingCall``, and ``RingingStopped`` when it stops.

The caller's number is known when the line says it (a caller-ID block, a ``CALLER_ID`` frame) or,
at the second ring without one, is taken to be unknown (""). Rings stop when none has come for
``ring_gone`` seconds, or when the hardware says so: then ``RingingStopped`` (after the
``IncomingCall``, so every missed call is told whole, also one that rang once with no caller ID).
``take()`` hands the call to an answer and stops watching it (``restore()`` gives it back when
the answer failed). Bounded: a call keeps at most
``MAX_EVIDENCE`` lines of evidence, each at most ``MAX_TEXT`` characters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.drivers.line import IncomingCall, LineEvent, RingingStopped

log = logging.getLogger(__name__)

MAX_EVIDENCE = 12
MAX_TEXT = 64


@dataclass
class Ringing:
    """One call ringing in."""

    t_first: float
    t_last: float
    rings: int = 0
    number: str | None = None  # None: not known yet; "" withheld, unavailable or unreadable
    announced: bool = False
    items: int = 0  # caller-ID lines or frames received (the driver bounds them)
    evidence: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.evidence) < MAX_EVIDENCE:
            self.evidence.append(text[:MAX_TEXT])


class RingWatch:
    """The ringing call of the line ``line``; events go to ``emit``."""

    def __init__(self, line: str, emit: Callable[[LineEvent], None], ring_gone: float) -> None:
        self.line = line
        self.emit = emit
        self.ring_gone = ring_gone
        self.ringing: Ringing | None = None
        self._timer: asyncio.TimerHandle | None = None

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def start(self) -> Ringing:
        """The call ringing in (a new one when none is: caller ID before the first ring)."""
        if self.ringing is None:
            now = self._now()
            self.ringing = Ringing(now, now)
            self._arm()
        return self.ringing

    def ring(self, label: str = "RING") -> None:
        """One ring: at the second with no caller ID the call is announced without a number."""
        ringing = self.start()
        ringing.rings += 1
        ringing.t_last = self._now()
        if ringing.rings <= 3:
            ringing.note(label)
        if ringing.rings >= 2 and not ringing.announced:
            self._announce(ringing)
        self._arm()

    def identify(self, number: str, how: str = "number") -> None:
        """The caller ID: ``number`` ("" with ``how`` withheld, unavailable, unreadable...).
        The first one counts; it announces the call if the second ring has not."""
        ringing = self.start()
        if ringing.number is not None:
            return
        ringing.number = number
        if how != "number":
            ringing.note(f"caller ID: {how}")
        if not ringing.announced:
            self._announce(ringing)

    def stopped(self, why: str = "") -> None:
        """The rings have stopped (the hardware says so, or ``ring_gone`` has passed)."""
        ringing = self.ringing
        if ringing is None:
            return
        self.forget()
        if not ringing.announced:
            self._announce(ringing)
        log.info("%s: the call from %s stopped ringing after %d ring(s)%s", self.line,
                 ringing.number or "an unknown number", ringing.rings,
                 f" ({why})" if why else "")  # fmt: skip
        self.emit(RingingStopped(self.line, ringing.number or ""))

    def take(self) -> Ringing | None:
        """For an answer: the ringing call, no longer watched (no ``RingingStopped``)."""
        ringing = self.ringing
        self.forget()
        return ringing

    def restore(self, ringing: Ringing) -> None:
        """An answer that failed: the call rings on (if no other one has started since), and
        the next ``answer`` may take it; its end is told as for any ringing call."""
        if self.ringing is None:
            self.ringing = ringing
            self._arm()

    def forget(self) -> None:
        self.ringing = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _announce(self, ringing: Ringing) -> None:
        ringing.announced = True
        log.info("%s: incoming call from %s", self.line, ringing.number or "an unknown number")
        self.emit(IncomingCall(self.line, ringing.number or ""))

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        ringing = self.ringing
        self._timer = asyncio.get_running_loop().call_later(self.ring_gone, self._gone, ringing)

    def _gone(self, ringing: Ringing | None) -> None:
        if ringing is not None and ringing is self.ringing:
            self.stopped(f"no ring for {self.ring_gone:g} s")
