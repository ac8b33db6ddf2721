"""Agent resources (SPEC A1, A2, A5, C10): positions, login at a seat, ready/pause, the screen
pop, preview accept/skip, hang-up, disposition with a callback, manual dial and the agent's list.

Tokens of scope `agent` act only on the agent of their own name (an agent desktop holds its
agent's token); `crm` and `admin` tokens act on any agent (a supervisor, a CRM's own desktop).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance import agent_disposition, dispositions, names
from appliance.api.campaigns import services
from appliance.api.context import Services
from appliance.api.models.agents import (
    Agent,
    AgentDial,
    AgentDialed,
    AgentDisposition,
    AgentList,
    AgentLogin,
    AgentPause,
    AgentPosition,
    CampaignDesk,
)
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call, Param
from appliance.api.times import iso_fields, parse_time
from appliance.campaigns import CampaignSettings
from appliance.engine.agents import AgentDesk
from appliance.engine.agentstate import LiveAgent
from appliance.engine.errors import (
    AgentConflict,
    AgentError,
    AgentRequestInvalid,
    DialerNotRunning,
    UnknownAgent,
)
from appliance.errors import DialboxError
from appliance.store.agents import (
    ContactInFlight,
    agent_list,
    delete_agent,
    ended_call,
    get_agent,
    list_agents,
    put_agent,
)
from appliance.store.campaigns import find_campaign, get_campaign_by_id


def _desk(svc: Services) -> AgentDesk:
    if svc.desk is None:
        raise Problem(503, "no agent desk runs in this process")
    desk: AgentDesk = svc.desk
    return desk


def _desk_for(call: Call) -> tuple[Services, str, AgentDesk]:
    """The services, the agent named in the path (checked against an agent token) and the desk."""
    svc = services(call)
    name = call.path["name"]
    _own(call, name)
    return svc, name, _desk(svc)


def _own(call: Call, name: str) -> None:
    """An agent token acts only on its own agent."""
    caller = call.caller
    if caller.scope == "agent" and caller.actor != f"api:{name}":
        raise Problem(403, f"an agent token acts only on the agent of its own name, not {name!r}")


def _document(svc: Services, desk: AgentDesk, agent: LiveAgent) -> dict[str, Any]:
    doc = iso_fields(desk.document(agent), ("since", "wrap_until"))
    if doc.get("call") is not None:
        iso_fields(doc["call"], ("started_at", "connected_at", "ended_at"))
    if doc.get("preview") is not None:
        iso_fields(doc["preview"], ("offered_at", "dials_at"))
    row = get_agent(svc.db, agent.name)
    doc["extension"] = row.extension if row else None
    return doc


def agent_problem(exc: AgentError) -> Problem:
    """The desk's refusal as the HTTP answer an agent desktop gets."""
    if isinstance(exc, UnknownAgent):
        return Problem(404, f"{exc}; create it with PUT /agents/{exc.name}")
    if isinstance(exc, AgentRequestInvalid):
        return Problem(422, str(exc))
    if isinstance(exc, DialerNotRunning):
        return Problem(503, str(exc))
    if isinstance(exc, AgentConflict):
        return Problem(409, str(exc))
    return Problem(422, str(exc))


def _run(fn: Any) -> Any:
    try:
        return fn()
    except AgentError as exc:
        raise agent_problem(exc) from None


@API.op("GET", "/agents", summary="Every agent: state, seat, the call in progress",
        tag="agents", scope="floor", responses={200: ("the agents", list[Agent])})  # fmt: skip
async def list_all(call: Call) -> web.Response:
    svc = services(call)
    desk = _desk(svc)
    return web.json_response([_document(svc, desk, desk.get(r.name)) for r in list_agents(svc.db)])


@API.op("PUT", "/agents/{name}", summary="Create or update an agent position (group, skills, usual seat)",
        tag="agents", scope="crm", body=AgentPosition,
        responses={200: ("updated", Agent), 201: ("created", Agent)},
        description=f"A new agent's name follows the name rule: {names.PATTERN} ({names.RULE}),"
        " not 'archive' or 'failed'; an agent named before that rule is updated in place.")  # fmt: skip
async def put(call: Call[AgentPosition]) -> web.Response:
    svc = services(call)
    name, body = call.path["name"], call.body
    if get_agent(svc.db, name) is None:
        names.check_name("agent", name)
    desk = _desk(svc)
    extension = body.extension
    if extension is not None and extension not in desk.seats:
        known = ", ".join(sorted(desk.seats)) or "none configured"
        raise Problem(422, f"no seat named {extension!r} (seats: {known})")
    _, created = put_agent(svc.db, name, extension=extension, group=body.group,
                           skills=body.skills if body.skills is not None else [], now=svc.clock.now(),
                           actor=call.caller.actor)  # fmt: skip
    desk.refresh(name)
    return web.json_response(_document(svc, desk, desk.get(name)), status=201 if created else 200)


@API.op("GET", "/agents/{name}", summary="One agent with the screen pop (the call's contact) or preview",
        tag="agents", scope="agent", responses={200: ("the agent", Agent)})  # fmt: skip
async def get(call: Call) -> web.Response:
    svc, name, desk = _desk_for(call)
    return web.json_response(_document(svc, desk, _run(lambda: desk.get(name))))


@API.op("DELETE", "/agents/{name}", summary="Remove a logged-out agent's position",
        tag="agents", scope="admin", responses={204: ("removed", None)})  # fmt: skip
async def delete(call: Call) -> web.Response:
    svc = services(call)
    desk = _desk(svc)
    name = call.path["name"]
    agent = _run(lambda: desk.get(name))
    if agent.state != "logged_out":
        raise Problem(409, f"agent {name} is {agent.state}; log the agent out first")
    delete_agent(svc.db, name, svc.clock.now(), call.caller.actor)
    desk.refresh(name)
    return web.Response(status=204)


@API.op("POST", "/agents/{name}/login", summary="Log in at a seat for campaigns (paused unless ready)",
        tag="agents", scope="agent", body=AgentLogin, responses={200: ("the agent", Agent)})  # fmt: skip
async def login(call: Call[AgentLogin]) -> web.Response:
    svc, name, desk = _desk_for(call)
    body = call.body
    for campaign in body.campaigns:
        if find_campaign(svc.db, campaign) is None:
            raise Problem(422, f"no campaign named {campaign!r}")
    agent = _run(lambda: desk.login(name, body.seat, body.campaigns, call.caller.actor))
    if body.ready:
        _run(lambda: desk.set_ready(name, call.caller.actor))
    return web.json_response(_document(svc, desk, agent))


def _action(action: str, summary: str, body: type[AgentPause] | None = None) -> None:
    async def handler(call: Call[AgentPause | None]) -> web.Response:
        svc, name, desk = _desk_for(call)
        actor = call.caller.actor
        reason = call.body.reason if call.body is not None else None
        agent = _run(
            {
                "logout": lambda: desk.logout(name, actor),
                "ready": lambda: desk.set_ready(name, actor),
                "pause": lambda: desk.pause(name, reason, actor),
                "hangup": lambda: desk.hang_up(name),
                "accept": lambda: desk.accept(name, actor),
                "skip": lambda: desk.skip(name),
            }[action]
        )
        return web.json_response(_document(svc, desk, agent))

    handler.__name__ = f"agent_{action}"
    path = (
        f"/agents/{{name}}/{action}"
        if action not in ("accept", "skip")
        else f"/agents/{{name}}/preview/{action}"
    )
    API.op("POST", path, summary=summary, tag="agents", scope="agent", body=body,
           responses={200: ("the agent", Agent)})(handler)  # fmt: skip


_action("logout", "Log out (after the call in progress)")
_action("ready", "Go ready for calls")
_action("pause", "Pause (after the call in progress)", AgentPause)
_action("hangup", "End the agent's call")
_action("accept", "Dial the previewed contact now")
_action("skip", "Skip the previewed contact (not offered again for an hour)")


@API.op("POST", "/agents/{name}/disposition",
        summary="The call's disposition: a code of the campaign's list, with its action on the contact",
        tag="agents", scope="agent", body=AgentDisposition, responses={200: ("the agent", Agent)},
        description="`disposition` is a code of the call's campaign (GET /campaigns/{name}/desk:"
        " its own `dispositions` setting, else the default set); its action is applied to the"
        " contact in the same transaction: close, retry after a delay, a callback at"
        " `callback_at` (required by the codes with `needs_date`) for self, the group or anyone,"
        " the number on the permanent block list (then the contact's next number), the campaign's"
        " DNC list, or the strategy's next SMS. 422 names the campaign's codes for an unknown"
        " one; 409 when the contact is being dialed again (nothing is written).")  # fmt: skip
async def disposition(call: Call[AgentDisposition]) -> web.Response:
    svc, name, desk = _desk_for(call)
    body = call.body
    agent = _run(lambda: desk.get(name))
    attempt_id = body.attempt_id or (agent.call.attempt_id if agent.call else None)
    if attempt_id is None:
        raise Problem(409, f"agent {name} has no call to set a disposition on; give attempt_id")
    ended = ended_call(svc.db, int(attempt_id))
    if ended is None:
        raise Problem(404, f"no attempt {attempt_id}")
    if ended.agent != name and call.caller.scope == "agent":
        raise Problem(403, f"attempt {attempt_id} was not agent {name}'s call")
    if ended.status == "in_flight":
        raise Problem(409, f"attempt {attempt_id} is still up; set its disposition once it ends")
    callback_at = parse_time(body.callback_at, "callback_at") if body.callback_at else None
    try:
        result = agent_disposition.dispose(
            svc.db, get_campaign_by_id(svc.db, ended.campaign_id), int(attempt_id),
            body.disposition, agent=name, group=agent.group, now=svc.clock.now(),
            actor=call.caller.actor, callback_at=callback_at, callback_for=body.callback_for,
            note=body.note, dnc=body.dnc,
        )  # fmt: skip
    except ContactInFlight as exc:
        raise Problem(
            409,
            f"{exc}: a disposition on attempt {attempt_id} would overwrite it, so nothing was"
            " written; set it on the newer call once that one ends",
        ) from None
    except DialboxError as exc:  # the code, its date, the campaign's strategy
        raise Problem(422, str(exc)) from None
    if body.pause:
        _run(lambda: desk.pause(name, "after disposition", call.caller.actor))
    if agent.call is not None and agent.call.attempt_id == result["attempt_id"]:
        desk.disposed(agent)
    return web.json_response(_document(svc, desk, agent))


@API.op("GET", "/campaigns/{name}/desk",
        summary="What the agent's desktop shows for a campaign: its script and dispositions",
        tag="agents", scope="agent", responses={200: ("the campaign's desk", CampaignDesk)},
        description="`dispositions`: the campaign's own list (setting `dispositions`), else the"
        " default set (an inbound campaign's: only those that close, block or DNC: it never"
        " dials); each code as POST /agents/{name}/disposition takes it, with its action"
        " and whether it needs a date (`callback_at`).")  # fmt: skip
async def campaign_desk(call: Call) -> web.Response:
    svc = services(call)
    campaign = find_campaign(svc.db, call.path["name"])
    if campaign is None:
        raise Problem(404, f"no campaign named {call.path['name']!r}")
    settings = CampaignSettings.model_validate(campaign.settings)
    return web.json_response(
        {
            "campaign": campaign.name,
            "script": settings.script,
            "dispositions": [
                d.desk() for d in dispositions.offered(settings.dispositions, str(campaign.type))
            ],
        }
    )


@API.op("POST", "/agents/{name}/dial", summary="Dial a contact of the agent's list now (manual, A5)",
        tag="agents", scope="agent", body=AgentDial, responses={202: ("dialing", AgentDialed)})  # fmt: skip
async def dial(call: Call[AgentDial]) -> web.Response:
    _, name, desk = _desk_for(call)
    body = call.body
    attempt = _run(lambda: desk.manual_dial(name, body.campaign, body.contact_id))
    return web.json_response({"attempt_id": attempt}, status=202)


@API.op("GET", "/agents/{name}/list", summary="The agent's list: due callbacks first, marked",
        tag="agents", scope="agent",
        params=[Param("campaign", "query", {"type": "string", "minLength": 1}, True),
                Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50})],
        responses={200: ("contacts", AgentList)})  # fmt: skip
async def contacts(call: Call) -> web.Response:
    svc, name, desk = _desk_for(call)
    agent = _run(lambda: desk.get(name))
    campaign = find_campaign(svc.db, call.query["campaign"])
    if campaign is None:
        raise Problem(404, f"no campaign named {call.query['campaign']!r}")
    rows = agent_list(svc.db, campaign.id, name, agent.group, svc.clock.now(),
                      int(call.query.get("limit", 50)))  # fmt: skip
    return web.json_response([iso_fields(r, ("callback_at", "next_at")) for r in rows])
