"""The audio channel every line with an audio path gives (#24): frames, say, listeners."""

from __future__ import annotations

import asyncio

import pytest

from appliance.drivers.audio import (
    FRAME_BYTES,
    LISTEN_QUEUE,
    SILENCE,
    AudioFrame,
    LoopbackChannel,
    frames_of,
)


def tone(frames: int, value: int = 1000) -> bytes:
    return value.to_bytes(2, "little", signed=True) * (frames * FRAME_BYTES // 2)


def test_pcm_is_cut_into_whole_frames_padded_with_silence() -> None:
    parts = frames_of(b"\x01\x00" * 200)
    assert [len(p) for p in parts] == [FRAME_BYTES, FRAME_BYTES]
    assert parts[1][80:] == bytes(FRAME_BYTES - 80)
    with pytest.raises(ValueError):
        frames_of(b"\x01")


def test_what_is_said_goes_out_frame_by_frame_as_frames_are_heard() -> None:
    async def main() -> None:
        channel = LoopbackChannel("gsm1")
        heard: list[AudioFrame] = []

        async def listen() -> None:
            async for frame in channel.listen():
                heard.append(frame)

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0)
        saying = asyncio.create_task(channel.say(tone(2, 7)))
        await asyncio.sleep(0)
        back = channel.feed(tone(3, 1))
        assert back == [tone(1, 7), tone(1, 7), SILENCE]
        assert await saying is True
        await channel.close()
        await listener
        assert [(f.index, f.said == tone(1, 7)) for f in heard] == [
            (0, True),
            (1, True),
            (2, False),
        ]
        assert heard[2].at == pytest.approx(0.04)
        assert await channel.say(tone(1)) is False  # the stream is over

    asyncio.run(main())


def test_a_listener_that_falls_behind_loses_frames_and_they_are_counted() -> None:
    async def main() -> None:
        channel = LoopbackChannel("gsm1")
        stream = channel.listen()
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)
        channel.feed(tone(LISTEN_QUEUE + 30))  # nobody reads while these arrive
        assert channel.stats.dropped == 30
        assert (await first).index == 0
        await channel.close()
        rest = [frame async for frame in stream]
        assert len(rest) < LISTEN_QUEUE  # the end got through although the queue was full
        assert channel.stats.frames == LISTEN_QUEUE + 30

    asyncio.run(main())


def test_hush_drops_what_was_queued_and_the_waiter_hears_false() -> None:
    async def main() -> None:
        channel = LoopbackChannel("gsm1")
        saying = asyncio.create_task(channel.say(tone(10)))
        await asyncio.sleep(0)
        channel.feed(tone(1))
        channel.hush()
        assert await saying is False
        assert channel.feed(tone(1)) == [SILENCE]

    asyncio.run(main())


def test_a_listener_hears_from_the_call_to_listen_not_from_its_first_read() -> None:
    async def main() -> None:
        channel = LoopbackChannel("gsm1")
        stream = channel.listen()
        channel.feed(tone(2))  # delivered before the consumer first asks
        await channel.close()
        assert [frame.index async for frame in stream] == [0, 1]
        assert [frame async for frame in channel.listen()] == []  # a finished stream: nothing

    asyncio.run(main())
