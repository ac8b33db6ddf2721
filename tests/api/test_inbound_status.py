"""`GET /status`'s inbound section over real HTTP (#23): each inbound campaign's queue, calls
ringing in, in a flow, with an agent, missed calls open (today's apart, in the campaign's
zone); the waiting callers with the names of the contacts their number matches — read from the
engine's inbound snapshot (engine/inboundview.py) as the daemon hands the engine to the API.
Hostile: contacts deleted under a waiting caller, names and caller IDs too long or with
control characters, a wrong token, no engine at all."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from appliance.api.context import Services
from appliance.api.server import HttpServer, create_app
from appliance.clock import ManualClock
from appliance.config.models import ApiSettings, DialboxConfig, LineConfig
from appliance.domain import CampaignStatus, CampaignType, Outcome
from appliance.engine.inboundview import FlowCallView, InboundSnapshot, RingingCall, WaitingCaller
from appliance.store import open_database
from appliance.store.campaigns import create_campaign, update_campaign
from appliance.store.db import Database
from appliance.store.inbound import complete_inbound, dismiss_missed, record_inbound, record_missed
from appliance.store.tokens import create_token
from tests.api.engineview import EngineView, Inbound
from tests.daemon.process import free_port

# Saturday 2026-03-07 10:00 in Warsaw; midnight there was at 23:00 UTC the day before.
NOW = dt.datetime(2026, 3, 7, 9, 0, tzinfo=dt.UTC).timestamp()
ANN, BOB = "+48601234567", "+48601234568"


@asynccontextmanager
async def served(tmp_path: Path, engine: Any) -> AsyncIterator[tuple[Database, Any]]:
    db = open_database(tmp_path / "d.db")
    config = DialboxConfig(
        database=tmp_path / "d.db", timezone="Europe/Warsaw", region="PL",
        lines=(LineConfig(name="gsm1", device="loop://"), LineConfig(name="gsm2", device="loop://")),
        api=ApiSettings(port=free_port()),
    )  # fmt: skip
    token = create_token(db, "crm", "crm", NOW, "test")
    services = Services(db=db, clock=ManualClock(NOW), config=lambda: config, engine=engine)
    server = HttpServer(create_app(services), config.api)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def get(path: str, secret: str = token) -> tuple[int, Any]:
                async with session.get(
                    base + path, headers={"Authorization": f"Bearer {secret}"}
                ) as r:
                    return r.status, await r.json(content_type=None)

            yield db, get
    finally:
        await server.stop()
        db.close()


def _seed(db: Database) -> dict[str, int]:
    """IN (running, answers on gsm1) with a known caller Ann, missed calls open today, open
    since yesterday and dismissed; HELP (stopped, New York hours) with one open missed call;
    an agent campaign OUT."""
    inbound = create_campaign(db, "IN", CampaignType.INBOUND, "PL", {"answer_lines": ["gsm1"]},
                              NOW, "t")  # fmt: skip
    update_campaign(db, inbound, {"status": CampaignStatus.RUNNING}, NOW, "t")
    other = create_campaign(db, "HELP", CampaignType.INBOUND, "PL",
                            {"timezone": "America/New_York"}, NOW, "t")  # fmt: skip
    create_campaign(db, "OUT", CampaignType.AGENT, "PL", {}, NOW, "t")
    call = record_inbound(db, inbound, "gsm1", ANN, NOW - 7200)
    complete_inbound(db, call.attempt_id, Outcome.CONNECTED, NOW - 7100)
    db.conn.execute("UPDATE contacts SET bp1 = 'Ann', bp2 = 'Kowalska' WHERE id = ?",
                    (call.contact_id,))  # fmt: skip
    bob = record_inbound(db, inbound, "gsm1", BOB, NOW - 7000)
    complete_inbound(db, bob.attempt_id, Outcome.CONNECTED, NOW - 6900)
    db.conn.execute("UPDATE contacts SET bp12 = ? WHERE id = ?", ("Acme " * 40, bob.contact_id))
    record_missed(db, inbound, "gsm1", ANN, "hung_up_in_queue", NOW - 600, waited=40)
    record_missed(db, inbound, "gsm1", BOB, "closed", NOW - 11 * 3600)  # yesterday in Warsaw
    gone = record_missed(db, inbound, "gsm1", "+48601234569", "overflow", NOW - 300)
    dismiss_missed(db, gone.id, NOW - 200, "t")
    # 04:00 UTC: 05:00 today in Warsaw, 23:00 yesterday in New York (HELP's zone)
    record_missed(db, other, "gsm2", "", "hung_up_ringing", NOW - 5 * 3600)
    return {"ann": call.contact_id, "bob": bob.contact_id}


def test_status_shows_each_inbound_campaign_s_queue_and_missed_calls(tmp_path: Path) -> None:
    async def scenario() -> None:
        snap = InboundSnapshot(at=NOW)
        engine = EngineView(Inbound(snap))
        async with served(tmp_path, engine) as (db, get):
            ids = _seed(db)
            engine.inbound.snap = InboundSnapshot(
                at=NOW,
                ringing=(RingingCall("gsm1", "+48601000001", NOW - 4, "IN"),
                         RingingCall("gsm9", "", NOW - 2, None, "no campaign answers there"),
                         RingingCall("gsm2", BOB, NOW - 1, "HELP", "the campaign is stopped")),
                in_flow=(FlowCallView("IN", "gsm1", ANN, NOW - 80, 11, "in"),
                         FlowCallView("IN", "gsm1", "", NOW - 20, 12, "in"),
                         FlowCallView("IN", "gsm1", BOB, NOW - 10, 13, "in"),
                         FlowCallView("survey", "gsm2", BOB, NOW - 5, 14, "out")),
                waiting=(WaitingCaller("IN", "gsm1", "", NOW - 15, (), 12, "sales"),
                         WaitingCaller("IN", "gsm1", ANN, NOW - 75, (ids["ann"],), 11, "sales")),
                talking=(FlowCallView("IN", "gsm1", BOB, NOW - 60, 10, "in", agent="anna"),),
            )  # fmt: skip
            status, doc = await get("/status")
            assert status == 200, doc
            inbound = doc["inbound"]
            assert inbound["live"] is True
            by_name = {c["name"]: c for c in inbound["campaigns"]}
            assert set(by_name) == {"IN", "HELP"}  # inbound campaigns only
            assert by_name["IN"] == {
                "name": "IN", "status": "running", "answer_lines": ["gsm1"], "waiting": 2,
                "longest_wait_seconds": 75.0, "ringing": 1, "in_flow": 3, "talking": 1,
                "missed_open": 2, "missed_open_today": 1,
            }  # fmt: skip
            assert by_name["HELP"]["waiting"] == 0 and by_name["HELP"]["missed_open"] == 1
            assert by_name["HELP"]["ringing"] == 1  # left ringing, still on its line
            assert by_name["HELP"]["missed_open_today"] == 0  # yesterday in its zone
            assert inbound["missed_open"] == 3
            # longest waiter first, with the name of the contact the number matches
            first, second = inbound["waiting"]
            assert first["caller"] == ANN and first["waited_seconds"] == 75.0
            assert first["since"] == "2026-03-07T08:58:45.000Z"
            assert first["matched"] == [
                {"contact_id": ids["ann"], "campaign": "IN", "name": "Ann Kowalska"}
            ]
            assert second["caller"] is None and second["withheld"] is True
            assert second["matched"] == [] and second["skill"] == "sales"
            assert [(r["line"], r["campaign"], r["ringing_seconds"], r["unanswered"])
                    for r in inbound["ringing"]] == [
                ("gsm1", "IN", 4.0, None), ("gsm9", None, 2.0, "no campaign answers there"),
                ("gsm2", "HELP", 1.0, "the campaign is stopped")]  # fmt: skip

    asyncio.run(scenario())


def test_status_without_an_engine_still_counts_missed_calls(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path, None) as (db, get):
            _seed(db)
            status, doc = await get("/status")
            assert status == 200, doc
            inbound = doc["inbound"]
            assert inbound["live"] is False and inbound["waiting"] == inbound["ringing"] == []
            assert {c["name"]: c["missed_open"] for c in inbound["campaigns"]} == {
                "IN": 2, "HELP": 1
            }  # fmt: skip
            assert all(c["waiting"] == 0 for c in inbound["campaigns"])

    asyncio.run(scenario())


def test_hostile_waiting_callers_are_shown_bounded_or_left_out(tmp_path: Path) -> None:
    """A matched contact deleted since the caller came, a 200-character company, a caller ID
    with control characters, a wait that has not begun (the clock stepped back), a wrong
    token: 200 with what can be shown, or 401 — never a 500."""

    async def scenario() -> None:
        engine = EngineView(Inbound(InboundSnapshot(at=NOW)))
        async with served(tmp_path, engine) as (db, get):
            ids = _seed(db)
            engine.inbound.snap = InboundSnapshot(
                at=NOW,
                waiting=(WaitingCaller("IN", "gsm1", "+4860\x1b[2J" + "9" * 60, NOW + 30,
                                       (999_999, ids["bob"], ids["ann"]), 21, None),),
            )  # fmt: skip
            status, doc = await get("/status")
            assert status == 200, doc
            (caller,) = doc["inbound"]["waiting"]
            assert caller["waited_seconds"] == 0.0
            assert caller["caller"].startswith("+4860\x1b[2J")  # as the line gave it: JSON-safe
            assert [m["contact_id"] for m in caller["matched"]] == [ids["bob"], ids["ann"]]
            assert len(caller["matched"][0]["name"]) == 80
            assert doc["inbound"]["campaigns"][0]["longest_wait_seconds"] == 0.0
            status, problem = await get("/status", secret="not-a-token")
            assert status == 401 and "inbound" not in problem

    asyncio.run(scenario())
