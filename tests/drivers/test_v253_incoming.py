"""Incoming calls on a V.253 voice modem (SPEC C14): the driver over real ptys (pyserial) against
the emulator placing calls with caller ID, keys and hang-ups; and the hostile cases."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import serial

from appliance.drivers.at.dle import DLE
from appliance.drivers.emulators.plans import IncomingPlan
from appliance.drivers.emulators.v253 import VoiceFarm, VoiceModemSim, parse_script
from appliance.drivers.line import (
    CallEnded,
    Dtmf,
    IncomingCall,
    LineBusy,
    LineDown,
    LineError,
    LineUp,
    RingingStopped,
    Timeouts,
)
from appliance.drivers.outcome import Outcome
from appliance.drivers.ring_in import MAX_EVIDENCE
from appliance.drivers.v253.modem import VoiceModem
from tests.drivers.drivers_fakes import Collector, run
from tests.drivers.emulated import wait_event

SCALE = 0.05  # the emulator's seconds: a RING every 0.3 s, the caller ID 0.15 s after the first
RING_GONE = 0.8  # the driver's: more than two of those cadences
TIMEOUTS = Timeouts(command=0.5, dial=2.0, hang_up=1.0, setup=3.0, probe=0.2, liveness=0.4)
SCRIPT = {"time_scale": SCALE, "numbers": [{"number": "5550002", "outcome": "busy"}]}


@contextlib.asynccontextmanager
async def emulated(**modem_kw: Any) -> AsyncIterator[tuple[VoiceModemSim, VoiceModem, Collector]]:
    with tempfile.TemporaryDirectory(prefix="dialbox-v253-in-") as tmp:
        farm = VoiceFarm(1, Path(tmp), parse_script(SCRIPT), seed=1)
        farm.start()
        options: dict[str, Any] = {"timeouts": TIMEOUTS, "health_interval": 0.2,
                                   "backoff": (0.05, 0.2), "ring_gone": RING_GONE}  # fmt: skip
        options.update(modem_kw)
        modem = VoiceModem(str(Path(tmp) / "v2530"), name="line0", **options)
        events = Collector()
        modem.subscribe(events)
        try:
            await modem.open()
            yield farm.modems[0], modem, events
        finally:
            await modem.close()
            farm.stop()


def of(events: Collector, kind: type, start: int = 0) -> list[Any]:
    return [e for e in events.items[start:] if isinstance(e, kind)]


def test_caller_id_answer_keys_in_order_and_the_caller_hangs_up() -> None:
    async def main() -> None:
        async with emulated() as (sim, modem, events):
            assert modem.capabilities.answer and modem.caller_id == "AT+VCID=1"
            assert sim.caller_id  # the driver turned caller ID on at open
            plan = IncomingPlan("+15550001", keys=(("1", 1.0), ("2", 1.5), ("#", 2.0)), hangup=4)
            sim.incoming(plan)
            ringing = await wait_event(events, IncomingCall)
            assert ringing == IncomingCall("line0", "+15550001")
            answered = await modem.answer()
            assert answered.answered and not answered.ended
            assert answered.outcome is Outcome.CONNECTED and answered.number == "+15550001"
            # announced from the caller-ID block, before any second ring
            assert [e.split("=")[0] for e in answered.evidence[:4]] == [
                "RING", "DATE", "TIME", "NMBR"
            ]  # fmt: skip
            assert answered.evidence[3] == "NMBR=+15550001"
            assert "AT+VLS=1" in sim.commands and sim.off_hook
            final = await modem.wait_call_end(5)
            assert final is not None and final.ended and final.answered
            assert final.end_reason == "far end hung up"
            assert "loop current interrupted" in final.evidence
            assert [e.digit for e in of(events, Dtmf)] == ["1", "2", "#"]
            assert of(events, CallEnded)[-1].result == final
            assert len(of(events, IncomingCall)) == 1 and not of(events, RingingStopped)
            assert not sim.off_hook
            assert await modem.hang_up() == final  # ended already: the same result

    run(main(), timeout=30)


@pytest.mark.parametrize(("presentation", "shown"), [("withheld", "P"), ("unavailable", "O")])
def test_a_withheld_number_is_reported_empty_and_we_hang_up(presentation: str, shown: str) -> None:
    async def main() -> None:
        async with emulated() as (sim, modem, events):
            sim.incoming(IncomingPlan("", presentation))
            assert await wait_event(events, IncomingCall) == IncomingCall("line0", "")
            answered = await modem.answer()
            assert answered.number == "" and answered.evidence[3] == f"NMBR={shown}"
            assert answered.evidence[0] == "RING"  # known before the second ring
            assert f"caller ID: {presentation}" in answered.evidence
            ours = await modem.hang_up()
            assert ours is not None and ours.end_reason == "hung up by us" and ours.answered
            assert not sim.off_hook

    run(main(), timeout=30)


def test_no_caller_id_by_the_second_ring_is_an_unknown_number() -> None:
    """A modem that refuses +VCID and #CID: the call is announced at the second ring."""

    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            farm = VoiceFarm(1, Path(tmp), parse_script(SCRIPT))
            farm.start()
            sim = farm.modems[0]
            original = sim._op

            def no_caller_id(op: Any) -> Any:
                return "ERROR" if op.name in ("+VCID", "#CID") else original(op)

            sim._op = no_caller_id  # type: ignore[method-assign]
            modem = VoiceModem(str(Path(tmp) / "v2530"), timeouts=TIMEOUTS, ring_gone=RING_GONE)
            events = Collector()
            modem.subscribe(events)
            await modem.open()
            try:
                assert modem.caller_id is None
                sim.incoming(IncomingPlan("+15550001"))
                assert (await wait_event(events, IncomingCall)).number == ""
                answered = await modem.answer()
                assert answered.evidence[:2] == ("RING", "RING")
                assert not any(e.startswith("NMBR") for e in answered.evidence)
            finally:
                await modem.close()
                farm.stop()

    run(main(), timeout=30)


def test_the_caller_hangs_up_while_ringing() -> None:
    async def main() -> None:
        async with emulated() as (sim, modem, events):
            sim.incoming(IncomingPlan("+15550003", ring=7))  # two rings, then the caller goes
            await wait_event(events, IncomingCall)
            stopped = await wait_event(events, RingingStopped)
            assert stopped == RingingStopped("line0", "+15550003")
            with pytest.raises(LineError, match="no call is ringing"):
                await modem.answer()
            assert not sim.off_hook and not of(events, CallEnded)
            assert (await modem.dial("5550002", ring_timeout=1)).outcome is Outcome.BUSY

    run(main(), timeout=30)


def test_one_ring_and_no_caller_id_is_still_told_as_a_missed_call() -> None:
    async def main() -> None:
        async with emulated() as (sim, _, events):
            sim.caller_id = False
            sim.incoming(IncomingPlan("+15550004", ring=1))
            stopped = await wait_event(events, RingingStopped)
            assert stopped.number == ""
            kinds = [type(e) for e in events.items if isinstance(e, IncomingCall | RingingStopped)]
            assert kinds == [IncomingCall, RingingStopped]

    run(main(), timeout=30)


def test_a_dial_while_ringing_or_in_a_call_is_refused_busy() -> None:
    async def main() -> None:
        async with emulated() as (sim, modem, events):
            with pytest.raises(LineError, match="no call is ringing"):
                await modem.answer()
            sim.incoming(IncomingPlan("+15550005", ring=60))
            await wait_event(events, IncomingCall)
            with pytest.raises(LineBusy, match="ringing in"):
                await modem.dial("5550002")
            assert not any(c.startswith("ATD") for c in sim.commands)
            await modem.answer()
            with pytest.raises(LineBusy):
                await modem.dial("5550002")
            with pytest.raises(LineBusy):
                await modem.answer()
            await modem.hang_up()
            with pytest.raises(LineError, match="no call is ringing"):
                await modem.answer()  # the call was taken: nothing rings any more
            assert (await modem.dial("5550002", ring_timeout=1)).outcome is Outcome.BUSY

    run(main(), timeout=30)


NOISE = [
    "NMBR = 12ab!!",  # the first NMBR decides: unreadable
    "NMBR = 5550009",  # a second block does not change it
    "NMBR",
    "MESG = 0A1B2C",
    "ERRM",
    "DATE = 99",
    "NAME = " + "X" * 5000,
    "RINGING",
    "hello from a crossed line",
    "+VCID: garbage",
]


def test_garbage_between_rings_and_a_broken_caller_id_block_are_bounded() -> None:
    async def main() -> None:
        async with emulated() as (sim, modem, events):
            sim.caller_id = False  # only the broken block below
            sim.incoming(IncomingPlan("+15550006", keys=(("7", 0.5),), hangup=3))
            for line in NOISE + [f"NMBR = {i}" for i in range(300)]:
                sim.line(line)
            sim.port.write(bytes(range(0x80, 0x80 + 40)))  # bytes no modem sends
            assert await wait_event(events, IncomingCall) == IncomingCall("line0", "")
            for line in NOISE[:6]:  # more after the announcement
                sim.line(line)
            try:
                answered = await modem.answer()
            except LineError as exc:  # the garbage still arriving failed the answer's command
                assert "garbage" in str(exc)
                answered = await modem.answer()  # the call still rings: the next try takes it
            assert answered.number == "" and "caller ID: unreadable" in answered.evidence
            assert len(answered.evidence) <= MAX_EVIDENCE + 4  # + FCLASS, VLS and their OKs
            assert all(len(e) <= 64 for e in answered.evidence)
            final = await modem.wait_call_end(5)
            assert final is not None and final.end_reason == "far end hung up"
            assert [e.digit for e in of(events, Dtmf)] == ["7"]
            assert len(of(events, IncomingCall)) == 1 and not of(events, LineDown)
            assert modem.health().up

    run(main(), timeout=30)


def test_the_busy_tone_after_the_hang_up_while_we_go_on_hook_stays_a_hang_up() -> None:
    """The exchange's busy tone follows the loop current's drop; when it comes while our on-hook
    command is on its way (the two events split across reads, as under load in CI) it is
    evidence of the hang-up, not a busy line: the answered call stays CONNECTED, far end hung up."""

    async def main() -> None:
        async with emulated() as (sim, modem, events):
            sim.incoming(IncomingPlan("+15550012"))  # the caller stays until the test's hang-up
            await wait_event(events, IncomingCall)
            await modem.answer()
            call = modem._call  # the driver's own record: the test needs its in-between state
            assert call is not None and call.up
            sim.silent = True  # our on-hook command goes unheard until the test answers it
            sim.port.write(bytes([DLE]) + b"l")  # the far end hangs up: loop current gone
            for _ in range(500):
                if not call.up:
                    break
                await asyncio.sleep(0.01)
            assert not call.up and not call.ended.done()  # going on hook, not yet ended
            sim.port.write(bytes([DLE]) + b"b" + b"\r\nOK\r\n")  # busy tone, then the OK
            sim.silent = False
            final = await modem.wait_call_end(5)
            assert final is not None and final.answered
            assert final.outcome is Outcome.CONNECTED and final.end_reason == "far end hung up"
            assert "loop current interrupted" in final.evidence and "busy tone" in final.evidence
            assert modem.health().up

    run(main(), timeout=30)


def test_the_modem_going_silent_mid_call_takes_the_line_down_and_back() -> None:
    async def main() -> None:
        async with emulated() as (sim, modem, events):
            sim.incoming(IncomingPlan("+15550007"))  # the caller stays until we hang up
            await wait_event(events, IncomingCall)
            await modem.answer()
            n = len(events.items)
            sim.silent = True
            down = await wait_event(events, LineDown, n, timeout=10)
            assert down.reason.startswith("modem not answering")
            ended = await modem.wait_call_end(1)
            assert ended is not None and ended.outcome is Outcome.ERROR_OCCURRED
            assert ended.answered and ended.end_reason.startswith("line down")
            with pytest.raises(LineError):
                await modem.answer()
            sim.silent = False
            await wait_event(events, LineUp, n, timeout=10)
            n = len(events.items)
            sim.incoming(IncomingPlan("+15550008"))
            assert (await wait_event(events, IncomingCall, n)).number == "+15550008"
            assert (await modem.answer()).number == "+15550008"

    run(main(), timeout=60)


def test_answer_when_the_caller_has_just_gone_ends_on_the_dial_tone() -> None:
    """The rings stopped but the driver has not noticed yet: off hook gives dial tone, and the
    answered call ends at once ("far end hung up"), never left up."""

    async def main() -> None:
        async with emulated(ring_gone=30.0) as (sim, modem, events):
            sim.incoming(IncomingPlan("+15550010", ring=60))
            await wait_event(events, IncomingCall)
            sim._caller_gives_up()  # just after the announcement
            answered = await modem.answer()
            assert answered.answered
            final = await modem.wait_call_end(5)
            assert final is not None and "dial tone" in final.evidence
            assert final.end_reason == "far end hung up" and not sim.off_hook

    run(main(), timeout=30)


def test_garbage_during_the_answer_fails_it_and_the_call_can_still_be_taken() -> None:
    async def main() -> None:
        async with emulated() as (sim, modem, events):
            sim.incoming(IncomingPlan("+15550012", ring=60))
            await wait_event(events, IncomingCall)
            sim.garbage = True  # every command answered with random bytes
            with pytest.raises(LineError, match="did not answer"):
                await modem.answer()
            sim.garbage = False
            assert not of(events, RingingStopped)
            answered = await modem.answer()  # it still rings: taken on the second try
            assert answered.number == "+15550012" and answered.answered

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
        with tempfile.TemporaryDirectory() as tmp:
            farm = VoiceFarm(2, Path(tmp), parse_script(SCRIPT))
            farm.start()
            path = await farm.open_control()
            modem = VoiceModem(str(Path(tmp) / "v2531"), timeouts=TIMEOUTS, ring_gone=RING_GONE)
            events = Collector()
            modem.subscribe(events)
            await modem.open()
            try:
                answers = await ask(
                    path,
                    "v2531 incoming +15550011 keys=4@0.5,2@1.0 hangup=3",
                    "1 incoming 5550012",
                    "v2537 incoming 1",
                    "0 incoming",
                    "0 incoming 12ab",
                    "0 incoming 1 keys=1@x",
                    "0 incoming 1 keys=1@2 colour=red",
                    "0 dance",
                    "0 silent maybe",
                    "x" * 10000,
                )
                assert answers[0] == "ok"
                assert answers[1] == "error: v2531 is busy (ringing)"
                assert answers[2].startswith("error: no modem 'v2537'")
                assert "<number|withheld>" in answers[3]
                assert "the caller's number" in answers[4]
                assert "DIGIT@SECONDS" in answers[5]
                assert "colour=red" in answers[6] and "unknown action" in answers[7]
                assert "on or off" in answers[8] and "at most" in answers[9]
                assert (await wait_event(events, IncomingCall)).number == "+15550011"
                await modem.answer()
                await modem.wait_call_end(5)
                assert [e.digit for e in of(events, Dtmf)] == ["4", "2"]
                assert not farm.modems[0].off_hook and farm.modems[0].rings == 0
            finally:
                await modem.close()
                await farm.close_control()
                farm.stop()
            assert not path.exists()

    run(main(), timeout=30)


def test_a_plain_serial_client_sees_rings_caller_id_and_keys() -> None:
    """Any V.253 client (here pyserial, as vgetty would) gets RING, the block, VCON on ATA."""

    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            farm = VoiceFarm(1, Path(tmp), parse_script(SCRIPT))
            farm.start()
            port = serial.Serial(str(farm.modems[0].port.link), 115200, timeout=0)
            got = bytearray()

            async def until(marker: bytes) -> bytes:
                while marker not in got:
                    await asyncio.sleep(0.01)  # the emulator runs on this loop: let it write
                    got.extend(port.read(4096))
                return bytes(got)

            for command in (b"ATE0\r", b"AT+FCLASS=8\r", b"AT+VCID=1\r"):
                got.clear()
                port.write(command)
                await until(b"OK")
            got.clear()
            farm.control("0 incoming withheld keys=9@0.2")
            text = await until(b"NMBR = P")
            assert text.startswith(b"\r\nRING\r\n") and b"DATE = " in text
            got.clear()
            port.write(b"ATA\r")
            assert bytes([DLE]) + b"9" in await until(bytes([DLE]) + b"9")
            assert b"VCON" in got
            port.close()
            farm.stop()

    run(main(), timeout=20)
