"""The API under polling at a million contacts (issue #28): latency per endpoint, the daemon's
CPU and the dial loop's worst stall, while the real daemon dials.

    .venv/bin/python bench/api.py [--contacts 1000000] [--campaigns 100] [--running 4]
                                  [--modems 16] [--clients 16] [--seconds 60] [--quick] [--json]
                                  [--profile FILE]

The world: a database of ``--contacts`` contacts over ``--campaigns`` campaigns built by
bench/select.py's generator (``build`` in bench/pick_next.py: numbers over every NANP area code
and a few foreign ones, 10 % redials with 1–3 attempts each — about 200,000 attempts at 1M —,
5 % closed, 10 % of the numbers on the DNC list), inserted straight into SQLite in 50,000-row
transactions and cached under bench/.cache/ keyed by the parameters and the migrations'
text (a rerun copies the cache instead of regenerating; ``generation_seconds`` is null
then). Every campaign is made automated; the first ``--running`` are running, the rest stopped.
The real daemon (``python -m appliance run``, a subprocess, config like tests/daemon/process.py:
calling hours round the clock) dials on ``--modems`` modems of ``python -m appliance emulate
gsm`` (calls in real time) — on a copy of the cached database.

After the daemon is ready and a few seconds of warm-up, ``--clients`` threads, each with one
keep-alive HTTP/1.1 connection (http.client) and an admin token, poll in a closed loop (no
think time: the next request as soon as the answer is read; ``--interval S`` paces each
client to one request per S seconds instead, as the console's 2 s poll, the clients' starts
spread evenly over S) GET /status, /campaigns,
/campaigns/{name} (a random campaign) and /metrics in turn for ``--seconds``. Printed: per
endpoint p50/p99/max and the count of answers other than 200, requests per second over all,
the daemon's CPU over the window (utime+stime from /proc/<pid>/stat; 1.0 = one core), the
calls that ended in the window (``dialbox_calls`` on /metrics, before and after: the daemon
must keep dialing while polled) and the dial loop's worst stall.

The stall: the daemon's loop-lag monitor (appliance/daemon/runner.py ``_loop_lag``) sleeps
20 ms on the same asyncio event loop that runs the dialer, the line drivers and the API, and
records how late it woke (``dialbox_loop_lag_seconds`` histogram, ``dialbox_loop_lag_max_seconds``
the longest since start). That lateness is the time anything held the loop — a synchronous
SQLite query in a handler, building a JSON answer, a write waiting for the lock, GIL
contention from a worker thread — during which no call is dialed or hung up and no other
request is answered. It does not see work done in a thread while the loop stays free. The
window's figure: the max gauge after the window if it rose during it (exact), else the upper
bound of the highest histogram bucket that grew during the window (``stall_source`` says
which). Work off the loop but slow (to_thread) shows in the latencies, not in the stall.

``--profile FILE`` runs the daemon under cProfile (main thread only; it slows the daemon, so
its figures are not the bench's) and writes the stats to FILE on exit.

Targets (issue #28): p99 < 50 ms for /status, /campaigns and /metrics at 1M contacts; the
dial loop's worst stall < 100 ms while polled.

The clients and the emulator stand for other machines and the modems' hardware: once the daemon
is up they run ``--client-nice`` (10) lower than it, so its figures are its own rather than the
2-core box's contention (``--client-nice 0`` measures them at the same priority).

Figures (1,000,000 contacts, 100 campaigns, 4 running on 16 modems, ~200,400 attempts, 100,000
DNC numbers, 16 clients, 60 s after 15 s unpolled; p50 / p99 / max in ms; the box otherwise
nearly idle):

    closed loop          before #28 (int)       #28 counts (2f743ed)   + kept answers, gc.freeze
      /status            793 / 2972 / 3748      14.5 / 39.9 / 123      8.8 / 29.6 / 48.7
      /campaigns          78 / 3011 / 3795      11.5 / 30.7 / 118      8.8 / 29.7 / 52.7
      /campaigns/{name}  759 / 3748 / 3797       9.6 / 28.2 / 116      8.9 / 29.3 / 51.2
      /metrics         10116 /16178 /16584     196   / 347  / 402      9.6 / 30.4 / 54.9
      requests/s         4.7                    261                    1638.6
      daemon CPU         0.87 core              1.07                   1.05
      dials in window    -                      76                     77
      worst loop stall   3042 ms                108 ms                 39.8 ms (none over 100)
    (the last column with --client-nice 0: p99 29.5 / 28.8 / 28.0 / 30.4, 1640 requests/s,
    worst stall 59.4 ms.) With a campaign dialing and other work on the box (helpers' test runs,
    load 2-3) the same tree gave p99 65-112 ms and stalls of 180-250 ms: the box's contention.
    paced, --interval 2 (8 requests/s, the console's 2 s poll): p99 10.1 / 8.4 / 3.5 / 13.3;
    daemon CPU 0.13 core; 76 dials; worst stall 19.1 ms. Unpolled: 0.05 core.

Daemon CPU per request, one client, requests in sequence (`/tmp`-style probe of the same
database while dialing): /status 4.1 ms -> 0.78, /campaigns 3.5 -> 0.18, /campaigns/{name}
0.55 -> 0.35, /metrics ~6 (in a worker thread) -> 1.5 on the loop, /healthz 0.12.

What made the difference (#28):
- Answers kept until the database changes (appliance/store/memo.py): `Database.generation()`
  is SQLite's data version, which moves on any commit by any connection and on a write in the
  daemon's own open transaction, so a kept answer is never older than the database. /campaigns'
  body, the campaigns of /status (counts, abandon rates, caps, as JSON spliced into the answer),
  its dials per minute and the per-campaign text of /metrics (~600 samples in a registry of
  their own) are built once per change: while dialing, a few times a second.
- /metrics renders on the event loop: in a worker thread it held the GIL in 5 ms slices while
  the loop's queries waited to take it back, and scrapes queued behind one render lock.
- `gc.freeze()` at READY (daemon/runner.py settle_heap): the ~120,000 objects alive after
  start-up were walked by every full collection (every 2-3 s under polling, 60-94 ms each,
  freeing nothing).
- StorePlanner.rules_for keys a campaign by its stored settings text (a JSON dump with sorted
  keys per campaign per request before); the inbound queue samples read the running inbound
  campaigns' names only (every campaign's row and settings before).

The stall: ``dialbox_loop_lag_recent_max_seconds`` (the loop's longest lag in the last 60 s) read
every 20 s from 60 s into the window; exact for a window of 60 s or more. Before it the bench
had only the since-start maximum and the histogram's buckets.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Python puts bench/ first on sys.path, where select.py stands in for the standard library's
# `select`; put the repository there instead (as bench/pick_next.py does).
ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import hashlib  # noqa: E402
import http.client  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
CACHE = ROOT / "bench" / ".cache"
RECENT_SPAN = 60.0  # seconds dialbox_loop_lag_recent_max_seconds looks back
ENDPOINTS = ("/status", "/campaigns", "/campaigns/{name}", "/metrics")
TARGET_P99_MS = 50.0
TARGET_STALL_MS = 100.0


def log(message: str) -> None:
    print(f"[api {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


# ---------------------------------------------------------------------- the database
def _generator() -> Any:
    """bench/pick_next.py (what bench/select.py runs), imported by path: bench/ is no package."""
    spec = importlib.util.spec_from_file_location("_bench_pick_next", ROOT / "bench/pick_next.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _schema() -> str:
    """The latest migration's number and a hash of every migration's text: a schema change
    (or a change to a migration's backfill) builds a new database."""
    migrations = sorted((ROOT / "appliance/store/migrations").glob("*.sql"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in migrations)).hexdigest()[:8]
    return f"{migrations[-1].stem.split('_')[0]}-{digest}"


def cached_database(
    cache: Path, contacts: int, campaigns: int, dnc: int, seed: int
) -> tuple[Path, float | None]:
    """The cached database for these parameters, built now if missing; and how long that took."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = f"api-c{contacts}-k{campaigns}-d{dnc}-s{seed}"
    path = cache / f"{stem}-{_schema()}.db"
    if path.exists():
        return path, None
    for older in cache.glob(f"{stem}-*.db"):  # the same world at an older schema
        older.unlink()
    from appliance.store import open_database

    partial = path.with_suffix(".partial")
    for leftover in cache.glob(partial.name + "*"):
        leftover.unlink()
    log(f"generating {contacts:,} contacts over {campaigns} campaigns into {partial}")
    started = time.perf_counter()
    db = open_database(partial)
    _generator().build(db, contacts, campaigns, dnc, seed)
    db.close()
    took = time.perf_counter() - started
    partial.rename(path)
    log(f"generated in {took:.1f} s")
    return path, took


def prepare(source: Path, work: Path, running: int) -> Path:
    """A copy of the cached database: every campaign automated, the first `running` running."""
    import sqlite3

    target = work / "dialbox.db"
    shutil.copyfile(source, target)
    conn = sqlite3.connect(target)
    with conn:
        conn.execute(
            "UPDATE campaigns SET type = 'automated',"
            " status = CASE WHEN id <= ? THEN 'running' ELSE 'stopped' END",
            (running,),
        )
    conn.close()
    return target


# ---------------------------------------------------------------------- the daemon
class Box:
    def __init__(self, work: Path, db: Path, modems: int, profile: Path | None) -> None:
        self.work = work
        self.port = free_port()
        self.config = work / "dialbox.yaml"
        self.log = work / "daemon.log"
        link_dir = work / "modems"
        self.emulator = subprocess.Popen(
            [sys.executable, "-m", "appliance", "emulate", "gsm", "--count", str(modems),
             "--link-dir", str(link_dir), "--profile", "simcom", "--seed", "5", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert self.emulator.stdout is not None
        if not self.emulator.stdout.readline():
            raise RuntimeError("the emulator exited before it was ready")
        lines = "".join(f"  - {{name: gsm{i}, device: {link_dir}/gsm{i}}}\n" for i in range(modems))
        self.config.write_text(
            f"database: {db}\nregion: US\nlog_level: WARNING\n"
            "compliance_profile: custom\ncompliance:\n  calling_hours: daily 00:00-24:00\n"
            f"api:\n  listen: 127.0.0.1\n  port: {self.port}\nlines:\n{lines}"
        )
        done = self.cli("token", "create", "apibench", "--scope", "admin", "--json")
        self.token = json.loads(done.stdout)["token"]
        command = [sys.executable, "-m", "appliance", "--config", str(self.config), "run"]
        if profile is not None:
            command[1:1] = ["-m", "cProfile", "-o", str(profile)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "appliance", "--config", str(self.config),
                               *args], capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"dialbox {' '.join(args)}: {done.stderr.strip()}")
        return done

    def get(self, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()

    def wait_ready(self, timeout: float) -> float:
        started = time.monotonic()
        while True:
            with contextlib.suppress(OSError, ValueError, http.client.HTTPException):
                status, body = self.get("/healthz", timeout=5)
                if status == 200 and json.loads(body).get("ready"):
                    return time.monotonic() - started
            if self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited: {self.tail()}")
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the daemon was not ready in {timeout} s: {self.tail()}")
            time.sleep(0.2)  # polling another process

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self, graceful: bool) -> None:
        """SIGKILL unless `graceful` (cProfile writes its file on a clean exit; a clean stop
        waits for the calls in flight, which takes a while and measures nothing)."""
        for proc in (self.proc, self.emulator):
            if proc.poll() is None:
                if graceful or proc is self.emulator:
                    proc.terminate()
                else:
                    proc.kill()
                try:
                    proc.wait(120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)


# ---------------------------------------------------------------------- /metrics
def scrape(text: str) -> dict[str, Any]:
    """What the bench reads from /metrics: calls ended, the loop-lag histogram and max."""
    calls = 0.0
    buckets: dict[float, float] = {}
    lag_max = lag_recent = None
    for line in text.splitlines():
        if line.startswith("dialbox_calls_total{"):
            calls += float(line.rsplit(" ", 1)[1])
        elif line.startswith("dialbox_loop_lag_seconds_bucket{"):
            le = re.search(r'le="([^"]+)"', line)
            if le and le.group(1) != "+Inf":
                buckets[float(le.group(1))] = float(line.rsplit(" ", 1)[1])
            elif le:
                buckets[float("inf")] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("dialbox_loop_lag_max_seconds "):
            lag_max = float(line.rsplit(" ", 1)[1])
        elif line.startswith("dialbox_loop_lag_recent_max_seconds "):
            lag_recent = float(line.rsplit(" ", 1)[1])
    return {"calls": calls, "buckets": buckets, "lag_max": lag_max, "lag_recent": lag_recent}


def worst_stall(before: dict[str, Any], after: dict[str, Any]) -> tuple[float | None, str]:
    if after["lag_max"] is not None and after["lag_max"] > (before["lag_max"] or 0.0):
        return after["lag_max"] * 1000, "dialbox_loop_lag_max_seconds rose in the window (exact)"
    grew = {le: after["buckets"][le] - before["buckets"].get(le, 0.0) for le in after["buckets"]}
    total = grew.get(float("inf"), 0.0)
    if total <= 0:
        return None, "no loop-lag samples in the window"
    # cumulative buckets: the lowest bound every sample of the window fell under
    bound = min(le for le, n in grew.items() if n >= total)
    return (
        bound * 1000,
        "upper bound of dialbox_loop_lag_seconds' highest bucket that grew in the window"
        " (the max gauge held an older, larger lag)",
    )


# ---------------------------------------------------------------------- the clients
def poll(port: int, token: str, names: list[str], stop_at: float, seed: int,
         out: dict[str, list[float]], errors: dict[str, int], interval: float,
         offset: float) -> None:  # fmt: skip
    rng = random.Random(seed)
    time.sleep(offset)  # paced clients spread over the interval, not all at once
    headers = {"Authorization": f"Bearer {token}", "Connection": "keep-alive"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    turn = seed
    while time.monotonic() < stop_at:
        endpoint = ENDPOINTS[turn % len(ENDPOINTS)]
        turn += 1
        path = endpoint.replace("{name}", rng.choice(names))
        t0 = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            answer = conn.getresponse()
            answer.read()
            status = answer.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            status = 0
        took = time.perf_counter() - t0
        if status == 200:
            out[endpoint].append(took)
        else:
            errors[endpoint] = errors.get(endpoint, 0) + 1
        if interval > 0:
            time.sleep(max(0.0, min(interval - took, stop_at - time.monotonic())))  # the pace
    conn.close()


def _ms(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"count": 0}
    ordered = sorted(samples)
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[max(int(len(ordered) * 0.99) - 1, 0)] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


# ---------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--dnc", type=int, help="DNC numbers (default: a tenth of --contacts)")
    parser.add_argument("--running", type=int, default=4, help="campaigns running (default 4)")
    parser.add_argument("--modems", type=int, default=16)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=0.0,
                        help="each client's seconds from one request to the next (default 0: a"
                             " closed loop, the next request as soon as the answer is in)")  # fmt: skip
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds after ready")
    parser.add_argument("--quiet-seconds", type=float, default=15.0,
                        help="an unpolled window first, to compare (0: none; default 15)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--client-nice", type=int, default=10,
                        help="niceness added to the clients and the emulator once the daemon is"
                             " up (default 10; 0: all at the same priority)")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 20,000 contacts, 10 campaigns, 4 modems, 4 clients, 5 s")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON document only")
    parser.add_argument("--profile", type=Path, help="run the daemon under cProfile into FILE")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--cache", type=Path, default=CACHE,
                        help="where generated databases are kept (default bench/.cache)")  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.contacts, args.campaigns, args.modems = 20_000, 10, 4
        args.clients, args.seconds, args.warmup, args.quiet_seconds = 4, 5.0, 1.0, 2.0
    dnc = args.contacts // 10 if args.dnc is None else args.dnc
    running = min(args.running, args.campaigns)

    try:
        source, generation = cached_database(
            args.cache, args.contacts, args.campaigns, dnc, args.seed
        )
    except OSError as exc:
        print(f"bench/api.py: cannot keep the generated database in {args.cache}: {exc};"
              " pass --cache DIR with a writable directory", file=sys.stderr)  # fmt: skip
        return 2
    work = Path(tempfile.mkdtemp(prefix="dialbox-bench-api-"))
    box = None
    try:
        db = prepare(source, work, running)
        box = Box(work, db, args.modems, args.profile)
        ready = box.wait_ready(timeout=300)
        if args.client_nice:
            # The clients stand for other machines (a console, CRMs, Prometheus) and the
            # emulator for the modems' own hardware: on a 2-core box they would otherwise take
            # the daemon's CPU, and its latencies and stalls would be the box's contention.
            os.nice(args.client_nice)  # this process: the clients' threads
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, box.emulator.pid,
                               os.getpriority(os.PRIO_PROCESS, box.emulator.pid) + args.client_nice)  # fmt: skip
        log(f"daemon ready in {ready:.1f} s; warming up {args.warmup:.0f} s")
        time.sleep(args.warmup)  # every modem gets its first call before the window
        status, body = box.get("/campaigns")
        names = [c["name"] for c in json.loads(body)] if status == 200 else []
        if not names:
            raise RuntimeError(f"GET /campaigns: {status} {body[:300]!r}")
        quiet = None
        if args.quiet_seconds > 0:
            log(f"{args.quiet_seconds:.0f} s unpolled, then {args.seconds:.0f} s polled")
            quiet = window(box, db, args.quiet_seconds, lambda stop_at: None)
            del quiet["t0"], quiet["t1"]
        samples: dict[str, list[float]] = {e: [] for e in ENDPOINTS}
        errors: dict[str, int] = {}

        def clients(stop_at: float) -> None:
            threads = [
                threading.Thread(
                    target=poll,
                    args=(
                        box.port,
                        box.token,
                        names,
                        stop_at,
                        i,
                        samples,
                        errors,
                        args.interval,
                        i * args.interval / args.clients,
                    ),
                    daemon=True,
                )
                for i in range(args.clients)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        polled = window(box, db, args.seconds, clients)
        t0, t1 = polled.pop("t0"), polled.pop("t1")
        stall_ms = polled["worst_loop_stall_ms"]
        requests = sum(len(v) for v in samples.values())
        per = {
            e: _ms(v) | ({"errors": errors[e]} if e in errors else {}) for e, v in samples.items()
        }
        report: dict[str, Any] = {
            "contacts": args.contacts,
            "campaigns": args.campaigns,
            "campaigns_running": running,
            "attempts_in_database": _attempts(db),
            "dnc": dnc,
            "modems": args.modems,
            "clients": args.clients,
            "interval": args.interval,
            "client_nice": args.client_nice,
            "generation_seconds": None if generation is None else round(generation, 1),
            "ready_seconds": round(ready, 1),
            "endpoints": per,
            "requests": requests,
            "requests_per_second": round(requests / (t1 - t0), 1),
            "errors": sum(errors.values()),
            **polled,
            "unpolled_window": quiet,
            "profiled": args.profile is not None,
        }
        p99s = [per[e].get("p99_ms") for e in ("/status", "/campaigns", "/metrics")]
        report["targets"] = {
            "p99<50ms(/status,/campaigns,/metrics)": all(
                p is not None and p < TARGET_P99_MS for p in p99s
            ),
            "stall<100ms": stall_ms is not None and stall_ms < TARGET_STALL_MS,
        }
    finally:
        if box is not None:
            box.stop(graceful=args.profile is not None)
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0


def window(box: Box, db: Path, seconds: float, load: Any) -> dict[str, Any]:
    """Run `load(stop_at)` (the clients, or nothing) for `seconds`; what the daemon did."""
    before = scrape(box.get("/metrics")[1].decode())
    attempts0 = _attempts(db)
    cpu0, t0 = cpu_seconds(box.proc.pid), time.monotonic()
    loading = threading.Thread(target=load, args=(t0 + seconds,), daemon=True)
    loading.start()
    # dialbox_loop_lag_recent_max_seconds covers the last 60 s: read it every 20 s from 60 s
    # into the window (a window under 60 s: once at its end, which also covers before it)
    recent: list[float] = []
    at = t0 + min(RECENT_SPAN, seconds)
    while at <= t0 + seconds + 0.5:
        time.sleep(max(0.0, at - time.monotonic()))
        found = scrape(box.get("/metrics")[1].decode())["lag_recent"]
        if found is not None:
            recent.append(found)
        at = min(at + RECENT_SPAN / 3, t0 + seconds) if at < t0 + seconds else at + 1.0
    loading.join()
    cpu1, t1 = cpu_seconds(box.proc.pid), time.monotonic()
    attempts1 = _attempts(db)
    after = scrape(box.get("/metrics")[1].decode())
    stall_ms, source = worst_stall(before, after)
    if recent and (stall_ms is None or source.startswith("upper bound")):
        stall_ms = max(recent) * 1000
        source = (
            "dialbox_loop_lag_recent_max_seconds, read every 20 s (exact)"
            if seconds >= RECENT_SPAN
            else "dialbox_loop_lag_recent_max_seconds at the end: the last 60 s, more than"
            " the window"
        )
    grew = {le: n - before["buckets"].get(le, 0.0) for le, n in after["buckets"].items()}
    return {
        "t0": t0,
        "t1": t1,
        "seconds": round(t1 - t0, 1),
        "daemon_cpu_cores": round((cpu1 - cpu0) / (t1 - t0), 3),
        "dials_in_window": attempts1 - attempts0,
        "calls_ended_in_window": int(after["calls"] - before["calls"]),
        "worst_loop_stall_ms": None if stall_ms is None else round(stall_ms, 1),
        "stall_source": source,
        # the lag monitor's wake-ups in the window, and those more than 100 ms late
        "loop_lag_samples": int(grew.get(float("inf"), 0)),
        "loop_lag_samples_over_100ms": int(grew.get(float("inf"), 0) - grew.get(0.1, 0)),
    }


def _attempts(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM attempts").fetchone()[0])
    finally:
        conn.close()


def _print(r: dict[str, Any]) -> None:
    gen = "cached" if r["generation_seconds"] is None else f"{r['generation_seconds']} s"
    print(f"{r['contacts']:,} contacts, {r['campaigns']} campaigns ({r['campaigns_running']} running"
          f" on {r['modems']} modems), {r['attempts_in_database']:,} attempts; generation: {gen};"
          f" daemon ready in {r['ready_seconds']} s")  # fmt: skip
    print(f"{r['clients']} clients for {r['seconds']} s:")
    for endpoint, f in r["endpoints"].items():
        if f["count"]:
            print(f"  {endpoint:<20} n={f['count']:<6} p50 {f['p50_ms']:>7} ms  p99"
                  f" {f['p99_ms']:>7} ms  max {f['max_ms']:>7} ms"
                  + (f"  errors {f['errors']}" if "errors" in f else ""))  # fmt: skip
        else:
            print(f"  {endpoint:<20} no answer" + (f" (errors {f.get('errors', 0)})"))
    print(f"  {r['requests_per_second']} requests/s; daemon CPU {r['daemon_cpu_cores']} cores;"
          f" {r['dials_in_window']} dials, {r['calls_ended_in_window']} calls ended in the window;"
          f" worst loop stall {r['worst_loop_stall_ms']} ms ({r['stall_source']})")  # fmt: skip
    q = r["unpolled_window"]
    if q is not None:
        print(f"  unpolled before ({q['seconds']} s): daemon CPU {q['daemon_cpu_cores']} cores;"
              f" {q['dials_in_window']} dials, {q['calls_ended_in_window']} calls ended;"
              f" worst loop stall {q['worst_loop_stall_ms']} ms")  # fmt: skip
    print(f"  targets: {r['targets']}")


if __name__ == "__main__":
    raise SystemExit(main())
