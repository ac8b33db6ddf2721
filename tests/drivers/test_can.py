"""Line cards on CAN: the host driver against the emulated card on python-can's virtual bus."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import can
import canopen
import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.drivers.can.card import Backplane, CardError
from appliance.drivers.can.line import CanLine
from appliance.drivers.can.protocol import Command, Ev, Fault, Op, Role, dial_digits, dial_frames
from appliance.drivers.can.seat import CanSeat
from appliance.drivers.emulators.can_card import CardScript, EmulatedCard
from appliance.drivers.emulators.plans import Plan
from appliance.drivers.line import (
    CallEnded,
    Dtmf,
    LineDown,
    LineError,
    LineUnavailable,
    LineUp,
    NotSupported,
    SeatHook,
)
from appliance.drivers.outcome import Outcome
from tests.drivers.drivers_fakes import Collector, run
from tests.drivers.emulated import wait_event

CHANNELS = itertools.count()
SCRIPT = CardScript(
    time_scale=0.02,
    numbers={
        "5550001": Plan("answer", ring=5, talk=10, dtmf="4#"),
        "5550002": Plan("busy"),
        "5550003": Plan("no-answer"),
        "5550004": Plan("no-dialtone"),
        "5550005": Plan("sit"),
        "5550006": Plan("fax", ring=3),
        "5550007": Plan("modem", ring=3),
        "5550008": Plan("machine", ring=3, talk=10),
        "5550009": Plan("answer", ring=2, talk=900),
        "5550010": Plan("answer", ring=2, talk=25),
    },
)
EXPECTED = {
    "5550002": (Outcome.BUSY, "BUSY"),
    "5550003": (Outcome.ALERTING_TIMEOUT, "CALL_END(NO_ANSWER)"),
    "5550004": (Outcome.NO_LINE, "NO_DIAL_TONE"),
    "5550005": (Outcome.WRONG_NUMBER, "SIT(1)"),
    "5550006": (Outcome.FAX, "FAX_TONE(1)"),
    "5550007": (Outcome.INCOMPATIBLE, "MODEM_TONE(1)"),
}


@contextlib.asynccontextmanager
async def backplane(
    script: CardScript = SCRIPT, **kw: Any
) -> AsyncIterator[tuple[EmulatedCard, Backplane, CanLine, Collector]]:
    channel = f"dialbox-test-{next(CHANNELS)}"
    network = canopen.Network(can.Bus(interface="virtual", channel=channel))
    network.connect()
    card = EmulatedCard(network, 3, [Role.FXO, Role.FXO, Role.FXS, Role.FXS], script)
    host = Backplane(
        can.Bus(interface="virtual", channel=channel), channel=channel, heartbeat_ms=100, **kw
    )
    line = CanLine(host, 3, 1, min_ring_timeout=0.0)
    events = Collector()
    line.subscribe(events)
    await host.start()
    card.plug()
    try:
        await wait_event(events, LineUp)
        yield card, host, line, events
    finally:
        card.unplug()
        await host.stop()
        network.disconnect()


def test_discovery_reads_the_card_and_starts_it() -> None:
    async def main() -> None:
        async with backplane() as (card, host, line, _):
            found = host.cards[3]
            assert found.roles == [Role.FXO, Role.FXO, Role.FXS, Role.FXS]
            assert found.name == "LC-4 FXO/FXS" and found.version == 1
            assert card.operational and card.node.sdo[0x1017].raw == 100
            assert line.health().up

    run(main())


def test_every_unanswered_outcome_with_its_evidence() -> None:
    async def main() -> None:
        async with backplane() as (card, _, line, _):
            for number, (outcome, evidence) in EXPECTED.items():
                result = await line.dial(number, ring_timeout=5)
                assert result.outcome is outcome, (number, result)
                assert evidence in result.evidence, result.evidence
                assert result.ended and not result.answered
                assert card.ports[0].state == 0  # on hook again
            dialled = [dial_digits(c.args) for c in card.commands if c.op == Op.DIAL]
            assert dialled[:2] == ["5550002", "5550003"]

    run(main(), timeout=30)


def test_answered_call_keys_machine_and_far_end_hang_up() -> None:
    async def main() -> None:
        async with backplane() as (_, _, line, events):
            result = await line.dial("5550001", ring_timeout=10)
            assert result.outcome is Outcome.CONNECTED and result.answered and not result.ended
            final = await line.wait_call_end(5)
            assert final is not None and final.end_reason == "far end hung up"
            assert [e.digit for e in events.items if isinstance(e, Dtmf)] == ["4", "#"]
            assert "PERSON(80)" in final.evidence
            machine = await line.dial("5550008", ring_timeout=10)
            assert machine.outcome is Outcome.CONNECTED
            ended = await line.wait_call_end(5)
            assert ended is not None and ended.outcome is Outcome.ANSWERING_MACHINE
            assert any(isinstance(e, CallEnded) for e in events.items)

    run(main(), timeout=30)


def test_bridge_an_answered_call_to_an_agent_seat_and_unbridge() -> None:
    async def main() -> None:
        async with backplane() as (card, _, line, _):
            card.lift(3)  # the agent on FXS port 3 picks up the handset
            result = await line.dial("5550009", ring_timeout=10)
            assert result.outcome is Outcome.CONNECTED
            await line.bridge(3, 3)
            assert card.ports[0].bridged == (3, 3) and card.ports[2].bridged == (3, 1)
            await line.unbridge()
            assert card.ports[0].bridged is None and card.ports[2].bridged is None
            ours = await line.hang_up()
            assert ours is not None and ours.ended and ours.end_reason == "hung up by us"

    run(main(), timeout=30)


def test_a_card_that_vanishes_takes_its_lines_down_and_comes_back() -> None:
    async def main() -> None:
        async with backplane() as (card, host, line, events):
            dialing = asyncio.ensure_future(line.dial("5550009", ring_timeout=10))
            await asyncio.wait_for(asyncio.shield(dialing), 5)
            card.unplug()  # pulled from the backplane mid-call
            down = await wait_event(events, LineDown, timeout=5)
            assert down.reason == "heartbeat lost" and 3 not in host.cards
            ended = [e for e in events.items if isinstance(e, CallEnded)]
            assert ended and ended[-1].result.outcome is Outcome.ERROR_OCCURRED
            card.replug()
            await wait_event(events, LineUp, start=events.items.index(down), timeout=5)
            again = await line.dial("5550002", ring_timeout=1)
            assert again.outcome is Outcome.BUSY

    run(main(), timeout=30)


def test_a_refused_command_is_an_error_not_a_hang() -> None:
    async def main() -> None:
        async with backplane() as (_, host, _, _):
            from appliance.drivers.can.card import CardError

            with pytest.raises(CardError, match="WRONG_ROLE"):
                await host.command(3, 3, Op.OFF_HOOK)  # an FXS port cannot seize a line
            with pytest.raises(CardError, match="not acknowledged"):
                await host.command(9, 1, Op.QUERY)  # no card in slot 9

    run(main(), timeout=30)


@given(st.text(alphabet="0123456789*#ABCD", min_size=1, max_size=40), st.integers(0, 255))
def test_dial_frames_carry_every_digit(number: str, seq: int) -> None:
    frames = dial_frames(1, number, seq)
    assert "".join(dial_digits(f.args) for f in frames) == number
    assert all(Command.decode(f.encode()) == f for f in frames)
    assert [f.seq for f in frames] == [(seq + i) & 0xFF for i in range(len(frames))]
    assert all(f.op == Op.DIAL and len(f.encode()) == 8 for f in frames)
    assert Ev.ACK == 1


def test_over_slcan_on_a_pty() -> None:
    """The host on python-can's slcan interface through an emulated USB-CAN adapter on a pty
    (as with a CANable), the card on the other side of the adapter."""
    import tempfile
    from pathlib import Path

    from appliance.drivers.emulators.slcan import SlcanAdapter

    async def main() -> None:
        channel = f"dialbox-test-{next(CHANNELS)}"
        with tempfile.TemporaryDirectory() as tmp:
            network = canopen.Network(can.Bus(interface="virtual", channel=channel))
            network.connect()
            card = EmulatedCard(network, 5, [Role.FXO, Role.FXS], SCRIPT)
            adapter = SlcanAdapter(can.Bus(interface="virtual", channel=channel), Path(tmp) / "can")
            bus = can.Bus(interface="slcan", channel=str(Path(tmp) / "can"), sleep_after_open=0)
            host = Backplane(bus, heartbeat_ms=100)
            line = CanLine(host, 5, 1, min_ring_timeout=0.0)
            seat = CanSeat(host, 5, 2, name="desk1")
            events, seen = Collector(), Collector()
            line.subscribe(events)
            seat.subscribe(seen)
            await line.open()
            await seat.open()
            card.plug()
            try:
                await wait_event(events, LineUp, timeout=5)
                await wait_event(seen, LineUp, timeout=5)
                assert host.cards[5].roles == [Role.FXO, Role.FXS]
                result = await line.dial("5550002", ring_timeout=5)
                assert result.outcome is Outcome.BUSY and "BUSY" in result.evidence
                answered = await line.dial("5550009", ring_timeout=10)
                assert answered.outcome is Outcome.CONNECTED
                await line.connect(seat, 2.0)  # rung, lifted by the scripted agent, bridged
                assert card.ports[0].bridged == (5, 2) and seat.off_hook
                await line.play("reminder")
                final = await line.hang_up()
                assert final is not None and "PLAY_DONE(finished)" in final.evidence
            finally:
                card.unplug()
                await host.stop()
                adapter.close()
                network.disconnect()

    run(main(), timeout=30)


# ---------------------------------------------------------------------- agent seats (FXS)
Seated = tuple[EmulatedCard, Backplane, CanLine, Collector, CanSeat, Collector]


@contextlib.asynccontextmanager
async def seated(script: CardScript = SCRIPT) -> AsyncIterator[Seated]:
    """The card of ``backplane()`` with the agent seat ``desk1`` on its FXS port 3."""
    async with backplane(script) as (card, host, line, events):
        seat = CanSeat(host, 3, 3, name="desk1")
        seen = Collector()
        seat.subscribe(seen)
        await seat.open()
        await wait_event(seen, LineUp)
        yield card, host, line, events, seat, seen


def ops(card: EmulatedCard, port: int) -> list[Op]:
    return [c.op for c in card.commands if c.port == port]


def hooks(seen: Collector) -> list[bool]:
    return [e.off_hook for e in seen.items if isinstance(e, SeatHook)]


def test_seat_reports_its_handset_both_ways_and_keys_pressed_on_it() -> None:
    async def main() -> None:
        async with seated() as (card, _, _, _, seat, seen):
            assert not seat.off_hook and seat.health().up
            card.lift(3)
            lifted = await wait_event(seen, SeatHook)
            assert lifted == SeatHook("desk1", True) and seat.off_hook
            card.press(3, "5*")
            await seen.wait(len(seen.items) + 2)
            assert [e.digit for e in seen.items if isinstance(e, Dtmf)] == ["5", "*"]
            card.hang_up(3)
            down = await wait_event(seen, SeatHook, start=seen.items.index(lifted) + 1)
            assert down == SeatHook("desk1", False) and not seat.off_hook

    run(main(), timeout=30)


def test_a_restarted_host_knows_a_handset_already_lifted() -> None:
    async def main() -> None:
        async with seated() as (card, host, _, _, _, _):
            card.lift(3)  # the agent is ready, then the daemon restarts
            await host.stop()
            again = Backplane(can.Bus(interface="virtual", channel=host.channel),
                              heartbeat_ms=100)  # fmt: skip
            seat = CanSeat(again, 3, 3, name="desk1")
            seen = Collector()
            seat.subscribe(seen)
            await seat.open()
            try:
                await wait_event(seen, LineUp)
                assert seat.off_hook and hooks(seen) == [True]
            finally:
                await again.stop()

    run(main(), timeout=30)


def test_connect_rings_the_seat_the_scripted_agent_lifts_and_the_card_bridges() -> None:
    async def main() -> None:
        async with seated() as (card, _, line, _, seat, seen):
            assert line.can_reach(seat)
            answered = await line.dial("5550009", ring_timeout=10)
            assert answered.outcome is Outcome.CONNECTED
            await line.connect(seat, 2.0)
            assert ops(card, 3)[-1] == Op.RING and Op.BRIDGE in ops(card, 1)
            assert card.ports[0].bridged == (3, 3) and card.ports[2].bridged == (3, 1)
            assert hooks(seen) == [True] and seat.off_hook
            final = await line.hang_up()
            assert final is not None
            bridged = [e for e in final.evidence if e.startswith("bridged to desk1 (card3.3)")]
            assert bridged and float(bridged[0].split()[-2]) < 2.0, final.evidence
            assert card.ports[2].state == 6  # the agent's handset is still up, unbridged

    run(main(), timeout=30)


def test_a_seat_nobody_lifts_fails_the_connect_in_time_and_stops_ringing() -> None:
    async def main() -> None:
        manual = CardScript(time_scale=SCRIPT.time_scale, numbers=SCRIPT.numbers, lift_after=None)
        async with seated(manual) as (card, _, line, events, seat, _):
            await line.dial("5550009", ring_timeout=10)
            started = asyncio.get_running_loop().time()
            with pytest.raises(LineError, match=r"seat desk1 did not answer within 0\.3 s"):
                await line.connect(seat, 0.3)
            assert asyncio.get_running_loop().time() - started < 1.5
            assert ops(card, 3)[-2:] == [Op.RING, Op.ON_HOOK] and card.ports[2].state == 0
            assert Op.BRIDGE not in ops(card, 1)
            assert card.ports[0].state == 3 and not any(
                isinstance(e, CallEnded) for e in events.items
            )
            await line.play("info-no-agent")  # what the engine does next (SPEC A4)
            final = await line.hang_up()
            assert final is not None
            assert "seat desk1 did not answer within 0.3 s" in final.evidence
            assert "PLAY_DONE(finished)" in final.evidence

    run(main(), timeout=30)


def test_the_agent_puts_the_handset_down_and_the_customer_stays_on_the_line() -> None:
    async def main() -> None:
        agent = CardScript(time_scale=SCRIPT.time_scale, numbers=SCRIPT.numbers, hang_up_after=5)
        async with seated(agent) as (card, _, line, events, seat, seen):
            await line.dial("5550009", ring_timeout=10)
            await line.connect(seat, 2.0)
            lifted = await wait_event(seen, SeatHook)
            down = await wait_event(seen, SeatHook, start=seen.items.index(lifted) + 1)
            assert down == SeatHook("desk1", False) and not seat.off_hook
            assert card.ports[0].state == 3 and card.ports[0].bridged is None
            assert await line.wait_call_end(0) is None  # still up: the engine decides
            assert not any(isinstance(e, CallEnded) for e in events.items)
            final = await line.hang_up()
            assert final is not None and final.end_reason == "hung up by us"
            assert "UNBRIDGED(1)" in final.evidence

    run(main(), timeout=30)


def test_the_customer_hangs_up_while_bridged_and_the_seat_stays_off_hook() -> None:
    async def main() -> None:
        async with seated() as (card, _, line, _, seat, seen):
            await line.dial("5550010", ring_timeout=10)
            await line.connect(seat, 2.0)
            final = await line.wait_call_end(5)
            assert final is not None and final.end_reason == "far end hung up"
            assert (
                final.outcome is Outcome.CONNECTED and "CALL_END(REMOTE_HANGUP)" in final.evidence
            )
            assert seat.off_hook and hooks(seen) == [True] and card.ports[2].state == 6
            again = await line.dial("5550009", ring_timeout=10)  # the agent takes the next one
            assert again.answered
            await line.connect(seat, 2.0)  # at once: the handset is up, no RING this time
            assert ops(card, 3).count(Op.RING) == 1
            await line.hang_up()

    run(main(), timeout=30)


def test_seats_out_of_reach_and_ports_of_the_wrong_role() -> None:
    async def main() -> None:
        async with seated() as (_, host, line, _, seat, _):
            elsewhere = CanSeat(Backplane(), 3, 3, name="other-bus")
            on_card_5 = CanSeat(host, 5, 1, name="card5")
            assert line.can_reach(seat)
            assert not line.can_reach(elsewhere) and not line.can_reach(on_card_5)
            with pytest.raises(LineError, match="no answered call"):
                await line.connect(seat, 2.0)
            await line.dial("5550009", ring_timeout=10)
            with pytest.raises(NotSupported, match="only FXS ports of card 3"):
                await line.connect(on_card_5, 2.0)
            await line.hang_up()
            with pytest.raises(LineError, match="card 3 port 2 is FXO, not FXS"):
                await CanSeat(host, 3, 2, name="desk9").open()
            with pytest.raises(LineError, match="card 3 port 4 is FXS, not FXO"):
                await CanLine(host, 3, 4).open()

    run(main(), timeout=30)


# ---------------------------------------------------------------------- messages
def test_play_a_stored_message_into_the_answered_call() -> None:
    async def main() -> None:
        async with backplane() as (card, _, line, _):
            assert line.capabilities.playback
            with pytest.raises(LineError, match="no answered call"):
                await line.play("reminder")
            await line.dial("5550009", ring_timeout=10)
            await line.play("info-no-agent")
            play = [c for c in card.commands if c.op == Op.PLAY]
            assert [(c.port, c.args[0], c.args[1]) for c in play] == [(1, 2, 1)]  # index 2, once
            assert card.ports[0].state == 3 and card.ports[0].playing is None
            with pytest.raises(LineError, match="has no message 'welcome'; it has reminder, "
                               "info-no-agent"):  # fmt: skip
                await line.play("welcome")
            final = await line.hang_up()
            assert final is not None
            after = final.evidence[final.evidence.index("PLAY info-no-agent") :]
            assert "PLAY_DONE(finished)" in after
            assert any(e.startswith("played info-no-agent (finished, ") for e in after), after

    run(main(), timeout=30)


# ---------------------------------------------------------------------- faults (SPEC H6)
def test_a_stuck_port_ends_its_call_goes_down_and_comes_back_when_cleared() -> None:
    async def main() -> None:
        async with backplane() as (card, host, line, events):
            await line.dial("5550009", ring_timeout=10)
            mark = len(events.items)
            card.fault(1, Fault.PORT_STUCK)
            down = await wait_event(events, LineDown, start=mark)
            assert down == LineDown(line.name, "port stuck")
            ended = [e.result for e in events.items[mark:] if isinstance(e, CallEnded)]
            assert ended and ended[0].outcome is Outcome.ERROR_OCCURRED
            assert "EMCY 0xFF02 port stuck" in ended[0].evidence
            assert not line.health().up and line.health().last_error == "port stuck"
            with pytest.raises(LineUnavailable, match="port stuck"):
                await line.dial("5550002")
            with pytest.raises(CardError, match="PORT_FAULT"):
                await host.command(3, 1, Op.OFF_HOOK)
            card.clear(1)
            await wait_event(events, LineUp, start=events.items.index(down))
            again = await line.dial("5550002", ring_timeout=1)
            assert again.outcome is Outcome.BUSY

    run(main(), timeout=30)


def test_a_card_supply_fault_takes_every_port_down_lines_and_seats() -> None:
    async def main() -> None:
        async with seated() as (card, host, line, events, seat, seen):
            other = CanLine(host, 3, 2, name="line2")
            others = Collector()
            other.subscribe(others)
            await other.open()
            await wait_event(others, LineUp)
            card.fault(0, Fault.SUPPLY)
            reason = "card supply voltage out of range"
            for collected, name in ((events, line.name), (others, "line2"), (seen, "desk1")):
                assert await wait_event(collected, LineDown) == LineDown(name, reason)
            assert card.node.sdo[0x1001].raw & 0x04  # error register: voltage
            card.clear(0)
            for collected in (events, others, seen):
                down = next(e for e in collected.items if isinstance(e, LineDown))
                await wait_event(collected, LineUp, start=collected.items.index(down))
            assert line.health().up and other.health().up and seat.health().up

    run(main(), timeout=30)


async def _until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait for a state the bus reaches through frames (checked every 10 ms, not a timed sleep)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
    assert condition(), what


def _stuck_ports(host: Backplane) -> set[int]:
    found = host.cards.get(3)
    return set(found.stuck) if found is not None and found.up else set()


def test_a_card_whose_every_port_is_stuck_is_reset_and_its_lines_come_back() -> None:
    async def main() -> None:
        async with backplane() as (card, host, line, events):
            await line.dial("5550009", ring_timeout=10)
            for port in (1, 2, 3):
                card.fault(port, Fault.PORT_STUCK)
            down = await wait_event(events, LineDown)
            await _until(lambda: _stuck_ports(host) == {1, 2, 3}, "three ports stuck")
            assert card.resets == 0 and not host.resets  # one port still works: no reset
            card.fault(4, Fault.PORT_STUCK)
            await _until(lambda: card.resets == 1, "the card reset by NMT")
            assert host.resets == {3: 1}
            await wait_event(events, LineUp, start=events.items.index(down))
            assert all(p.fault is None for p in card.ports) and _stuck_ports(host) == set()
            assert (await line.dial("5550002", ring_timeout=1)).outcome is Outcome.BUSY

    run(main(), timeout=30)


def test_a_card_stuck_again_after_its_reset_is_left_for_a_person(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with backplane() as (card, host, line, events):
            card.fault(0, Fault.PORT_STUCK, lasting=True)  # the hardware is broken for good
            await _until(lambda: card.resets == 1, "the first reset")
            await _until(lambda: _stuck_ports(host) == {1, 2, 3, 4}, "stuck again after it")
            assert card.resets == 1 and host.resets == {3: 1}  # not a reset loop
            assert "needs a person" in caplog.text
            assert not line.health().up and line.health().last_error == "port stuck"
            mark = len(events.items)
            card.clear(0)  # a technician fixed it
            await wait_event(events, LineUp, start=mark)
            assert _stuck_ports(host) == set()

    run(main(), timeout=30)


def test_after_an_overrun_every_port_is_asked_so_a_lost_hook_event_is_found() -> None:
    async def main() -> None:
        async with seated() as (card, _, _, _, seat, seen):
            card.ports[2].state = 6  # the handset went up, its OFF_HOOK frame was lost
            card.fault(0, Fault.OVERRUN)
            assert await wait_event(seen, SeatHook) == SeatHook("desk1", True)
            assert seat.off_hook and seat.health().up
            queried = {c.port for c in card.commands if c.op == Op.QUERY}
            assert queried >= {1, 2, 3}

    run(main(), timeout=30)


def test_the_emulators_handsets_option() -> None:
    import argparse

    from appliance.cli.emulate import handsets

    assert handsets("manual") == (None, None)
    assert handsets("lift=0.4") == (0.4, None)
    assert handsets("lift=1,hang-up=30") == (1.0, 30.0)
    for wrong in ("lift=soon", "lift=1,lift=2", "ring=3", "lift=-1"):
        with pytest.raises(argparse.ArgumentTypeError, match="'manual' or 'lift=SECONDS"):
            handsets(wrong)


def test_an_answered_call_on_a_pulled_card_is_an_error_for_whoever_asks_afterwards() -> None:
    async def main() -> None:
        async with backplane() as (card, _host, line, events):
            answered = await line.dial("5550009", ring_timeout=10)
            assert answered.outcome is Outcome.CONNECTED and not answered.ended
            card.unplug()
            await wait_event(events, LineDown, timeout=5)
            ended = await line.wait_call_end(1)
            assert ended is not None, "the call's end is lost once the line dropped it"
            assert ended.outcome is Outcome.ERROR_OCCURRED and ended.answered
            hung = await line.hang_up()
            assert hung is not None and hung.outcome is Outcome.ERROR_OCCURRED

    run(main(), timeout=30)
