"""Recording a call (SPEC O9, #24) without ever holding it up.

`Recorder.start(channel, …)` listens to the call's `AudioChannel` from now on; the frames (heard
and said together) go in batches of half a second to the encoder threads all recordings share
(each recording's batches taken in order by one at a time), which encode them into one stereo
file — left the far end, right the box — under a temporary name. `Recording.stop()` (or the end of the stream) finishes the file off the event loop: its
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
from collections import deque
from collections.abc import Callable
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
# The encoders run below the event loop's priority (this much nicer than the daemon): 16
# calls' half-second batches come at once, and encoding them (Opus: ~1 % of a core per call)
# must not delay the loop's frames. Behind, they lose frames (counted), not the loop.
WORKER_NICE = 5
SILENCE_PIECE = 3000  # frames of silence written at once for a lost stretch (60 s, 1.9 MB)
WORKERS = 2  # encoder threads (2 cores; Opus for 16 calls is ~20 % of one)

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
    """One call being recorded. `stop()` ends it; it also ends by itself when the stream does.

    `agent` may be set after `start` (an agent campaign's call is answered before an agent
    takes it): the row takes the value it has when the recording ends. It is what scopes an
    agent token's access to the recording (GET /recordings)."""

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
        # Batches (and at the end the index the recording ends at) for the encoder threads,
        # taken in order by one of them at a time (`_drain`).
        self._inbox: deque[list[AudioFrame] | int] = deque()
        self._scheduled = False
        self._pending = 0  # frames in the inbox
        self._end: int | None = None  # the channel's index at the stop
        self._lock = threading.Lock()
        self._outcome: concurrent.futures.Future[_Outcome] = concurrent.futures.Future()
        self._stopping: asyncio.Task[RecordingInfo | None] | None = None
        self._listening: asyncio.Task[None] | None = None
        # The encoder's side, touched by the thread draining the inbox only.
        self._result = _Outcome()
        self._final = recorder.directory / self._relname
        self._temp = self._final.with_name(f".{self._final.name}.part")
        self._writer: Writer | None = None
        self._opened = False
        self._expected = self._start_index
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

    def _hand(self, item: list[AudioFrame] | int) -> None:
        """Give the encoders a batch, or drop it (counted, as a gap) when they are too far
        behind; or the end (never dropped)."""
        with self._lock:
            if isinstance(item, list):
                if self._end is not None:  # frames after the stop are not this recording's
                    item = [f for f in item if f.index < self._end]
                if self._pending + len(item) > MAX_PENDING:
                    return  # the encoder sees the gap in the indexes: silence, counted as lost
                self._pending += len(item)
            self._inbox.append(item)
            if self._scheduled:
                return
            self._scheduled = True
        self._recorder._workers.submit(self._drain)

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
        self._end = end
        try:
            await asyncio.sleep(0)  # the listener takes the frames queued before the stop
            listening = self._listening
            if listening is not None and not listening.done():
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening
            self._hand(end)
            outcome = await asyncio.wrap_future(self._outcome)
        except Exception as exc:  # a bug here must not reach the call
            log.exception("recording of attempt %s: could not finish", self.attempt_id)
            outcome = _Outcome(error=_why(exc, recorder.directory))
        return recorder._store(self, outcome, end - self._start_index)

    # ------------------------------------------------------------------ an encoder thread
    def _drain(self) -> None:
        """Take the inbox's items in order until it is empty (one encoder thread at a time)."""
        while True:
            with self._lock:
                if not self._inbox:
                    self._scheduled = False
                    return
                item = self._inbox.popleft()
                if isinstance(item, list):
                    self._pending -= len(item)
            try:
                self._process(item)
            except Exception as exc:  # a bug here costs this recording, never a thread
                self._fail(exc)
                if isinstance(item, int) and not self._outcome.done():
                    self._outcome.set_result(self._result)

    def _fail(self, exc: BaseException) -> None:
        self._result.error = _why(exc, self._recorder.directory)
        log.error("recording of attempt %s on %s failed: %s", self.attempt_id, self.line,
                  self._result.error)  # fmt: skip
        self._discard(self._writer, self._temp)
        self._writer = None

    def _process(self, item: list[AudioFrame] | int) -> None:
        if not self._opened:
            self._opened = True
            try:
                self._final.parent.mkdir(parents=True, exist_ok=True)
                self._writer = self._recorder.open_writer(self._temp, self.format)
            except Exception as exc:
                self._fail(exc)
        end = item if isinstance(item, int) else None
        frames = [] if isinstance(item, int) else item
        heard: list[bytes] = []
        said: list[bytes] = []

        def write() -> None:
            if self._writer is not None and heard:
                try:
                    self._writer.write(b"".join(heard), b"".join(said))
                except Exception as exc:
                    self._fail(exc)
            heard.clear()
            said.clear()

        def lose(count: int) -> None:
            """`count` frames the file lacks, written as silence (a long stretch in pieces)."""
            self._result.lost += count
            while count > 0:
                piece = min(count, SILENCE_PIECE)
                heard.append(SILENCE * piece)
                said.append(SILENCE * piece)
                count -= piece
                if count:
                    write()

        for frame in frames:
            if frame.index < self._expected:
                continue
            if frame.index > self._expected:
                lose(frame.index - self._expected)
            heard.append(frame.heard)
            said.append(frame.said)
            self._expected = frame.index + 1
        if end is not None and end > self._expected:
            lose(end - self._expected)
            self._expected = end
        write()
        if end is None:
            return
        outcome = self._result
        outcome.frames = self._expected - self._start_index
        if self._writer is not None:
            try:
                writer, self._writer = self._writer, None
                writer.close()
                outcome.size, outcome.sha256 = _seal(self._temp)
                outcome.relpath = _place(self._temp, self._final, self._recorder.directory)
            except Exception as exc:
                self._fail(exc)
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


class _Workers:
    """The encoder threads all recordings share (`WORKERS`): a few threads for 16 calls, so
    the event loop's thread is not one among 16 runnable ones when their batches come at once.
    Daemon threads below the loop's priority (WORKER_NICE): a disk that hangs never holds the
    daemon's exit."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if not self.threads:
                for n in range(self.count):
                    thread = threading.Thread(target=self._run, name=f"recording-{n}", daemon=True)
                    thread.start()
                    self.threads.append(thread)
        self._jobs.put(job)

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: a thread has its own nice
            me = threading.get_native_id()
            os.setpriority(
                os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + WORKER_NICE)
            )
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception:
                log.exception("recordings: an encoder job failed")


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
        self._workers = _Workers(WORKERS)

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
