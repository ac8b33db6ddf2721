"""An agent's disposition: kept on the attempt, a callback for its owner, DNC — all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.domain import Channel, ContactState, Outcome, Summary
from appliance.store import Database, open_database
from appliance.store.agents import Disposition, ended_call, set_disposition
from appliance.store.attempts import Completion, Lease, complete, lease
from appliance.store.dnc import is_blocked
from tests.scheduler.dbfixtures import add_campaign, add_contact

NOW = 1_800_000_000.0


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    db = open_database(tmp_path / "d.db")
    add_contact(db, add_campaign(db, "c"), ["+12125550101"], contact_id=1)
    return db


def _ended(db: Database) -> int:
    got = lease(db, 1, 1, Channel.VOICE, NOW)
    assert isinstance(got, Lease)
    db.conn.execute("UPDATE attempts SET agent = 'anna' WHERE id = ?", (got.attempt_id,))
    in_flight = ended_call(db, got.attempt_id)
    assert in_flight is not None and in_flight.status == "in_flight"
    complete(
        db,
        got,
        Completion(Outcome.CONNECTED, ContactState.CONNECTED, Summary.SUCCESSFUL),
        NOW + 60,
    )
    return got.attempt_id


def test_ended_call_names_the_agent_and_campaign(db: Database) -> None:
    attempt = _ended(db)
    ended = ended_call(db, attempt)
    assert ended is not None
    assert (ended.agent, ended.campaign, ended.campaign_id) == ("anna", "c", 1)
    assert ended.status != "in_flight"
    assert ended_call(db, attempt + 100) is None


def test_callback_and_dnc_land_together(db: Database) -> None:
    attempt = _ended(db)
    due = NOW + 3600
    set_disposition(db, Disposition(attempt, "call back", due, "anna", dnc=True), NOW + 61,
                    "agent:anna", campaign_id=1, campaign="c")  # fmt: skip
    assert db.scalar("SELECT disposition FROM attempts WHERE id = ?", (attempt,)) == "call back"
    row = db.conn.execute(
        "SELECT state, next_at, owner_agent FROM contacts WHERE id = 1"
    ).fetchone()
    assert tuple(row) == (ContactState.NOT_CONNECTED.value, due, "anna")
    assert is_blocked(db, 1, "+12125550101", NOW + 62)
    assert not is_blocked(db, None, "+12125550101", NOW + 62)  # the campaign's list, not global
    actions = [r[0] for r in db.conn.execute("SELECT action FROM audit ORDER BY id")]
    assert "attempt.disposition" in actions and "dnc.add" in actions


def test_a_failing_dnc_write_leaves_no_disposition(db: Database) -> None:
    attempt = _ended(db)
    db.conn.execute(
        "CREATE TRIGGER no_dnc BEFORE INSERT ON dnc BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    with pytest.raises(Exception, match="disk says no"):
        set_disposition(db, Disposition(attempt, "call back", NOW + 3600, "anna", dnc=True),
                        NOW + 61, "agent:anna", campaign_id=1, campaign="c")  # fmt: skip
    assert db.scalar("SELECT disposition FROM attempts WHERE id = ?", (attempt,)) is None
    assert db.scalar("SELECT owner_agent FROM contacts WHERE id = 1") is None


def test_an_unknown_attempt_is_refused(db: Database) -> None:
    with pytest.raises(KeyError):
        set_disposition(db, Disposition(999, "sale"), NOW, "t", campaign_id=1, campaign="c")
