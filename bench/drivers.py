"""Driver figures (issue #4), measured, printed as one JSON document.

* ``overhead_ms``: per profile, time from the emulated module deciding a call (answer or busy
  written to the pty) to ``dial()`` returning that outcome: what the driver adds on top of the
  network. Same process, same loop clock; includes pty latency and, for the generic profile,
  the +CLCC polling interval (``--poll``).
* ``cpu``: 32 emulated modems (``dialbox emulate gsm`` in its own process) driven by 32
  ``GsmModem`` lines in this process; CPU % of each process over a window, idle (lines open,
  health polls every 5 s) and busy (every line dialling answered calls back to back and sending
  an SMS between calls).
* ``line_down_s`` (issue #17, SPEC H6: < 10 s): per fault, seconds from the fault to the
  line's ``LineDown`` with the drivers' **real default** timeouts and health settings, with the
  line idle and with an answered call up (which must end ErrorOccurred); ``back_up_s``: the
  fault lasts ``--hold`` seconds after the line went down (reopen attempts back off meanwhile),
  then from its end to ``LineUp`` again. Faults: ``unplug`` (the pty goes away), ``silent`` (no
  output), ``garbage`` (every command answered with random bytes), ``noise`` (random binary and
  junk lines without end, commands drowned), ``killed`` (the emulator process SIGKILLed; it is
  started again for ``back_up_s``).

Run: ``.venv/bin/python bench/drivers.py [--calls 20] [--window 10] [--poll 0.25]
[--part all|overhead|cpu|line-down]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from appliance.drivers.emulators.gsm.farm import Farm
from appliance.drivers.emulators.gsm.script import parse
from appliance.drivers.gsm.modem import GsmModem
from appliance.drivers.line import LineDown, LineEvent, LineUp
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


LONG_CALL = "+300"  # answers after 1 s and talks for ever
FAULTS = ("unplug", "silent", "garbage", "noise", "killed")


class _Watch:
    """Line events with their loop times."""

    def __init__(self) -> None:
        self.events: list[tuple[float, LineEvent]] = []
        self.changed = asyncio.Event()

    def __call__(self, event: LineEvent) -> None:
        self.events.append((asyncio.get_running_loop().time(), event))
        self.changed.set()

    async def first(self, kind: type, after: float, timeout: float) -> float | None:
        """The loop time of the first event of ``kind`` at or after ``after``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for t, event in self.events:
                if t >= after and isinstance(event, kind):
                    return t
            left = deadline - loop.time()
            if left <= 0:
                return None
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)


def _emulator(tmp: str, profile: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", MAIN, "emulate", "gsm", "--count", "1", "--link-dir",
         f"{tmp}/l", "--profile", profile, "--script", f"{tmp}/s.toml", "--json"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["links"][0]["link"]


async def line_down_once(
    profile: str, fault: str, in_call: bool, hold: float
) -> dict[str, float | str | None]:
    """One fault on one line with the real default timeouts (GsmModem's defaults)."""
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "s.toml").write_text(
            f'time_scale = 1.0\n[[numbers]]\nnumber = "{LONG_CALL}"\noutcome = "answer"\n'
            "ring = 1\ntalk = 100000\nsetup = 0.3\n"
        )
        farm: Farm | None = None
        proc: subprocess.Popen[str] | None = None
        if fault == "killed":
            proc, link = _emulator(tmp, profile)
        else:
            farm = Farm(1, Path(tmp) / "l", profile, script=parse({"time_scale": 1.0, "numbers": [
                {"number": LONG_CALL, "outcome": "answer", "ring": 1, "talk": 100000,
                 "setup": 0.3}]}))  # fmt: skip
            await farm.start(control=False)
            link = str(Path(tmp) / "l" / "gsm0")
        modem = GsmModem(link, min_ring_timeout=0)  # every timeout and interval at its default
        watch = _Watch()
        modem.subscribe(watch)
        out: dict[str, float | str | None] = {}
        try:
            await modem.open()
            if in_call:
                answered = await modem.dial(LONG_CALL, ring_timeout=5)
                assert answered.outcome is Outcome.CONNECTED and not answered.ended, answered
            await asyncio.sleep(3.0)  # settled: the line's own traffic under way, as in service
            start = loop.time()
            if fault == "killed":
                assert proc is not None
                proc.send_signal(signal.SIGKILL)
            else:
                assert farm is not None
                farm.control(f"0 {fault} on")
            down = await watch.first(LineDown, start, timeout=120.0)
            out["down_s"] = None if down is None else round(down - start, 2)
            reason = [e for t, e in watch.events if isinstance(e, LineDown)]
            out["reason"] = reason[-1].reason if reason else None
            if in_call:
                ended = await modem.wait_call_end(5)
                out["call_outcome"] = None if ended is None else ended.outcome.label
            if down is not None:
                await asyncio.sleep(max(0.0, down + hold - loop.time()))  # the fault lasts
            healed = loop.time()
            if fault == "killed":
                assert proc is not None
                proc.wait(10)
                proc, _ = _emulator(tmp, profile)
            else:
                assert farm is not None
                farm.control(f"0 {'replug' if fault == 'unplug' else fault + ' off'}")
            up = await watch.first(LineUp, healed, timeout=120.0)
            out["back_up_s"] = None if up is None else round(up - healed, 2)
        finally:
            await modem.close()
            if farm is not None:
                await farm.stop()
            if proc is not None:
                proc.kill()
                proc.wait(10)
    return out


async def line_down(profile: str, hold: float) -> dict[str, dict[str, object]]:
    report: dict[str, dict[str, object]] = {}
    for fault in FAULTS:
        report[fault] = {
            stage: await line_down_once(profile, fault, stage == "in_call", hold)
            for stage in ("idle", "in_call")
        }
    return report


async def main(args: argparse.Namespace) -> None:
    report: dict[str, object] = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    if args.part in ("all", "overhead"):
        report["overhead_ms"] = {
            p: await overhead(p, args.calls, args.poll)
            for p in ("generic", "simcom", "quectel", "huawei")
        }
        report["generic_clcc_poll_interval_s"] = args.poll
    if args.part in ("all", "cpu"):
        report["cpu_32_modems"] = await cpu(32, args.window)
        report["cpu_window_s"] = args.window
    if args.part in ("all", "line-down"):
        report["line_down_s"] = {p: await line_down(p, args.hold) for p in args.profiles.split(",")}
        report["line_down_hold_s"] = args.hold
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--part", choices=("all", "overhead", "cpu", "line-down"), default="all")
    parser.add_argument("--profiles", default="quectel,generic", help="for line-down")
    parser.add_argument("--hold", type=float, default=10.0, help="line-down: fault lasts (s)")
    asyncio.run(main(parser.parse_args()))
