#!/usr/bin/env python3
"""Several boxes leasing from one campaign on one PostgreSQL (#27): a skeleton.

N simulated boxes (threads, each with its own connection, as each daemon has) and L lines per
box (in-process emulated: a "call" is a short sleep), one campaign of C contacts. Each box
fills its free lines by the dial loop's path — candidates from store.selection.new_contacts,
then store.attempts.lease (FOR UPDATE SKIP LOCKED in the transaction that records the
attempt) — and completes each call with store.attempts.complete. Prints leases per second,
p50/p99 lease latency (the lease transaction alone), lost leases and double dials: a contact
leased while another box's lease of it is in flight (counted as it happens, and again from the
attempts table at the end). Not yet here (issue #27): the CPU of PostgreSQL and of each box,
and killing two boxes in the middle.

    python bench/cluster.py --boxes 10 --lines 64 --contacts 100000 --seconds 30
    python bench/cluster.py --url postgresql://dialbox@/dialbox?host=/run/postgresql

Without --url a throwaway PostgreSQL is started (tests/pgserver.py, Debian's package).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.domain import Channel, ContactState, Outcome, Summary
from appliance.store import open_database
from appliance.store.attempts import Completion, Lease, complete, lease
from appliance.store.db import Database
from appliance.store.selection import SelectionQuery, new_contacts

NOW = 1_800_000_000.0


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


def query(cid: int) -> SelectionQuery:
    return SelectionQuery(
        campaign_id=cid, now=NOW, first_phone=1, allowed_zone_sets=frozenset(),
        allow_unknown_zone=True, allowed_overrides=frozenset(), max_attempts=1,
        max_attempts_per_number=1, max_attempts_per_day=1, day_start=NOW - 3600,
    )  # fmt: skip


class Tally:
    """What every box saw, under one lock: leases, their latencies, calls in flight by contact."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.in_flight: dict[int, int] = {}
        self.double_dials = 0
        self.refused = 0
        self.completed = 0
        self.lost = 0  # complete() found its attempt no longer in flight
        self.errors: list[str] = []


def box(i: int, url: str, cid: int, lines: int, call_s: float, until: float, t: Tally) -> None:
    db = open_database(url)
    rng = random.Random(i)
    calls: list[tuple[float, Lease]] = []  # (ends at, lease) per busy line
    q = query(cid)
    try:
        while time.monotonic() < until:
            now = time.monotonic()
            for ends, got in [c for c in calls if c[0] <= now]:
                calls.remove((ends, got))
                done = complete(db, got, Completion(Outcome.CONNECTED, ContactState.CONNECTED,
                                                    Summary.SUCCESSFUL), NOW)  # fmt: skip
                with t.lock:
                    t.in_flight.pop(got.contact_id, None)
                    t.completed += 1
                    t.lost += 0 if done else 1
            free = lines - len(calls)
            if free <= 0:
                time.sleep(0.001)
                continue
            picks = new_contacts(db, q, free)
            if not picks:
                if not calls:
                    return
                time.sleep(0.001)
                continue
            for row in picks:
                started = time.perf_counter()
                got = lease(db, row.contact_id, 1, Channel.VOICE, NOW, line=f"box{i}")
                took = time.perf_counter() - started
                with t.lock:
                    if not isinstance(got, Lease):
                        t.refused += 1
                        continue
                    t.latencies.append(took)
                    if got.contact_id in t.in_flight:
                        t.double_dials += 1
                    t.in_flight[got.contact_id] = i
                calls.append((time.monotonic() + rng.uniform(0.5, 1.5) * call_s, got))
    finally:
        db.close()


def _guarded(i: int, url: str, cid: int, lines: int, call_s: float, until: float,
             t: Tally) -> None:  # fmt: skip
    try:
        box(i, url, cid, lines, call_s, until, t)
    except Exception as exc:
        with t.lock:
            t.errors.append(f"box{i}: {type(exc).__name__}: {exc}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--boxes", type=int, default=10)
    p.add_argument("--lines", type=int, default=64, help="lines per box")
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--seconds", type=float, default=30.0, help="how long the boxes dial")
    p.add_argument("--call-ms", type=float, default=200.0, help="mean emulated call length")
    p.add_argument("--url", help="a PostgreSQL database to use (emptied schema: migrated here)")
    args = p.parse_args()
    server = None
    url = args.url
    if url is None:
        from tests.pgserver import Postgres

        server = Postgres()
        server.psql("CREATE DATABASE cluster")
        url = server.dsn("cluster")
    try:
        db = open_database(url)
        cid = seed(db, args.contacts)
        t = Tally()
        until = time.monotonic() + args.seconds
        started = time.monotonic()
        call_s = args.call_ms / 1000
        threads = [
            threading.Thread(target=_guarded, args=(i, url, cid, args.lines, call_s, until, t))
            for i in range(args.boxes)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.monotonic() - started
        twice = db.scalar(
            "SELECT count(*) FROM (SELECT contact_id FROM attempts WHERE campaign_id = ?"
            " GROUP BY contact_id HAVING count(*) > 1) AS d",
            (cid,),
        )
        db.close()
    finally:
        if server is not None:
            server.close()
    lat = sorted(t.latencies)

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2) if lat else 0.0

    print(json.dumps({
        "boxes": args.boxes, "lines_per_box": args.lines, "contacts": args.contacts,
        "seconds": round(elapsed, 1), "leases": len(lat),
        "leases_per_s": round(len(lat) / elapsed, 1) if elapsed else 0.0,
        "lease_p50_ms": pct(0.50), "lease_p99_ms": pct(0.99), "target_p99_ms": 20.0,
        "refused_leased_elsewhere": t.refused, "completed": t.completed, "lost": t.lost,
        "double_dials": t.double_dials, "contacts_with_two_attempts": int(twice or 0),
        "box_errors": t.errors,
    }, indent=1))  # fmt: skip
    return 0 if t.double_dials == 0 and not twice and not t.errors else 1


if __name__ == "__main__":
    sys.exit(main())
