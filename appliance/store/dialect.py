"""The SQL that differs between the store's two engines, each difference in one place.

The store's queries are written once, in the SQL both engines speak; PostgreSQL's migration
0001 gives it the few SQLite functions they share (ifnull, total, the scalar max/min, a sum of
booleans), and store/pg.py binds SQLite's `?` and `:name` marks. What is left is here:
`of(db)` is the database's dialect, and each member is one construct written for each engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass
from appliance.store.db import Database


@dataclass(frozen=True)
class Dialect:
    name: str
    # SQLite's LIKE: case-insensitive for ASCII (PostgreSQL's ILIKE; its LIKE minds the case).
    like: str
    # Begins a read transaction whose statements all see one snapshot (PostgreSQL's default,
    # READ COMMITTED, takes one per statement).
    begin_snapshot: str
    # What `LIMIT :limit` is bound to for no limit.
    no_limit: int | None
    # Appended to a SELECT that leases: the rows it returns are locked by this transaction,
    # and rows another transaction holds are skipped, not waited for (PostgreSQL; SQLite's one
    # writer needs nothing).
    lock_skip: str

    def order_results(self, db: Database) -> None:
        """Before an attempt takes its place in the results feed (`seq`, the next after the
        largest): on PostgreSQL, wait for the transactions of other connections doing the same
        to end, so that results are numbered in the order they commit and none is numbered
        twice (SQLite's one writer orders them already). Held until this transaction ends."""
        if self.name == "postgresql":
            db.conn.execute("SELECT pg_advisory_xact_lock(?)", (RESULTS_LOCK,))

    @property
    def default(self) -> str:
        """A column's value in a VALUES list that leaves it at its default (SQLite: NULL,
        which its INTEGER PRIMARY KEY takes as the next id)."""
        return "NULL" if self.name == "sqlite" else "DEFAULT"

    def insert_or_ignore(self, rest: str) -> str:
        """An INSERT (`rest`: the table, its columns and values) that skips a row breaking a
        uniqueness constraint instead of failing."""
        if self.name == "sqlite":
            return f"INSERT OR IGNORE INTO {rest}"
        return f"INSERT INTO {rest} ON CONFLICT DO NOTHING"

    def columns(self, db: Database, table: str) -> list[tuple[str, str | None]]:
        """A table's columns in order: (name, default expression or None)."""
        if self.name == "sqlite":
            return [
                (str(name), None if default is None else str(default))
                for _, name, _, _, default, _ in db.conn.execute(f"PRAGMA table_info({table})")
            ]
        return [
            (str(name), None if default is None else str(default))
            for name, default in db.conn.execute(
                "SELECT column_name, column_default FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = ?"
                " ORDER BY ordinal_position",
                (table,),
            )
        ]

    def indexed_by(self, index: str) -> str:
        """A table's index named for the planner (SQLite's INDEXED BY; PostgreSQL plans alone)."""
        return f" INDEXED BY {index}" if self.name == "sqlite" else ""

    def not_indexed(self) -> str:
        """After a table: read it in its own order, no index (SQLite's NOT INDEXED)."""
        return " NOT INDEXED" if self.name == "sqlite" else ""

    def json_values(self, param: str) -> str:
        """A subquery of the text values of the JSON array bound at `param` (e.g. ':zones')."""
        if self.name == "sqlite":
            return f"SELECT value FROM json_each({param})"
        return f"SELECT json_array_elements_text(CAST({param} AS json))"

    def json_contains(self, column: str, param: str) -> str:
        """Whether the JSON array of texts in `column` holds the text bound at `param`."""
        if self.name == "sqlite":
            return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value = {param})"
        return f"jsonb_exists(CAST({column} AS jsonb), CAST({param} AS text))"

    def pairs(self, param: str) -> str:
        """The rows (n, lo, hi) of the JSON array of [lo, hi] number pairs bound at `param`,
        n counting from 0."""
        if self.name == "sqlite":
            return f"SELECT key, value->>0, value->>1 FROM json_each({param})"
        return (
            "SELECT CAST(n - 1 AS bigint), CAST(v->>0 AS double precision),"
            f" CAST(v->>1 AS double precision) FROM json_array_elements(CAST({param} AS json))"
            " WITH ORDINALITY AS t(v, n)"
        )

    def json_array(self, *values: str) -> str:
        """A JSON array of `values` (SQL expressions), as text."""
        if self.name == "sqlite":
            return f"json_array({', '.join(values)})"
        return f"CAST(json_build_array({', '.join(values)}) AS text)"

    def json_arrays(self, values: list[str], order: str) -> str:
        """An aggregate: the rows' JSON arrays of `values` in `order`, as one JSON array text
        (SQLite: '[]' for no rows; PostgreSQL: NULL — readers take both as empty)."""
        if self.name == "sqlite":
            return f"json_group_array(json_array({', '.join(values)}) ORDER BY {order})"
        return f"CAST(json_agg(json_build_array({', '.join(values)}) ORDER BY {order}) AS text)"

    def json_object(self, key: str, value: str) -> str:
        """An aggregate: the rows' `key`: `value` pairs as one JSON object text."""
        if self.name == "sqlite":
            return f"json_group_object({key}, {value})"
        return f"CAST(json_object_agg({key}, {value}) AS text)"

    @property
    def real(self) -> str:
        """The type of a floating-point number in a CAST."""
        return "REAL" if self.name == "sqlite" else "double precision"

    def decimal_text(self, v: str) -> str:
        """Whether the text `v` is a plain decimal number: digits, at most one point, a sign
        only first."""
        if self.name == "sqlite":
            return (
                f"{v} GLOB '*[0-9]*' AND {v} NOT GLOB '*[^0-9.+-]*' AND {v} NOT GLOB '*.*.*'"
                f" AND substr({v}, 2) NOT GLOB '*[+-]*'"
            )
        return (
            f"{v} ~ '[0-9]' AND {v} !~ '[^0-9.+-]' AND {v} !~ '[.].*[.]'"
            f" AND substr({v}, 2) !~ '[+-]'"
        )

    def trunc(self, expr: str) -> str:
        """`expr` (a number) as an integer, its fraction dropped (SQLite's CAST AS INTEGER)."""
        if self.name == "sqlite":
            return f"CAST({expr} AS INTEGER)"
        return f"CAST(trunc({expr}) AS bigint)"


RESULTS_LOCK = 0x5EC  # the advisory lock of the results feed's numbering (PostgreSQL)
SQLITE = Dialect("sqlite", like="LIKE", begin_snapshot="BEGIN", no_limit=-1, lock_skip="")
POSTGRESQL = Dialect(
    "postgresql",
    like="ILIKE",
    begin_snapshot="BEGIN ISOLATION LEVEL REPEATABLE READ",
    no_limit=None,
    lock_skip=" FOR UPDATE SKIP LOCKED",
)


def of(db: Database) -> Dialect:
    return POSTGRESQL if db.engine == "postgresql" else SQLITE


NUMBER_LOCK_CLASS = 0xD1A1  # the two-key advisory locks' class of phone numbers (PostgreSQL)


def lock_number(db: Database, number: str) -> None:
    """Inside a transaction that leases a call to `number` (an E.164) and has just read what
    was dialed to it: on PostgreSQL, wait for the other connections' transactions leasing the
    same number to end, so that a lease re-judges the number's calls in flight, day caps and
    lockouts (StorePlanner.recheck) only after the one before it committed. Held until this
    transaction ends; the two-key form's space is apart from RESULTS_LOCK's. SQLite's
    BEGIN IMMEDIATE serialises every lease already: nothing to do."""
    if db.engine == "postgresql":
        db.conn.execute(
            f"SELECT pg_advisory_xact_lock({NUMBER_LOCK_CLASS}, hashtext(?))", (number,)
        )
