"""`why` and the lines report speak per box when several boxes share the store (#27); one box
alone reads as before."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from types import SimpleNamespace

from appliance.domain import CampaignType, Channel, ContactState, Outcome, Summary
from appliance.periods import Period
from appliance.store import open_database
from appliance.store.attempts import Completion, Lease, complete, lease
from appliance.store.boxes import register, set_draining
from appliance.store.campaigns import create_campaign
from appliance.store.reports import lines_report
from tests.boxes.test_boxes_api import served
from tests.scheduler.dbfixtures import add_contact

NOW = 1_800_000_000.0


def _call(db: object, cid: int, box: str, line: str, number: str) -> None:
    contact = add_contact(db, cid, [number])  # type: ignore[arg-type]
    got = lease(db, contact, 1, Channel.VOICE, NOW, line=line, box=box)  # type: ignore[arg-type]
    assert isinstance(got, Lease)
    done = Completion(Outcome.BUSY, ContactState.NOT_CONNECTED, Summary.NO_SUCCESS, NOW + 600,
                      dialed_at=NOW, line=line)  # fmt: skip
    assert complete(db, got, done, NOW + 30)  # type: ignore[arg-type]


def test_the_lines_report_keeps_each_box_s_lines_apart(tmp_path: Path) -> None:
    db = open_database(tmp_path / "d.db")
    campaign = create_campaign(db, "c", CampaignType.AUTOMATED, "US", {}, NOW, "t")
    period = Period(NOW - 3600, NOW + 3600, "total", "UTC")
    register(db, "a", "0.1.0", NOW)
    _call(db, campaign.id, "a", "gsm0", "+12125550101")
    alone = lines_report(db, period, now=NOW)
    assert [r["line"] for r in alone.totals] == ["gsm0"], "one box: the line's name as before"
    register(db, "b", "0.1.0", NOW)
    _call(db, campaign.id, "b", "gsm0", "+12125550102")
    _call(db, campaign.id, "b", "gsm0", "+12125550103")
    both = lines_report(db, period, now=NOW)
    assert {r["line"]: r["attempts"] for r in both.totals} == {"a/gsm0": 1, "b/gsm0": 2}


def test_why_says_per_box_and_counts_every_box_s_lines(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as (db, clock, engine, call, _tokens):
            # this box's engine: its pool has no line up (the others' lines count)
            engine.pool = SimpleNamespace(in_service=lambda: {})
            engine.agents_out_of_reach = lambda campaign: None
            create_campaign(db, "spring", CampaignType.AUTOMATED, "US", {}, clock.now(), "t")
            status, alone = await call("GET", "/campaigns/spring/why")
            assert status == 200 and "boxes" not in alone and "Boxes:" not in alone["text"]
            assert any(b["reason"] == "no_line" for b in alone["blockers"])  # this box's none
            up = {"up": True, "busy": False, "campaigns": []}
            register(db, "alpha", "0.1.0", clock.now(), [{"name": "gsm0", **up}])
            register(db, "beta", "0.1.0", clock.now(),
                     [{"name": "gsm0", **up}, {"name": "gsm1", **up},
                      {"name": "gsm2", **up, "campaigns": ["other"]}])  # fmt: skip
            register(db, "gamma", "0.1.0", clock.now(), [{"name": "gsm0", **up}])
            set_draining(db, "gamma", True)
            status, why = await call("GET", "/campaigns/spring/why")
            assert status == 200, why
            shares = {b["box"]: b for b in why["boxes"]}
            assert shares["alpha"]["lines_up"] == 1
            assert shares["beta"]["lines_up"] == 2  # gsm2 is pinned to another campaign
            assert shares["gamma"]["draining"]
            assert "box beta: 2 lines up for it, 0 calls in flight" in why["text"]
            assert "box gamma: draining, leases nothing new" in why["text"]
            # the campaign is stopped: that is the reason, not the lines
            assert why["blockers"][0]["reason"] == "stopped"
            assert not any(b["reason"] == "no_line" for b in why["blockers"])

    asyncio.run(scenario())


def test_dialbox_why_lists_the_boxes(tmp_path: Path) -> None:
    from appliance.cli import main

    config = tmp_path / "dialbox.yaml"
    config.write_text("database: d.db\nregion: US\nbox:\n  id: alpha\n")
    db = open_database(tmp_path / "d.db")
    create_campaign(db, "spring", CampaignType.AUTOMATED, "US", {}, NOW, "t")
    up = {"up": True, "busy": False, "campaigns": []}
    now = time.time()
    register(db, "alpha", "0.1.0", now, [{"name": "gsm0", **up}])
    register(db, "beta", "0.1.0", now, [{"name": "gsm0", **up}, {"name": "gsm1", **up}])
    db.close()
    out = tmp_path / "why.txt"
    with out.open("w") as sink, contextlib.redirect_stdout(sink):
        assert main(["--config", str(config), "why", "--campaign", "spring"]) == 0
    text = out.read_text()
    assert "Boxes:\n  box alpha: 1 lines up for it" in text
    assert "box beta: 2 lines up for it, 0 calls in flight" in text
    assert "no line is up" not in text
