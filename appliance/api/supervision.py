"""The agents' floor pushed, not polled (#25, SPEC A1, A6): server-sent event streams for an agent
desktop and for supervisors, pop-up messages, and login codes for desk sessions.

`GET /agents/{name}/events` (an agent's own) and `GET /supervisor/events` are `text/event-stream`
responses that stay open: each event has an `id:`, an `event:` and one line of JSON `data:`; a
comment line `: ping` every `PING_SECONDS` keeps proxies and the client's reconnect logic awake.
What changes comes from the desk's hub (engine/notices.py); a client that reads slowly gets a
fresh snapshot instead of a growing queue. The streams end when the desk stops (the daemon's
shutdown), so none holds it.

A browser's EventSource cannot send a header: the pages read these with fetch() and a
ReadableStream, sending `Authorization: Bearer`, and reconnect with back-off.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from appliance.api.agents import _desk, _document, _own, agent_problem
from appliance.api.auth import admit, refuse
from appliance.api.campaigns import services
from appliance.api.context import Services
from appliance.api.models import Body, Document, Instant
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call, Param
from appliance.api.times import iso_time
from appliance.engine.agents import AgentDesk
from appliance.engine.errors import AgentError
from appliance.engine.notices import MESSAGE_KEEP, Message, Notices, Subscription
from appliance.store.agents import get_agent, list_agents
from appliance.store.campaigns import audit
from appliance.store.tokens import SESSION_SECONDS, authenticate, create_session

log = logging.getLogger(__name__)

PING_SECONDS = 15.0  # a comment line this often when nothing else is sent
MAX_STREAMS = 200  # event streams open at once (each holds a connection and a small queue)
MAX_MESSAGE = 1000  # characters of a pop-up message

EVENT_STREAM = "text/event-stream"
_STREAM_SCHEMA = {
    "type": "string",
    "description": "server-sent events (each `id:`, `event:`, one line of JSON `data:`, then an "
    "empty line) and `: ping` comment lines; the stream stays open",
}


class MessageBody(Body):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE,
                      description="what the agent's desktop shows at once; at most 1000 characters")  # fmt: skip


class MessageSent(Document):
    id: int
    to: list[str] = Field(description="the agents it was sent to")


class LoginCode(Document):
    code: str = Field(description="6 digits; valid once, for five minutes")
    expires_at: Instant


class SessionOpen(Body):
    agent: Annotated[str, Field(min_length=1, max_length=64)]
    code: Annotated[str, Field(pattern=r"^[0-9]{6}$", description="the supervisor's 6 digits")]


class Session(Document):
    token: str = Field(
        description="an agent token for this agent; send it as Authorization: Bearer"
    )
    agent: str
    expires_at: Instant


def _hub(svc: Services) -> tuple[AgentDesk, Notices]:
    desk = _desk(svc)
    return desk, desk.notices


def _subscribe(hub: Notices, agent: str | None) -> Subscription:
    """A new listener, or a 503 when `MAX_STREAMS` are open already."""
    if len(hub.subscribers) >= MAX_STREAMS:
        raise Problem(503, f"{MAX_STREAMS} event streams are open already; close one (another tab "
                           "of the page?) or try again in a minute",
                      headers={"Retry-After": "60"})  # fmt: skip
    return hub.subscribe(agent)


def _message_data(message: Message) -> dict[str, Any]:
    data = message.as_dict()
    data["at"] = iso_time(message.at)
    return data


def _event(hub: Notices, kind: str, data: Any) -> bytes:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {hub.event_id()}\nevent: {kind}\ndata: {text}\n\n".encode()


async def _stream(call: Call, hub: Notices, subscription: Subscription, kind: str,
                  snapshot: Callable[[], Any], pending: Callable[[], list[Message]]) -> web.StreamResponse:  # fmt: skip
    """Serve one event stream until the client goes, the snapshot cannot be had (the agent was
    removed), or the hub closes: `kind` events of `snapshot()` at once and whenever it differs
    from what was sent last, the messages the subscription gets, `: ping` when idle."""
    response = web.StreamResponse(
        headers={
            "Content-Type": f"{EVENT_STREAM}; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a proxy in front must not hold events back
        }
    )
    last: str | None = None

    async def state(force: bool) -> None:
        nonlocal last
        data = snapshot()
        text = json.dumps(data, sort_keys=True)
        if force or text != last:
            last = text
            await response.write(_event(hub, kind, data))

    async def messages(sent: list[Message]) -> None:
        for message in sent:
            await response.write(_event(hub, "message", _message_data(message)))

    await response.prepare(call.request)
    try:
        await state(True)
        await messages(pending())
        while True:
            batch = await subscription.next(PING_SECONDS)
            if batch.closed:
                break
            if batch.overflowed:  # items were dropped: the state again, and what is unread
                await state(True)
                await messages(pending())
                continue
            if batch.changed:
                await state(False)
            await messages(batch.messages)
            if not batch.changed and not batch.messages:
                if not _still_valid(call):
                    break  # revoked or expired: the client's reconnect hears why (401)
                await response.write(b": ping\n\n")
                await state(False)  # a change no one announced (a position edited) shows too
        await response.write_eof()
    except ConnectionError:
        pass  # the client went: nothing more to say to it
    except _Gone:
        await response.write_eof()
    except Exception:  # after the headers no problem document can be sent: end the stream
        log.exception("API: the event stream %s failed", call.request.path)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
    finally:
        hub.unsubscribe(subscription)
    return response


def _still_valid(call: Call) -> bool:
    """Whether the stream's token still authenticates (not revoked, not expired since it
    connected); the Unix socket's caller always is."""
    if call.caller.local:
        return True
    svc = services(call)
    _, _, secret = call.request.headers.get("Authorization", "").partition(" ")
    return authenticate(svc.db, secret.strip(), svc.clock.now()) is not None


class _Gone(Exception):
    """The agent a stream is about no longer exists."""


@API.op("GET", "/agents/{name}/events",
        summary="The agent's desk pushed: its document at once and after every change, pop-up messages",
        tag="agents", scope="agent",
        responses={200: ("an event stream that stays open", _STREAM_SCHEMA, EVENT_STREAM)},
        description="Server-sent events. `event: agent`: the agent document (as GET "
        "/agents/{name}), at once and after every change; `event: message`: a supervisor's "
        "pop-up {id, from, text, at, to}; a comment `: ping` every 15 s. Every event has an "
        "`id:`. A (re)connect gets the current document at once and every message of the last "
        "10 minutes not yet acknowledged (POST /agents/{name}/messages/{id}/ack). A client that "
        "does not keep up gets the document again rather than every step. An agent token reads "
        "only its own agent's stream.")  # fmt: skip
async def agent_events(call: Call) -> web.StreamResponse:
    svc = services(call)
    name = call.path["name"]
    _own(call, name)
    desk, hub = _hub(svc)
    try:
        desk.get(name)
    except AgentError as exc:
        raise agent_problem(exc) from None

    def snapshot() -> Any:
        try:
            return _document(svc, desk, desk.get(name))
        except AgentError:
            raise _Gone(name) from None

    return await _stream(call, hub, _subscribe(hub, name), "agent", snapshot,
                         lambda: hub.messages.pending(name, svc.clock.now()))  # fmt: skip


def _all_agents(svc: Services, desk: AgentDesk) -> list[dict[str, Any]]:
    return [_document(svc, desk, desk.get(r.name)) for r in list_agents(svc.db)]


@API.op("GET", "/supervisor/events",
        summary="The agents' floor pushed: every agent at once and after every change, every message",
        tag="agents", scope="supervisor",
        responses={200: ("an event stream that stays open", _STREAM_SCHEMA, EVENT_STREAM)},
        description="Server-sent events. `event: agents`: every agent's document (as GET "
        "/agents), at once and after every change; `event: message`: every pop-up message sent "
        "{id, from, text, at, to}; a comment `: ping` every 15 s. Every event has an `id:`.")  # fmt: skip
async def supervisor_events(call: Call) -> web.StreamResponse:
    svc = services(call)
    desk, hub = _hub(svc)
    return await _stream(call, hub, _subscribe(hub, None), "agents",
                         lambda: _all_agents(svc, desk), lambda: [])  # fmt: skip


def _sender(call: Call) -> str:
    return call.caller.actor.partition(":")[2] or call.caller.actor


def _send(call: Call[MessageBody], to: list[str], target: str) -> web.Response:
    svc = services(call)
    _, hub = _hub(svc)
    now = svc.clock.now()
    message = hub.send(_sender(call), call.body.text, to, now)
    with svc.db.transaction():
        audit(svc.db, call.caller.actor, "agent.message", target,
              {"id": message.id, "to": to, "text": call.body.text}, now)  # fmt: skip
    return web.json_response({"id": message.id, "to": to}, status=202)


@API.op("POST", "/agents/{name}/messages", summary="A pop-up message to one agent, shown at once",
        tag="agents", scope="supervisor", body=MessageBody,
        responses={202: ("sent", MessageSent)},
        description="Delivered at once on the agent's event stream and echoed on the "
        "supervisors'; kept 10 minutes for a desktop that reconnects until the agent "
        "acknowledges it. Audited.")  # fmt: skip
async def message_agent(call: Call[MessageBody]) -> web.Response:
    svc = services(call)
    name = call.path["name"]
    if get_agent(svc.db, name) is None:
        raise Problem(404, f"no agent named {name!r}; GET /agents lists them")
    return _send(call, [name], name)


@API.op("POST", "/agents/messages", summary="A pop-up message to every logged-in agent",
        tag="agents", scope="supervisor", body=MessageBody,
        responses={202: ("sent", MessageSent)},
        description="To every agent logged in now (409 when none is); as POST "
        "/agents/{name}/messages otherwise. Audited.")  # fmt: skip
async def message_all(call: Call[MessageBody]) -> web.Response:
    svc = services(call)
    desk, _ = _hub(svc)
    to = sorted(a.name for a in desk.agents.values() if a.state != "logged_out")
    if not to:
        raise Problem(409, "no agent is logged in: nobody would see this message")
    return _send(call, to, "*")


@API.op("POST", "/agents/{name}/messages/{id}/ack", summary="The agent has read a pop-up message",
        tag="agents", scope="agent",
        params=[Param("id", "path", {"type": "integer", "minimum": 1})],
        responses={204: ("noted: a reconnect no longer gets it", None)})  # fmt: skip
async def message_ack(call: Call) -> web.Response:
    svc = services(call)
    name = call.path["name"]
    _own(call, name)
    _, hub = _hub(svc)
    if hub.messages.ack(name, int(call.path["id"]), svc.clock.now()) is None:
        minutes = int(MESSAGE_KEEP // 60)
        raise Problem(404, f"no message {call.path['id']} to agent {name} in the last "
                           f"{minutes} minutes")  # fmt: skip
    return web.Response(status=204)


@API.op("POST", "/agents/{name}/login-code",
        summary="A login code for the agent's desk: 6 digits, five minutes, used once",
        tag="agents", scope="supervisor", responses={200: ("the code", LoginCode)},
        description="The agent opens a desk session with it (POST /desk/session) without a "
        "long-lived token. A new code replaces the agent's last; five wrong codes for the agent "
        "void it. Audited (the code itself is not).")  # fmt: skip
async def login_code(call: Call) -> web.Response:
    svc = services(call)
    name = call.path["name"]
    if get_agent(svc.db, name) is None:
        raise Problem(404, f"no agent named {name!r}; create it with PUT /agents/{name}")
    _, hub = _hub(svc)
    now = svc.clock.now()
    code, expires_at = hub.codes.issue(name, call.caller.actor, now)
    with svc.db.transaction():
        audit(svc.db, call.caller.actor, "agent.login_code", name, {"expires_at": expires_at}, now)
    return web.json_response({"code": code, "expires_at": iso_time(expires_at)})


@API.op("POST", "/desk/session",
        summary="Open a desk session with a supervisor's login code: an agent token for 12 hours",
        tag="agents", scope=None, body=SessionOpen, responses={201: ("the session", Session)},
        description="No token needed. A wrong, expired or used code is a 401 counted like a "
        "wrong token (too many from one address are refused with 429 for a while). The token "
        "acts for the agent only, as a token named after the agent would; it expires after 12 "
        "hours, when the agent asks for a new code.")  # fmt: skip
async def desk_session(call: Call[SessionOpen]) -> web.Response:
    svc = services(call)
    now = svc.clock.now()
    admit(call.request, svc.db, now)
    agent = call.body.agent
    _, hub = _hub(svc)
    issuer = hub.codes.redeem(agent, call.body.code, now)
    if issuer is None or get_agent(svc.db, agent) is None:
        raise refuse(call.request, svc.db, now, "code",
                     f"that is not a valid login code for agent {agent!r} (wrong, expired or "
                     "used); ask a supervisor for a new one: it is valid once, for five minutes")  # fmt: skip
    secret, token = create_session(svc.db, agent, now, issuer, SESSION_SECONDS)
    return web.json_response(
        {"token": secret, "agent": agent, "expires_at": iso_time(token.expires_at)}, status=201
    )
