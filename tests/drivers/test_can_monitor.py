"""The supervisor's conference on a line card (docs/line-card-protocol.md §4.5): the frames, the
emulated card's 3-party bridge (what it reports: members, mode, who hears whom) and the host's
``CanLine.monitor`` over python-can's virtual bus and over SLCAN on a pty, with the hostile cases:
a handset on hook or never lifted, the call ending, the agent or the supervisor hanging up, no
bridged call, a second supervisor, a seat on another card and a card without the feature."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import can
import canopen
import pytest

from appliance.drivers.can.card import Backplane, CardError
from appliance.drivers.can.line import CanLine
from appliance.drivers.can.protocol import (
    Command,
    Ev,
    Event,
    Mode,
    MonitorEnd,
    Op,
    Role,
    Status,
    conference_bits,
    conference_modes,
    monitor_end_reason,
)
from appliance.drivers.can.seat import CanSeat
from appliance.drivers.emulators.can_card import CONFERENCE, CardScript, EmulatedCard
from appliance.drivers.emulators.can_rack import CardRack
from appliance.drivers.line import (
    CannotConference,
    ConferenceConflict,
    ConferenceError,
    LineDown,
    LineUp,
    NotSupported,
    SeatHook,
)
from tests.drivers.drivers_fakes import Collector, run
from tests.drivers.emulated import wait_event
from tests.drivers.test_can import SCRIPT

CALL = "5550009"  # answered after 2 s, talks for 900 s (scaled)
SHORT = "5550010"  # answered, the far end hangs up 25 s in (0.5 s real)


@dataclass
class Room:
    card: EmulatedCard
    line: CanLine
    seats: dict[str, CanSeat]
    hooks: dict[str, Collector]

    async def put_down(self, port: int, seat: str) -> None:
        """A handset put down on the card, and the host has heard it (the card's conference
        events come before the seat's ON_HOOK, in order on the loop)."""
        before = len(self.hooks[seat].items)
        self.card.hang_up(port)
        await wait_event(self.hooks[seat], SeatHook, start=before)


# ---------------------------------------------------------------------- frames
def test_monitor_frames_encode_and_decode() -> None:
    frame = Command(1, Op.MONITOR, 7, bytes([3, 4, Mode.WHISPER])).encode()
    assert frame == bytes([1, 0x0D, 7, 3, 4, 2, 0, 0])
    back = Command.decode(frame)
    assert back.op is Op.MONITOR and back.args[:3] == bytes([3, 4, 2])
    assert Command(4, Op.UNMONITOR, 8).encode() == bytes([4, 0x0E, 8, 0, 0, 0, 0, 0])
    up = Event.decode(bytes([1, 0x33, 9, Mode.BARGE, 1, 3, 4, 0]))
    assert up.event is Ev.MONITORED and list(up.args[:4]) == [3, 1, 3, 4]
    end = Event.decode(bytes([4, 0x34, 10, MonitorEnd.SUPERVISOR_HUNG_UP, 1, 4, 0, 0]))
    assert (
        end.event is Ev.MONITOR_END and monitor_end_reason(end.args[0]) == "the supervisor hung up"
    )
    assert monitor_end_reason(77) == "reason 77"  # a newer card's reason
    assert conference_modes(0x05) == ("listen", "barge") and conference_modes(0) == ()
    assert conference_bits(("barge", "listen", "whisper")) == 0x07
    assert (int(Status.NOT_LIFTED), int(Status.NOT_BRIDGED)) == (9, 10)


# ---------------------------------------------------------------------- a room on one card
CHANNELS = itertools.count()


@contextlib.asynccontextmanager
async def room(script: CardScript = SCRIPT, conference: tuple[str, ...] = CONFERENCE,
               ) -> AsyncIterator[Room]:  # fmt: skip
    """Card 3 (fxo, fxo, fxs, fxs, fxs) on python-can's virtual bus: line card3.1, the agent's
    seat desk1 on port 3, the supervisors' seats sup1 and sup2 on ports 4 and 5."""
    channel = f"dialbox-monitor-{next(CHANNELS)}"
    network = canopen.Network(can.Bus(interface="virtual", channel=channel))
    network.connect()
    roles = [Role.FXO, Role.FXO, Role.FXS, Role.FXS, Role.FXS]
    card = EmulatedCard(network, 3, roles, script, conference=conference)
    host = Backplane(can.Bus(interface="virtual", channel=channel), channel=channel,
                     heartbeat_ms=100)  # fmt: skip
    line = CanLine(host, 3, 1, min_ring_timeout=0.0)
    seen = Collector()
    line.subscribe(seen)
    seats = {n: CanSeat(host, 3, p, name=n) for p, n in ((3, "desk1"), (4, "sup1"), (5, "sup2"))}
    hooks = {n: Collector() for n in seats}
    for name, seat in seats.items():
        seat.subscribe(hooks[name])
    await host.start()
    card.plug()
    try:
        await wait_event(seen, LineUp)
        for name, seat in seats.items():
            await seat.open()
            await wait_event(hooks[name], LineUp)
        yield Room(card, line, seats, hooks)
    finally:
        card.unplug()
        await host.stop()
        network.disconnect()


async def talking(line: CanLine, desk: CanSeat, number: str = CALL) -> None:
    answered = await line.dial(number, ring_timeout=10)
    assert answered.answered
    await line.connect(desk, 2.0)  # rung, lifted by the scripted agent, bridged


def conference(card: EmulatedCard, port: int) -> Any:
    return card.report(port)[0]["conference"]


def test_listen_then_barge_then_whisper_as_the_card_reports_them() -> None:
    async def main() -> None:
        async with room() as r:
            card, line, desk, sup = r.card, r.line, r.seats["desk1"], r.seats["sup1"]
            assert line.capabilities.conference == ("listen", "whisper", "barge")
            assert "3-party bridge on card 3" in line.describe_conference()
            await talking(line, desk)
            await line.monitor(sup, "listen", 2.0)  # on hook: rung, lifted by the script
            assert line.monitoring == ("sup1", "listen")
            assert conference(card, 1) == {"mode": "listen", "call": "3/1", "agent": "3/3",
                                           "supervisor": "3/4"}  # fmt: skip
            assert card.mix(1) == {1: (3,), 3: (1,), 4: (1, 3)}  # the supervisor says nothing
            assert card.ports[3].state == 9 and sup.off_hook and desk.off_hook
            await line.monitor(sup, "barge", 2.0)  # the same supervisor: a new mode
            assert card.mix(4) == {1: (3, 4), 3: (1, 4), 4: (1, 3)}  # three-way
            assert line.monitoring == ("sup1", "barge")
            await line.monitor(sup, "whisper", 2.0)
            assert card.mix(3) == {1: (3,), 3: (1, 4), 4: (1, 3)}  # the customer hears no one
            report = {p["port"]: p for p in card.report()}
            assert report["3/1"]["hears"] == ["3/3"] and report["3/3"]["hears"] == ["3/1", "3/4"]
            assert report["3/3"]["conference"]["mode"] == "whisper"
            assert [c.op for c in card.commands if c.port == 4 and c.op != Op.QUERY] == [Op.RING]
            await line.unmonitor()
            assert line.monitoring is None and conference(card, 1) is None
            assert card.ports[3].state == 6 and card.mix(1) == {1: (3,), 3: (1,)}
            assert card.ports[0].bridged == (3, 3)  # the agent's call goes on
            final = await line.hang_up()
            assert final is not None
            assert "MONITORED(listen, sup1)" in final.evidence
            assert "MONITOR_END(sup1: ended by the host)" in final.evidence
            assert [e.off_hook for e in r.hooks["sup1"].items if isinstance(e, SeatHook)] == [True]

    run(main(), timeout=30)


def test_the_call_ending_while_listening_ends_the_conference() -> None:
    async def main() -> None:
        async with room() as r:
            card, line, desk, sup = r.card, r.line, r.seats["desk1"], r.seats["sup1"]
            card.lift(4)  # the supervisor's handset is already up: no ring
            await talking(line, desk, SHORT)
            await line.monitor(sup, "listen", 2.0)
            assert Op.RING not in [c.op for c in card.commands if c.port == 4 and c.op != Op.QUERY]
            final = await line.wait_call_end(5)  # the customer hangs up
            assert final is not None
            assert "MONITOR_END(sup1: the call ended)" in final.evidence
            assert line.monitoring is None and card.ports[3].state == 6
            assert conference(card, 4) is None and card.mix(4) == {}
            with pytest.raises(ConferenceConflict, match=r"nobody listens in on line card3\.1"):
                await line.unmonitor()

    run(main(), timeout=30)


def test_the_agent_hanging_up_ends_the_conference_the_supervisor_stays_lifted() -> None:
    async def main() -> None:
        async with room() as r:
            card, line, desk, sup = r.card, r.line, r.seats["desk1"], r.seats["sup1"]
            await talking(line, desk)
            await line.monitor(sup, "barge", 2.0)
            await r.put_down(3, "desk1")  # the agent puts the handset down
            assert line.monitoring is None
            assert card.ports[3].state == 6 and card.ports[0].bridged is None
            final = await line.hang_up()
            assert (
                final is not None and "MONITOR_END(sup1: the agent left the call)" in final.evidence
            )

    run(main(), timeout=30)


def test_the_supervisor_hanging_up_ends_the_conference_and_the_call_goes_on() -> None:
    async def main() -> None:
        async with room() as r:
            card, line, desk, sup = r.card, r.line, r.seats["desk1"], r.seats["sup1"]
            await talking(line, desk)
            await line.monitor(sup, "listen", 2.0)
            await r.put_down(4, "sup1")
            assert line.monitoring is None
            assert card.ports[3].state == 0 and not sup.off_hook
            assert card.ports[0].bridged == (3, 3) and card.mix(1) == {1: (3,), 3: (1,)}
            final = await line.hang_up()
            assert final is not None
            assert "MONITOR_END(sup1: the supervisor hung up)" in final.evidence

    run(main(), timeout=30)


def test_a_supervisor_who_never_lifts_the_handset_is_refused_in_time_and_not_left_ringing() -> None:
    async def main() -> None:
        manual = CardScript(time_scale=SCRIPT.time_scale, numbers=SCRIPT.numbers, lift_after=None)
        async with room(manual) as r:
            card, line, desk, sup = r.card, r.line, r.seats["desk1"], r.seats["sup1"]
            card.lift(3)  # the agent is at the desk
            await talking(line, desk)
            with pytest.raises(ConferenceConflict, match=r"seat sup1 did not lift the handset "
                               r"within 0\.3 s"):  # fmt: skip
                await line.monitor(sup, "listen", 0.3)
            assert [c.op for c in card.commands if c.port == 4 and c.op != Op.QUERY] == [
                Op.RING,
                Op.ON_HOOK,
            ]
            assert card.ports[3].state == 0 and Op.MONITOR not in [c.op for c in card.commands]
            assert line.monitoring is None and card.ports[0].bridged == (3, 3)

    run(main(), timeout=30)


def test_the_card_refuses_monitor_with_the_reason() -> None:
    """The card's own checks, by raw commands (a host that skipped its own)."""

    async def main() -> None:
        async with room() as r:
            card, line, desk, _sup = r.card, r.line, r.seats["desk1"], r.seats["sup1"]
            host = line.backplane

            async def monitor(port: int, args: bytes) -> Status:
                try:
                    await host.command(3, port, Op.MONITOR, args)
                except CardError as exc:
                    assert exc.status is not None
                    return exc.status
                return Status.DONE

            assert await monitor(1, bytes([3, 4, 1])) == Status.NOT_BRIDGED  # no call at all
            await line.dial(CALL, ring_timeout=10)
            assert await monitor(1, bytes([3, 4, 1])) == Status.NOT_BRIDGED  # answered, no agent
            await line.connect(desk, 2.0)
            assert await monitor(1, bytes([3, 4, 1])) == Status.NOT_LIFTED  # sup1 on hook
            assert await monitor(1, bytes([3, 3, 1])) == Status.BAD_ARGUMENT  # the agent's seat
            assert await monitor(1, bytes([3, 2, 1])) == Status.BAD_ARGUMENT  # an FXO port
            assert await monitor(1, bytes([3, 4, 9])) == Status.BAD_ARGUMENT  # no such mode
            assert await monitor(1, bytes([5, 4, 1])) == Status.NOT_SUPPORTED  # another card
            assert await monitor(3, bytes([3, 4, 1])) == Status.WRONG_ROLE  # on the FXS port
            card.lift(4)
            assert await monitor(1, bytes([3, 4, 1])) == Status.DONE
            assert card.ports[0].conference == (4, Mode.LISTEN)
            card.lift(5)  # a second supervisor on the same call: one conference a call
            assert await monitor(1, bytes([3, 5, 3])) == Status.BUSY
            assert await monitor(1, bytes([3, 4, 3])) == Status.DONE  # the same one: a new mode
            assert card.ports[0].conference == (4, Mode.BARGE)

    run(main(), timeout=30)


def test_a_second_supervisor_on_the_same_call_is_refused() -> None:
    async def main() -> None:
        async with room() as r:
            card, line, desk, sup = r.card, r.line, r.seats["desk1"], r.seats["sup1"]
            sup2 = r.seats["sup2"]
            await talking(line, desk)
            await line.monitor(sup, "listen", 2.0)
            with pytest.raises(ConferenceConflict, match="supervisor seat sup1 is already on"):
                await line.monitor(sup2, "barge", 2.0)
            card.lift(5)
            with pytest.raises(CardError) as refused:  # the card refuses it too
                await line.backplane.command(3, 1, Op.MONITOR, bytes([3, 5, Mode.BARGE]))
            assert refused.value.status == Status.BUSY
            assert conference(card, 1)["supervisor"] == "3/4" and card.ports[4].state == 6

    run(main(), timeout=30)


def test_a_seat_on_another_card_and_a_line_without_a_call() -> None:
    async def main() -> None:
        async with room() as r:
            _card, line, desk, sup = r.card, r.line, r.seats["desk1"], r.seats["sup1"]
            elsewhere = CanSeat(line.backplane, 4, 2, name="sup9")
            with pytest.raises(CannotConference, match="seat sup9 is on card 4 and the call on "
                               "card 3"):  # fmt: skip
                await line.monitor(elsewhere, "listen", 1.0)
            with pytest.raises(ConferenceConflict, match=r"line card3\.1 has no call bridged"):
                await line.monitor(sup, "listen", 1.0)
            await line.dial(CALL, ring_timeout=10)  # answered, not yet with an agent
            with pytest.raises(ConferenceConflict, match="no call bridged to an agent"):
                await line.monitor(sup, "listen", 1.0)
            await line.connect(desk, 2.0)
            with pytest.raises(CannotConference, match="seat desk1 is the agent's own seat"):
                await line.monitor(desk, "listen", 1.0)
            with pytest.raises(CannotConference, match="'spy' is not a conference mode"):
                await line.monitor(sup, "spy", 1.0)
            assert issubclass(CannotConference, NotSupported)
            assert issubclass(ConferenceConflict, ConferenceError)
            await line.hang_up()

    run(main(), timeout=30)


def test_an_older_card_cannot_conference_and_says_so() -> None:
    async def main() -> None:
        async with room(conference=()) as r:
            card, line, desk, sup = r.card, r.line, r.seats["desk1"], r.seats["sup1"]
            assert line.capabilities.conference == ()
            assert "card 3 (LC-5 FXO/FXS) cannot conference: it has no object 0x200B" in (
                line.describe_conference()
            )
            await talking(line, desk)
            with pytest.raises(CannotConference, match="cannot bridge a third party in listen"):
                await line.monitor(sup, "listen", 1.0)
            # a host that asks anyway gets the card's "unknown opcode" status
            with pytest.raises(CardError) as refused:
                await line.backplane.command(3, 1, Op.MONITOR, bytes([3, 4, Mode.LISTEN]))
            assert refused.value.status == Status.NOT_SUPPORTED and card.unknown == [0x0D]
            assert card.ports[0].conference is None and card.ports[0].bridged == (3, 3)
            await line.hang_up()

    run(main(), timeout=30)


def test_a_card_that_refuses_the_op_is_reported_as_unable_to_conference() -> None:
    """A card whose object says it can, but answers MONITOR with "not supported" (a mode its
    mixer lacks, an older firmware behind a newer dictionary): CannotConference, not a hang."""

    async def main() -> None:
        async with room() as r:
            card, line, desk, sup = r.card, r.line, r.seats["desk1"], r.seats["sup1"]
            await talking(line, desk)
            card.conference = ("listen",)  # the mixer loses whisper after discovery
            with pytest.raises(CannotConference, match="card 3 refused MONITOR whisper"):
                await line.monitor(sup, "whisper", 2.0)
            assert line.monitoring is None
            await line.hang_up()

    run(main(), timeout=30)


def test_the_control_socket_reports_the_bridge_members() -> None:
    async def main() -> None:
        async with room() as r:
            card, line, desk, sup = r.card, r.line, r.seats["desk1"], r.seats["sup1"]
            rack = CardRack([card])
            await talking(line, desk)
            await line.monitor(sup, "barge", 2.0)
            said = rack.control("3 status")
            assert said is not None
            ports = {p["port"]: p for p in json.loads(said)["ports"]}
            assert ports["3/1"]["bridge"] == "3/3" and ports["3/1"]["hears"] == ["3/3", "3/4"]
            assert ports["3/4"]["conference"] == {"mode": "barge", "call": "3/1", "agent": "3/3",
                                                  "supervisor": "3/4"}  # fmt: skip
            one = rack.control("3/4 status")
            assert one is not None and [p["port"] for p in json.loads(one)["ports"]] == ["3/4"]
            assert ports["3/2"]["conference"] is None and ports["3/2"]["hears"] == []
            await line.hang_up()

    run(main(), timeout=30)


def test_over_slcan_on_a_pty_listen_and_barge() -> None:
    import tempfile
    from pathlib import Path

    import can
    import canopen

    from appliance.drivers.can.card import Backplane
    from appliance.drivers.can.protocol import Role
    from appliance.drivers.emulators.slcan import SlcanAdapter

    async def main() -> None:
        channel = f"dialbox-monitor-slcan-{next(CHANNELS)}"
        with tempfile.TemporaryDirectory() as tmp:
            network = canopen.Network(can.Bus(interface="virtual", channel=channel))
            network.connect()
            card = EmulatedCard(network, 5, [Role.FXO, Role.FXS, Role.FXS], SCRIPT)
            adapter = SlcanAdapter(can.Bus(interface="virtual", channel=channel), Path(tmp) / "can")
            bus = can.Bus(interface="slcan", channel=str(Path(tmp) / "can"), sleep_after_open=0)
            host = Backplane(bus, heartbeat_ms=100)
            line = CanLine(host, 5, 1, min_ring_timeout=0.0)
            desk, sup = CanSeat(host, 5, 2, name="desk1"), CanSeat(host, 5, 3, name="sup1")
            seen = Collector()
            sup.subscribe(seen)
            await line.open()
            await desk.open()
            await sup.open()
            card.plug()
            try:
                await wait_event(seen, LineUp, timeout=5)
                assert line.capabilities.conference == ("listen", "whisper", "barge")
                answered = await line.dial(CALL, ring_timeout=10)
                assert answered.answered
                await line.connect(desk, 2.0)
                await line.monitor(sup, "listen", 2.0)
                assert card.mix(1) == {1: (2,), 2: (1,), 3: (1, 2)}
                await line.monitor(sup, "barge", 2.0)
                assert card.mix(1) == {1: (2, 3), 2: (1, 3), 3: (1, 2)}
                final = await line.hang_up()  # the card ends the conference with the call
                assert final is not None and "MONITORED(barge, sup1)" in final.evidence
                assert card.ports[2].state == 6 and card.ports[2].monitoring is None
                assert line.monitoring is None and card.mix(3) == {}
            finally:
                card.unplug()
                await host.stop()
                adapter.close()
                network.disconnect()

    run(main(), timeout=30)


def test_a_fault_on_the_supervisors_port_ends_the_conference() -> None:
    async def main() -> None:
        async with room() as r:
            card, line, desk, sup = r.card, r.line, r.seats["desk1"], r.seats["sup1"]
            await talking(line, desk)
            await line.monitor(sup, "listen", 2.0)
            before = len(r.hooks["sup1"].items)
            card.fault(4)  # the supervisor's handset port is stuck
            await wait_event(r.hooks["sup1"], LineDown, start=before)
            assert line.monitoring is None and card.ports[0].conference is None
            assert card.ports[0].bridged == (3, 3)  # the agent's call goes on
            final = await line.hang_up()
            assert final is not None and "MONITOR_END(sup1: a port fault)" in final.evidence

    run(main(), timeout=30)


def test_the_emulators_conference_option() -> None:
    import argparse

    from appliance.cli.emulate import conference as parse

    assert parse("none") == () and parse("listen,barge") == ("listen", "barge")
    for bad in ("", "spy", "listen,spy"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected 'none' or modes"):
            parse(bad)
