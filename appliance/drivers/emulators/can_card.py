"""An emulated dialbox line card on a CAN bus (docs/line-card-protocol.md), as a CANopen slave.

One ``canopen.LocalNode`` per slot answers SDO from the object dictionary of section 3, sends
boot-up and heartbeat, obeys NMT, takes port commands (RPDO1) and sends port events (TPDO1).
FXO ports call out with scripted outcomes (per number, else seeded random); FXS ports are agent
handsets a test or script lifts and hangs up. ``unplug()`` silences the card (heartbeat lost);
``replug()`` boots it again. canopen delivers frames on python-can's notifier thread; the card's
state is guarded by one lock and its timers are ``threading.Timer`` scaled by ``time_scale``.
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import canopen
from canopen import objectdictionary as od

from appliance.drivers.can.protocol import (
    DEVICE_TYPE,
    HEARTBEAT,
    OD_HARDWARE,
    OD_MESSAGE_COUNT,
    OD_MESSAGES,
    OD_PORTS,
    OD_ROLE,
    OD_STATE,
    OD_VERSION,
    PROTOCOL_VERSION,
    RPDO1,
    TPDO1,
    Cause,
    Command,
    Ev,
    Event,
    Op,
    Role,
    Status,
    dial_digits,
    digit_code,
)
from appliance.drivers.emulators.plans import PlanScript

OUTCOMES = ("answer", "machine", "busy", "no-answer", "no-dialtone", "sit", "fax", "modem")


@dataclass
class CardScript(PlanScript):
    """A line card script: answering machines among the random outcomes."""

    weights: dict[str, float] = field(
        default_factory=lambda: {"answer": 5.0, "busy": 2.0, "no-answer": 2.0, "machine": 1.0}
    )


def _variable(
    name: str, index: int, sub: int, kind: int, value: int | str, access: str = "ro"
) -> od.ODVariable:
    var = od.ODVariable(name, index, sub)
    var.data_type = kind
    var.access_type = access
    var.default = value  # type: ignore[assignment]  # canopen types it int, strings are fine
    return var


def object_dictionary(roles: list[Role], messages: list[str]) -> od.ObjectDictionary:
    """Section 3 of the protocol, as a canopen object dictionary."""
    d = od.ObjectDictionary()  # type: ignore[no-untyped-call]
    d.add_object(_variable("Device type", 0x1000, 0, od.UNSIGNED32, DEVICE_TYPE))
    d.add_object(_variable("Error register", 0x1001, 0, od.UNSIGNED8, 0))
    d.add_object(_variable("Device name", 0x1008, 0, od.VISIBLE_STRING, f"LC-{len(roles)} FXO/FXS"))
    d.add_object(_variable("Firmware", 0x100A, 0, od.VISIBLE_STRING, "emulated-1.0"))
    d.add_object(_variable("Heartbeat", 0x1017, 0, od.UNSIGNED16, 1000, "rw"))
    d.add_object(_variable("Protocol version", OD_VERSION, 0, od.UNSIGNED8, PROTOCOL_VERSION))
    d.add_object(_variable("Ports", OD_PORTS, 0, od.UNSIGNED8, len(roles)))
    for index, name, values, access in (
        (OD_HARDWARE, "Port hardware", [3] * len(roles), "ro"),
        (OD_ROLE, "Port role", [int(r) for r in roles], "rw"),
        (OD_STATE, "Port state", [0] * len(roles), "ro"),
    ):
        array = od.ODArray(name, index)
        array.add_member(_variable("count", index, 0, od.UNSIGNED8, len(roles)))
        for i, value in enumerate(values, start=1):
            array.add_member(_variable(f"port {i}", index, i, od.UNSIGNED8, value, access))
        d.add_object(array)
    d.add_object(_variable("Messages", OD_MESSAGE_COUNT, 0, od.UNSIGNED8, len(messages)))
    names = od.ODArray("Message names", OD_MESSAGES)
    names.add_member(_variable("count", OD_MESSAGES, 0, od.UNSIGNED8, len(messages)))
    for i, message in enumerate(messages, start=1):
        names.add_member(_variable(f"message {i}", OD_MESSAGES, i, od.VISIBLE_STRING, message))
    d.add_object(names)
    return d


@dataclass(slots=True)
class _Port:
    role: Role
    state: int = 0  # section 6
    number: str = ""
    bridged: tuple[int, int] | None = None
    timers: list[threading.Timer] = field(default_factory=list)


class EmulatedCard:
    """One line card in one slot."""

    def __init__(
        self,
        network: canopen.Network,
        slot: int,
        roles: list[Role],
        script: CardScript | None = None,
        *,
        messages: tuple[str, ...] = ("reminder", "info-no-agent"),
        seed: int = 0,
    ) -> None:
        self.network = network
        self.slot = slot
        self.script = script or CardScript()
        self.rng = random.Random(seed * 1009 + slot)
        self.ports = [_Port(role) for role in roles]
        self.node = canopen.LocalNode(slot, object_dictionary(roles, list(messages)))
        self.plugged = False
        self.counter = 0
        self.commands: list[Command] = []  # every command received (for tests)
        self._lock = threading.RLock()
        network.add_node(self.node)
        network.subscribe(RPDO1 + slot, self._on_frame)

    # ------------------------------------------------------------------ life
    def plug(self) -> None:
        """Power-on: boot-up, pre-operational, heartbeat at 0x1017."""
        with self._lock:
            self.plugged = True
            self.node.nmt.state = "PRE-OPERATIONAL"
            self.network.send_message(HEARTBEAT + self.slot, bytes([0]))
            period = self.node.sdo[0x1017]
            self.node.nmt.start_heartbeat(int(period.raw))  # type: ignore[union-attr]

    def unplug(self) -> None:
        """The card leaves the backplane: no heartbeat, no answer, calls gone."""
        with self._lock:
            self.plugged = False
            self.node.nmt.stop_heartbeat()  # type: ignore[no-untyped-call]
            for port in self.ports:
                self._cancel(port)
                port.state, port.bridged = 0, None

    replug = plug

    @property
    def operational(self) -> bool:
        return self.node.nmt.state == "OPERATIONAL"

    # ------------------------------------------------------------------ output
    def _send(self, port: int, event: Ev, args: bytes = b"") -> None:
        if not self.plugged:
            return
        frame = Event(port, event, self.counter, args)
        self.counter = (self.counter + 1) & 0xFF
        self.network.send_message(TPDO1 + self.slot, frame.encode())

    def _later(self, port: _Port, delay: float, fn: Callable[[], None]) -> None:
        def fire() -> None:
            with self._lock:
                if self.plugged:
                    fn()

        timer = threading.Timer(delay * self.script.time_scale, fire)
        timer.daemon = True
        port.timers.append(timer)
        timer.start()

    @staticmethod
    def _cancel(port: _Port) -> None:
        for timer in port.timers:
            timer.cancel()
        port.timers.clear()

    # ------------------------------------------------------------------ commands
    def _on_frame(self, can_id: int, data: bytearray, timestamp: float) -> None:
        with self._lock:
            if not self.plugged:
                return
            try:
                command = Command.decode(bytes(data))
            except ValueError:
                return
            self.commands.append(command)
            status = self._execute(command)
            if status is not None:
                self._send(command.port, Ev.ACK, bytes([command.seq, status, command.op]))
                self._after_ack(command, status)

    def _execute(self, c: Command) -> Status | None:
        if not self.operational:
            return Status.NOT_OPERATIONAL
        if not 1 <= c.port <= len(self.ports):
            return Status.BAD_PORT
        port = self.ports[c.port - 1]
        fxo_only = (Op.OFF_HOOK, Op.DIAL, Op.DIAL_END, Op.BRIDGE)
        if (c.op in fxo_only and port.role != Role.FXO) or (
            c.op == Op.RING and port.role != Role.FXS
        ):
            return Status.WRONG_ROLE
        if c.op == Op.OFF_HOOK and port.state != 0:
            return Status.BUSY
        if c.op == Op.DIAL:
            port.number += dial_digits(c.args)
        return Status.DONE

    def _after_ack(self, c: Command, status: Status) -> None:
        if status != Status.DONE:
            return
        port = self.ports[c.port - 1]
        n = c.port
        if c.op == Op.OFF_HOOK:
            port.state, port.number = 1, ""
            self._later(port, 0.2, lambda: self._send(n, Ev.DIAL_TONE))
        elif c.op == Op.DIAL_END:
            self._call(n, port, int.from_bytes(c.args[0:2], "little") or 25)
        elif c.op == Op.ON_HOOK:
            self._cancel(port)
            was = port.state
            self._unbridge(n, port, 0)
            port.state = 0
            if was in (1, 2, 3, 4, 7):
                self._send(n, Ev.CALL_END, bytes([Cause.LOCAL]))
        elif c.op == Op.BRIDGE:
            other = (c.args[0], c.args[1])
            if other[0] == self.slot and 1 <= other[1] <= len(self.ports):
                port.bridged, port.state = other, 4
                peer = self.ports[other[1] - 1]
                peer.bridged = (self.slot, n)
                self._send(n, Ev.BRIDGED, bytes(other))
                self._send(other[1], Ev.BRIDGED, bytes([self.slot, n]))
        elif c.op == Op.UNBRIDGE:
            self._unbridge(n, port, 0)
        elif c.op == Op.PLAY:
            self._later(port, 2.0, lambda: self._send(n, Ev.PLAY_DONE, bytes([c.args[0], 0])))
        elif c.op == Op.QUERY:
            bridged = port.bridged or (0, 0)
            self._send(n, Ev.STATE, bytes([port.state, *bridged]))

    def _unbridge(self, n: int, port: _Port, reason: int) -> None:
        if port.bridged is None:
            return
        slot, other = port.bridged
        port.bridged = None
        self._send(n, Ev.UNBRIDGED, bytes([reason]))
        if slot == self.slot:
            peer = self.ports[other - 1]
            if peer.bridged is not None:
                peer.bridged = None
                self._send(other, Ev.UNBRIDGED, bytes([reason]))

    # ------------------------------------------------------------------ a call
    def _call(self, n: int, port: _Port, ring_timeout: int) -> None:
        plan = self.script.plan_for(port.number, self.rng)
        port.state = 2
        setup = 1.0
        if plan.outcome == "no-dialtone":
            self._later(port, setup, lambda: self._end(n, Ev.NO_DIAL_TONE, Cause.NO_DIAL_TONE))
            return
        if plan.outcome == "busy":
            self._later(port, setup, lambda: self._send(n, Ev.BUSY))
            self._later(port, setup + 2.0, lambda: self._end(n, None, Cause.BUSY))
            return
        if plan.outcome == "sit":
            self._later(port, setup, lambda: self._send(n, Ev.SIT, bytes([1])))
            self._later(port, setup + 1.0, lambda: self._end(n, None, Cause.SIT))
            return
        self._later(port, setup, lambda: self._send(n, Ev.RINGBACK))
        if plan.outcome == "no-answer" or plan.ring >= ring_timeout:
            self._later(port, setup + ring_timeout, lambda: self._end(n, None, Cause.NO_ANSWER))
            return
        answer = setup + plan.ring
        if plan.outcome in ("fax", "modem"):
            event = Ev.FAX_TONE if plan.outcome == "fax" else Ev.MODEM_TONE
            cause = Cause.FAX if plan.outcome == "fax" else Cause.MODEM
            self._later(port, answer, lambda: self._send(n, event, bytes([1])))
            self._later(port, answer + 1.0, lambda: self._end(n, None, cause))
            return

        def answered() -> None:
            port.state = 3
            self._send(n, Ev.ANSWER, bytes([0b001]))

        self._later(port, answer, answered)
        if plan.outcome == "machine":
            self._later(port, answer + 2.5, lambda: self._send(n, Ev.MACHINE, bytes([90])))
        else:
            self._later(port, answer + 1.5, lambda: self._send(n, Ev.PERSON, bytes([80])))
        for i, digit in enumerate(plan.dtmf):
            key = functools.partial(self._send, n, Ev.DTMF, bytes([digit_code(digit), 80]))
            self._later(port, answer + 2.0 + 0.5 * i, key)
        self._later(port, answer + plan.talk, lambda: self._end(n, None, Cause.REMOTE_HANGUP))

    def _end(self, n: int, event: Ev | None, cause: Cause) -> None:
        port = self.ports[n - 1]
        if event is not None:
            self._send(n, event)
        self._cancel(port)
        self._unbridge(n, port, 1)
        port.state = 0
        self._send(n, Ev.CALL_END, bytes([cause]))

    # ------------------------------------------------------------------ FXS handsets
    def lift(self, port: int) -> None:
        """An agent lifts the handset on an FXS port."""
        with self._lock:
            self.ports[port - 1].state = 6
            self._send(port, Ev.OFF_HOOK)

    def hang_up(self, port: int) -> None:
        """An agent puts the handset down."""
        with self._lock:
            p = self.ports[port - 1]
            p.state = 0
            self._unbridge(port, p, 1)
            self._send(port, Ev.ON_HOOK)
