"""Candidate queries and the planner over a real database: order, DNC, limits, lockouts, filters, strategy."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from appliance.config.models import DialboxConfig
from appliance.domain import Channel, ContactState, Outcome
from appliance.engine.planner import AttemptReport
from appliance.engine.storeplanner import StorePlanner
from appliance.scheduler.select import Reason
from appliance.scheduler.strategy import parse_strategy, to_dict
from appliance.store import Database
from appliance.store.attempts import Lease, complete, lease
from appliance.store.campaigns import get_campaign
from appliance.store.strategies import save_strategy
from tests.scheduler.dbfixtures import add_attempt, add_campaign, add_contact, add_dnc

# Wednesday 2026-06-10 12:00 in New York (16:00 UTC): inside 08-21 everywhere in the US.
NOW = dt.datetime(2026, 6, 10, 16, 0, tzinfo=dt.UTC).timestamp()
NY1, NY2, NY3, NY4 = "+12125550101", "+12125550102", "+12125550103", "+12125550104"
LA = "+14155550102"  # San Francisco: 09:00 there


@pytest.fixture()
def db(engine_db: Database) -> Database:  # tests/store/conftest.py: each engine
    return engine_db


def planner(db: Database, **config: object) -> StorePlanner:
    cfg = DialboxConfig.model_validate(
        {"database": db.path, "timezone": "America/New_York", **config}
    )
    return StorePlanner(cfg, db)


def ids(db: Database, name: str = "c", at: float = NOW, n: int = 10, **config: object) -> list[int]:
    p = planner(db, **config)
    return [d.contact_id for d in p.plan(get_campaign(db, name), at, n)]


def test_migration_adds_the_indexes_the_queries_use(db: Database) -> None:
    if db.engine == "postgresql":
        pytest.skip("SQLite's query plans (EXPLAIN QUERY PLAN); PostgreSQL plans alone")
    cid = add_campaign(db, "c")
    add_contact(db, cid, [NY1])
    plans = " ".join(
        str(r[3])
        for sql in (
            "SELECT id FROM contacts WHERE campaign_id = 1 AND coalesce(next_at, callback_at) <= 5"
            " ORDER BY coalesce(next_at, callback_at), id",
            "SELECT id FROM contacts WHERE campaign_id = 1 AND state = 'Pending' AND next_at IS NULL"
            " AND callback_at IS NULL ORDER BY priority DESC, id",
            "SELECT id FROM contacts WHERE campaign_id = 1 AND state = 'Pending' AND next_at IS NULL"
            " AND callback_at IS NULL AND priority = 3 ORDER BY id DESC",
        )
        for r in db.conn.execute("EXPLAIN QUERY PLAN " + sql)
    )
    assert "contacts_due" in plans and plans.count("contacts_new ") == 2
    assert "TEMP B-TREE" not in plans
    # a freshly imported contact (no due time) costs the due index nothing
    assert (
        db.scalar(
            "SELECT count(*) FROM contacts INDEXED BY contacts_due WHERE campaign_id = 1 AND coalesce(next_at, callback_at) <= 1e12"
        )
        == 0
    )


def test_due_redials_oldest_first_then_new_by_priority_fifo(db: Database) -> None:
    cid = add_campaign(db, "c")
    new_low = add_contact(db, cid, ["+12125550111"])
    new_high = add_contact(db, cid, ["+12125550112"], priority=5)
    new_low2 = add_contact(db, cid, ["+12125550113"])
    later = add_contact(db, cid, [NY1], state="Not Connected", next_at=NOW - 60, attempts=1)
    older = add_contact(db, cid, [NY2], state="Not Connected", next_at=NOW - 600, attempts=1)
    callback = add_contact(db, cid, [NY3], callback_at=NOW - 300)
    add_contact(db, cid, [NY4], state="Not Connected", next_at=NOW + 60, attempts=1)  # not due
    assert ids(db) == [older, callback, later, new_high, new_low, new_low2]


def test_lifo_order_for_new_contacts(db: Database) -> None:
    cid = add_campaign(db, "c", json.dumps({"order": "lifo"}))
    a, b, c = (add_contact(db, cid, [n]) for n in (NY1, NY2, NY3))
    assert ids(db) == [c, b, a]


def test_lifo_goes_down_the_priority_levels_highest_first_newest_first(db: Database) -> None:
    cid = add_campaign(db, "c", json.dumps({"order": "lifo"}))
    numbers = iter(f"+1212555{n:04d}" for n in range(200, 300))
    low = [add_contact(db, cid, [next(numbers)], priority=-2) for _ in range(3)]
    high = [add_contact(db, cid, [next(numbers)], priority=7) for _ in range(2)]
    mid = [add_contact(db, cid, [next(numbers)]) for _ in range(2)]
    called = add_contact(db, cid, [next(numbers)], priority=9, state="Not Connected", attempts=1)
    assert called not in ids(db)
    assert ids(db, n=10) == [*high[::-1], *mid[::-1], *low[::-1]]
    assert ids(db, n=3) == [high[1], high[0], mid[1]]  # the limit spans two levels


def test_dnc_global_campaign_and_block_lists_and_expiry(db: Database) -> None:
    cid = add_campaign(db, "c")
    other = add_campaign(db, "other")
    nums = ["+12125550121", "+12125550122", "+12125550123", "+12125550124", "+12125550125"]
    contacts = [add_contact(db, cid, [n]) for n in nums]
    add_dnc(db, nums[0])  # global
    add_dnc(db, nums[1], campaign_id=cid)
    add_dnc(db, nums[2], kind="block")
    add_dnc(db, nums[3], campaign_id=other)  # another campaign's list: not ours
    add_dnc(db, nums[4], expires_at=NOW - 1)  # expired
    assert ids(db) == contacts[3:]
    counts = planner(db).reasons(get_campaign(db, "c"), NOW)
    assert counts[Reason.DNC] == 3


def test_attempt_limits_per_contact_number_and_day(db: Database) -> None:
    cid = add_campaign(db, "c", json.dumps({"max_attempts": 3, "max_attempts_per_day": 2}))
    exhausted = add_contact(db, cid, [NY1], state="Not Connected", next_at=NOW - 1, attempts=3)
    today = add_contact(
        db,
        cid,
        [NY2],
        state="Not Connected",
        next_at=NOW - 1,
        attempts=2,
        last_attempt_at=NOW - 3600,
    )
    for k in range(2):
        add_attempt(db, today, cid, NY2, NOW - 7200 + k)
    yesterday = add_contact(
        db,
        cid,
        [NY3],
        state="Not Connected",
        next_at=NOW - 1,
        attempts=2,
        last_attempt_at=NOW - 86400,
    )
    for k in range(2):
        add_attempt(db, yesterday, cid, NY3, NOW - 86400 - k)
    assert ids(db) == [yesterday]
    counts = planner(db).reasons(get_campaign(db, "c"), NOW)
    assert counts[Reason.EXHAUSTED] == 1 and counts[Reason.DAILY_LIMIT] == 1
    del exhausted


def test_per_number_limit_counts_only_that_phone(db: Database) -> None:
    cid = add_campaign(db, "c", json.dumps({"max_attempts_per_number": 2}))
    on_two = add_contact(
        db, cid, [NY1, NY2], state="Not Connected", next_at=NOW - 1, attempts=2, next_phone=2
    )
    add_attempt(db, on_two, cid, NY1, NOW - 86400 * 3)
    add_attempt(db, on_two, cid, NY1, NOW - 86400 * 2)
    on_one = add_contact(
        db, cid, [NY3, NY4], state="Not Connected", next_at=NOW - 1, attempts=2, next_phone=1
    )
    add_attempt(db, on_one, cid, NY3, NOW - 86400 * 3)
    add_attempt(db, on_one, cid, NY3, NOW - 86400 * 2)
    plan = planner(db).plan(get_campaign(db, "c"), NOW, 10)
    assert [(d.contact_id, d.phone_index, d.number) for d in plan] == [(on_two, 2, NY2)]


def test_french_profile_caps_calls_per_number_across_campaigns(db: Database) -> None:
    paris = dt.datetime(2026, 6, 10, 9, 0, tzinfo=dt.UTC).timestamp()  # Wed 11:00 Paris
    cid = add_campaign(db, "c", json.dumps({"profile": "fr"}))
    other = add_campaign(db, "other")
    number = "+33142685300"
    old = add_contact(db, other, [number], state="Connected")
    for k in range(4):
        add_attempt(db, old, other, number, paris - 86400 * (k + 1))
    capped = add_contact(db, cid, [number])
    free = add_contact(db, cid, ["+33142685301"])
    assert ids(db, at=paris) == [free]
    counts = planner(db).reasons(get_campaign(db, "c"), paris)
    assert counts[Reason.NUMBER_CAP] == 1
    assert ids(db, at=paris + 86400 * 28) == [capped, free]  # a Wednesday, 4 weeks later


def test_uk_lockout_after_an_abandoned_call(db: Database) -> None:
    cid = add_campaign(db, "c", json.dumps({"profile": "uk"}))
    london = "+442079460000"
    noon = dt.datetime(2026, 6, 10, 11, 0, tzinfo=dt.UTC).timestamp()
    c = add_contact(db, cid, [london], state="Not Connected", next_at=noon - 1, attempts=1)
    add_attempt(db, c, cid, london, noon - 48 * 3600, outcome=int(Outcome.ABANDONED))
    assert ids(db, at=noon) == []
    assert planner(db).reasons(get_campaign(db, "c"), noon)[Reason.LOCKED_OUT] == 1
    assert ids(db, at=noon + 25 * 3600) == [c]


def test_callee_hours_every_zone_and_override(db: Database) -> None:
    cid = add_campaign(db, "c")
    early = dt.datetime(2026, 6, 10, 12, 30, tzinfo=dt.UTC).timestamp()  # 08:30 NY, 05:30 LA
    ny = add_contact(db, cid, [NY1])
    la = add_contact(db, cid, [LA])
    la_in_ny = add_contact(db, cid, ["+14155550103"], tz_override="America/New_York")
    assert ids(db, at=early) == [ny, la_in_ny]
    assert planner(db).reasons(get_campaign(db, "c"), early)[Reason.OUTSIDE_HOURS] == 1
    del la


def test_campaign_filter_applies(db: Database) -> None:
    cid = add_campaign(db, "c")
    gold = add_contact(db, cid, [NY1], bp1="gold")
    add_contact(db, cid, [NY2], bp1="tin")
    db.conn.execute("UPDATE campaigns SET filter = ? WHERE id = ?", ('bp1 = "gold"', cid))
    assert ids(db) == [gold]
    assert planner(db).reasons(get_campaign(db, "c"), NOW)[Reason.FILTERED] == 1


def test_plan_writes_nothing(db: Database) -> None:
    cid = add_campaign(db, "c")
    for n in (NY1, NY2, LA):
        add_contact(db, cid, [n])
    before = db.conn.total_changes()
    p = planner(db)
    p.plan(get_campaign(db, "c"), NOW, 10)
    p.explain(get_campaign(db, "c"), NOW)
    assert db.conn.total_changes() == before


def test_engine_seam_pick_respects_status_and_window(db: Database) -> None:
    cid = add_campaign(db, "c", json.dumps({"windows": "mon-fri 13:00-17:00"}))
    add_contact(db, cid, [NY1])
    p = planner(db)
    campaign = get_campaign(db, "c")
    assert p.pick(campaign, NOW, 5, set()) == []  # 12:00 in New York
    picks = p.pick(campaign, NOW + 3600, 5, set())
    assert [(x.number, x.channel) for x in picks] == [(NY1, Channel.VOICE)]
    db.conn.execute("UPDATE campaigns SET status = 'paused'")
    assert p.pick(get_campaign(db, "c"), NOW + 3600, 5, set()) == []


def _dial(db: Database, p: StorePlanner, outcome: Outcome, at: float) -> Lease:
    campaign = get_campaign(db, "c")
    pick = p.pick(campaign, at, 1, set())[0]
    got = lease(db, pick.contact_id, pick.phone_index, pick.channel, at)
    assert isinstance(got, Lease)
    completion = p.decide(campaign, got, AttemptReport(outcome), at + 30)
    assert complete(db, got, completion, at + 30)
    return got


def test_decide_follows_the_default_strategy_through_the_store(db: Database) -> None:
    cid = add_campaign(db, "c")
    contact = add_contact(db, cid, [NY1, NY2])
    p = planner(db)
    _dial(db, p, Outcome.BUSY, NOW)
    row = db.conn.execute("SELECT state, next_at, next_phone FROM contacts").fetchone()
    assert tuple(row) == (ContactState.NOT_CONNECTED, NOW + 30 + 7200, 1)  # type: ignore[arg-type]
    assert p.pick(get_campaign(db, "c"), NOW + 3600, 1, set()) == []  # waiting
    got = _dial(db, p, Outcome.WRONG_NUMBER, NOW + 7300)
    assert got.number == NY1
    assert db.scalar("SELECT kind FROM dnc WHERE e164 = ?", (NY1,)) == "block"
    picks = p.pick(get_campaign(db, "c"), NOW + 7400, 1, set())
    assert [(x.contact_id, x.phone_index, x.number) for x in picks] == [(contact, 2, NY2)]


def test_a_strategy_edit_takes_effect_at_the_next_dial(db: Database) -> None:
    cid = add_campaign(db, "c", json.dumps({"strategy": "quick"}))
    add_contact(db, cid, [NY1])
    quick = {"name": "quick", "on": {"Busy": "retry 5m"}}
    save_strategy(db, "quick", to_dict(parse_strategy(quick)), NOW, "test")
    p = planner(db)
    _dial(db, p, Outcome.BUSY, NOW)
    assert db.scalar("SELECT next_at FROM contacts") == NOW + 30 + 300
    slow = {"name": "quick", "on": {"Busy": "close Not Connected"}}
    save_strategy(db, "quick", to_dict(parse_strategy(slow)), NOW + 1, "test")
    _dial(db, p, Outcome.BUSY, NOW + 400)
    assert db.scalar("SELECT next_at FROM contacts") is None


def test_share_gives_lines_only_to_campaigns_with_dials(db: Database) -> None:
    from appliance.clock import ManualClock

    a = add_campaign(db, "a", json.dumps({"weight": 3}))
    add_campaign(db, "b")
    empty = add_campaign(db, "empty")
    for k in range(10):
        add_contact(db, a, [f"+1212555{k:04d}"])
    add_contact(db, 2, ["+12125559999"])
    del empty
    cfg = DialboxConfig.model_validate({"database": db.path, "timezone": "America/New_York"})
    p = StorePlanner(cfg, db, ManualClock(NOW))
    campaigns = p.running()
    got = p.share([f"l{i}" for i in range(4)], {}, {}, campaigns)
    assert sorted(got) == ["a", "b"] and len(got["a"]) == 3 and len(got["b"]) == 1
    picks = p.pick(next(c for c in campaigns if c.name == "a"), NOW, 3, set())
    assert len(picks) == 3


def test_counts_by_state_and_pages_read_indexes_though_new_contacts_are_in_fewer(
    db: Database,
) -> None:
    if db.engine == "postgresql":
        pytest.skip("SQLite's query plans (EXPLAIN QUERY PLAN); PostgreSQL plans alone")
    from appliance.store.campaigns import contacts_by_state
    from appliance.store.results import _contact_page_sql, contacts_page

    cid = add_campaign(db, "c")
    other = add_campaign(db, "other")
    numbers = iter(f"+1212555{n:04d}" for n in range(300, 400))
    new = [add_contact(db, cid, [next(numbers)]) for _ in range(3)]
    redial = add_contact(db, cid, [next(numbers)], next_at=NOW + 60, attempts=1)  # still Pending
    busy = add_contact(db, cid, [next(numbers)], state="Not Connected", next_at=NOW, attempts=1)
    add_contact(db, other, [next(numbers)])
    assert contacts_by_state(db, cid) == {"Not Connected": 1, "Pending": 4}
    assert contacts_by_state(db, other) == {"Pending": 1}
    campaign = get_campaign(db, "c")
    page = contacts_page(db, campaign, state="Pending", after=0, limit=3)
    assert [c["contact_id"] for c in page] == new
    page = contacts_page(db, campaign, state="Pending", after=new[-1], limit=3)
    assert [c["contact_id"] for c in page] == [redial]
    page = contacts_page(db, campaign, state="Not Connected", after=0, limit=3)
    assert [c["contact_id"] for c in page] == [busy]
    assert len(contacts_page(db, campaign, state=None, after=0, limit=10)) == 5
    for state in (None, "Pending", "Not Connected"):
        sql = _contact_page_sql(state) + " ORDER BY c.id LIMIT 5"
        plan = " ".join(
            str(r[3])
            for r in db.conn.execute(
                "EXPLAIN QUERY PLAN " + sql, [cid, 0, *([state] if state else [])]
            )
        )
        assert "TEMP B-TREE" not in plan, (state, plan)
