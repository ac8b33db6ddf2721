"""The figures migration 0014 keeps in the transactions that change them (#28) — contacts by
campaign and state, the abandon ledger by campaign and hour — equal a full recount after every
step of a seeded random mix of the real writers: imports (direct and staged), leases and
completions with every outcome, dispositions and other state changes, the dangling sweep,
external-list rows, inbound callers, contacts and whole campaigns deleted. Hostile: a writer
SIGKILLed mid-transaction, a second connection writing from another thread, a campaign
deleted with 100,000 contacts, a drift made by hand (the doctor finds and mends it), the
ledger's windows starting on, just before and just after an hour."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from appliance.domain import CampaignType, Channel, ContactState, Outcome, Summary
from appliance.importing.importer import import_file
from appliance.store import counts, open_database
from appliance.store.attempts import Completion, Lease, complete, lease, sweep_dangling
from appliance.store.campaigns import (
    CampaignRow,
    contacts_by_state,
    create_campaign,
    delete_campaign,
)
from appliance.store.db import Database
from appliance.store.external import MirrorRow, mirror, release_keys
from appliance.store.inbound import complete_inbound, record_inbound
from appliance.store.selection import abandon_counts, abandon_recount

NOW = 1_781_107_200.0  # 2026-06-10 16:00 UTC: on an hour
STATES = [s for s in ContactState if s is not ContactState.SENT_TO_DIALER]
WINDOWS = (60.0, 3600.0, 5400.0, 86400.0, 86400.0 + 1.5, 30 * 86400.0)


def assert_kept(db: Database, now: float) -> None:
    """Every kept figure equals the recount, and every ledger window the scan's answer."""
    assert counts.drift(db) == []
    for (campaign_id, _state), n in counts.recount(db).items():
        assert contacts_by_state(db, campaign_id)[_state] == n
    campaigns = [int(i) for (i,) in db.conn.execute("SELECT id FROM campaigns")]
    for campaign_id in campaigns:
        for window in WINDOWS:
            for at in (now, now + 0.5, now - 1800.0):
                assert abandon_counts(db, campaign_id, at, window) == abandon_recount(
                    db, campaign_id, at, window
                ), (campaign_id, at, window)


def _csv(rng: random.Random, rows: int) -> bytes:
    return "".join(
        f"{2125550000 + rng.randrange(10_000)},{3125550000 + rng.randrange(10_000)}\n"
        for _ in range(rows)
    ).encode()


def _import(db: Database, campaign: CampaignRow, rng: random.Random, now: float) -> None:
    """Direct, bulk (the insert trigger dropped for the transaction) or staged (published in
    chunks)."""
    way = rng.choice(["direct", "bulk", "staged"])
    import_file(
        db, campaign, io.BytesIO(_csv(rng, rng.randint(1, 60))), region="US", mappings={},
        now=now, actor="test", source="mix.csv", rejects_out=io.StringIO(),
        staged=way == "staged", bulk=way == "bulk",
    )  # fmt: skip
    # the insert trigger the bulk and staged paths drop for their transaction is back
    trigger = (
        "SELECT 1 FROM sqlite_master WHERE name = 'campaign_counts_insert'"
        if db.engine == "sqlite"
        else "SELECT 1 FROM pg_trigger WHERE tgname = 'campaign_counts_insert'"
    )
    assert db.scalar(trigger)


def _shuffled(rng: random.Random) -> str:
    """An order of rows drawn from `rng` (the same on both engines, unlike their random())."""
    return f"(id * {rng.randrange(1, 1009)}) % 1009, id"


def _lease_some(db: Database, rng: random.Random, now: float) -> list[Lease]:
    rows = db.conn.execute(
        "SELECT id FROM contacts WHERE lease_id IS NULL AND state IN (?, ?)"
        f" ORDER BY {_shuffled(rng)} LIMIT ?",
        (ContactState.PENDING, ContactState.NOT_CONNECTED, rng.randint(1, 6)),
    ).fetchall()
    got = []
    for (contact_id,) in rows:
        result = lease(db, int(str(contact_id)), 1, Channel.VOICE, now - rng.uniform(0, 7200))
        if isinstance(result, Lease):
            got.append(result)
    return got


def _complete(db: Database, got: Lease, rng: random.Random, now: float) -> None:
    outcome = Outcome.ABANDONED if rng.random() < 0.3 else rng.choice(list(Outcome))
    answered = now - rng.uniform(0, 30) if rng.random() < 0.6 else None
    state = rng.choice([ContactState.NOT_CONNECTED, ContactState.CONNECTED,
                        ContactState.RETRIES_COMPLETED, ContactState.SMS_SENT])  # fmt: skip
    complete(
        db, got,
        Completion(outcome, state, Summary.NO_SUCCESS,
                   next_at=now + 600 if state is ContactState.NOT_CONNECTED else None,
                   answered_at=answered, dialed_at=now - 40),
        now,
    )  # fmt: skip


def _mirror(db: Database, campaign: CampaignRow, rng: random.Random, now: float) -> None:
    keys = [f"row-{rng.randrange(40)}" for _ in range(rng.randint(1, 5))]
    rows = [
        MirrorRow(key, 0, rng.randrange(3), now + 60 if rng.random() < 0.3 else None,
                  [(f"+1212555{1000 + i:04d}", f"+1212555{1000 + i:04d}", None)] + [None] * 4,
                  [None] * 12)
        for i, key in enumerate(dict.fromkeys(keys))
    ]  # fmt: skip
    mirror(db, campaign.id, "crm", rows, now)
    if rng.random() < 0.5:
        release_keys(db, campaign.id, [r.key for r in rows[:1]], now)


def test_kept_figures_equal_a_recount_after_a_random_mix_of_writers(db_url: str) -> None:
    rng = random.Random(28)
    db = open_database(db_url)  # tests/store/conftest.py: each engine
    campaigns = [
        create_campaign(db, f"c{i}", CampaignType.AGENT, "US", {}, NOW, "t") for i in range(3)
    ]
    inbound = create_campaign(db, "in", CampaignType.INBOUND, "US", {}, NOW, "t")
    leased: list[Lease] = []
    now = NOW
    done = set()
    for step in range(160):
        now += rng.uniform(10, 900)
        live = [c for c in campaigns if c.id not in done]
        action = rng.choice(
            ["import", "import", "lease", "complete", "complete", "dispose", "sweep",
             "external", "inbound", "delete_contacts", "delete_campaign", "new_campaign"]
        )  # fmt: skip
        if action == "import" and live:
            _import(db, rng.choice(live), rng, now)
        elif action == "lease":
            leased += _lease_some(db, rng, now)
        elif action == "complete" and leased:
            _complete(db, leased.pop(rng.randrange(len(leased))), rng, now)
        elif action == "dispose":  # an agent's disposition, a supervisor's edit: any state
            with db.transaction():
                db.conn.execute(
                    "UPDATE contacts SET state = ? WHERE id IN (SELECT id FROM contacts"
                    f" WHERE lease_id IS NULL ORDER BY {_shuffled(rng)} LIMIT 3)",
                    (rng.choice(STATES),),
                )
        elif action == "sweep" and leased:
            sweep_dangling(db, now)
            leased.clear()
        elif action == "external" and live:
            _mirror(db, rng.choice(live), rng, now)
        elif action == "inbound":
            call = record_inbound(db, inbound, "gsm1", f"+1646555{rng.randrange(10_000):04d}",
                                  now, answered_at=now + 2 if rng.random() < 0.5 else None)  # fmt: skip
            complete_inbound(db, call.attempt_id, rng.choice(list(Outcome)), now + 30)
        elif action == "delete_contacts":
            with db.transaction():
                db.conn.execute(
                    "DELETE FROM contacts WHERE lease_id IS NULL AND id IN"
                    f" (SELECT id FROM contacts ORDER BY {_shuffled(rng)} LIMIT 4)"
                )
        elif action == "delete_campaign" and len(live) > 1 and not leased:
            victim = rng.choice(live)
            delete_campaign(db, victim, now, "t")
            done.add(victim.id)
        elif action == "new_campaign":
            campaigns.append(
                create_campaign(db, f"n{step}", CampaignType.AGENT, "US", {}, now, "t")
            )
        assert_kept(db, now)
    # the mix reached every kind of figure
    kept = counts.kept(db)
    assert {s for _, s in kept} >= {"Pending", "Not Connected", "Connected"}
    assert any(a and b for a, b in counts.ledger_kept(db).values()), "no abandoned call kept"
    assert done, "no campaign was deleted"
    db.close()


_CRASHING_WRITER = """
import sys
from appliance.store import open_database
db = open_database(sys.argv[1])
db.conn.execute("BEGIN IMMEDIATE" if db.engine == "sqlite" else "BEGIN")
db.conn.execute("UPDATE contacts SET state = 'Connected' WHERE id % 2 = 0")
db.conn.execute("DELETE FROM contacts WHERE id % 3 = 0")
db.conn.execute(
    "INSERT INTO attempts(contact_id, campaign_id, attempt_no, number, channel, status,"
    " queued_at, answered_at, outcome) SELECT id, campaign_id, 99, e164_1, 'voice', 'done',"
    " 1781107000, 1781107010, 15 FROM contacts"
)
print("inside", flush=True)
sys.stdin.read()  # killed here, the transaction open
"""


def test_a_writer_killed_mid_transaction_leaves_the_figures_true(db_url: str) -> None:
    path = db_url
    db = open_database(path)
    campaign = create_campaign(db, "c", CampaignType.AGENT, "US", {}, NOW, "t")
    _import(db, campaign, random.Random(1), NOW)
    before = counts.kept(db)
    child = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_WRITER, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"inside"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    db.close()
    db = open_database(path)  # recovery: the WAL's uncommitted frames are ignored
    assert counts.kept(db) == before
    assert_kept(db, NOW)
    db.close()


def test_a_second_connection_writing_meanwhile_keeps_the_figures_true(db_url: str) -> None:
    path = db_url
    db = open_database(path)
    campaign = create_campaign(db, "c", CampaignType.AGENT, "US", {}, NOW, "t")
    _import(db, campaign, random.Random(2), NOW)
    other = Database(path)
    failures: list[BaseException] = []

    def dial() -> None:
        rng = random.Random(3)
        try:
            for i in range(40):
                for got in _lease_some(other, rng, NOW + i):
                    _complete(other, got, rng, NOW + i + 30)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=dial)
    thread.start()
    rng = random.Random(4)
    for i in range(20):
        _import(db, campaign, rng, NOW + i)
    thread.join()
    assert failures == []
    other.close()
    assert_kept(db, NOW + 100)
    assert int(str(db.scalar("SELECT count(*) FROM attempts"))) > 0
    db.close()


def test_a_campaign_deleted_with_100k_contacts_takes_its_figures_with_it(tmp_path: Path) -> None:
    db = open_database(tmp_path / "big.db")
    big = create_campaign(db, "big", CampaignType.AGENT, "US", {}, NOW, "t")
    small = create_campaign(db, "small", CampaignType.AGENT, "US", {}, NOW, "t")
    with db.transaction():
        db.conn.executemany(
            "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, state, created_at,"
            " updated_at) VALUES (?, ?, '+12125550100', '+12125550100', ?, 0, 0)",
            [(big.id, k, "Pending" if k % 10 else "Connected") for k in range(100_000)]
            + [(small.id, k, "Pending") for k in range(7)],
        )
        db.conn.execute(
            "INSERT INTO attempts(contact_id, campaign_id, attempt_no, number, channel, status,"
            " queued_at, answered_at, outcome) SELECT id, campaign_id, 1, e164_1, 'voice',"
            " 'done', ?, ?, 15 FROM contacts WHERE id % 100 = 0",
            (NOW - 60, NOW - 50),
        )
    assert contacts_by_state(db, big.id) == {"Connected": 10_000, "Pending": 90_000}
    assert abandon_counts(db, big.id, NOW, 86400.0) == (1000, 1000)
    delete_campaign(db, big, NOW, "t")
    assert contacts_by_state(db, big.id) == {}
    assert db.scalar("SELECT count(*) FROM campaign_counts WHERE campaign_id = ?", (big.id,)) == 0
    assert abandon_counts(db, big.id, NOW, 86400.0) == (0, 0)
    assert contacts_by_state(db, small.id) == {"Pending": 7}
    assert_kept(db, NOW)
    db.close()


def test_the_doctor_finds_a_drift_made_by_hand_and_mends_it(tmp_path: Path) -> None:
    from appliance.clock import ManualClock
    from appliance.config.models import DialboxConfig
    from appliance.engine.doctor import Doctor

    path = tmp_path / "drift.db"
    db = open_database(path)
    campaign = create_campaign(db, "c", CampaignType.AGENT, "US", {}, NOW, "t")
    _import(db, campaign, random.Random(5), NOW)
    leased = _lease_some(db, random.Random(6), NOW)
    _complete(db, leased[0], random.Random(7), NOW)
    doctor = Doctor(DialboxConfig(database=path), db, ManualClock(NOW))
    assert doctor.check(daemon_stopped=False, kinds=["count_drift"]).ok
    # a hand edit the triggers cannot see: the kept figures edited themselves
    db.conn.execute("UPDATE campaign_counts SET n = n + 5 WHERE state = 'Pending'")
    db.conn.execute("INSERT INTO abandon_ledger VALUES (?, 1, 3, 1)", (campaign.id,))
    report = doctor.check(daemon_stopped=False, kinds=["count_drift"])
    assert not report.ok
    (violation,) = report.violations
    assert violation.kind == "count_drift" and len(violation.ids) == 2
    assert any("contacts Pending: kept" in str(i) for i in violation.ids)
    assert "--repair" in report.as_dict()["violations"][0]["what_to_do"]
    assert doctor.repair(daemon_stopped=False, kinds=["count_drift"]) == {"count_drift": 2}
    assert doctor.check(daemon_stopped=False, kinds=["count_drift"]).ok
    assert_kept(db, NOW)
    db.close()


def test_the_migration_backfills_the_figures_of_an_existing_database(tmp_path: Path) -> None:
    """A database from before 0014 gets its figures counted once, as a recount finds them."""
    path = tmp_path / "old.db"
    db = open_database(path)
    campaign = create_campaign(db, "c", CampaignType.AGENT, "US", {}, NOW, "t")
    _import(db, campaign, random.Random(8), NOW)
    for got in _lease_some(db, random.Random(9), NOW):
        _complete(db, got, random.Random(10), NOW)
    expected = (counts.kept(db), counts.ledger_kept(db))
    # back to v13: the 0014 objects gone, as in a database an older dialbox wrote
    for kind, name in db.conn.execute(
        "SELECT type, name FROM sqlite_master WHERE sql LIKE '%campaign_counts%'"
        " OR sql LIKE '%abandon_ledger%' OR name = 'attempts_ended'"
    ).fetchall():
        if kind in ("table", "trigger", "index"):
            db.conn.execute(f"DROP {str(kind).upper()} IF EXISTS {name}")
    # … and the 0015 ones (#27), which came after it
    db.conn.execute("DROP TABLE boxes")
    db.conn.execute("DROP INDEX attempts_box_in_flight")
    for table, column in [("attempts", "box"), ("attempts", "lease_expires"),
                          ("attempts", "lease_gen"), ("contacts", "lease_gen")]:  # fmt: skip
        db.conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    db.conn.execute("PRAGMA user_version = 13")
    db.close()
    db = open_database(path)
    assert db.version >= 14
    assert (counts.kept(db), counts.ledger_kept(db)) == expected
    assert_kept(db, NOW)
    db.close()


@pytest.mark.parametrize("window", [3600.0, 3599.5, 3600.5, 7200.0])
def test_the_ledger_window_edges_count_exactly(db_url: str, window: float) -> None:
    """Calls queued on, just before and just after the window's start (and an hour's edge)."""
    db = open_database(db_url)
    campaign = create_campaign(db, "c", CampaignType.AGENT, "US", {}, NOW, "t")
    with db.transaction():
        db.conn.execute(
            "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, created_at, updated_at)"
            " VALUES (?, 1, '+12125550100', '+12125550100', 0, 0)",
            (campaign.id,),
        )
        for n, at in enumerate([NOW - window - 0.25, NOW - window, NOW - window + 0.25,
                                NOW - 3600.0, NOW - 7200.0, NOW - 1.0, NOW], 1):  # fmt: skip
            db.conn.execute(
                "INSERT INTO attempts(contact_id, campaign_id, attempt_no, number, channel,"
                " status, queued_at, answered_at, outcome) VALUES"
                " (1, ?, ?, '+12125550100', 'voice', 'done', ?, ?, ?)",
                (campaign.id, n, at, at + 5, 15 if n % 2 else 0),
            )
    for at in (NOW, NOW + 0.25, NOW - 0.25):
        assert abandon_counts(db, campaign.id, at, window) == abandon_recount(
            db, campaign.id, at, window
        )
    db.close()
