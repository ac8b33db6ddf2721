"""`dialbox report agents|lines|campaigns`: the reports of the API (SPEC O7) from the store, as a
table, CSV (`--csv`) or JSON (`--json`), over a period in the box's time zone."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from appliance.cli.context import open_context
from appliance.cli.output import add_json_flag, emit, table
from appliance.periods import MAX_DAYS, make_period
from appliance.store.reports import KINDS, Report, report

_WHAT = {
    "agents": "per agent: calls, talk, wrap-up, paused and logged-in time, occupancy, dispositions",
    "lines": "per line: attempts, outcomes by class, faults, time in calls, last signal",
    "campaigns": "per campaign: attempts, connects, human, to agent, abandons, SMS, DNC skips",
}

# The table's columns: (heading, field); times as h:mm:ss, rates as percentages.
_TABLE: dict[str, tuple[tuple[str, str], ...]] = {
    "agents": (("calls", "calls"), ("talk", "talk_seconds"), ("wrap", "wrap_seconds"),
               ("paused", "paused_seconds"), ("logged in", "logged_in_seconds"),
               ("occ.", "occupancy"), ("dispositions", "dispositions")),
    "lines": (("att.", "attempts"), ("calls", "calls"), ("sms", "sms"), ("human", "human"),
              ("machine", "machine"), ("no ans.", "no_answer"), ("busy", "busy"),
              ("invalid", "invalid"), ("faults", "faults"), ("in calls", "busy_seconds"),
              ("dBm", "signal_dbm")),
    "campaigns": (("att.", "attempts"), ("calls", "calls"), ("conn.", "connects"),
                  ("human", "human"), ("agent", "to_agent"), ("aband.", "abandoned"),
                  ("rate", "abandon_rate"), ("sms", "sms_sent"), ("replied", "sms_replied"),
                  ("dnc", "dnc_skips")),
}  # fmt: skip


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    limits = ", ".join(f"{days} days by {by}" for by, days in MAX_DAYS.items())
    p = sub.add_parser(
        "report",
        help="reports per agent, line or campaign over a period, by hour or day",
        description="Reports over a period in the box's time zone (config `timezone`): "
        + "; ".join(f"{kind}: {what}" for kind, what in _WHAT.items())
        + f". Periods are at most {limits}. The same figures as GET /reports/KIND.",
    )
    p.add_argument("kind", choices=KINDS, help="what the rows are per")
    p.add_argument("--from", dest="start", metavar="WHEN",
                   help="start: an ISO 8601 date or date-time, e.g. 2026-03-08 or "
                        "2026-03-08T09:00 (local time) or with an offset; default: today 00:00")  # fmt: skip
    p.add_argument("--to", dest="end", metavar="WHEN",
                   help="end (exclusive); a date alone means the end of that day; default: one "
                        "day after --from")  # fmt: skip
    p.add_argument("--by", choices=("hour", "day", "total"), default="day",
                   help="rows per local hour, local day, or one for the period (default: day)")  # fmt: skip
    p.add_argument("--campaign", metavar="NAME", help="only this campaign's attempts")
    p.add_argument("--csv", action="store_true", help="print the rows as CSV")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    if args.csv and args.json:
        from appliance.errors import DialboxError

        raise DialboxError("--csv and --json contradict each other; give one")
    now = ctx.clock.now()
    period = make_period(args.start, args.end, args.by, ctx.config.timezone, now)
    got = report(ctx.db, args.kind, period, campaign=args.campaign, now=now)
    if args.csv:
        sys.stdout.write(got.csv())
        return 0
    emit(args, got.as_dict(), lambda _: human(got))
    return 0


def _value(field: str, value: Any) -> str:
    if value is None:
        return "—"
    if field.endswith("_seconds"):
        seconds = round(float(value))
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    if field in ("occupancy", "abandon_rate"):
        return f"{float(value) * 100:.1f}%"
    if isinstance(value, dict):
        return ", ".join(f"{k} {n}" for k, n in value.items()) or "—"
    return str(value)


def _period(label: str, by: str) -> str:
    """A day as its date; an hour as its local time with the UTC offset's hours, which tell the
    two 01:00s of an autumn night apart: 2026-11-01 01:00-04, 2026-11-01 01:00-05."""
    return label[:16].replace("T", " ") + label[19:22] if by == "hour" else label[:10]


def human(got: Report) -> str:
    p = got.period.as_dict()
    head = f"{got.kind} report, {p['from']} to {p['to']} ({p['timezone']}), by {got.period.by}" + (
        f", campaign {got.campaign}" if got.campaign else ""
    )
    columns = _TABLE[got.kind]
    rows = got.rows if got.period.by != "total" else got.totals
    lines = [
        ([_period(str(r["period"]), got.period.by)] if got.period.by != "total" else [])
        + [str(r[got.key]) if r[got.key] is not None else "(no line)"]
        + [_value(f, r.get(f)) for _, f in columns]
        for r in rows
    ]
    headers = (["period"] if got.period.by != "total" else []) + [got.key]
    headers += [h for h, _ in columns]
    total = ["total"] + ([""] if got.period.by != "total" else [])
    total += [_value(f, got.total.get(f)) for _, f in columns]
    if not lines:
        return f"{head}\nnothing in this period"
    return f"{head}\n{table([*lines, total], headers)}"
