"""Driver figures (issue #4), measured, printed as one JSON document.

* ``overhead_ms``: per profile, time from the emulated module deciding a call (answer or busy
  written to the pty) to ``dial()`` returning that outcome: what the driver adds on top of the
  network. Same process, same loop clock; includes pty latency and, for the generic profile,
  the +CLCC polling interval (``--poll``).
* ``cpu``: 32 emulated modems (``dialbox emulate gsm`` in its own process) driven by 32
  ``GsmModem`` lines in this process; CPU % of each process over a window, idle (lines open,
  health polls every 5 s) and busy (every line dialling answered calls back to back and sending
  an SMS between calls).

Run: ``.venv/bin/python bench/drivers.py [--calls 20] [--window 10] [--poll 0.25]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from appliance.drivers.emulators.gsm.farm import Farm
from appliance.drivers.emulators.gsm.script import parse
from appliance.drivers.gsm.modem import GsmModem
from appliance.drivers.outcome import Outcome

MAIN = "import sys; from appliance.cli import main; sys.exit(main(sys.argv[1:]))"


async def overhead(profile: str, calls: int, poll: float) -> dict[str, float]:
    script = parse(
        {
            "time_scale": 0.01,
            "numbers": [
                {"number": "+100", "outcome": "answer", "ring": 10, "talk": 1000},
                {"number": "+101", "outcome": "busy", "ring": 10},
            ],
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        farm = Farm(1, Path(tmp), profile, script=script)
        await farm.start(control=False)
        modem = GsmModem(
            str(Path(tmp) / "gsm0"), poll_interval=poll, min_ring_timeout=0, health_interval=3600
        )
        await modem.open()
        loop = asyncio.get_running_loop()
        sim = farm.modems[0].calls
        samples: dict[str, list[float]] = {"answer": [], "busy": []}
        try:
            for _ in range(calls):
                for number, kind, state in (
                    ("+100", "answer", "active"),
                    ("+101", "busy", "released"),
                ):
                    result = await modem.dial(number, ring_timeout=5)
                    returned = loop.time()
                    decided = [t for t, s in sim.transitions if s == state][-1]
                    assert result.outcome in (Outcome.CONNECTED, Outcome.BUSY), result
                    samples[kind].append((returned - decided) * 1000)
                    if not result.ended:
                        await modem.hang_up()
        finally:
            await modem.close()
            await farm.stop()
    out: dict[str, float] = {}
    for kind, values in samples.items():
        values.sort()
        out[f"{kind}_median"] = round(statistics.median(values), 2)
        out[f"{kind}_p95"] = round(values[int(0.95 * (len(values) - 1))], 2)
    return out


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cpu(count: int, window: float) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "s.toml").write_text(
            "time_scale = 1.0\n[random]\nanswer = 1\n"
            '[[numbers]]\nnumber = "+200"\noutcome = "answer"\nring = 1\ntalk = 1\nsetup = 0.3\n'
        )
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                MAIN,
                "emulate",
                "gsm",
                "--count",
                str(count),
                "--link-dir",
                f"{tmp}/l",
                "--profile",
                "quectel",
                "--script",
                f"{tmp}/s.toml",
                "--json",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        links = [d["link"] for d in json.loads(proc.stdout.readline())["links"]]
        modems = [GsmModem(link, health_interval=5.0, min_ring_timeout=0) for link in links]
        try:
            await asyncio.gather(*(m.open() for m in modems))

            async def measure() -> dict[str, float]:
                c0, e0, t0 = time.process_time(), _cpu_seconds(proc.pid), time.monotonic()
                await asyncio.sleep(window)  # the measurement window itself
                wall = time.monotonic() - t0
                return {
                    "drivers_cpu_percent": round(100 * (time.process_time() - c0) / wall, 2),
                    "emulator_cpu_percent": round(100 * (_cpu_seconds(proc.pid) - e0) / wall, 2),
                }

            idle = await measure()
            calls = 0
            stop = asyncio.Event()

            async def work(m: GsmModem) -> None:
                nonlocal calls
                while not stop.is_set():
                    r = await m.dial("+200", ring_timeout=5)
                    if not r.ended:
                        await m.wait_call_end(5)
                    await m.send_sms("+447700900123", "benchmark message")
                    calls += 1

            workers = [asyncio.create_task(work(m)) for m in modems]
            busy = await measure()
            busy["calls_per_second"] = round(calls / window, 2)
            stop.set()
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            await asyncio.gather(*(m.close() for m in modems), return_exceptions=True)
            proc.terminate()
            proc.wait(10)
    return {"idle": idle, "busy": busy}


async def main(args: argparse.Namespace) -> None:
    report: dict[str, object] = {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "overhead_ms": {
            p: await overhead(p, args.calls, args.poll)
            for p in ("generic", "simcom", "quectel", "huawei")
        },
        "generic_clcc_poll_interval_s": args.poll,
        "cpu_32_modems": await cpu(32, args.window),
        "cpu_window_s": args.window,
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--poll", type=float, default=0.5)
    asyncio.run(main(parser.parse_args()))
