"""Reports over a period (SPEC O7): per agent, per line, per campaign and across campaigns, by
local hour, by local day or over the whole period (appliance/periods.py cuts it).

Every attempt belongs to the bucket it was queued in. The attempts are read through
`attempts_campaign_time` (campaign, queued_at): for each bucket and campaign one range of that
index, so a report reads the period's attempts and nothing else, however many the box holds
(bench/reports.py: a day of a box with 1M attempts). Each report reads in one transaction: its
figures come from one snapshot, whatever the dial loop writes meanwhile.

What the figures mean (docs/api.md, "Reports"):
- calls are voice attempts; connects were answered (`answered_at`) or abandoned, the abandon
  ledger's answered calls (store.selection.abandon_counts); human are connects no machine or fax
  answered; to_agent were joined to an agent; abandon_rate is abandoned / connects.
- An agent's talk, wrap-up, paused and logged-in time come from the agents' state ledger
  (`agent_states`, migrations/*_agent_states.sql), clipped to the period and to now; occupancy is
  (talk + wrap-up) / logged-in time. The campaign chosen narrows an agent's calls, not their time.
- A line's outcomes are classed (OUTCOME_CLASSES); faults are NoLine, ErrorOccurred and attempts
  left dangling, SMS that failed included. Signal is the last reading the daemon recorded.
- email_sent counts the e-mails the relay took (bounced ones too), email_failed those refused or
  given up, email_bounced those a bounce came back for (#26); e-mails are in no line's figures.
- sms_replied counts the contacts sent an SMS in the bucket who have replied since; dnc_skips the
  contacts an import of the bucket set aside as DNC listed.
- inbound counts the calls the box answered (SPEC C14, `direction` 'in'); they are also among
  attempts, calls and the outcome classes, as the calls it made are.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from appliance.domain import Outcome
from appliance.periods import Bucket, Period
from appliance.store import dialect
from appliance.store.campaigns import get_campaign
from appliance.store.db import Database

KINDS = ("agents", "lines", "campaigns")

# The classes of a voice attempt's outcome, for the lines report (and `human` of the campaigns).
OUTCOME_CLASSES: dict[str, tuple[Outcome, ...]] = {
    "human": (Outcome.CONNECTED, Outcome.NO_AGENT, Outcome.AGENT_TRANSFER,
              Outcome.AGENT_HANG_UP, Outcome.TRANSFER_TIMEOUT, Outcome.ABANDONED),
    "machine": (Outcome.ANSWERING_MACHINE, Outcome.FAX),
    "no_answer": (Outcome.ALERTING_TIMEOUT,),
    "busy": (Outcome.BUSY, Outcome.KNOCKING, Outcome.REJECTED),
    "invalid": (Outcome.WRONG_NUMBER, Outcome.UNREACHABLE, Outcome.INCOMPATIBLE, Outcome.BANNED),
    "faults": (Outcome.NO_LINE, Outcome.ERROR_OCCURRED),
}  # fmt: skip

AGENT_COLUMNS = ("calls", "talk_seconds", "wrap_seconds", "paused_seconds", "logged_in_seconds",
                 "occupancy", "dispositions")  # fmt: skip
LINE_COLUMNS = ("attempts", "calls", "sms", *OUTCOME_CLASSES, "busy_seconds", "signal_dbm",
                "inbound")  # fmt: skip
CAMPAIGN_COLUMNS = ("attempts", "calls", "connects", "human", "to_agent", "abandoned",
                    "abandon_rate", "talk_seconds", "sms_sent", "sms_failed", "sms_replied",
                    "email_sent", "email_failed", "email_bounced", "dnc_skips",
                    "inbound")  # fmt: skip
_KEY = {"agents": "agent", "lines": "line", "campaigns": "campaign"}


def _codes(*outcomes: Outcome) -> str:
    return ", ".join(str(int(o)) for o in outcomes)


_ABANDONED = int(Outcome.ABANDONED)
_MACHINE = _codes(*OUTCOME_CLASSES["machine"])
_CONNECT = f"(a.answered_at IS NOT NULL OR a.outcome = {_ABANDONED})"
_TO_AGENT = (
    f"a.agent IS NOT NULL AND a.answered_at IS NOT NULL"
    f" AND coalesce(a.outcome, -1) NOT IN ({_codes(Outcome.ABANDONED, Outcome.NO_AGENT)})"
)


# The period's buckets as (n, lo, hi) from a JSON array, the outer loop of every query: for
# each bucket and campaign, one range of attempts_campaign_time (CROSS JOIN fixes the order).
def _buckets(d: dialect.Dialect) -> str:
    return f"WITH b(n, lo, hi) AS ({d.pairs(':buckets')})"


def _attempts_sql(
    d: dialect.Dialect, select: str, where: str, group: str, campaign_id: int | None
) -> str:
    chosen = " AND c.id = :campaign" if campaign_id is not None else ""
    attempts = (
        " FROM b CROSS JOIN campaigns AS c CROSS JOIN attempts AS a"
        f"{d.indexed_by('attempts_campaign_time')}"
        " WHERE a.campaign_id = c.id AND a.queued_at >= b.lo AND a.queued_at < b.hi"
    )
    return f"{_buckets(d)} SELECT {select}{attempts}{chosen}{where} GROUP BY {group}"


@dataclass
class Report:
    """One report: rows per bucket and key (agent, line or campaign) where something happened
    (every key when by=total), totals per key over the period (every key the box knows), the
    series per bucket across the keys (every bucket, for a chart) and the total of everything."""

    kind: str
    period: Period
    campaign: str | None
    columns: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: list[dict[str, Any]] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)
    total: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return _KEY[self.kind]

    def as_dict(self) -> dict[str, Any]:
        return {
            "report": self.kind,
            **self.period.as_dict(),
            "campaign": self.campaign,
            "columns": ["period", self.key, *self.columns],
            "rows": self.rows,
            "totals": self.totals,
            "series": self.series,
            "total": self.total,
        }

    def csv(self) -> str:
        """The rows as CSV (RFC 4180, CRLF): period, the key, then the columns; a disposition
        map as `text=n; text=n`, an empty cell for no value."""
        out = io.StringIO()
        writer = csv.writer(out)
        header = ["period", self.key, *self.columns]
        writer.writerow(header)
        for row in self.rows:
            writer.writerow([_cell(row.get(name)) for name in header])
        return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return "; ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


@contextmanager
def _snapshot(db: Database) -> Iterator[None]:
    """One read transaction: every query of a report sees the same state of the database."""
    if db.conn.in_transaction:
        yield
        return
    db.conn.execute(dialect.of(db).begin_snapshot)
    try:
        yield
    finally:
        if db.conn.in_transaction:
            db.conn.execute("COMMIT")


def _campaign_id(db: Database, campaign: str | None) -> int | None:
    return None if campaign is None else get_campaign(db, campaign).id  # NotFound names the rest


def _params(buckets: list[Bucket], campaign_id: int | None) -> dict[str, Any]:
    return {"buckets": json.dumps([[b.start, b.end] for b in buckets]), "campaign": campaign_id}


Counts = dict[str, Any]
Finish = Callable[[Counts], Counts]


def _assemble(report: Report, buckets: list[Bucket], cells: dict[tuple[int, Any], Counts],
              keys: Iterable[Any], zero: Callable[[], Counts], finish: Finish) -> Report:  # fmt: skip
    """Rows, totals per key, the series per bucket and the total, from the counts per
    (bucket, key); each derived figure (a rate) computed again from its sums."""
    name = report.key
    per_key: dict[Any, Counts] = {k: zero() for k in keys}
    per_bucket = [zero() for _ in buckets]
    overall = zero()
    for (n, key), counts in sorted(cells.items(), key=lambda item: (item[0][0], str(item[0][1]))):
        if report.period.by != "total":
            report.rows.append({"period": buckets[n].label, name: key, **finish(dict(counts))})
        for target in (per_key.setdefault(key, zero()), per_bucket[n], overall):
            _add(target, counts)
    report.totals = [
        {name: key, **finish(counts)} for key, counts in sorted(per_key.items(), key=_by_name)
    ]
    if report.period.by == "total":
        report.rows = [{"period": buckets[0].label, **row} for row in report.totals]
    report.series = [
        {"period": b.label, **finish(counts)} for b, counts in zip(buckets, per_bucket, strict=True)
    ]
    report.total = finish(overall)
    return report


def _by_name(item: tuple[Any, Counts]) -> tuple[bool, str]:
    return (item[0] is None, str(item[0]))


def _add(target: Counts, counts: Counts) -> None:
    for k, v in counts.items():
        if isinstance(v, dict):
            merged = target.setdefault(k, {})
            for text, n in v.items():
                merged[text] = merged.get(text, 0) + n
        elif isinstance(v, int | float) and not isinstance(v, bool):
            target[k] = target.get(k, 0) + v


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


# -- campaigns --------------------------------------------------------------------------------

_CAMPAIGN_SELECT = (
    "b.n, c.name, count(*), sum(a.channel = 'voice'),"
    f" sum(a.channel = 'voice' AND {_CONNECT}),"
    f" sum(a.channel = 'voice' AND {_CONNECT} AND coalesce(a.outcome, -1) NOT IN ({_MACHINE})),"
    f" sum(a.channel = 'voice' AND {_TO_AGENT}),"
    f" sum(a.channel = 'voice' AND a.outcome = {_ABANDONED}),"
    " total(CASE WHEN a.channel = 'voice' AND a.answered_at IS NOT NULL AND a.ended_at IS NOT NULL"
    " THEN a.ended_at - a.answered_at END),"
    f" sum(a.channel = 'sms' AND a.outcome = {int(Outcome.CONNECTED)}),"
    f" sum(a.channel = 'sms' AND (a.status = 'dangling' OR a.outcome <> {int(Outcome.CONNECTED)})),"
    # the contacts sent an SMS here who replied since: their state says so (store/replies.py)
    f" count(DISTINCT CASE WHEN a.channel = 'sms' AND a.outcome = {int(Outcome.CONNECTED)}"
    " AND (SELECT state FROM contacts WHERE id = a.contact_id) = 'SMS responded'"
    " THEN a.contact_id END),"
    # e-mail (#26): sent (bounced ones too: they went out), refused or given up, bounced since
    f" sum(a.channel = 'email' AND a.outcome IN ({_codes(Outcome.EMAIL_SENT, Outcome.EMAIL_BOUNCED)})),"
    f" sum(a.channel = 'email' AND a.outcome = {int(Outcome.EMAIL_FAILED)}),"
    f" sum(a.channel = 'email' AND a.outcome = {int(Outcome.EMAIL_BOUNCED)}),"
    " sum(a.direction = 'in')"
)
_CAMPAIGN_COUNTS = ("attempts", "calls", "connects", "human", "to_agent", "abandoned",
                    "talk_seconds", "sms_sent", "sms_failed", "sms_replied", "email_sent",
                    "email_failed", "email_bounced", "inbound")  # fmt: skip


def _campaign_zero() -> Counts:
    return {c: 0 for c in CAMPAIGN_COLUMNS if c != "abandon_rate"}


def _campaign_finish(counts: Counts) -> Counts:
    out = {c: counts.get(c, 0) for c in CAMPAIGN_COLUMNS if c != "abandon_rate"}
    out["talk_seconds"] = round(float(out["talk_seconds"]), 1)
    out["abandon_rate"] = _ratio(out["abandoned"], out["connects"])
    return {c: out[c] for c in CAMPAIGN_COLUMNS}


def campaigns_report(
    db: Database, period: Period, *, campaign: str | None = None, now: float | None = None
) -> Report:
    """Attempts, connects, human answers, calls to agents, abandons, SMS sent and replied and
    DNC skips per campaign (or the one named), by bucket."""
    buckets = period.buckets()
    with _snapshot(db):
        cid = _campaign_id(db, campaign)
        params = _params(buckets, cid)
        cells: dict[tuple[int, Any], Counts] = {}
        for row in db.conn.execute(
            _attempts_sql(dialect.of(db), _CAMPAIGN_SELECT, "", "b.n, c.id", cid), params
        ):
            cells[(int(row[0]), row[1])] = dict(zip(_CAMPAIGN_COUNTS, row[2:], strict=True))
        chosen = " AND c.id = :campaign" if cid is not None else ""
        for n, name, skipped in db.conn.execute(
            f"{_buckets(dialect.of(db))} SELECT b.n, c.name, sum(i.dnc) FROM b CROSS JOIN imports AS i"
            " JOIN campaigns AS c ON c.id = i.campaign_id"
            f" WHERE i.started_at >= b.lo AND i.started_at < b.hi AND i.dnc > 0{chosen}"
            " GROUP BY b.n, c.id",
            params,
        ):
            cell = cells.setdefault((int(n), name), _campaign_zero())
            cell["dnc_skips"] = int(skipped or 0)
        names = [
            str(r[0])
            for r in db.conn.execute(
                "SELECT name FROM campaigns WHERE :campaign IS NULL OR id = :campaign", params
            )
        ]
    report = Report("campaigns", period, campaign, CAMPAIGN_COLUMNS)
    return _assemble(report, buckets, cells, names, _campaign_zero, _campaign_finish)


# -- lines ------------------------------------------------------------------------------------

_LINE_SELECT = (
    "b.n, a.line, count(*), sum(a.channel = 'voice'), sum(a.channel = 'sms'),"
    + "".join(
        f" sum(a.channel = 'voice' AND a.outcome IN ({_codes(*codes)})),"
        for name, codes in OUTCOME_CLASSES.items()
        if name != "faults"
    )
    + f" sum(a.status = 'dangling' OR a.outcome IN ({_codes(*OUTCOME_CLASSES['faults'])})"
    f" OR (a.channel = 'sms' AND a.outcome <> {int(Outcome.CONNECTED)})),"
    " total(CASE WHEN a.ended_at IS NOT NULL AND coalesce(a.dialed_at, a.answered_at) IS NOT NULL"
    " THEN a.ended_at - coalesce(a.dialed_at, a.answered_at) END),"
    " sum(a.direction = 'in')"
)
_LINE_COUNTS = ("attempts", "calls", "sms", *OUTCOME_CLASSES, "busy_seconds", "inbound")


_BOX_LINE = "CASE WHEN a.box IS NULL THEN a.line ELSE a.box || '/' || a.line END"


def _line_zero() -> Counts:
    return dict.fromkeys(_LINE_COUNTS, 0)


def lines_report(
    db: Database, period: Period, *, campaign: str | None = None, now: float | None = None
) -> Report:
    """Attempts, outcomes by class, faults and time in calls per line, by bucket; each line's
    last recorded signal, state and error beside."""
    buckets = period.buckets()
    with _snapshot(db):
        cid = _campaign_id(db, campaign)
        cells: dict[tuple[int, Any], Counts] = {}
        # Several boxes on one store (#27): each box's lines apart, named `box/line` (two boxes
        # may both have a gsm0); one box: the line's name, as before.
        boxes = int(str(db.scalar("SELECT count(*) FROM boxes") or 0))
        line = _BOX_LINE if boxes > 1 else "a.line"
        select = _LINE_SELECT.replace("a.line", line, 1)
        for row in db.conn.execute(
            # e-mails go out on no line (#26)
            _attempts_sql(dialect.of(db), select, " AND a.channel <> 'email'", f"b.n, {line}", cid),
            _params(buckets, cid),
        ):
            cells[(int(row[0]), row[1])] = dict(zip(_LINE_COUNTS, row[2:], strict=True))
        known: dict[Any, dict[str, Any]] = {}
        for box, name, state, info, updated in db.conn.execute(
            "SELECT box, name, state, info, updated_at FROM lines ORDER BY box, name"
        ):
            facts = json.loads(str(info or "{}"))
            known[f"{box}/{name}" if boxes > 1 and box else str(name)] = {
                "signal_dbm": facts.get("signal_dbm"),
                "state": state,
                "last_error": facts.get("last_error"),
                "recorded_at": period.label(float(str(updated))),
            }
    keys = set(known) | {key for _, key in cells}

    def finish(counts: Counts) -> Counts:
        out = {c: counts.get(c, 0) for c in _LINE_COUNTS}
        out["busy_seconds"] = round(float(out["busy_seconds"]), 1)
        return out

    report = Report("lines", period, campaign, LINE_COLUMNS)
    _assemble(report, buckets, cells, keys, _line_zero, finish)
    blank = {"signal_dbm": None, "state": None, "last_error": None, "recorded_at": None}
    for row in report.rows:  # a row per bucket: the signal; over the whole period: all of it
        facts = known.get(row["line"], blank)
        row.update(facts if report.period.by == "total" else {"signal_dbm": facts["signal_dbm"]})
    for row in report.totals:
        row.update(known.get(row["line"], blank))
    return report


# -- agents -----------------------------------------------------------------------------------

_AGENT_SELECT = "b.n, a.agent, a.disposition, count(*)"
_AGENT_WHERE = f" AND a.channel = 'voice' AND {_TO_AGENT}"
_TIMES = {"talking": "talk_seconds", "wrap_up": "wrap_seconds", "paused": "paused_seconds"}


def _agent_zero() -> Counts:
    return {"calls": 0, "talk_seconds": 0.0, "wrap_seconds": 0.0, "paused_seconds": 0.0,
            "logged_in_seconds": 0.0, "dispositions": {}}  # fmt: skip


def _agent_finish(counts: Counts) -> Counts:
    out: Counts = {"calls": int(counts.get("calls", 0))}
    for name in ("talk_seconds", "wrap_seconds", "paused_seconds", "logged_in_seconds"):
        out[name] = round(float(counts.get(name, 0.0)), 1)
    out["occupancy"] = _ratio(out["talk_seconds"] + out["wrap_seconds"], out["logged_in_seconds"])
    out["dispositions"] = dict(sorted(counts.get("dispositions", {}).items()))
    return out


def _segments(db: Database, period: Period, now: float) -> Iterator[tuple[str, str, float, float]]:
    """(agent, state, from, to) for each stretch of a state within the period, up to now."""
    end = min(period.end, now)
    if end <= period.start:
        return
    rows = db.conn.execute(
        "SELECT agent, state, at FROM agent_states WHERE at >= ? AND at < ? ORDER BY agent, at, id",
        (period.start, end),
    ).fetchall()
    within: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for agent, state, at in rows:
        within[str(agent)].append((str(state), float(cast(float, at))))
    names = set(within) | {str(r[0]) for r in db.conn.execute("SELECT name FROM agents")}
    for agent in sorted(names):
        before = db.conn.execute(
            "SELECT state FROM agent_states WHERE agent = ? AND at < ? ORDER BY at DESC, id DESC"
            " LIMIT 1",
            (agent, period.start),
        ).fetchone()
        changes = ([(str(before[0]), period.start)] if before else []) + within.get(agent, [])
        for i, (state, start) in enumerate(changes):
            stop = changes[i + 1][1] if i + 1 < len(changes) else end
            if stop > start:
                yield agent, state, start, stop


def agents_report(
    db: Database, period: Period, *, campaign: str | None = None, now: float | None = None
) -> Report:
    """Calls, talk, wrap-up, paused and logged-in time, occupancy and dispositions per agent,
    by bucket. `now` ends the state each agent is still in (None: the period's end)."""
    buckets = period.buckets()
    starts = [b.start for b in buckets]
    cells: dict[tuple[int, Any], Counts] = {}
    with _snapshot(db):
        cid = _campaign_id(db, campaign)
        for n, agent, disposition, count in db.conn.execute(
            _attempts_sql(
                dialect.of(db), _AGENT_SELECT, _AGENT_WHERE, "b.n, a.agent, a.disposition", cid
            ),
            _params(buckets, cid),
        ):
            cell = cells.setdefault((int(n), str(agent)), _agent_zero())
            cell["calls"] += int(count)
            if disposition is not None:
                texts = cell["dispositions"]
                texts[str(disposition)] = texts.get(str(disposition), 0) + int(count)
        segments = list(_segments(db, period, period.end if now is None else now))
        names = {str(r[0]) for r in db.conn.execute("SELECT name FROM agents")}
    for agent, state, start, stop in segments:
        if state == "logged_out":
            continue
        i = max(0, bisect.bisect_right(starts, start) - 1)
        while i < len(buckets) and buckets[i].start < stop:
            seconds = min(stop, buckets[i].end) - max(start, buckets[i].start)
            if seconds > 0:
                cell = cells.setdefault((i, agent), _agent_zero())
                cell["logged_in_seconds"] += seconds
                if state in _TIMES:
                    cell[_TIMES[state]] += seconds
            i += 1
    names |= {agent for _, agent in cells}
    report = Report("agents", period, campaign, AGENT_COLUMNS)
    return _assemble(report, buckets, cells, names, _agent_zero, _agent_finish)


REPORTS: dict[str, Callable[..., Report]] = {
    "agents": agents_report,
    "lines": lines_report,
    "campaigns": campaigns_report,
}


def report(
    db: Database, kind: str, period: Period, *, campaign: str | None = None, now: float
) -> Report:
    """The report of `kind` (agents, lines, campaigns) over the period, as of `now`."""
    return REPORTS[kind](db, period, campaign=campaign, now=now)
