"""Test-run header: the versions of the libraries whose data the tests hold the app to."""

from __future__ import annotations

import itertools
import os
import pwd
from collections.abc import Iterator

import pytest

from tests.pgserver import Postgres, pg_bin


def pytest_report_header() -> str:
    import phonenumbers

    return f"phonenumbers {phonenumbers.__version__} (tests/test_phone_agreement.py holds the import's phone checks to it)"


# A real PostgreSQL for the whole run (tests/pgserver.py): started by the first test that asks,
# stopped at the end. The store's tests run on it and on SQLite (tests/store/conftest.py).
@pytest.fixture(scope="session")
def pg_server() -> Iterator[Postgres]:
    if pg_bin() is None:
        pytest.skip("no PostgreSQL server binaries: install Debian's `postgresql` package")
    if os.getuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no `postgres` user to run PostgreSQL as")
    server = Postgres()
    try:
        yield server
    finally:
        server.close()


_pg_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_template(pg_server: Postgres) -> str:
    """A database migrated once to the latest schema, the template of each test's database."""
    from appliance.store.db import Database

    pg_server.psql("CREATE DATABASE dialbox_template")
    db = Database(pg_server.dsn("dialbox_template"))
    try:
        db.migrate()
    finally:
        db.close()
    return "dialbox_template"


@pytest.fixture
def pg_url(pg_server: Postgres, pg_template: str) -> Iterator[str]:
    """A fresh migrated database of its own for one test: its URL (the superuser's, no password)."""
    name = f"dialbox_t{next(_pg_names)}"
    pg_server.psql(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    try:
        yield pg_server.dsn(name)
    finally:
        pg_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
