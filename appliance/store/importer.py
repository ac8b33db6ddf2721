"""Importing a contact file into a campaign (SPEC D2): one transaction, deduplicated, DNC-checked."""

from __future__ import annotations

import array
import contextlib
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, TextIO

import apsw

from appliance.config.models import ColumnMapping
from appliance.domain import ContactState
from appliance.errors import DialboxError, NotFound
from appliance.importing.pipeline import (
    STAGE_COLUMNS,
    WORKER_MIN_BYTES,
    Batch,
    Finished,
    Job,
    Opened,
    Staged,
    messages,
    no_cycle_collection,
    stage_file,
)
from appliance.importing.reader import Columns
from appliance.importing.report import ImportReport, Reject, RejectWriter
from appliance.importing.rows import ROW_FIELDS
from appliance.store.campaigns import CampaignRow, audit
from appliance.store.db import Database

__all__ = ["ImportReport", "Reject", "import_file", "recover_imports", "rejects_file"]

log = logging.getLogger(__name__)

KEEP_REJECTS = 1_000  # rejects kept in the report; the CSV report has all of them
# Page cache for the import's duration (the dedup index takes random inserts). Measured on 1M
# rows: 32 MB imports as fast as 128 or 256 MB, and the process stays at 83 MB (191, 336).
_IMPORT_CACHE_KIB = 32_768


# A file with more rows than the contacts table holds imports faster when `contacts_dedup` is
# dropped inside the import's transaction and built again at its end (one sort) than when it
# takes each row (a random insert): the import then finds duplicates itself, knowing the
# campaign's keys. Files are guessed at no more than this many bytes a row.
BULK_MIN_BYTES = 8 << 20
_BYTES_PER_ROW = 256

# The contact columns a row fills, in `rows.ROW_FIELDS` order.
_ROW_COLUMNS = tuple(
    f"zs{field[-1]}" if field.startswith("zones") else field for field in ROW_FIELDS
)


def _insert_sql(conn: apsw.Connection, campaign_id: int, import_id: int, now: float) -> str:
    """One prepared INSERT for the whole file; the row binds in `rows.ROW_FIELDS` order.

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
    bound = {column: f"?{n}" for n, column in enumerate(_ROW_COLUMNS, 1)}
    columns = [
        (str(name), default)
        for _, name, _, _, default, _ in conn.execute("PRAGMA table_info(contacts)")
    ]
    values = [
        bound.get(name) or fixed.get(name) or str(default or "NULL") for name, default in columns
    ]
    missing = set(bound) - {name for name, _ in columns}
    if missing:
        raise DialboxError(f"the contacts table lacks {', '.join(sorted(missing))}")
    return f"INSERT OR IGNORE INTO contacts VALUES({','.join(values)})"


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


def _job(
    where: str,
    region: str,
    mappings: Mapping[str, ColumnMapping],
    mapping: str | None,
    zones: dict[str, int],
    known_keys: bytes | None = None,
) -> Job:
    """What the reading and checking of one file needs, as plain data (the worker's too)."""
    return Job(
        where=where,
        region=region,
        mappings={name: Columns.of(m) for name, m in mappings.items()},
        mapping=mapping,
        known_zones=zones,
        next_zone_id=max(zones.values(), default=0) + 1,
        known_keys=known_keys,
    )


def import_file(
    db: Database,
    campaign: CampaignRow,
    path_or_stream: str | Path | BinaryIO,
    *,
    region: str,
    mappings: Mapping[str, ColumnMapping],
    now: float,
    actor: str,
    source: str,
    mapping: str | None = None,
    rejects_out: TextIO | None = None,
    worker: bool | None = None,
    bulk: bool | None = None,
    staged: bool = False,
) -> ImportReport:
    """Import one file into `campaign`: all good rows land, or nothing does.

    By default in one transaction, which holds SQLite's write lock for the whole file: right
    for `dialbox import` and other tools, which keep the fast bulk path. `staged` (the daemon's
    uploads and hot folder) checks the file into a staging database of its own first and then
    publishes it in short transactions (`_import_staged`), so other writers (the dial loop)
    wait at most for one chunk.

    `mapping` names a column mapping (else one whose headers match, else the ECM column order);
    `rejects_out` receives the CSV reject report as the import runs; `worker` forces (True) or
    forbids (False) the parsing worker process, which by default is used for big files; `bulk`
    forces or forbids rebuilding the dedup index (BULK_MIN_BYTES), by default chosen by size.
    The full reject report is also kept as `rejects_file(db, import_id)` (file databases).
    """
    where = str(path_or_stream) if isinstance(path_or_stream, str | Path) else source
    if staged and db.path != ":memory:":
        return _import_staged(
            db, campaign, path_or_stream, where, region=region, mappings=mappings, now=now,
            actor=actor, source=source, mapping=mapping, rejects_out=rejects_out, worker=worker,
        )  # fmt: skip
    report = ImportReport(file=where, campaign=campaign.name)
    writers: list[RejectWriter] = []
    if rejects_out is not None:
        writers.append(RejectWriter(rejects_out))
    kept: list[TextIO] = []
    conn = db.conn
    previous_cache = db.scalar("PRAGMA cache_size")
    conn.execute(f"PRAGMA cache_size = -{_IMPORT_CACHE_KIB:d}")
    # Every row points at this campaign and at the import row made below, and the transaction
    # holds the write lock throughout, so SQLite's foreign-key lookups for each row (a
    # twentieth of the insert, bench/import_csv.py) would check nothing; the campaign's
    # existence is checked once instead. (The pragma does nothing inside an outer transaction.)
    foreign_keys = int(db.scalar("PRAGMA foreign_keys") or 0)
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        with no_cycle_collection(), db.transaction():
            if db.scalar("SELECT 1 FROM campaigns WHERE id = ?", (campaign.id,)) is None:
                raise NotFound(f"campaign {campaign.name!r} was deleted")
            conn.execute(
                "INSERT INTO imports(campaign_id, source, started_at) VALUES (?, ?, ?)",
                (campaign.id, source, now),
            )
            report.import_id = conn.last_insert_rowid()
            if db.path != ":memory:":
                keep_file = rejects_file(db, report.import_id)
                keep_file.parent.mkdir(parents=True, exist_ok=True)
                kept.append(keep_file.open("w", encoding="utf-8", newline=""))
                writers.append(RejectWriter(kept[0]))
            last_before = int(
                db.scalar("SELECT ifnull(max(id), 0) FROM contacts") or 0  # new rows are above
            )
            insert = _insert_sql(conn, campaign.id, report.import_id, now)
            zones = {str(z): int(i) for z, i in conn.execute("SELECT zones, id FROM zone_sets")}
            rebuild = None
            known_keys = None
            if bulk if bulk is not None else _big(path_or_stream, last_before):
                known_keys = _campaign_keys(db, campaign.id)
                rebuild = _drop_index(db, "contacts_dedup")
            job = _job(where, region, mappings, mapping, zones, known_keys)
            for message in messages(path_or_stream, job, worker):
                if isinstance(message, Batch):
                    _write_batch(db, insert, message, report, writers)
                elif isinstance(message, Opened):
                    report.layout = message.layout
                elif isinstance(message, Finished):
                    report.sha256 = message.sha256
            if rebuild is not None:
                conn.execute(rebuild)
            report.dnc = _mark_dnc(db, campaign.id, last_before, now)
            report.duplicates = report.rows - report.rejected - report.imported
            conn.execute(
                "UPDATE imports SET sha256 = ?, finished_at = ?, rows = ?, imported = ?,"
                " rejected = ?, duplicates = ?, dnc = ? WHERE id = ?",
                (
                    report.sha256,
                    now,
                    report.rows,
                    report.imported,
                    report.rejected,
                    report.duplicates,
                    report.dnc,
                    report.import_id,
                ),
            )
            detail = report.as_dict()
            detail.pop("rejects")
            detail["source"] = source
            audit(db, actor, "contacts.import", campaign.name, detail, now)
    except BaseException:
        for out in kept:
            out.close()
            Path(out.name).unlink(missing_ok=True)
        raise
    finally:
        conn.execute(f"PRAGMA foreign_keys = {foreign_keys:d}")
        conn.execute(f"PRAGMA cache_size = {int(previous_cache or -2000):d}")
    for out in kept:
        out.close()
        if not report.rejected:  # keep no empty reports (the record feed makes one per record)
            Path(out.name).unlink(missing_ok=True)
    log.info("%s", report.summary())
    return report


def _big(path_or_stream: str | Path | BinaryIO, table_rows: int) -> bool:
    """Whether the file is big, and likely to hold more rows than the table (BULK_MIN_BYTES)."""
    if not isinstance(path_or_stream, str | Path):
        return False
    try:
        size = Path(path_or_stream).stat().st_size
    except OSError:
        return False  # reading it says what is wrong
    return size >= BULK_MIN_BYTES and size // _BYTES_PER_ROW > table_rows


def _campaign_keys(db: Database, campaign_id: int) -> bytes:
    """The dedup keys of the campaign's contacts, as array('q') holds them."""
    keys = db.conn.execute("SELECT dedup_key FROM contacts WHERE campaign_id = ?", (campaign_id,))
    return array.array("q", (key for (key,) in keys)).tobytes()


def _drop_index(db: Database, name: str) -> str:
    """Drop index `name` (in the transaction); the statement that makes it again."""
    sql = db.scalar("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,))
    if not isinstance(sql, str):
        raise DialboxError(f"the database lacks the index {name}")
    db.conn.execute(f"DROP INDEX {name}")
    return sql


def _write_batch(
    db: Database, insert: str, batch: Batch, report: ImportReport, writers: list[RejectWriter]
) -> None:
    conn = db.conn
    if batch.new_zones:
        # Both import processes may introduce the same zone set, with the same id.
        conn.executemany(
            "INSERT OR IGNORE INTO zone_sets(id, zones) VALUES (?, ?)", batch.new_zones
        )
    if rows := batch.row_list():
        before = conn.total_changes()
        conn.executemany(insert, rows)
        report.imported += conn.total_changes() - before
    report.rows += batch.checked + batch.rejected_rows
    report.rejected += batch.rejected_rows
    if batch.rejects:
        room = KEEP_REJECTS - len(report.rejects)
        report.rejects.extend(batch.rejects[: max(room, 0)])
        report.rejects_omitted += max(len(batch.rejects) - max(room, 0), 0)
        for reject in batch.rejects:
            report.by_reason[reject.reason] = report.by_reason.get(reject.reason, 0) + 1
        for writer in writers:
            writer.write(batch.rejects)


def _mark_dnc(db: Database, campaign_id: int, after: int, now: float) -> int:
    """Close this import's contacts whose every number is listed; how many that was."""
    active = db.scalar(
        "SELECT 1 FROM dnc WHERE (campaign_id IS NULL OR campaign_id = ?)"
        " AND (expires_at IS NULL OR expires_at > ?) LIMIT 1",
        (campaign_id, now),
    )
    if not active:
        return 0
    before = db.conn.total_changes()
    db.conn.execute(
        _MARK_DNC,
        {
            "state": str(ContactState.DNC_LISTED),
            "after": after,
            "campaign": campaign_id,
            "now": now,
        },
    )
    return int(db.conn.total_changes() - before)


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


def staging_dir(db: Database) -> Path:
    """Where staged imports and the imports' reject reports are kept, beside the database."""
    path = Path(db.path)
    return path.with_name(path.name + ".imports")


def rejects_file(db: Database, import_id: int) -> Path:
    """The full reject report (CSV: line, field, reason, value) of an import."""
    return staging_dir(db) / f"{import_id:d}.rejects.csv"


def _work_files(db: Database, import_id: int) -> tuple[Path, Path, Path]:
    """The staging database, the spooled upload and the lock of an import."""
    base = staging_dir(db)
    return (
        base / f"{import_id:d}.stage",
        base / f"{import_id:d}.upload",
        base / f"{import_id:d}.lock",
    )


@contextlib.contextmanager
def _claim(lock_path: Path, *, wait: bool) -> Iterator[bool]:
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


def _import_staged(
    db: Database,
    campaign: CampaignRow,
    path_or_stream: str | Path | BinaryIO,
    where: str,
    *,
    region: str,
    mappings: Mapping[str, ColumnMapping],
    now: float,
    actor: str,
    source: str,
    mapping: str | None,
    rejects_out: TextIO | None,
    worker: bool | None,
) -> ImportReport:
    report = ImportReport(file=where, campaign=campaign.name)
    staging_dir(db).mkdir(parents=True, exist_ok=True)
    with db.transaction(urgent=False):
        if db.scalar("SELECT 1 FROM campaigns WHERE id = ?", (campaign.id,)) is None:
            raise NotFound(f"campaign {campaign.name!r} was deleted")
        db.conn.execute(
            "INSERT INTO imports(campaign_id, source, started_at, status) VALUES (?, ?, ?, 'staging')",
            (campaign.id, source, now),
        )
        report.import_id = import_id = db.conn.last_insert_rowid()
        zones = {str(z): int(i) for z, i in db.conn.execute("SELECT zones, id FROM zone_sets")}
    stage_path, upload_path, lock_path = _work_files(db, import_id)
    rejects_path = rejects_file(db, import_id)
    with _claim(lock_path, wait=True):
        try:
            if not isinstance(path_or_stream, str | Path):
                # The worker process reads a file: spool the upload (it is in memory anyway).
                with upload_path.open("wb") as spool:
                    shutil.copyfileobj(path_or_stream, spool, 1 << 20)
                path_or_stream = upload_path
            if worker is None:
                worker = (os.cpu_count() or 1) > 1 and Path(path_or_stream).stat().st_size >= (
                    WORKER_MIN_BYTES >> 3
                )
            job = _job(where, region, mappings, mapping, zones)
            stage_path.unlink(missing_ok=True)
            staged = stage_file(
                path_or_stream, job, str(stage_path), str(rejects_path), KEEP_REJECTS, worker
            )
            upload_path.unlink(missing_ok=True)
            _adopt_zones(db, stage_path)
            with db.transaction(urgent=False):
                if db.scalar("SELECT 1 FROM campaigns WHERE id = ?", (campaign.id,)) is None:
                    raise NotFound(f"campaign {campaign.name!r} was deleted")
                db.conn.execute(
                    "UPDATE imports SET status = 'publishing', sha256 = ?, rows = ?, rejected = ?"
                    " WHERE id = ?",
                    (staged.sha256, staged.rows, staged.rejected, import_id),
                )
        except BaseException:
            _discard(db, import_id)
            raise
        _fill_report(report, staged)
        try:
            _publish(db, import_id, now=now, actor=actor, detail_source=source, report=report)
        except NotFound:  # the campaign was deleted, and with it the import and its contacts
            for path in (*_work_files(db, import_id), rejects_file(db, import_id)):
                path.unlink(missing_ok=True)
            raise
    lock_path.unlink(missing_ok=True)
    if rejects_out is not None:
        with rejects_path.open(encoding="utf-8", newline="") as full:
            shutil.copyfileobj(full, rejects_out)
    log.info("%s", report.summary())
    return report


def _fill_report(report: ImportReport, staged: Staged) -> None:
    report.layout = staged.layout
    report.sha256 = staged.sha256
    report.rows = staged.rows
    report.rejected = staged.rejected
    report.rejects = list(staged.rejects)
    report.rejects_omitted = staged.rejects_total - len(staged.rejects)
    report.by_reason = dict(staged.by_reason)


def _discard(db: Database, import_id: int) -> None:
    """Forget an import still staging: its row and its files (nothing of it is in contacts)."""
    with contextlib.suppress(apsw.Error), db.transaction(urgent=False):
        db.conn.execute("DELETE FROM imports WHERE id = ? AND status = 'staging'", (import_id,))
    for path in (*_work_files(db, import_id), rejects_file(db, import_id)):
        path.unlink(missing_ok=True)


def _adopt_zones(db: Database, stage_path: Path) -> None:
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


def _publish(
    db: Database,
    import_id: int,
    *,
    now: float,
    actor: str,
    detail_source: str,
    report: ImportReport | None = None,
) -> ImportReport:
    """Move a `publishing` import's staged rows into contacts, a chunk per short transaction,
    from where it stopped; the last chunk makes it `done`."""
    stage_path = _work_files(db, import_id)[0]
    row = db.conn.execute(
        "SELECT i.campaign_id, c.name, i.published, i.rows, i.rejected, i.imported, i.dnc,"
        " i.sha256, i.source FROM imports i LEFT JOIN campaigns c ON c.id = i.campaign_id"
        " WHERE i.id = ?",
        (import_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"import {import_id} is gone (its campaign was deleted)")
    campaign_id, name, published, rows, rejected, imported, dnc, sha256, source = row
    if report is None:
        report = ImportReport(file=str(source), campaign=str(name), import_id=import_id)
        report.rows, report.rejected, report.sha256 = int(rows), int(rejected), str(sha256 or "")
    report.imported, report.dnc = int(imported), int(dnc)
    conn = db.conn
    columns = [f"zs{f[-1]}" if f.startswith("zones") else f for f in ROW_FIELDS]
    stamp = repr(float(now))
    select = (
        f"INSERT OR IGNORE INTO main.contacts(campaign_id, import_id, created_at, updated_at,"
        f" {', '.join(columns)}) SELECT {int(campaign_id):d}, {import_id:d}, {stamp}, {stamp},"
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
            with _retrying_busy(db):
                if db.scalar("SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)) is None:
                    raise NotFound(f"campaign {name!r} was deleted during the import")
                last_before = int(db.scalar("SELECT ifnull(max(id), 0) FROM contacts") or 0)
                before = conn.total_changes()
                conn.execute(select, (done, chunk))
                added = conn.total_changes() - before
                done = min(done + chunk, total)
                marked = _mark_dnc(db, int(campaign_id), last_before, now) if added else 0
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
                    detail = report.as_dict()
                    detail.pop("rejects")
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
def _retrying_busy(db: Database) -> Iterator[None]:
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
    if db.readonly or db.path == ":memory:":
        return []
    unfinished = [
        (int(i), str(s))
        for i, s in db.conn.execute("SELECT id, status FROM imports WHERE status <> 'done'")
    ]
    said = []
    for import_id, status in unfinished:
        lock_path = _work_files(db, import_id)[2]
        if not lock_path.parent.is_dir():
            lock_path.parent.mkdir(parents=True, exist_ok=True)
        with _claim(lock_path, wait=False) as mine:
            if not mine:
                continue
            if status == "staging":
                _discard(db, import_id)
                said.append(
                    f"import {import_id} was interrupted before it was checked whole: dropped"
                )
            elif not _work_files(db, import_id)[0].exists():
                with db.transaction():
                    db.conn.execute("UPDATE imports SET status = 'done' WHERE id = ?", (import_id,))
                said.append(
                    f"import {import_id} was interrupted while publishing and its staged rows are lost: left partly imported"
                )
            else:
                report = _publish(db, import_id, now=time.time() if now is None else now,
                                  actor="recovery", detail_source="recovery")  # fmt: skip
                said.append(
                    f"import {import_id} was interrupted while publishing: rolled forward ({report.imported} contacts in all)"
                )
        lock_path.unlink(missing_ok=True)
    for line in said:
        log.warning("%s", line)
    return said
