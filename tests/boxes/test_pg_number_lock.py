"""One lease of a number at a time across boxes on PostgreSQL (#27): the lease's re-check of the
rules (a number's calls in flight, its day caps, lockouts: StorePlanner.recheck) runs under an
advisory lock on the number (store.dialect.lock_number), as SQLite's BEGIN IMMEDIATE serialises
every lease. Two connections leasing two contacts that share one number: only one is leased."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from appliance.domain import Channel
from appliance.store import Database, dialect, open_database
from appliance.store.attempts import Lease, LeaseRefused, lease
from tests.scheduler.dbfixtures import add_campaign, add_contact

NOW = 1_800_000_000.0
PAIRS = 40


def _number(i: int) -> str:
    return f"+1212555{i:04d}"


@pytest.fixture
def url(pg_url: str) -> Iterator[str]:
    """PAIRS numbers, each shared by two contacts."""
    db = open_database(pg_url)
    try:
        with db.transaction():
            cid = add_campaign(db, "c")
            for i in range(PAIRS):
                add_contact(db, cid, [_number(i)])
                add_contact(db, cid, [_number(i)])
    finally:
        db.close()
    yield pg_url


def _pair(db: Database, i: int) -> list[int]:
    return [int(r[0]) for r in db.conn.execute(
        "SELECT id FROM contacts WHERE e164_1 = ? ORDER BY id", (_number(i),))]  # fmt: skip


def _busy(db: Database, number: str) -> Callable[[], str | None]:
    """The re-check's rule under test: one call at a time to a number (StorePlanner.recheck's)."""

    def recheck() -> str | None:
        busy = db.scalar(
            "SELECT contact_id FROM attempts WHERE number = ? AND status = 'in_flight' LIMIT 1",
            (number,),
        )
        return None if busy is None else f"its number {number} is being called now"

    return recheck


def test_two_connections_racing_for_two_contacts_on_one_number_lease_only_one(url: str) -> None:
    dbs = [open_database(url) for _ in range(2)]
    start = threading.Barrier(2)
    results: list[list[Lease | LeaseRefused]] = [[], []]
    errors: list[BaseException] = []

    def box(t: int) -> None:
        db = dbs[t]
        try:
            for i in range(PAIRS):
                contact = _pair(db, i)[t]
                start.wait(timeout=30)  # both lease the same number's two contacts at once
                results[t].append(lease(db, contact, 1, Channel.VOICE, NOW, box=f"b{t}",
                                        recheck=_busy(db, _number(i))))  # fmt: skip
        except BaseException as exc:
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=box, args=(t,)) for t in range(2)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        assert not errors, errors
        for i in range(PAIRS):
            got = [results[0][i], results[1][i]]
            leased = [g for g in got if isinstance(g, Lease)]
            refused = [g for g in got if isinstance(g, LeaseRefused)]
            assert len(leased) == 1, (i, got)
            assert refused[0].reason == "rules", got
            assert "is being called now" in refused[0].detail, got
        rows = (
            dbs[0]
            .conn.execute(
                "SELECT number, count(*) FROM attempts GROUP BY number HAVING count(*) > 1"
            )
            .fetchall()
        )
        assert rows == []
        assert dbs[0].scalar("SELECT count(*) FROM attempts") == PAIRS
    finally:
        for db in dbs:
            db.close()


def _interleaved(url: str) -> list[Lease | LeaseRefused]:
    """The race made certain: the first lease has judged the number free and waits, before
    committing, until the second lease either finished or waits for the first's lock."""
    first, second, watcher = (open_database(url) for _ in range(3))
    a, b = _pair(watcher, 0)
    judged = threading.Event()
    out: dict[str, Lease | LeaseRefused] = {}
    errors: list[BaseException] = []

    def waiting_for_lock() -> bool:
        return bool(watcher.scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))  # fmt: skip

    def recheck_then_wait() -> str | None:
        why = _busy(first, _number(0))()
        judged.set()
        deadline = time.monotonic() + 30
        while "second" not in out and not waiting_for_lock():
            assert time.monotonic() < deadline, "the second lease neither ended nor waited"
            time.sleep(0.01)  # polling the other connection's state, not timing
        return why

    def run_first() -> None:
        try:
            out["first"] = lease(
                first, a, 1, Channel.VOICE, NOW, box="a", recheck=recheck_then_wait
            )
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run_first)
    try:
        thread.start()
        assert judged.wait(30)
        out["second"] = lease(second, b, 1, Channel.VOICE, NOW, box="b",
                              recheck=_busy(second, _number(0)))  # fmt: skip
        thread.join(30)
        assert not errors, errors
        return [out["first"], out["second"]]
    finally:
        for db in (first, second, watcher):
            db.close()


def test_the_second_lease_waits_for_the_first_and_sees_its_call(url: str) -> None:
    first, second = _interleaved(url)
    assert isinstance(first, Lease)
    assert isinstance(second, LeaseRefused) and second.reason == "rules", second
    assert "+12125550000 is being called now" in second.detail


def test_without_the_number_s_lock_both_leases_would_dial_the_number(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the same interleaving with the lock taken out doubles the call, so the
    test above proves the lock, not luck."""
    monkeypatch.setattr(dialect, "lock_number", lambda db, number: None)
    first, second = _interleaved(url)
    assert isinstance(first, Lease) and isinstance(second, Lease)
    assert first.number == second.number == "+12125550000"
