"""Agent seats by explicit call transfer: the driver against the emulator over real ptys."""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import serial

from appliance.drivers.emulators.gsm.farm import Farm
from appliance.drivers.emulators.gsm.script import parse
from appliance.drivers.gsm.calls import parse_clcc
from appliance.drivers.gsm.modem import GsmModem
from appliance.drivers.gsm.transfer import parse_chld
from appliance.drivers.line import CallEnded, LineError, NotSupported, PhoneSeat
from appliance.drivers.outcome import Outcome
from tests.drivers.drivers_fakes import run
from tests.drivers.emulated import NUMBERS, PROFILES, emulated

# The dialects whose profiles claim agent transfer beyond the four followed in depth: SIM800
# (simcom profile: +CLCC URCs, MO RING) and u-blox (+UCALLSTAT carries the call id).
ECT_DIALECTS = [*PROFILES, "sim800", "ublox"]

CUSTOMER = "+15550000010"  # answers after 1 s, talks for 400 s (scaled)
AGENT = "+48500000001"  # answers after 1 s
AGENT_BUSY = "+48500000002"
AGENT_NEVER = "+48500000003"  # rings for 400 s
SHORT_CUSTOMER = "+15550000011"  # hangs up 10 s (0.2 s real) after answering

SCRIPT: dict[str, Any] = {
    "numbers": [
        *NUMBERS,
        {"number": SHORT_CUSTOMER, "outcome": "answer", "ring": 1, "talk": 10},
        {"number": AGENT, "outcome": "answer", "ring": 1, "talk": 400},
        {"number": AGENT_BUSY, "outcome": "busy", "ring": 1},
        {"number": AGENT_NEVER, "outcome": "answer", "ring": 400, "talk": 400},
    ]
}


async def customer_up(modem: GsmModem, number: str = CUSTOMER) -> None:
    result = await modem.dial(number, ring_timeout=2.0)
    assert result.outcome is Outcome.CONNECTED and not result.ended


async def listed(modem: GsmModem) -> list[tuple[str, int]]:
    """What ``AT+CLCC`` lists now: (number, stat) per call."""
    response = await modem.session.check("AT+CLCC")
    rows = [parse_clcc(v) for v in response.values("+CLCC:")]
    return [(r.number, r.stat) for r in rows if r is not None]


def test_chld_test_answers_parse() -> None:
    assert parse_chld("(0,1,1x,2,2x,3,4)") == {"0", "1", "1x", "2", "2x", "3", "4"}
    assert parse_chld("(0-4)") == {"0", "1", "2", "3", "4"}
    assert "4" not in parse_chld("(0,1,1x,2,2x)")


@pytest.mark.parametrize("profile", ECT_DIALECTS)
def test_agent_answers_and_the_customer_is_transferred(profile: str) -> None:
    async def main() -> None:
        async with emulated(profile, script=SCRIPT) as (farm, modem, events):
            seat = PhoneSeat("desk 1", AGENT)
            assert modem.can_reach(seat) and modem.probe_report()["agent_transfer"] is True
            await customer_up(modem)
            ended = asyncio.create_task(modem.wait_call_end(5.0))  # as the engine waits
            start = asyncio.get_running_loop().time()
            await modem.connect(seat, timeout=2.0)
            assert asyncio.get_running_loop().time() - start < 2.0
            final = await ended
            assert final is not None and final.ended and final.answered
            assert final.outcome is Outcome.AGENT_TRANSFER
            assert final.end_reason == f"transferred to agent {AGENT}"
            assert "AT+CHLD=2: OK (customer held)" in final.evidence
            assert any(e.startswith(f"agent {AGENT} answered after") for e in final.evidence)
            assert "AT+CHLD=4: OK (ECT done)" in final.evidence
            assert [e.result.outcome for e in events.items if isinstance(e, CallEnded)] == [
                Outcome.AGENT_TRANSFER
            ]
            sent = [c.upper() for c in farm.modems[0].commands]
            steps = ["AT+CHLD=2", f"ATD{AGENT};", "AT+CHLD=4"]
            assert [c for c in sent if c in steps] == steps
            # the modem left both calls: the line is idle and dials the next contact
            assert await listed(modem) == []
            assert farm.modems[0].calls.calls == []
            after = await modem.hang_up()  # nothing more to end: the transferred call's result
            assert after is not None and after.outcome is Outcome.AGENT_TRANSFER
            nxt = await modem.dial("+15550000001", ring_timeout=2.0)
            assert nxt.outcome is Outcome.CONNECTED
            assert not any("CHLD" in e or "agent" in e for e in nxt.evidence)
            hung = await modem.hang_up()
            assert hung is not None and hung.outcome is Outcome.CONNECTED

    run(main(), timeout=30)


@pytest.mark.parametrize("profile", ECT_DIALECTS)
@pytest.mark.parametrize(
    ("agent", "budget", "reason"),
    [
        (AGENT_NEVER, 0.5, f"agent {AGENT_NEVER} did not answer within 0.5 s"),
        (AGENT_BUSY, 2.0, f"agent {AGENT_BUSY} is busy"),
    ],
)
def test_agent_not_reached_the_customer_is_retrieved(
    profile: str, agent: str, budget: float, reason: str
) -> None:
    async def main() -> None:
        async with emulated(profile, script=SCRIPT) as (farm, modem, _):
            await customer_up(modem)
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(LineError, match=re.escape(reason)):
                await modem.connect(PhoneSeat("desk 2", agent), timeout=budget)
            elapsed = loop.time() - start
            assert elapsed < budget + 1.0  # the release and retrieval follow promptly
            if agent == AGENT_NEVER:
                assert elapsed >= budget
            # the customer is back, active, alone; the call goes on until we hang up
            assert await listed(modem) == [(CUSTOMER, 0)]
            assert await modem.wait_call_end(0) is None
            result = await modem.hang_up()
            assert result is not None and result.outcome is Outcome.CONNECTED and result.ended
            assert any(reason in e for e in result.evidence)
            assert "AT+CHLD=2: OK (customer retrieved)" in result.evidence
            assert farm.modems[0].calls.calls == []

    run(main(), timeout=30)


@pytest.mark.parametrize("profile", ["generic", "simcom"])
def test_network_refuses_ect_then_allows_it(profile: str) -> None:
    async def main() -> None:
        async with emulated(profile, script=SCRIPT) as (farm, modem, events):
            seat = PhoneSeat("desk 3", AGENT)
            await customer_up(modem)
            farm.control("0 ect off")
            with pytest.raises(LineError, match=r"network refused the transfer: \+CME ERROR: 3"):
                await modem.connect(seat, timeout=2.0)
            assert await listed(modem) == [(CUSTOMER, 0)]
            assert not any(isinstance(e, CallEnded) for e in events.items)
            farm.control("0 ect on")  # the same customer, a second try
            await modem.connect(seat, timeout=2.0)
            ends = [e.result for e in events.items if isinstance(e, CallEnded)]
            assert [r.outcome for r in ends] == [Outcome.AGENT_TRANSFER]
            assert any("network refused the transfer" in e for e in ends[0].evidence)
            assert await listed(modem) == []

    run(main(), timeout=30)


@pytest.mark.parametrize("profile", ["generic", "huawei"])
def test_customer_hangs_up_while_the_agent_is_called(profile: str) -> None:
    async def main() -> None:
        async with emulated(profile, script=SCRIPT) as (farm, modem, events):
            await customer_up(modem, SHORT_CUSTOMER)
            with pytest.raises(LineError, match="the customer hung up"):
                await modem.connect(PhoneSeat("desk 4", AGENT_NEVER), timeout=2.0)
            ends = [e.result for e in events.items if isinstance(e, CallEnded)]
            assert [(r.number, r.outcome) for r in ends] == [(SHORT_CUSTOMER, Outcome.CONNECTED)]
            assert ends[0].end_reason == "far end hung up"
            assert await listed(modem) == [] and farm.modems[0].calls.calls == []
            assert await modem.hang_up() == ends[0]  # nothing more to end: the same result

    run(main(), timeout=30)


@pytest.mark.parametrize("answer", [["+CHLD: (0,1,1x,2,2x)", "OK"], ["ERROR"]])
def test_no_ect_offered_means_unreachable(answer: list[str]) -> None:
    reply = {"command": "AT+CHLD=?", "lines": answer[:-1], "final": answer[-1]}
    script = {**SCRIPT, "replies": [reply]}

    async def main() -> None:
        async with emulated("simcom", script=script) as (_, modem, _events):
            seat = PhoneSeat("desk 5", AGENT)
            assert not modem.can_reach(seat)
            assert modem.probe_report()["agent_transfer"] is False
            await customer_up(modem)
            with pytest.raises(NotSupported, match="no explicit call transfer"):
                await modem.connect(seat, timeout=2.0)
            assert await listed(modem) == [(CUSTOMER, 0)]
            await modem.hang_up()

    run(main(), timeout=30)


def plain_client(link: Path) -> None:
    """Hold, a second call, swap, release one, ECT: as a person types them in minicom."""
    with serial.Serial(str(link), 115200, timeout=2) as port:

        def chat(data: bytes, until: bytes) -> bytes:
            port.write(data)
            reply = port.read_until(until)
            assert reply.endswith(until), reply
            return reply

        chat(b"ATE0;+CMEE=1;+CLCC=1\r", b"OK\r\n")
        assert b"\r\n+CHLD: (0,1,1x,2,2x,3,4)\r\n" in chat(b"AT+CHLD=?\r", b"OK\r\n")
        assert chat(b"AT+CHLD=2\r", b"\r\n") + port.read_until(b"\r\n") == (
            b"\r\n+CME ERROR: 3\r\n"  # nothing to hold
        )
        customer, agent = f'"{CUSTOMER}",145'.encode(), f'"{AGENT}",145'.encode()
        chat(f"ATD{CUSTOMER};\r".encode(), b"OK\r\n")
        chat(b"", b"+CLCC: 1,0,0,0,0," + customer)  # answered
        assert b"+CLCC: 1,0,1,0,0," + customer in chat(b"AT+CHLD=2\r", b"OK\r\n")
        chat(f"ATD{AGENT};\r".encode(), b"OK\r\n")
        chat(b"", b"+CLCC: 2,0,0,0,0," + agent)  # the second call answered
        listing = chat(b"AT+CLCC\r", b"OK\r\n")
        assert b"+CLCC: 1,0,1,0,0," + customer + b"\r\n\r\n+CLCC: 2,0,0,0,0," + agent in listing
        swapped = chat(b"AT+CHLD=2\r", b"OK\r\n")
        assert b"+CLCC: 2,0,1,0,0," + agent in swapped
        assert b"+CLCC: 1,0,0,0,0," + customer in swapped
        chat(b"AT+CHLD=4\r", b"OK\r\n")
        # the network clears both calls towards the module (SIMCom frames URCs \r\r\n)
        chat(b"", b"NO CARRIER\r\r\n")
        chat(b"", b"NO CARRIER\r\r\n")
        assert chat(b"AT+CLCC\r", b"OK\r\n") == b"\r\nOK\r\n"
        # the agent does not answer: release that call alone, take the customer back
        never = f'"{AGENT_NEVER}",145'.encode()
        chat(f"ATD{CUSTOMER};\r".encode(), b"OK\r\n")
        chat(b"", b"+CLCC: 1,0,0,0,0," + customer)
        chat(b"AT+CHLD=2\r", b"OK\r\n")
        chat(f"ATD{AGENT_NEVER};\r".encode(), b"OK\r\n")
        chat(b"", b"+CLCC: 2,0,3,0,0," + never)  # alerting
        chat(b"AT+CHLD=12\r", b"OK\r\n")
        assert b"+CLCC: 1,0,0,0,0," + customer in chat(b"AT+CHLD=2\r", b"OK\r\n")
        listing = chat(b"AT+CLCC\r", b"OK\r\n")
        assert listing == b"\r\n+CLCC: 1,0,0,0,0," + customer + b"\r\n\r\nOK\r\n"
        chat(b"ATH\r", b"OK\r\n")


def test_plain_client_sees_hold_swap_release_and_ect() -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            farm = Farm(1, Path(tmp), "simcom", 1, parse({"time_scale": 0.02, **SCRIPT}))
            await farm.start(control=False)
            try:
                await asyncio.wait_for(farm.modems[0].registered.wait(), 5)
                await asyncio.to_thread(plain_client, farm.modems[0].port.link)
            finally:
                await farm.stop()

    run(main(), timeout=30)
