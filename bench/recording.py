"""Recording bench (#24): 16 calls recorded at once, fed in real time, on this box.

Each of ``--channels`` (16) `LoopbackChannel`s gets one 20 ms frame every 20 ms of wall time
from one feeder on the event loop (as 16 lines' audio ports would deliver them), for
``--seconds`` (60); each call says a prompt back now and then, so both sides carry sound. The far
end is speech-like: a voiced tone with harmonics under an envelope, and noise (FLAC cannot
squeeze noise, so this is no flattering case). The recorder writes ``--format`` (flac) files
in a temporary directory.

CPU of the recording path is measured twice: the process's CPU time (`time.process_time`)
during the recorded run minus that of a baseline run that feeds the same channels without
recording (``--baseline-seconds``, scaled), and the recorder's worker threads' own CPU
(/proc/self/task/<tid>/stat). Both as % of one core over the wall time. Dropped frames: frames
lost by the recordings (the rows' `frames_lost`) and by the channels' listener queues
(`stats.dropped`); the feeder's lateness shows whether the loop kept real time.

    .venv/bin/python bench/recording.py [--channels 16] [--seconds 60] [--format flac]
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.clock import SystemClock
from appliance.config.models import RecordingSettings
from appliance.drivers.audio import FRAME_BYTES, FRAME_MS, RATE, LoopbackChannel
from appliance.recording.recorder import Recorder, Recording
from appliance.store import open_database

FRAME = FRAME_MS / 1000


def speech_like(seconds: float, seed: int) -> bytes:
    """A voiced tone (120-220 Hz with harmonics) under a syllable envelope, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 120 + 100 * rng.random()
    voice = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    envelope = np.clip(np.sin(2 * np.pi * 3.1 * t + rng.random() * 6), 0, None) ** 2
    signal = 6000 * voice * envelope + rng.normal(0, 300, t.size)
    return np.clip(signal, -32000, 32000).astype("<i2").tobytes()


def _ticks(tid: int) -> float:
    """CPU seconds of one thread of this process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(args: argparse.Namespace, record: bool, seconds: float, root: Path) -> dict[str, Any]:
    frames_total = int(seconds / FRAME)
    sources = [speech_like(10, seed) for seed in range(args.channels)]
    prompt = speech_like(3, 99)
    channels = [LoopbackChannel(f"gsm{i}") for i in range(args.channels)]
    recordings: list[Recording] = []
    db = open_database(root / "bench.db")
    recorder = Recorder(db, RecordingSettings(format=args.format), root / "rec", SystemClock())
    if record:
        for i, channel in enumerate(channels):
            recordings.append(recorder.start(channel, attempt_id=i + 1, campaign="bench",
                                             line=channel.name, number="+48601234567",
                                             agent=None, direction="outbound"))  # fmt: skip
        await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    late_max = 0.0
    late_over_20ms = 0
    sayers: list[asyncio.Task[bool]] = []
    cpu0, wall0 = time.process_time(), loop.time()
    for n in range(frames_total):
        due = wall0 + n * FRAME
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late = loop.time() - due
        late_max = max(late_max, late)
        late_over_20ms += late > FRAME
        for i, channel in enumerate(channels):
            src = sources[i]
            at = (n * FRAME_BYTES) % len(src)
            channel.feed(src[at : at + FRAME_BYTES])
            if n % 500 == 50 + i:  # every 10 s, each call says a 3 s prompt
                sayers.append(asyncio.ensure_future(channel.say(prompt)))
    threads = [t.native_id for t in recorder._workers.threads]
    worker_cpu = sum(_ticks(t) for t in threads if t is not None)
    stops = [r.stop() for r in recordings]
    infos = await asyncio.gather(*stops)
    for channel in channels:
        await channel.close()
    await asyncio.gather(*sayers)
    wall = loop.time() - wall0
    cpu = time.process_time() - cpu0
    db.close()
    out: dict[str, Any] = {
        "channels": args.channels,
        "seconds_of_audio": frames_total * FRAME,
        "wall_seconds": round(wall, 2),
        "process_cpu_seconds": round(cpu, 2),
        "feeder_late_max_ms": round(late_max * 1000, 1),
        "feeder_late_over_20ms": late_over_20ms,
        "channel_dropped_frames": sum(c.stats.dropped for c in channels),
    }
    if record:
        out["worker_threads_cpu_seconds"] = round(worker_cpu, 2)
        out["recordings_complete"] = sum(1 for i in infos if i and i.status == "complete")
        out["recording_frames_lost"] = sum(i.frames_lost for i in infos if i)
        out["recording_seconds_each"] = sorted({i.duration for i in infos if i})
        out["bytes_written"] = sum(i.bytes for i in infos if i)
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dialbox-recording-bench-") as tmp:
        base = await run(args, False, args.baseline_seconds, Path(tmp) / "base")
        (Path(tmp) / "rec").mkdir()
        recorded = await run(args, True, args.seconds, Path(tmp) / "rec")
    baseline_rate = base["process_cpu_seconds"] / base["wall_seconds"]
    path_cpu = recorded["process_cpu_seconds"] - baseline_rate * recorded["wall_seconds"]
    dropped = recorded["recording_frames_lost"] + recorded["channel_dropped_frames"]
    return {
        "format": args.format,
        "recorded": recorded,
        "baseline_feeding_only": base,
        "recording_path_cpu_percent_of_one_core": round(
            100 * path_cpu / recorded["wall_seconds"], 1
        ),
        "worker_threads_cpu_percent_of_one_core": round(
            100 * recorded["worker_threads_cpu_seconds"] / recorded["wall_seconds"], 1
        ),
        "dropped_frames": dropped,
        "target": "0 dropped frames, < 25 % of one core",
        "met": dropped == 0 and 100 * path_cpu / recorded["wall_seconds"] < 25,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--format", choices=["flac", "opus", "wav"], default="flac")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=1))
