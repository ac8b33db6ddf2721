"""Tokens after migration 0011 (#25): a version-10 database keeps every token as it was (never
expiring), the 'supervisor' scope is taken and others still refused; a token with `expires_at`
stops authenticating at that instant; a desk session acts for its agent beside a long-lived
token named after that agent, and old sessions are swept."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from appliance.errors import DialboxError
from appliance.store import open_database
from appliance.store.db import Database, migrations
from appliance.store.doctor import named_rows
from appliance.store.tokens import (
    SESSION_SECONDS,
    authenticate,
    create_session,
    create_token,
    expired,
    list_tokens,
)

T = 1_800_000_000.0


def _at_version_10(path: Path) -> Database:
    db = Database(path)
    for version, _, sql in migrations():
        if version > 10:
            break
        with db.conn:
            db.conn.execute(sql)
            db.conn.execute(f"PRAGMA user_version = {version:d}")
    return db


def test_a_version_10_database_keeps_its_tokens_and_takes_supervisors(tmp_path: Path) -> None:
    old = _at_version_10(tmp_path / "d.db")
    old.conn.execute(
        "INSERT INTO tokens(id, name, scope, hash, created_at, revoked_at, last_used_at) VALUES"
        " (3, 'crm', 'crm', 'h1', ?, NULL, ?), (5, 'gone', 'agent', 'h2', ?, ?, NULL)",
        (T, T + 1, T, T + 2),
    )
    with pytest.raises(apsw.ConstraintError):  # before: no supervisor scope
        old.conn.execute("INSERT INTO tokens(name, scope, hash, created_at)"
                         " VALUES ('boss', 'supervisor', 'h3', 0)")  # fmt: skip
    old.close()
    db = open_database(tmp_path / "d.db")
    rows = list(db.conn.execute("SELECT * FROM tokens ORDER BY id"))
    assert rows == [(3, "crm", "crm", "h1", T, None, T + 1, None, None),
                    (5, "gone", "agent", "h2", T, T + 2, None, None, None)]  # fmt: skip
    db.conn.execute("INSERT INTO tokens(name, scope, hash, created_at)"
                    " VALUES ('boss', 'supervisor', 'h3', 0)")  # fmt: skip
    with pytest.raises(apsw.ConstraintError):
        db.conn.execute("INSERT INTO tokens(name, scope, hash, created_at)"
                        " VALUES ('x', 'root', 'h4', 0)")  # fmt: skip
    with pytest.raises(apsw.ConstraintError):  # names still unique
        db.conn.execute("INSERT INTO tokens(name, scope, hash, created_at)"
                        " VALUES ('crm', 'crm', 'h5', 0)")  # fmt: skip


def test_a_desk_session_acts_for_its_agent_and_expires(db_url: str) -> None:
    db = open_database(db_url)  # tests/store/conftest.py: each engine
    long_lived = create_token(db, "anna", "agent", T, "t")
    boss = create_token(db, "boss", "supervisor", T, "t")
    assert authenticate(db, boss, T).scope == "supervisor"  # type: ignore[union-attr]
    secret, session = create_session(db, "anna", T, "api:boss")
    assert session.name.startswith("desk:anna:") and session.scope == "agent"
    assert session.expires_at == T + SESSION_SECONDS == T + 12 * 3600
    found = authenticate(db, secret, T + SESSION_SECONDS - 1)
    assert found is not None and found.acts_as == "anna" and found.agent == "anna"
    assert authenticate(db, long_lived, T).acts_as == "anna"  # type: ignore[union-attr]
    # At its expiry it no longer authenticates, and says why.
    assert authenticate(db, secret, T + SESSION_SECONDS) is None
    lapsed = expired(db, secret, T + SESSION_SECONDS)
    assert lapsed is not None and lapsed.agent == "anna"
    assert expired(db, long_lived, T + 10 * SESSION_SECONDS) is None  # never expires
    # A second session beside the first: names never collide, nor with a CLI-made token.
    other, second = create_session(db, "anna", T + 10, "api:boss")
    assert second.name != session.name and authenticate(db, other, T + 20) is not None
    with pytest.raises(DialboxError, match="not allowed"):
        create_token(db, session.name, "agent", T, "t")
    # The doctor's name check leaves the box's own session names alone.
    assert ("token", session.name) not in named_rows(db)
    # Sessions expired for over a day are swept when a new one opens.
    create_session(db, "ben", T + 10 + SESSION_SECONDS + 86401, "api:boss")
    names = [t.name for t in list_tokens(db)]
    assert session.name not in names and second.name not in names and "anna" in names
    db.close()
