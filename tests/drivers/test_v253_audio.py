"""The sound of a call on a V.253 voice modem (#24), over real ptys against its emulator.

The emulator streams a scripted far end (here sounds generated in the test: a sweep whose 8-bit
samples include 0x10, so DLE shielding is exercised) and captures what the host sends. Audio time
is counted in frames: a frame's ``index`` says where in the far end's sound it must be.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import tempfile
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appliance.drivers.at.session import AtSession, AtTimeout, Command
from appliance.drivers.audio import FRAME_BYTES, SILENCE, AudioChannel, AudioFrame
from appliance.drivers.emulators.v253 import VoiceFarm, VoiceModemSim, parse_script, source
from appliance.drivers.line import CallEnded, Dtmf, Timeouts
from appliance.drivers.outcome import Outcome
from appliance.drivers.v253.modem import VoiceModem
from appliance.drivers.v253.stream import StreamChannel, offered_formats
from tests.drivers.drivers_fakes import (
    Collector,
    ScriptedModem,
    connect,
    one_byte,
    random_split,
    run,
    whole,
)
from tests.drivers.emulated import wait_event

TIMEOUTS = Timeouts(command=0.5, dial=2.0, hang_up=1.0, setup=3.0, probe=0.2, liveness=0.4)
SCRIPT = {
    "time_scale": 0.02,
    "numbers": [
        {"number": "5550001", "outcome": "answer", "ring": 3, "talk": 600},
        {"number": "5550002", "outcome": "answer", "ring": 3, "talk": 60, "dtmf": "1#"},
    ],
}
SPEED = 5.0  # the emulator streams at five times real time


def sweep(seconds: float = 1.0, *, wide: bool = False) -> bytes:
    """A rising tone through every 8-bit level (0x10 included): s16le whose low bytes are zero
    unless ``wide`` (an 8-bit stream carries the high byte only)."""
    out = bytearray()
    n = int(8000 * seconds)
    for i in range(n):
        value = int(32000 * math.sin(2 * math.pi * (200 + 1500 * i / n) * i / 8000))
        if not wide:
            value &= ~0xFF
        out += value.to_bytes(2, "little", signed=True)
    return bytes(out)


def frames_at(sound: bytes, index: int) -> bytes:
    """Frame ``index`` of ``sound`` (silence past its end)."""
    chunk = sound[index * FRAME_BYTES : (index + 1) * FRAME_BYTES]
    return chunk + bytes(FRAME_BYTES - len(chunk))


async def collect(channel: AudioChannel, count: int, timeout: float = 10.0) -> list[AudioFrame]:
    frames: list[AudioFrame] = []

    async def take() -> None:
        async for frame in channel.listen():
            frames.append(frame)
            if len(frames) >= count:
                return

    await asyncio.wait_for(take(), timeout)
    return frames


async def until(condition: Any, timeout: float = 10.0) -> None:
    """Wait for ``condition()`` (a state the driver reaches on its own timer), checking every
    20 ms; fails the test after ``timeout``."""

    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


@contextlib.asynccontextmanager
async def emulated(
    *, duplex: bool = True, wide: bool = False, sound: bytes = b"", **modem_kw: Any
) -> AsyncIterator[tuple[VoiceModemSim, VoiceModem, Collector]]:
    with tempfile.TemporaryDirectory(prefix="dialbox-v253a-") as tmp:
        farm = VoiceFarm(1, Path(tmp), parse_script(SCRIPT), seed=1)
        farm.start()
        sim = farm.modems[0]
        sim.duplex, sim.sound, sim.audio_speed = duplex, sound, SPEED
        farm.control(f"0 wide {'on' if wide else 'off'}")
        options: dict[str, Any] = {"timeouts": TIMEOUTS, "health_interval": 0.2,
                                   "backoff": (0.05, 0.2), "min_ring_timeout": 0.0,
                                   "audio": "stream", "stream_stall": 1.0}  # fmt: skip
        options.update(modem_kw)
        modem = VoiceModem(str(Path(tmp) / "v2530"), name="line0", **options)
        events = Collector()
        modem.subscribe(events)
        try:
            await modem.open()
            yield sim, modem, events
        finally:
            await modem.close()
            farm.stop()


def test_the_answered_call_hears_the_far_end_sample_for_sample_full_duplex() -> None:
    sound = sweep(1.0)

    async def main() -> None:
        async with emulated(sound=sound) as (sim, modem, _):
            assert modem.capabilities.audio and modem.duplex
            assert modem.sample_format is not None and modem.sample_format.kind == "u8"
            assert modem.audio is None  # no call: no sound
            result = await modem.dial("5550001", ring_timeout=5.0)
            assert result.outcome is Outcome.CONNECTED
            channel = modem.audio
            assert isinstance(channel, StreamChannel) and channel.active
            assert sim.streams == ["duplex"]
            frames = await collect(channel, 60)  # past the sound's end (50 frames)
            for frame in frames:
                assert frame.heard == frames_at(sound, frame.index), f"frame {frame.index}"
            assert any(frame.heard != SILENCE for frame in frames)
            assert frames[-1].heard == SILENCE  # the source is over: silence follows
            assert channel.garbage == 0 and channel.stats.overruns == 0
            ours = await modem.hang_up()
            assert ours is not None and ours.end_reason == "hung up by us"
            assert not channel.active and modem.audio is None
            assert not sim.off_hook and sim.stream_mode is None

    run(main(), timeout=30)


def test_what_say_sends_reaches_the_far_end_with_its_dle_bytes() -> None:
    prompt = sweep(0.4)
    assert b"\x10" in bytes(b ^ 0x80 for b in prompt[1::2])  # 0x10 on the wire: shielded

    async def main() -> None:
        async with emulated() as (sim, modem, _):
            await modem.dial("5550001", ring_timeout=5.0)
            channel = modem.audio
            assert channel is not None
            start = channel.index
            assert await channel.say(prompt)
            assert channel.index - start >= len(prompt) // FRAME_BYTES  # one frame per frame
            await modem.hang_up()
            captured = sim.captured_pcm()
            at = captured.find(prompt)
            assert at >= 0 and at % FRAME_BYTES == 0
            assert captured[:at] == bytes(at)  # silence before the prompt, frame for frame

    run(main(), timeout=30)


def test_sixteen_bit_linear_is_chosen_where_offered_and_carries_every_bit() -> None:
    sound = sweep(0.5, wide=True)

    async def main() -> None:
        async with emulated(wide=True, sound=sound, baudrate=230400) as (sim, modem, _):
            assert modem.sample_format is not None and modem.sample_format.kind == "s16"
            assert sim.vsm == 140
            await modem.dial("5550001", ring_timeout=5.0)
            channel = modem.audio
            assert channel is not None
            frames = await collect(channel, 30)
            for frame in frames:
                assert frame.heard == frames_at(sound, frame.index)
            assert await channel.say(sound[: 10 * FRAME_BYTES])
            await modem.hang_up()
            assert sound[: 10 * FRAME_BYTES] in sim.captured_pcm()

    run(main(), timeout=30)


def test_sixteen_bit_is_not_chosen_where_the_baud_rate_cannot_carry_it() -> None:
    async def main() -> None:
        async with emulated(wide=True) as (sim, modem, _):  # 115200 baud
            assert modem.sample_format is not None and modem.sample_format.kind == "u8"
            assert sim.vsm == 128

    run(main(), timeout=30)


def test_half_duplex_modem_receives_and_switches_to_transmit_for_a_prompt() -> None:
    sound = sweep(2.0)
    prompt = sweep(0.3)

    async def main() -> None:
        async with emulated(duplex=False, sound=sound) as (sim, modem, _):
            assert modem.capabilities.audio and not modem.duplex
            await modem.dial("5550001", ring_timeout=5.0)
            channel = modem.audio
            assert channel is not None and sim.streams == ["rx"]
            heard = await collect(channel, 5)
            assert all(f.heard == frames_at(sound, f.index) for f in heard)
            listening: asyncio.Task[list[AudioFrame]] = asyncio.ensure_future(collect(channel, 40))
            await asyncio.sleep(0)  # the listener is registered before the prompt starts
            assert await channel.say(prompt)
            frames = await listening
            said = b"".join(f.said for f in frames)
            assert prompt in said
            # the channel stays clocked: while the prompt was played, silence was heard
            assert all(f.heard == SILENCE for f in frames if f.said != SILENCE)
            await collect(channel, 3)  # receiving again
            assert sim.streams == ["rx", "tx", "rx"]
            assert prompt in sim.captured_pcm()
            await modem.hang_up()
            assert not channel.active

    run(main(), timeout=30)


def test_keys_and_the_far_end_hanging_up_come_inside_the_stream() -> None:
    async def main() -> None:
        async with emulated(sound=sweep(0.5)) as (sim, modem, events):
            start = len(events.items)
            await modem.dial("5550002", ring_timeout=5.0)
            channel = modem.audio
            assert channel is not None
            ended = await wait_event(events, CallEnded, start, timeout=10.0)
            assert ended.result.end_reason == "far end hung up"
            assert "loop current interrupted" in ended.result.evidence
            assert [e.digit for e in events.items[start:] if isinstance(e, Dtmf)] == ["1", "#"]
            assert not channel.active and modem.audio is None
            assert channel.stats.frames > 0  # the keys came while the sound streamed
            assert not sim.off_hook and sim.stream_mode is None
            assert modem.health().up

    run(main(), timeout=30)


def test_an_incoming_call_answered_has_its_sound() -> None:
    sound = sweep(0.5)

    async def main() -> None:
        async with emulated(sound=sound) as (sim, modem, events):
            sim.incoming(parse_incoming("+15550100"))
            from appliance.drivers.line import IncomingCall

            await wait_event(events, IncomingCall, 0, timeout=5.0)
            result = await modem.answer()
            assert result.outcome is Outcome.CONNECTED
            channel = modem.audio
            assert channel is not None
            frames = await collect(channel, 10)
            assert all(f.heard == frames_at(sound, f.index) for f in frames)
            await modem.hang_up()
            assert not channel.active

    run(main(), timeout=30)


def parse_incoming(number: str) -> Any:
    from appliance.drivers.emulators.plans import parse_incoming_command

    return parse_incoming_command(f"{number} ring=60")


# ------------------------------------------------------------------ hostile
def test_unknown_dle_codes_in_the_stream_are_counted_and_the_samples_stay_aligned() -> None:
    sound = sweep(3.0)

    async def main() -> None:
        async with emulated(sound=sound) as (sim, modem, events):
            await modem.dial("5550001", ring_timeout=5.0)
            channel = modem.audio
            assert isinstance(channel, StreamChannel)
            await collect(channel, 5)
            sim.inject(bytes([0x10, 0xFE, 0x10, 0x01]))  # no modem sends these pairs
            frames = await collect(channel, 40)
            assert channel.garbage == 2
            # the 4 bytes were kept as data: frames from then on are 4 samples late, not torn
            late = [f for f in frames if f.heard != frames_at(sound, f.index)]
            assert late, "the injected bytes must show somewhere"
            last = frames[-1]
            shifted = frames_at(b"\x00" * 8 + sound, last.index)  # 4 samples later
            assert last.heard[16:] == shifted[16:]
            assert channel.active and modem.health().up
            assert not any(isinstance(e, CallEnded) for e in events.items)

    run(main(), timeout=30)


def test_a_stream_that_stops_is_restarted_and_a_dead_one_ends_the_audio_not_the_call() -> None:
    async def main() -> None:
        async with emulated(sound=sweep(5.0), stream_stall=0.3) as (sim, modem, events):
            await modem.dial("5550001", ring_timeout=5.0)
            channel = modem.audio
            assert isinstance(channel, StreamChannel)
            await collect(channel, 5)
            sim.stalled = True
            await until(lambda: channel.stalls >= 1)
            sim.stalled = False
            before = channel.index
            await collect(channel, 5)
            assert channel.index > before and sim.streams[:2] == ["duplex", "duplex"]
            sim.stalled = True  # for good: after STALL_RESTARTS the call goes on without audio
            async for _ in channel.listen():
                pass  # ends when the driver gives the stream up
            assert not channel.active and modem.audio is None
            assert channel.stalls > 3
            assert modem._call is not None and modem._call.up  # the call itself goes on
            assert "audio stream stopped" in " ".join(modem._call.evidence)
            ours = await modem.hang_up()
            assert ours is not None and ours.outcome is Outcome.CONNECTED
            assert [e for e in events.items if isinstance(e, CallEnded)] == [CallEnded(
                "line0", ours)]  # fmt: skip

    run(main(), timeout=40)


def test_a_modem_without_a_linear_format_has_no_audio_path_and_says_why() -> None:
    async def main() -> None:
        async with emulated() as (sim, modem, _):
            sim.formats = {}  # refuses every +VSM
            await modem.close()
            await modem.open()
            assert not modem.capabilities.audio and modem.sample_format is None
            assert modem.audio_problem is not None and "AT+VSM=?" in modem.audio_problem
            result = await modem.dial("5550001", ring_timeout=5.0)
            assert result.outcome is Outcome.CONNECTED and modem.audio is None
            assert sim.streams == []

    run(main(), timeout=30)


def test_the_formats_of_vendor_lists() -> None:
    conexant = ['128,"8-BIT LINEAR",(7200,8000,11025)', '130,"UNSIGNED PCM",(7200,8000,11025)',
                '132,"4-BIT IMA ADPCM",(7200,8000)']  # fmt: skip
    assert [(f.cml, f.kind) for f in offered_formats(conexant)] == [(128, "u8"), (130, "u8")]
    v253 = ['0,"SIGNED PCM",8,0,(8000),(0),(0)', '1,"UNSIGNED PCM",8,0,(8000),(0),(0)',
            '2,"LINEAR",16,0,(8000),(0),(0)', '4,"G.711U",8,0,(8000),(0),(0)']  # fmt: skip
    assert [(f.cml, f.kind) for f in offered_formats(v253)] == [(2, "s16"), (1, "u8"), (0, "s8")]
    assert offered_formats(['129,"IMA ADPCM",4,0,(8000)', '1,"UNSIGNED PCM",8,0,(11025)']) == []
    assert offered_formats(["garbage", '"no number"', ""]) == []


def test_the_far_end_hanging_up_during_a_half_duplex_prompt_ends_the_prompt_and_the_call() -> None:
    async def main() -> None:
        async with emulated(duplex=False) as (sim, modem, events):
            await modem.dial("5550001", ring_timeout=5.0)
            channel = modem.audio
            assert channel is not None
            saying = asyncio.ensure_future(channel.say(sweep(30.0)))  # longer than the call
            await until(lambda: sim.stream_mode == "tx")
            sim._far_end_hangs_up()  # <DLE>l while the modem plays
            assert await asyncio.wait_for(saying, 10.0) is False
            ended = await wait_event(events, CallEnded, 0, timeout=10.0)
            assert "loop current interrupted" in ended.result.evidence
            assert not channel.active and not sim.off_hook and sim.stream_mode is None
            assert modem.health().up

    run(main(), timeout=30)


def test_silence_in_a_receive_stream_is_the_far_end_gone_and_tones_are_evidence() -> None:
    async def main() -> None:
        async with emulated(duplex=False) as (sim, modem, events):
            await modem.dial("5550001", ring_timeout=5.0)
            channel = modem.audio
            assert channel is not None
            await collect(channel, 3)
            sim._event("c")  # a fax's calling tone: evidence, the call goes on
            await collect(channel, 3)
            assert channel.active and "fax calling tone" in (
                modem._call.evidence if modem._call else []
            )
            sim._event("s")  # +VSD silence from the start: presumed hang-up
            ended = await wait_event(events, CallEnded, 0, timeout=10.0)
            assert ended.result.end_reason == "far end hung up (silence)"
            assert (
                "fax calling tone" in ended.result.evidence and "silence" in ended.result.evidence
            )
            assert not channel.active

    run(main(), timeout=30)


def test_a_modem_that_ends_the_stream_by_itself_is_put_back_in_it() -> None:
    sound = sweep(4.0)

    async def main() -> None:
        async with emulated(sound=sound) as (sim, modem, _):
            await modem.dial("5550001", ring_timeout=5.0)
            channel = modem.audio
            assert isinstance(channel, StreamChannel)
            await collect(channel, 3)
            sim.leave_stream()
            await until(lambda: sim.streams == ["duplex", "duplex"])
            frames = await collect(channel, 5)
            assert channel.active and channel.stalls == 1
            assert all(f.heard != SILENCE for f in frames)  # the sound goes on
            assert modem._call is not None
            assert "the modem ended the audio stream" in modem._call.evidence
            assert modem.health().up

    run(main(), timeout=30)


def test_keys_and_stored_messages_go_by_the_stream_while_it_runs() -> None:
    async def main() -> None:
        async with emulated() as (sim, modem, _):
            with tempfile.TemporaryDirectory() as tmp:
                message = Path(tmp) / "hello.ub"  # 8-bit unsigned, the stream's format
                audio = bytes(range(256)) * 4  # 0x10 included
                message.write_bytes(audio)
                await modem.dial("5550001", ring_timeout=5.0)
                await modem.play(str(message))
                await modem.send_dtmf("5")
            await modem.hang_up()
            assert "AT+VTX" not in sim.commands and not any("+VTS" in c for c in sim.commands)
            captured = sim.captured_pcm()
            wire = bytes(captured[1::2][i] ^ 0x80 for i in range(len(captured) // 2))
            at = wire.find(audio)
            assert at >= 0  # byte for byte, DLEs and all
            after = wire[at + len(audio) :]
            # then the key, said as its tone pair: 100 ms (800 samples) of sound
            assert 700 <= sum(1 for b in after if b != 0x80) <= 800

    run(main(), timeout=30)


def test_the_factory_gives_a_v253_line_its_audio() -> None:
    from appliance.config.models import LineConfig
    from appliance.engine.factory import make_line
    from appliance.errors import DialboxError

    line = make_line(LineConfig(name="a", kind="v253", device="/dev/null", audio="stream"))
    assert isinstance(line, VoiceModem) and line.audio_mode == "stream"
    plain = make_line(LineConfig(name="b", kind="v253", device="/dev/null"))
    assert isinstance(plain, VoiceModem) and plain.audio_mode is None
    with pytest.raises(DialboxError, match="'stream'"):
        make_line(LineConfig(name="c", kind="v253", device="/dev/null", audio="/dev/ttyUSB2"))


def test_the_control_socket_scripts_the_sound_and_hands_out_the_capture() -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory(prefix="dialbox-v253c-") as tmp:
            farm = VoiceFarm(1, Path(tmp), parse_script(SCRIPT), seed=1)
            farm.start()
            path = await farm.open_control()
            sim = farm.modems[0]
            modem = VoiceModem(str(Path(tmp) / "v2530"), name="line0", timeouts=TIMEOUTS,
                               min_ring_timeout=0.0, audio="stream", baudrate=230400)  # fmt: skip
            reader, writer = await asyncio.open_unix_connection(str(path))

            async def control(line: str) -> str:
                writer.write(line.encode() + b"\n")
                await writer.drain()
                return (await reader.readline()).decode().strip()

            try:
                assert sim.audio_speed == 1.0  # real time unless told
                for command in ("0 sound tone:1000", "0 speed 5", "0 duplex off", "0 wide on"):
                    assert await control(command) == "ok", command
                assert (await control("0 sound nonsense")).startswith("error: no sound")
                assert (await control("0 speed 1000")).startswith("error: speed takes")
                assert (await control("0 inject zz")).startswith("error: inject takes hex")
                assert (await control("0 capture")).startswith("error: capture takes")
                assert (await control("0 stall maybe")).startswith("error: stall takes on or off")
                await modem.open()
                assert not modem.duplex and modem.sample_format is not None
                assert modem.sample_format.kind == "s16"
                await modem.dial("5550001", ring_timeout=5.0)
                channel = modem.audio
                assert channel is not None
                frames = await collect(channel, 10)
                tone = frames_at(source("tone:1000"), frames[0].index)
                assert frames[0].heard == tone
                prompt = sweep(0.2, wide=True)
                assert await channel.say(prompt)
                await until(lambda: sim.streams[-2:] == ["tx", "rx"])  # the modem has it all
                wav = Path(tmp) / "said.wav"
                assert await control(f"0 capture {wav}") == "ok"
                with wave.open(str(wav), "rb") as w:
                    assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
                    assert prompt in w.readframes(w.getnframes())
                assert await control("0 inject 10fe") == "ok"
                await until(lambda: isinstance(channel, StreamChannel) and channel.garbage == 1)
                await modem.hang_up()
            finally:
                writer.close()
                await modem.close()
                await farm.close_control()
                farm.stop()

    run(main(), timeout=30)


def test_the_engine_closing_the_channel_leaves_the_stream_and_the_call_goes_on() -> None:
    async def main() -> None:
        async with emulated(sound=sweep(2.0)) as (sim, modem, _):
            await modem.dial("5550001", ring_timeout=5.0)
            channel = modem.audio
            assert channel is not None
            await collect(channel, 3)
            await channel.close()
            assert not channel.active and modem.audio is None
            assert sim.stream_mode is None and sim.off_hook  # out of the stream, still on the call
            assert not await channel.say(sweep(0.1))  # nothing more is said
            assert modem.health().up and modem._call is not None and modem._call.up
            ours = await modem.hang_up()
            assert ours is not None and ours.end_reason == "hung up by us" and not sim.off_hook

    run(main(), timeout=30)


def correlation(a: bytes, b: bytes) -> float:
    """Normalised cross-correlation at lag 0 of two s16le signals of the same length."""
    import array

    x, y = array.array("h", a), array.array("h", b)
    dot = sum(p * q for p, q in zip(x, y, strict=True))
    norm = math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))
    return dot / norm if norm else 0.0


def test_the_named_sources_of_sounds_py_are_heard_as_sent() -> None:
    from appliance.drivers.emulators.sounds import sound

    async def main() -> None:
        async with emulated() as (sim, modem, _):
            sim.audio_speed = 20.0
            for name in ("person", "machine"):
                farm_command = f"sound {name}"
                VoiceFarm._audio_control(sim, *farm_command.split())
                await modem.dial("5550001", ring_timeout=5.0)
                channel = modem.audio
                assert channel is not None
                frames = await collect(channel, 250)  # 5 s: the greeting and the beep
                truncated = bytearray(sound(name))
                truncated[0::2] = bytes(len(truncated) // 2)  # an 8-bit stream: high bytes
                heard = b"".join(f.heard for f in frames)
                sent = b"".join(frames_at(bytes(truncated), f.index) for f in frames)
                assert heard == sent, name
                assert correlation(heard, b"".join(frames_at(sound(name), f.index)
                                                   for f in frames)) > 0.99  # fmt: skip
                await modem.hang_up()

    run(main(), timeout=40)


# ------------------------------------------------------------------ the session's data state
CHUNKERS = [one_byte, whole, random_split(7)]


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_the_session_hands_stream_bytes_to_the_sink_and_events_to_the_listener(
    chunker: Any,
) -> None:
    async def main() -> None:
        session = AtSession("v253")
        codes = Collector()
        session.set_dle_listener(codes)
        modem = ScriptedModem()
        data = b"ab\x10\x10\r\nOK\r\n" + bytes(range(256))  # text-like bytes are data here
        shielded = data.replace(b"\x10", b"\x10\x10")
        # CONNECT, then the stream with a key and a busy tone inside, then the modem's
        # end of data and its OK, in the same chunk
        modem.reply(b"AT+VTR", b"\r\nCONNECT\r\n" + shielded[:9] + b"\x105" + shielded[9:]
                    + b"\x10b\x10\x03\r\nOK\r\n")  # fmt: skip
        modem.reply(b"AT", b"\r\nOK\r\n")
        connect(session, modem, chunker)
        sink = bytearray()
        left = Collector()
        response = await session.start_stream(
            Command("AT+VTR", call_progress=True), sink.extend, lambda: left("x")
        )
        assert response.final.text == "CONNECT" and session.streaming
        await left.wait(1)
        assert bytes(sink) == data  # unshielded, nothing framed as a line
        assert codes.items == ["5", "b"]
        assert session.junk_bytes == 0 and session.junk_lines == 0
        queued = asyncio.ensure_future(session.run("AT"))  # waits for the port
        await asyncio.sleep(0)
        assert not queued.done() and b"AT" not in modem.commands
        assert await session.end_stream(None, 1.0) is None  # the modem left by itself
        assert (await queued).ok and not session.streaming

    run(main())


def test_the_session_ends_a_stream_with_the_terminator_and_its_answer() -> None:
    async def main() -> None:
        session = AtSession("v253")
        session.set_dle_listener(Collector())
        modem = ScriptedModem()
        modem.reply(b"AT+VRX", b"\r\nCONNECT\r\n" + b"\x80" * 50)
        connect(session, modem, whole)
        sink = bytearray()
        await session.start_stream(Command("AT+VRX", call_progress=True), sink.extend)
        ending = asyncio.ensure_future(session.end_stream(b"\x10!", 1.0))
        await until(
            lambda: modem.transport is not None and modem.transport.written.endswith(b"\x10!")
        )
        assert modem.transport is not None
        modem.transport.feed(b"\x80\x80\x10\x03\r\nOK\r\n")
        response = await ending
        assert response is not None and response.ok and not session.streaming
        assert bytes(sink) == b"\x80" * 52
        # a modem that does not answer the end: AtTimeout, and the port is free again
        modem._buffer.clear()  # a modem takes <DLE>! out of its input; the script does not
        await session.start_stream(Command("AT+VRX", call_progress=True), sink.extend)
        with pytest.raises(AtTimeout):
            await session.end_stream(b"\x10!", 0.2)
        assert not session.streaming
        modem._buffer.clear()
        modem.reply(b"AT", b"\r\nOK\r\n")
        assert (await session.run(Command("AT", timeout=1.0))).ok

    run(main())


def test_a_key_right_behind_the_modems_answer_is_not_lost() -> None:
    async def main() -> None:
        async with emulated() as (sim, modem, events):
            answered = sim._answered

            def answered_and_key() -> None:
                answered()
                sim._event("7")  # in the same read as VCON, before the dial takes the answer

            sim._answered = answered_and_key  # type: ignore[method-assign]
            start = len(events.items)
            result = await modem.dial("5550001", ring_timeout=5.0)
            assert result.outcome is Outcome.CONNECTED
            key = await wait_event(events, Dtmf, start, timeout=5.0)
            assert key.digit == "7"
            assert modem._call is not None and "dtmf 7" in modem._call.evidence

    run(main(), timeout=30)
