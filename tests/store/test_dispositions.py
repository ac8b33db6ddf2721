"""An agent's disposition: kept on the attempt, a callback for its owner, DNC — all or nothing."""

from __future__ import annotations

import pytest

from appliance.domain import Channel, ContactState, Outcome, Summary
from appliance.store import Database
from appliance.store.agents import (
    ContactChange,
    ContactInFlight,
    Decide,
    DisposedContact,
    Disposition,
    ended_call,
    set_disposition,
)
from appliance.store.attempts import Completion, Lease, complete, lease
from appliance.store.dnc import is_blocked
from tests.scheduler.dbfixtures import add_campaign, add_contact, refuse_inserts

NOW = 1_800_000_000.0


@pytest.fixture()
def db(engine_db: Database) -> Database:  # tests/store/conftest.py: each engine
    db = engine_db
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
    set_disposition(db, Disposition(attempt, "new_contact", due, "anna", dnc=True), NOW + 61,
                    "agent:anna", campaign_id=1, campaign="c")  # fmt: skip
    assert db.scalar("SELECT disposition FROM attempts WHERE id = ?", (attempt,)) == "new_contact"
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
    refuse_inserts(db, "dnc", "disk says no")
    with pytest.raises(Exception, match="disk says no"):
        set_disposition(db, Disposition(attempt, "new_contact", NOW + 3600, "anna", dnc=True),
                        NOW + 61, "agent:anna", campaign_id=1, campaign="c")  # fmt: skip
    assert db.scalar("SELECT disposition FROM attempts WHERE id = ?", (attempt,)) is None
    assert db.scalar("SELECT owner_agent FROM contacts WHERE id = 1") is None


def test_an_unknown_attempt_is_refused(db: Database) -> None:
    with pytest.raises(KeyError):
        set_disposition(db, Disposition(999, "sale"), NOW, "t", campaign_id=1, campaign="c")


def _retry_in(seconds: float, block: bool = False) -> Decide:
    def decide(contact: DisposedContact) -> ContactChange:
        assert (contact.contact_id, contact.phone_index, contact.attempts) == (1, 1, 1)
        assert contact.phones == (True, False, False, False, False)
        assert contact.phone_attempts == (1, 0, 0, 0, 0)
        return ContactChange(ContactState.NOT_CONNECTED, Summary.NO_SUCCESS, NOW + seconds,
                             block_number=block, why="test")  # fmt: skip

    return decide


def test_the_decided_change_lands_with_the_disposition(db: Database) -> None:
    attempt = _ended(db)
    db.conn.execute("UPDATE contacts SET callback_at = 1, owner_agent = 'anna' WHERE id = 1")
    got = set_disposition(db, Disposition(attempt, "no_answer", note="rang out",
                                          change=_retry_in(7200)),
                          NOW + 61, "api:anna", campaign_id=1, campaign="c")  # fmt: skip
    assert got["change"].next_at == NOW + 7200
    row = db.conn.execute(
        "SELECT state, next_at, callback_at, owner_agent FROM contacts WHERE id = 1"
    ).fetchone()
    assert tuple(row) == ("Not Connected", NOW + 7200, None, None)  # the callback is cleared
    detail = db.scalar("SELECT detail FROM audit WHERE action = 'attempt.disposition'")
    assert '"note": "rang out"' in detail and '"why": "test"' in detail


def test_a_failing_block_write_leaves_the_contact_as_it_was(db: Database) -> None:
    attempt = _ended(db)
    before = tuple(db.conn.execute("SELECT * FROM contacts WHERE id = 1").fetchone())
    refuse_inserts(db, "dnc", "disk says no")
    with pytest.raises(Exception, match="disk says no"):
        set_disposition(db, Disposition(attempt, "wrong_number", change=_retry_in(0, block=True)),
                        NOW + 61, "api:anna", campaign_id=1, campaign="c")  # fmt: skip
    assert tuple(db.conn.execute("SELECT * FROM contacts WHERE id = 1").fetchone()) == before
    assert db.scalar("SELECT disposition FROM attempts WHERE id = ?", (attempt,)) is None


def test_a_leased_contact_is_never_overwritten(db: Database) -> None:
    attempt = _ended(db)
    db.conn.execute("UPDATE contacts SET state = 'Not Connected' WHERE id = 1")
    again = lease(db, 1, 1, Channel.VOICE, NOW + 100)
    assert isinstance(again, Lease)
    with pytest.raises(ContactInFlight) as caught:
        set_disposition(db, Disposition(attempt, "no_answer", change=_retry_in(7200)),
                        NOW + 101, "api:anna", campaign_id=1, campaign="c")  # fmt: skip
    assert caught.value.leased and caught.value.attempt_id == again.attempt_id
    assert db.scalar("SELECT lease_id FROM contacts WHERE id = 1") == again.attempt_id
    assert db.scalar("SELECT disposition FROM attempts WHERE id = ?", (attempt,)) is None
