"""Store: migrations apply in order, once; a database newer than the code is refused; audit is append-only."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from appliance.store import SchemaTooNew, open_database
from appliance.store.db import Database, migrations


def test_fresh_database_reaches_the_latest_version_in_wal_mode(tmp_path: Path) -> None:
    db = open_database(tmp_path / "d.db")
    assert db.version == migrations()[-1][0]
    assert db.scalar("PRAGMA journal_mode") == "wal"
    assert db.scalar("PRAGMA foreign_keys") == 1
    # applying again is a no-op
    assert db.migrate() == db.version


def test_database_from_a_newer_dialbox_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    db = open_database(path)
    future = db.version + 5
    db.conn.execute(f"PRAGMA user_version = {future}")
    db.close()
    with pytest.raises(SchemaTooNew, match=f"schema version {future}"):
        open_database(path)
    assert Database(path).version == future


def test_a_failing_migration_leaves_the_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = migrations()
    broken = [
        *real,
        (
            len(real) + 1,
            f"{len(real) + 1:04d}_broken.sql",
            "CREATE TABLE ok(x); SELECT * FROM nope;",
        ),
    ]
    monkeypatch.setattr("appliance.store.db.migrations", lambda: broken)
    db = Database(tmp_path / "d.db")
    with pytest.raises(apsw.SQLError):
        db.migrate()
    assert db.version == len(real)
    assert db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'ok'") == 0


def test_audit_log_is_append_only(tmp_path: Path) -> None:
    db = open_database(tmp_path / "d.db")
    db.conn.execute("INSERT INTO audit(at, actor, action) VALUES (1, 'test', 'x')")
    with pytest.raises(apsw.ConstraintError, match="append-only"):
        db.conn.execute("UPDATE audit SET actor = 'y'")
    with pytest.raises(apsw.ConstraintError, match="append-only"):
        db.conn.execute("DELETE FROM audit")
