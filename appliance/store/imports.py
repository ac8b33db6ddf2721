"""The imports table and an import's files: contact rows inserted and marked DNC, staged
imports (checked aside by `importing`) published in short transactions, and recovery at open."""

from __future__ import annotations

import array
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw

from appliance.domain import ROW_FIELDS, ContactState
from appliance.errors import DialboxError, NotFound
from appliance.store import dialect
from appliance.store.campaigns import audit
from appliance.store.counts import add_imported
from appliance.store.db import Database

log = logging.getLogger(__name__)

# The contact columns a row fills, in `ROW_FIELDS` order.
ROW_COLUMNS = tuple(
    f"zs{field[-1]}" if field.startswith("zones") else field for field in ROW_FIELDS
)


def begin(db: Database, campaign_id: int, name: str, source: str, now: float, status: str) -> int:
    """The import's row (in the caller's transaction), once its campaign is known to exist."""
    if db.scalar("SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)) is None:
        raise NotFound(f"campaign {name!r} was deleted")
    db.conn.execute(
        "INSERT INTO imports(campaign_id, source, started_at, status) VALUES (?, ?, ?, ?)",
        (campaign_id, source, now, status),
    )
    return int(db.conn.last_insert_rowid())


def zone_ids(db: Database) -> dict[str, int]:
    """The zone sets the store knows, by their zone keys."""
    return {str(z): int(i) for z, i in db.conn.execute("SELECT zones, id FROM zone_sets")}


def last_contact_id(db: Database) -> int:
    """The highest contact id: an import's new rows are above it."""
    return int(db.scalar("SELECT ifnull(max(id), 0) FROM contacts") or 0)


def insert_rows(
    db: Database,
    insert: str,
    rows: list[Any],
    new_zones: Iterable[tuple[int, str]],
    campaign_id: int,
) -> int:
    """Insert checked rows with `insert_sql`'s statement; how many were new (not duplicates).
    Counted as the campaign's Pending contacts in the same transaction (store/counts.py)."""
    conn = db.conn
    if new_zones:
        # Both import processes may introduce the same zone set, with the same id.
        conn.executemany(
            dialect.of(db).insert_or_ignore("zone_sets(id, zones) VALUES (?, ?)"), new_zones
        )
    if not rows:
        return 0
    before = conn.total_changes()
    conn.executemany(insert, rows)
    added = int(conn.total_changes() - before)
    add_imported(db, campaign_id, added)
    return added


def finish(
    db: Database,
    import_id: int,
    now: float,
    *,
    sha256: str,
    rows: int,
    imported: int,
    rejected: int,
    duplicates: int,
    dnc: int,
) -> None:
    """Record a one-transaction import's counts on its row (in its transaction)."""
    db.conn.execute(
        "UPDATE imports SET sha256 = ?, finished_at = ?, rows = ?, imported = ?,"
        " rejected = ?, duplicates = ?, dnc = ? WHERE id = ?",
        (sha256, now, rows, imported, rejected, duplicates, dnc, import_id),
    )


def start_publishing(
    db: Database, campaign_id: int, name: str, import_id: int, sha256: str, rows: int, rejected: int
) -> None:
    """The commit point of a staged import: checked whole, its row becomes `publishing`."""
    with db.transaction(urgent=False):
        if db.scalar("SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)) is None:
            raise NotFound(f"campaign {name!r} was deleted")
        db.conn.execute(
            "UPDATE imports SET status = 'publishing', sha256 = ?, rows = ?, rejected = ?"
            " WHERE id = ?",
            (sha256, rows, rejected, import_id),
        )


def insert_sql(db: Database, campaign_id: int, import_id: int, now: float) -> str:
    """One prepared INSERT for the whole file; the row binds in `ROW_FIELDS` order.

    Every column in table order, without names, the others at their defaults: apsw hashes the
    statement's text again for each row of `executemany`, and with the column names written out
    that was a twentieth of the insert (bench/import_csv.py)."""
    stamp = repr(float(now))
    fixed = {
        "campaign_id": f"{campaign_id:d}",
        "import_id": f"{import_id:d}",
        "created_at": stamp,
        "updated_at": stamp,
    }
    bound = {column: f"?{n}" for n, column in enumerate(ROW_COLUMNS, 1)}
    d = dialect.of(db)
    columns = d.columns(db, "contacts")
    values = [
        bound.get(name) or fixed.get(name) or str(default or d.default) for name, default in columns
    ]
    missing = set(bound) - {name for name, _ in columns}
    if missing:
        raise DialboxError(f"the contacts table lacks {', '.join(sorted(missing))}")
    return d.insert_or_ignore(f"contacts VALUES({','.join(values)})")


def _on_dnc(column: str) -> str:
    return (
        f"EXISTS (SELECT 1 FROM dnc WHERE dnc.e164 = contacts.{column}"
        " AND (dnc.campaign_id IS NULL OR dnc.campaign_id = :campaign)"
        " AND (dnc.expires_at IS NULL OR dnc.expires_at > :now))"
    )


# A contact whose every number is on a DNC or block list (global or the campaign's) is
# imported already closed as DNC Listed (SPEC D7); the dialer re-checks at dial time anyway.
_MARK_DNC = (
    "UPDATE contacts SET state = :state WHERE id > :after AND campaign_id = :campaign AND "
    + " AND ".join(
        [_on_dnc("e164_1")] + [f"(e164_{i} IS NULL OR {_on_dnc(f'e164_{i}')})" for i in range(2, 6)]
    )
)


def campaign_keys(db: Database, campaign_id: int) -> bytes:
    """The dedup keys of the campaign's contacts, as array('q') holds them."""
    keys = db.conn.execute("SELECT dedup_key FROM contacts WHERE campaign_id = ?", (campaign_id,))
    return array.array("q", (key for (key,) in keys)).tobytes()


def drop_index(db: Database, name: str) -> str:
    """Drop index `name` (in the transaction); the statement that makes it again."""
    return _drop(db, "index", name)


# The contacts' insert trigger (migration 0014): it skips an import's rows, but even so each
# row runs its program (bench/import_csv.py: 18% slower), and an INSERT ... SELECT into a
# table with an insert trigger copies its rows to a temporary table first (a staged import's
# publish: twice as long). The bulk path drops it for its one transaction, as it drops
# contacts_dedup, and a publish for each chunk's: no other connection sees it missing (the
# drop and the CREATE again are in the writing transaction), and a crash rolls the drop back
# with the rows.
COUNTS_TRIGGER = "campaign_counts_insert"


def drop_trigger(db: Database, name: str) -> str:
    """Drop trigger `name` (in the transaction); the statement that makes it again."""
    return _drop(db, "trigger", name)


def _drop(db: Database, kind: str, name: str) -> str:
    sql = db.scalar("SELECT sql FROM sqlite_master WHERE type = ? AND name = ?", (kind, name))
    if not isinstance(sql, str):
        raise DialboxError(f"the database lacks the {kind} {name}")
    db.conn.execute(f"DROP {kind.upper()} {name}")
    return sql


def mark_dnc(db: Database, campaign_id: int, after: int, now: float) -> int:
    """Close this import's contacts whose every number is listed; how many that was."""
    active = db.scalar(
        "SELECT 1 FROM dnc WHERE (campaign_id IS NULL OR campaign_id = ?)"
        " AND (expires_at IS NULL OR expires_at > ?) LIMIT 1",
        (campaign_id, now),
    )
    if not active:
        return 0
    db.conn.execute(
        _MARK_DNC,
        {
            "state": str(ContactState.DNC_LISTED),
            "after": after,
            "campaign": campaign_id,
            "now": now,
        },
    )
    # changes(), not a total_changes() difference: that also counts the rows the contacts'
    # triggers change (campaign_counts, migration 0014)
    return int(db.conn.changes())


# -- staged imports: checked aside, then published in short transactions --------------------
#
# 1. `staging`: an `imports` row says so; the file is read and checked (in a worker process for
#    big files) into `<db>.imports/<id>.stage`, a database of its own, and its rejects into
#    `<id>.rejects.csv`. Nothing of it is in `contacts`: no query, count or export sees it.
#    A failure or a crash here leaves nothing: the row and the files are removed (at once, or
#    by `recover_imports` at the next open).
# 2. The commit point: the import's new zone sets go into `zone_sets` (remapping its rows'
#    zone ids if another import took the ids meanwhile), then the row becomes `publishing`.
# 3. `publishing`: chunks of its rows move into `contacts` (INSERT OR IGNORE: contacts_dedup
#    drops duplicates, also against imports publishing at the same time), each chunk in one
#    short transaction that also advances `imports.published`; the last one makes it `done`.
#    A crash here is rolled forward by `recover_imports`: the file lands whole.
#
# Each importing process holds an exclusive lock on `<id>.lock` while it works, so recovery in
# another process (a CLI command, the daemon starting) never touches an import still running.

PUBLISH_TARGET_SECONDS = 0.01  # a publishing transaction's goal (the dial loop may wait one)
PUBLISH_MIN_ROWS, PUBLISH_MAX_ROWS = 250, 20_000
_ZONE_FIELDS = tuple(n for n, field in enumerate(ROW_FIELDS) if field.startswith("zones"))
# The staging database's table: one column per `ROW_FIELDS` field (c1, c2, …), in file order
# (rowid 1, 2, …); `zones` holds the zone sets its rows introduced, by the ids it gave them.
# `importing.pipeline.stage` writes it, `publish` reads it.
STAGE_COLUMNS = tuple(f"c{n}" for n in range(1, len(ROW_FIELDS) + 1))
STAGE_SCHEMA = (
    f"CREATE TABLE rows({', '.join(STAGE_COLUMNS)});"
    "CREATE TABLE zones(id INTEGER PRIMARY KEY, zones TEXT NOT NULL);"
)


def staging_dir(db: Database) -> Path:
    """Where staged imports and the imports' reject reports are kept, beside the database."""
    path = Path(db.path)
    return path.with_name(path.name + ".imports")


def rejects_file(db: Database, import_id: int) -> Path:
    """The full reject report (CSV: line, field, reason, value) of an import."""
    return staging_dir(db) / f"{import_id:d}.rejects.csv"


def work_files(db: Database, import_id: int) -> tuple[Path, Path, Path]:
    """The staging database, the spooled upload and the lock of an import."""
    base = staging_dir(db)
    return (
        base / f"{import_id:d}.stage",
        base / f"{import_id:d}.upload",
        base / f"{import_id:d}.lock",
    )


@contextlib.contextmanager
def claim(lock_path: Path, *, wait: bool) -> Iterator[bool]:
    """Hold the import's lock file (True), or say someone else holds it (False, when not waiting)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def discard(db: Database, import_id: int) -> None:
    """Forget an import still staging: its row and its files (nothing of it is in contacts)."""
    with contextlib.suppress(apsw.Error), db.transaction(urgent=False):
        db.conn.execute("DELETE FROM imports WHERE id = ? AND status = 'staging'", (import_id,))
    for path in (*work_files(db, import_id), rejects_file(db, import_id)):
        path.unlink(missing_ok=True)


def adopt_zones(db: Database, stage_path: Path) -> None:
    """Put the zone sets the staged rows use into zone_sets; where another import took an id
    meanwhile for other zones, give ours a new id and rewrite the staged rows to it."""
    stage = apsw.Connection(str(stage_path))
    try:
        new = [(int(i), str(z)) for i, z in stage.execute("SELECT id, zones FROM zones")]
        if not new:
            return
        moved: dict[int, int] = {}
        with db.transaction(urgent=False):
            for zone_id, zones in new:
                found = db.scalar("SELECT id FROM zone_sets WHERE zones = ?", (zones,))
                if found is None:
                    taken = db.scalar("SELECT 1 FROM zone_sets WHERE id = ?", (zone_id,))
                    if taken is None:
                        db.conn.execute(
                            "INSERT INTO zone_sets(id, zones) VALUES (?, ?)", (zone_id, zones)
                        )
                        found = zone_id
                    else:
                        db.conn.execute("INSERT INTO zone_sets(zones) VALUES (?)", (zones,))
                        found = db.conn.last_insert_rowid()
                if int(found) != zone_id:
                    moved[zone_id] = int(found)
        if moved:
            cases = " ".join(f"WHEN {old:d} THEN {to:d}" for old, to in moved.items())
            sets = ", ".join(
                f"{STAGE_COLUMNS[n]} = CASE {STAGE_COLUMNS[n]} {cases} ELSE {STAGE_COLUMNS[n]} END"
                for n in _ZONE_FIELDS
            )
            with stage:
                stage.execute(f"UPDATE rows SET {sets}")
                stage.executemany(
                    "UPDATE zones SET id = ? WHERE id = ?", [(t, o) for o, t in moved.items()]
                )
    finally:
        stage.close()


@dataclass
class Published:
    """A staged import's counts, as its `imports` row has them while it is published."""

    file: str
    campaign: str
    import_id: int
    rows: int
    rejected: int
    sha256: str
    imported: int = 0
    dnc: int = 0
    duplicates: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The audit row's detail where no import report is at hand (recovery), in the words
        and order of `importing.report.ImportReport.as_dict`."""
        return {
            "file": self.file,
            "campaign": self.campaign,
            "import_id": self.import_id,
            "layout": "ecm",
            "rows": self.rows,
            "imported": self.imported,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "dnc": self.dnc,
        }


def publish(
    db: Database,
    import_id: int,
    *,
    now: float,
    actor: str,
    detail_source: str,
    describe: Callable[[Published], dict[str, Any]] = Published.as_dict,
) -> Published:
    """Move a `publishing` import's staged rows into contacts, a chunk per short transaction,
    from where it stopped; the last chunk makes it `done` and writes the audit row, whose
    detail `describe` gives (the importer's report; by default the counts)."""
    stage_path = work_files(db, import_id)[0]
    row = db.conn.execute(
        "SELECT i.campaign_id, c.name, i.published, i.rows, i.rejected, i.imported, i.dnc,"
        " i.sha256, i.source FROM imports i LEFT JOIN campaigns c ON c.id = i.campaign_id"
        " WHERE i.id = ?",
        (import_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"import {import_id} is gone (its campaign was deleted)")
    campaign_id, name, published, rows, rejected, imported, dnc, sha256, source = row
    report = Published(
        file=str(source),
        campaign=str(name),
        import_id=import_id,
        rows=int(rows),
        rejected=int(rejected),
        sha256=str(sha256 or ""),
        imported=int(imported),
        dnc=int(dnc),
    )
    conn = db.conn
    stamp = repr(float(now))
    select = (
        f"INSERT OR IGNORE INTO main.contacts(campaign_id, import_id, created_at, updated_at,"
        f" {', '.join(ROW_COLUMNS)}) SELECT {int(campaign_id):d}, {import_id:d}, {stamp}, {stamp},"
        f" {', '.join(STAGE_COLUMNS)} FROM stage.rows WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"
    )
    total = None
    foreign_keys = int(db.scalar("PRAGMA foreign_keys") or 0)
    conn.execute("PRAGMA foreign_keys = OFF")  # checked once per chunk instead, as in bulk
    # A chunk's commit must not copy the WAL back: it holds the write gate meanwhile, and the
    # dial loop waits behind it (0.5-1 s per copy during 20 uploads). The daemon checkpoints
    # in a thread of its own (daemon/runner.py); elsewhere the last close does.
    autocheckpoint = int(db.scalar("PRAGMA wal_autocheckpoint") or 0)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("ATTACH DATABASE ? AS stage", (str(stage_path),))
    try:
        total = int(db.scalar("SELECT ifnull(max(rowid), 0) FROM stage.rows") or 0)
        done = int(published)
        chunk = 2000
        while True:
            started = time.monotonic()
            with retrying_busy(db):
                if db.scalar("SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)) is None:
                    raise NotFound(f"campaign {name!r} was deleted during the import")
                last_before = int(db.scalar("SELECT ifnull(max(id), 0) FROM contacts") or 0)
                # Any insert trigger on contacts makes SQLite copy an INSERT ... SELECT's rows
                # to a temporary table first (publish took twice as long); the chunk's rows are
                # counted here instead, and the trigger is back before the commit.
                retrigger = drop_trigger(db, COUNTS_TRIGGER)
                before = conn.total_changes()
                conn.execute(select, (done, chunk))
                added = conn.total_changes() - before
                conn.execute(retrigger)
                add_imported(db, int(campaign_id), added)
                done = min(done + chunk, total)
                marked = mark_dnc(db, int(campaign_id), last_before, now) if added else 0
                report.imported += added
                report.dnc += marked
                finished = done >= total
                conn.execute(
                    "UPDATE imports SET published = ?, imported = imported + ?, dnc = dnc + ?"
                    " WHERE id = ?",
                    (done, added, marked, import_id),
                )
                if finished:
                    report.duplicates = report.rows - report.rejected - report.imported
                    conn.execute(
                        "UPDATE imports SET status = 'done', finished_at = ?, duplicates = ?"
                        " WHERE id = ?",
                        (now, report.duplicates, import_id),
                    )
                    detail = describe(report)
                    detail["source"] = detail_source
                    audit(db, actor, "contacts.import", str(name), detail, now)
            if finished:
                break
            took = max(time.monotonic() - started, 1e-4)
            chunk = int(
                min(max(chunk * PUBLISH_TARGET_SECONDS / took, PUBLISH_MIN_ROWS), PUBLISH_MAX_ROWS)
            )
    finally:
        conn.execute("DETACH DATABASE stage")
        conn.execute(f"PRAGMA foreign_keys = {foreign_keys:d}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {autocheckpoint:d}")
    stage_path.unlink(missing_ok=True)
    return report


@contextlib.contextmanager
def retrying_busy(db: Database) -> Iterator[None]:
    """A background transaction; when another process held the write lock beyond the busy
    timeout, wait for it again rather than fail an import past its commit point. (Only the
    BEGIN IMMEDIATE can be busy: once it succeeds the lock is ours.)"""
    stack = contextlib.ExitStack()
    for attempt in range(3):
        try:
            stack.enter_context(db.transaction(urgent=False))
            break
        except apsw.BusyError:
            if attempt == 2:
                raise
            log.warning("import: the database stayed locked; trying the chunk again")
    with stack:
        yield


def recover_imports(db: Database, now: float | None = None) -> list[str]:
    """At open: forget imports a crash left staging (nothing of them is in contacts) and roll
    forward those it left publishing. Imports another process is still working on (it holds
    their lock) are left alone. What was done, one sentence each."""
    if db.readonly or not db.local_files:  # PostgreSQL: imports are never staged
        return []
    unfinished = [
        (int(i), str(s))
        for i, s in db.conn.execute("SELECT id, status FROM imports WHERE status <> 'done'")
    ]
    said = []
    for import_id, status in unfinished:
        lock_path = work_files(db, import_id)[2]
        if not lock_path.parent.is_dir():
            lock_path.parent.mkdir(parents=True, exist_ok=True)
        with claim(lock_path, wait=False) as mine:
            if not mine:
                continue
            if status == "staging":
                discard(db, import_id)
                said.append(
                    f"import {import_id} was interrupted before it was checked whole: dropped"
                )
            elif not work_files(db, import_id)[0].exists():
                with db.transaction():
                    db.conn.execute("UPDATE imports SET status = 'done' WHERE id = ?", (import_id,))
                said.append(
                    f"import {import_id} was interrupted while publishing and its staged rows are lost: left partly imported"
                )
            else:
                report = publish(db, import_id, now=time.time() if now is None else now,
                                  actor="recovery", detail_source="recovery")  # fmt: skip
                said.append(
                    f"import {import_id} was interrupted while publishing: rolled forward ({report.imported} contacts in all)"
                )
        lock_path.unlink(missing_ok=True)
    for line in said:
        log.warning("%s", line)
    return said
