"""The emulated line cards of one bus as one thing to control: ``SLOT/PORT`` names, the control
socket and the ``--incoming`` script of ``dialbox emulate can-card``.

Control commands, one a line (``ok`` or ``error: ...`` back)::

    <slot>/<port> incoming <number|withheld|unavailable> [keys=1@2.0,9@5.5] [hangup=S] [ring=S]
    <slot>/<port> lift | hang-up | press <digits>        an agent's handset on an FXS port
    <slot>/<port> fault [<code>] | clear                 a latched fault (EMCY), cleared
    <slot> unplug | replug                               the card leaves the backplane, returns
    <slot> status | <slot>/<port> status                 what the card reports of its ports:
        ``ok {"ports": [{"port", "role", "state", "bridge", "hears", "conference"}]}`` (one line
        of JSON: the bridge, the conference's mode and members, who hears whom; section 4.5)

A port may be named ``3/1`` or, with one card, ``1``; in a script "" is the first FXO port.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from appliance.drivers.can.protocol import Fault, Role
from appliance.drivers.emulators.can_card import EmulatedCard
from appliance.drivers.emulators.control import ControlError, ControlServer
from appliance.drivers.emulators.plans import ScheduledCall, parse_incoming_command

log = logging.getLogger(__name__)

PORT_ACTIONS = ("incoming", "lift", "hang-up", "press", "fault", "clear", "status")
CARD_ACTIONS = ("unplug", "replug")


class CardRack:
    def __init__(self, cards: list[EmulatedCard], time_scale: float = 1.0) -> None:
        self.cards = {card.slot: card for card in cards}
        self.time_scale = time_scale
        self._control: ControlServer | None = None
        self._timers: list[asyncio.TimerHandle] = []

    # ------------------------------------------------------------------ names
    def _card(self, slot: str) -> EmulatedCard:
        card = self.cards.get(int(slot)) if slot.isdigit() else None
        if card is None:
            raise ControlError(f"no card in slot {slot!r} (slots {sorted(self.cards)})")
        return card

    def port(self, name: str) -> tuple[EmulatedCard, int]:
        """``3/1`` -> (card 3, 1); ``1`` with one card; "" the first FXO port."""
        if not name:
            for card in self.cards.values():
                for n, port in enumerate(card.ports, 1):
                    if port.role == Role.FXO:
                        return card, n
            raise ControlError("no FXO port on any card")
        slot, sep, number = name.rpartition("/")
        if not sep:
            if len(self.cards) != 1:
                raise ControlError(f"{name!r}: name the port as SLOT/PORT, e.g. 3/1")
            slot = str(next(iter(self.cards)))
        card = self._card(slot)
        if not number.isdigit() or not 1 <= int(number) <= len(card.ports):
            raise ControlError(f"{name!r}: card {card.slot} has ports 1-{len(card.ports)}")
        return card, int(number)

    def check_target(self, name: str) -> None:
        """For scripts: ``ValueError`` unless ``name`` is an FXO port."""
        card, n = self.port(name)
        if card.ports[n - 1].role != Role.FXO:
            raise ControlError(f"{name!r} is {card.ports[n - 1].role.name}; calls ring in on FXO")

    # ------------------------------------------------------------------ control
    def control(self, command: str) -> str | None:
        parts = command.split(maxsplit=2)
        if len(parts) < 2:
            raise ControlError("expected: <slot>/<port> <action> [argument] or <slot> <action>")
        target, action = parts[0], parts[1]
        arg = parts[2] if len(parts) > 2 else ""
        if action == "status":
            if "/" in target:
                card, n = self.port(target)
                return json.dumps({"ports": card.report(n)})
            return json.dumps({"ports": self._card(target).report()})
        if action in CARD_ACTIONS:
            card = self._card(target)
            if action == "unplug":
                card.unplug()
            else:
                card.replug()
            return None
        if action not in PORT_ACTIONS:
            raise ControlError(f"unknown action {action!r}; one of "
                               f"{', '.join(PORT_ACTIONS + CARD_ACTIONS)}")  # fmt: skip
        card, n = self.port(target)
        if action == "incoming":
            card.incoming(n, parse_incoming_command(arg))
        elif action == "lift":
            card.lift(n)
        elif action == "hang-up":
            card.hang_up(n)
        elif action == "press":
            if not arg or any(d not in "0123456789*#ABCD" for d in arg.upper()):
                raise ControlError("press takes DTMF digits (0-9 * # A-D)")
            card.press(n, arg.upper())
        elif action == "fault":
            try:
                code = int(arg, 0) if arg else int(Fault.PORT_STUCK)
            except ValueError:
                raise ControlError(f"fault takes an EMCY code, e.g. 0xFF02, not {arg!r}") from None
            card.fault(n, code)
        else:
            card.clear(n)
        return None

    async def open_control(self, path: Path) -> None:
        self._control = ControlServer(path, self.control)
        await self._control.start()

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._control is not None:
            await self._control.close()

    # ------------------------------------------------------------------ scripts
    def schedule(self, calls: list[ScheduledCall]) -> None:
        loop = asyncio.get_running_loop()
        for call in calls:
            delay = call.at * self.time_scale
            self._timers.append(loop.call_later(delay, self._place, call))

    def _place(self, call: ScheduledCall) -> None:
        try:
            card, n = self.port(call.target)
            card.incoming(n, call.plan)
        except ValueError as exc:
            log.warning("incoming call at %s s not placed: %s", call.at, exc)
