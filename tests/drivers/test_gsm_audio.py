"""GSM call audio over the module's PCM port (#24), end to end on real ptys opened by pyserial:
the emulated Quectel, SIMCom and Huawei modules stream the far end's sound once the dialect's
command is given and a call is up; ``line.audio`` hears it and what ``say()`` sends reaches
the module; garbage, a stream that stops and a missing port leave the call alone."""

from __future__ import annotations

import array
import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appliance.drivers.audio import FRAME_BYTES, AudioChannel, AudioFrame, frames_of
from appliance.drivers.emulators.gsm.farm import Farm
from appliance.drivers.emulators.gsm.script import parse
from appliance.drivers.emulators.sounds import sound
from appliance.drivers.gsm.modem import GsmModem
from appliance.drivers.line import IncomingCall, LineDown, LineUp
from appliance.drivers.outcome import Outcome
from appliance.drivers.pcmport import GAP
from tests.drivers.emulated import TIME_SCALE, TIMEOUTS

AUDIO = {"quectel": "AT+QPCMV=1,0", "simcom": "AT+CPCMREG=1", "huawei": "AT^DDSETEX=2"}
OFF = {"quectel": "AT+QPCMV=0", "simcom": "AT+CPCMREG=0"}
PERSON = "+15550000101"  # answers after 1 s (scaled), talks for 400 s: the script's sound
MACHINE = "+15550000102"  # the same, with a voicemail's sound
SHORT = "+15550000103"  # answers, hangs up after 2 s (scaled)
SLOW = "+15550000104"  # rings for 25 s (scaled: half a second) before the answer
NUMBERS = [
    {"number": PERSON, "outcome": "answer", "ring": 1, "talk": 400},
    {"number": MACHINE, "outcome": "answer", "ring": 1, "talk": 400, "sound": "machine"},
    {"number": SHORT, "outcome": "answer", "ring": 1, "talk": 20},
    {"number": SLOW, "outcome": "answer", "ring": 25, "talk": 400},
]


@contextlib.asynccontextmanager
async def line(
    dialect: str, *, speed: float = 5.0, audio: str | None = "port", **modem_kw: Any
) -> AsyncIterator[tuple[Farm, GsmModem]]:
    script = {"time_scale": TIME_SCALE, "boot_time": 2, "audio_speed": speed, "numbers": NUMBERS}
    with tempfile.TemporaryDirectory(prefix="dialbox-audio-") as tmp:
        farm = Farm(1, Path(tmp), dialect, seed=1, script=parse(script))
        await farm.start(control=False)
        port = str(Path(tmp) / "gsm0-audio") if audio == "port" else audio
        modem = GsmModem(str(Path(tmp) / "gsm0"), name="gsm0", audio=port, timeouts=TIMEOUTS,
                         poll_interval=0.05, health_interval=0.2, backoff=(0.05, 0.2),
                         min_ring_timeout=0.0, sim_wait=3.0, **modem_kw)  # fmt: skip
        try:
            await modem.open()
            yield farm, modem
        finally:
            await modem.close()
            await farm.stop()


async def take(channel: AudioChannel, n: int, timeout: float = 5.0) -> list[AudioFrame]:
    """The next ``n`` frames the channel hears."""
    frames: list[AudioFrame] = []

    async def collect() -> None:
        async for frame in channel.listen():
            frames.append(frame)
            if len(frames) == n:
                return

    await asyncio.wait_for(collect(), timeout)
    return frames


def xcorr_peak(heard: bytes, source: bytes, at: int, span: int = 40) -> tuple[int, float]:
    """The lag (samples) in -span..span where ``heard`` best matches ``source`` from sample
    ``at``, and the normalised correlation there (1.0: the same samples)."""
    h = array.array("h", heard)
    s = array.array("h", source)
    energy_h = sum(x * x for x in h) ** 0.5
    best = (0, -1.0)
    for lag in range(-span, span + 1):
        start = at + lag
        if start < 0 or start + len(h) > len(s):
            continue
        window = s[start : start + len(h)]
        energy_s = sum(x * x for x in window) ** 0.5
        if not energy_h or not energy_s:
            continue
        value = sum(a * b for a, b in zip(h, window, strict=True)) / (energy_h * energy_s)
        if value > best[1]:
            best = (lag, value)
    return best


@pytest.mark.parametrize("dialect", ["quectel", "simcom", "huawei"])
def test_an_answered_call_hears_the_far_end_and_the_module_hears_say(dialect: str) -> None:
    async def main() -> None:
        async with line(dialect) as (farm, modem):
            emulated = farm.modems[0]
            assert modem.capabilities.audio
            assert modem.probe_report()["audio"].startswith("PCM on ")
            assert modem.audio is None  # no call: no audio
            result = await modem.dial(MACHINE, 30)
            assert result.outcome is Outcome.CONNECTED and not result.ended
            channel = modem.audio
            assert channel is not None and channel.active
            assert AUDIO[dialect] in emulated.commands
            frames = await take(channel, 60)
            source = sound("machine")
            expected = frames_of(source)
            assert all(f.heard == expected[f.index] for f in frames)  # sample for sample
            # ... and as a recording would check it: the correlation peaks at lag 0
            first = frames[0].index
            heard = b"".join(f.heard for f in frames[10:60])
            lag, peak = xcorr_peak(heard, source, (first + 10) * FRAME_BYTES // 2)
            assert lag == 0 and peak > 0.999
            prompt = sound("person")[: 30 * FRAME_BYTES]
            assert await channel.say(prompt)  # the driver wrote its last frame; then the pty
            await wait_for(lambda: prompt in bytes(emulated.audio.captured))
            assert channel.stats.dropped == 0
            await modem.hang_up()
            assert modem.audio is None and not channel.active
            if dialect in OFF:
                await wait_for(lambda: OFF[dialect] in emulated.commands)

    asyncio.run(main())


async def wait_for(condition: Any, timeout: float = 2.0) -> None:
    async def until() -> None:
        while not condition():
            await asyncio.sleep(0.01)  # polling the emulator's state, not timing anything

    await asyncio.wait_for(until(), timeout)


def test_an_answered_incoming_call_has_audio_until_the_caller_hangs_up() -> None:
    async def main() -> None:
        async with line("simcom") as (farm, modem):
            emulated = farm.modems[0]
            farm.control("gsm0 sound person-long")
            ringing: asyncio.Future[IncomingCall] = asyncio.get_running_loop().create_future()
            modem.subscribe(
                lambda e: (
                    isinstance(e, IncomingCall) and not ringing.done() and ringing.set_result(e)
                )
            )
            farm.control("gsm0 incoming +15550000999 hangup=30")
            await asyncio.wait_for(ringing, 3)
            assert modem.audio is None and emulated.audio.frames_sent == 0
            result = await modem.answer()
            assert result.answered
            channel = modem.audio
            assert channel is not None
            frames = await take(channel, 20)
            expected = frames_of(sound("person-long"))
            assert all(f.heard == expected[f.index] for f in frames)
            ended = await modem.wait_call_end(5)
            assert ended is not None and ended.ended
            assert not channel.active and modem.audio is None
            assert [f async for f in channel.listen()] == []  # the stream is over

    asyncio.run(main())


def test_no_audio_before_the_answer_and_none_without_the_command() -> None:
    async def main() -> None:
        async with line("quectel") as (farm, modem):
            emulated = farm.modems[0]
            dialing = asyncio.create_task(modem.dial(SLOW, 30))
            await wait_for(lambda: emulated.calls.calls and emulated.calls.calls[0].state
                           == "alerting")  # fmt: skip
            assert modem.audio is None and emulated.audio.frames_sent == 0
            assert modem.audio_path.port is not None and modem.audio_path.port.stray == 0
            await dialing
            channel = modem.audio
            assert channel is not None
            frames = await take(channel, 5)
            assert frames[0].heard == frames_of(sound("person"))[frames[0].index]
            await modem.hang_up()
        # the generic profile knows no PCM command: the module never streams
        async with line("quectel", profile="generic") as (farm, modem):
            emulated = farm.modems[0]
            assert not modem.capabilities.audio
            assert "generic modules have no PCM audio port command" in modem.probe_report()["audio"]
            result = await modem.dial(PERSON, 30)
            assert result.outcome is Outcome.CONNECTED and modem.audio is None
            assert emulated.calls.active() is not None and not emulated.audio.streaming
            assert "AT+QPCMV=1,0" not in emulated.commands
            await modem.hang_up()

    asyncio.run(main())


def test_a_refused_audio_command_leaves_the_call_up_and_says_why() -> None:
    async def main() -> None:
        async with line("simcom") as (farm, modem):
            farm.control("gsm0 reply AT+CPCMREG=1 +CME ERROR: 3")
            result = await modem.dial(PERSON, 30)
            assert result.outcome is Outcome.CONNECTED and not result.ended
            assert modem.audio is None and not modem.capabilities.audio
            assert modem.probe_report()["audio"] == "no audio path: AT+CPCMREG=1 -> +CME ERROR: 3"
            assert await modem.wait_call_end(0.2) is None  # still up
            await modem.hang_up()
            result = await modem.dial(PERSON, 30)  # the next call tries again, and has it
            assert modem.audio is not None and modem.capabilities.audio
            await modem.hang_up()

    asyncio.run(main())


def test_a_line_without_its_audio_port_calls_without_audio() -> None:
    async def main() -> None:
        async with line("huawei", audio="/dev/does-not-exist-audio") as (_farm, modem):
            assert modem.health().up and not modem.capabilities.audio
            said = modem.probe_report()["audio"]
            assert said.startswith("no audio path: /dev/does-not-exist-audio: no such port")
            result = await modem.dial(PERSON, 30)
            assert result.outcome is Outcome.CONNECTED and modem.audio is None
            await modem.hang_up()
        async with line("huawei", audio=None) as (_farm, modem):
            assert modem.probe_report()["audio"] == "no audio path: not configured (lines[].audio)"

    asyncio.run(main())


def test_garbage_on_the_audio_port_is_counted_and_the_stream_realigns() -> None:
    async def main() -> None:
        async with line("quectel", speed=1.0) as (farm, modem):
            emulated = farm.modems[0]
            await modem.dial(MACHINE, 30)
            channel = modem.audio
            assert channel is not None
            await take(channel, 5)
            farm.control("gsm0 audio-garbage on")
            await take(channel, 15)
            farm.control("gsm0 audio-garbage off")
            await take(channel, 5)  # the partial frame left by the garbage is dropped
            after = b"".join(f.heard for f in await take(channel, 20))
            offset = sound("machine").find(after)
            assert offset >= 0 and offset % FRAME_BYTES == 0  # whole frames of the sound again
            assert channel.stats.overruns > 0
            assert emulated.calls.active() is not None and await modem.wait_call_end(0.1) is None
            assert modem.health().up
            await modem.hang_up()

    asyncio.run(main())


def test_a_stream_that_stops_mid_call_goes_on_in_silence_and_resumes() -> None:
    async def main() -> None:
        async with line("simcom", speed=1.0) as (farm, modem):
            await modem.dial(MACHINE, 30)
            channel = modem.audio
            assert channel is not None
            await take(channel, 5)
            farm.control("gsm0 audio-stop on")
            gap = int(GAP / 0.02)
            frames = await take(channel, gap + 20)  # the listener is never left waiting
            assert any(f.heard == bytes(FRAME_BYTES) for f in frames[-10:])
            assert channel.filled >= 10 and channel.stats.overruns >= channel.filled
            farm.control("gsm0 audio-stop off")
            source = frames_of(sound("machine"))

            async def resumed() -> None:
                async for frame in channel.listen():
                    if frame.heard != bytes(FRAME_BYTES) and frame.heard in source:
                        return

            await asyncio.wait_for(resumed(), 2)
            assert await modem.wait_call_end(0.1) is None and modem.health().up
            await modem.hang_up()

    asyncio.run(main())


def test_the_audio_port_comes_back_with_a_huawei_stick_after_its_reboot() -> None:
    async def main() -> None:
        async with line("huawei") as (farm, modem):
            events: list[object] = []
            back = asyncio.Event()
            modem.subscribe(lambda e: (events.append(e), isinstance(e, LineUp) and back.set()))
            port = modem.audio_path.port
            assert port is not None and port.is_open
            before = port.transport
            farm.control("gsm0 reboot")  # the stick leaves the bus: both ports go
            await asyncio.wait_for(back.wait(), 5)
            assert any(isinstance(e, LineDown) for e in events)
            assert port.is_open and port.transport is not before  # reopened with the line
            assert modem.capabilities.audio
            await modem.dial(MACHINE, 30)
            channel = modem.audio
            assert channel is not None
            frames = await take(channel, 10)
            assert all(f.heard == frames_of(sound("machine"))[f.index] for f in frames)
            await modem.hang_up()

    asyncio.run(main())
