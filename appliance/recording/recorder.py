"""Recording a call (SPEC O9, #24) without ever holding it up.

`Recorder.start(channel, …)` listens to the call's `AudioChannel` from now on; the frames (heard
and said together) go in batches of half a second to a worker thread of the recording's own,
which encodes them into one stereo file — left the far end, right the box — under a temporary
name. `Recording.stop()` (or the end of the stream) finishes the file off the event loop: its
SHA-256, then the rename to `<directory>/<yyyy>/<mm>/<dd>/<attempt>-<line>.<ext>`, then one row
in the store.

The call never waits for the disk and never fails because of it:
- a write that fails (the disk full, the directory unwritable, the encoder's error) ends the
  file, not the call: the partial file is removed, the rest of the call's frames are taken and
  dropped, and the row says `failed` with the reason — logged, counted
  (`dialbox_recordings_total{result="failed"}`) and listed (`GET /recordings?status=failed`,
  `/status`);
- a disk slower than the call: the channel's listener queue (10 s) and this recorder's own
  queue (MAX_PENDING) absorb it; beyond them frames are lost rather than the line's I/O
  stalled. A lost stretch is written as silence, so both sides and the timeline stay aligned,
  and counted in the row's `frames_lost` and `dialbox_recording_frames_lost_total`.

Times are audio time: the frames' own index (20 ms each) from the channel's index at `start`,
so `duration` is frames × 20 ms whatever the wall clock did.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import os
import queue
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from appliance.clock import Clock
from appliance.config.models import RecordingSettings
from appliance.drivers.audio import FRAME_MS, SILENCE, AudioChannel, AudioFrame
from appliance.metrics import Metrics
from appliance.recording.writers import (
    EXTENSIONS,
    OpenWriter,
    Writer,
    effective_format,
    open_writer,
)
from appliance.store.db import Database
from appliance.store.recordings import insert_recording

log = logging.getLogger(__name__)

BATCH = 25  # frames handed to the worker at once: 0.5 s
MAX_PENDING = 3000  # frames the worker may be behind (60 s) before frames are dropped
FINISH_WITHIN = 10.0  # seconds `stop()` waits for the disk to finish a file

Direction = Literal["outbound", "inbound"]


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """What a finished recording left: its row's id and what the row says."""

    id: int
    status: Literal["complete", "failed"]
    path: Path | None  # the file (absolute); None when none was kept
    format: str
    bytes: int
    sha256: str | None
    duration: float  # seconds of audio
    frames_lost: int
    error: str | None


@dataclass(slots=True)
class _Outcome:
    frames: int = 0
    lost: int = 0
    error: str | None = None
    relpath: str | None = None
    size: int = 0
    sha256: str | None = None


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", part) or "line"


def _why(exc: BaseException, directory: Path) -> str:
    """An error as the row and the log say it, with what to do."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        text = f"{exc.strerror}{where}"
        if exc.errno in (28, 122):  # ENOSPC, EDQUOT
            return (
                f"{text}: free space on {directory}'s disk or lower recordings.budget_mb; "
                "the call went on unrecorded"
            )
        if exc.errno in (13, 30, 20, 2):  # EACCES, EROFS, ENOTDIR, ENOENT
            return (
                f"{text}: make recordings.directory ({directory}) a directory the daemon may "
                "write; the call went on unrecorded"
            )
        return f"{text}; the call went on unrecorded"
    return f"{type(exc).__name__}: {exc}; the call went on unrecorded"


class Recording:
    """One call being recorded. `stop()` ends it; it also ends by itself when the stream does."""

    def __init__(
        self,
        recorder: Recorder,
        channel: AudioChannel,
        *,
        attempt_id: int,
        campaign: str,
        line: str,
        number: str,
        agent: str | None,
        direction: Direction,
    ) -> None:
        self._recorder = recorder
        self._channel = channel
        self.attempt_id = attempt_id
        self.campaign, self.line, self.number = campaign, line, number
        self.agent, self.direction = agent, direction
        self.started_at = recorder.clock.now()
        self.format = recorder.format
        self._start_index = channel.index
        day = datetime.fromtimestamp(self.started_at, UTC).strftime("%Y/%m/%d")
        self._relname = f"{day}/{attempt_id}-{_safe(line)}.{EXTENSIONS[self.format]}"
        self._queue: queue.SimpleQueue[list[AudioFrame] | int] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._outcome: concurrent.futures.Future[_Outcome] = concurrent.futures.Future()
        self._stopping: asyncio.Task[RecordingInfo | None] | None = None
        self._listening: asyncio.Task[None] | None = None
        self._thread = threading.Thread(
            target=self._work, name=f"recording-{attempt_id}", daemon=True
        )
        self._thread.start()
        self._listening = asyncio.get_running_loop().create_task(
            self._listen(), name=f"recording-{attempt_id}"
        )

    # ------------------------------------------------------------------ the event loop's side
    async def _listen(self) -> None:
        batch: list[AudioFrame] = []
        try:
            async for frame in self._channel.listen():
                batch.append(frame)
                if len(batch) >= BATCH:
                    self._hand(batch)
                    batch = []
        finally:
            if batch:
                self._hand(batch)
        self.stop()  # the stream ended: finish without waiting to be told

    def _hand(self, batch: list[AudioFrame]) -> None:
        """Give the worker a batch, or drop it (counted, as a gap) when it is too far behind."""
        with self._lock:
            if self._pending + len(batch) > MAX_PENDING:
                return  # the worker sees the gap in the indexes: silence, counted as lost
            self._pending += len(batch)
        self._queue.put(batch)

    def stop(self) -> asyncio.Future[RecordingInfo | None]:
        """Stop listening and finish the file off the event loop; await the answer for the
        outcome. Never raises. The answer is None when not even a row could be stored, or when
        the disk has not finished the file within FINISH_WITHIN seconds: the caller (the call's
        end) does not wait longer, and the recording finishes in the background, its row stored
        when the disk is done (`finished` is that). Calling it again is harmless."""
        loop = asyncio.get_running_loop()
        if self._stopping is None:
            self._stopping = loop.create_task(
                self._finish(self._channel.index), name=f"recording-{self.attempt_id}-stop"
            )
        answer: asyncio.Future[RecordingInfo | None] = loop.create_future()

        def finished(task: asyncio.Task[RecordingInfo | None]) -> None:
            if not answer.done():
                answer.set_result(None if task.cancelled() else task.result())

        def too_slow() -> None:
            if not answer.done():
                log.warning("recording of attempt %s: the disk has not finished the file after "
                            "%g s; the call goes on, its row comes when the disk is done",
                            self.attempt_id, FINISH_WITHIN)  # fmt: skip
                answer.set_result(None)

        self._stopping.add_done_callback(finished)
        timer = loop.call_later(FINISH_WITHIN, too_slow)
        answer.add_done_callback(lambda _: timer.cancel())
        return answer

    @property
    def finished(self) -> asyncio.Task[RecordingInfo | None] | None:
        """The finishing of the file and the row, once `stop` began it (await it to wait for
        the disk however long it takes)."""
        return self._stopping

    @property
    def done(self) -> bool:
        return self._stopping is not None and self._stopping.done()

    async def _finish(self, end: int) -> RecordingInfo | None:
        recorder = self._recorder
        try:
            await asyncio.sleep(0)  # the listener takes the frames queued before the stop
            listening = self._listening
            if listening is not None and not listening.done():
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening
            self._queue.put(end)
            outcome = await asyncio.wrap_future(self._outcome)
        except Exception as exc:  # a bug here must not reach the call
            log.exception("recording of attempt %s: could not finish", self.attempt_id)
            outcome = _Outcome(error=_why(exc, recorder.directory))
        return recorder._store(self, outcome, end - self._start_index)

    # ------------------------------------------------------------------ the worker thread
    def _work(self) -> None:
        recorder = self._recorder
        outcome = _Outcome()
        final = recorder.directory / self._relname
        temp = final.with_name(f".{final.name}.part")
        writer: Writer | None = None
        expected = self._start_index
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            writer = recorder.open_writer(temp, self.format)
        except Exception as exc:
            outcome.error = _why(exc, recorder.directory)
            log.error("recording of attempt %s on %s failed: %s", self.attempt_id, self.line,
                      outcome.error)  # fmt: skip
        end: int | None = None
        while end is None:
            item = self._queue.get()
            if isinstance(item, int):
                end = item
                frames: list[AudioFrame] = []
            else:
                frames = [f for f in item if f.index >= expected]
                with self._lock:
                    self._pending -= len(item)
            heard: list[bytes] = []
            said: list[bytes] = []
            for frame in frames:
                if end is not None and frame.index >= end:
                    break
                gap = frame.index - expected
                if gap > 0:
                    outcome.lost += gap
                    heard.append(SILENCE * gap)
                    said.append(SILENCE * gap)
                heard.append(frame.heard)
                said.append(frame.said)
                expected = frame.index + 1
            if end is not None and end > expected:
                outcome.lost += end - expected
                heard.append(SILENCE * (end - expected))
                said.append(SILENCE * (end - expected))
                expected = end
            if writer is not None and heard:
                try:
                    writer.write(b"".join(heard), b"".join(said))
                except Exception as exc:
                    outcome.error = _why(exc, recorder.directory)
                    log.error("recording of attempt %s on %s failed: %s", self.attempt_id,
                              self.line, outcome.error)  # fmt: skip
                    self._discard(writer, temp)
                    writer = None
        outcome.frames = expected - self._start_index
        if writer is not None:
            try:
                writer.close()
                writer = None
                outcome.size, outcome.sha256 = _seal(temp)
                outcome.relpath = _place(temp, final, recorder.directory)
            except Exception as exc:
                outcome.error = _why(exc, recorder.directory)
                log.error("recording of attempt %s on %s failed: %s", self.attempt_id, self.line,
                          outcome.error)  # fmt: skip
                self._discard(writer, temp)
                outcome.size, outcome.sha256, outcome.relpath = 0, None, None
        self._outcome.set_result(outcome)

    @staticmethod
    def _discard(writer: Writer | None, temp: Path) -> None:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        with contextlib.suppress(OSError):
            temp.unlink()


def _seal(path: Path) -> tuple[int, str]:
    """Flush the finished file to the disk; its size and SHA-256."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 16):
            digest.update(chunk)
        os.fsync(f.fileno())
    return path.stat().st_size, digest.hexdigest()


def _place(temp: Path, final: Path, directory: Path) -> str:
    """Rename the finished file to its name (another of the attempt's on that line: -2, -3…);
    its path relative to the recordings directory."""
    target, n = final, 1
    while True:
        try:
            os.link(temp, target)  # fails if the name is taken, unlike a rename
        except FileExistsError:
            n += 1
            target = final.with_name(f"{final.stem}-{n}{final.suffix}")
            continue
        except OSError:  # a filesystem without hard links
            if target.exists():
                n += 1
                target = final.with_name(f"{final.stem}-{n}{final.suffix}")
                continue
            os.replace(temp, target)
            break
        temp.unlink()
        break
    return target.relative_to(directory).as_posix()


class Recorder:
    """Starts recordings of calls, as the config's `recordings` section says (format, where)."""

    def __init__(
        self,
        db: Database,
        settings: RecordingSettings,
        directory: Path,
        clock: Clock,
        metrics: Metrics | None = None,
        *,
        open_writer: OpenWriter = open_writer,
    ) -> None:
        self.db = db
        self.clock = clock
        self.metrics = metrics
        self.directory = Path(directory).absolute()
        self.open_writer = open_writer
        self.settings = settings
        self.format = effective_format(settings.format)
        self.active: set[Recording] = set()

    def reload(self, settings: RecordingSettings) -> None:
        """New settings (SIGHUP): calls recorded from now on take the new format."""
        if settings.format != self.settings.format:
            self.format = effective_format(settings.format)
        self.settings = settings

    def start(
        self,
        channel: AudioChannel,
        *,
        attempt_id: int,
        campaign: str,
        line: str,
        number: str,
        agent: str | None,
        direction: Direction,
    ) -> Recording:
        """Record the call on `channel` from now (call on the event loop, at the answer)."""
        recording = Recording(self, channel, attempt_id=attempt_id, campaign=campaign, line=line,
                              number=number, agent=agent, direction=direction)  # fmt: skip
        self.active.add(recording)
        return recording

    async def stop_all(self) -> None:
        """Finish every recording still running (the daemon stops; each waits FINISH_WITHIN
        at most)."""
        await asyncio.gather(*(r.stop() for r in list(self.active)))

    def _store(self, recording: Recording, outcome: _Outcome, frames: int) -> RecordingInfo | None:
        """The row of a finished recording, the metrics, the log; None if the row failed too."""
        self.active.discard(recording)
        status: Literal["complete", "failed"] = "failed" if outcome.error else "complete"
        duration = max(frames, outcome.frames) * FRAME_MS / 1000
        if self.metrics is not None:
            self.metrics.recordings.labels(status).inc()
            if outcome.lost:
                self.metrics.recording_frames_lost.inc(outcome.lost)
        if outcome.lost:
            log.warning("recording of attempt %s on %s lost %d frames (%.1f s) to a slow disk",
                        recording.attempt_id, recording.line, outcome.lost,
                        outcome.lost * FRAME_MS / 1000)  # fmt: skip
        try:
            row_id = insert_recording(
                self.db, attempt_id=recording.attempt_id, campaign=recording.campaign,
                line=recording.line, number=recording.number, agent=recording.agent,
                direction=recording.direction, started_at=recording.started_at,
                duration=duration, path=outcome.relpath, format=recording.format,
                bytes=outcome.size, sha256=outcome.sha256, status=status, error=outcome.error,
                frames_lost=outcome.lost,
            )  # fmt: skip
        except Exception:
            log.exception("recording of attempt %s: its row could not be stored (file %s)",
                          recording.attempt_id, outcome.relpath)  # fmt: skip
            return None
        return RecordingInfo(
            id=row_id,
            status=status,
            path=self.directory / outcome.relpath if outcome.relpath else None,
            format=recording.format,
            bytes=outcome.size,
            sha256=outcome.sha256,
            duration=duration,
            frames_lost=outcome.lost,
            error=outcome.error,
        )
