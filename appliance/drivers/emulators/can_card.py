"""An emulated dialbox line card on a CAN bus (docs/line-card-protocol.md), as a CANopen slave.

One ``canopen.LocalNode`` per slot answers SDO from the object dictionary of section 3, sends
boot-up and heartbeat, obeys NMT, takes port commands (RPDO1) and sends port events (TPDO1).
FXO ports call out with scripted outcomes (per number, else seeded random) and play the stored
messages; FXS ports are agent handsets: scripted agents lift a ringing handset and may put it down
during a bridged call, and a test lifts and hangs up by hand. ``unplug()`` silences the card
(heartbeat lost); ``replug()`` boots it again; ``fault()``/``clear()`` latch and clear port faults
told by EMCY (section 7). canopen delivers frames on python-can's notifier thread; the card's
state is guarded by one lock and its timers are ``threading.Timer`` scaled by ``time_scale``.

Incoming calls (section 4.4; ``incoming(port, plan)``, ``plans.IncomingPlan``): an FXO port rings
(state 8), ``INCOMING_RING`` every 6 s, the caller ID in ``CALLER_ID`` frames 3 s after the first
ring, ``RINGING_STOPPED`` when the caller gives up after ``ring`` s; ``ANSWER`` takes the call
(state 3), the caller's keys come as ``DTMF`` at their times, and at ``hangup`` s the caller goes
(``CALL_END`` remote hang-up). An opcode the card does not know is answered with status 3.

Conference (section 4.5): ``MONITOR`` joins a lifted FXS port (the supervisor's handset) to an FXO
port's bridged call in mode listen, whisper or barge; who hears whom is ``mix()``, what the card
reports of its ports ``report()`` (the control socket's ``status``). The conference ends with
``MONITOR_END`` on ``UNMONITOR``, when the supervisor hangs up, the call ends, the agent's seat
leaves the bridge or a fault latches. ``conference=()`` emulates an older card: no object
``0x200B``, and ``MONITOR``/``UNMONITOR`` are opcodes it does not know (status 3).
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import canopen

from appliance.drivers.can.protocol import (
    FAULT_BIT,
    HEARTBEAT,
    RPDO1,
    TPDO1,
    Cause,
    Command,
    Ev,
    Event,
    Fault,
    Mode,
    MonitorEnd,
    Op,
    Presentation,
    Role,
    State,
    Status,
    caller_id_frames,
    conference_bits,
    dial_digits,
    digit_code,
)
from appliance.drivers.emulators.can_od import object_dictionary
from appliance.drivers.emulators.plans import IncomingPlan, PlanScript

OUTCOMES = ("answer", "machine", "busy", "no-answer", "no-dialtone", "sit", "fax", "modem")
MESSAGE_SECONDS = 2.0  # every stored message plays this long (scaled)
RING_EVERY = 6.0  # an incoming call's INCOMING_RING, once per ring burst
CALLER_ID_AFTER = 3.0  # the caller ID, between the first and the second ring
CONFERENCE = ("listen", "whisper", "barge")  # what a current card can do (object 0x200B)
PRESENTATIONS = {"number": Presentation.NUMBER, "withheld": Presentation.WITHHELD,
                 "unavailable": Presentation.UNAVAILABLE}  # fmt: skip


@dataclass
class CardScript(PlanScript):
    """A line card script: answering machines among the random outcomes, and how the agents on
    FXS ports behave: a ringing handset is lifted after ``lift_after`` seconds (None: never,
    a person must), and put down ``hang_up_after`` seconds into a bridged call (None: the agent
    keeps it up, as with a headset, also after the customer has gone)."""

    weights: dict[str, float] = field(
        default_factory=lambda: {"answer": 5.0, "busy": 2.0, "no-answer": 2.0, "machine": 1.0}
    )
    lift_after: float | None = 0.4
    hang_up_after: float | None = None


@dataclass(slots=True)
class _Port:
    role: Role
    state: int = 0  # section 6
    number: str = ""
    bridged: tuple[int, int] | None = None
    timers: list[threading.Timer] = field(default_factory=list)
    fault: int | None = None  # latched EMCY code
    lasting: bool = False  # the fault survives a reset of the card (the hardware is broken)
    playing: int | None = None  # message index
    play_timer: threading.Timer | None = None
    resumes: int = 0  # the state playback returns to
    incoming: IncomingPlan | None = None  # the caller ringing in, or talking
    rings: int = 0
    caller_id_sent: bool = False  # this call's CALLER_ID frames went out
    conference: tuple[int, Mode] | None = None  # FXO: the supervisor's port and the mode
    monitoring: int | None = None  # a supervisor's FXS port: the FXO port whose call it joins


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
        conference: tuple[str, ...] = CONFERENCE,
    ) -> None:
        self.network = network
        self.conference = tuple(m for m in CONFERENCE if m in conference)
        self.slot = slot
        self.script = script or CardScript()
        self.rng = random.Random(seed * 1009 + slot)
        self.ports = [_Port(role) for role in roles]
        self.messages = messages
        self.node = canopen.LocalNode(
            slot, object_dictionary(roles, list(messages), conference_bits(self.conference))
        )
        self.plugged = False
        self.counter = 0
        self.commands: list[Command] = []  # every command received (for tests)
        self.unknown: list[int] = []  # opcodes received that this card does not know
        self.resets = 0  # NMT resets of this card obeyed (section 2.7)
        self._lock = threading.RLock()
        self._was_operational = False
        network.add_node(self.node)  # its NMT slave subscribes first, so _on_nmt sees the new state
        network.subscribe(0x000, self._on_nmt)
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
                port.conference = port.monitoring = None

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

    def _later(self, port: _Port, delay: float, fn: Callable[[], None]) -> threading.Timer:
        def fire() -> None:
            with self._lock:
                if self.plugged:
                    fn()

        timer = threading.Timer(delay * self.script.time_scale, fire)
        timer.daemon = True
        port.timers.append(timer)
        timer.start()
        return timer

    @staticmethod
    def _cancel(port: _Port) -> None:
        for timer in port.timers:
            timer.cancel()
        port.timers.clear()

    # ------------------------------------------------------------------ commands
    def _on_nmt(self, can_id: int, data: bytearray, timestamp: float) -> None:
        """Section 5: ``STATE`` of every port on entering operational. Section 2.7: NMT reset
        node reboots the card (the NMT slave has already sent boot-up): calls and bridges are
        gone, faults cleared but those the hardware still has (``fault(..., lasting=True)``)."""
        with self._lock:
            if len(data) >= 2 and data[0] == 0x81 and data[1] in (0, self.slot) and self.plugged:
                self.resets += 1
                for p in self.ports:
                    self._cancel(p)  # the playback timer too
                    p.play_timer = None
                    lifted = p.role == Role.FXS and p.state in (4, 6, 7, 9)
                    p.state, p.number, p.bridged, p.playing = 6 if lifted else 0, "", None, None
                    p.conference = p.monitoring = None
                    if not p.lasting:
                        p.fault = None
                latched = any(p.fault is not None for p in self.ports)
                self.node.set_data(0x1001, 0, bytes([0x01 if latched else 0]))
            now = self.operational
            if now and not self._was_operational and self.plugged:
                for n in range(1, len(self.ports) + 1):
                    self._send_state(n)
                for n, p in enumerate(self.ports, 1):  # a fault the card still has, told again
                    if p.fault is not None and p.lasting:
                        self._emcy(p.fault, n)
            self._was_operational = now

    def _send_state(self, n: int) -> None:
        """``STATE``: state, bridged-to node and port; byte 6 the conference's mode and byte 7
        the supervisor's port (on the call's FXO port) or, on a supervisor's port, bytes 4-5 the
        call's FXO port and byte 6 the mode (section 4.5)."""
        port = self.ports[n - 1]
        bridged = port.bridged or (0, 0)
        mode, other = (int(port.conference[1]), port.conference[0]) if port.conference else (0, 0)
        if port.monitoring is not None:
            peer = self.ports[port.monitoring - 1].conference
            bridged = (self.slot, port.monitoring)
            mode, other = (int(peer[1]) if peer else 0), 0
        fault = FAULT_BIT if port.fault is not None else 0
        self._send(n, Ev.STATE, bytes([port.state | fault, *bridged, mode, other]))

    def _on_frame(self, can_id: int, data: bytearray, timestamp: float) -> None:
        with self._lock:
            if not self.plugged:
                return
            try:
                command = Command.decode(bytes(data))
                if command.op in (Op.MONITOR, Op.UNMONITOR) and not self.conference:
                    raise ValueError("an older card: no conference opcodes")
            except ValueError:
                if len(data) == 8:  # an opcode this card does not know (a newer host)
                    self.unknown.append(data[1])
                    reply = bytes([data[2], Status.NOT_SUPPORTED, data[1]])
                    self._send(data[0], Ev.ACK, reply)
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
        if port.fault is not None and c.op != Op.QUERY:
            return Status.PORT_FAULT
        fxo_only = (Op.OFF_HOOK, Op.DIAL, Op.DIAL_END, Op.BRIDGE, Op.ANSWER, Op.MONITOR)
        if (c.op in fxo_only and port.role != Role.FXO) or (
            c.op == Op.RING and port.role != Role.FXS
        ):
            return Status.WRONG_ROLE
        if c.op == Op.OFF_HOOK and port.state != 0:
            return Status.BUSY
        if c.op == Op.ANSWER and port.state != State.RINGING_IN:
            return Status.NOT_RINGING if port.state == 0 else Status.BUSY
        if c.op == Op.RING and port.state not in (0, 5):
            return Status.BUSY  # a lifted handset cannot ring
        if c.op == Op.PLAY and not 1 <= c.args[0] <= len(self.messages):
            return Status.BAD_ARGUMENT
        if c.op == Op.BRIDGE:
            if c.args[0] != self.slot:
                return Status.NOT_SUPPORTED  # no TDM bus on this card
            if not 1 <= c.args[1] <= len(self.ports) or c.args[1] == c.port:
                return Status.BAD_ARGUMENT
            if self.ports[c.args[1] - 1].monitoring is not None:
                return Status.BUSY  # a supervisor's handset in a conference
        if c.op == Op.MONITOR:
            return self._may_monitor(c, port)
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
        elif c.op == Op.ON_HOOK and port.role == Role.FXS:
            self._cancel(port)  # stop ringing (and the scripted agent's lift)
            if port.monitoring is not None:  # the supervisor's part of the call ends
                self._end_conference(port.monitoring, MonitorEnd.COMMAND)
            self._stop_play(n, port, 2)
            self._unbridge(n, port, 0)
            if port.state == 5:
                port.state = 0
        elif c.op == Op.ON_HOOK and port.state == State.RINGING_IN:
            pass  # on hook already: the line goes on ringing until the caller gives up
        elif c.op == Op.ANSWER:
            self._answer(n, port)
        elif c.op == Op.ON_HOOK:
            self._cancel(port)
            was = port.state
            self._stop_play(n, port, 2)
            self._end_conference(n, MonitorEnd.CALL_ENDED)
            self._unbridge(n, port, 0)
            port.state = 0
            if was in (1, 2, 3, 4, 7):
                self._send(n, Ev.CALL_END, bytes([Cause.LOCAL]))
        elif c.op == Op.RING:
            port.state = 5
            if self.script.lift_after is not None:
                self._later(port, self.script.lift_after, functools.partial(self._lift, n))
        elif c.op == Op.BRIDGE:
            self._bridge(n, port, c.args[1])
        elif c.op == Op.UNBRIDGE:
            self._unbridge(n, port, 0)
        elif c.op == Op.PLAY:
            self._play(n, port, c.args[0], c.args[1])
        elif c.op == Op.STOP_PLAY:
            self._stop_play(n, port, 1)
        elif c.op == Op.QUERY:
            self._send_state(n)
        elif c.op == Op.MONITOR:
            self._monitor(n, port, c.args[1], Mode(c.args[2]))
        elif c.op == Op.UNMONITOR:
            fxo = n if port.conference is not None else port.monitoring
            if fxo is not None:
                self._end_conference(fxo, MonitorEnd.COMMAND)

    def _bridge(self, n: int, port: _Port, other: int) -> None:
        peer = self.ports[other - 1]
        self._unbridge(n, port, 0)
        self._unbridge(other, peer, 0)
        port.bridged, port.state = (self.slot, other), 4
        peer.bridged, peer.state = (self.slot, n), 4
        self._send(n, Ev.BRIDGED, bytes([self.slot, other]))
        self._send(other, Ev.BRIDGED, bytes([self.slot, n]))
        after = self.script.hang_up_after
        if peer.role == Role.FXS and after is not None:  # a scripted agent ends the talk
            self._later(peer, after, functools.partial(self._put_down, other, (self.slot, n)))

    def _play(self, n: int, port: _Port, index: int, repeat: int) -> None:
        self._stop_play(n, port, 1)
        if port.state in (0, 1, 2, 5):  # no call to play into
            self._send(n, Ev.PLAY_DONE, bytes([index, 2]))
            return
        port.playing, port.resumes, port.state = index, port.state, 7
        if repeat:  # 0: until STOP_PLAY or the end of the call
            done = functools.partial(self._stop_play, n, port, 0)
            port.play_timer = self._later(port, MESSAGE_SECONDS * repeat, done)

    def _stop_play(self, n: int, port: _Port, reason: int) -> None:
        """Playback ends: 0 finished, 1 stopped, 2 the call ended (``PLAY_DONE``)."""
        index, port.playing = port.playing, None
        if index is None:
            return
        if port.play_timer is not None:
            port.play_timer.cancel()
            port.play_timer = None
        if port.state == 7:
            port.state = port.resumes
        self._send(n, Ev.PLAY_DONE, bytes([index, reason]))

    def _unbridge(self, n: int, port: _Port, reason: int) -> None:
        if port.bridged is None:
            return
        slot, other = port.bridged
        if slot == self.slot:  # the call's conference, if any, goes with its bridge
            fxo = n if port.role == Role.FXO else other
            self._end_conference(fxo, MonitorEnd.AGENT_LEFT)
        port.bridged = None
        self._settle(port)
        self._send(n, Ev.UNBRIDGED, bytes([reason]))
        if slot == self.slot:
            peer = self.ports[other - 1]
            if peer.bridged is not None:
                peer.bridged = None
                self._settle(peer)
                self._send(other, Ev.UNBRIDGED, bytes([reason]))

    def _settle(self, port: _Port) -> None:
        """Out of a bridge: an FXO call stays answered, an FXS handset stays lifted."""
        if port.state == 4:
            port.state = 3 if port.role == Role.FXO else 6
        if port.role == Role.FXS:
            self._cancel(port)  # the scripted agent's put-down belonged to that bridge

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
        self._stop_play(n, port, 2)
        self._end_conference(n, MonitorEnd.CALL_ENDED)
        self._unbridge(n, port, 1)
        port.state, port.incoming = 0, None
        self._send(n, Ev.CALL_END, bytes([cause]))

    # ------------------------------------------------------------------ incoming calls
    def incoming(self, n: int, plan: IncomingPlan) -> None:
        """A call rings in on FXO port ``n`` (``ValueError`` when it cannot: no such port, not
        FXO, busy, faulted, the card not operational)."""
        with self._lock:
            if not self.plugged or not self.operational:
                raise ValueError(f"card {self.slot} is not operational")
            if not 1 <= n <= len(self.ports):
                raise ValueError(f"card {self.slot} has no port {n} (1-{len(self.ports)})")
            port = self.ports[n - 1]
            if port.role != Role.FXO:
                raise ValueError(f"card {self.slot} port {n} is {port.role.name}; calls ring in "
                                 "on FXO ports")  # fmt: skip
            if port.fault is not None or port.state != 0:
                raise ValueError(f"card {self.slot} port {n} is busy (state {port.state})")
            port.state, port.incoming, port.rings = State.RINGING_IN, plan, 0
            port.caller_id_sent = False
            t = 0.0
            while t < plan.ring:
                self._later(port, t, functools.partial(self._ring_in, n))
                t += RING_EVERY
            if plan.ring > CALLER_ID_AFTER:
                self._later(port, CALLER_ID_AFTER, functools.partial(self._caller_id, n))
            self._later(port, plan.ring, functools.partial(self._caller_gives_up, n))

    def _ring_in(self, n: int) -> None:
        port = self.ports[n - 1]
        if port.state == State.RINGING_IN:
            plan = port.incoming
            # The card decodes the caller ID between the first two rings: were its timer late
            # (threads on a busy host), the frames still go out before the second ring.
            if port.rings == 1 and plan is not None and plan.ring > CALLER_ID_AFTER:
                self._caller_id(n)  # once: it returns if the timer sent them already
            port.rings += 1
            self._send(n, Ev.INCOMING_RING, bytes([min(port.rings, 255)]))

    def _caller_id(self, n: int) -> None:
        port = self.ports[n - 1]
        if port.state != State.RINGING_IN or port.incoming is None:
            return
        plan = port.incoming
        if port.caller_id_sent:
            return
        port.caller_id_sent = True
        for args in caller_id_frames(plan.number, PRESENTATIONS[plan.presentation]):
            self._send(n, Ev.CALLER_ID, args)

    def _caller_gives_up(self, n: int) -> None:
        port = self.ports[n - 1]
        if port.state == State.RINGING_IN:
            self._cancel(port)
            port.state, port.incoming = 0, None
            self._send(n, Ev.RINGING_STOPPED, bytes([min(port.rings, 255)]))

    def _answer(self, n: int, port: _Port) -> None:
        self._cancel(port)
        port.state = State.ANSWERED
        plan = port.incoming
        if plan is None:
            return
        for digit, at in plan.keys:
            key = functools.partial(self._send, n, Ev.DTMF, bytes([digit_code(digit), 80]))
            self._later(port, at, key)
        if plan.hangup is not None:
            hang_up = functools.partial(self._end, n, None, Cause.REMOTE_HANGUP)
            self._later(port, plan.hangup, hang_up)

    # ------------------------------------------------------------------ FXS handsets
    def lift(self, port: int) -> None:
        """An agent lifts the handset on an FXS port (it stops ringing)."""
        with self._lock:
            self._lift(port)

    def _lift(self, n: int) -> None:
        port = self.ports[n - 1]
        if port.state not in (0, 5) or port.fault is not None:
            return
        self._cancel(port)
        port.state = 6
        self._send(n, Ev.OFF_HOOK)

    def hang_up(self, port: int) -> None:
        """An agent puts the handset down; a bridged FXO call stays up for the host to end."""
        with self._lock:
            p = self.ports[port - 1]
            if p.monitoring is not None:
                self._end_conference(p.monitoring, MonitorEnd.SUPERVISOR_HUNG_UP)
            p.state = 0
            self._cancel(p)
            self._unbridge(port, p, 1)
            self._send(port, Ev.ON_HOOK)

    def press(self, port: int, digits: str) -> None:
        """An agent presses keys on the handset (``DTMF``, 80 ms each)."""
        with self._lock:
            for digit in digits:
                self._send(port, Ev.DTMF, bytes([digit_code(digit), 80]))

    def _put_down(self, n: int, bridge: tuple[int, int]) -> None:
        if self.ports[n - 1].bridged == bridge:
            self.hang_up(n)

    # ------------------------------------------------------------------ conference (4.5)
    def _may_monitor(self, c: Command, port: _Port) -> Status:
        """``MONITOR`` on the call's FXO port: byte 3 the supervisor's node, 4 its FXS port,
        5 the mode. Refusals in this order (section 4.5)."""
        node, sup_n, mode = c.args[0], c.args[1], c.args[2]
        if node != self.slot:
            return Status.NOT_SUPPORTED  # no TDM bus: a seat of another card
        if mode not in Mode._value2member_map_ or not 1 <= sup_n <= len(self.ports):
            return Status.BAD_ARGUMENT
        if Mode(mode).name.lower() not in self.conference:
            return Status.NOT_SUPPORTED  # a mode this card's mixer cannot do
        sup = self.ports[sup_n - 1]
        if sup_n == c.port or sup.role != Role.FXS:
            return Status.BAD_ARGUMENT
        if port.bridged is None or port.bridged[0] != self.slot:
            return Status.NOT_BRIDGED
        if port.bridged[1] == sup_n:
            return Status.BAD_ARGUMENT  # the agent's own seat
        if sup.fault is not None:
            return Status.PORT_FAULT
        if port.conference is not None and port.conference[0] != sup_n:
            return Status.BUSY  # another supervisor is on this call
        if sup.monitoring is not None and sup.monitoring != c.port:
            return Status.BUSY  # this supervisor is on another call
        if sup.state in (State.IDLE, State.FXS_RINGING):
            return Status.NOT_LIFTED
        if sup.state not in (State.FXS_OFF_HOOK, State.MONITORING):
            return Status.BUSY  # the handset is in a call of its own
        return Status.DONE

    def _monitor(self, n: int, port: _Port, sup_n: int, mode: Mode) -> None:
        sup = self.ports[sup_n - 1]
        port.conference = (sup_n, mode)
        sup.monitoring, sup.state = n, State.MONITORING
        agent = port.bridged[1] if port.bridged else 0
        args = bytes([mode, n, agent, sup_n])
        self._send(n, Ev.MONITORED, args)
        self._send(sup_n, Ev.MONITORED, args)

    def _end_conference(self, n: int, reason: MonitorEnd) -> None:
        """The conference on FXO port ``n`` (if any) is over: ``MONITOR_END`` on the call's port
        and the supervisor's; the supervisor's handset is off hook, in no call (state 6)."""
        port = self.ports[n - 1]
        if port.conference is None:
            return
        sup_n, _ = port.conference
        port.conference = None
        sup = self.ports[sup_n - 1]
        sup.monitoring = None
        if sup.state == State.MONITORING:
            sup.state = State.FXS_OFF_HOOK
        args = bytes([reason, n, sup_n])
        self._send(n, Ev.MONITOR_END, args)
        self._send(sup_n, Ev.MONITOR_END, args)

    def mix(self, n: int) -> dict[int, tuple[int, ...]]:
        """Who hears whom in the call on port ``n`` (any of its ports): port -> the ports it
        hears. Empty when the port is in no bridged call."""
        with self._lock:
            port = self.ports[n - 1]
            if port.monitoring is not None:
                n, port = port.monitoring, self.ports[port.monitoring - 1]
            elif port.role == Role.FXS and port.bridged is not None:
                n, port = port.bridged[1], self.ports[port.bridged[1] - 1]
            if port.bridged is None or port.bridged[0] != self.slot:
                return {}
            agent = port.bridged[1]
            if port.conference is None:
                return {n: (agent,), agent: (n,)}
            sup, mode = port.conference
            return {
                n: (agent, sup) if mode == Mode.BARGE else (agent,),
                agent: (n,) if mode == Mode.LISTEN else (n, sup),
                sup: (n, agent),
            }

    def report(self, n: int | None = None) -> list[dict[str, Any]]:
        """What the card reports of its ports (``n``: one), as the control socket's ``status``:
        role, state, bridge, conference (mode, call, agent, supervisor) and who each hears."""
        with self._lock:
            out: list[dict[str, Any]] = []
            for i, port in enumerate(self.ports, 1):
                if n is not None and i != n:
                    continue
                entry: dict[str, Any] = {
                    "port": f"{self.slot}/{i}", "role": port.role.name.lower(),
                    "state": port.state | (FAULT_BIT if port.fault is not None else 0),
                    "bridge": f"{port.bridged[0]}/{port.bridged[1]}" if port.bridged else None,
                    "hears": [f"{self.slot}/{p}" for p in self.mix(i).get(i, ())],
                }  # fmt: skip
                fxo = i if port.conference is not None else port.monitoring
                if fxo is None and port.role == Role.FXS and port.bridged is not None:
                    fxo = port.bridged[1]  # the agent's seat: the call it is bridged to
                call = self.ports[fxo - 1] if fxo is not None else None
                if call is not None and call.conference is not None and call.bridged:
                    sup, mode = call.conference
                    entry["conference"] = {
                        "mode": mode.name.lower(), "call": f"{self.slot}/{fxo}",
                        "agent": f"{self.slot}/{call.bridged[1]}",
                        "supervisor": f"{self.slot}/{sup}",
                    }  # fmt: skip
                else:
                    entry["conference"] = None
                out.append(entry)
            return out

    # ------------------------------------------------------------------ faults (section 7)
    def fault(self, port: int, code: int = Fault.PORT_STUCK, *, lasting: bool = False) -> None:
        """A hardware fault on ``port`` (0: the card), told by EMCY. It is latched (the port's
        call is lost, commands are refused with status 7, ``STATE`` has bit 7) until ``clear``
        or a reset of the card (unless ``lasting``); a supply fault latches every port;
        ``Fault.OVERRUN`` is only told."""
        with self._lock:
            if code != Fault.OVERRUN:
                whole = port == 0 or code == Fault.SUPPLY
                for n in range(1, len(self.ports) + 1) if whole else (port,):
                    p = self.ports[n - 1]
                    for fxo, q in enumerate(self.ports, 1):  # a conference this port is in
                        agent = q.bridged[1] if q.bridged else 0
                        if q.conference is not None and n in (fxo, q.conference[0], agent):
                            self._end_conference(fxo, MonitorEnd.FAULT)
                    self._cancel(p)
                    p.playing, p.fault, p.lasting = None, code, lasting
                    if p.bridged is not None:  # the other side of the bridge hears it go
                        _, other = p.bridged
                        p.bridged = None
                        self._unbridge(other, self.ports[other - 1], 1)
            self._emcy(code, port)

    def clear(self, port: int = 0) -> None:
        """The fault is over (0: every port): the ports are idle again; EMCY error reset."""
        with self._lock:
            for n in range(1, len(self.ports) + 1) if port == 0 else (port,):
                p = self.ports[n - 1]
                if p.fault is not None:
                    p.fault = None
                    lifted = p.role == Role.FXS and p.state in (4, 6, 7, 9)
                    p.state, p.number = 6 if lifted else 0, ""
            self._emcy(Fault.RESET, port)

    def _emcy(self, code: int, port: int) -> None:
        latched = {p.fault for p in self.ports if p.fault is not None}
        register = (
            (0x01 if latched else 0)
            | (0x02 if Fault.OVER_CURRENT in latched else 0)
            | (0x04 if Fault.SUPPLY in latched else 0)
        )
        self.node.set_data(0x1001, 0, bytes([register]))
        if self.plugged:
            self.node.emcy.send(code, register, bytes([port, 0, 0, 0, 0]))
