"""Listen, whisper, barge-in (SPEC A6): a supervisor's seat joins an agent's call.

`POST /agents/{name}/monitor` `{"seat", "mode"}` joins the seat (or changes the mode),
`DELETE /agents/{name}/monitor` ends it; the line that carries the agent's call does the mixing
where its hardware can (engine/supervise.py). Unknown agent or seat 404, no call (or nobody
listening) 409, a line or seat that cannot 422 with the reason. Every attempt is audited,
refusals too (who tried to listen to whom matters as much as who did).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance.api.campaigns import services
from appliance.api.context import Services
from appliance.api.models.monitor import Monitoring, MonitorRequest, MonitorState
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call
from appliance.drivers.line import Line
from appliance.engine import supervise
from appliance.engine.agents import AgentDesk
from appliance.engine.errors import AgentConflict, AgentError, UnknownAgent
from appliance.store.campaigns import audit


def _desk(svc: Services) -> AgentDesk:
    if svc.desk is None or svc.engine is None:
        raise Problem(503, "no agent desk and dial engine run in this process")
    desk: AgentDesk = svc.desk
    return desk


def _lines(svc: Services) -> supervise.LineFinder:
    pool = svc.engine.pool

    def find(name: str) -> Line | None:
        slot = pool.slot(name)
        return None if slot is None else slot.line

    return find


def _problem(exc: AgentError) -> Problem:
    if isinstance(exc, UnknownAgent):
        return Problem(404, f"{exc}; create it with PUT /agents/{exc.name}")
    if isinstance(exc, supervise.UnknownSeat):
        return Problem(404, f"{exc}; a supervisor's seat is configured under seats:")
    if isinstance(exc, AgentConflict):
        return Problem(409, str(exc))
    return Problem(422, str(exc))


def _audit(svc: Services, call: Call, action: str, name: str, details: dict[str, Any]) -> None:
    with svc.db.transaction():
        audit(svc.db, call.caller.actor, action, name, details, svc.clock.now())


@API.op("POST", "/agents/{name}/monitor", tag="agents", scope="supervisor", body=MonitorRequest,
        summary="A supervisor's seat listens in on the agent's call (listen, whisper, barge)",
        description="Joins the supervisor's seat to the call the agent is on: listen (hears "
        "both, is heard by nobody), whisper (heard by the agent only) or barge (a three-way "
        "call); again with the same seat changes the mode. A handset on hook is rung first. "
        "409: the agent has no call, another supervisor is on it, the handset was not lifted; "
        "422: the line or the seat cannot (GET /lines shows each line's `conference`).",
        responses={200: ("the conference", Monitoring)})  # fmt: skip
async def start_monitor(call: Call[MonitorRequest]) -> web.Response:
    svc = services(call)
    desk, name, body = _desk(svc), call.path["name"], call.body
    details: dict[str, Any] = {"seat": body.seat, "mode": body.mode}
    try:
        done = await supervise.monitor(desk, _lines(svc), name, body.seat, body.mode,
                                       body.lift_within)  # fmt: skip
    except AgentError as exc:
        problem = _problem(exc)
        if problem.status != 404:
            _audit(svc, call, "agent.monitor", name, {**details, "refused": str(exc)})
        raise problem from None
    _audit(svc, call, "agent.monitor", name, {**details, "line": done.line})
    return web.json_response(done.to_dict())


@API.op("DELETE", "/agents/{name}/monitor", tag="agents", scope="supervisor",
        summary="End the supervisor's listening in on the agent's call",
        description="The supervisor's handset stays lifted, in no call. 409 when the agent has "
        "no call or nobody listens in.",
        responses={200: ("the conference that ended", Monitoring)})  # fmt: skip
async def stop_monitor(call: Call) -> web.Response:
    svc = services(call)
    desk, name = _desk(svc), call.path["name"]
    try:
        done = await supervise.unmonitor(desk, _lines(svc), name)
    except AgentError as exc:
        raise _problem(exc) from None
    _audit(svc, call, "agent.unmonitor", name, {"seat": done.seat, "mode": done.mode,
                                                "line": done.line})  # fmt: skip
    return web.json_response(done.to_dict())


@API.op("GET", "/agents/{name}/monitor", tag="agents", scope="supervisor",
        summary="Who listens in on the agent's call now",
        description="seat and mode null when nobody does (or the agent has no call).",
        responses={200: ("the conference, if any", MonitorState)})  # fmt: skip
async def get_monitor(call: Call) -> web.Response:
    svc = services(call)
    desk, name = _desk(svc), call.path["name"]
    try:
        desk.get(name)
    except AgentError as exc:
        raise _problem(exc) from None
    now = supervise.current(desk, _lines(svc), name)
    if now is None:
        return web.json_response({"agent": name, "seat": None, "mode": None, "line": None})
    return web.json_response(now.to_dict())
