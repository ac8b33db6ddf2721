"""An agent's seat on an FXS port of a line card: the handset on the agent's desk (SPEC A1).

The card reports the handset lifted (``OFF_HOOK``) and put down (``ON_HOOK``) and the keys
pressed on it (``DTMF``); the host rings it (``RING``) and stops ringing or ends the seat's part
of a call (``ON_HOOK`` command). Whether the handset is up is asked (``QUERY`` -> ``STATE``)
each time the card is (re)discovered, so a seat lifted before a restart is known to be ready.
A line on the same card bridges its answered call here (``CanLine.connect``).
"""

from __future__ import annotations

import asyncio
import logging

from appliance.drivers.can.card import Backplane, CardError
from appliance.drivers.can.port import CardPort
from appliance.drivers.can.protocol import Ev, Event, Op, Role, State, code_digit
from appliance.drivers.line import Dtmf, LineDown, LineError, LineHealth, LineUp, Seat, SeatHook

log = logging.getLogger(__name__)

OFF_HOOK_STATES = (State.BRIDGED, State.FXS_OFF_HOOK, State.PLAYING, State.MONITORING)


class CanSeat(Seat):
    """FXS port ``port`` of the card in slot ``node`` on ``backplane``."""

    def __init__(self, backplane: Backplane, node: int, port: int, *,
                 name: str | None = None) -> None:  # fmt: skip
        super().__init__(name or f"card{node}.{port}")
        self.backplane = backplane
        self.node = node
        self.port = port
        self._off_hook = False
        self._lifted = asyncio.Event()
        self._ringing = False
        self._port = CardPort(backplane, node, port, Role.FXS,
                              on_event=self._on_event, on_health=self._on_health)  # fmt: skip

    @property
    def label(self) -> str:
        return self._port.label

    @property
    def off_hook(self) -> bool:
        return self._off_hook

    def health(self) -> LineHealth:
        return self._port.health("agent seat (FXS)")

    async def open(self) -> None:
        await self._port.start(f"seat {self.name}")

    async def close(self) -> None:
        if self._ringing:
            await self.release()

    async def ring(self) -> None:
        try:
            await self._port.command(Op.RING, bytes([0]))  # the national cadence
        except CardError as exc:
            raise LineError(f"seat {self.name}: {exc}") from exc
        self._ringing = True

    async def release(self) -> None:
        self._ringing = False
        try:
            await self._port.command(Op.ON_HOOK)
        except CardError as exc:
            raise LineError(f"seat {self.name}: {exc}") from exc

    async def wait_off_hook(self) -> None:
        """Return once the handset is lifted (at once when it is)."""
        await self._lifted.wait()

    # ------------------------------------------------------------------ from the card
    def _on_event(self, event: Event) -> None:
        if event.event == Ev.OFF_HOOK:
            self._hook(True)
        elif event.event == Ev.ON_HOOK:
            self._hook(False)
        elif event.event == Ev.STATE:
            self._hook(event.args[0] & 0x7F in OFF_HOOK_STATES)
        elif event.event == Ev.DTMF:
            self.emit(Dtmf(self.name, code_digit(event.args[0])))

    def _hook(self, off_hook: bool) -> None:
        if off_hook:
            self._ringing = False  # a lifted handset stops ringing (§4, RING)
            self._lifted.set()
        else:
            self._lifted.clear()
        if off_hook != self._off_hook:
            self._off_hook = off_hook
            self.emit(SeatHook(self.name, off_hook))

    def _on_health(self, up: bool, reason: str, evidence: str) -> None:
        self.emit(LineUp(self.name) if up else LineDown(self.name, reason))
