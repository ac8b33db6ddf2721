"""Opening the database: pragmas, the one writer connection, and the user_version migration ladder."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import apsw

from appliance.errors import DialboxError

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaTooNew(DialboxError):
    """The database was written by a newer dialbox than this one."""


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every numbered migration shipped, in order."""
    found = []
    for entry in resources.files("appliance.store").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..N without gaps, found {versions}")
    return found


class Database:
    """The writer connection. Use `with db.transaction():` for anything that writes."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:" and not readonly:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        flags = (
            apsw.SQLITE_OPEN_READONLY
            if readonly
            else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
        )
        try:
            self.conn = apsw.Connection(self.path, flags=flags)
        except apsw.CantOpenError:
            raise DialboxError(f"cannot open database {self.path}") from None
        self.conn.set_busy_timeout(5000)
        if not readonly:
            # 8 KiB pages (for a database this creates; fixed afterwards): an import of 1M
            # contacts feeds B-trees half as deep in pages and writes half as many WAL frames
            # (bench/import_csv.py: the inserting process 20% faster than with 4 KiB).
            self.conn.execute("PRAGMA page_size=8192")
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")

    @property
    def version(self) -> int:
        row = self.conn.execute("PRAGMA user_version").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> int:
        """Apply pending migrations, each in one transaction; refuse a database from the future."""
        ladder = migrations()
        latest = ladder[-1][0] if ladder else 0
        current = self.version
        if current > latest:
            raise SchemaTooNew(
                f"database {self.path} has schema version {current}, but this dialbox only knows "
                f"up to {latest}: it was written by a newer dialbox. Install that version again "
                f"(or restore the database backup made before the upgrade)."
            )
        for version, name, sql in ladder:
            if version <= current:
                continue
            log.info("applying migration %s to %s", name, self.path)
            with self.conn:
                self.conn.execute(sql)
                self.conn.execute(f"PRAGMA user_version = {version:d}")
        return latest

    @contextmanager
    def transaction(self) -> Iterator[apsw.Connection]:
        """A transaction (a savepoint when nested): committed on success, rolled back on error."""
        with self.conn:
            yield self.conn

    def scalar(self, sql: str, params: apsw.Bindings = ()) -> apsw.SQLiteValue:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        self.conn.close()


def open_database(path: str | Path) -> Database:
    """Open (creating if needed) and migrate the database at `path`."""
    db = Database(path)
    db.migrate()
    return db
