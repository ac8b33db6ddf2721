"""Whether one port of a line card is in service, for the line or seat on it (SPEC H6).

A port is up when its card is up (heartbeat, docs/line-card-protocol.md §2), its role in the
card's table is the one config asked for, and no fault is latched on it (§7). A fault comes by
EMCY (or ``PORT_FAULT``, or a ``STATE`` with bit 7) and takes the port down at once; it is over
when the card says the port is idle again: after an error reset (EMCY ``0x0000``) the port is
asked for its ``STATE``. The port is also asked whenever its card is (re)discovered, so a fault
latched while the host was away, or a handset already lifted, is known before the port is up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from appliance.drivers.can.card import Backplane, CardError
from appliance.drivers.can.protocol import FAULT_BIT, Emcy, Ev, Event, Fault, Op, Role, fault_reason
from appliance.drivers.line import LineError, LineHealth

log = logging.getLogger(__name__)

# (up, reason, evidence): reason is what LineDown says, evidence what a call on the port keeps
HealthListener = Callable[[bool, str, str], None]
EventListener = Callable[[Event], None]


class CardPort:
    """Port ``port`` of the card in slot ``node``, attached to the backplane for one owner."""

    def __init__(self, backplane: Backplane, node: int, port: int, role: Role, *,
                 on_event: EventListener, on_health: HealthListener) -> None:  # fmt: skip
        self.backplane = backplane
        self.node = node
        self.port = port
        self.role = role
        self.up = False
        self.last_error: str | None = "card not seen yet"
        self._card_up = False
        self._faults: dict[str, str] = {}  # "card" | "port" -> reason
        self._on_event = on_event
        self._on_health = on_health
        backplane.attach(node, port, self._event)
        backplane.on_fault(node, port, self._fault)
        backplane.on_card(self._card)

    @property
    def label(self) -> str:
        return f"card{self.node}.{self.port}"

    def role_problem(self) -> str | None:
        """Why this port cannot serve its role, from the card's port table; None when it can
        (or when the card has not been read yet)."""
        card = self.backplane.cards.get(self.node)
        if card is None or not card.roles:
            return None
        if self.port > len(card.roles):
            return f"card {self.node} has {len(card.roles)} ports, there is no port {self.port}"
        actual = card.roles[self.port - 1]
        if actual != self.role:
            return (f"card {self.node} port {self.port} is {actual.name}, not {self.role.name} "
                    f"(see the port table, object 0x2003)")  # fmt: skip
        return None

    async def command(self, op: Op, args: bytes = b"") -> None:
        await self.backplane.command(self.node, self.port, op, args)

    async def start(self, who: str) -> None:
        """Start the backplane, refuse a port of the wrong role, and pick up the card."""
        await self.backplane.start()
        problem = self.role_problem()
        if problem is not None:
            raise LineError(f"{who}: {problem}")
        self.open()

    def health(self, registration: str) -> LineHealth:
        up = self.up
        return LineHealth(
            up=up, registered=up, registration=registration if up else "not registered",
            sim="none", last_error=self.last_error,
        )  # fmt: skip

    def open(self) -> None:
        """Pick up a card the backplane already knows (another port of it opened first)."""
        card = self.backplane.cards.get(self.node)
        if card is not None and card.up:
            self._card(self.node, True, "")

    # ------------------------------------------------------------------ inputs
    def _card(self, node: int, up: bool, why: str = "") -> None:
        if node != self.node:
            return
        self._card_up = up
        if not up:
            self._set(False, why or "card lost", why or "card lost")
            return
        problem = self.role_problem()
        if problem is not None:
            log.error("%s: %s", self.label, problem)
            self._set(False, problem, problem)
            return
        self._query()  # up once the card tells the port's state

    def _fault(self, emcy: Emcy) -> None:
        if emcy.code == Fault.RESET:
            self._query()
            return
        reason = fault_reason(emcy.code)
        whole_card = emcy.port == 0 or emcy.code == Fault.SUPPLY
        self._faults["card" if whole_card else "port"] = reason
        self._set(False, reason, f"EMCY 0x{emcy.code:04X} {reason}")

    def _event(self, event: Event) -> None:
        if event.event == Ev.STATE:
            self._state(event.args[0])
        elif event.event == Ev.PORT_FAULT:
            self._fault(Emcy(int.from_bytes(event.args[0:2], "little"), port=self.port))
        self._on_event(event)

    def _state(self, state: int) -> None:
        if state & FAULT_BIT:
            if not self._faults:
                self._faults["port"] = "port fault"
            self._set(False, self._reason(), "STATE: port fault")
            return
        self._faults.clear()
        if self._card_up and self.role_problem() is None:
            self._set(True, "", "")

    def _query(self) -> None:
        async def ask() -> None:
            try:
                await self.command(Op.QUERY)
            except CardError as exc:  # §4.3: not acknowledged three times
                self._faults["port"] = "port stuck"
                self._set(False, "port stuck", str(exc))

        self.backplane.spawn(ask())

    # ------------------------------------------------------------------ output
    def _reason(self) -> str:
        return self._faults.get("card") or self._faults.get("port") or "port fault"

    def _set(self, up: bool, reason: str, evidence: str) -> None:
        if up == self.up:
            if not up:
                self.last_error = reason
            return
        self.up, self.last_error = up, None if up else reason
        self._on_health(up, reason, evidence)
