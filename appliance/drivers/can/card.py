"""Line cards on a CAN backplane, host side (docs/line-card-protocol.md): discovery by boot-up and
heartbeat, supervision (a card silent for 3 heartbeats takes its ports down; it comes back by
itself), the identity and port table by SDO, commands acknowledged by sequence number, and events
routed to the ports; a card whose every port is stuck is reset (NMT reset node, §2.7), at most once
a ``reset_holdoff``. Each FXO port is a ``Line`` (``CanLine``).

canopen and python-can deliver frames on a notifier thread; everything here runs on the asyncio
loop (frames are handed over with ``call_soon_threadsafe``; blocking SDO runs in a worker thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import can
import canopen

from appliance.drivers.can.protocol import (
    EMCY,
    FAULT_BIT,
    HEARTBEAT,
    OD_CONFERENCE,
    OD_MESSAGE_COUNT,
    OD_MESSAGES,
    OD_PORTS,
    OD_ROLE,
    OD_VERSION,
    PROTOCOL_VERSION,
    RPDO1,
    TPDO1,
    Command,
    Emcy,
    Ev,
    Event,
    Fault,
    Op,
    Role,
    Status,
    conference_modes,
    fault_reason,
)
from appliance.drivers.line import LineUnavailable

log = logging.getLogger(__name__)

MAX_SLOT = 32
ACK_TIMEOUT = 0.2
ACK_TRIES = 3


class CardError(Exception):
    """A command was refused (``status`` says how) or not acknowledged (``status`` None)."""

    def __init__(self, message: str, status: Status | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Card:
    node: int
    name: str = ""
    version: int = 0
    roles: list[Role] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # stored messages, PLAY index = position + 1
    conference: tuple[str, ...] = ()  # object 0x200B: the modes of MONITOR (§4.5); () none
    up: bool = False
    state: int = 0  # NMT state from its heartbeat: 0x05 operational, 0x7F pre-operational
    last_heartbeat: float = 0.0
    operational: asyncio.Event = field(default_factory=asyncio.Event)
    remote: canopen.RemoteNode | None = None
    stuck: dict[int, str] = field(default_factory=dict)  # port -> "silent" (§4.3) | "emcy" (§7)


PortListener = Callable[[Event], None]
FaultListener = Callable[[Emcy], None]
CardListener = Callable[[int, bool, str], None]  # node, up, why it went down
# A card whose every port is stuck is reset at most once in this many seconds: a card that comes
# back as stuck needs a person, not a reset loop.
RESET_HOLDOFF = 300.0


class Backplane:
    """One CAN bus with up to 32 cards."""

    def __init__(
        self,
        bus: can.BusABC | None = None,
        *,
        interface: str = "virtual",
        channel: str = "dialbox",
        heartbeat_ms: int = 1000,
        loss_factor: float = 3.0,
        reset_holdoff: float = RESET_HOLDOFF,
    ) -> None:
        self.bus = bus
        self.interface = interface
        self.channel = channel
        self.heartbeat_ms = heartbeat_ms
        self.loss_factor = loss_factor
        self.reset_holdoff = reset_holdoff
        self.resets: dict[int, int] = {}  # node -> NMT resets sent for stuck ports
        self._last_reset: dict[int, float] = {}
        self.cards: dict[int, Card] = {}
        self._network = canopen.Network()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seq = 0
        self._acks: dict[tuple[int, int, int], asyncio.Future[Status]] = {}
        self._ports: dict[tuple[int, int], PortListener] = {}
        self._faults: dict[tuple[int, int], FaultListener] = {}
        self._card_listeners: list[CardListener] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._watch: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    # ------------------------------------------------------------------ life
    @property
    def started(self) -> bool:
        return self._loop is not None

    async def start(self) -> None:
        """Open the bus and start discovery; every line on the bus calls this, once is done."""
        async with self._starting:
            if self._loop is None:
                await self._start()

    async def _start(self) -> None:
        if self.bus is None:
            try:
                # a serial adapter's driver sleeps after opening: not on the loop
                self.bus = await asyncio.to_thread(
                    can.Bus, interface=self.interface, channel=self.channel
                )
            except (can.CanError, OSError, ValueError, ImportError) as exc:
                raise LineUnavailable(
                    f"CAN bus {self.interface}:{self.channel} cannot be opened: {exc}"
                ) from exc
        self._loop = asyncio.get_running_loop()
        self._network.bus = self.bus
        self._network.connect()
        for node in range(1, MAX_SLOT + 1):
            self._network.subscribe(HEARTBEAT + node, self._from_thread(self._on_heartbeat))
            self._network.subscribe(TPDO1 + node, self._from_thread(self._on_event))
            self._network.subscribe(EMCY + node, self._from_thread(self._on_emcy))
        # every card answers a reset of communication with its boot-up
        self._network.send_message(0x000, bytes([0x82, 0]))
        self._watch = asyncio.create_task(self._supervise())

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for task in list(self._tasks):
            task.cancel()
        self._network.disconnect()

    def on_card(self, listener: CardListener) -> None:
        self._card_listeners.append(listener)

    def attach(self, node: int, port: int, listener: PortListener) -> None:
        self._ports[(node, port)] = listener

    def on_fault(self, node: int, port: int, listener: FaultListener) -> None:
        """``listener`` gets the EMCY frames about this port, and those about the whole card."""
        self._faults[(node, port)] = listener

    def _from_thread(
        self, fn: Callable[[int, bytes], None]
    ) -> Callable[[int, bytearray, float], None]:
        def callback(can_id: int, data: bytearray, timestamp: float) -> None:
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(fn, can_id, bytes(data))

        return callback

    # ------------------------------------------------------------------ discovery, health
    def _on_heartbeat(self, can_id: int, data: bytes) -> None:
        node = can_id - HEARTBEAT
        assert self._loop is not None
        card = self.cards.get(node)
        state = data[0] if data else 0
        if card is None or (card.up and state in (0x00, 0x7F)):
            # new, or a card that reset by itself: (re)discover it
            card = self.cards[node] = Card(node)
            self.spawn(self._discover(card))
        card.last_heartbeat = self._loop.time()
        card.state = state
        if state == 0x05:
            card.operational.set()

    async def _discover(self, card: Card) -> None:
        known = self._network.get(card.node)
        if isinstance(known, canopen.RemoteNode):
            remote = known
        else:
            remote = canopen.RemoteNode(card.node, canopen.ObjectDictionary())  # type: ignore[no-untyped-call]
            self._network.add_node(remote)
        card.remote = remote

        def modes() -> tuple[str, ...]:
            try:  # §4.5: a card older than the conference has no object 0x200B
                return conference_modes(remote.sdo.upload(OD_CONFERENCE, 0)[0])
            except canopen.SdoAbortedError:
                return ()

        def read() -> tuple[int, str, list[Role], list[str], tuple[str, ...]]:
            version = int.from_bytes(remote.sdo.upload(OD_VERSION, 0), "little")
            name = remote.sdo.upload(0x1008, 0).decode("latin-1")
            count = int.from_bytes(remote.sdo.upload(OD_PORTS, 0), "little")
            roles = [Role(remote.sdo.upload(OD_ROLE, i)[0]) for i in range(1, count + 1)]
            stored = int.from_bytes(remote.sdo.upload(OD_MESSAGE_COUNT, 0), "little")
            messages = [
                remote.sdo.upload(OD_MESSAGES, i).decode("latin-1").rstrip("\0")
                for i in range(1, stored + 1)
            ]
            remote.sdo.download(0x1017, 0, self.heartbeat_ms.to_bytes(2, "little"))
            return version, name, roles, messages, modes()

        try:
            found = await asyncio.to_thread(read)
            card.version, card.name, card.roles, card.messages, card.conference = found
        except (canopen.SdoCommunicationError, canopen.SdoAbortedError) as exc:
            log.warning("card %d: discovery failed: %s", card.node, exc)
            return
        if card.version != PROTOCOL_VERSION:
            log.error("card %d: line card protocol v%d not supported", card.node, card.version)
            return
        self._network.send_message(0x000, bytes([0x01, card.node]))  # NMT start
        try:  # commands are taken only once the card says it is operational
            await asyncio.wait_for(card.operational.wait(), 3 * self.heartbeat_ms / 1000.0)
        except TimeoutError:
            log.warning("card %d: did not become operational after NMT start", card.node)
            return
        if self.cards.get(card.node) is not card:  # reset or lost meanwhile: a newer discovery
            return
        card.up = True
        log.info("card %d: %s, ports %s, messages %s, conference %s", card.node, card.name,
                 [r.name for r in card.roles], card.messages, card.conference or "none")  # fmt: skip
        for listener in list(self._card_listeners):
            listener(card.node, True, "")

    async def _supervise(self) -> None:
        period = self.heartbeat_ms / 1000.0
        while True:
            await asyncio.sleep(period / 2)  # the supervision period itself
            now = asyncio.get_running_loop().time()
            for card in list(self.cards.values()):
                if card.up and now - card.last_heartbeat > self.loss_factor * period:
                    log.warning("card %d: heartbeat lost", card.node)
                    self._lost(card, "heartbeat lost")

    def _lost(self, card: Card, why: str) -> None:
        """The card is gone until it boots again (a boot-up or heartbeat rediscovers it)."""
        card.up = False
        self.cards.pop(card.node, None)
        for listener in list(self._card_listeners):
            listener(card.node, False, why)

    def _stuck(self, node: int, port: int, why: str, how: str) -> None:
        """§4.3, §7: a port stuck (0: every port); when every port of the card is, reset the
        card (§2.7)."""
        card = self.cards.get(node)
        if card is None or not card.roles:  # a card starting up may tell its faults before it is up
            return
        card.stuck.update(
            dict.fromkeys(range(1, len(card.roles) + 1) if port == 0 else (port,), how)
        )
        if len(card.stuck) < len(card.roles):
            return
        assert self._loop is not None
        now = self._loop.time()
        last = self._last_reset.get(node)
        if last is not None and now - last < self.reset_holdoff:
            log.error("card %d: every port stuck again %.0f s after a reset; not resetting it "
                      "before %.0f s: it needs a person", node, now - last, self.reset_holdoff)  # fmt: skip
            return
        self._last_reset[node] = now
        self.resets[node] = self.resets.get(node, 0) + 1
        log.warning("card %d: every port stuck (%s): NMT reset node", node, why)
        self._lost(card, "card reset: every port stuck")
        self._network.send_message(0x000, bytes([0x81, node]))

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ commands, events
    async def command(self, node: int, port: int, op: Op, args: bytes = b"") -> None:
        """Send one command and wait for its ACK; resend the same sequence up to 3 times."""
        assert self._loop is not None
        self._seq = (self._seq + 1) & 0xFF
        seq = self._seq
        frame = Command(port, op, seq, args).encode()
        for _ in range(ACK_TRIES):
            waiter: asyncio.Future[Status] = self._loop.create_future()
            self._acks[(node, port, seq)] = waiter
            self._network.send_message(RPDO1 + node, frame)
            try:
                status = await asyncio.wait_for(waiter, ACK_TIMEOUT)
            except TimeoutError:
                continue
            finally:
                self._acks.pop((node, port, seq), None)
            if status != Status.DONE:
                raise CardError(f"card {node} port {port}: {op.name} refused ({status.name})",
                                status)  # fmt: skip
            return
        self._stuck(node, port, f"{op.name} not acknowledged", "silent")
        raise CardError(f"card {node} port {port}: {op.name} not acknowledged (port stuck)")

    def _on_event(self, can_id: int, data: bytes) -> None:
        try:
            event = Event.decode(data)
        except ValueError:
            return
        node = can_id - TPDO1
        card = self.cards.get(node)
        if card is not None and event.port in card.stuck:
            if event.event == Ev.ACK and card.stuck[event.port] == "silent":
                del card.stuck[event.port]  # it answers again
            elif event.event == Ev.STATE and event.args and not event.args[0] & FAULT_BIT:
                del card.stuck[event.port]  # idle, no fault latched
        if event.event == Ev.ACK:
            waiter = self._acks.get((node, event.port, event.args[0]))
            if waiter is not None and not waiter.done():
                known = event.args[1] in Status._value2member_map_  # a newer card's status
                waiter.set_result(Status(event.args[1]) if known else Status.NOT_SUPPORTED)
            return
        listener = self._ports.get((node, event.port))
        if listener is not None:
            listener(event)

    def _on_emcy(self, can_id: int, data: bytes) -> None:
        """Section 7: a port's fault goes to that port; a card's (port 0, supply) to all of its
        ports; an overrun means events may be lost, so every port is asked for its state."""
        try:
            emcy = Emcy.decode(data)
        except ValueError:
            return
        node = can_id - EMCY
        card = self.cards.get(node)
        if emcy.code != Fault.RESET:
            log.warning("card %d port %d: EMCY 0x%04X %s", node, emcy.port, emcy.code,
                        fault_reason(emcy.code))  # fmt: skip
        if emcy.code == Fault.OVERRUN:
            for port in range(1, len(card.roles) + 1) if card is not None else ():
                self.query(node, port)
            return
        whole_card = emcy.port == 0 or emcy.code == Fault.SUPPLY
        for (n, port), listener in list(self._faults.items()):
            if n == node and (whole_card or port == emcy.port):
                listener(emcy)
        if card is not None and emcy.code == Fault.RESET:
            for port in list(card.stuck) if emcy.port == 0 else [emcy.port]:
                card.stuck.pop(port, None)
        elif emcy.code == Fault.PORT_STUCK:
            self._stuck(node, emcy.port, "EMCY 0xFF02", "emcy")

    def query(self, node: int, port: int) -> None:
        """Ask for a port's ``STATE`` (it arrives as an event); a refusal is only logged."""

        async def ask() -> None:
            try:
                await self.command(node, port, Op.QUERY)
            except CardError as exc:
                log.warning("%s", exc)

        self.spawn(ask())


def parse_device(device: str) -> tuple[str, str, int, int]:
    """``socketcan:can0/3/1`` -> ("socketcan", "can0", 3, 1): interface, channel, slot, port."""
    try:
        bus, node, port = device.rsplit("/", 2)
        interface, _, channel = bus.partition(":")
        slot, number = int(node), int(port)
    except ValueError:
        raise ValueError(
            f"{device!r}: a CAN line is INTERFACE:CHANNEL/SLOT/PORT, e.g. socketcan:can0/3/1"
        ) from None
    if interface not in ("socketcan", "slcan", "virtual", "udp_multicast") or not channel:
        raise ValueError(f"{device!r}: interface is socketcan, slcan, virtual or udp_multicast")
    if not 1 <= slot <= MAX_SLOT or not 1 <= number <= 16:
        raise ValueError(f"{device!r}: slot 1-{MAX_SLOT}, port 1-16")
    return interface, channel, slot, number


_BACKPLANES: dict[tuple[str, str], Backplane] = {}


def backplane_for(interface: str, channel: str) -> Backplane:
    """One backplane per bus, shared by the lines on it (a bus is opened once)."""
    key = (interface, channel)
    if key not in _BACKPLANES:
        _BACKPLANES[key] = Backplane(interface=interface, channel=channel)
    return _BACKPLANES[key]
