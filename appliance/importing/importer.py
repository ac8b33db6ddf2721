"""Importing a contact file into a campaign (SPEC D2): one transaction, deduplicated, DNC-checked."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from appliance.domain import CampaignType
from appliance.errors import DialboxError, NotFound
from appliance.importing.headers import MapEntry
from appliance.importing.layout import Columns
from appliance.importing.pipeline import (
    WORKER_MIN_BYTES,
    Batch,
    Cells,
    Finished,
    Job,
    Opened,
    Staged,
    messages,
    no_cycle_collection,
    stage_file,
)
from appliance.importing.report import ImportReport, Reject, RejectWriter
from appliance.store import imports
from appliance.store.campaigns import CampaignRow, audit
from appliance.store.db import Database
from appliance.store.imports import rejects_file, staging_dir

if TYPE_CHECKING:
    from appliance.config.models import ColumnMapping

__all__ = ["Cells", "ImportReport", "Reject", "import_file", "rejects_file", "staging_dir"]

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


def _job(
    where: str,
    region: str,
    mappings: Mapping[str, ColumnMapping],
    mapping: str | None,
    zones: dict[str, int],
    known_keys: bytes | None = None,
    column_map: Sequence[MapEntry] = (),
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
        mapped=tuple(column_map),
    )


def import_file(
    db: Database,
    campaign: CampaignRow,
    path_or_stream: str | Path | BinaryIO | Cells,
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
    column_map: Sequence[MapEntry] = (),
) -> ImportReport:
    """Import one file into `campaign`: all good rows land, or nothing does.

    By default in one transaction, which holds SQLite's write lock for the whole file: right
    for `dialbox import` and other tools, which keep the fast bulk path. `staged` (the daemon's
    uploads and hot folder) checks the file into a staging database of its own first and then
    publishes it in short transactions (`_import_staged`), so other writers (the dial loop)
    wait at most for one chunk.

    `path_or_stream` may also be `Cells`, one record's cells by field name (the record feed).
    `mapping` names a column mapping (else one whose headers match, else the ECM column order
    or the header's names: importing.layout); `column_map` places columns by hand (--map);
    `rejects_out` receives the CSV reject report as the import runs; `worker` forces (True) or
    forbids (False) the parsing worker process, which by default is used for big files; `bulk`
    forces or forbids rebuilding the dedup index (BULK_MIN_BYTES), by default chosen by size.
    The full reject report is also kept as `rejects_file(db, import_id)` (file databases).
    """
    if campaign.type is CampaignType.INBOUND:  # its contacts are its callers (store/inbound.py)
        raise DialboxError(
            f"campaign {campaign.name!r} is inbound: it answers calls and never dials, its"
            " contacts are its callers; import the list into an agent, automated or SMS campaign"
        )
    where = str(path_or_stream) if isinstance(path_or_stream, str | Path) else source
    # One record (Cells) holds the write lock for no time worth staging.
    if staged and db.local_files and not isinstance(path_or_stream, Cells):
        return _import_staged(
            db, campaign, path_or_stream, where, region=region, mappings=mappings, now=now,
            actor=actor, source=source, mapping=mapping, rejects_out=rejects_out, worker=worker,
            column_map=column_map,
        )  # fmt: skip
    report = ImportReport(file=where, campaign=campaign.name)
    writers: list[RejectWriter] = []
    if rejects_out is not None:
        writers.append(RejectWriter(rejects_out))
    kept: list[TextIO] = []
    conn = db.conn
    sqlite = not db.postgresql  # PostgreSQL: no pragmas, no bulk path (imports.insert_sql)
    if sqlite:
        previous_cache = db.scalar("PRAGMA cache_size")
        conn.execute(f"PRAGMA cache_size = -{_IMPORT_CACHE_KIB:d}")
        # Every row points at this campaign and at the import row made below, and the
        # transaction holds the write lock throughout, so SQLite's foreign-key lookups for
        # each row (a twentieth of the insert, bench/import_csv.py) would check nothing; the
        # campaign's existence is checked once instead. (The pragma does nothing inside an
        # outer transaction.)
        foreign_keys = int(db.scalar("PRAGMA foreign_keys") or 0)
        conn.execute("PRAGMA foreign_keys = OFF")
    try:
        with no_cycle_collection(), db.transaction():
            report.import_id = imports.begin(db, campaign.id, campaign.name, source, now, "done")
            if db.local_files:
                keep_file = rejects_file(db, report.import_id)
                keep_file.parent.mkdir(parents=True, exist_ok=True)
                kept.append(keep_file.open("w", encoding="utf-8", newline=""))
                writers.append(RejectWriter(kept[0]))
            last_before = imports.last_contact_id(db)  # new rows are above
            insert = imports.insert_sql(db, campaign.id, report.import_id, now)
            zones = imports.zone_ids(db)
            rebuild = retrigger = None
            known_keys = None
            if sqlite and (bulk if bulk is not None else _big(path_or_stream, last_before)):
                known_keys = imports.campaign_keys(db, campaign.id)
                rebuild = imports.drop_index(db, "contacts_dedup")
                # the rows are counted by the batches themselves (store/counts.py)
                retrigger = imports.drop_trigger(db, imports.COUNTS_TRIGGER)
            job = _job(where, region, mappings, mapping, zones, known_keys, column_map)
            for message in messages(path_or_stream, job, worker):
                if isinstance(message, Batch):
                    _write_batch(db, insert, message, report, writers, campaign.id)
                elif isinstance(message, Opened):
                    report.layout, report.columns = message.layout, list(message.columns)
                elif isinstance(message, Finished):
                    report.sha256 = message.sha256
            if rebuild is not None:
                conn.execute(rebuild)
            if retrigger is not None:
                conn.execute(retrigger)
            report.dnc = imports.mark_dnc(db, campaign.id, last_before, now)
            report.duplicates = report.rows - report.rejected - report.imported
            imports.finish(
                db, report.import_id, now, sha256=report.sha256, rows=report.rows,
                imported=report.imported, rejected=report.rejected,
                duplicates=report.duplicates, dnc=report.dnc,
            )  # fmt: skip
            audit(db, actor, "contacts.import", campaign.name, _detail(report, source), now)
    except BaseException:
        for out in kept:
            out.close()
            Path(out.name).unlink(missing_ok=True)
        raise
    finally:
        if sqlite:
            conn.execute(f"PRAGMA foreign_keys = {foreign_keys:d}")
            conn.execute(f"PRAGMA cache_size = {int(previous_cache or -2000):d}")
    for out in kept:
        out.close()
        if not report.rejected:  # keep no empty reports (the record feed makes one per record)
            Path(out.name).unlink(missing_ok=True)
    log.info("%s", report.summary())
    return report


def _detail(report: ImportReport, source: str) -> dict[str, Any]:
    """The audit row's detail: the report without its rejects, and where the file came from."""
    detail = report.as_dict()
    detail.pop("rejects")
    detail["source"] = source
    return detail


def _big(path_or_stream: str | Path | BinaryIO | Cells, table_rows: int) -> bool:
    """Whether the file is big, and likely to hold more rows than the table (BULK_MIN_BYTES)."""
    if not isinstance(path_or_stream, str | Path):
        return False
    try:
        size = Path(path_or_stream).stat().st_size
    except OSError:
        return False  # reading it says what is wrong
    return size >= BULK_MIN_BYTES and size // _BYTES_PER_ROW > table_rows


def _write_batch(
    db: Database,
    insert: str,
    batch: Batch,
    report: ImportReport,
    writers: list[RejectWriter],
    campaign_id: int,
) -> None:
    report.imported += imports.insert_rows(
        db, insert, batch.row_list(), batch.new_zones, campaign_id
    )
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


# -- staged imports: checked aside, then published in short transactions --------------------
#
# The stages, their files and their recovery are the store's (`store/imports.py`); here the
# file is read and checked into the staging database (`pipeline.stage_file`) and the report
# made.


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
    column_map: Sequence[MapEntry],
) -> ImportReport:
    report = ImportReport(file=where, campaign=campaign.name)
    staging_dir(db).mkdir(parents=True, exist_ok=True)
    with db.transaction(urgent=False):
        import_id = imports.begin(db, campaign.id, campaign.name, source, now, "staging")
        report.import_id = import_id
        zones = imports.zone_ids(db)
    stage_path, upload_path, lock_path = imports.work_files(db, import_id)
    rejects_path = rejects_file(db, import_id)
    with imports.claim(lock_path, wait=True):
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
            job = _job(where, region, mappings, mapping, zones, column_map=column_map)
            stage_path.unlink(missing_ok=True)
            staged = stage_file(
                path_or_stream, job, str(stage_path), str(rejects_path), KEEP_REJECTS, worker
            )
            upload_path.unlink(missing_ok=True)
            imports.adopt_zones(db, stage_path)
            imports.start_publishing(
                db,
                campaign.id,
                campaign.name,
                import_id,
                staged.sha256,
                staged.rows,
                staged.rejected,
            )
        except BaseException:
            imports.discard(db, import_id)
            raise
        _fill_report(report, staged)

        def describe(done: imports.Published) -> dict[str, Any]:
            report.imported, report.dnc, report.duplicates = (
                done.imported,
                done.dnc,
                done.duplicates,
            )
            return _detail(report, source)

        try:
            imports.publish(
                db, import_id, now=now, actor=actor, detail_source=source, describe=describe
            )
        except NotFound:  # the campaign was deleted, and with it the import and its contacts
            for path in (*imports.work_files(db, import_id), rejects_file(db, import_id)):
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
    report.columns = list(staged.columns)
    report.sha256 = staged.sha256
    report.rows = staged.rows
    report.rejected = staged.rejected
    report.rejects = list(staged.rejects)
    report.rejects_omitted = staged.rejects_total - len(staged.rejects)
    report.by_reason = dict(staged.by_reason)
