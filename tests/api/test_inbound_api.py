"""Inbound campaigns and missed calls over real HTTP (#23): an inbound campaign's settings, its
start checked (lines that answer, one inbound campaign per line), no list imported into it;
missed calls listed, called back at the next permitted time, dismissed; the results feed and
the contact view with the calls' direction, steps and answers — and the hostile requests, each
a 4xx problem that says what to do, with nothing changed."""

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
from appliance.config.models import ApiSettings, DialboxConfig, LineConfig
from appliance.domain import CampaignType, Outcome
from appliance.store import open_database
from appliance.store.agents import put_agent
from appliance.store.campaigns import create_campaign, get_campaign
from appliance.store.db import Database
from appliance.store.dnc import add_numbers
from appliance.store.flowrecords import FlowRecord, FlowStep
from appliance.store.inbound import complete_inbound, record_inbound, record_missed
from appliance.store.tokens import create_token
from tests.daemon.process import free_port

NOW = dt.datetime(2026, 3, 7, 9, 0, tzinfo=dt.UTC).timestamp()  # Saturday 10:00 in Warsaw
ANN, BOB = "+48601234567", "+48601234568"

Call = Callable[..., Awaitable[tuple[int, Any]]]


class Box:
    def __init__(self, db: Database, clock: ManualClock, call: Call, base: str) -> None:
        self.db, self.clock, self.call, self.base = db, clock, call, base


@asynccontextmanager
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    db = open_database(tmp_path / "d.db")
    clock = ManualClock(NOW)
    config = DialboxConfig(
        database=tmp_path / "d.db", timezone="Europe/Warsaw", region="PL",
        lines=(LineConfig(name="gsm1", device="loop://"), LineConfig(name="gsm2", device="loop://")),
        api=ApiSettings(port=free_port()),
    )  # fmt: skip
    token = create_token(db, "crm", "crm", NOW, "test")
    server = HttpServer(create_app(Services(db=db, clock=clock, config=lambda: config)), config.api)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def call(method: str, path: str, body: Any = None, secret: str = token,
                           raw: bytes | None = None) -> tuple[int, Any]:  # fmt: skip
                headers = {"Authorization": f"Bearer {secret}"}
                if raw is not None:
                    headers["Content-Type"] = "text/plain"
                async with session.request(method, base + path, json=body, data=raw,
                                           headers=headers) as r:  # fmt: skip
                    return r.status, await r.json(content_type=None)

            yield Box(db, clock, call, base)
    finally:
        await server.stop()
        db.close()


def test_an_inbound_campaign_answers_only_when_it_can(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            status, doc = await b.call("POST", "/campaigns", {
                "name": "IN", "type": "inbound", "region": "PL",
                "settings": {"windows": "mon-fri 08:00-18:00", "queue_max_wait": 90,
                             "overflow": "callback", "callback_campaign": "OUT"}})  # fmt: skip
            assert status == 201, doc
            assert doc["type"] == "inbound" and doc["settings"]["queue_max_wait"] == 90
            assert (
                doc["settings"]["inbound_first"] is True and doc["settings"]["answer_lines"] == []
            )

            status, problem = await b.call("POST", "/campaigns/IN/start")
            assert status == 409 and "answer_lines" in problem["detail"], problem
            assert "callback_campaign 'OUT' does not exist" in problem["detail"]
            assert (await b.call("POST", "/campaigns", {"name": "OUT", "type": "agent"}))[0] == 201
            await b.call("PATCH", "/campaigns/IN", {"settings": {"answer_lines": ["gsm9"]}})
            status, problem = await b.call("POST", "/campaigns/IN/start")
            assert (
                status == 409 and "gsm9" in problem["detail"] and "gsm1, gsm2" in problem["detail"]
            )
            await b.call("PATCH", "/campaigns/IN", {"settings": {"answer_lines": ["gsm1"]}})
            status, doc = await b.call("POST", "/campaigns/IN/start")
            assert status == 200 and doc["status"] == "running", doc

            # a line answers for one inbound campaign
            await b.call("POST", "/campaigns", {"name": "IN2", "type": "inbound",
                                                "settings": {"answer_lines": ["gsm1", "gsm2"]}})  # fmt: skip
            status, problem = await b.call("POST", "/campaigns/IN2/start")
            assert (
                status == 409
                and "gsm1 already answer(s) for inbound campaign 'IN'" in problem["detail"]
            )
            status, problem = await b.call(
                "PATCH", "/campaigns/IN", {"settings": {"answer_lines": ["gsm1", "gsm2"]}})  # fmt: skip
            assert status == 200  # IN2 is stopped: it claims nothing
            await b.call("POST", "/campaigns/IN2/start")
            status, problem = await b.call("PATCH", "/campaigns/IN2",
                                           {"settings": {"answer_lines": ["gsm2"]}})  # fmt: skip
            assert status == 200  # still stopped
            status, problem = await b.call("POST", "/campaigns/IN2/start")
            assert status == 409 and "gsm2" in problem["detail"]

            # a callback campaign that does not call
            status, problem = await b.call("PATCH", "/campaigns/IN",
                                           {"settings": {"callback_campaign": "IN2"}})  # fmt: skip
            assert status == 409 and "callbacks are calls" in problem["detail"], problem
            assert get_campaign(b.db, "IN").settings["callback_campaign"] == "OUT"

            # no list goes into an inbound campaign
            status, problem = await b.call("POST", "/campaigns/IN/contacts", {"phone1": ANN})
            assert (
                status == 409
                and "inbound" in problem["detail"]
                and "import the list" in problem["detail"]
            )
            status, problem = await b.call("POST", "/campaigns/IN/contacts/upload",
                                           raw=b"+48601234567\n")  # fmt: skip
            assert status == 409, problem
            assert b.db.scalar("SELECT count(*) FROM contacts") == 0
            # its callers make it keep its type
            record_inbound(b.db, get_campaign(b.db, "IN"), "gsm1", ANN, NOW)
            await b.call("POST", "/campaigns/IN/stop")
            status, problem = await b.call("PATCH", "/campaigns/IN", {"type": "agent",
                "settings": {"answer_lines": None, "overflow": None, "callback_campaign": None,
                             "queue_max_wait": None}})  # fmt: skip
            assert status == 409 and "has 1 contacts" in problem["detail"], problem
            # null restores a setting's default, also one that cannot be null
            status, doc = await b.call(
                "PATCH", "/campaigns/IN", {"settings": {"queue_max_wait": None}}
            )
            assert status == 200 and doc["settings"]["queue_max_wait"] == 120

    asyncio.run(scenario())


def test_inbound_settings_are_checked_with_clear_errors(tmp_path: Path) -> None:
    bad: list[tuple[dict[str, Any], int, str]] = [
        ({"name": "A", "type": "agent", "settings": {"answer_lines": ["gsm1"]}}, 422,
         "answer_lines is a setting of inbound campaigns; this one is agent"),
        ({"name": "B", "type": "inbound", "settings": {"overflow": "callback"}}, 422,
         "needs callback_campaign"),
        ({"name": "C", "type": "inbound", "settings": {"overflow": "node"}}, 422, "overflow_node"),
        ({"name": "D", "type": "inbound", "settings": {"overflow": "explode"}}, 422, "overflow"),
        ({"name": "E", "type": "inbound", "settings": {"answer_lines": ["../etc"]}}, 422,
         "line name '../etc' is not allowed"),
        ({"name": "F", "type": "inbound", "settings": {"answer_lines": ["g"] * 10_000}}, 422,
         "answer_lines"),
        ({"name": "G", "type": "inbound", "settings": {"answer_lines": ["gsm1", "gsm1"]}}, 422,
         "names a line twice"),
        ({"name": "H", "type": "inbound", "settings": {"queue_max_wait": 4000}}, 422,
         "queue_max_wait"),
        ({"name": "H", "type": "inbound", "settings": {"queue_max_wait": 10**30}}, 400,
         "queue_max_wait"),
        ({"name": "I", "type": "inbound", "settings": {"closed_flow": "x" * 100_000}}, 422,
         "closed_flow"),
        ({"name": "J", "type": "pigeon"}, 422, "body.type"),
    ]  # fmt: skip

    async def scenario() -> None:
        async with box(tmp_path) as b:
            for body, code, words in bad:
                status, problem = await b.call("POST", "/campaigns", body)
                assert status == code and words in problem["detail"], (body, problem)
            assert b.db.scalar("SELECT count(*) FROM campaigns") == 0

    asyncio.run(scenario())


def _seed(db: Database) -> dict[str, int]:
    inbound = create_campaign(db, "IN", CampaignType.INBOUND, "PL",
                              {"callback_campaign": "OUT"}, NOW, "t")  # fmt: skip
    out = create_campaign(db, "OUT", CampaignType.AGENT, "PL",
                          {"windows": "mon-fri 09:00-17:00", "timezone": "Europe/Warsaw"},
                          NOW, "t")  # fmt: skip
    create_campaign(db, "TEXTS", CampaignType.SMS, "PL", {}, NOW, "t")
    put_agent(db, "anna", extension=None, group="sales", skills=(), now=NOW, actor="t")
    call = record_inbound(db, inbound, "gsm1", ANN, NOW - 3600)
    flow = FlowRecord((FlowStep(NOW - 3590, "menu", "digit", "2"),), {"reason": "billing"})
    complete_inbound(db, call.attempt_id, Outcome.CONNECTED, NOW - 3500, flow=flow)
    db.conn.execute("UPDATE contacts SET bp1 = 'Ann' WHERE id = ?", (call.contact_id,))
    ids = {
        "ann": record_missed(db, inbound, "gsm1", ANN, "hung_up_in_queue", NOW, waited=61).id,
        "withheld": record_missed(db, inbound, "gsm2", "", "hung_up_ringing", NOW).id,
        "bob": record_missed(db, inbound, "gsm1", BOB, "closed", NOW).id,
        "dnc": record_missed(db, inbound, "gsm1", "+48601234569", "overflow", NOW).id,
        "caller": call.contact_id,
        "attempt": call.attempt_id,
        "out": out.id,
    }
    add_numbers(db, ["+48601234569"], campaign_id=None, campaign=None, now=NOW - 60, actor="t",
                reason="asked on the phone")  # fmt: skip
    return ids


def test_missed_calls_are_called_back_at_the_next_permitted_time_or_dismissed(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            ids = _seed(b.db)
            status, page = await b.call("GET", "/missed-calls?campaign=IN&status=open&limit=3")
            assert status == 200 and [m["id"] for m in page["items"]] == [
                ids["ann"], ids["withheld"], ids["bob"]]  # fmt: skip
            assert page["next"] == ids["bob"]
            status, rest = await b.call("GET", f"/missed-calls?after={page['next']}")
            assert [m["id"] for m in rest["items"]] == [ids["dnc"]] and rest["next"] is None
            first = page["items"][0]
            assert (first["number"], first["reason"], first["waited_seconds"], first["at"]) == (
                ANN, "hung_up_in_queue", 61.0, "2026-03-07T09:00:00.000Z")  # fmt: skip
            assert first["contact_id"] == ids["caller"] and first["callback"] is None
            assert page["items"][1]["withheld"] is True and page["items"][1]["number"] is None

            status, one = await b.call("GET", f"/missed-calls/{ids['ann']}")
            assert status == 200 and [m["contact_id"] for m in one["matched"]] == [ids["caller"]]
            assert one["matched"][0]["fields"] == {"bp1": "Ann"}

            # the inbound campaign's callback campaign, Monday 09:00 in Warsaw, for anna
            status, done = await b.call("POST", f"/missed-calls/{ids['ann']}/callback",
                                        {"owner": "anna"})  # fmt: skip
            assert status == 200, done
            assert (done["status"], done["handled_by"]) == ("callback_made", "api:crm")
            callback = done["callback"]
            assert (callback["campaign"], callback["state"], callback["owner"], callback["due_at"],
                    callback["already"]) == ("OUT", "Pending", "anna",
                                             "2026-03-09T08:00:00.000Z", False)  # fmt: skip
            assert b.db.scalar("SELECT bp1 FROM contacts WHERE id = ?",
                               (callback["contact_id"],)) == "Ann"  # fmt: skip
            status, problem = await b.call("POST", f"/missed-calls/{ids['ann']}/callback", {})
            assert status == 409 and "called back already" in problem["detail"]
            status, problem = await b.call("POST", f"/missed-calls/{ids['ann']}/dismiss")
            assert status == 409 and "called back already" in problem["detail"]

            status, problem = await b.call("POST", f"/missed-calls/{ids['withheld']}/callback", {})
            assert status == 409 and "withheld" in problem["detail"], problem
            status, problem = await b.call("POST", f"/missed-calls/{ids['dnc']}/callback", {})
            assert status == 409 and "global list (asked on the phone)" in problem["detail"]
            status, problem = await b.call("POST", f"/missed-calls/{ids['bob']}/callback",
                                           {"campaign": "TEXTS"})  # fmt: skip
            assert status == 422 and "does not call" in problem["detail"]
            status, problem = await b.call("POST", f"/missed-calls/{ids['bob']}/callback",
                                           {"campaign": "IN"})  # fmt: skip
            assert status == 422 and "does not call" in problem["detail"]
            status, problem = await b.call("POST", f"/missed-calls/{ids['bob']}/callback",
                                           {"campaign": "NOPE"})  # fmt: skip
            assert status == 422 and "no campaign named 'NOPE'" in problem["detail"]
            status, problem = await b.call("POST", f"/missed-calls/{ids['bob']}/callback",
                                           {"owner": "zed"})  # fmt: skip
            assert status == 422 and "no agent named 'zed'" in problem["detail"]
            status, problem = await b.call("POST", f"/missed-calls/{ids['bob']}/callback",
                                           {"owner": "@nobody"})  # fmt: skip
            assert status == 422 and "no agent is in group 'nobody'" in problem["detail"]
            assert b.db.scalar("SELECT count(*) FROM contacts WHERE campaign_id = ?",
                               (ids["out"],)) == 1  # only Ann's callback  # fmt: skip

            status, done = await b.call("POST", f"/missed-calls/{ids['bob']}/callback",
                                        {"campaign": "OUT", "owner": "@sales"})  # fmt: skip
            assert status == 200 and done["callback"]["owner"] == "@sales"
            status, done = await b.call("POST", f"/missed-calls/{ids['withheld']}/dismiss")
            assert status == 200 and done["status"] == "dismissed"
            status, page = await b.call("GET", "/missed-calls?status=open")
            assert [m["id"] for m in page["items"]] == [ids["dnc"]]
            audit = b.db.scalar("SELECT count(*) FROM audit WHERE action IN"
                                " ('contact.callback', 'missed_call.dismiss')")  # fmt: skip
            assert audit == 3

    asyncio.run(scenario())


def test_hostile_requests_on_missed_calls_are_refused_with_nothing_changed(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            ids = _seed(b.db)
            path = f"/missed-calls/{ids['bob']}/callback"
            for body, words in (
                ({"owner": "a" * 10_000}, "body.owner"),
                ({"owner": "anna; DROP TABLE contacts"}, "body.owner"),
                ({"campaign": "../OUT"}, "body.campaign"),
                ({"campaign": ""}, "body.campaign"),
                ({"when": "now"}, "when"),
                ([1, 2], "body"),
                ({"campaign": 7}, "body.campaign"),
            ):
                status, problem = await b.call("POST", path, body)
                assert status == 422 and words in problem["detail"], (body, problem)
            status, problem = await b.call("POST", path, raw=b"\xff\xfe")
            assert status == 415, problem
            for target, code in (
                ("/missed-calls/0", 422), ("/missed-calls/abc", 422),
                (f"/missed-calls/{2**63}", 422), ("/missed-calls/999999", 404),
                ("/missed-calls?status=lost", 422), ("/missed-calls?limit=100000", 422),
                ("/missed-calls?campaign=NOPE", 404), ("/missed-calls?after=-1", 422),
            ):  # fmt: skip
                status, problem = await b.call("GET", target)
                assert status == code, (target, problem)
            assert (await b.call("POST", "/missed-calls/999999/dismiss"))[0] == 404
            assert (await b.call("POST", "/missed-calls/999999/callback", {}))[0] == 404
            assert (await b.call("GET", "/missed-calls", secret="wrong"))[0] == 401
            assert (await b.call("POST", path, {}, secret="wrong"))[0] == 401
            opened = b.db.scalar("SELECT count(*) FROM missed_calls WHERE status = 'open'")
            assert opened == 4 and b.db.scalar(
                "SELECT count(*) FROM contacts WHERE campaign_id = ?", (ids["out"],)) == 0  # fmt: skip

    asyncio.run(scenario())


def test_results_and_contacts_show_a_call_s_direction_steps_and_answers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            ids = _seed(b.db)
            status, page = await b.call("GET", "/results?campaign=IN")
            assert status == 200, page
            (result,) = page["items"]
            assert (result["attempt_id"], result["direction"], result["answers"]) == (
                ids["attempt"], "in", {"reason": "billing"})  # fmt: skip
            assert result["steps"] == [{"at": "2026-03-07T08:00:10.000Z", "node": "menu",
                                        "kind": "digit", "detail": "2"}]  # fmt: skip
            status, doc = await b.call("GET", f"/contacts/{ids['caller']}")
            assert status == 200 and doc["state"] == "Connected" and doc["phone1"] == ANN
            assert doc["attempts"][0]["direction"] == "in"
            assert doc["attempts"][0]["answers"] == {"reason": "billing"}

    asyncio.run(scenario())
