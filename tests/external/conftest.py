"""A real PostgreSQL shared by the whole run (tests/pgserver.py, tests/conftest.py), and a
customer database in it with the German seed's table: CampaignName, ContactSuccessful, LastState, RedialTime, NumberOfContacts."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.pgserver import Postgres

PASSWORD = "s3kret-pw"
_names = itertools.count(1)

# The customer's table, and a log of every change to its state columns, in commit order:
# what proves the write-backs arrived in order.
SCHEMA = """
CREATE TABLE kontakte (
    id integer PRIMARY KEY,
    "CampaignName" text,
    "ContactSuccessful" integer NOT NULL DEFAULT 0,
    "LastState" integer,
    "RedialTime" timestamp,
    "NumberOfContacts" integer NOT NULL DEFAULT 0,
    "Phone1" text,
    "Name" text
);
CREATE TABLE changes (seq bigserial PRIMARY KEY, id integer, state integer, last integer,
                      attempts integer);
CREATE FUNCTION log_change() RETURNS trigger AS $$
BEGIN
  INSERT INTO changes(id, state, last, attempts)
  VALUES (NEW.id, NEW."ContactSuccessful", NEW."LastState", NEW."NumberOfContacts");
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER kontakte_log AFTER UPDATE ON kontakte FOR EACH ROW EXECUTE FUNCTION log_change();
ALTER TABLE kontakte OWNER TO dialbox;
ALTER TABLE changes OWNER TO dialbox;
"""


@pytest.fixture(scope="session")
def pg(pg_server: Postgres) -> Postgres:
    """The shared server with the role `dialbox` the box logs in as (password PASSWORD)."""
    pg_server.psql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dialbox') THEN"
        f" CREATE ROLE dialbox LOGIN PASSWORD '{PASSWORD}'; END IF; END $$"
    )
    return pg_server


class Customer:
    """One customer database with the `kontakte` table, written as the customer would (psql)."""

    def __init__(self, pg: Postgres, name: str) -> None:
        self.pg = pg
        self.name = name
        pg.psql(f"CREATE DATABASE {name} OWNER dialbox")
        pg.psql(SCHEMA, db=name)

    def sql(self, sql: str) -> list[list[str]]:
        out = self.pg.psql(sql, db=self.name)
        return [line.split("|") for line in out.splitlines() if line]

    def add(self, first: int, count: int, campaign: str, *, state: int = 0) -> None:
        self.sql(
            'INSERT INTO kontakte(id, "CampaignName", "ContactSuccessful", "Phone1", "Name")'
            f" SELECT i, '{campaign}', {state}, '(212) 555-' || lpad((100 + i % 800)::text, 4, '0'),"
            f" 'Kunde ' || i FROM generate_series({first}, {first + count - 1}) AS i"
        )

    def states(self, campaign: str) -> dict[int, int]:
        rows = self.sql(
            f'SELECT id, "ContactSuccessful" FROM kontakte WHERE "CampaignName" = \'{campaign}\''
        )
        return {int(i): int(s) for i, s in rows}

    def row(self, key: int) -> tuple[int, int | None, str, int]:
        [[state, last, redial, count]] = self.sql(
            'SELECT "ContactSuccessful", "LastState", coalesce(extract(epoch FROM'
            f' "RedialTime")::text, \'\'), "NumberOfContacts" FROM kontakte WHERE id = {key}'
        )
        return int(state), int(last) if last else None, redial, int(count)


@pytest.fixture
def customer(pg: Postgres) -> Customer:
    return Customer(pg, f"crm{next(_names)}")


def list_config(pg: Postgres, customer: Customer, password_file: Path, extra: str = "") -> str:
    """The YAML of an `external_lists` entry named crm over the customer's database."""
    return (
        "external_lists:\n"
        f'  - name: crm\n    url: "{pg.url(customer.name)}"\n'
        f"    password_file: {password_file}\n    table: kontakte\n"
        "    columns: {bp1: Name}\n    interval: 0.2\n    retry_min: 0.2\n    retry_max: 1\n"
        + extra
    )
