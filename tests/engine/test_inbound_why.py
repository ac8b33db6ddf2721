"""`why` for inbound campaigns (SPEC C12, C14; #23): it answers no call when stopped or paused,
with no answer line or none up, or closed with no closed flow (saying when it opens next, in
its zone); it answers, but not as meant, with no flow or a flow the files do not define, with
nobody to take its queue (no agent logged in, none with the skill, all paused), or with some
lines down. Read through the planner as the API and the CLI read it."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from appliance.config.models import DialboxConfig, LineConfig
from appliance.domain import CampaignStatus, CampaignType
from appliance.engine.storeplanner import StorePlanner
from appliance.store import open_database
from appliance.store.agents import put_agent
from appliance.store.campaigns import create_campaign, get_campaign, update_campaign
from appliance.store.db import Database
from appliance.store.inbound import record_missed

EXAMPLES = Path(__file__).parents[2] / "examples" / "flows"
# Tuesday 2026-03-10 10:00 in Warsaw (09:00 UTC): open in "mon-fri 08:00-18:00"
OPEN = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC).timestamp()
NIGHT = dt.datetime(2026, 3, 10, 20, 0, tzinfo=dt.UTC).timestamp()  # 21:00 in Warsaw
UP = {"gsm1": True, "gsm2": True}


@pytest.fixture()
def box(tmp_path: Path) -> tuple[Database, StorePlanner]:
    for name in ("menu.yaml", "survey.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    config = DialboxConfig(
        database=tmp_path / "d.db", timezone="Europe/Warsaw", region="PL",
        lines=(LineConfig(name="gsm1", device="loop://"), LineConfig(name="gsm2", device="loop://"),
               LineConfig(name="gsm3", device="loop://", enabled=False)),
        flows=(str(tmp_path / "*.yaml"),),
    )  # fmt: skip
    db = open_database(tmp_path / "d.db")
    campaign = create_campaign(db, "IN", CampaignType.INBOUND, "PL", {
        "answer_lines": ["gsm1", "gsm2"], "windows": "mon-fri 08:00-18:00", "flow": "menu"},
        OPEN, "t")  # fmt: skip
    update_campaign(db, campaign, {"status": CampaignStatus.RUNNING}, OPEN, "t")
    put_agent(db, "anna", extension=None, group=None, skills=("sales",), now=OPEN, actor="t")
    db.conn.execute("UPDATE agents SET state = 'ready', campaigns = '[\"IN\"]'")
    return db, StorePlanner(config, db)


def why(box: tuple[Database, StorePlanner], at: float = OPEN, up: dict[str, bool] | None = UP,
        **settings: object) -> dict[str, object]:  # fmt: skip
    db, planner = box
    campaign = get_campaign(db, "IN")
    if settings:
        campaign = update_campaign(db, campaign, {"settings": {**campaign.settings, **settings}},
                                   at, "t")  # fmt: skip
    return planner.explain(campaign, at, up=up).as_dict()


def reasons(doc: dict[str, object]) -> list[str]:
    return [b["reason"] for b in doc["blockers"]]  # type: ignore[attr-defined,index]


def test_an_inbound_campaign_that_can_answer_says_on_which_lines(box) -> None:  # type: ignore[no-untyped-def]
    doc = why(box)
    assert doc["headline"] == "Campaign IN answers calls on gsm1, gsm2."
    assert doc["dialing"] is True and doc["blockers"] == [] and doc["counts"] == {}
    assert doc["details"] == ["line gsm1: up", "line gsm2: up"]


def test_no_line_to_answer_on_is_said_first(box) -> None:  # type: ignore[no-untyped-def]
    doc = why(box, answer_lines=[])
    assert doc["dialing"] is False and reasons(doc)[0] == "no_line"
    assert doc["headline"].startswith("Campaign IN answers no call: it names no line to answer on")
    doc = why(box, answer_lines=["gsm9"])
    assert "answer_lines names gsm9, which the config does not have" in doc["headline"]
    doc = why(box, up={"gsm1": False, "gsm2": True}, answer_lines=["gsm1", "gsm3"])
    assert reasons(doc) == ["line_down"]
    assert doc["headline"] == ("Campaign IN answers no call: no line it answers on is up (gsm1"
                               " down or out of service; gsm3 disabled in the config).")  # fmt: skip
    # one of two down: it answers, on the other
    doc = why(box, up={"gsm1": False, "gsm2": True}, answer_lines=["gsm1", "gsm2"])
    assert doc["dialing"] is True and reasons(doc) == ["line_down"]
    assert "answers calls on gsm2, but it answers on gsm2 only: gsm1 down" in doc["headline"]
    # the daemon never ran: nobody knows, nothing is claimed down
    assert why(box, up=None)["details"] == ["line gsm1: unknown", "line gsm2: unknown"]


def test_closed_says_when_it_opens_and_what_callers_get_meanwhile(box) -> None:  # type: ignore[no-untyped-def]
    db, _ = box
    campaign = get_campaign(db, "IN")
    record_missed(db, campaign, "gsm1", "+48601234567", "closed", NIGHT - 60)
    doc = why(box, at=NIGHT)
    assert doc["dialing"] is False and reasons(doc) == ["outside_window"]
    assert "it opens next at Wed 2026-03-11 08:00 CET" in doc["headline"]
    assert "not answered, each kept as a missed call" in doc["headline"]
    assert doc["details"][-1].startswith("1 missed calls open")
    doc = why(box, at=NIGHT, closed_flow="menu")
    assert doc["dialing"] is True and reasons(doc) == ["closed"]
    assert doc["headline"].endswith("meanwhile callers hear flow 'menu'.")
    doc = why(box, at=NIGHT, closed_flow="after-hours")
    assert reasons(doc) == ["outside_window"]
    assert "its closed_flow: no flow named 'after-hours' in the flow files (they define: menu, survey)" \
        in doc["headline"]  # fmt: skip


def test_no_flow_or_an_unknown_one_sends_callers_straight_to_the_queue(box) -> None:  # type: ignore[no-untyped-def]
    doc = why(box, flow=None)
    assert doc["dialing"] is True and reasons(doc) == ["no_flow"]
    assert "no flow is set: callers go straight to the queue" in doc["headline"]
    assert "(the flow files define: menu, survey)" in doc["headline"]
    doc = why(box, flow="menu2")
    assert reasons(doc) == ["unknown_flow"]
    assert "no flow named 'menu2' in the flow files (they define: menu, survey)" in doc["headline"]


def test_nobody_to_take_the_queue_is_said(box) -> None:  # type: ignore[no-untyped-def]
    db, _ = box
    db.conn.execute("UPDATE agents SET skills = '[]'")
    doc = why(box)
    assert reasons(doc) == ["no_agent"] and doc["dialing"] is True
    assert "no agent logged in to it has the skill 'sales' its queue asks" in doc["headline"]
    assert "overflows (on to the flow's overflow node) after 120 s" in doc["headline"]
    db.conn.execute("UPDATE agents SET skills = '[\"sales\"]', state = 'paused'")
    assert (
        "every agent logged in to it with the skill 'sales' is paused (1)" in why(box)["headline"]
    )
    db.conn.execute("UPDATE agents SET state = 'logged_out'")
    assert "no agent is logged in to this campaign" in why(box)["headline"]
    # no flow: straight to the queue, which has nobody; a flow with no queue needs nobody
    doc = why(box, flow=None, overflow="callback", callback_campaign="OUT")
    assert reasons(doc) == ["no_flow", "no_agent"]
    assert "overflows (callback) after 120 s" in doc["blockers"][1]["text"]
    assert why(box, flow="survey")["blockers"] == []


def test_stopped_comes_first(box) -> None:  # type: ignore[no-untyped-def]
    db, _ = box
    update_campaign(db, get_campaign(db, "IN"), {"status": CampaignStatus.STOPPED}, OPEN, "t")
    doc = why(box, answer_lines=[])
    assert reasons(doc)[:2] == ["stopped", "no_line"]
    assert doc["headline"] == "Campaign IN answers no call: not started: the campaign is stopped."
