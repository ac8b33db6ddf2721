"""16 lines' call audio at once (#24): CPU and lost frames of the serial PCM channels.

A feeder process (this file with ``--feeder``) holds N ptys and plays a module's PCM clock on
each: one 20 ms frame (320 bytes of 8 kHz s16le) every 20 ms, drift-corrected, for the window,
and reads back what the host writes. This process opens the N ports with the driver's
``PcmPort`` (pyserial through serial_asyncio_fast, as a line does), runs a ``SerialPcmChannel``
on each with what a recorded call with answering-machine detection has: the real recorder
(``appliance.recording``, stereo FLAC files in a temporary directory, the ``--format`` given)
and the real detector (``appliance.audio.amd.detect``, run again each time it decides, so it
reads every frame of the window), and measures its own CPU
(``resource.getrusage``) over the window. Printed as one JSON document: CPU % of one core,
frames per channel, dropped (a listener fell behind), overruns (junk or frames filled in because
the stream paused), and the frames the feeder got back.

Run: ``nice .venv/bin/python bench/pcm_lines.py [--lines 16] [--seconds 30]``
(target on the 2-core box: 0 dropped, < 25 % of one core).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import select
import shutil
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.audio.amd import detect
from appliance.campaigns import AmdSettings
from appliance.clock import SystemClock
from appliance.config.models import RecordingSettings
from appliance.drivers.audio import FRAME_BYTES, AudioChannel
from appliance.drivers.emulators.sounds import sound
from appliance.drivers.pcmport import PcmPort
from appliance.recording.recorder import Recorder
from appliance.store.opening import open_database

FRAME_TIME = 0.02


def feeder(lines: int, seconds: float) -> None:
    """The modules' side: N ptys, a frame on each every 20 ms, what comes back counted."""
    pairs = [os.openpty() for _ in range(lines)]
    for master, slave in pairs:
        tty.setraw(slave)
        os.set_blocking(master, False)
    print(json.dumps([os.ttyname(slave) for _, slave in pairs]), flush=True)
    sys.stdin.readline()  # the host has opened every port
    pcm = sound("person-long")
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES, FRAME_BYTES)]
    total = round(seconds / FRAME_TIME)
    back = [0] * lines
    late = 0
    start = time.monotonic()
    for n in range(total):
        due = start + n * FRAME_TIME
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)  # the module's PCM clock
        elif now - due > FRAME_TIME:
            late += 1
        frame = frames[n % len(frames)]
        for master, _ in pairs:
            os.write(master, frame)
        ready, _, _ = select.select([m for m, _ in pairs], [], [], 0)
        for master in ready:
            i = next(k for k, (m, _) in enumerate(pairs) if m == master)
            back[i] += len(os.read(master, 65536))
    time.sleep(0.2)  # the last replies
    for i, (master, _) in enumerate(pairs):
        while select.select([master], [], [], 0)[0]:
            back[i] += len(os.read(master, 65536))
    print(json.dumps({"sent": total, "back_frames": [b // FRAME_BYTES for b in back],
                      "late_ticks": late}), flush=True)  # fmt: skip


async def detecting(channel: AudioChannel) -> int:
    """The answering-machine detector on the channel, again and again until the stream ends:
    the verdicts it reached (each reads up to the budget's 2 s of frames)."""
    verdicts = 0
    while channel.active:
        verdict = await detect(channel, AmdSettings())
        verdicts += verdict.kind != "hung_up"
    return verdicts


async def host(lines: int, seconds: float, fmt: str) -> dict[str, object]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--feeder", "--lines", str(lines), "--seconds", str(seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    devices = json.loads(proc.stdout.readline())
    ports = [PcmPort(device, f"line{i}") for i, device in enumerate(devices)]
    for port in ports:
        await port.open()
    channels = [port.start() for port in ports]
    root = Path(tempfile.mkdtemp(prefix="pcm-lines-"))
    db = open_database(root / "bench.db")
    recorder = Recorder(db, RecordingSettings.model_validate({"format": fmt}), root / "rec",
                        SystemClock())  # fmt: skip
    recordings = [
        recorder.start(c, attempt_id=i + 1, campaign="bench", line=c.name, number="+48601234567",
                       agent=None, direction="outbound")
        for i, c in enumerate(channels)
    ]  # fmt: skip
    tasks = [asyncio.create_task(detecting(c)) for c in channels]
    proc.stdin.write("go\n")
    proc.stdin.flush()
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic()
    loop = asyncio.get_running_loop()
    result_line = await loop.run_in_executor(None, proc.stdout.readline)
    elapsed = time.monotonic() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    infos = await asyncio.gather(*(r.stop() for r in recordings))
    for channel in channels:
        await channel.close()
    verdicts = sum(await asyncio.gather(*tasks))
    for port in ports:
        port.close()
    proc.wait(10)
    db.close()
    written = sum(f.stat().st_size for f in (root / "rec").rglob("*") if f.is_file())
    shutil.rmtree(root, ignore_errors=True)
    fed = json.loads(result_line)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "lines": lines,
        "seconds": round(elapsed, 2),
        "cpu_seconds": round(cpu, 2),
        "cpu_percent_of_one_core": round(100 * cpu / elapsed, 1),
        "frames_sent_per_line": fed["sent"],
        "frames_heard_min": min(c.stats.frames for c in channels),
        "frames_heard_max": max(c.stats.frames for c in channels),
        "dropped": sum(c.stats.dropped for c in channels),
        "overruns": sum(c.stats.overruns for c in channels),
        "filled": sum(c.filled for c in channels),  # type: ignore[attr-defined]
        "frames_back_min": min(fed["back_frames"]),
        "recordings_complete": sum(1 for i in infos if i is not None and i.status == "complete"),
        "recording_frames_lost": sum(i.frames_lost for i in infos if i is not None),
        "recorded_bytes": written,
        "amd_verdicts": verdicts,
        "feeder_late_ticks": fed["late_ticks"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--format", choices=("flac", "opus", "wav"), default="flac")
    parser.add_argument("--feeder", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.feeder:
        feeder(args.lines, args.seconds)
        return
    print(json.dumps(asyncio.run(host(args.lines, args.seconds, args.format)), indent=2))


if __name__ == "__main__":
    main()
