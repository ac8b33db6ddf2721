"""Opening the database: pragmas, the one writer connection, and the user_version migration ladder."""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import apsw

from appliance.errors import DialboxError

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaTooNew(DialboxError):
    """The database was written by a newer dialbox than this one."""


POSTGRESQL = "postgresql"
SQLITE = "sqlite"


def is_postgresql(url_or_path: str | Path) -> bool:
    return str(url_or_path).startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


def sqlite_path(url_or_path: str | Path) -> str:
    """`sqlite:///path` (relative; `sqlite:////abs/path` absolute, as SQLAlchemy writes them)
    or a bare path, as the path SQLite opens."""
    text = str(url_or_path)
    return text[len("sqlite:///") :] if text.startswith("sqlite:///") else text


def redact(url: str) -> str:
    """A PostgreSQL URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def migrations(engine: str = SQLITE) -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every numbered migration shipped for `engine`, in order."""
    found = []
    folder = "migrations_pg" if engine == POSTGRESQL else "migrations"
    for entry in resources.files("appliance.store").joinpath(folder).iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..N without gaps, found {versions}")
    return found


# How long a connection waits for another's write transaction before SQLite says busy. An
# import writes in chunks of tens of milliseconds (store.imports), so this is never reached
# while the daemon runs; it covers other processes (a CLI command writing while it dials).
BUSY_TIMEOUT_MS = 5000


class WriteGate:
    """Which of this process's connections writes next: urgent writers (the dial loop and the
    API's own writes on the daemon's connection) before background ones (import chunks).

    SQLite hands its write lock to whoever polls first after it is released, so a waiting
    writer can be overtaken again and again by an importer that commits and begins its next
    chunk at once. Within one process the gate decides instead: a background writer does not
    begin while an urgent one waits, and an urgent one waits at most for the chunk in progress.
    Re-entrant per thread (a transaction inside a transaction on another connection)."""

    # After an urgent writer, background ones keep off this long: the dial loop writes several
    # times in one step (a round's leases), and waiting behind a chunk for each of them added
    # up to half a second of a blocked event loop during 20 uploads.
    URGENT_GRACE = 0.05

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._owner: int | None = None
        self._depth = 0
        self._urgent_waiting = 0
        self._urgent_until = 0.0

    @contextmanager
    def hold(self, *, urgent: bool) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
            else:
                if urgent:
                    self._urgent_waiting += 1
                try:
                    while True:
                        if self._owner is None and (urgent or not self._urgent_waiting):
                            rest = 0.0 if urgent else self._urgent_until - time.monotonic()
                            if rest <= 0:
                                break
                            self._cond.wait(rest)  # the urgent writer's grace
                        else:
                            self._cond.wait()
                finally:
                    if urgent:
                        self._urgent_waiting -= 1
                self._owner, self._depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                    if urgent:  # depth 0: this is the outermost hold, the one that acquired
                        self._urgent_until = time.monotonic() + self.URGENT_GRACE
                    self._cond.notify_all()


GATE = WriteGate()


STATE_DIR_MODE = 0o750  # the directory the database is created in, when this creates it
DB_FILE_MODE = 0o640  # the database; SQLite gives its -wal and -shm the database file's mode


def _create_private(path: Path) -> None:
    """Create the database's directory (0750) and an empty database file (0640) unless they
    exist, whatever the umask: SQLite itself would create the file 0644 minus the umask. An
    existing file keeps its mode."""
    path.parent.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, DB_FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


_PG_GENERATIONS = itertools.count()


_PG_GENERATIONS = itertools.count()


class Database:
    """The writer connection. Use `with db.transaction():` for anything that writes.

    `path` is a SQLite file (or `sqlite:///file`, or `:memory:`), or a `postgresql://` URL:
    then `conn` is a store.pg.PgConnection, which speaks apsw's API over psycopg, and `engine`
    says which (store/dialect.py holds the SQL that differs)."""

    conn: Any

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.readonly = readonly
        if is_postgresql(path):
            from appliance.store.pg import PgConnection  # psycopg only when asked for

            self.engine = POSTGRESQL
            self.path = str(path).replace("postgresql+psycopg://", "postgresql://")
            self.conn = PgConnection(self.path)
            if readonly:
                self.conn.execute("SET default_transaction_read_only = on")
            return
        self.engine = SQLITE
        self.path = sqlite_path(path)
        if self.path != ":memory:" and not readonly:
            _create_private(Path(self.path))
        flags = (
            apsw.SQLITE_OPEN_READONLY
            if readonly
            else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
        )
        try:
            self.conn = apsw.Connection(self.path, flags=flags)
        except apsw.CantOpenError:
            raise DialboxError(f"cannot open database {self.path}") from None
        self.conn.set_busy_timeout(BUSY_TIMEOUT_MS)
        if not readonly:
            # 8 KiB pages (for a database this creates; fixed afterwards): an import of 1M
            # contacts feeds B-trees half as deep in pages and writes half as many WAL frames
            # (bench/import_csv.py: the inserting process 20% faster than with 4 KiB).
            self.conn.execute("PRAGMA page_size=8192")
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")

    @property
    def postgresql(self) -> bool:
        return self.engine == POSTGRESQL

    @property
    def local_files(self) -> bool:
        """Whether the store keeps files beside it (a SQLite file: staged imports, reject
        reports); not `:memory:`, not PostgreSQL, whose boxes share no directory."""
        return not self.postgresql and self.path != ":memory:"

    @property
    def where(self) -> str:
        """The database as messages name it (a URL without its password)."""
        return redact(self.path) if self.postgresql else self.path

    @property
    def version(self) -> int:
        if self.postgresql:
            if not self.scalar("SELECT to_regclass('dialbox_schema') IS NOT NULL"):
                return 0
            return int(self.scalar("SELECT coalesce(max(version), 0) FROM dialbox_schema") or 0)
        row = self.conn.execute("PRAGMA user_version").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> int:
        """Apply pending migrations, each in one transaction; refuse a database from the future."""
        ladder = migrations(POSTGRESQL) if self.postgresql else migrations()
        latest = ladder[-1][0] if ladder else 0
        current = self.version
        if current > latest:
            raise SchemaTooNew(
                f"database {self.where} has schema version {current}, but this dialbox only knows "
                f"up to {latest}: it was written by a newer dialbox. Install that version again "
                f"(or restore the database backup made before the upgrade)."
            )
        pending = [(v, name, sql) for v, name, sql in ladder if v > current]
        if not pending:
            return latest
        if self.postgresql:
            return self._migrate_pg(pending, latest)
        # Foreign keys off while migrating, as SQLite's procedure for remaking a table asks
        # (0009 remakes `campaigns`: dropping the old one must not cascade to its contacts); each
        # migration commits only if it left no reference broken that was not broken before.
        self.conn.execute("PRAGMA foreign_keys=OFF")
        try:
            for version, name, sql in pending:
                log.info("applying migration %s to %s", name, self.path)
                with self.conn:
                    before = self._broken_references()
                    self.conn.execute(sql)
                    broken = self._broken_references() - before
                    if broken:
                        raise RuntimeError(
                            f"migration {name} would leave {len(broken)} broken references, "
                            f"e.g. {sorted(broken)[:3]}; nothing of it was applied"
                        )
                    self.conn.execute(f"PRAGMA user_version = {version:d}")
        finally:
            self.conn.execute("PRAGMA foreign_keys=ON")
        return latest

    def _migrate_pg(self, pending: list[tuple[int, str, str]], latest: int) -> int:
        """PostgreSQL's ladder: each migration and its row in `dialbox_schema` in one
        transaction (PostgreSQL's DDL is transactional; constraints are checked as it runs).
        An advisory lock keeps two boxes starting at once from applying the same one twice."""
        with self.conn:
            self.conn.execute("SELECT pg_advisory_xact_lock(7306)")  # 'dialbox' schema lock
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS dialbox_schema (version integer PRIMARY KEY,"
                " applied_at double precision NOT NULL)"
            )
            current = int(self.scalar("SELECT coalesce(max(version), 0) FROM dialbox_schema") or 0)
            for version, name, sql in pending:
                if version <= current:
                    continue  # another box applied it while this one waited for the lock
                log.info("applying migration %s to %s", name, self.where)
                with self.conn:
                    self.conn.execute(sql)
                    self.conn.execute(
                        "INSERT INTO dialbox_schema(version, applied_at)"
                        " VALUES (?, extract(epoch FROM now()))",
                        (version,),
                    )
        return latest

    def _broken_references(self) -> set[tuple[str, int, str]]:
        """(table, rowid, parent) of every row whose foreign key names a missing row."""
        return {
            (str(table), int(rowid or 0), str(parent))
            for table, rowid, parent, _ in self.conn.execute("PRAGMA foreign_key_check")
        }

    @contextmanager
    def transaction(self, *, urgent: bool = True) -> Iterator[Any]:
        """A transaction (a savepoint when nested): committed on success, rolled back on error.

        The outermost one begins IMMEDIATE: it takes SQLite's write lock first, waiting for it
        in the busy handler. A deferred one that read first and then wrote while another
        connection held the lock would fail at once with BusyError (SQLite cannot wait there
        without risking deadlock), which is what the dial loop's lease did during an import.
        `urgent=False` (import chunks) lets this process's urgent writers go first (WriteGate).
        On PostgreSQL, writers do not exclude each other: a plain transaction, rows locked as
        they are written (or leased: store/dialect.py `lock_skip`)."""
        if self.readonly or self.postgresql or self.conn.in_transaction:
            with self.conn:
                yield self.conn
            return
        with GATE.hold(urgent=urgent):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    def generation(self) -> int:
        """A number that differs whenever the database may have changed since it was last read:
        a commit by any connection, this one's included, or a write in this one's open
        transaction (`Memo` keys what it keeps by it). `PRAGMA data_version` makes the
        connection look at the file, so another connection's commit is seen at once; apsw's
        `data_version` then counts this connection's own changes too."""
        if self.postgresql:  # no cheap test of a change there: never the same, nothing kept
            return next(_PG_GENERATIONS)
        self.conn.execute("PRAGMA data_version").fetchone()
        return int(self.conn.data_version())

    def scalar(self, sql: str, params: apsw.Bindings = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        self.conn.close()


def _no_lock_file(db_path: str | Path) -> bool:
    # PostgreSQL: boxes share the database and each writes its own way; no lock file
    return str(db_path) == ":memory:" or is_postgresql(db_path)


def _daemon_lock_path(db_path: str | Path) -> str:
    return f"{db_path}.daemon.lock"


def hold_daemon_lock(db_path: str | Path) -> int | None:
    """Mark the database as driven by a running daemon for as long as the returned descriptor
    stays open (the kernel drops the lock when the process dies, SIGKILL included): tools that
    write much, such as `dialbox import`, then take the paths that leave the dial loop room."""
    if _no_lock_file(db_path):
        return None
    fd = os.open(_daemon_lock_path(db_path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def daemon_running(db_path: str | Path) -> bool:
    """Whether a daemon holds the database (`hold_daemon_lock`)."""
    if _no_lock_file(db_path):
        return False
    try:
        fd = os.open(_daemon_lock_path(db_path), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock this process took
    return False
