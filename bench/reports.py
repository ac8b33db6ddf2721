"""How long the reports take on a big box (SPEC O7; appliance/store/reports.py).

    .venv/bin/python bench/reports.py [--attempts N] [--days D] [--campaigns N] [--agents N]
                                      [--lines N] [--runs N] [--db PATH] [--keep]

Builds a database of N contacts with one attempt each (default 1,000,000), spread evenly over
the last D days (default 30) across the campaigns, lines and agents, with the agents' state
ledger (a call every few minutes per agent: ready, talking, wrap-up), then times each report
(agents, lines, campaigns) for one day by hour, one day by day, one day in total and the whole
D days by day, reading a file-backed database as the daemon's API does (its own read-only
connection, the page cache warm after the first run). Prints one JSON document: the median
and the slowest of `--runs` runs per case in milliseconds, the rows each returned, and the
query plan of the attempts query (it must SEARCH attempts_campaign_time, never SCAN attempts).
The target: a day's report in well under a second (TARGET_MS).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.periods import make_period
from appliance.store import dialect, open_database
from appliance.store.db import Database
from appliance.store.reports import (
    _CAMPAIGN_SELECT,
    _attempts_sql,
    _params,
    report,
)

TARGET_MS = 500.0
ZONE = "America/New_York"
END = 1_767_243_600.0  # 2026-01-01T00:00:00-05:00: the data ends at a New York midnight


def build(db: Database, args: argparse.Namespace) -> None:
    """N contacts and N attempts, generated inside SQLite (a recursive CTE) in one transaction."""
    n, span = args.attempts, args.days * 86400.0
    start = END - span
    with db.transaction():
        for i in range(1, args.campaigns + 1):
            db.conn.execute(
                "INSERT INTO campaigns(name, type, region, created_at, updated_at)"
                " VALUES (?, 'agent', 'US', 0, 0)",
                (f"campaign{i}",),
            )
        for i in range(args.agents):
            db.conn.execute(
                "INSERT INTO agents(name, updated_at) VALUES (?, 0)", (f"agent{i:02d}",)
            )
        for i in range(args.lines):
            db.conn.execute(
                "INSERT INTO lines(name, kind, device, state, info, updated_at)"
                " VALUES (?, 'gsm', ?, 'up', '{\"signal_dbm\": -71}', 0)",
                (f"gsm{i}", f"/dev/ttyUSB{i}"),
            )
        db.conn.execute(
            "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < :n)"
            " INSERT INTO contacts(id, campaign_id, dedup_key, phone1, e164_1, state, attempts,"
            " created_at, updated_at)"
            " SELECT i, 1 + i % :campaigns, i, '+1212' || (1000000 + i), '+1212' || (1000000 + i),"
            " 'Not Connected', 1, 0, 0 FROM k",
            {"n": n, "campaigns": args.campaigns},
        )
        # Outcomes in a plausible mix: i % 20 picks one; a third of the answered calls go to an
        # agent, with a disposition; a tenth of the attempts are SMS.
        db.conn.execute(
            "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < :n),"
            " x(i, t, o, sms) AS (SELECT i, :start + (i - 1) * :step,"
            "   CASE i % 20 WHEN 0 THEN 0 WHEN 1 THEN 0 WHEN 2 THEN 12 WHEN 3 THEN 15"
            "   WHEN 4 THEN 7 WHEN 5 THEN 1 WHEN 6 THEN 9 ELSE 13 END, i % 10 = 9 FROM k)"
            " INSERT INTO attempts(id, contact_id, campaign_id, attempt_no, phone_index, number,"
            " channel, line, agent, status, queued_at, dialed_at, answered_at, ended_at, outcome,"
            " disposition, seq)"
            " SELECT i, i, 1 + i % :campaigns, 1, 1, '+1212' || (1000000 + i),"
            " CASE WHEN sms THEN 'sms' ELSE 'voice' END, 'gsm' || (i % :lines),"
            " CASE WHEN NOT sms AND o IN (0, 12) THEN 'agent' || printf('%02d', i % :agents) END,"
            " 'done', t, t + 1, CASE WHEN NOT sms AND o IN (0, 12, 15, 7) THEN t + 20 END,"
            " t + 80, CASE WHEN sms THEN 0 ELSE o END,"
            " CASE WHEN NOT sms AND o IN (0, 12) THEN 'sale' END, i FROM x",
            {"n": n, "start": start, "step": span / n, "campaigns": args.campaigns,
             "lines": args.lines, "agents": args.agents},
        )  # fmt: skip
        # Each agent: ready, talking (60 s), wrap-up (30 s) every 5 minutes over the D days.
        cycles = int(span // 300)
        db.conn.execute(
            "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < :cycles - 1),"
            " a(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM a WHERE j < :agents - 1),"
            " s(state, offset) AS (VALUES ('ready', 0), ('talking', 120), ('wrap_up', 180))"
            " INSERT INTO agent_states(agent, state, at)"
            " SELECT 'agent' || printf('%02d', j), state, :start + i * 300 + offset + j"
            " FROM k, a, s",
            {"cycles": cycles, "agents": args.agents, "start": start},
        )
    db.conn.execute("ANALYZE")


def timed(db: Database, kind: str, start: str, end: str, by: str, runs: int) -> dict[str, Any]:
    period = make_period(start, end, by, ZONE, END)
    times, rows = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        got = report(db, kind, period, now=END)
        times.append((time.perf_counter() - t0) * 1000.0)
        rows = len(got.rows)
    return {
        "median_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "rows": rows,
        "attempts_in_period": int(
            db.scalar(
                "SELECT count(*) FROM attempts WHERE queued_at >= ? AND queued_at < ?",
                (period.start, period.end),
            )
            or 0
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--campaigns", type=int, default=4)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--lines", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", type=Path, help="build (or reuse) the database here")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    folder = None
    if args.db is None:
        folder = tempfile.TemporaryDirectory(prefix="dialbox-bench-reports-")
        args.db = Path(folder.name) / "bench.db"
    fresh = not args.db.exists()
    db = open_database(args.db)
    t0 = time.perf_counter()
    if fresh:
        build(db, args)
    built_s = time.perf_counter() - t0
    db.close()
    reader = Database(args.db, readonly=True)
    last = time.strftime("%Y-%m-%d", time.gmtime(END - 86400))
    first = time.strftime("%Y-%m-%d", time.gmtime(END - 86400 * args.days))
    figures: dict[str, Any] = {
        "attempts": int(reader.scalar("SELECT count(*) FROM attempts") or 0),
        "contacts": int(reader.scalar("SELECT count(*) FROM contacts") or 0),
        "agent_state_rows": int(reader.scalar("SELECT count(*) FROM agent_states") or 0),
        "days": args.days,
        "database_mb": round(args.db.stat().st_size / 1e6, 1),
        "built_seconds": round(built_s, 1) if fresh else None,
        "target_ms_for_a_day": TARGET_MS,
    }
    plan = reader.conn.execute(
        "EXPLAIN QUERY PLAN "
        + _attempts_sql(dialect.SQLITE, _CAMPAIGN_SELECT, "", "b.n, c.id", None),
        _params(make_period(last, None, "hour", ZONE, END).buckets(), None),
    ).fetchall()
    figures["attempts_query_plan"] = [str(r[3]) for r in plan]
    for kind in ("agents", "lines", "campaigns"):
        figures[kind] = {
            "day_by_hour": timed(reader, kind, last, last, "hour", args.runs),
            "day_by_day": timed(reader, kind, last, last, "day", args.runs),
            "day_total": timed(reader, kind, last, last, "total", args.runs),
            f"{args.days}_days_by_day": timed(reader, kind, first, last, "day", max(1, args.runs // 2)),
        }  # fmt: skip
    reader.close()
    day_ms = [
        case["median_ms"]
        for kind in ("agents", "lines", "campaigns")
        for name, case in figures[kind].items()
        if name.startswith("day_")
    ]
    figures["slowest_day_median_ms"] = max(day_ms)
    figures["day_within_target"] = max(day_ms) < TARGET_MS
    print(json.dumps(figures, indent=1))
    if args.keep:
        print(f"database kept at {args.db}", file=sys.stderr)
    elif folder is not None:
        folder.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
