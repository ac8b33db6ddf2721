"""The recorder (SPEC O9, #24): what a call's two sides were is what the file holds, the row's
checksum is the file's, and the call never waits for the disk — a full disk, an unwritable
directory or a slow one cost the recording (failed, or frames lost, said in the row and the
metrics), never the call. Audio time is counted in frames; nothing here sleeps."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from appliance.clock import ManualClock
from appliance.config.models import RecordingSettings
from appliance.drivers.audio import FRAME_BYTES, SILENCE, LoopbackChannel, frames_of
from appliance.metrics import Metrics
from appliance.recording import recorder as recorder_module
from appliance.recording.recorder import Recorder, RecordingInfo
from appliance.recording.writers import Writer, available, open_writer
from appliance.store import Database, open_database
from appliance.store.recordings import get_recording
from tests.recording.sound import numbered, tone

T0 = 1_767_225_600.0 + 3 * 86400 + 9 * 3600  # 2026-01-04T09:00:00Z


def _db(tmp_path: Path) -> Database:
    return open_database(tmp_path / "box.db")


def _start(
    recorder: Recorder, channel: LoopbackChannel, attempt: int = 7, agent: str | None = "anna"
):  # type: ignore[no-untyped-def]
    return recorder.start(channel, attempt_id=attempt, campaign="spring", line="gsm1",
                          number="+48601234567", agent=agent, direction="outbound")  # fmt: skip


async def _feed(channel: LoopbackChannel, heard: bytes, per_step: int = 5) -> list[bytes]:
    """Deliver `heard` frame by frame, letting the loop run every `per_step` frames (as a line's
    reads come); the frames said back."""
    said: list[bytes] = []
    for i, frame in enumerate(frames_of(heard)):
        said += channel.feed(frame)
        if i % per_step == 0:
            await asyncio.sleep(0)
    return said


def _pcm(column: np.ndarray) -> bytes:
    return column.astype("<i2").tobytes()


def test_the_file_holds_both_sides_as_they_were_and_the_row_its_checksum(tmp_path: Path) -> None:
    db = _db(tmp_path)
    metrics = Metrics()
    heard = tone(440, 150) + numbered(100, seed=1)  # 5 s of the far end
    prompt = numbered(60, seed=2)  # 1.2 s said by the box, from frame 20 on

    async def main() -> tuple[RecordingInfo | None, list[bytes]]:
        recorder = Recorder(db, RecordingSettings(), tmp_path / "rec", ManualClock(T0), metrics)
        channel = LoopbackChannel("gsm1")
        recording = _start(recorder, channel, agent=None)
        await asyncio.sleep(0)
        said = await _feed(channel, heard[: 20 * FRAME_BYTES])
        recording.agent = "anna"  # the call was put through to her after the answer
        saying = asyncio.ensure_future(channel.say(prompt))
        await asyncio.sleep(0)
        said += await _feed(channel, heard[20 * FRAME_BYTES :])
        assert await saying is True
        info = await recording.stop()
        assert await recording.stop() is info  # finished once
        return info, said

    info, said = asyncio.run(main())
    assert info is not None and info.status == "complete", info
    assert info.path == tmp_path / "rec" / "2026" / "01" / "04" / "7-gsm1.flac"
    data, rate = sf.read(str(info.path), dtype="int16")
    assert rate == 8000 and data.shape == (250 * 160, 2)
    assert _pcm(data[:, 0]) == heard  # left: the far end, sample for sample
    assert _pcm(data[:, 1]) == b"".join(said)  # right: what the box said, when it said it
    assert _pcm(data[20 * 160 : 80 * 160, 1]) == prompt
    assert _pcm(data[: 20 * 160, 1]) == SILENCE * 20
    # The checksum is the file's, in the row and the answer; duration counted in frames.
    digest = hashlib.sha256(info.path.read_bytes()).hexdigest()
    row = get_recording(db, info.id)
    assert row is not None
    assert info.sha256 == row.sha256 == digest and row.bytes == info.path.stat().st_size
    assert row.duration == info.duration == 5.0 and row.frames_lost == 0
    assert (row.attempt_id, row.campaign, row.line, row.agent, row.direction, row.status) == (
        7, "spring", "gsm1", "anna", "outbound", "complete")  # fmt: skip
    assert row.path == "2026/01/04/7-gsm1.flac" and row.started_at == T0
    assert metrics.recordings.labels("complete")._value.get() == 1
    assert not list((tmp_path / "rec").rglob("*.part"))  # written under a temporary name


@pytest.mark.parametrize("fmt", ["wav", "opus"])
def test_wav_and_opus(tmp_path: Path, fmt: str) -> None:
    if not available(fmt):
        pytest.skip(f"libsndfile here cannot write {fmt}")
    db = _db(tmp_path)
    heard, said_back = tone(500, 100), tone(700, 100, amplitude=6000)

    async def main() -> RecordingInfo | None:
        recorder = Recorder(db, RecordingSettings(format=fmt), tmp_path / "rec", ManualClock(T0))
        channel = LoopbackChannel("gsm1")
        recording = _start(recorder, channel)
        await asyncio.sleep(0)
        saying = asyncio.ensure_future(channel.say(said_back))
        await asyncio.sleep(0)
        await _feed(channel, heard)
        await saying
        await channel.close()  # the call ends: the recording finishes by itself
        return await recording.stop()

    info = asyncio.run(main())
    assert info is not None and info.status == "complete" and info.format == fmt
    assert info.path is not None and info.path.suffix == f".{fmt}"
    data, rate = sf.read(str(info.path), dtype="int16")
    assert data.shape[1] == 2 and info.duration == 2.0
    if fmt == "wav":
        assert _pcm(data[:, 0]) == heard and _pcm(data[:, 1]) == said_back
    else:  # lossy: the same tones, each on its side
        assert rate == 8000 and abs(len(data) - 16000) < 1000
        for column, hz in ((0, 500), (1, 700)):
            spectrum = np.abs(np.fft.rfft(data[2000:14000, column].astype(float)))
            peak = np.argmax(spectrum) * rate / 12000
            assert abs(peak - hz) < 10, (column, peak)


class FullDisk:
    """A writer whose disk fills after `room` writes (ENOSPC, as write(2) says it)."""

    def __init__(self, path: Path, fmt: str, room: int, log: list[str]) -> None:
        self.inner = open_writer(path, fmt)
        self.room = room
        self.log = log

    def write(self, heard: bytes, said: bytes) -> None:
        if self.room == 0:
            self.log.append("full")
            raise OSError(errno.ENOSPC, "No space left on device", "/var/lib/dialbox/rec")
        self.room -= 1
        self.inner.write(heard, said)

    def close(self) -> None:
        self.inner.close()


def test_a_full_disk_mid_call_costs_the_recording_not_the_call(tmp_path: Path) -> None:
    db = _db(tmp_path)
    metrics = Metrics()
    events: list[str] = []
    heard = numbered(500, seed=3)  # 10 s
    prompt = numbered(400, seed=4)

    def writer(path: Path, fmt: str) -> Writer:
        return FullDisk(path, fmt, room=3, log=events)

    async def main() -> tuple[RecordingInfo | None, list[bytes], bool]:
        recorder = Recorder(db, RecordingSettings(), tmp_path / "rec", ManualClock(T0), metrics,
                            open_writer=writer)  # fmt: skip
        channel = LoopbackChannel("gsm1")
        recording = _start(recorder, channel)
        await asyncio.sleep(0)
        saying = asyncio.ensure_future(channel.say(prompt))
        await asyncio.sleep(0)
        said = await _feed(channel, heard)
        return await recording.stop(), said, await saying

    info, said, spoken = asyncio.run(main())
    # The call went on: every frame heard was answered, the whole prompt was said.
    assert len(said) == 500 and b"".join(said[:400]) == prompt and spoken is True
    assert events == ["full"]  # the recorder stopped writing at the first failure
    assert info is not None and info.status == "failed" and info.path is None
    assert info.error is not None and "No space left on device" in info.error
    assert "budget_mb" in info.error and "the call went on unrecorded" in info.error
    row = get_recording(db, info.id)
    assert row is not None and row.status == "failed" and row.error == info.error
    assert row.sha256 is None and row.bytes == 0 and row.duration == 10.0
    assert metrics.recordings.labels("failed")._value.get() == 1
    assert not [p for p in (tmp_path / "rec").rglob("*") if p.is_file()]  # no partial file


def test_a_recordings_directory_that_is_a_file_fails_each_recording_with_what_to_do(
    tmp_path: Path,
) -> None:
    db = _db(tmp_path)
    (tmp_path / "rec").write_text("not a directory")

    async def main() -> RecordingInfo | None:
        recorder = Recorder(db, RecordingSettings(), tmp_path / "rec", ManualClock(T0))
        channel = LoopbackChannel("gsm1")
        recording = _start(recorder, channel)
        await asyncio.sleep(0)
        await _feed(channel, tone(300, 50))
        return await recording.stop()

    info = asyncio.run(main())
    assert info is not None and info.status == "failed"
    assert info.error is not None and "make recordings.directory" in info.error, info.error
    assert info.duration == 1.0


def test_a_slow_disk_loses_frames_as_silence_counted_in_the_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder_module, "MAX_PENDING", 100)  # 2 s of audio behind, then drop
    monkeypatch.setattr(recorder_module, "SILENCE_PIECE", 7)  # a long gap written in pieces
    db = _db(tmp_path)
    metrics = Metrics()
    stuck = threading.Event()
    heard = numbered(600, seed=5)

    class SlowDisk:
        def __init__(self, path: Path, fmt: str) -> None:
            self.inner = open_writer(path, fmt)

        def write(self, heard: bytes, said: bytes) -> None:
            stuck.wait(30)  # the disk hangs until the call is over
            self.inner.write(heard, said)

        def close(self) -> None:
            self.inner.close()

    async def main() -> tuple[RecordingInfo | None, int]:
        recorder = Recorder(db, RecordingSettings(format="wav"), tmp_path / "rec",
                            ManualClock(T0), metrics, open_writer=SlowDisk)  # fmt: skip
        channel = LoopbackChannel("gsm1")
        recording = _start(recorder, channel)
        await asyncio.sleep(0)
        said = await _feed(channel, heard)
        stopping = recording.stop()
        stuck.set()
        return await stopping, len(said)

    info, answered = asyncio.run(main())
    assert answered == 600  # the line never waited
    assert info is not None and info.status == "complete" and info.path is not None
    # Kept: what the recorder's queue holds (MAX_PENDING), the batch the stuck write holds,
    # and perhaps the last batch, if the listener completes it after the disk came back.
    assert 600 - 100 - 2 * recorder_module.BATCH <= info.frames_lost <= 600 - 100
    data, _ = sf.read(str(info.path), dtype="int16")
    assert len(data) == 600 * 160  # the timeline is whole: lost frames are silence
    left = frames_of(_pcm(data[:, 0]))
    fed = frames_of(heard)
    kept = [i for i in range(600) if left[i] == fed[i]]
    silent = [i for i in range(600) if left[i] == SILENCE]
    assert len(kept) + len(silent) == 600 and len(silent) == info.frames_lost
    row = get_recording(db, info.id)
    assert row is not None and row.frames_lost == info.frames_lost
    assert metrics.recording_frames_lost._value.get() == info.frames_lost


def test_a_stream_that_stops_mid_call_finishes_the_file_by_itself(tmp_path: Path) -> None:
    db = _db(tmp_path)
    heard = numbered(130, seed=6)

    async def main() -> tuple[RecordingInfo | None, RecordingInfo | None, Recorder]:
        recorder = Recorder(db, RecordingSettings(), tmp_path / "rec", ManualClock(T0))
        channel = LoopbackChannel("gsm1")
        recording = _start(recorder, channel, attempt=9)
        await asyncio.sleep(0)
        await _feed(channel, heard)
        channel._finish()  # the port went away; nobody called stop()
        await asyncio.sleep(0)  # the listener sees the end and begins the finishing itself
        assert recording.finished is not None
        first = await recording.finished
        return first, await recording.stop(), recorder

    first, again, recorder = asyncio.run(main())
    assert first is again and first is not None and first.status == "complete"
    assert first.duration == 2.6 and not recorder.active
    assert first.path is not None
    data, _ = sf.read(str(first.path), dtype="int16")
    assert _pcm(data[:, 0]) == heard


def test_stop_ends_the_file_while_the_call_goes_on_and_a_second_recording_gets_its_own_name(
    tmp_path: Path,
) -> None:
    db = _db(tmp_path)

    async def main() -> list[RecordingInfo | None]:
        recorder = Recorder(db, RecordingSettings(), tmp_path / "rec", ManualClock(T0))
        channel = LoopbackChannel("gsm1")
        infos = []
        for seed in (7, 8):
            recording = _start(recorder, channel, attempt=11)
            await asyncio.sleep(0)
            await _feed(channel, numbered(50, seed=seed))
            infos.append(await recording.stop())
            await _feed(channel, numbered(20, seed=9))  # between: not recorded
        return infos

    first, second = asyncio.run(main())
    assert first is not None and second is not None
    assert first.duration == second.duration == 1.0
    assert first.path is not None and second.path is not None
    assert (first.path.name, second.path.name) == ("11-gsm1.flac", "11-gsm1-2.flac")
    data, _ = sf.read(str(second.path), dtype="int16")
    assert _pcm(data[:, 0]) == numbered(50, seed=8)


def test_a_disk_that_hangs_past_the_end_of_the_call_does_not_hold_the_call_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder_module, "FINISH_WITHIN", 0.05)  # the bound, not a wait for it
    db = _db(tmp_path)
    hung = threading.Event()

    class HungDisk:
        def __init__(self, path: Path, fmt: str) -> None:
            self.inner = open_writer(path, fmt)

        def write(self, heard: bytes, said: bytes) -> None:
            self.inner.write(heard, said)

        def close(self) -> None:
            hung.wait(30)  # an NFS mount gone away, until the test lets it come back
            self.inner.close()

    async def main() -> tuple[RecordingInfo | None, RecordingInfo | None]:
        recorder = Recorder(db, RecordingSettings(), tmp_path / "rec", ManualClock(T0),
                            open_writer=HungDisk)  # fmt: skip
        channel = LoopbackChannel("gsm1")
        recording = _start(recorder, channel)
        await asyncio.sleep(0)
        await _feed(channel, numbered(100, seed=10))
        answer = await recording.stop()  # the call's end gets its answer, the disk or not
        assert db.scalar("SELECT count(*) FROM recordings") == 0
        hung.set()
        assert recording.finished is not None
        return answer, await recording.finished

    answer, later = asyncio.run(main())
    assert answer is None
    assert later is not None and later.status == "complete" and later.duration == 2.0
    row = get_recording(db, later.id)
    assert row is not None and row.sha256 == later.sha256
