"""Migration 0009 (inbound, #23) on a database written by the schema before it: `campaigns` is
made again to take the type 'inbound', and every row of every table stays as it was — ids,
references and the cascades that hang on them; attempts read as dialed ('out')."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apsw
import pytest

from appliance.store import open_database
from appliance.store.db import Database, migrations

T = 1_800_000_000.0


def _at_version_8(path: Path) -> Database:
    db = Database(path)
    for version, _, sql in migrations():
        if version > 8:
            break
        with db.conn:
            db.conn.execute(sql)
            db.conn.execute(f"PRAGMA user_version = {version:d}")
    assert db.version == 8
    return db


def _seed(db: Database) -> None:
    x = db.conn.execute
    x(
        "INSERT INTO strategies(id, name, definition, updated_at) VALUES (1, 'campaign:spring', '{}', ?)",
        (T,),
    )
    for cid, name, kind, status in ((1, "spring", "agent", "running"), (2, "Robo", "automated", "paused"),
                                    (7, "texts", "sms", "stopped")):  # fmt: skip
        x("INSERT INTO campaigns(id, name, type, region, status, strategy_id, filter, settings,"
          " created_at, updated_at) VALUES (?, ?, ?, 'PL', ?, 1, 'bp1 = \"x\"', '{\"weight\": 2}', ?, ?)",
          (cid, name, kind, status, T, T + cid))  # fmt: skip
    x(
        "INSERT INTO imports(id, campaign_id, source, started_at, rows, imported) VALUES (3, 1, 'a.csv', ?, 2, 2)",
        (T,),
    )
    x("INSERT INTO zone_sets(id, zones) VALUES (5, 'Europe/Warsaw')")
    for k, cid in ((10, 1), (11, 1), (12, 2), (13, 7)):
        x("INSERT INTO contacts(id, campaign_id, import_id, dedup_key, phone1, e164_1, zs1, bp1,"
          " state, attempts, created_at, updated_at) VALUES (?, ?, ?, ?, '601', ?, 5, 'Ann', 'Pending', 0, ?, ?)",
          (k, cid, 3 if cid == 1 else None, k * 7, f"+4860123{k:04d}", T, T))  # fmt: skip
    x("INSERT INTO attempts(id, contact_id, campaign_id, attempt_no, phone_index, number, channel,"
      " status, queued_at, outcome, seq) VALUES (20, 10, 1, 1, 1, '+48601230010', 'voice', 'done', ?, 1, 1)", (T,))  # fmt: skip
    x("INSERT INTO attempts(id, contact_id, campaign_id, attempt_no, phone_index, number, channel,"
      " status, queued_at) VALUES (21, 11, 1, 1, 1, '+48601230011', 'voice', 'in_flight', ?)", (T,))  # fmt: skip
    x("UPDATE contacts SET state = 'Sent to Dialer', lease_id = 21, attempts = 1 WHERE id = 11")
    x("UPDATE contacts SET attempts = 1, state = 'Not Connected' WHERE id = 10")
    x(
        "INSERT INTO dnc(e164, campaign_id, reason, added_at) VALUES ('+48601239999', NULL, 'asked', ?)",
        (T,),
    )
    x(
        "INSERT INTO dnc(e164, campaign_id, reason, added_at) VALUES ('+48601239998', 2, 'asked', ?)",
        (T,),
    )
    x(
        "INSERT INTO lines(name, kind, device, updated_at) VALUES ('gsm1', 'gsm', '/dev/ttyUSB0', ?)",
        (T,),
    )
    x("INSERT INTO agents(name, campaigns, updated_at) VALUES ('anna', '[\"spring\"]', ?)", (T,))
    x(
        "INSERT INTO audit(at, actor, action, target, detail) VALUES (?, 'cli:root', 'campaign.create', 'spring', '{}')",
        (T,),
    )
    x("INSERT INTO outbox(campaign_id, contact_id, attempt_id, payload, created_at, next_try_at)"
      " VALUES (1, 10, 20, '{}', ?, ?)", (T, T))  # fmt: skip
    x("INSERT INTO tokens(name, scope, hash, created_at) VALUES ('crm', 'crm', 'abc', ?)", (T,))
    x("INSERT INTO scheduled_actions(campaign_id, action, at_text, timezone, source, created_at,"
      " created_by, next_due_at) VALUES (2, 'start', '09:00', 'Europe/Warsaw', 'api', ?, 'api:crm', ?)", (T, T))  # fmt: skip
    x("INSERT INTO timed_runs(name, last_due_at) VALUES ('hot-folder:/x', ?)", (T,))
    x("INSERT INTO agent_states(agent, state, at) VALUES ('anna', 'ready', ?)", (T,))


def _tables(db: Database) -> list[str]:
    return [str(r[0]) for r in db.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]  # fmt: skip


def _rows(db: Database, table: str) -> list[dict[str, Any]]:
    cursor = db.conn.execute(f"SELECT * FROM {table} ORDER BY 1")
    names = [d[0] for d in cursor.getdescription()]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def test_every_row_of_a_version_8_database_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = _at_version_8(path)
    _seed(old)
    before = {table: _rows(old, table) for table in _tables(old)}
    assert all(before[t] for t in before if t != "sqlite_stat1"), before
    old.close()

    db = open_database(path)
    assert db.version == migrations()[-1][0]  # 9 and those after it (0010 recordings, #24)
    assert db.scalar("PRAGMA foreign_keys") == 1
    assert list(db.conn.execute("PRAGMA foreign_key_check")) == []
    for table, rows in before.items():
        after = _rows(db, table)
        if table == "attempts":
            assert [a.pop("direction") for a in after] == ["out", "out"]
            # 0015 (#27): the leasing box, its lease expiry and generation
            assert [(a.pop("box"), a.pop("lease_expires"), a.pop("lease_gen")) for a in after] == [
                (None, None, 0)
            ] * 2
        if table == "contacts":  # 0015 (#27): the contact's lease generation
            assert {a.pop("lease_gen") for a in after} == {0}
        if table == "lines":  # 0016 (#27): the box whose line it is; '' for rows from before
            assert [a.pop("box") for a in after] == [""]
        if table == "tokens":  # 0011 (#25): when a token expires, the agent a desk session is for
            assert [(a.pop("expires_at"), a.pop("agent")) for a in after] == [(None, None)]
        assert after == rows, table
    assert {"attempt_steps", "attempt_answers", "missed_calls"} <= set(_tables(db))

    # the new type is taken, others still refused; names still unique whatever their case
    db.conn.execute("INSERT INTO campaigns(name, type, region, created_at, updated_at)"
                    " VALUES ('IN', 'inbound', 'PL', 0, 0)")  # fmt: skip
    with pytest.raises(apsw.ConstraintError):
        db.conn.execute("INSERT INTO campaigns(name, type, region, created_at, updated_at)"
                        " VALUES ('X', 'fax', 'PL', 0, 0)")  # fmt: skip
    with pytest.raises(apsw.ConstraintError):
        db.conn.execute("INSERT INTO campaigns(name, type, region, created_at, updated_at)"
                        " VALUES ('ROBO', 'agent', 'PL', 0, 0)")  # fmt: skip
    # the references still hold on the new table: a campaign's delete cascades
    with pytest.raises(apsw.ConstraintError):
        db.conn.execute("INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, created_at,"
                        " updated_at) VALUES (99, 1, '1', '+1', 0, 0)")  # fmt: skip
    db.conn.execute("DELETE FROM campaigns WHERE id = 1")
    assert db.scalar("SELECT count(*) FROM contacts WHERE campaign_id = 1") == 0
    assert db.scalar("SELECT count(*) FROM attempts") == 0
    assert db.scalar("SELECT count(*) FROM contacts") == 2  # the other campaigns' own
    db.close()

    again = open_database(path)  # opening again migrates nothing
    assert again.version == migrations()[-1][0]
    again.close()


def test_a_reference_broken_before_the_upgrade_does_not_stop_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = _at_version_8(path)
    _seed(old)
    old.conn.execute("PRAGMA foreign_keys = OFF")
    old.conn.execute("INSERT INTO dnc(e164, campaign_id, added_at) VALUES ('+1', 42, 0)")
    old.close()
    db = open_database(path)
    assert db.version == migrations()[-1][0]  # 9 and those after it (0010 recordings, #24)
    assert [(str(r[0]), str(r[2])) for r in db.conn.execute("PRAGMA foreign_key_check")] == [
        ("dnc", "campaigns")]  # fmt: skip
