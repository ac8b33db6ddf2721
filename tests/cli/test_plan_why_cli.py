"""`dialbox plan` and `dialbox why` as a user runs them: a real process, a temp config and database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.store import open_database
from tests.scheduler.dbfixtures import add_campaign, add_contact, add_dnc


def dialbox(config: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance", "--config", str(config), *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dialbox.yaml"
    path.write_text(
        "database: d.db\nregion: US\ntimezone: America/New_York\n"
        "lines:\n  - {name: m1, device: 'loop://'}\n  - {name: m2, device: 'loop://'}\n"
    )
    db = open_database(tmp_path / "d.db")
    cid = add_campaign(db, "Spring", status="stopped")
    add_contact(db, cid, ["+12125550101"], priority=1)
    add_contact(db, cid, ["+14155550102"])  # San Francisco
    add_contact(db, cid, ["+12125550103"])
    add_dnc(db, "+12125550103")
    db.close()
    return path


def test_plan_lists_the_next_dials_as_json(config: Path) -> None:
    done = dialbox(config, "plan", "--campaign", "Spring", "--at", "2026-06-10T12:00", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["lines"] == 2  # the configured lines the campaign may use
    assert [d["number"] for d in doc["dials"]] == ["+12125550101", "+14155550102"]
    assert doc["dials"][0]["why"].startswith("new contact, priority 1")
    assert doc["would_dial"] is False and doc["blocked_by"] == ["the campaign is stopped"]


def test_plan_at_an_early_hour_leaves_out_the_west_coast(config: Path) -> None:
    done = dialbox(config, "plan", "--campaign", "Spring", "--at", "2026-06-10T08:30-04:00")
    assert done.returncode == 0, done.stderr
    assert "+12125550101" in done.stdout and "+14155550102" not in done.stdout
    assert "It would dial nothing now: the campaign is stopped" in done.stdout


def test_why_counts_contacts_per_reason_in_plain_words(config: Path) -> None:
    done = dialbox(config, "why", "--campaign", "Spring", "--at", "2026-06-10T08:30", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["counts"]["ready"] == 1
    assert doc["counts"]["outside_hours"] == 1
    assert doc["counts"]["dnc"] == 1
    assert doc["headline"] == "Campaign Spring dials nothing: not started: the campaign is stopped."
    text = dialbox(config, "why", "--campaign", "Spring", "--at", "2026-06-10T08:30").stdout
    assert "callee outside permitted hours" in text and "number on a DNC or block list" in text


def test_errors_name_the_problem(config: Path) -> None:
    done = dialbox(config, "plan", "--campaign", "Nope")
    assert done.returncode == 3 and "no campaign named 'Nope'" in done.stderr
    done = dialbox(config, "why", "--campaign", "Spring", "--at", "tomorrow")
    assert done.returncode == 2 and "--at 'tomorrow' is not an ISO 8601 time" in done.stderr


def test_why_says_when_an_agent_campaign_has_nobody_to_take_its_calls(
    config: Path, tmp_path: Path
) -> None:
    from appliance.store.agents import put_agent, save_state
    from appliance.store.campaigns import get_campaign, update_campaign

    def why() -> list[str]:
        done = dialbox(config, "why", "--campaign", "Spring", "--at", "2026-06-10T12:00", "--json")
        assert done.returncode == 0, done.stderr
        return [b["text"] for b in json.loads(done.stdout)["blockers"]]

    db = open_database(tmp_path / "d.db")
    update_campaign(db, get_campaign(db, "Spring"), {"status": "running"}, 0.0, "test")
    put_agent(db, "anna", extension=None, group=None, skills=[], now=0.0, actor="test")
    db.close()
    assert why() == ["no agent is logged in to this campaign"]
    db = open_database(tmp_path / "d.db")
    save_state(db, "anna", "paused", 1.0, seat="desk1", campaigns=["Spring"])
    db.close()
    assert why() == ["every agent logged in to this campaign is paused (1)"]
    db = open_database(tmp_path / "d.db")
    save_state(db, "anna", "ready", 2.0, seat="desk1", campaigns=["Spring"])
    db.close()
    assert why() == []


def test_why_says_an_inbound_campaign_with_no_line_answers_no_call(
    config: Path, tmp_path: Path
) -> None:
    db = open_database(tmp_path / "d.db")
    add_campaign(db, "Hotline", status="running")
    db.conn.execute("UPDATE campaigns SET type = 'inbound' WHERE name = 'Hotline'")
    db.close()
    done = dialbox(config, "why", "--campaign", "Hotline", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["dialing"] is False and doc["blockers"][0]["reason"] == "no_line"
    assert doc["headline"].startswith("Campaign Hotline answers no call: it names no line")
    text = dialbox(config, "why", "--campaign", "Hotline").stdout
    assert "set answer_lines to the configured lines" in text and "Contacts:" not in text
