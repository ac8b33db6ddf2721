"""Calls ringing in (SPEC C14, issue 23): the GSM driver against the emulator over real ptys.

Each dialect places the call as its module does (``RING``/``+CRING: VOICE``, ``+CLIP`` in its
form or none when withheld, direction-1 rows), answers ``ATA`` (``OK``, ZTE ``CONNECT``), plays
the caller's keys as its DTMF URC and tells the caller's hang-up its way (``NO CARRIER``,
``MISSED_CALL:``, ``^CEND``, ``+WIND: 6``, release rows, or the rings just stopping on ZTE).
Times are the emulator's scripted seconds scaled by TIME_SCALE (0.02): 50 s is 1 real second.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from appliance.drivers.emulators.gsm.farm import ControlError
from appliance.drivers.gsm.incoming import caller_number, parse_clip
from appliance.drivers.line import (
    CallEnded,
    Dtmf,
    IncomingCall,
    LineBusy,
    LineDown,
    LineError,
    LineUp,
    PhoneSeat,
    RingingStopped,
)
from appliance.drivers.outcome import Outcome
from tests.drivers.drivers_fakes import Collector, run
from tests.drivers.emulated import TIMEOUTS, emulated, wait_event
from tests.drivers.test_dialects import DIALECT_PROFILES

DIALECTS = sorted(DIALECT_PROFILES)
#: The families whose modules report the far end's keys (the others lose them, as there).
DTMF_DIALECTS = {"simcom", "sim800", "quectel", "huawei", "ublox"}
#: No +CLIP when the caller withholds the number: the call is announced at the second ring.
NO_CLIP_WHEN_WITHHELD = {"wavecom", "zte"}

CALLER = "+48601234567"
BUSY = "+15550000002"
AGENT = "+48500000001"
SCRIPT: dict[str, Any] = {
    "numbers": [{"number": AGENT, "outcome": "answer", "ring": 1, "talk": 400}],
}


def of(events: Collector, kind: type, start: int = 0) -> list[Any]:
    return [e for e in events.items[start:] if isinstance(e, kind)]


async def keys(events: Collector, start: int, count: int, timeout: float = 5.0) -> list[str]:
    """The digits of the first ``count`` Dtmf events from ``start``."""
    while len(found := of(events, Dtmf, start)) < count:
        await events.wait(len(events.items) + 1, timeout)
    return [e.digit for e in found[:count]]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_incoming_call_is_announced_answered_and_its_keys_and_end_arrive(dialect: str) -> None:
    async def main() -> None:
        async with emulated(dialect) as (farm, modem, events):
            assert modem.capabilities.answer
            n = len(events.items)
            # keys at 0.2/0.4/0.4 s real after the answer, the caller hangs up at 1 s
            farm.control(f"0 incoming {CALLER} keys=1@10,9@20,#@20 hangup=50 ring=400")
            incoming = await wait_event(events, IncomingCall, n)
            assert (incoming.line, incoming.number) == ("gsm0", CALLER)
            answered = await modem.answer()
            assert answered.answered and not answered.ended, answered
            assert answered.number == CALLER and answered.outcome is Outcome.CONNECTED
            assert "ATA" in answered.evidence
            with pytest.raises(LineBusy):  # the call is up: no second answer, no dial
                await modem.answer()
            with pytest.raises(LineBusy):
                await modem.dial(BUSY, ring_timeout=1.0)
            if dialect in DTMF_DIALECTS:
                assert modem.capabilities.dtmf_detect
                assert await keys(events, n, 3) == ["1", "9", "#"]
            final = await modem.wait_call_end(5.0)
            assert final is not None and final.ended and final.answered, final
            assert final.end_reason == "far end hung up" and final.number == CALLER
            ended = await wait_event(events, CallEnded, n)
            assert ended.result == final
            assert len(of(events, IncomingCall, n)) == 1, events.items[n:]
            assert of(events, RingingStopped, n) == []
            if dialect not in DTMF_DIALECTS:
                assert not modem.capabilities.dtmf_detect and of(events, Dtmf, n) == []
            assert farm.modems[0].calls.calls == []
            # outgoing calls work as before once the caller is gone
            busy = await modem.dial(BUSY, ring_timeout=1.0)
            assert busy.outcome in (Outcome.BUSY, Outcome.REJECTED), busy

    run(main(), timeout=40)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_withheld_caller_is_announced_with_no_number_and_hung_up_by_us(dialect: str) -> None:
    async def main() -> None:
        async with emulated(dialect) as (farm, modem, events):
            n = len(events.items)
            farm.control("0 incoming withheld ring=400")
            incoming = await wait_event(events, IncomingCall, n)
            assert incoming.number == ""
            answered = await modem.answer()
            assert answered.number == "" and answered.answered and not answered.ended
            assert ("no caller ID by ring 2" in answered.evidence) is (
                dialect in NO_CLIP_WHEN_WITHHELD
            )
            hung = await modem.hang_up()
            assert hung is not None and hung.end_reason == "hung up by us", hung
            assert hung.outcome is Outcome.CONNECTED and hung.answered
            assert (await wait_event(events, CallEnded, n)).result == hung
            assert farm.modems[0].calls.calls == []
            assert len(of(events, IncomingCall, n)) == 1

    run(main(), timeout=30)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_caller_hanging_up_while_it_rings_stops_the_ringing(dialect: str) -> None:
    """The caller gives up after 20 s (0.4 s real) of ringing: RingingStopped with the
    caller's number (ZTE says nothing: the rings stop, Timeouts.hang_up later), and answer()
    raises LineError; the line dials at once afterwards."""

    async def main() -> None:
        async with emulated(dialect) as (farm, modem, events):
            n = len(events.items)
            farm.control(f"0 incoming {CALLER} ring=20")
            assert (await wait_event(events, IncomingCall, n)).number == CALLER
            stopped = await wait_event(events, RingingStopped, n, timeout=3.0)
            assert (stopped.line, stopped.number) == ("gsm0", CALLER)
            with pytest.raises(LineError, match="no call is ringing in"):
                await modem.answer()
            assert len(of(events, RingingStopped, n)) == 1 and of(events, CallEnded, n) == []
            busy = await modem.dial(BUSY, ring_timeout=1.0)
            assert busy.outcome in (Outcome.BUSY, Outcome.REJECTED), busy

    run(main(), timeout=30)


def test_dial_while_a_call_rings_in_is_refused_and_answer_needs_a_ringing_call() -> None:
    async def main() -> None:
        async with emulated("quectel") as (farm, modem, events):
            with pytest.raises(LineError, match="no call is ringing in") as nothing:
                await modem.answer()
            assert not isinstance(nothing.value, LineBusy)
            n = len(events.items)
            farm.control(f"0 incoming {CALLER} ring=400")
            await wait_event(events, IncomingCall, n)
            with pytest.raises(LineBusy, match="ringing in"):
                await modem.dial(BUSY, ring_timeout=1.0)
            assert not any(c.upper().startswith("ATD") for c in farm.modems[0].commands)
            assert (await modem.answer()).answered
            await modem.hang_up()

    run(main(), timeout=30)


def test_ring_storm_without_caller_id_is_one_call() -> None:
    """Hundreds of RINGs in a burst and no +CLIP: one IncomingCall (""), then, when they stop,
    one RingingStopped; the line stays up and dials afterwards."""

    async def main() -> None:
        async with emulated("generic") as (farm, modem, events):
            n = len(events.items)
            for _ in range(300):
                farm.modems[0].urc("RING")
            stopped = await wait_event(events, RingingStopped, n, timeout=5.0)
            assert stopped.number == ""
            assert [e.number for e in of(events, IncomingCall, n)] == [""]
            assert of(events, LineDown, n) == [] and modem.health().up
            busy = await modem.dial(BUSY, ring_timeout=1.0)
            assert busy.outcome in (Outcome.BUSY, Outcome.REJECTED), busy

    run(main(), timeout=30)


def test_garbage_while_ringing_does_not_derail_the_call() -> None:
    """Malformed caller IDs, a fax ring, rows of other calls and a few binary bytes while the
    call rings: it is announced once with the real number and answered."""

    async def main() -> None:
        async with emulated("simcom") as (farm, modem, events):
            emulated_modem = farm.modems[0]
            n = len(events.items)
            for text in ('+CLIP: "12<>3",999', "+CLIP: garbage", "+CRING: FAX", "+CLCC: x,y"):
                emulated_modem.urc(text)
            farm.control(f"0 incoming {CALLER} ring=400")
            incoming = await wait_event(events, IncomingCall, n)
            assert incoming.number == CALLER
            for text in ('+CLIP: "999",129,"",0,"",0', "^DSCI: 9,1,6,0,0", "+CRING: ASYNC"):
                emulated_modem.urc(text)  # a later ID, another call's release: not ours
            emulated_modem.write(b"\x00\xff\xfe\x01\x02")
            answered = await modem.answer()
            assert answered.number == CALLER and answered.answered
            assert len(of(events, IncomingCall, n)) == 1 and of(events, RingingStopped, n) == []
            assert (await modem.hang_up()) is not None

    run(main(), timeout=30)


@pytest.mark.parametrize("switch", ["silent", "noise"])
def test_modem_lost_while_a_call_rings_in_is_recovered(switch: str) -> None:
    """The modem goes silent (or babbles) while a call rings in and is being answered: answer()
    gives up in bounded time with LineError, the line goes down and the ringing ends once;
    once the modem is back the line is up again and the still-ringing call is answerable."""

    async def main() -> None:
        async with emulated("simcom") as (farm, modem, events):
            n = len(events.items)
            farm.control(f"0 incoming {CALLER} ring=5000")  # 100 s real: rings throughout
            await wait_event(events, IncomingCall, n)
            farm.control(f"0 {switch} on")
            answering = asyncio.create_task(modem.answer())
            with pytest.raises(LineError):
                await asyncio.wait_for(answering, TIMEOUTS.dial + TIMEOUTS.hang_up + 2.0)
            await wait_event(events, LineDown, n, timeout=10.0)
            assert len(of(events, RingingStopped, n)) == 1
            m = len(events.items)
            farm.control(f"0 {switch} off")
            await wait_event(events, LineUp, m, timeout=10.0)
            again = await wait_event(events, IncomingCall, m, timeout=5.0)
            assert again.number == CALLER
            answered = await modem.answer()
            assert answered.answered and answered.number == CALLER
            await modem.hang_up()
            assert len(of(events, RingingStopped, n)) == 1

    run(main(), timeout=40)


def test_answered_incoming_call_is_handed_to_an_agent() -> None:
    async def main() -> None:
        async with emulated("simcom", script=SCRIPT) as (farm, modem, events):
            n = len(events.items)
            farm.control(f"0 incoming {CALLER} ring=400")
            await wait_event(events, IncomingCall, n)
            await modem.answer()
            seat = PhoneSeat("desk 1", AGENT)
            assert modem.can_reach(seat)
            await modem.connect(seat, timeout=2.0)
            final = await modem.wait_call_end(5.0)
            assert final is not None and final.outcome is Outcome.AGENT_TRANSFER, final
            assert final.number == CALLER and "AT+CHLD=4: OK (ECT done)" in final.evidence

    run(main(), timeout=30)


def test_control_socket_incoming_syntax_errors() -> None:
    async def main() -> None:
        async with emulated("generic") as (farm, _modem, _events):
            for command, said in [
                ("0 incoming", "expected: incoming <number|withheld>"),
                ("0 incoming 12ab", "number: '12ab'"),
                ("0 incoming +1 keys=x", "keys: 'x': expected KEY@SECONDS"),
                ("0 incoming +1 keys=1@-2", "keys: '1@-2'"),
                ("0 incoming +1 hangup=nan", "hangup: nan"),
                ("0 incoming +1 ring=0", "ring: 0.0: expected seconds > 0"),
                ("0 incoming +1 keys=5@9 hangup=3", "5@9 not before hangup=3"),
                ("0 incoming +1 volume=3", "'volume=3'"),
            ]:
                with pytest.raises(ControlError) as error:
                    farm.control(command)
                assert said in str(error.value), (command, str(error.value))
            farm.control(f"0 ring {CALLER} ring=400")  # the old form still rings
            with pytest.raises(ControlError, match="call waiting is not emulated"):
                farm.control("0 incoming +15550000099")

    run(main(), timeout=30)


def test_caller_id_parsing() -> None:
    assert parse_clip('"+4930123",145,,,,0') == "+4930123"
    assert parse_clip('"",128,,,,1') == "" and parse_clip('"+4930123",145,,,,2') == ""
    assert parse_clip('"0301234",129,"",0,"",0') == "0301234"
    assert parse_clip("garbage") is None and parse_clip('"12<>3",999') is None
    assert caller_number('"002B0034003900330030"') == "+4930"  # hex UCS-2 (AT+CSCS="UCS2")
    assert caller_number('""') == ""


def test_ata_answered_no_carrier_means_the_caller_left_first() -> None:
    """The caller hangs up as ATA is sent: NO CARRIER to ATA is RingingStopped and LineError,
    no CallEnded; a caller who rings again is a new call."""

    async def main() -> None:
        async with emulated("huawei") as (farm, modem, events):
            n = len(events.items)
            farm.control(f"0 incoming {CALLER} ring=5000")
            await wait_event(events, IncomingCall, n)
            farm.control("0 reply ATA NO CARRIER")
            with pytest.raises(LineError, match=r"hung up before the answer \(NO CARRIER\)"):
                await modem.answer()
            stopped = await wait_event(events, RingingStopped, n)
            assert stopped.number == CALLER and of(events, CallEnded, n) == []
            m = len(events.items)
            assert (await wait_event(events, IncomingCall, m)).number == CALLER  # rings on
            assert (await modem.answer()).answered
            await modem.hang_up()

    run(main(), timeout=30)


def test_huge_or_hostile_incoming_commands_are_refused_whole() -> None:
    async def main() -> None:
        async with emulated("generic") as (farm, modem, events):
            n = len(events.items)
            for command in ("0 incoming " + "1" * 10_000, "0 incoming +1 keys=" + "1@1," * 5000,
                            "0 incoming +1\x00", "0 incoming +1 hangup=1e999"):  # fmt: skip
                with pytest.raises(ControlError):
                    farm.control(command)
            assert farm.modems[0].calls.calls == [] and of(events, IncomingCall, n) == []
            assert modem.health().up

    run(main(), timeout=30)
