"""How much CPU N V.253 lines streaming call audio cost the daemon (#24).

Starts the V.253 emulator as its own process (``dialbox emulate v253``: N modems on ptys, full
duplex or half duplex, the far end a 1 kHz tone at real time), opens N ``VoiceModem`` lines with
``audio="stream"`` in this process, answers a call on each, and for ``--seconds`` keeps one
listener per line reading every frame (a recorder's load without the encoder) and says a prompt
every few seconds. Prints the frames per line against the frames real time gives, the frames
dropped, and this process's CPU (the drivers' share; the emulator's is printed apart).

    .venv/bin/python bench/v253_audio.py --lines 16 --seconds 20 [--half-duplex]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from appliance.drivers.audio import FRAME_MS
from appliance.drivers.line import Timeouts
from appliance.drivers.v253.modem import VoiceModem


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench(lines: int, seconds: float, half: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="dialbox-bench-v253-") as tmp:
        script = Path(tmp) / "script.json"
        numbers = [{"number": f"55500{i:02d}", "outcome": "answer", "ring": 1, "talk": 3600}
                   for i in range(lines)]  # fmt: skip
        script.write_text(json.dumps({"time_scale": 0.05, "numbers": numbers}))
        emulator = subprocess.Popen(
            [str(Path(sys.executable).with_name("dialbox")), "emulate", "v253", "--count", str(lines),
             "--link-dir", tmp, "--script", str(script), "--json"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert emulator.stdout is not None
        info = json.loads(emulator.stdout.readline())
        reader, writer = await asyncio.open_unix_connection(info["control"])
        for command in ("* sound tone:1000", f"* duplex {'off' if half else 'on'}"):
            writer.write(command.encode() + b"\n")
            assert (await reader.readline()).strip() == b"ok", command
        timeouts = Timeouts(command=2.0, setup=5.0)
        modems = [VoiceModem(str(Path(tmp) / f"v253{i}"), name=f"l{i}", timeouts=timeouts,
                             min_ring_timeout=0.0, audio="stream") for i in range(lines)]  # fmt: skip
        try:
            await asyncio.gather(*(m.open() for m in modems))
            await asyncio.gather(*(m.dial(f"55500{i:02d}", 10.0) for i, m in enumerate(modems)))
            channels = [m.audio for m in modems]
            assert all(c is not None for c in channels), "a line has no audio"
            counts = [0] * lines

            async def listen(i: int) -> None:
                channel = channels[i]
                assert channel is not None
                async for _ in channel.listen():
                    counts[i] += 1

            async def prompts(i: int) -> None:
                channel = channels[i]
                assert channel is not None
                while True:
                    await channel.say(bytes(1600) + b"\x00\x40" * 4000)  # 0.6 s
                    await asyncio.sleep(2.0)  # the bench's own pace of prompts

            tasks = [asyncio.ensure_future(listen(i)) for i in range(lines)]
            tasks += [asyncio.ensure_future(prompts(i)) for i in range(lines)]
            start_cpu, start_emu = time.process_time(), cpu_seconds(emulator.pid)
            start = time.monotonic()
            await asyncio.sleep(seconds)  # the measured period itself
            wall = time.monotonic() - start
            cpu = time.process_time() - start_cpu
            emu = cpu_seconds(emulator.pid) - start_emu
            for task in tasks:
                task.cancel()
            dropped = sum(c.stats.dropped for c in channels if c is not None)
            return {
                "lines": lines,
                "mode": "half duplex (+VRX/+VTX)" if half else "full duplex (+VTR)",
                "seconds": round(wall, 1),
                "frames_per_line_expected": int(wall * 1000 / FRAME_MS),
                "frames_per_line_min": min(counts),
                "frames_per_line_max": max(counts),
                "dropped": dropped,
                "garbage": sum(getattr(c, "garbage", 0) for c in channels),
                "driver_cpu_percent_of_one_core": round(100 * cpu / wall, 1),
                "emulator_cpu_percent_of_one_core": round(100 * emu / wall, 1),
            }
        finally:
            await asyncio.gather(*(m.close() for m in modems), return_exceptions=True)
            writer.close()
            emulator.terminate()
            emulator.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--half-duplex", action="store_true")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(bench(args.lines, args.seconds, args.half_duplex)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
