"""Importing a contact file into a campaign (SPEC D2): one transaction, deduplicated, DNC-checked."""

from __future__ import annotations

import array
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, TextIO

import apsw

from appliance.config.models import ColumnMapping
from appliance.domain import ContactState
from appliance.errors import DialboxError, NotFound
from appliance.importing.pipeline import Batch, Finished, Job, Opened, messages, no_cycle_collection
from appliance.importing.reader import Columns
from appliance.importing.report import ImportReport, Reject, RejectWriter
from appliance.importing.rows import ROW_FIELDS
from appliance.store.campaigns import CampaignRow, audit
from appliance.store.db import Database

__all__ = ["ImportReport", "Reject", "import_file"]

log = logging.getLogger(__name__)

KEEP_REJECTS = 10_000  # rejects kept in the report; the CSV report has all of them
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
) -> ImportReport:
    """Import one file into `campaign`: all good rows land in one transaction, or nothing does.

    `mapping` names a column mapping (else one whose headers match, else the ECM column order);
    `rejects_out` receives the CSV reject report as the import runs; `worker` forces (True) or
    forbids (False) the parsing worker process, which by default is used for big files; `bulk`
    forces or forbids rebuilding the dedup index (BULK_MIN_BYTES), by default chosen by size.
    """
    where = str(path_or_stream) if isinstance(path_or_stream, str | Path) else source
    report = ImportReport(file=where, campaign=campaign.name)
    writer = RejectWriter(rejects_out) if rejects_out is not None else None
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
            job = Job(
                where=where,
                region=region,
                mappings={name: Columns.of(m) for name, m in mappings.items()},
                mapping=mapping,
                known_zones=zones,
                next_zone_id=max(zones.values(), default=0) + 1,
                known_keys=known_keys,
            )
            for message in messages(path_or_stream, job, worker):
                if isinstance(message, Batch):
                    _write_batch(db, insert, message, report, writer)
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
    finally:
        conn.execute(f"PRAGMA foreign_keys = {foreign_keys:d}")
        conn.execute(f"PRAGMA cache_size = {int(previous_cache or -2000):d}")
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
    db: Database, insert: str, batch: Batch, report: ImportReport, writer: RejectWriter | None
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
        if writer is not None:
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
