"""A campaign's scheduled actions over real HTTP (SPEC C2): add, list with the next due and the
last applied (ISO 8601), delete; the hostile cases answered 4xx with what to do, nothing stored."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from appliance.api.context import Services
from appliance.api.server import HttpServer, create_app
from appliance.clock import ManualClock
from appliance.config.models import ApiSettings, DialboxConfig, ScheduleEntry
from appliance.domain import CampaignType
from appliance.engine.schedules import ScheduledActions
from appliance.store import open_database
from appliance.store.campaigns import create_campaign
from appliance.store.db import Database
from appliance.store.tokens import create_token
from tests.daemon.process import free_port

START = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC).timestamp()  # 08:00 in Warsaw
PATH = "/campaigns/spring/scheduled-actions"

Call = Callable[..., Awaitable[tuple[int, Any]]]


class Box:
    def __init__(self, db: Database, clock: ManualClock, config: DialboxConfig, call: Call) -> None:
        self.db, self.clock, self.config, self.call = db, clock, config, call


@asynccontextmanager
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    db = open_database(tmp_path / "d.db")
    clock = ManualClock(START)
    entries = (ScheduleEntry(campaign="spring", action="stop", at="2026-03-31 18:00"),)
    config = DialboxConfig(
        database=tmp_path / "d.db", timezone="Europe/Warsaw", schedules=entries,
        api=ApiSettings(port=free_port()),
    )  # fmt: skip
    create_campaign(db, "spring", CampaignType.AGENT, "PL", {}, START, "test")
    token = create_token(db, "crm", "crm", START, "test")
    server = HttpServer(create_app(Services(db=db, clock=clock, config=lambda: config)), config.api)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def call(
                method: str, path: str, body: Any = None, secret: str = token
            ) -> tuple[int, Any]:
                headers = {"Authorization": f"Bearer {secret}"}
                async with session.request(method, base + path, json=body, headers=headers) as r:
                    return r.status, (await r.json(content_type=None) if r.status != 204 else None)

            yield Box(db, clock, config, call)
    finally:
        await server.stop()
        db.close()


def test_add_list_apply_and_delete(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            status, lunch = await b.call(
                "POST", PATH, {"action": "pause", "at": "12:00", "days": "mon-fri"}
            )
            assert status == 201, lunch
            assert lunch["next_due"] == "2026-03-02T11:00:00Z"
            assert lunch["next_due_local"] == "2026-03-02T12:00:00+01:00"
            assert (lunch["repeats"], lunch["timezone"], lunch["source"]) == (
                True,
                "Europe/Warsaw",
                "api",
            )
            status, once = await b.call(
                "POST", PATH, {"action": "resume", "at": "2026-03-02T11:30:00Z"}
            )
            assert status == 201 and once["at"] == "2026-03-02T12:30:00+01:00", once

            status, doc = await b.call("GET", PATH)
            assert status == 200 and doc["now"] == "2026-03-02T07:00:00Z"
            assert doc["next_due"]["id"] == lunch["id"] and doc["last_applied"] is None
            assert [a["id"] for a in doc["actions"]] == [lunch["id"], once["id"]]

            # The daemon's component applies them on the clock; the API shows what it did.
            schedules = ScheduledActions(b.config, b.db, b.clock)
            schedules.start()  # also stores the config's entry
            assert (await b.call("POST", "/campaigns/spring/start"))[0] == 200
            for hour, minute in ((11, 0), (11, 30)):
                b.clock.set(dt.datetime(2026, 3, 2, hour, minute, tzinfo=dt.UTC).timestamp())
                schedules.apply_due()
                status, doc = await b.call("GET", PATH)
                assert doc["status"] == ("paused" if minute == 0 else "running")
            assert doc["status"] == "running"  # paused at 12:00, resumed at 12:30
            assert doc["last_applied"]["id"] == once["id"]
            assert doc["last_applied"]["last_result"] == "paused → running"
            applied = {a["id"]: a for a in doc["actions"]}
            assert applied[lunch["id"]]["last_due"] == "2026-03-02T11:00:00Z"
            assert applied[lunch["id"]]["next_due"] == "2026-03-03T11:00:00Z"
            assert applied[once["id"]]["next_due"] is None
            assert doc["next_due"]["id"] == lunch["id"]
            config_row = next(a for a in doc["actions"] if a["source"] == "config")

            assert (await b.call("DELETE", f"{PATH}/{lunch['id']}"))[0] == 204
            status, problem = await b.call("DELETE", f"{PATH}/{lunch['id']}")
            assert status == 404 and "list them" in problem["detail"]
            status, problem = await b.call("DELETE", f"{PATH}/{config_row['id']}")
            assert status == 409 and "config file" in problem["detail"]
            audit = b.db.scalar("SELECT count(*) FROM audit WHERE action LIKE 'schedule.%'")
            assert audit == 4  # three added (one by the config), one deleted

    asyncio.run(scenario())


def test_hostile_requests_are_refused_with_what_to_do(tmp_path: Path) -> None:
    bad: list[tuple[dict[str, Any], str]] = [
        ({"action": "pause", "at": "tomorrow"}, "is not a time"),
        ({"action": "pause", "at": "2026-03-02 07:00"}, "in the past"),
        ({"action": "pause", "at": "2026-02-30 09:00"}, "not a valid date"),
        ({"action": "pause", "at": "31:00"}, "not a time of day"),
        ({"action": "pause", "at": "12:00", "days": "someday"}, "not a day"),
        ({"action": "pause", "at": "2026-03-03 09:00", "days": "mon"}, "goes with a time of day"),
        ({"action": "pause", "at": "12:00", "timezone": "Mars/Base"}, "not an IANA time zone"),
        ({"action": "explode", "at": "12:00"}, "body.action"),
        ({"action": "pause", "at": "12:00", "when": "now"}, "when"),
        ({"action": "pause", "at": "1" * 10_000}, "body.at"),
        ({"action": "pause"}, "at"),
        ({"action": "pause", "at": "9999-01-01T00:00:00Z"}, "not a year"),
    ]

    async def scenario() -> None:
        async with box(tmp_path) as b:
            for body, words in bad:
                status, problem = await b.call("POST", PATH, body)
                assert status == 422, (body, problem)
                assert words in problem["detail"], (body, problem)
            assert (await b.call("GET", PATH, secret="wrong"))[0] == 401
            assert (await b.call("GET", "/campaigns/autumn/scheduled-actions"))[0] == 404
            status, _ = await b.call("DELETE", f"{PATH}/abc")
            assert status == 422
            assert (await b.call("DELETE", f"{PATH}/999999"))[0] == 404
            assert b.db.scalar("SELECT count(*) FROM scheduled_actions") == 0

    asyncio.run(scenario())
