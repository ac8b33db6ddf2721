"""Several boxes on one store (#27): heartbeat, the sweep of a dead box, fencing, drain."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.clock import ManualClock
from appliance.domain import Channel, ContactState, Outcome, Summary
from appliance.store import Database, open_database
from appliance.store.attempts import Completion, Lease, complete, lease, sweep_dangling
from appliance.store.boxes import (
    BoxInUse,
    claim,
    get_box,
    heartbeat,
    list_boxes,
    others_alive,
    register,
    set_draining,
    stopped,
    sweep_dead_boxes,
)

SWEEP_AFTER = 30.0
BEAT = 5.0


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    db = open_database(tmp_path / "a.db")
    db.conn.execute(
        "INSERT INTO campaigns(id, name, type, region, created_at, updated_at)"
        " VALUES (1, 'c', 'automated', 'US', 0, 0)"
    )
    for cid in (1, 2, 3):
        number = f"+1212555010{cid}"
        db.conn.execute(
            "INSERT INTO contacts(id, campaign_id, dedup_key, phone1, e164_1, created_at, updated_at)"
            " VALUES (?, 1, ?, ?, ?, 0, 0)",
            (cid, cid, number, number),
        )
    return db


def _lease(db: Database, cid: int, box: str, now: float) -> Lease:
    got = lease(db, cid, 1, Channel.VOICE, now, box=box, lease_for=SWEEP_AFTER)
    assert isinstance(got, Lease), got
    return got


def _done(now: float) -> Completion:
    return Completion(Outcome.BUSY, ContactState.NOT_CONNECTED, Summary.NO_SUCCESS, now + 600)


def _requeue(got: Lease, now: float) -> Completion:
    return Completion(
        Outcome.ERROR_OCCURRED, ContactState.NOT_CONNECTED, Summary.NO_SUCCESS, now + 7200
    )


def test_register_heartbeat_and_list(db: Database) -> None:
    clock = ManualClock()
    a = register(db, "a", "0.1.0", clock.now(), [{"name": "gsm0", "up": True, "busy": False}])
    register(db, "b", "0.1.0", clock.now())
    assert (a.state, a.draining, a.lines[0]["name"]) == ("up", False, "gsm0")
    clock.advance(BEAT)
    got = _lease(db, 1, "a", clock.now())
    clock.advance(BEAT)
    row = heartbeat(db, "a", clock.now(), SWEEP_AFTER, [])
    assert row.heartbeat_at == clock.now() and row.lines == []
    # the heartbeat renews the lease expiry of the box's attempts in flight
    assert db.scalar("SELECT lease_expires FROM attempts WHERE id = ?", (got.attempt_id,)) == (
        clock.now() + SWEEP_AFTER
    )
    assert [b.id for b in list_boxes(db)] == ["a", "b"]
    assert others_alive(db, "a", clock.now(), SWEEP_AFTER)
    doc = get_box(db, "b")
    assert doc is not None and doc.document(clock.now(), SWEEP_AFTER)["heartbeat_age_seconds"] == 10
    # a clean stop: not alive, and nothing for the others to sweep
    stopped(db, "b", clock.now())
    assert not others_alive(db, "a", clock.now(), SWEEP_AFTER)
    clock.advance(SWEEP_AFTER * 3)
    heartbeat(db, "a", clock.now(), SWEEP_AFTER)
    assert sweep_dead_boxes(db, clock.now(), SWEEP_AFTER, by="a") == []


def test_a_dead_box_is_swept_after_the_time_and_not_before(db: Database) -> None:
    clock = ManualClock()
    register(db, "a", "0.1.0", clock.now())
    register(db, "b", "0.1.0", clock.now())
    got = _lease(db, 1, "a", clock.now())
    mine = _lease(db, 2, "b", clock.now())
    # b beats on; a falls silent. Just at the limit: nothing swept.
    clock.advance(SWEEP_AFTER)
    heartbeat(db, "b", clock.now(), SWEEP_AFTER)
    assert sweep_dead_boxes(db, clock.now(), SWEEP_AFTER, decide=_requeue, by="b") == []
    assert db.scalar("SELECT status FROM attempts WHERE id = ?", (got.attempt_id,)) == "in_flight"
    # past it: a's attempt goes through the dangling sweep's strategy code, b's is left alone
    clock.advance(1.0)
    heartbeat(db, "b", clock.now(), SWEEP_AFTER)
    swept = sweep_dead_boxes(db, clock.now(), SWEEP_AFTER, decide=_requeue, by="b")
    assert [(s.box, [a.attempt_id for a in s.attempts]) for s in swept] == [("a", [got.attempt_id])]
    assert swept[0].attempts[0].requeued
    row = db.conn.execute("SELECT state, lease_id, next_at FROM contacts WHERE id = 1").fetchone()
    assert tuple(row) == (ContactState.NOT_CONNECTED, None, clock.now() + 7200)
    assert db.scalar("SELECT status FROM attempts WHERE id = ?", (mine.attempt_id,)) == "in_flight"
    box = get_box(db, "a")
    assert box is not None and (box.state, box.swept_by) == ("swept", "b")
    # a second sweeper (c) finds nothing more: each attempt is settled once
    assert sweep_dead_boxes(db, clock.now(), SWEEP_AFTER, decide=_requeue, by="c") == []


def test_closed_when_so_configured(db: Database) -> None:
    clock = ManualClock()
    register(db, "a", "0.1.0", clock.now())
    _lease(db, 1, "a", clock.now())
    clock.advance(SWEEP_AFTER + 1)
    swept = sweep_dead_boxes(db, clock.now(), SWEEP_AFTER, decide=None, by="b")
    assert [a.state for s in swept for a in s.attempts] == [ContactState.DANGLING]
    assert db.scalar("SELECT state FROM contacts WHERE id = 1") == ContactState.DANGLING


def test_a_box_back_after_the_sweep_never_completes_what_another_owns(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    register(db, "a", "0.1.0", clock.now())
    register(db, "b", "0.1.0", clock.now())
    stale = _lease(db, 1, "a", clock.now())
    clock.advance(SWEEP_AFTER + 1)
    heartbeat(db, "b", clock.now(), SWEEP_AFTER)
    # closed-as-dangling would keep it away; a requeue with no delay lets b lease it again
    now_due = lambda got, now: Completion(  # noqa: E731
        Outcome.ERROR_OCCURRED, ContactState.NOT_CONNECTED, Summary.NO_SUCCESS, now
    )
    assert sweep_dead_boxes(db, clock.now(), SWEEP_AFTER, decide=now_due, by="b")
    fresh = _lease(db, 1, "b", clock.now())
    assert fresh.generation == stale.generation + 1 if stale.generation is not None else False
    before = [tuple(r) for r in db.conn.execute("SELECT * FROM attempts ORDER BY id")]
    contact = tuple(db.conn.execute("SELECT * FROM contacts WHERE id = 1").fetchone())
    # a comes back: told it was swept, and its completion is refused, nothing written
    with caplog.at_level(logging.WARNING):
        heartbeat(db, "a", clock.now(), SWEEP_AFTER)
        assert not complete(db, stale, _done(clock.now()), clock.now(), {"x": 1})
    assert "swept its attempts in flight" in caplog.text
    assert "completion refused, nothing recorded" in caplog.text
    assert "leased again (generation 2" in caplog.text and "by box b" in caplog.text
    assert [tuple(r) for r in db.conn.execute("SELECT * FROM attempts ORDER BY id")] == before
    assert tuple(db.conn.execute("SELECT * FROM contacts WHERE id = 1").fetchone()) == contact
    assert db.scalar("SELECT count(*) FROM outbox") == 0
    # the owner's completion goes through
    assert complete(db, fresh, _done(clock.now()), clock.now())
    assert db.scalar("SELECT count(*) FROM attempts WHERE status = 'done'") == 1


def test_a_completion_naming_another_box_is_refused(db: Database) -> None:
    clock = ManualClock()
    got = _lease(db, 1, "a", clock.now())
    forged = Lease(got.attempt_id, got.contact_id, got.campaign_id, got.attempt_no,
                   got.phone_index, got.number, got.channel, "b", got.generation)  # fmt: skip
    assert not complete(db, forged, _done(clock.now()), clock.now())
    assert complete(db, got, _done(clock.now()), clock.now())


def test_a_box_that_came_back_keeps_what_it_leased_since(db: Database) -> None:
    """Marked dead, but it beat again before the sweep reached its attempts: those leased (or
    renewed) since are its own and are not swept."""
    clock = ManualClock()
    register(db, "a", "0.1.0", clock.now())
    clock.advance(SWEEP_AFTER + 1)
    got = _lease(db, 1, "a", clock.now())  # leased after its last beat: expiry in the future
    swept = sweep_dead_boxes(db, clock.now(), SWEEP_AFTER, decide=_requeue, by="b")
    assert [s.attempts for s in swept] == [[]]
    assert db.scalar("SELECT status FROM attempts WHERE id = ?", (got.attempt_id,)) == "in_flight"


def test_own_sweeps_leave_the_other_boxes_attempts(db: Database) -> None:
    """At a box's start and in its periodic sweep it settles only its own attempts (and those
    no box leased): another box's call in flight is that box's."""
    clock = ManualClock()
    ours = _lease(db, 1, "a", clock.now())
    theirs = _lease(db, 2, "b", clock.now())
    legacy = lease(db, 3, 1, Channel.VOICE, clock.now())
    assert isinstance(legacy, Lease)
    swept = sweep_dangling(db, clock.now(), mine="a")
    assert sorted(s.attempt_id for s in swept) == [ours.attempt_id, legacy.attempt_id]
    assert (
        db.scalar("SELECT status FROM attempts WHERE id = ?", (theirs.attempt_id,)) == "in_flight"
    )


def test_drain_and_resume(db: Database) -> None:
    clock = ManualClock()
    register(db, "a", "0.1.0", clock.now())
    assert set_draining(db, "a", True).draining
    # kept across a restart until resumed
    assert register(db, "a", "0.1.0", clock.now()).draining
    assert heartbeat(db, "a", clock.now(), SWEEP_AFTER).draining
    assert not set_draining(db, "a", False).draining
    with pytest.raises(LookupError, match="GET /boxes"):
        set_draining(db, "nope", True)


def test_a_second_live_daemon_with_the_same_id_is_refused(db: Database) -> None:
    clock = ManualClock()
    register(db, "a", "0.1.0", clock.now(), instance="host-1:4242")
    # another host, heartbeat fresh: refused, saying what to do
    with pytest.raises(BoxInUse, match=r"give each box its own box\.id"):
        claim(db, "a", clock.now() + 5, SWEEP_AFTER, "host-2:99")
    # this host, the old process gone (a crash, then the restart): its own
    claim(db, "a", clock.now() + 5, SWEEP_AFTER, f"host-1:{_dead_pid()}")
    register(db, "a", "0.1.0", clock.now(), instance=f"host-1:{os.getpid()}")
    # this host, the old process alive: refused
    with pytest.raises(BoxInUse):
        claim(db, "a", clock.now() + 5, SWEEP_AFTER, "host-1:1")
    # silent past sweep_after, or stopped cleanly: free to take
    claim(db, "a", clock.now() + SWEEP_AFTER + 1, SWEEP_AFTER, "host-2:99")
    stopped(db, "a", clock.now())
    claim(db, "a", clock.now() + 1, SWEEP_AFTER, "host-2:99")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_reload_that_renames_the_box_is_refused(tmp_path: Path) -> None:
    import asyncio

    from appliance.daemon.runner import Daemon

    config = tmp_path / "dialbox.yaml"
    config.write_text(f"database: {tmp_path}/r.db\nbox:\n  id: rack-1\n")
    daemon = Daemon(config)
    try:
        config.write_text(f"database: {tmp_path}/r.db\nbox:\n  id: rack-2\n")
        asyncio.run(daemon._reload())
        assert daemon.config_reload == {
            "reload": "refused",
            "problem": "changing `box.id` needs a restart",
        }
        assert daemon.config.box.id == "rack-1"
    finally:
        for reader in daemon.readers:
            reader.close()
        daemon.db.close()
