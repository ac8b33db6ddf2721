"""The store's tests on both engines: `db` is a migrated database on SQLite (a file) and on
PostgreSQL (a database of its own on the run's server, tests/conftest.py). A module whose
tests cannot run on PostgreSQL yet defines its own `db` fixture (SQLite only) and says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.store import Database, open_database

ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's store lives: a SQLite file, or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine_db(db_url: str) -> Iterator[Database]:
    """A migrated store on each engine (a module's own `db` fixture may build on it)."""
    got = open_database(db_url)
    try:
        yield got
    finally:
        got.close()


@pytest.fixture
def db(engine_db: Database) -> Database:
    return engine_db
