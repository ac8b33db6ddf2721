"""Daemon cost under load: N emulated lines kept busy for a while (issue 6).

Starts `dialbox emulate gsm` with N modems (real-time call lengths) and `dialbox run` against them
with a campaign large enough to keep every line busy, then measures the daemon process only:
time from start to READY=1 (sd_notify), CPU share of one core over the window, and peak RSS
(VmHWM). Prints one JSON document. Targets: < 15 % of one core, < 120 MB, < 2 s to READY.

    .venv/bin/python bench/daemon.py [--lines 64] [--seconds 300]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
AREA_CODES = ("212", "312", "415", "206", "617", "305", "713", "602", "303", "404")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def dialbox(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appliance", *args], check=True, text=True,
                          capture_output=True, **kwargs)  # type: ignore[call-overload]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--contacts", type=int, default=10000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dialbox-bench-"))
    modems = work / "modems"
    emulator = subprocess.Popen(
        [sys.executable, "-m", "appliance", "emulate", "gsm", "--count", str(args.lines), "--link-dir",
         str(modems), "--profile", "simcom", "--seed", "5", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert emulator.stdout is not None and emulator.stdout.readline(), "emulator did not start"
    lines = "".join(f"  - {{name: gsm{i}, device: {modems}/gsm{i}}}\n" for i in range(args.lines))
    config = work / "dialbox.yaml"
    config.write_text(
        f"database: {work}/dialbox.db\nregion: US\ncompliance_profile: custom\n"
        f"compliance:\n  calling_hours: daily 00:00-24:00\nlog_level: WARNING\n"
        f"api:\n  listen: 127.0.0.1\n  port: {free_port()}\nlines:\n{lines}"
    )
    csv = work / "contacts.csv"
    csv.write_text("".join(
        f"({AREA_CODES[i // 1000 % 10]}) {200 + i % 800}-{1000 + i // 10 % 9000:04d},,,,,Callee {i}\n"
        for i in range(args.contacts)
    ))  # fmt: skip
    dialbox(
        "--config",
        str(config),
        "campaign",
        "create",
        "bench",
        "--type",
        "automated",
        "--region",
        "US",
    )
    dialbox("--config", str(config), "import", "--campaign", "bench", str(csv))
    dialbox("--config", str(config), "campaign", "start", "bench")

    notify_path = str(work / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    started = time.monotonic()
    daemon = subprocess.Popen([sys.executable, "-m", "appliance", "--config", str(config), "run"], env=env,
                              stdout=subprocess.DEVNULL, stderr=(work / "daemon.log").open("wb"))  # fmt: skip
    try:
        while b"READY=1" not in notify.recv(4096):
            pass
        ready_s = time.monotonic() - started
        notify.setblocking(False)
        # let every line get its first call before measuring the steady state
        time.sleep(5)
        cpu0, t0 = cpu_seconds(daemon.pid), time.monotonic()
        busy_samples = []
        while time.monotonic() - t0 < args.seconds:
            time.sleep(5)
            busy_samples.append(in_flight(work / "dialbox.db"))
            while True:
                try:
                    notify.recv(4096)
                except BlockingIOError:
                    break
        cpu1, t1 = cpu_seconds(daemon.pid), time.monotonic()
        result = {
            "lines": args.lines,
            "seconds": round(t1 - t0, 1),
            "ready_seconds": round(ready_s, 3),
            "cpu_share_of_one_core": round((cpu1 - cpu0) / (t1 - t0), 4),
            "peak_rss_mb": round(peak_rss_mb(daemon.pid), 1),
            "mean_calls_in_flight": round(sum(busy_samples) / max(len(busy_samples), 1), 1),
            "attempts_finished": finished(work / "dialbox.db"),
            "targets": {"cpu<0.15": None, "rss<120MB": None, "ready<2s": None},
        }
        result["targets"] = {
            "cpu<0.15": result["cpu_share_of_one_core"] < 0.15,
            "rss<120MB": result["peak_rss_mb"] < 120,
            "ready<2s": result["ready_seconds"] < 2,
        }
        print(json.dumps(result))
    finally:
        daemon.terminate()
        daemon.wait(60)
        emulator.terminate()
        emulator.wait(30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _count(db: Path, sql: str) -> int:
    out = subprocess.run(
        ["sqlite3", str(db), sql], capture_output=True, text=True, check=False
    ).stdout
    return int(out.strip() or 0)


def in_flight(db: Path) -> int:
    return _count(db, "SELECT count(*) FROM attempts WHERE status = 'in_flight'")


def finished(db: Path) -> int:
    return _count(db, "SELECT count(*) FROM attempts WHERE status = 'done'")


if __name__ == "__main__":
    main()
