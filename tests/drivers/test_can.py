"""Line cards on CAN: the host driver against the emulated card on python-can's virtual bus."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import can
import canopen
import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.drivers.can.card import Backplane
from appliance.drivers.can.line import CanLine
from appliance.drivers.can.protocol import Command, Ev, Op, Role, dial_digits, dial_frames
from appliance.drivers.emulators.can_card import CardScript, EmulatedCard
from appliance.drivers.emulators.plans import Plan
from appliance.drivers.line import CallEnded, Dtmf, LineDown, LineUp
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
async def backplane(**kw: Any) -> AsyncIterator[tuple[EmulatedCard, Backplane, CanLine, Collector]]:
    channel = f"dialbox-test-{next(CHANNELS)}"
    network = canopen.Network(can.Bus(interface="virtual", channel=channel))
    network.connect()
    card = EmulatedCard(network, 3, [Role.FXO, Role.FXO, Role.FXS, Role.FXS], SCRIPT)
    host = Backplane(can.Bus(interface="virtual", channel=channel), heartbeat_ms=100, **kw)
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
            events = Collector()
            line.subscribe(events)
            await line.open()
            card.plug()
            try:
                await wait_event(events, LineUp, timeout=5)
                assert host.cards[5].roles == [Role.FXO, Role.FXS]
                result = await line.dial("5550002", ring_timeout=5)
                assert result.outcome is Outcome.BUSY and "BUSY" in result.evidence
                answered = await line.dial("5550001", ring_timeout=10)
                assert answered.outcome is Outcome.CONNECTED
                assert await line.wait_call_end(5) is not None
            finally:
                card.unplug()
                await host.stop()
                adapter.close()
                network.disconnect()

    run(main(), timeout=30)
