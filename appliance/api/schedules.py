"""A campaign's scheduled actions (SPEC C2): list, add, delete; applied by the daemon
(appliance/engine/schedules.py). Times are ISO 8601."""

from __future__ import annotations

from aiohttp import web

from appliance.api.context import SERVICES, Services
from appliance.api.models.schedules import (
    ScheduledAction,
    ScheduledActionCreate,
    ScheduledActions,
)
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call, Param
from appliance.engine.schedules import add_action, campaign_timezone, describe, summary
from appliance.scheduler.timing import iso_utc
from appliance.store import campaigns as campaigns_store
from appliance.store import schedules as store

PATH = "/campaigns/{name}/scheduled-actions"
ID = Param("id", "path", {"type": "integer", "minimum": 1}, description="the action's id")


def _services(call: Call) -> Services:
    return call.request.app[SERVICES]


@API.op("GET", PATH, summary="The campaign's scheduled actions, the next due and the last applied",
        tag="campaigns", scope="crm", responses={200: ("the actions", ScheduledActions)})  # fmt: skip
async def list_scheduled_actions(call: Call) -> web.Response:
    svc = _services(call)
    campaign = campaigns_store.get_campaign(svc.db, call.path["name"])
    rows = store.list_actions(svc.db, campaign.id)
    return web.json_response(
        {
            "campaign": campaign.name,
            "status": str(campaign.status),
            "timezone": campaign_timezone(svc.config(), campaign),
            "now": iso_utc(svc.clock.now()),
            **summary(rows),
            "actions": [describe(row) for row in rows],
        }
    )


@API.op("POST", PATH, summary="Schedule a start, pause, resume or stop", tag="campaigns",
        scope="crm", body=ScheduledActionCreate, responses={201: ("added", ScheduledAction)},
        description="Once at a time (`2026-03-02 09:00` in the zone, or an ISO 8601 instant), or"
        " every day at `HH:MM` (on `days`). A time already past is refused (422). Actions due"
        " at the same instant apply start, resume, pause, stop: the last wins"
        " (docs/scheduler.md, 'Scheduled actions').")  # fmt: skip
async def add_scheduled_action(call: Call[ScheduledActionCreate]) -> web.Response:
    svc = _services(call)
    campaign = campaigns_store.get_campaign(svc.db, call.path["name"])
    body = call.body
    row = add_action(
        svc.db, svc.config(), campaign, action=body.action, at=body.at, days=body.days,
        timezone=body.timezone, now=svc.clock.now(), actor=call.caller.actor, source="api",
    )  # fmt: skip
    return web.json_response(describe(row), status=201)


@API.op("DELETE", PATH + "/{id}", summary="Delete a scheduled action", tag="campaigns",
        scope="crm", params=[ID], responses={204: ("deleted", None)},
        description="Actions from the config file (`source: config`) are removed there.")  # fmt: skip
async def delete_scheduled_action(call: Call) -> web.Response:
    svc = _services(call)
    campaign = campaigns_store.get_campaign(svc.db, call.path["name"])
    row = store.get_action(svc.db, campaign.id, call.path["id"])
    if row.source == "config":
        raise Problem(
            409,
            f"scheduled action {row.id} comes from the config file (schedules:); remove it there"
            " and reload the daemon (systemctl reload dialbox)",
        )
    store.delete_action(svc.db, row, campaign.name, svc.clock.now(), call.caller.actor)
    return web.Response(status=204)
