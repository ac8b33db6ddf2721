#!/usr/bin/env python3
"""Several boxes leasing from one campaign on one PostgreSQL (#27).

N boxes, each a process of its own with its own connection (as each daemon is; threads of one
Python process would measure the GIL, not the store), and L lines per box (in-process emulated:
a "call" is a wait of about --call-ms). One campaign of C new contacts. Each box:
- registers (store.boxes.register) and heartbeats every 0.5 s, renewing its leases (3 s);
- fills its free lines by the dial loop's path: candidates from store.selection.new_contacts,
  then store.attempts.lease (the contact FOR UPDATE SKIP LOCKED in the transaction that records
  the attempt, with the box's name, lease expiry and generation);
- completes each call with store.attempts.complete (fenced by box and lease generation);
- sweeps silent boxes (store.boxes.sweep_dead_boxes, 2 s without a heartbeat), as the engine does.
Halfway, --kill boxes are SIGKILLed with calls in flight; the others sweep their attempts.

Printed: leases per second, p50/p99 lease latency (the lease transaction alone, of the leases made
by the surviving boxes; `lease_call_p99_ms` counts the refused ones too),
double dials (a contact leased while a lease of it is in flight: counted as it happens across
the processes in shared memory, and from the attempts at the end: two attempts of one contact
overlapping in time), attempts left in flight or lost, CPU of PostgreSQL (its server processes)
and of each box (1.0 = one core).

    python bench/cluster.py --boxes 10 --lines 64 --contacts 100000 --seconds 30 --kill 2
    python bench/cluster.py --url postgresql://dialbox@/dialbox?host=/run/postgresql

Without --url a throwaway PostgreSQL is started (tests/pgserver.py, Debian's package).

Figures (10 boxes x 64 lines, 100,000 contacts, 30 s, calls of 100-300 ms, box0 and box1
SIGKILLed at 15 s; PostgreSQL 15 with fsync off, on the same 2-core box as the ten processes):
14,450 attempts, 474.6 leases/s; lease p50 2.29 ms, p99 6.22 ms, max 22.2 ms (every lease call,
the 16,431 refused as leased by another box meanwhile included: p99 5.52 ms); 0 double dials
seen, 0 overlapping attempts, 0 attempts left in flight, 100 swept as dangling (the killed boxes'
calls), 0 fenced completions; CPU: PostgreSQL 1.01 cores, each box 0.071-0.074 core. The
threads-in-one-process version of this bench gave p99 21.9 ms: the GIL, not the store.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.domain import Channel, ContactState, Outcome, Summary
from appliance.store import open_database
from appliance.store.attempts import Completion, Lease, complete, lease
from appliance.store.boxes import heartbeat, register, sweep_dead_boxes
from appliance.store.db import Database
from appliance.store.selection import SelectionQuery, new_contacts

NOW = 1_800_000_000.0  # the store's clock at the start: it then runs with the wall clock
HEARTBEAT = 0.5
LEASE_FOR = 3.0
SWEEP_AFTER = 2.0


def seed(db: Database, contacts: int) -> int:
    """One campaign of `contacts` new contacts (one INSERT … SELECT: seconds, not an import)."""
    with db.transaction():
        db.conn.execute(
            "INSERT INTO campaigns(name, type, region, status, created_at, updated_at)"
            " VALUES ('cluster', 'automated', 'US', 'running', 0, 0)"
        )
        cid = int(db.scalar("SELECT id FROM campaigns WHERE name = 'cluster'"))
        db.conn.execute(
            "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, created_at, updated_at)"
            " SELECT ?, g, '+1212' || lpad(g::text, 7, '0'), '+1212' || lpad(g::text, 7, '0'),"
            " 0, 0 FROM generate_series(1, ?) AS g",
            (cid, contacts),
        )
    return cid


def query(cid: int, now: float) -> SelectionQuery:
    return SelectionQuery(
        campaign_id=cid, now=now, first_phone=1, allowed_zone_sets=frozenset(),
        allow_unknown_zone=True, allowed_overrides=frozenset(), max_attempts=1,
        max_attempts_per_number=1, max_attempts_per_day=1, day_start=now - 3600,
    )  # fmt: skip


def box(i: int, url: str, cid: int, lines: int, call_s: float, t0: float, until: float,
        owner: Any, doubles: Any, out: Any) -> None:  # fmt: skip
    """One box's dial loop (a process); sends (box, latencies, counts, cpu) to `out` at the end."""
    name = f"box{i}"
    db = open_database(url)
    rng = random.Random(i)
    clock = lambda: NOW + time.time() - t0  # noqa: E731
    register(db, name, "bench", clock())
    next_beat = time.monotonic() + HEARTBEAT
    calls: list[tuple[float, Lease]] = []  # (ends at, lease) per busy line
    latencies: list[float] = []  # leases made
    refusals: list[float] = []  # leases refused: the contact leased by another box meanwhile
    refused = completed = fenced = 0
    try:
        while time.monotonic() < until or calls:
            if time.monotonic() >= next_beat:
                heartbeat(db, name, clock(), LEASE_FOR)
                sweep_dead_boxes(db, clock(), SWEEP_AFTER, by=name)
                next_beat = time.monotonic() + HEARTBEAT
            mono = time.monotonic()
            for ends, got in [c for c in calls if c[0] <= mono]:
                calls.remove((ends, got))
                with owner.get_lock():
                    owner[got.contact_id] = 0
                done = complete(db, got, Completion(Outcome.CONNECTED, ContactState.CONNECTED,
                                                    Summary.SUCCESSFUL), clock())  # fmt: skip
                completed += 1
                fenced += 0 if done else 1
            free = lines - len(calls) if time.monotonic() < until else 0
            picks = new_contacts(db, query(cid, clock()), free) if free > 0 else []
            if not picks:
                time.sleep(0.005)
                continue
            for row in picks:
                started = time.perf_counter()
                got = lease(db, row.contact_id, 1, Channel.VOICE, clock(), line=f"{name}-{len(calls)}",
                            box=name, lease_for=LEASE_FOR)  # fmt: skip
                took = time.perf_counter() - started
                if not isinstance(got, Lease):
                    refused += 1
                    refusals.append(took)
                    continue
                latencies.append(took)
                with owner.get_lock():
                    if owner[got.contact_id]:
                        doubles.value += 1
                    owner[got.contact_id] = i + 1
                calls.append((time.monotonic() + rng.uniform(0.5, 1.5) * call_s, got))
        heartbeat(db, name, clock(), LEASE_FOR)
    finally:
        db.close()
    times = os.times()
    out.put((name, latencies, refused, completed, fenced, times.user + times.system, refusals))


def cpu_of(pids: list[int]) -> float:
    """utime + stime of these processes in seconds (those gone count 0)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def server_cpu(data: Path | None) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster's own, its backends' that have
    exited (the postmaster waited for them: cutime, cstime) and those of its live children."""
    if data is None:
        return 0.0
    master = int((data / "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{master}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(f) for f in fields[11:15]) / tick
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                child = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(child[1]) == master:
                total += (int(child[11]) + int(child[12])) / tick
    return total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--boxes", type=int, default=10)
    p.add_argument("--lines", type=int, default=64, help="lines per box")
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--seconds", type=float, default=30.0, help="how long the boxes dial")
    p.add_argument("--call-ms", type=float, default=200.0, help="mean emulated call length")
    p.add_argument("--kill", type=int, default=2, help="boxes SIGKILLed halfway (default 2)")
    p.add_argument("--url", help="a PostgreSQL database to use (emptied schema: migrated here)")
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the sweeps' warnings are the bench's own doing
    server = None
    url = args.url
    if url is None:
        from tests.pgserver import Postgres

        server = Postgres()
        server.psql("CREATE DATABASE cluster")
        url = server.dsn("cluster")
    ctx = multiprocessing.get_context("fork")
    try:
        db = open_database(url)
        cid = seed(db, args.contacts)
        db.close()
        owner = ctx.Array("i", args.contacts + 2)  # contact id -> the box dialing it (+1), 0
        doubles = ctx.Value("i", 0)
        out = ctx.Queue()
        t0 = time.time()
        until = time.monotonic() + args.seconds
        procs = [
            ctx.Process(
                target=box,
                args=(i, url, cid, args.lines, args.call_ms / 1000, t0, until, owner, doubles, out),
            )
            for i in range(args.boxes)
        ]
        data = server.data if server is not None else None
        pg_cpu0 = server_cpu(data)
        started = time.monotonic()
        for proc in procs:
            proc.start()
        killed: dict[str, float] = {}
        time.sleep(args.seconds / 2)
        for proc in procs[: args.kill]:
            killed[f"box{procs.index(proc)}"] = cpu_of([proc.pid or 0])
            os.kill(proc.pid or 0, signal.SIGKILL)
        reports = [out.get() for _ in range(args.boxes - args.kill)]
        for proc in procs:
            proc.join()
        elapsed = time.monotonic() - started
        pg_cpu = server_cpu(data) - pg_cpu0
        time.sleep(SWEEP_AFTER + 2 * HEARTBEAT)  # the last sweeps: by a box run for it
        db = open_database(url)
        sweep_dead_boxes(db, NOW + time.time() - t0 + LEASE_FOR, SWEEP_AFTER, by="bench")
        overlapping = db.scalar(
            "SELECT count(*) FROM attempts a JOIN attempts b ON a.contact_id = b.contact_id"
            " AND a.id < b.id AND a.campaign_id = ? AND b.queued_at < coalesce(a.ended_at, 1e18)"
            " AND a.queued_at < coalesce(b.ended_at, 1e18)",
            (cid,),
        )
        open_left = db.scalar(
            "SELECT count(*) FROM attempts WHERE campaign_id = ? AND ended_at IS NULL", (cid,)
        )
        dangling = db.scalar(
            "SELECT count(*) FROM attempts WHERE campaign_id = ? AND status = 'dangling'", (cid,)
        )
        attempts = db.scalar("SELECT count(*) FROM attempts WHERE campaign_id = ?", (cid,))
        db.close()
    finally:
        if server is not None:
            server.close()
    lat = sorted(x for r in reports for x in r[1])
    every = sorted(x for r in reports for x in (*r[1], *r[6]))

    def pct(q: float, of: list[float] = lat) -> float:
        return round(of[min(len(of) - 1, int(q * len(of)))] * 1000, 2) if of else 0.0

    leased = len(lat)
    print(json.dumps({
        "boxes": args.boxes, "lines_per_box": args.lines, "contacts": args.contacts,
        "seconds": round(elapsed, 1), "killed": sorted(killed),
        "lease_calls_surviving_boxes": len(every), "leased_surviving_boxes": leased,
        "attempts": int(attempts or 0),
        "leases_per_s": round(int(attempts or 0) / elapsed, 1) if elapsed else 0.0,
        "lease_p50_ms": pct(0.50), "lease_p99_ms": pct(0.99), "lease_max_ms": pct(1.0),
        "target_p99_ms": 20.0,  # of the leases made; of every call, refusals included:
        "lease_call_p99_ms": pct(0.99, every),
        "refused_leased_elsewhere": sum(r[2] for r in reports),
        "completed": sum(r[3] for r in reports), "fenced_completions": sum(r[4] for r in reports),
        "double_dials_seen": doubles.value, "overlapping_attempts": int(overlapping or 0),
        "attempts_left_in_flight": int(open_left or 0),
        "swept_as_dangling": int(dangling or 0),
        "cpu_postgresql_cores": round(pg_cpu / elapsed, 3) if server is not None else None,
        "cpu_per_box_cores": {r[0]: round(r[5] / elapsed, 3) for r in sorted(reports)},
        "cpu_killed_boxes_cores": {k: round(v / (elapsed / 2), 3) for k, v in killed.items()},
    }, indent=1))  # fmt: skip
    ok = doubles.value == 0 and not overlapping and not open_left
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
