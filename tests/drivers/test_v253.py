"""The V.253 voice-modem driver: over real ptys against its emulator for every outcome, and over
fake transports that split DLE pairs across reads."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

from appliance.drivers.at.dle import DLE, DleDecoder, shield
from appliance.drivers.at.session import AtSession
from appliance.drivers.emulators.v253 import VoiceFarm, parse_script
from appliance.drivers.line import (
    CallEnded,
    Dtmf,
    LineDown,
    LineUnavailable,
    LineUp,
    NotSupported,
    PhoneSeat,
    Timeouts,
)
from appliance.drivers.outcome import Outcome
from appliance.drivers.v253.modem import VoiceModem
from tests.drivers.drivers_fakes import (
    Collector,
    ScriptedModem,
    connect,
    one_byte,
    random_split,
    run,
    whole,
)
from tests.drivers.emulated import HEALTH, SCALE, SLACK, down_within, wait_event

TIMEOUTS = Timeouts(command=0.5, dial=2.0, hang_up=1.0, setup=3.0, probe=0.2, liveness=0.4)
SCRIPT = {
    "time_scale": 0.02,
    "numbers": [
        {"number": "5550001", "outcome": "answer", "ring": 8, "talk": 10, "dtmf": "1#"},
        {"number": "5550002", "outcome": "busy"},
        {"number": "5550003", "outcome": "no-answer"},
        {"number": "5550004", "outcome": "no-dialtone"},
        {"number": "5550005", "outcome": "sit"},
        {"number": "5550006", "outcome": "fax", "ring": 4},
        {"number": "5550007", "outcome": "answer", "ring": 3, "talk": 600},
    ],
}
EXPECTED = {
    "5550002": (Outcome.BUSY, "busy tone"),
    "5550003": (Outcome.ALERTING_TIMEOUT, "ring timeout"),
    "5550004": (Outcome.NO_LINE, "NO DIALTONE"),
    "5550005": (Outcome.WRONG_NUMBER, "SIT tone"),
    "5550006": (Outcome.FAX, "fax/data answer tone"),
}


@contextlib.asynccontextmanager
async def emulated(**modem_kw: Any) -> AsyncIterator[tuple[VoiceFarm, VoiceModem, Collector]]:
    with tempfile.TemporaryDirectory(prefix="dialbox-v253-") as tmp:
        farm = VoiceFarm(1, Path(tmp), parse_script(SCRIPT), seed=1)
        farm.start()
        options: dict[str, Any] = {"timeouts": TIMEOUTS, "health_interval": 0.2,
                                   "backoff": (0.05, 0.2), "min_ring_timeout": 0.0}  # fmt: skip
        options.update(modem_kw)
        modem = VoiceModem(str(Path(tmp) / "v2530"), name="line0", **options)
        events = Collector()
        modem.subscribe(events)
        try:
            await modem.open()
            yield farm, modem, events
        finally:
            await modem.close()
            farm.stop()


def test_probe_puts_the_modem_in_voice_mode() -> None:
    async def main() -> None:
        async with emulated() as (farm, modem, events):
            assert modem.identity["manufacturer"] == "CONEXANT"
            assert modem.capabilities.playback and modem.capabilities.dtmf_detect
            assert modem.health().up and modem.health().registration == "analog line"
            assert "AT+FCLASS=8" in farm.modems[0].commands
            assert isinstance(events.items[0], LineUp)

    run(main())


def test_every_unanswered_outcome_with_its_evidence() -> None:
    async def main() -> None:
        async with emulated() as (farm, modem, _):
            for number, (outcome, evidence) in EXPECTED.items():
                result = await modem.dial(number, ring_timeout=0.5)
                assert result.outcome is outcome, (number, result)
                assert result.ended and not result.answered
                assert evidence in result.evidence, result.evidence
                assert result.evidence[0] == f"ATDT{number}"
                assert not farm.modems[0].off_hook  # every failed call leaves the line on hook
            ringing = await modem.dial("5550003", ring_timeout=0.5)
            assert 0.5 <= ringing.durations["ringing"] < 1.5  # counted from the first ringback

    run(main(), timeout=60)


def test_answered_call_reports_keys_and_the_far_end_hanging_up() -> None:
    async def main() -> None:
        async with emulated() as (farm, modem, events):
            start = len(events.items)
            result = await modem.dial("5550001", ring_timeout=5.0)
            assert result.outcome is Outcome.CONNECTED and result.answered and not result.ended
            assert "VCON" in result.evidence and "ringback" in result.evidence
            final = await modem.wait_call_end(5.0)
            assert final is not None and final.ended and final.outcome is Outcome.CONNECTED
            assert final.end_reason == "far end hung up"
            assert "loop current interrupted" in final.evidence
            digits = [e.digit for e in events.items[start:] if isinstance(e, Dtmf)]
            assert digits == ["1", "#"]
            assert any(isinstance(e, CallEnded) for e in events.items[start:])
            assert not farm.modems[0].off_hook

    run(main(), timeout=30)


def test_we_hang_up_an_answered_call_and_play_a_message() -> None:
    async def main() -> None:
        async with emulated() as (farm, modem, _):
            with tempfile.TemporaryDirectory() as tmp:
                message = Path(tmp) / "hello.raw"
                audio = bytes(range(256)) * 4  # includes 0x10, which must go shielded
                message.write_bytes(audio)
                result = await modem.dial("5550007", ring_timeout=5.0)
                assert result.outcome is Outcome.CONNECTED
                seat = PhoneSeat("desk", "5550001")  # an analog line cannot transfer calls
                assert not modem.can_reach(seat)
                with pytest.raises(NotSupported):
                    await modem.connect(seat, 2.0)
                await modem.play(str(message))
                assert bytes(farm.modems[0].played) == audio
            ours = await modem.hang_up()
            assert ours is not None and ours.ended and ours.end_reason == "hung up by us"
            assert not farm.modems[0].off_hook
            assert await modem.hang_up() == ours  # nothing more to end: the same result

    run(main(), timeout=30)


def test_hang_up_while_ringing_stops_the_dial() -> None:
    async def main() -> None:
        async with emulated() as (farm, modem, _):
            import asyncio

            dialing = asyncio.ensure_future(modem.dial("5550003", ring_timeout=30.0))
            while modem._call is None or modem._call.t_alert is None:
                await asyncio.sleep(0.01)  # the event we wait for is the modem's first ringback
            stopped = await modem.hang_up()
            result = await dialing
            assert stopped == result and result.outcome is Outcome.ERROR_OCCURRED
            assert "NO CARRIER" in result.evidence and not farm.modems[0].off_hook

    run(main(), timeout=30)


def test_unplugged_modem_goes_down_and_comes_back() -> None:
    async def main() -> None:
        async with emulated() as (farm, modem, events):
            farm.modems[0].unplug()
            down = await wait_event(events, LineDown)
            assert "port" in down.reason and not modem.health().up
            farm.modems[0].replug()
            await wait_event(events, LineUp, start=events.items.index(down))
            result = await modem.dial("5550002", ring_timeout=0.5)
            assert result.outcome is Outcome.BUSY

    run(main(), timeout=30)


def test_a_modem_without_voice_mode_is_refused_with_the_reason() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / "data"

        async def main() -> None:
            farm = VoiceFarm(1, Path(tmp), parse_script(SCRIPT))
            farm.start()
            sim = farm.modems[0]
            sim.model = "DATA ONLY"
            original = sim._op

            def no_voice(op: Any) -> Any:
                if op.name == "+FCLASS" and op.kind == "test":
                    sim._info("0,1")
                    return None
                return original(op)

            sim._op = no_voice  # type: ignore[method-assign]
            link.symlink_to(sim.port.link)
            modem = VoiceModem(str(link), timeouts=TIMEOUTS)
            with pytest.raises(LineUnavailable, match="no voice mode"):
                await modem.open()
            farm.stop()

        run(main())


def test_the_emulator_answers_a_plain_serial_client() -> None:
    """Any standard client (here pyserial, as minicom would) gets V.250 answers and DLE events."""

    async def main() -> None:
        import asyncio

        with tempfile.TemporaryDirectory() as tmp:
            farm = VoiceFarm(1, Path(tmp), parse_script(SCRIPT))
            farm.start()
            port = serial.Serial(str(farm.modems[0].port.link), 115200, timeout=0)
            got = bytearray()

            async def exchange(line: bytes, until: bytes) -> bytes:
                got.clear()
                port.write(line)
                while until not in got:
                    await asyncio.sleep(0.01)  # the emulator runs on this loop: let it answer
                    got.extend(port.read(4096))
                return bytes(got)

            assert b"OK" in await exchange(b"ATE0\r", b"OK")
            assert b"0,1,1.0,8" in await exchange(b"AT+FCLASS=?\r", b"OK")
            await exchange(b"AT+FCLASS=8\r", b"OK")
            answer = await exchange(b"ATDT5550002\r", b"BUSY")
            assert bytes([DLE]) + b"b" in answer
            port.close()
            farm.stop()

    run(main(), timeout=20)


# ------------------------------------------------------------------ DLE split across reads
def test_dle_decoder_keeps_a_pair_split_at_any_byte() -> None:
    stream = b"\r\nOK\r\n\x10r\x10\x10x\x10b\r\nBUSY\r\n\x10"
    for cut in range(len(stream) + 1):
        decoder = DleDecoder()
        parts = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        plain = b"".join(p for p in parts if isinstance(p, bytes))
        assert [p for p in parts if isinstance(p, str)] == ["r", "b"]
        assert plain == b"\r\nOK\r\n\x10x\r\nBUSY\r\n"
    assert shield(b"a\x10b") == b"a\x10\x10b"


CHUNKERS: list[Callable[[bytes], Iterator[bytes]]] = [one_byte, whole, random_split(3)]


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_session_routes_dle_events_in_order_whatever_the_reads(
    chunker: Callable[[bytes], Iterator[bytes]],
) -> None:
    async def main() -> None:
        session = AtSession("v253")
        codes = Collector()
        session.set_dle_listener(codes)
        urcs = Collector()
        session.add_urc_listener(urcs)
        modem = ScriptedModem()
        modem.reply(b"ATDT5550001", b"\x10r\x10r\r\nRINGING\r\n\x10q\r\nVCON\r\n\x105\x10l")
        connect(session, modem, chunker)
        from appliance.drivers.at.session import Command

        response = await session.run(Command("ATDT5550001", call_progress=True))
        assert response.final.text == "VCON"
        await codes.wait(5)
        assert codes.items == ["r", "r", "q", "5", "l"]
        assert [u.text for u in urcs.items] == ["RINGING"]

    run(main())


def test_an_answered_call_cut_by_an_unplug_is_an_error_for_whoever_asks_afterwards() -> None:
    async def main() -> None:
        async with emulated() as (farm, modem, events):
            answered = await modem.dial("5550007", ring_timeout=5)
            assert answered.outcome is Outcome.CONNECTED and not answered.ended
            farm.modems[0].unplug()
            await wait_event(events, LineDown)
            ended = await modem.wait_call_end(1)
            assert ended is not None, "the call's end is lost once the line dropped it"
            assert ended.outcome is Outcome.ERROR_OCCURRED and ended.answered
            assert any(e.startswith("line down") for e in ended.evidence), ended.evidence
            hung = await modem.hang_up()
            assert hung is not None and hung.outcome is Outcome.ERROR_OCCURRED

    run(main(), timeout=30)


@pytest.mark.parametrize(
    ("fault", "stage"), [("silent", "idle"), ("silent", "call"), ("garbage", "idle")]
)
def test_a_silent_or_babbling_voice_modem_goes_down_within_the_budget(
    fault: str, stage: str
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with emulated(timeouts=HEALTH, health_interval=5.0 * SCALE) as (farm, modem, events):
            if stage == "call":
                up = await modem.dial("5550007", ring_timeout=5)  # talks for ever
                assert up.outcome is Outcome.CONNECTED and not up.ended
            n = len(events.items)
            setattr(farm.modems[0], fault, True)
            start = loop.time()
            down = await wait_event(events, LineDown, n, timeout=30)
            took = loop.time() - start
            assert took < down_within(HEALTH) + SLACK, (took, down.reason)
            assert down.reason.startswith("modem not answering"), down.reason
            if stage == "call":
                ended = await modem.wait_call_end(1)
                assert ended is not None and ended.outcome is Outcome.ERROR_OCCURRED
                assert ended.answered and ended.end_reason.startswith("line down"), ended
            setattr(farm.modems[0], fault, False)
            await wait_event(events, LineUp, n, timeout=10)
            assert (await modem.dial("5550002", ring_timeout=0.5)).outcome is Outcome.BUSY

    run(main(), timeout=60)
