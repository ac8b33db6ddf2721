"""Pushed events and the supervision API over real HTTP (#25): an in-process daemon's API with a
running agent desk (phone seats, up at once) and a manual clock. An agent desktop's stream gets
its document at once and after every change made by another client; pop-up messages reach the
right agent's stream (and every supervisor's), wait for their acknowledgement across a
reconnect, and expire after 10 minutes; login codes open 12-hour desk sessions. Hostile: a
wrong token, another agent's token, a client that never reads, wrong, expired and reused
codes, an expired session."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from appliance.api import supervision
from appliance.api.auth import AUTH_GUARD
from appliance.api.context import Services
from appliance.api.server import HttpServer, create_app
from appliance.clock import ManualClock
from appliance.config.models import AgentSettings, ApiSettings, DialboxConfig
from appliance.drivers.line import PhoneSeat, Seat
from appliance.engine.agents import AgentDesk
from appliance.metrics import Metrics
from appliance.store import open_database
from appliance.store.agents import put_agent
from appliance.store.db import Database
from appliance.store.tokens import create_token, revoke_token
from tests.daemon.process import free_port

NOW = 1_800_000_000.0
WAIT = 10.0  # seconds a test waits for an event before it fails (never a timing assumption)


@dataclass
class Event:
    id: str | None
    kind: str | None
    data: Any
    comment: str | None = None


class Stream:
    """One open event stream, read event by event."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self) -> Event:
        """The next event or comment."""
        fields: dict[str, str] = {}
        comment = None
        while True:
            raw = await asyncio.wait_for(self.response.content.readline(), WAIT)
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode().rstrip("\n")
            if line == "":
                if fields or comment is not None:
                    data = json.loads(fields["data"]) if "data" in fields else None
                    return Event(fields.get("id"), fields.get("event"), data, comment)
                continue
            if line.startswith(":"):
                comment = line[1:].strip()
                continue
            key, _, value = line.partition(": ")
            fields[key] = value

    async def until(self, kind: str, check: Callable[[Any], bool] = lambda d: True) -> Event:
        """The next `kind` event whose data passes `check` (others are skipped)."""
        while True:
            event = await self.next()
            if event.kind == kind and check(event.data):
                return event


@dataclass
class Box:
    db: Database
    clock: ManualClock
    desk: AgentDesk
    app: Any
    base: str
    session: aiohttp.ClientSession
    tokens: dict[str, str]
    metrics: Metrics

    async def call(self, method: str, path: str, body: Any = None,
                   token: str | None = "boss") -> tuple[int, Any]:  # fmt: skip
        headers = (
            {} if token is None else {"Authorization": f"Bearer {self.tokens.get(token, token)}"}
        )
        async with self.session.request(method, self.base + path, json=body, headers=headers) as r:
            text = await r.text()
            return r.status, json.loads(text) if text else None

    @asynccontextmanager
    async def stream(self, path: str, token: str) -> AsyncIterator[Stream]:
        headers = {"Authorization": f"Bearer {self.tokens.get(token, token)}"}
        async with self.session.get(self.base + path, headers=headers) as r:
            assert r.status == 200, await r.text()
            assert r.headers["Content-Type"].startswith("text/event-stream")
            yield Stream(r)


@asynccontextmanager
async def served(tmp_path: Path, agents: tuple[str, ...] = ("anna", "ben")) -> AsyncIterator[Box]:
    db = open_database(tmp_path / "d.db")
    config = DialboxConfig(database=tmp_path / "d.db", api=ApiSettings(port=free_port()),
                           agents=AgentSettings(wrap_up=0.0))  # fmt: skip
    clock = ManualClock(NOW)
    seats: dict[str, Seat] = {f"s{i}": PhoneSeat(f"s{i}", f"+4850000000{i}")
                              for i in range(1, len(agents) + 1)}  # fmt: skip
    for i, name in enumerate(agents, 1):
        put_agent(db, name, extension=f"s{i}", group="sales", skills=[], now=NOW, actor="t")
    desk = AgentDesk(config, db, clock, seats)
    tokens = {name: create_token(db, name, "agent", NOW, "t") for name in agents}
    tokens["boss"] = create_token(db, "boss", "supervisor", NOW, "t")
    tokens["crm"] = create_token(db, "crm", "crm", NOW, "t")
    metrics = Metrics()
    services = Services(db=db, clock=clock, config=lambda: config, desk=desk, metrics=metrics)
    server = HttpServer(create_app(services), config.api)
    stopping = asyncio.Event()
    task = asyncio.create_task(desk.run(stopping))
    await server.start()
    try:
        while not all(desk.seat_up.values()):
            await asyncio.sleep(0)  # the phone seats say they are up at once
        async with aiohttp.ClientSession() as session:
            yield Box(db, clock, desk, server.app, f"http://127.0.0.1:{server.port}", session,
                      tokens, metrics)  # fmt: skip
    finally:
        stopping.set()
        await task
        await server.stop()
        db.close()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_an_agent_stream_gets_its_document_at_once_and_after_each_change(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as box, box.stream("/agents/anna/events", "anna") as events:
            first = await events.next()
            assert first.kind == "agent" and first.id is not None
            assert first.data["name"] == "anna" and first.data["state"] == "logged_out"
            # Another client (the supervisor's token) logs anna in and makes her ready.
            status, _ = await box.call("POST", "/agents/anna/login", {"campaigns": []})
            assert status == 200
            paused = await events.until("agent")
            assert paused.data["state"] == "paused" and paused.data["seat"] == "s1"
            assert int(paused.id or 0) > int(first.id or 0)
            assert (await box.call("POST", "/agents/anna/ready", token="anna"))[0] == 200
            assert (await events.until("agent")).data["state"] == "ready"
            status, _ = await box.call("POST", "/agents/anna/pause", {"reason": "coffee"})
            assert status == 200
            paused = await events.until("agent")
            assert paused.data["state"] == "paused" and paused.data["reason"] == "coffee"
            # ben's change is not anna's: her stream says nothing of it (the next event is a
            # change of hers, not a copy of her unchanged document).
            assert (await box.call("POST", "/agents/ben/login", {"campaigns": []}))[0] == 200
            assert (await box.call("POST", "/agents/anna/ready", token="anna"))[0] == 200
            nxt = await events.until("agent")
            assert nxt.data["name"] == "anna" and nxt.data["state"] == "ready"

    run(scenario)


def test_the_supervisor_stream_gets_every_agent_and_every_change(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as box, box.stream("/supervisor/events", "boss") as events:
            first = await events.next()
            assert first.kind == "agents"
            assert [a["name"] for a in first.data] == ["anna", "ben"]
            assert (await box.call("POST", "/agents/ben/login", {"campaigns": []}, "ben"))[0] == 200
            agents = await events.until("agents")
            assert {a["name"]: a["state"] for a in agents.data} == {
                "anna": "logged_out", "ben": "paused"}  # fmt: skip

    run(scenario)


def test_streams_refuse_a_wrong_token_another_agent_and_an_unknown_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as box:
            status, doc = await box.call("GET", "/agents/anna/events", token="dbx_wrong")
            assert status == 401 and "token" in doc["detail"]
            status, doc = await box.call("GET", "/agents/anna/events", token="ben")
            assert status == 403 and "own name" in doc["detail"]
            status, doc = await box.call("GET", "/agents/nobody/events", token="boss")
            assert status == 404 and "PUT /agents/nobody" in doc["detail"]
            # The supervisor's stream: not for an agent's token nor a CRM's.
            status, doc = await box.call("GET", "/supervisor/events", token="anna")
            assert status == 403 and "'supervisor'" in doc["detail"]
            assert (await box.call("GET", "/supervisor/events", token="crm"))[0] == 403
            # GET /agents reads the floor with a supervisor's or a CRM's token, not an agent's.
            assert (await box.call("GET", "/agents", token="boss"))[0] == 200
            assert (await box.call("GET", "/agents", token="crm"))[0] == 200
            assert (await box.call("GET", "/agents", token="anna"))[0] == 403
            # So do the status and the lines (the supervisor's page shows them), nothing more.
            assert (await box.call("GET", "/status", token="boss"))[0] == 200
            status, doc = await box.call("GET", "/lines", token="boss")
            assert status == 503 and "engine" in doc["detail"]  # past the scope: no engine here
            for path in ("/status", "/lines"):
                status, doc = await box.call("GET", path, token="anna")
                assert status == 403 and "'crm' or 'supervisor' or 'admin'" in doc["detail"]
            assert (await box.call("GET", "/campaigns", token="boss"))[0] == 403
            assert (await box.call("POST", "/campaigns", {"name": "x", "type": "agent"},
                                   token="boss"))[0] == 403  # fmt: skip

    run(scenario)


def test_a_message_reaches_its_agent_not_another_and_every_supervisor(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            served(tmp_path) as box,
            box.stream("/agents/anna/events", "anna") as anna,
            box.stream("/agents/ben/events", "ben") as ben,
            box.stream("/supervisor/events", "boss") as boss,
        ):
            await anna.until("agent")
            await ben.until("agent")
            await boss.until("agents")
            status, sent = await box.call("POST", "/agents/anna/messages", {"text": "call me"})
            assert status == 202 and sent["to"] == ["anna"]
            got = await anna.until("message")
            assert got.data == {"id": sent["id"], "from": "boss", "text": "call me",
                                "at": "2027-01-15T08:00:00.000Z", "to": ["anna"]}  # fmt: skip
            echo = await boss.until("message")
            assert echo.data == got.data
            # ben hears nothing of it: the next thing on his stream is his own later message.
            status, other = await box.call("POST", "/agents/ben/messages", {"text": "hi ben"})
            assert status == 202
            assert (await ben.until("message")).data["id"] == other["id"]
            # Audited, with who sent what to whom.
            row = box.db.conn.execute(
                "SELECT actor, target FROM audit WHERE action = 'agent.message' ORDER BY id"
            ).fetchone()
            assert row == ("api:boss", "anna")
            # Hostile: an agent may not send; an empty, a huge or a malformed body is a 4xx.
            assert (await box.call("POST", "/agents/ben/messages", {"text": "x"}, "anna"))[0] == 403
            assert (await box.call("POST", "/agents/anna/messages", {"text": ""}))[0] == 422
            assert (await box.call("POST", "/agents/anna/messages", {"text": "x" * 1001}))[0] == 422
            assert (await box.call("POST", "/agents/anna/messages", {"txt": "x"}))[0] == 422
            status, doc = await box.call("POST", "/agents/zed/messages", {"text": "x"})
            assert status == 404 and "GET /agents" in doc["detail"]

    run(scenario)


def test_a_broadcast_goes_to_every_logged_in_agent(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path, ("anna", "ben", "cy")) as box:
            status, doc = await box.call("POST", "/agents/messages", {"text": "all"})
            assert status == 409 and "no agent is logged in" in doc["detail"]
            # /agents/{name} matches the path too, but only POST is allowed here, as documented.
            async with box.session.options(box.base + "/agents/messages") as r:
                assert r.status == 405 and r.headers["Allow"] == "POST"
            async with box.session.options(box.base + "/agents/anna") as r:
                assert r.status == 405 and r.headers["Allow"] == "DELETE,GET,PUT"
            for name in ("anna", "ben"):
                assert (await box.call("POST", f"/agents/{name}/login", {"campaigns": []}))[
                    0
                ] == 200
            async with box.stream("/agents/ben/events", "ben") as ben:
                status, sent = await box.call("POST", "/agents/messages", {"text": "meeting"})
                assert status == 202 and sent["to"] == ["anna", "ben"]  # not cy: logged out
                got = await ben.until("message")
                assert got.data["text"] == "meeting" and got.data["to"] == ["anna", "ben"]
            async with box.stream("/agents/cy/events", "cy") as cy:
                await cy.until("agent")
                # cy's next event is a ping-free message sent to cy only: the broadcast is not his.
                status, own = await box.call("POST", "/agents/cy/messages", {"text": "cy only"})
                assert (await cy.until("message")).data["id"] == own["id"]

    run(scenario)


def test_a_reconnect_gets_unacknowledged_messages_of_the_last_ten_minutes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as box:
            _, old = await box.call("POST", "/agents/anna/messages", {"text": "old"})
            box.clock.advance(300)
            _, read = await box.call("POST", "/agents/anna/messages", {"text": "read"})
            _, unread = await box.call("POST", "/agents/anna/messages", {"text": "unread"})
            assert (await box.call("POST", f"/agents/anna/messages/{read['id']}/ack",
                                   token="anna"))[0] == 204  # fmt: skip
            box.clock.advance(301)  # "old" is now over 10 minutes old
            async with box.stream("/agents/anna/events", "anna") as anna:
                assert (await anna.next()).kind == "agent"
                again = await anna.next()
                assert again.kind == "message" and again.data["id"] == unread["id"]
            # Hostile: another agent cannot acknowledge anna's message; an unknown id is a 404.
            status, _ = await box.call("POST", f"/agents/anna/messages/{unread['id']}/ack",
                                       token="ben")  # fmt: skip
            assert status == 403
            status, doc = await box.call("POST", f"/agents/ben/messages/{unread['id']}/ack",
                                         token="ben")  # fmt: skip
            assert status == 404 and "last 10 minutes" in doc["detail"]
            status, _ = await box.call("POST", f"/agents/anna/messages/{old['id']}/ack",
                                       token="anna")  # fmt: skip
            assert status == 404  # expired
            assert (await box.call("POST", "/agents/anna/messages/abc/ack", token="anna"))[0] == 422

    run(scenario)


def test_a_client_that_never_reads_does_not_grow_memory(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as box:
            headers = {"Authorization": f"Bearer {box.tokens['boss']}"}
            async with box.session.get(box.base + "/supervisor/events", headers=headers) as r:
                assert r.status == 200
                while not box.desk.notices.subscribers:
                    await asyncio.sleep(0)
                (sub,) = box.desk.notices.subscribers
                # Thousands of messages and changes, never read by the client: the queue stays
                # within its bound (it is emptied and marked for a fresh snapshot instead).
                for i in range(5000):
                    box.desk.notices.send("boss", f"m{i}" * 100, ["anna"], NOW)
                    box.desk.notices.changed()
                    assert len(sub) <= sub.limit
                assert len(box.desk.notices.messages) <= box.desk.notices.messages.limit
                # When it reads at last it gets the state again, not what was dropped.
                events = Stream(r)
                assert (await events.next()).kind == "agents"  # on connect
                again = await events.next()
                assert again.kind == "agents" and [a["name"] for a in again.data] == ["anna", "ben"]
                # and then what comes next, as usual
                _, sent = await box.call("POST", "/agents/anna/messages", {"text": "after"})
                assert (await events.until("message")).data["id"] == sent["id"]
            # The client has gone: the handler finds out at its next write and lets go.
            for _ in range(1000):
                if not box.desk.notices.subscribers:
                    break
                box.desk.notices.send("boss", "anyone there?", ["anna"], NOW)
                await asyncio.sleep(0.01)
            assert not box.desk.notices.subscribers

    run(scenario)


def test_login_code_opens_a_desk_session_for_that_agent_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as box:
            status, made = await box.call("POST", "/agents/anna/login-code")
            assert status == 200 and len(made["code"]) == 6 and made["code"].isdigit()
            assert made["expires_at"] == "2027-01-15T08:05:00.000Z"
            status, session = await box.call(
                "POST", "/desk/session", {"agent": "anna", "code": made["code"]}, token=None
            )
            assert status == 201 and session["agent"] == "anna", session
            assert session["expires_at"] == "2027-01-15T20:00:00.000Z"  # 12 hours
            box.tokens["session"] = session["token"]
            # The session acts for anna (beside her long-lived token named anna) and only her.
            status, doc = await box.call("POST", "/agents/anna/login", {"campaigns": []}, "session")
            assert status == 200 and doc["state"] == "paused"
            assert (await box.call("POST", "/agents/ben/login", {"campaigns": []}, "session"))[
                0
            ] == 403
            assert (await box.call("GET", "/agents/anna", token="anna"))[0] == 200
            # Used once.
            status, doc = await box.call(
                "POST", "/desk/session", {"agent": "anna", "code": made["code"]}, token=None
            )
            assert status == 401 and "ask a supervisor for a new one" in doc["detail"]
            # The issue and the session are audited (the code itself nowhere).
            actions = [r[0] for r in box.db.conn.execute(
                "SELECT action || ' ' || actor FROM audit WHERE target = 'anna' ORDER BY id")]  # fmt: skip
            assert "agent.login_code api:boss" in actions and "desk.session api:boss" in actions
            assert not box.db.scalar("SELECT count(*) FROM audit WHERE detail LIKE ?",
                                     (f"%{made['code']}%",))  # fmt: skip
            # 12 hours later the session token is refused, saying how to get a new one.
            box.clock.advance(12 * 3600)
            status, doc = await box.call("GET", "/agents/anna", token="session")
            assert status == 401
            assert "expired" in doc["detail"] and "login code" in doc["detail"]
            assert "POST /desk/session" in doc["detail"]

    run(scenario)


def test_login_codes_expire_and_wrong_ones_count_like_wrong_tokens(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as box:
            _, made = await box.call("POST", "/agents/anna/login-code")
            box.clock.advance(300)  # five minutes: expired
            status, _ = await box.call(
                "POST", "/desk/session", {"agent": "anna", "code": made["code"]}, token=None
            )
            assert status == 401
            # Wrong codes are counted by the guard like wrong tokens: the 10th blocks the address.
            _, made = await box.call("POST", "/agents/ben/login-code")
            wrong = f"{(int(made['code']) + 1) % 10**6:06d}"
            statuses = []
            for _ in range(10):
                status, doc = await box.call(
                    "POST", "/desk/session", {"agent": "ben", "code": wrong}, token=None
                )
                statuses.append(status)
            assert statuses[:9] == [401] * 9
            status, doc = await box.call(
                "POST", "/desk/session", {"agent": "ben", "code": made["code"]}, token=None
            )
            assert status == 429 and "too many failed" in doc["detail"]
            rendered = box.metrics.render().decode()
            assert 'dialbox_auth_failures_total{reason="code"} 10.0' in rendered
            assert box.app[AUTH_GUARD].limiter.retry_after("127.0.0.1", NOW + 300) is not None
            # Five wrong codes for ben voided his code: even the right one no longer works.
            box.app[AUTH_GUARD].limiter._table.clear()
            status, _ = await box.call(
                "POST", "/desk/session", {"agent": "ben", "code": made["code"]}, token=None
            )
            assert status == 401
            # Malformed: not 6 digits is a 422 (nothing guessed); a code for no agent a 401.
            assert (await box.call("POST", "/desk/session", {"agent": "ben", "code": "12345"},
                                   token=None))[0] == 422  # fmt: skip
            assert (await box.call("POST", "/desk/session", {"agent": "x" * 500, "code": "123456"},
                                   token=None))[0] == 422  # fmt: skip
            # Only a supervisor issues codes; none for an unknown agent.
            assert (await box.call("POST", "/agents/anna/login-code", token="anna"))[0] == 403
            assert (await box.call("POST", "/agents/zed/login-code"))[0] == 404

    run(scenario)


def test_streams_end_when_the_desk_stops(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as box, box.stream("/agents/anna/events", "anna") as anna:
            await anna.until("agent")
            box.desk.notices.close()
            with pytest.raises(EOFError):
                await anna.next()

    run(scenario)


def test_an_idle_stream_pings_and_shows_a_change_no_one_announced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervision, "PING_SECONDS", 0.05)

    async def scenario() -> None:
        async with served(tmp_path) as box, box.stream("/agents/anna/events", "anna") as anna:
            assert (await anna.next()).data["group"] == "sales"
            assert (await anna.next()).comment == "ping"
            # Editing the position tells the desk nothing it announces; the next ping sees it.
            status, _ = await box.call("PUT", "/agents/anna", {"extension": "s1", "group": "vip"},
                                       token="crm")  # fmt: skip
            assert status == 200
            changed = await anna.until("agent")
            assert changed.data["group"] == "vip"

    run(scenario)


def test_a_stream_ends_when_its_token_is_revoked_or_expires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervision, "PING_SECONDS", 0.05)

    async def scenario() -> None:
        async with served(tmp_path) as box:
            async with box.stream("/agents/anna/events", "anna") as anna:
                await anna.until("agent")
                revoke_token(box.db, "anna", NOW, "test")
                with pytest.raises(EOFError):
                    await anna.until("agent", lambda d: False)
            _, made = await box.call("POST", "/agents/ben/login-code")
            _, session = await box.call("POST", "/desk/session",
                                        {"agent": "ben", "code": made["code"]}, token=None)  # fmt: skip
            async with box.stream("/agents/ben/events", session["token"]) as ben:
                await ben.until("agent")
                box.clock.advance(12 * 3600)
                with pytest.raises(EOFError):
                    await ben.until("agent", lambda d: False)
            status, doc = await box.call("GET", "/agents/ben/events", token=session["token"])
            assert status == 401 and "login code" in doc["detail"]

    run(scenario)


def test_an_agent_stream_ends_when_its_agent_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervision, "PING_SECONDS", 0.05)

    async def scenario() -> None:
        async with served(tmp_path) as box, box.stream("/agents/anna/events", "boss") as anna:
            await anna.until("agent")
            admin = create_token(box.db, "root", "admin", NOW, "t")
            assert (await box.call("DELETE", "/agents/anna", token=admin))[0] == 204
            with pytest.raises(EOFError):
                await anna.until("agent", lambda d: False)

    run(scenario)


def test_streams_open_at_once_are_limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervision, "MAX_STREAMS", 2)

    async def scenario() -> None:
        async with (
            served(tmp_path) as box,
            box.stream("/agents/anna/events", "anna") as anna,
            box.stream("/supervisor/events", "boss") as boss,
        ):
            await anna.until("agent")
            await boss.until("agents")
            async with box.session.get(box.base + "/agents/ben/events",
                                       headers={"Authorization": f"Bearer {box.tokens['ben']}"}) as r:  # fmt: skip
                assert r.status == 503 and r.headers["Retry-After"] == "60"
                assert "2 event streams are open" in (await r.json())["detail"]
            assert len(box.desk.notices.subscribers) == 2

    run(scenario)
