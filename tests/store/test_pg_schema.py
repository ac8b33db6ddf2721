"""PostgreSQL's migration ladder (store/migrations_pg) ends at the schema SQLite's ends at:
the same tables, columns, NOT NULLs, indexes and triggers' effects (#27)."""

from __future__ import annotations

from pathlib import Path

from appliance.store import open_database
from appliance.store.db import Database, migrations


def _sqlite(tmp_path: Path) -> Database:
    return open_database(tmp_path / "s.db")


def test_both_ladders_have_the_same_versions() -> None:
    assert [v for v, _, _ in migrations()] == [v for v, _, _ in migrations("postgresql")]


def test_tables_columns_and_indexes_are_the_same_on_both_engines(
    tmp_path: Path, pg_url: str
) -> None:
    lite, pg = _sqlite(tmp_path), open_database(pg_url)
    try:
        tables = [
            str(r[0])
            for r in lite.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        pg_tables = [
            str(r[0])
            for r in pg.conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_name <> 'dialbox_schema'"
                " ORDER BY table_name"
            )
        ]
        assert pg_tables == tables
        for table in tables:
            columns = [
                (str(name), bool(notnull) or bool(pk))
                for _, name, _, notnull, _, pk in lite.conn.execute(f"PRAGMA table_info({table})")
            ]
            pg_columns = [
                (str(name), nullable == "NO")
                for name, nullable in pg.conn.execute(
                    "SELECT column_name, is_nullable FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = ?"
                    " ORDER BY ordinal_position",
                    (table,),
                )
            ]
            assert pg_columns == columns, table
        indexes = {
            str(r[0])
            for r in lite.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
        pg_indexes = {
            str(r[0])
            for r in pg.conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            )
        }
        # PostgreSQL names the indexes of PRIMARY KEY and UNIQUE constraints (SQLite's are
        # autoindexes, not listed): every named index of SQLite's is there
        assert indexes <= pg_indexes
        assert {i for i in pg_indexes - indexes if not i.endswith(("_pkey", "_key"))} == set()
    finally:
        lite.close()
        pg.close()


def test_the_kept_counts_and_ledger_triggers_work_on_postgresql(pg_url: str) -> None:
    db = open_database(pg_url)
    try:
        db.conn.execute(
            "INSERT INTO campaigns(id, name, type, region, created_at, updated_at)"
            " VALUES (1, 'c', 'agent', 'US', 0, 0)"
        )
        db.conn.execute(
            "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, created_at, updated_at)"
            " VALUES (1, 1, 'x', '+12125550101', 0, 0)"
        )
        db.conn.execute("UPDATE contacts SET state = 'Connected'")
        assert db.conn.execute("SELECT state, n FROM campaign_counts ORDER BY state").fetchall() == [
            ("Connected", 1), ("Pending", 0)
        ]  # fmt: skip
        db.conn.execute(
            "INSERT INTO attempts(contact_id, campaign_id, attempt_no, number, channel,"
            " queued_at, answered_at, outcome) VALUES (1, 1, 1, '+12125550101', 'voice',"
            " 7199.5, 7200, 15)"
        )
        assert db.conn.execute("SELECT hour, answered, abandoned FROM abandon_ledger").fetchall() == [
            (1, 1, 1)
        ]  # the hour as SQLite's CAST truncates it, not rounded up to 2  # fmt: skip
        db.conn.execute("UPDATE attempts SET outcome = 7")  # a machine: no live answer
        assert db.conn.execute("SELECT answered, abandoned FROM abandon_ledger").fetchall() == [
            (0, 0)
        ]
        # the audit log stays append-only
        db.conn.execute("INSERT INTO audit(at, actor, action) VALUES (1, 't', 'x')")
        try:
            db.conn.execute("DELETE FROM audit")
        except Exception as exc:
            assert "append-only" in str(exc)
        else:
            raise AssertionError("the audit log let a row be deleted")
        # a campaign's delete takes its counts and its ledger
        db.conn.execute("DELETE FROM campaigns")
        assert db.scalar("SELECT count(*) FROM campaign_counts") == 0
        assert db.scalar("SELECT count(*) FROM abandon_ledger") == 0
    finally:
        db.close()


def test_hour_buckets_truncate_as_sqlite_s_cast_on_both_engines(db_url: str) -> None:
    """A call queued at 00:59:59.9 is in the first hour on both engines (PostgreSQL's CAST to
    an integer rounds: store/dialect.py `trunc`)."""
    from appliance.domain import CampaignType
    from appliance.store.campaigns import create_campaign
    from appliance.store.results import report

    db = open_database(db_url)
    try:
        campaign = create_campaign(db, "c", CampaignType.AGENT, "US", {}, 0.0, "t")
        db.conn.execute(
            "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, created_at, updated_at)"
            " VALUES (?, 1, 'x', '+12125550101', 0, 0)",
            (campaign.id,),
        )
        contact = db.scalar("SELECT id FROM contacts")
        for n, queued in enumerate((3599.9, 3600.0, 3600.4), 1):
            db.conn.execute(
                "INSERT INTO attempts(contact_id, campaign_id, attempt_no, number, channel,"
                " status, queued_at) VALUES (?, ?, ?, '+12125550101', 'voice', 'done', ?)",
                (contact, campaign.id, n, queued),
            )
        rows = report(db, campaign, by="hour", since=0.0, until=7200.0, offset=0.0)
        assert [(r["period"], r["attempts"]) for r in rows] == [
            ("1970-01-01T00:00:00.000Z", 1), ("1970-01-01T01:00:00.000Z", 2)
        ]  # fmt: skip
    finally:
        db.close()
