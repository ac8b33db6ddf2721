"""Leasing across connections on PostgreSQL (#27): the contact's row is taken with
FOR UPDATE SKIP LOCKED in the transaction that records the attempt, so two boxes leasing from
one campaign at once never lease the same contact, and neither waits for the other."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from appliance.domain import Channel
from appliance.store import Database, open_database
from appliance.store.attempts import Lease, LeaseRefused, lease
from appliance.store.selection import SelectionQuery, new_contacts
from tests.scheduler.dbfixtures import add_campaign, add_contact

NOW = 1_800_000_000.0
CONTACTS = 300


@pytest.fixture
def url(pg_url: str) -> str:
    db = open_database(pg_url)
    try:
        with db.transaction():
            cid = add_campaign(db, "c")
            for n in range(CONTACTS):
                add_contact(db, cid, [f"+1212555{n:04d}"])
    finally:
        db.close()
    return pg_url


def _query(db: Database) -> SelectionQuery:
    cid = int(db.scalar("SELECT id FROM campaigns WHERE name = 'c'"))
    zones = frozenset(int(r[0]) for r in db.conn.execute("SELECT id FROM zone_sets"))
    return SelectionQuery(
        campaign_id=cid, now=NOW, first_phone=1, allowed_zone_sets=zones,
        allow_unknown_zone=True, allowed_overrides=frozenset(), max_attempts=5,
        max_attempts_per_number=5, max_attempts_per_day=5, day_start=NOW - 3600,
    )  # fmt: skip


def test_two_connections_leasing_one_campaign_at_once_never_lease_the_same_contact(
    url: str,
) -> None:
    leased: list[list[int]] = [[], []]
    refused: list[Counter[str]] = [Counter(), Counter()]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def box(i: int) -> None:
        db = open_database(url)
        try:
            q = _query(db)
            start.wait()
            while True:
                # both boxes read the same candidates (a plain read) and race for each
                picks = new_contacts(db, q, 16)
                if not picks:
                    return
                for row in picks:
                    got = lease(db, row.contact_id, 1, Channel.VOICE, NOW, line=f"box{i}")
                    if isinstance(got, Lease):
                        leased[i].append(got.contact_id)
                    else:
                        assert isinstance(got, LeaseRefused)
                        refused[i][got.reason] += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=box, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert not set(leased[0]) & set(leased[1])
    assert len(leased[0]) + len(leased[1]) == CONTACTS
    assert leased[0] and leased[1]  # both boxes got work: neither waited the other out
    assert set(refused[0]) | set(refused[1]) <= {"leased"}
    db = open_database(url)
    try:
        rows = db.conn.execute(
            "SELECT contact_id, count(*) FROM attempts GROUP BY contact_id HAVING count(*) > 1"
        ).fetchall()
        assert rows == []
        assert db.scalar("SELECT count(*) FROM attempts WHERE status = 'in_flight'") == CONTACTS
        assert db.scalar("SELECT count(*) FROM contacts WHERE lease_id IS NULL") == 0
    finally:
        db.close()


def test_a_contact_another_connection_is_leasing_is_refused_at_once_not_waited_for(
    url: str,
) -> None:
    holder, other = open_database(url), open_database(url)
    try:
        contact = int(holder.scalar("SELECT min(id) FROM contacts"))
        with holder.transaction():
            # the other box's lease in progress: its transaction holds the contact's row
            holder.scalar("SELECT id FROM contacts WHERE id = ? FOR UPDATE", (contact,))
            other.conn.execute("SET lock_timeout = '2s'")  # a wait would fail, not hang
            got = lease(other, contact, 1, Channel.VOICE, NOW)
            assert got == LeaseRefused(contact, "leased")
        # once the holder's transaction ended without a lease, the contact is free again
        assert isinstance(lease(other, contact, 1, Channel.VOICE, NOW), Lease)
        assert isinstance(lease(holder, contact, 1, Channel.VOICE, NOW), LeaseRefused)
    finally:
        holder.close()
        other.close()
