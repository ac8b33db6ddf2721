"""Rules that hold for the campaign as a whole across boxes (#27): two engines (two boxes) on one
store, each under a cap alone but not together — the second is refused."""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import pytest

from appliance.campaigns import CampaignSettings
from appliance.clock import ManualClock
from appliance.config.models import DialboxConfig
from appliance.domain import Channel, ContactState, Outcome, Summary
from appliance.drivers.line import LineError
from appliance.engine.dialer import Engine
from appliance.engine.linepool import LinePool
from appliance.engine.pacing import Pacers
from appliance.engine.storeplanner import StorePlanner
from appliance.scheduler.strategy import parse_strategy, to_dict
from appliance.store import Database, open_database
from appliance.store.attempts import Completion, Lease, complete, lease
from appliance.store.campaigns import get_campaign_by_id
from appliance.store.strategies import save_strategy
from tests.drivers.drivers_fakes import run
from tests.engine.test_engine_direct import NOW, FakeLine
from tests.scheduler.dbfixtures import add_campaign, add_contact

SHARED = "+12125550101"


class Box:
    """One engine (one box) on its own connection to the shared store."""

    def __init__(self, path: str, box_id: str, clock: ManualClock) -> None:
        self.db = open_database(path)
        where: dict[str, Any] = (  # with a PostgreSQL store, database: is where local files go
            {"store": {"url": path}, "database": f"{tempfile.mkdtemp(prefix='box-')}/local.db"}
            if path.startswith("postgresql:")
            else {"database": path}
        )
        self.config = DialboxConfig.model_validate(
            {
                **where,
                "timezone": "America/New_York",
                "lines": [{"name": f"{box_id}1", "kind": "gsm", "device": f"/dev/fake-{box_id}"}],
                "box": {"id": box_id},
            }
        )
        self.lines: dict[str, FakeLine] = {}
        self.pool = LinePool(self.config, self._line, db=self.db, clock=clock)
        self.engine = Engine(
            self.config, self.db, clock, self.pool, StorePlanner(self.config, self.db, clock)
        )

    def _line(self, config: Any) -> FakeLine:
        line = self.lines[config.name] = FakeLine(config.name)
        return line

    @property
    def line(self) -> FakeLine:
        return next(iter(self.lines.values()))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The shared store: one SQLite file, or one PostgreSQL database (tests/conftest.py)."""
    if request.param == "sqlite":
        return str(tmp_path / "shared.db")
    return str(request.getfixturevalue("pg_url"))


def _store(path: str, capped: bool = True) -> tuple[int, list[int]]:
    """A campaign whose number may be called once in 30 days (`capped`); two contacts share
    one number."""
    db = open_database(path)
    strategy = {"name": "s", "on": {"default": "retry 20s"}}
    save_strategy(db, "s", to_dict(parse_strategy(strategy)), 0.0, "test")
    settings: dict[str, Any] = {"strategy": "s", "max_attempts": 3}
    if capped:
        settings["max_attempts_per_30_days"] = 1
    cid = add_campaign(db, "c", json.dumps(settings))
    db.conn.execute("UPDATE campaigns SET type = 'automated' WHERE id = ?", (cid,))
    contacts = [add_contact(db, cid, [SHARED]), add_contact(db, cid, [SHARED])]
    db.close()
    return cid, contacts


def _boxes(path: str, capped: bool = True) -> tuple[int, list[int], ManualClock, Box, Box]:
    cid, contacts = _store(path, capped)
    clock = ManualClock(NOW)
    a, b = Box(path, "a", clock), Box(path, "b", clock)
    for box in (a, b):
        box.engine.register()
    for box in (a, b):
        box.engine.beat(force=True)  # each sees the other alive
    assert a.engine.shared and b.engine.shared
    return cid, contacts, clock, a, b


def test_a_number_s_cap_holds_across_two_boxes_planning_at_once(store: str) -> None:
    """Both boxes planned the shared number in the same instant; a leases first; b's lease
    judges the rules again in its transaction, sees a's call and is refused."""
    cid, contacts, clock, a, b = _boxes(store)

    async def main() -> None:
        await a.line.open()
        await b.line.open()
        campaign = get_campaign_by_id(b.db, cid)
        # b's plan (the other contact on the number), then a leases the first
        (stale,) = b.engine.planner.pick(campaign, clock.now(), 1, {contacts[0]})
        assert (stale.contact_id, stale.number) == (contacts[1], SHARED)
        assert a.engine.round() == 1
        assert await a.line.dialing() == SHARED
        slot = b.pool.slots[0]
        assert b.engine.start(stale, campaign, slot, clock.now(), None) is None
        assert b.line.dialed == [] and not slot.busy
        # b's next round plans from the store: nothing to dial on that number either
        assert b.engine.round() == 0
        a.line.fail(LineError("no carrier"))
        await asyncio.gather(*(c.task for c in list(a.engine.calls.values())))

    run(main())
    rows = a.db.conn.execute("SELECT box, number FROM attempts").fetchall()
    assert [tuple(r) for r in rows] == [("a", SHARED)]


def test_alone_the_stale_pick_would_have_dialed(store: str) -> None:
    """The hostile case's control: with no other box alive the lease trusts the plan (one box
    plans and leases in one round), so the same stale pick is dialed — what the re-judging
    across boxes prevents."""
    cid, contacts, clock, a, b = _boxes(store)

    async def main() -> None:
        await a.line.open()
        await b.line.open()
        campaign = get_campaign_by_id(b.db, cid)
        (stale,) = b.engine.planner.pick(campaign, clock.now(), 1, {contacts[0]})
        assert a.engine.round() == 1
        b.engine.shared = False
        assert b.engine.start(stale, campaign, b.pool.slots[0], clock.now(), None) is not None

    run(main())
    assert b.db.scalar("SELECT count(*) FROM attempts WHERE number = ?", (SHARED,)) == 2


def test_a_drained_box_leases_nothing_and_resumes(store: str) -> None:
    from appliance.store.boxes import set_draining

    _cid, _contacts, clock, a, b = _boxes(store)

    async def main() -> None:
        await b.line.open()
        set_draining(a.db, "b", True)  # drained from another box: b hears it at its beat
        clock.advance(b.config.box.heartbeat_seconds)
        b.engine.beat()
        assert b.engine.draining
        assert b.engine.round() == 0 and b.line.dialed == []
        set_draining(a.db, "b", False)
        clock.advance(b.config.box.heartbeat_seconds)
        b.engine.beat()
        assert b.engine.round() == 1

    run(main())


def _record(db: Database, cid: int, box: str, number: str, at: float, abandoned: bool) -> None:
    """One answered call of `box` (abandoned or talked), as its engine records it."""
    contact = add_contact(db, cid, [number])
    got = lease(db, contact, 1, Channel.VOICE, at, box=box, lease_for=30)
    assert isinstance(got, Lease)
    outcome = Outcome.ABANDONED if abandoned else Outcome.CONNECTED
    done = Completion(outcome, ContactState.CONNECTED, Summary.SUCCESSFUL, answered_at=at + 5)
    assert complete(db, got, done, at + 60)


def test_the_abandon_cap_holds_across_two_boxes(store: str) -> None:
    """Box a abandoned 1 of its 100 answered calls: by its own calls it is under the cap (3 %)
    and its pacer would go on dialing predictively. Box b abandoned 5 of its 100 (its agents
    left): the campaign stands at 6 of 200, one abandon from the cap. Held to the store's
    figures, box a's pacer is at the hard line too and dials no more than its idle agents.
    (A ratio cap cannot be under in each box and over together; what one box cannot see alone
    is the others' abandons, which is what this checks.)"""
    db = open_database(store)
    cid = add_campaign(db, "c", json.dumps({"pacing": "predictive"}))
    settings = CampaignSettings.model_validate({"pacing": "predictive"})
    start = NOW - 3 * 3600
    pacers = Pacers(db, 5.0)
    pacer = pacers.get(cid, settings, 0.03, start)  # box a's, seeded before any call
    for i in range(100):  # a's own calls, seen live by its pacer and recorded
        at = start + 60 * i
        pacer.dialed(at)
        pacer.answered(at + 5, 5.0)
        if i == 20:
            pacer.abandoned(at + 5)
        _record(db, cid, "a", f"+1212555{1000 + i:04d}", at, i == 20)
    for i in range(100):  # b's, recorded in the shared store only
        _record(db, cid, "b", f"+1312555{1000 + i:04d}", start + 60 * i, i % 20 == 3)
    now = start + 100 * 60 + 60
    assert pacer.ledger.counts(now) == (1, 100)
    assert not pacer.at_hard_cap(now), "by its own calls box a is under the cap"
    pacers.share(cid, now)
    assert pacer.ledger.counts(now) == (6, 200)
    assert pacer.at_hard_cap(now), "the campaign is at the cap: box a dials 1:1 from here"


def test_a_number_another_box_put_on_dnc_after_the_plan_is_not_dialed(store: str) -> None:
    """The DNC lists are read from the store in the lease's transaction: an opt-out an SMS
    reply brought to box a (or its API) stops box b's dial planned a moment before."""
    from appliance.store.dnc import add_numbers

    cid, _contacts, clock, a, b = _boxes(store)

    async def main() -> None:
        await b.line.open()
        campaign = get_campaign_by_id(b.db, cid)
        (planned,) = b.engine.planner.pick(campaign, clock.now(), 1, set())
        add_numbers(a.db, [SHARED], campaign_id=None, campaign=None, now=clock.now(),
                    actor="test", reason="opted out by SMS")  # fmt: skip
        assert b.engine.start(planned, campaign, b.pool.slots[0], clock.now(), None) is None
        assert b.line.dialed == []

    run(main())
    assert b.db.scalar("SELECT count(*) FROM attempts") == 0


def test_a_silent_box_is_swept_by_the_other_engine_and_its_late_outcome_refused(
    store: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Box a dials, then falls silent (its loop stalled) longer than box.sweep_after_seconds;
    box b's heartbeat sweeps a's call (requeued through the strategy, engine.requeue_delay);
    when a's call ends at last, its completion is refused and nothing of it is written."""
    _cid, _contacts, clock, a, b = _boxes(store)
    box = b.config.box

    async def main() -> None:
        await a.line.open()
        assert a.engine.round() == 1
        await a.line.dialing()
        # a says nothing; b beats on past the limit (not before)
        clock.advance(box.sweep_after_seconds)
        b.engine.beat(force=True)
        assert a.db.scalar("SELECT status FROM attempts WHERE box = 'a'") == "in_flight"
        clock.advance(1.0)
        b.engine.beat(force=True)
        assert a.db.scalar("SELECT status FROM attempts WHERE box = 'a'") == "dangling"
        before = [tuple(r) for r in a.db.conn.execute("SELECT * FROM contacts ORDER BY id")]
        with caplog.at_level(logging.WARNING):
            a.line.fail(LineError("no carrier"))
            await asyncio.gather(*(c.task for c in list(a.engine.calls.values())))
        assert "completion refused, nothing recorded" in caplog.text
        assert [tuple(r) for r in a.db.conn.execute("SELECT * FROM contacts ORDER BY id")] == before
        # a comes back: its heartbeat says it was swept, and it is up again
        with caplog.at_level(logging.ERROR):
            a.engine.beat(force=True)
        assert "swept its attempts in flight" in caplog.text

    run(main())
    row = a.db.conn.execute(
        "SELECT k.state, k.next_at, a.outcome FROM contacts k JOIN attempts a"
        " ON a.contact_id = k.id WHERE a.box = 'a'"
    ).fetchone()
    swept_at = NOW + box.sweep_after_seconds + 1.0
    # no outcome recorded; the contact due again no sooner than the requeue delay
    assert tuple(row) == (
        ContactState.NOT_CONNECTED, swept_at + a.config.engine.requeue_delay, None
    )  # fmt: skip


def test_a_number_is_called_by_one_box_at_a_time(store: str) -> None:
    """No cap stops a second call to the number, but a's call to it is in flight: b's lease of
    the other contact on that number is refused until a's call has ended."""
    cid, contacts, clock, a, b = _boxes(store, capped=False)

    async def main() -> None:
        await a.line.open()
        await b.line.open()
        campaign = get_campaign_by_id(b.db, cid)
        (stale,) = b.engine.planner.pick(campaign, clock.now(), 1, {contacts[0]})
        assert a.engine.round() == 1
        await a.line.dialing()
        assert b.engine.start(stale, campaign, b.pool.slots[0], clock.now(), None) is None
        a.line.fail(LineError("no carrier"))
        await asyncio.gather(*(c.task for c in list(a.engine.calls.values())))
        # a's call ended: the number is free, b dials its contact
        got = b.engine.start(stale, campaign, b.pool.slots[0], clock.now(), None)
        assert got is not None and got.contact_id == contacts[1]

    run(main())
