"""Leasing and completing attempts: committed before dialing, one transaction after, dangling after a crash."""

from __future__ import annotations

import json

import pytest

from appliance.domain import Channel, ContactState, Outcome, Summary
from appliance.store import Database
from appliance.store.attempts import (
    Completion,
    Lease,
    LeaseRefused,
    complete,
    lease,
    mark_dialed,
    sweep_dangling,
)

NOW = 1_800_000_000.0


@pytest.fixture()
def db(engine_db: Database) -> Database:  # tests/store/conftest.py: on each engine
    db = engine_db
    db.conn.execute(
        "INSERT INTO campaigns(id, name, type, region, created_at, updated_at) VALUES (1, 'c', 'agent', 'US', 0, 0)"
    )
    for cid, number in ((1, "+12125550101"), (2, "+12125550102")):
        db.conn.execute(
            "INSERT INTO contacts(id, campaign_id, dedup_key, phone1, e164_1, phone2, e164_2, created_at, updated_at)"
            " VALUES (?, 1, ?, ?, ?, '2125550199', '+12125550199', 0, 0)",
            (cid, cid, number, number),
        )
    return db


def _contact(db: Database, cid: int) -> tuple[object, ...]:
    row = db.conn.execute(
        "SELECT state, summary, lease_id, attempts, next_at, last_outcome FROM contacts WHERE id = ?",
        (cid,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_lease_is_committed_before_dialing_and_visible_to_another_connection(db: Database) -> None:
    got = lease(db, 1, 1, Channel.VOICE, NOW)
    assert isinstance(got, Lease) and got.number == "+12125550101" and got.attempt_no == 1
    other = Database(db.path, readonly=True)
    assert other.scalar("SELECT state FROM contacts WHERE id = 1") == ContactState.SENT_TO_DIALER
    assert (
        other.scalar("SELECT status FROM attempts WHERE id = ?", (got.attempt_id,)) == "in_flight"
    )


def test_a_leased_contact_cannot_be_leased_again(db: Database) -> None:
    assert isinstance(lease(db, 1, 1, Channel.VOICE, NOW), Lease)
    assert lease(db, 1, 2, Channel.VOICE, NOW) == LeaseRefused(1, "leased")
    assert lease(db, 99, 1, Channel.VOICE, NOW) == LeaseRefused(99, "gone")


def test_dnc_is_checked_again_at_lease_time_and_expiry_counts(db: Database) -> None:
    db.conn.execute("INSERT INTO dnc(e164, campaign_id, added_at) VALUES ('+12125550101', 1, 0)")
    db.conn.execute(
        "INSERT INTO dnc(e164, campaign_id, added_at, expires_at) VALUES ('+12125550199', NULL, 0, ?)",
        (NOW - 1,),
    )
    assert lease(db, 1, 1, Channel.VOICE, NOW) == LeaseRefused(1, "dnc")
    assert isinstance(lease(db, 1, 2, Channel.VOICE, NOW), Lease)  # the global entry has expired


def test_complete_writes_outcome_next_state_block_and_outbox_together(db: Database) -> None:
    got = lease(db, 1, 1, Channel.VOICE, NOW)
    assert isinstance(got, Lease)
    mark_dialed(db, got.attempt_id, "gsm0", NOW + 1)
    done = Completion(
        outcome=Outcome.WRONG_NUMBER,
        new_state=ContactState.NOT_CONNECTED,
        summary=Summary.NO_SUCCESS,
        next_at=NOW + 60,
        next_phone=2,
        block_number=True,
        evidence=("NO CARRIER", "+CEER: 1"),
    )
    assert complete(db, got, done, NOW + 30, outbox_payload={"attempt": got.attempt_id})
    assert _contact(db, 1) == (ContactState.NOT_CONNECTED, 2, None, 1, NOW + 60, 4)
    status, line, outcome, evidence = db.conn.execute(
        "SELECT status, line, outcome, evidence FROM attempts WHERE id = ?", (got.attempt_id,)
    ).fetchone()
    assert (status, line, outcome, json.loads(evidence)) == (
        "done",
        "gsm0",
        4,
        ["NO CARRIER", "+CEER: 1"],
    )
    assert db.scalar("SELECT kind FROM dnc WHERE e164 = '+12125550101'") == "block"
    assert db.scalar("SELECT count(*) FROM outbox") == 1


def test_crash_leaves_in_flight_attempts_that_the_sweep_closes_or_requeues(db: Database) -> None:
    first = lease(db, 1, 1, Channel.VOICE, NOW)
    second = lease(db, 2, 1, Channel.VOICE, NOW)
    assert isinstance(first, Lease) and isinstance(second, Lease)
    # the daemon dies here; at restart the caller decides what follows (the strategy, the limits)
    asked: list[tuple[Lease, float]] = []

    def requeue(got: Lease, now: float) -> Completion:
        asked.append((got, now))
        return Completion(
            Outcome.ERROR_OCCURRED, ContactState.NOT_CONNECTED, Summary.NO_SUCCESS, now + 3600
        )

    swept = sweep_dangling(db, NOW + 100, decide=requeue, exclude=[second.attempt_id])
    assert [s.contact_id for s in swept] == [1] and swept[0].requeued
    assert asked == [(first, NOW + 100)]
    assert _contact(db, 1)[:5] == (ContactState.NOT_CONNECTED, 2, None, 1, NOW + 100 + 3600)
    # no outcome came back: none is recorded, only the evidence saying so
    assert db.conn.execute(
        "SELECT outcome, evidence FROM attempts WHERE id = ?", (first.attempt_id,)
    ).fetchone() == (None, '["dangling: no outcome came back"]')
    closed = sweep_dangling(db, NOW + 200)  # dangling_action: close
    assert [s.contact_id for s in closed] == [2]
    assert _contact(db, 2)[0] == ContactState.DANGLING
    # an outcome arriving after the sweep changes nothing
    late = Completion(Outcome.CONNECTED, ContactState.CONNECTED, Summary.SUCCESSFUL)
    assert not complete(db, second, late, NOW + 300)
    assert _contact(db, 2)[0] == ContactState.DANGLING
    assert db.scalar("SELECT count(*) FROM attempts WHERE status = 'dangling'") == 2


def test_running_sweep_only_takes_attempts_older_than_the_timeout(db: Database) -> None:
    old = lease(db, 1, 1, Channel.VOICE, NOW)
    new = lease(db, 2, 1, Channel.VOICE, NOW + 500)
    assert isinstance(old, Lease) and isinstance(new, Lease)
    swept = sweep_dangling(db, NOW + 600, older_than=NOW + 300)
    assert [s.attempt_id for s in swept] == [old.attempt_id]
