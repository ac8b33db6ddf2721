"""Incoming calls on a line card's FXO port (SPEC C14, docs/line-card-protocol.md §4.4, §5.1):
the host driver against the emulated card on python-can's virtual bus, and hostile frames."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import can
import canopen
import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.drivers.can.card import Backplane, CardError
from appliance.drivers.can.line import MAX_CALLER_FRAMES, CanLine
from appliance.drivers.can.protocol import (
    RPDO1,
    TPDO1,
    CallerIdReader,
    Ev,
    Event,
    Fault,
    Op,
    Presentation,
    Role,
    State,
    Status,
    caller_id_frames,
)
from appliance.drivers.emulators import can_card
from appliance.drivers.emulators.can_card import CardScript, EmulatedCard
from appliance.drivers.emulators.can_rack import CardRack
from appliance.drivers.emulators.plans import IncomingPlan, Plan
from appliance.drivers.line import (
    CallEnded,
    Dtmf,
    IncomingCall,
    LineBusy,
    LineDown,
    LineError,
    LineUp,
    RingingStopped,
)
from appliance.drivers.outcome import Outcome
from tests.drivers.drivers_fakes import Collector, run
from tests.drivers.emulated import wait_event

CHANNELS = itertools.count()
# a ring every 0.3 s, the caller ID 0.15 s after the first
SCRIPT = CardScript(time_scale=0.05, numbers={"5550002": Plan("busy")})
RING_GONE = 0.8


@contextlib.asynccontextmanager
async def backplane(
    ring_gone: float = RING_GONE,
) -> AsyncIterator[tuple[EmulatedCard, CanLine, Collector, Collector]]:
    """Card 3: ports 1, 2 FXO, 3, 4 FXS; lines on ports 1 and 2 (events of each)."""
    channel = f"dialbox-in-{next(CHANNELS)}"
    network = canopen.Network(can.Bus(interface="virtual", channel=channel))
    network.connect()
    card = EmulatedCard(network, 3, [Role.FXO, Role.FXO, Role.FXS, Role.FXS], SCRIPT)
    host = Backplane(can.Bus(interface="virtual", channel=channel), channel=channel,
                     heartbeat_ms=100)  # fmt: skip
    line = CanLine(host, 3, 1, min_ring_timeout=0.0, ring_gone=ring_gone)
    other = CanLine(host, 3, 2, name="line2", ring_gone=ring_gone)
    events, others = Collector(), Collector()
    line.subscribe(events)
    other.subscribe(others)
    await host.start()
    card.plug()
    try:
        await wait_event(events, LineUp)
        await wait_event(others, LineUp)
        yield card, line, events, others
    finally:
        card.unplug()
        await host.stop()
        network.disconnect()


def of(events: Collector, kind: type, start: int = 0) -> list[Any]:
    return [e for e in events.items[start:] if isinstance(e, kind)]


def inject(card: EmulatedCard, port: int, event: Ev, args: bytes = b"") -> None:
    """A frame as a card would send it (a broken or a newer card)."""
    card.network.send_message(TPDO1 + card.slot, Event(port, event, 0, args).encode())


def test_caller_id_answer_keys_in_order_and_the_caller_hangs_up() -> None:
    async def main() -> None:
        async with backplane() as (card, line, events, others):
            assert line.capabilities.answer
            plan = IncomingPlan("+15550001", keys=(("1", 1.0), ("2", 1.5), ("#", 2.0)), hangup=4)
            card.incoming(1, plan)
            assert await wait_event(events, IncomingCall) == IncomingCall("card3.1", "+15550001")
            answered = await line.answer()
            assert answered.answered and not answered.ended and answered.number == "+15550001"
            assert answered.outcome is Outcome.CONNECTED
            # announced from the CALLER_ID frames, before a second ring
            assert answered.evidence[:3] == ("INCOMING_RING(1)", "CALLER_ID(+15550001)", "ANSWER")
            assert card.ports[0].state == State.ANSWERED
            final = await line.wait_call_end(5)
            assert final is not None and final.end_reason == "far end hung up"
            assert "CALL_END(REMOTE_HANGUP)" in final.evidence
            assert [e.digit for e in of(events, Dtmf)] == ["1", "2", "#"]
            assert of(events, CallEnded)[-1].result == final
            assert len(of(events, IncomingCall)) == 1 and not of(events, RingingStopped)
            assert card.ports[0].state == 0 and not others.items[1:]  # port 2 heard nothing

    run(main(), timeout=30)


def test_a_late_caller_id_timer_still_sends_the_number_before_the_second_ring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression (fresh-clone run, #23): on a loaded host the card's caller-ID timer fired after
    its second-ring timer and the call was announced without a number. The caller ID is decoded
    between the first two rings; here its timer is set past the second ring on purpose."""
    monkeypatch.setattr(can_card, "CALLER_ID_AFTER", 9.0)  # the second ring is at 6 s

    async def main() -> None:
        async with backplane() as (card, _line, events, _):
            card.incoming(1, IncomingPlan("+15550003", ring=30))
            call = await wait_event(events, IncomingCall)
            assert call == IncomingCall("card3.1", "+15550003")
            assert card.ports[0].rings == 2  # announced at the second ring, with the number

    run(main(), timeout=30)


@pytest.mark.parametrize("presentation", ["withheld", "unavailable"])
def test_a_withheld_number_is_reported_empty_and_we_hang_up(presentation: str) -> None:
    async def main() -> None:
        async with backplane() as (card, line, events, _):
            card.incoming(1, IncomingPlan("", presentation))
            assert await wait_event(events, IncomingCall) == IncomingCall("card3.1", "")
            answered = await line.answer()
            assert answered.evidence[:2] == ("INCOMING_RING(1)", f"caller ID: {presentation}")
            ours = await line.hang_up()
            assert ours is not None and ours.end_reason == "hung up by us" and ours.answered
            assert card.ports[0].state == 0

    run(main(), timeout=30)


def test_the_caller_hangs_up_while_ringing() -> None:
    async def main() -> None:
        async with backplane(ring_gone=60.0) as (card, line, events, _):
            card.incoming(1, IncomingPlan("+15550003", ring=7))  # two rings, then gone
            await wait_event(events, IncomingCall)
            # the card's RINGING_STOPPED says so at once (the host's own timer is 60 s here)
            stopped = await wait_event(events, RingingStopped)
            assert stopped == RingingStopped("card3.1", "+15550003")
            with pytest.raises(LineError, match="no call is ringing"):
                await line.answer()
            assert card.ports[0].state == 0 and not of(events, CallEnded)
            assert not any(c.op == Op.ANSWER for c in card.commands)

    run(main(), timeout=30)


def test_rings_that_stop_without_a_word_are_stopped_by_the_host_timer() -> None:
    """A lost RINGING_STOPPED frame: no INCOMING_RING for ring_gone is the end."""

    async def main() -> None:
        async with backplane() as (card, _, events, _):
            inject(card, 1, Ev.INCOMING_RING, bytes([1]))
            inject(card, 1, Ev.INCOMING_RING, bytes([2]))
            assert await wait_event(events, IncomingCall) == IncomingCall("card3.1", "")
            assert await wait_event(events, RingingStopped) == RingingStopped("card3.1", "")

    run(main(), timeout=30)


def test_the_card_refuses_the_answer_when_the_caller_has_just_gone() -> None:
    async def main() -> None:
        async with backplane(ring_gone=60.0) as (card, line, events, _):
            inject(card, 1, Ev.INCOMING_RING, bytes([1]))
            inject(card, 1, Ev.INCOMING_RING, bytes([2]))  # the emulated port itself is idle
            await wait_event(events, IncomingCall)
            with pytest.raises(LineError, match="hung up before the answer"):
                await line.answer()
            assert not of(events, CallEnded)
            busy = await line.dial("5550002", ring_timeout=5)  # the line dials again
            assert busy.outcome is Outcome.BUSY

    run(main(), timeout=30)


def test_a_dial_while_ringing_or_in_a_call_is_refused_busy() -> None:
    async def main() -> None:
        async with backplane() as (card, line, events, _):
            with pytest.raises(LineError, match="no call is ringing"):
                await line.answer()
            card.incoming(1, IncomingPlan("+15550005", ring=60))
            await wait_event(events, IncomingCall)
            with pytest.raises(LineBusy, match="ringing in"):
                await line.dial("5550002")
            assert not any(c.op == Op.OFF_HOOK for c in card.commands)
            await line.answer()
            with pytest.raises(LineBusy):
                await line.dial("5550002")
            with pytest.raises(LineBusy):
                await line.answer()
            ours = await line.hang_up()
            assert ours is not None and ours.end_reason == "hung up by us"
            assert card.ports[0].state == 0

    run(main(), timeout=30)


def test_broken_caller_id_frames_and_frames_for_unknown_ports() -> None:
    async def main() -> None:
        async with backplane() as (card, line, events, others):
            for port in (0, 9, 200, 3):  # the card itself, no such ports, an FXS port
                inject(card, port, Ev.INCOMING_RING, bytes([1]))
                inject(card, port, Ev.CALLER_ID, bytes([0, 0, 4, 0x12, 0x34]))
            card.network.send_message(TPDO1 + 3, bytes([1, 0x7E, 0, 1, 2, 3, 4, 5]))  # new event
            card.network.send_message(TPDO1 + 3, bytes([1, Ev.CALLER_ID]))  # short frame
            card.network.send_message(TPDO1 + 17, bytes([1, Ev.INCOMING_RING, 0, 1, 0, 0, 0, 0]))
            card.incoming(1, IncomingPlan("+15550006", keys=(("7", 0.5),), hangup=3))
            inject(card, 1, Ev.CALLER_ID, bytes([1, 0x55, 0x55, 0x55, 0x55]))  # out of order
            for _ in range(50):  # a flood: a frame 0 with 200 digits, then anything
                inject(card, 1, Ev.CALLER_ID, bytes([0, 0, 200, 0x12, 0x34]))
            assert await wait_event(events, IncomingCall) == IncomingCall("card3.1", "")
            answered = await line.answer()  # the card's own CALLER_ID came too late to count
            assert answered.number == "" and "caller ID: unreadable" in answered.evidence
            assert len(answered.evidence) <= 13
            final = await line.wait_call_end(5)
            assert final is not None and final.end_reason == "far end hung up"
            assert [e.digit for e in of(events, Dtmf)] == ["7"]
            assert len(of(events, IncomingCall)) == 1 and line.health().up
            assert others.items[1:] == []  # nothing reached port 2

    run(main(), timeout=30)


@pytest.mark.parametrize(
    "args",
    [
        [bytes([0, 9, 3, 0x12, 0x30])],  # an unknown presentation
        [bytes([0, 0, 2, 0xCD, 0])],  # DTMF A-D are no caller's digits
        [bytes([0, 0, 0, 0, 0])],  # a number of no digits
        [bytes([0, 0, 33, 0, 0])],  # over 32 digits
        [bytes([0, 0, 6, 0x12, 0x34]), bytes([2, 0x56, 0, 0, 0])],  # frame 1 missing
        [bytes([0, Presentation.ERROR, 0, 0, 0])],  # the card could not decode it
    ],
)
def test_a_caller_id_that_cannot_be_read_is_empty(args: list[bytes]) -> None:
    reader = CallerIdReader()
    results = [reader.feed(a) for a in args]
    assert results[-1] == ("", "unreadable") and reader.done
    assert reader.feed(bytes([0, 0, 1, 0x10, 0])) is None  # nothing counts after the end


@given(
    st.text("0123456789*#", min_size=1, max_size=32),
    st.booleans(),
)
def test_caller_id_frames_carry_any_number(digits: str, international: bool) -> None:
    number = ("+" if international else "") + digits
    frames = caller_id_frames(number)
    assert len(frames) <= 5 and all(len(f) == 5 for f in frames)  # bytes 3-7 of a TPDO1
    reader = CallerIdReader()
    assert [reader.feed(f) for f in frames][-1] == (number, "number")
    assert len(frames) <= MAX_CALLER_FRAMES


def test_the_card_acknowledges_an_opcode_it_does_not_know() -> None:
    """A host newer than the card (§10): status 3, never silence that looks like a stuck port."""

    async def main() -> None:
        async with backplane() as (_, line, _, _):
            loop = asyncio.get_running_loop()
            acks: asyncio.Queue[bytes] = asyncio.Queue()

            def heard(can_id: int, data: bytearray, timestamp: float) -> None:
                if data[1] == Ev.ACK:
                    loop.call_soon_threadsafe(acks.put_nowait, bytes(data))

            host = line.backplane._network  # the host's side of the bus
            host.subscribe(TPDO1 + 3, heard)
            host.send_message(RPDO1 + 3, bytes([1, 0x7E, 77, 0, 0, 0, 0, 0]))
            ack = await asyncio.wait_for(acks.get(), 5)
            assert ack[3:6] == bytes([77, Status.NOT_SUPPORTED, 0x7E])

    run(main(), timeout=30)


# ------------------------------------------------------------------ the control socket
async def ask(path: Path, *lines: str) -> list[str]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    answers = []
    for line in lines:
        writer.write(line.encode() + b"\n")
        await writer.drain()
        answers.append((await reader.readline()).decode().strip())
    writer.close()
    return answers


def test_the_control_socket_places_calls_and_refuses_bad_commands() -> None:
    async def main() -> None:
        async with backplane() as (card, line, events, _):
            rack = CardRack([card], SCRIPT.time_scale)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "card.sock"
                await rack.open_control(path)
                try:
                    answers = await ask(
                        path,
                        "3/1 incoming +15550011 keys=4@0.5 hangup=3",
                        "1 incoming 5550012",
                        "3/3 incoming 5550012",
                        "9/1 incoming 1",
                        "3/7 incoming 1",
                        "3/2 incoming nobody",
                        "3/2 press 12x",
                        "3/2 fault banana",
                        "3 explode",
                    )
                finally:
                    await rack.close()
            assert answers[0] == "ok"
            assert answers[1] == "error: card 3 port 1 is busy (state 8)"
            assert "FXS" in answers[2] and "no card in slot '9'" in answers[3]
            assert "ports 1-4" in answers[4] and "the caller's number" in answers[5]
            assert "DTMF" in answers[6] and "EMCY code" in answers[7]
            assert "unknown action 'explode'" in answers[8]
            assert (await wait_event(events, IncomingCall)).number == "+15550011"
            await line.answer()
            await line.wait_call_end(5)
            assert [e.digit for e in of(events, Dtmf)] == ["4"]

    run(main(), timeout=30)


def test_an_ack_status_the_host_does_not_know_is_a_refusal_not_a_stuck_port() -> None:
    """A newer card's status (as status 8 is new to an older host) must not be lost: the
    command is refused at once, not retried until the port counts as stuck."""

    async def main() -> None:
        async with backplane() as (card, line, _, _):
            card._execute = lambda command: 0x55  # type: ignore[method-assign,assignment,return-value]
            with pytest.raises(CardError) as refused:
                await line.backplane.command(3, 1, Op.QUERY)
            assert refused.value.status is Status.NOT_SUPPORTED
            assert "refused" in str(refused.value) and not line.backplane.cards[3].stuck

    run(main(), timeout=30)


def test_a_port_fault_mid_call_ends_the_answered_call_and_the_port_comes_back() -> None:
    async def main() -> None:
        async with backplane() as (card, line, events, _):
            card.incoming(1, IncomingPlan("+15550013"))  # the caller stays
            await wait_event(events, IncomingCall)
            await line.answer()
            n = len(events.items)
            card.fault(1, Fault.PORT_STUCK)
            down = await wait_event(events, LineDown, n)
            assert down.reason == "port stuck"
            ended = await line.wait_call_end(1)
            assert ended is not None and ended.outcome is Outcome.ERROR_OCCURRED and ended.answered
            with pytest.raises(LineError):
                await line.answer()
            card.clear(1)
            await wait_event(events, LineUp, n)
            card.incoming(1, IncomingPlan("+15550014"))
            assert (await wait_event(events, IncomingCall, n)).number == "+15550014"

    run(main(), timeout=30)
