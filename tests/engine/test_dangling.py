"""Dangling attempts (SPEC C8) are settled by the strategy and the limits like any outcome (#17):
a contact whose last allowed attempt dangled is closed, not left Not Connected for ever."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from appliance.clock import ManualClock
from appliance.config.models import DialboxConfig
from appliance.daemon.runner import Daemon
from appliance.domain import Channel, ContactState
from appliance.engine.dialer import Engine
from appliance.engine.linepool import LinePool
from appliance.engine.storeplanner import StorePlanner
from appliance.scheduler.strategy import parse_strategy, to_dict
from appliance.store import Database, open_database
from appliance.store.attempts import Lease, lease
from appliance.store.campaigns import get_campaign
from appliance.store.strategies import save_strategy
from tests.scheduler.dbfixtures import add_campaign, add_contact

# Wednesday 2026-06-10 12:00 in New York: inside calling hours.
NOW = dt.datetime(2026, 6, 10, 16, 0, tzinfo=dt.UTC).timestamp()
NY1 = "+12125550101"
REQUEUE_DELAY = 60.0  # longer than the strategy's retry: the requeue delay wins


def _config(db: Database, action: str = "requeue") -> DialboxConfig:
    return DialboxConfig.model_validate(
        {
            "database": db.path,
            "timezone": "America/New_York",
            "engine": {"dangling_action": action, "requeue_delay": REQUEUE_DELAY},
        }
    )


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    db = open_database(tmp_path / "d.db")
    strategy = {"name": "s", "on": {"Connected": "close", "default": "retry 20s"}}
    save_strategy(db, "s", to_dict(parse_strategy(strategy)), 0.0, "test")
    cid = add_campaign(db, "c", json.dumps({"strategy": "s", "max_attempts": 3}))
    db.conn.execute("UPDATE campaigns SET type = 'automated' WHERE id = ?", (cid,))
    add_contact(db, cid, [NY1])
    return db


def _lease_next(db: Database, planner: StorePlanner, now: float) -> Lease:
    picks = planner.pick(get_campaign(db, "c"), now, 1, set())
    assert picks, "the contact should be due for a dial"
    got = lease(db, picks[0].contact_id, picks[0].phone_index, Channel.VOICE, now)
    assert isinstance(got, Lease)
    return got


def _contact(db: Database) -> tuple[str, int, float | None]:
    row = db.conn.execute("SELECT state, attempts, next_at FROM contacts").fetchone()
    assert row is not None
    return str(row[0]), int(row[1]), row[2]  # type: ignore[arg-type, return-value]


def test_three_crashes_over_max_attempts_close_the_contact_as_retries_completed(
    db: Database,
) -> None:
    clock = ManualClock(NOW)
    config = _config(db)
    planner = StorePlanner(config, db, clock)
    for attempt in (1, 2, 3):
        _lease_next(db, planner, clock.now())
        clock.advance(5)
        # the daemon was killed with the call in flight; the next start sweeps it
        daemon = Daemon(None, config=config, clock=clock)
        daemon._recover()
        daemon.db.close()
        assert [a.attempt_id for a in daemon.recovered] == [attempt]
        state, attempts, next_at = _contact(db)
        assert attempts == attempt
        if attempt < 3:
            # attempts remain: requeued, never sooner than the requeue delay
            assert (state, next_at) == (ContactState.NOT_CONNECTED, clock.now() + REQUEUE_DELAY)
            clock.advance(REQUEUE_DELAY)
    # the third of three attempts dangled: nothing can follow, so the contact is closed
    assert _contact(db) == (ContactState.RETRIES_COMPLETED, 3, None)
    assert db.scalar("SELECT count(*) FROM attempts WHERE status = 'dangling'") == 3
    assert db.scalar("SELECT count(*) FROM attempts WHERE outcome IS NOT NULL") == 0


def test_the_running_sweep_closes_an_exhausted_contact_and_requeues_the_others(
    db: Database,
) -> None:
    clock = ManualClock(NOW)
    config = _config(db)
    planner = StorePlanner(config, db, clock)
    engine = Engine(config, db, clock, LinePool(config, lambda c: None), planner)  # type: ignore[arg-type, return-value]
    for attempt in (1, 2, 3):
        _lease_next(db, planner, clock.now())
        clock.advance(config.engine.dangling_timeout + 31)  # past the timeout and a sweep period
        engine._sweep()
        state, attempts, next_at = _contact(db)
        assert attempts == attempt
        if attempt < 3:
            assert (state, next_at) == (ContactState.NOT_CONNECTED, clock.now() + REQUEUE_DELAY)
            clock.advance(REQUEUE_DELAY)
    assert _contact(db) == (ContactState.RETRIES_COMPLETED, 3, None)


def test_dangling_action_close_still_closes_as_dangling(db: Database) -> None:
    clock = ManualClock(NOW)
    config = _config(db, "close")
    _lease_next(db, StorePlanner(config, db, clock), clock.now())
    daemon = Daemon(None, config=config, clock=clock)
    daemon._recover()
    daemon.db.close()
    assert _contact(db) == (ContactState.DANGLING, 1, None)
