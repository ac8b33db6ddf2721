"""Reports (SPEC O7): per agent, per line and per campaign over a period, by local hour, day or in
total, as JSON or CSV (`?format=csv` or `Accept: text/csv`). The queries are store/reports.py's;
the period (from, to, by in the box's time zone) is appliance/periods.py's, whose refusals say
what to write (422). Each report runs in a worker thread on a read-only connection of its own:
a month of a big box takes a second, and the dial loop's connection is never held meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from appliance.api.campaigns import services
from appliance.api.models.reports import AgentsReport, CampaignsReport, LinesReport
from appliance.api.registry import API
from appliance.api.spec import Call, Param
from appliance.periods import MAX_DAYS, Period, make_period
from appliance.store.db import Database
from appliance.store.reports import Report, report

_LIMITS = ", ".join(f"by={by} {days} days" for by, days in MAX_DAYS.items())

PARAMS = [
    Param("from", "query", {"type": "string", "minLength": 1, "maxLength": 64},
          description="the start: an ISO 8601 date or date-time; a time without an offset is "
                      "the box's local time. Default: today, 00:00 local"),
    Param("to", "query", {"type": "string", "minLength": 1, "maxLength": 64},
          description="the end (exclusive); a date alone means the end of that day. Default: "
                      "one day after `from`"),
    Param("by", "query", {"enum": ["hour", "day", "total"], "default": "day"},
          description=f"rows per local hour, local day, or one for the period; at most {_LIMITS}"),
    Param("campaign", "query", {"type": "string", "minLength": 1, "maxLength": 200},
          description="only this campaign's attempts (404 when there is none of that name)"),
    Param("format", "query", {"enum": ["json", "csv"]},
          description="csv: the rows as CSV (also when the request accepts text/csv)"),
]  # fmt: skip

_DESCRIPTION = (
    "Rows per period (a local hour or day of the box's time zone, ISO 8601 with its UTC offset) "
    "and {key} where something happened, `totals` per {key} over the period, `series` per period "
    "across them (every period, for a chart) and `total`. As CSV: the rows, with a header. "
    "A period that is not ISO 8601, from not before to, or longer than its cut allows is refused "
    "with 422 saying so."
)


CSV: dict[str, Any] = {"text/csv": str}  # the other body of a report: its rows as CSV


def _wants_csv(call: Call) -> bool:
    fmt = call.query.get("format")
    if fmt is not None:
        return bool(fmt == "csv")
    accept = call.request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


def _run(path: str, kind: str, period: Period, campaign: str | None, now: float) -> Report:
    db = Database(path, readonly=True)
    try:
        return report(db, kind, period, campaign=campaign, now=now)
    finally:
        db.close()


async def _answer(call: Call, kind: str) -> web.Response:
    svc = services(call)
    now = svc.clock.now()
    period = make_period(call.query.get("from"), call.query.get("to"), call.query.get("by"),
                         svc.config().timezone, now)  # fmt: skip
    campaign = call.query.get("campaign")
    if svc.db.path == ":memory:":  # tests: one connection, no other to read from
        got = report(svc.db, kind, period, campaign=campaign, now=now)
    else:
        got = await asyncio.to_thread(_run, svc.db.path, kind, period, campaign, now)
    if _wants_csv(call):
        name = f"dialbox-{kind}-{period.label(period.start)[:10]}-{period.by}.csv"
        return web.Response(
            text=got.csv(), content_type="text/csv", charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )  # fmt: skip
    return web.json_response(got.as_dict())


def _op(kind: str, key: str, summary: str, model: Any) -> None:
    async def handler(call: Call) -> web.Response:
        return await _answer(call, kind)

    handler.__name__ = f"{kind}_report"
    API.op("GET", f"/reports/{kind}", summary=summary, tag="reports", scope="crm", params=PARAMS,
           description=_DESCRIPTION.format(key=key),
           responses={200: ("the report", model, CSV)})(handler)  # fmt: skip


_op("agents", "agent", "Per agent: calls, talk, wrap-up, paused and logged-in time, occupancy,"
    " dispositions", AgentsReport)  # fmt: skip
_op("lines", "line", "Per line: attempts, outcomes by class, faults, time in calls, signal",
    LinesReport)  # fmt: skip
_op("campaigns", "campaign", "Per campaign: attempts, connects, human, to agent, abandons,"
    " SMS sent and replied, DNC skips", CampaignsReport)  # fmt: skip
