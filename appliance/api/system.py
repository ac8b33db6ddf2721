"""Box-wide resources: health, metrics, the OpenAPI document, the live status the console's
dashboard shows, the daemon's recent log lines, and the audit log (O2, O4, O8)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from appliance import __version__
from appliance.api.campaigns import services
from appliance.api.context import figures_of
from appliance.api.inbound_status import inbound_section
from appliance.api.lines import describe as describe_line
from appliance.api.models.system import AuditEntry, LogLine, Status
from appliance.api.recordings import recordings_section
from appliance.api.registry import API
from appliance.api.spec import Call, Param
from appliance.api.times import iso_named, iso_time
from appliance.campaigns import CampaignSettings
from appliance.metrics import CONTENT_TYPE
from appliance.store import dialect
from appliance.store.campaigns import CampaignRow, list_campaigns
from appliance.store.counts import all_contacts_by_state
from appliance.store.figures import DAY, Snapshot


@API.op("GET", "/healthz", summary="Liveness and readiness", tag="system", scope=None,
        responses={200: ("the daemon's health", dict[str, Any])})  # fmt: skip
async def healthz(call: Call) -> web.Response:
    svc = services(call)
    return web.json_response(svc.health() if svc.health else {"status": "ok"})


@API.op("GET", "/metrics", summary="Prometheus metrics (text exposition format)", tag="system",
        scope=None, responses={200: ("the metrics", str, "text/plain")})  # fmt: skip
async def metrics(call: Call) -> web.Response:
    svc = services(call)
    body = await svc.metrics.render_async() if svc.metrics else b""
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


@API.op("GET", "/openapi.json", summary="This API's OpenAPI 3.1 document", tag="system",
        scope=None, responses={200: ("the document", dict[str, Any])})  # fmt: skip
async def openapi(call: Call) -> web.Response:
    return web.json_response(API.document())


def _per_minute(svc: Any, now: float) -> list[int]:
    start = (now // 60 - 29) * 60
    counts = dict(
        svc.db.conn.execute(
            f"SELECT {dialect.of(svc.db).trunc('(queued_at - ?) / 60')}, count(*) FROM attempts"
            " WHERE queued_at >= ? AND channel = 'voice' GROUP BY 1",  # calls: an SMS is no dial
            (start, start),
        ).fetchall()
    )
    return [int(counts.get(i, 0)) for i in range(30)]


def _campaigns_section(
    svc: Any, config: Any, figures: Snapshot
) -> tuple[list[CampaignRow], list[dict[str, Any]], dict[str, int], dict[str, dict[str, int]]]:
    """Every campaign as /status shows it (all but its calls in flight, which are live), and
    the last hour's outcomes over all and by channel."""
    from appliance.engine.storeplanner import StorePlanner

    planner = StorePlanner(config, svc.db)
    rows = list_campaigns(svc.db)
    counts = all_contacts_by_state(svc.db)  # kept current by migration 0014 (#28)
    hour: dict[str, int] = {}
    by_channel: dict[str, dict[str, int]] = {"voice": {}, "sms": {}, "email": {}}
    section = []
    for campaign in rows:
        by_state = counts.get(campaign.id, {})
        abandon = {}
        for label, window in (("24h", DAY), ("30d", 30 * DAY)):
            answered, abandoned = figures.abandon(campaign.id, window) or (0, 0)
            abandon[label] = round(abandoned / answered, 4) if answered else 0.0
        cap = planner.rules_for(campaign).profile.abandon_cap
        ended = figures.outcomes_hour.get(campaign.id, {})
        for channel, counts_by_label in by_channel.items():
            for label, n in ended.get(channel, {}).items():
                counts_by_label[label] = counts_by_label.get(label, 0) + n
                hour[label] = hour.get(label, 0) + n
        section.append(
            {
                "name": campaign.name,
                "type": str(campaign.type),
                "status": str(campaign.status),
                "pacing": CampaignSettings.model_validate(campaign.settings).pacing,
                "contacts": sum(by_state.values()),
                "by_state": by_state,
                "abandon": abandon,
                "abandon_cap": cap,
            }
        )
    return rows, section, hour, by_channel


@API.op("GET", "/status", summary="What the box is doing now: lines, calls, campaigns, abandon rates",
        tag="system", scope="floor", responses={200: ("the live status", Status)},
        description="`inbound`: each inbound campaign's callers waiting and longest wait, calls"
        " ringing in, calls in its flow or with an agent, missed calls open (and of those, today's"
        " in the campaign's timezone); the waiting callers, longest first, with the names of the"
        " known contacts their number matches; the calls ringing in.")  # fmt: skip
async def status(call: Call) -> web.Response:
    svc = services(call)
    now = svc.clock.now()
    engine = svc.engine
    figures = await figures_of(svc).get_async(now)
    per_minute = svc.memo.get(("dials per minute", now // 60), lambda: _per_minute(svc, now))
    config = svc.config()
    # What the store and the figures say, the same until either changes (store/memo.py): the
    # campaigns with their kept counts and abandon ratios, the last hour's outcomes (#28).
    rows, section, hour, by_channel = svc.memo.get(
        "status campaigns",
        lambda: _campaigns_section(svc, config, figures),
        inputs=(config, figures),
    )
    in_flight: dict[str, int] = {}
    for c in engine.calls.values() if engine else []:
        in_flight[c.campaign.name] = in_flight.get(c.campaign.name, 0) + 1
    # the campaigns as JSON, the same while the store, the figures and the calls in flight are
    campaigns = svc.memo.get(
        ("status campaigns json", tuple(sorted(in_flight.items()))),
        lambda: json.dumps(
            [{**c, "calls_in_flight": in_flight.get(c["name"], 0)} for c in section]
        ),
        inputs=(config, figures),
    )
    agents: dict[str, int] = {
        str(state): int(n)
        for state, n in svc.db.conn.execute("SELECT state, count(*) FROM agents GROUP BY state")
    }
    rest = json.dumps(
        {
            "version": __version__,
            "time": iso_time(now),
            "status": engine.status() if engine else "no engine",
            "lines": [describe_line(s, now) for s in (engine.pool.slots if engine else [])],
            "calls_in_flight": len(engine.calls) if engine else 0,
            "dials_last_minute": per_minute[-1] + per_minute[-2],
            "dials_per_minute": per_minute,
            "outcomes_last_hour": hour,
            "outcomes_last_hour_by_channel": by_channel,
            "agents": agents,
            "inbound": inbound_section(svc.db, rows, engine, now, config.timezone),
            "recordings": recordings_section(svc, now, figures),
            "figures_as_of": iso_time(figures.as_of),
            "figures_age_seconds": figures.age(now),
        }
    )
    body = f'{rest[:-1]}, "campaigns": {campaigns}}}'  # the kept JSON, spliced in last
    return web.Response(text=body, content_type="application/json")


@API.op("GET", "/logs", summary="The daemon's recent log lines, filterable", tag="system",
        scope="admin",
        params=[Param("after", "query", {"type": "integer", "minimum": 0, "default": 0}),
                Param("level", "query", {"enum": ["DEBUG", "INFO", "WARNING", "ERROR"], "default": "INFO"}),
                Param("grep", "query", {"type": "string"}),
                Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 2000, "default": 200})],
        responses={200: ("log lines, oldest first", list[LogLine])})  # fmt: skip
async def logs(call: Call) -> web.Response:
    svc = services(call)
    if svc.logs is None:
        return web.json_response([])
    q = call.query
    lines = svc.logs.lines(
        after=q.get("after", 0), level=q.get("level", "INFO"), grep=q.get("grep"),
        limit=q.get("limit", 200),
    )  # fmt: skip
    return web.json_response([{**line, "time": iso_time(line["time"])} for line in lines])


@API.op("GET", "/audit", summary="The audit log: who changed what, when (O8)", tag="system",
        scope="admin",
        params=[Param("after", "query", {"type": "integer", "minimum": 0, "default": 0}),
                Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100})],
        responses={200: ("entries, oldest first", list[AuditEntry])})  # fmt: skip
async def audit_log(call: Call) -> web.Response:
    svc = services(call)
    rows = svc.db.conn.execute(
        "SELECT id, at, actor, action, target, detail FROM audit WHERE id > ? ORDER BY id LIMIT ?",
        (call.query.get("after", 0), call.query.get("limit", 100)),
    ).fetchall()
    return web.json_response(
        [
            {
                "id": i,
                "at": iso_time(float(str(at))),
                "actor": actor,
                "action": action,
                "target": target,
                "detail": iso_named(json.loads(str(detail))) if detail else None,
            }
            for i, at, actor, action, target, detail in rows
        ]
    )
