"""The boxes (daemons) on this store (#27): listed with their lines, heartbeat, version and
state; one drained for maintenance (no new leases) and resumed. docs/operations.md, "Several
boxes"."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance.api.campaigns import services
from appliance.api.context import Services
from appliance.api.models.boxes import Box
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call
from appliance.api.times import iso_fields
from appliance.store.boxes import BoxRow, list_boxes, set_draining
from appliance.store.campaigns import audit


def box_document(svc: Services, row: BoxRow, now: float) -> dict[str, Any]:
    config = svc.config().box
    doc = row.document(now, config.sweep_after_seconds)
    if doc["state"] == "up" and row.age(now) > 2 * config.heartbeat_seconds:
        doc["state"] = "silent"
    doc["this_box"] = row.id == config.id
    return iso_fields(doc, ("started_at", "heartbeat_at", "swept_at"))


@API.op("GET", "/boxes", summary="The boxes on this store: lines, heartbeat, version, state",
        tag="boxes", scope="floor", responses={200: ("the boxes", list[Box])})  # fmt: skip
async def get_boxes(call: Call) -> web.Response:
    svc = services(call)
    now = svc.clock.now()
    return web.json_response([box_document(svc, row, now) for row in list_boxes(svc.db)])


def _drain(action: str, draining: bool) -> None:
    async def toggle(call: Call) -> web.Response:
        svc = services(call)
        box_id = call.path["id"]
        now = svc.clock.now()
        with svc.db.transaction():
            try:
                row = set_draining(svc.db, box_id, draining)
            except LookupError as exc:
                raise Problem(404, str(exc)) from None
            audit(svc.db, call.caller.actor, f"box.{action}", box_id, {}, now)
        engine = svc.engine
        if engine is not None and getattr(engine, "box_id", None) == box_id:
            engine.draining = draining  # this box: at once (another hears it at its heartbeat)
        return web.json_response(box_document(svc, row, now))

    toggle.__name__ = f"{action}_box"
    what = (
        "Drain a box: it leases nothing new, its calls in flight finish (another box hears"
        " it at its next heartbeat)"
        if draining
        else "Resume a drained box: it leases again"
    )
    API.op("POST", f"/boxes/{{id}}/{action}", tag="boxes", scope="admin", summary=what,
           responses={200: ("the box", Box)})(toggle)  # fmt: skip


_drain("drain", True)
_drain("resume", False)
