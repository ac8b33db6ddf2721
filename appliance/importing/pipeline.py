"""Turning a file into batches of checked rows, in this process or in a worker process.

For a big file a worker process reads and checks every record while this process, holding the
import's transaction, only inserts: the two overlap, and inserting is the longer part (bench on
two cores, 1M rows). Batches come back in file order through a pipe whose small buffer keeps
memory flat; their rows travel as one `marshal` string, which the C row check writes as it goes
and which is cheaper to load than pickled tuples.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import hashlib
import json
import logging
import marshal
import multiprocessing
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import BinaryIO

from appliance.errors import DialboxError
from appliance.importing.headers import MapEntry
from appliance.importing.layout import Columns, FileProblem, Layout
from appliance.importing.reader import CsvSource
from appliance.importing.report import Reject, RejectWriter
from appliance.importing.rows import ContactRow, RowChecker, ZoneIds

log = logging.getLogger(__name__)

BATCH_ROWS = 2000
# Below this size a worker costs more to start (about 0.2 s) than it saves.
WORKER_MIN_BYTES = 8 << 20


@dataclass(frozen=True, slots=True)
class Opened:
    """First message: how the file is laid out."""

    layout: str
    header: bool
    # (the column's header name, or None without a header; its field, or None: left out)
    columns: tuple[tuple[str | None, str | None], ...] = ()


@dataclass(slots=True)
class Batch:
    """Consecutive records: the good rows, the rejects, and the zone sets their rows introduce."""

    rows: list[ContactRow] | bytes = field(default_factory=list)  # bytes: marshal's, of a list
    checked: int = 0  # records that passed the check (kept, or dropped as duplicates here)
    rejects: list[Reject] = field(default_factory=list)
    rejected_rows: int = 0
    new_zones: list[tuple[int, str]] = field(default_factory=list)  # (zone_sets id, zones)

    def row_list(self) -> list[ContactRow]:
        rows = self.rows
        return marshal.loads(rows) if isinstance(rows, bytes) else rows


@dataclass(frozen=True, slots=True)
class Finished:
    sha256: str


@dataclass(frozen=True, slots=True)
class Failed:
    """A file-level problem (or a crash) in the worker, carried back to the caller."""

    message: str


Message = Opened | Batch | Finished | Failed


@dataclass(frozen=True, slots=True)
class Job:
    where: str  # the file's name as the person knows it, for messages
    region: str
    mappings: Mapping[str, Columns]
    mapping: str | None
    known_zones: dict[str, int] = field(default_factory=dict)  # zone_sets as they are
    next_zone_id: int = 1
    # Deduplicate here, knowing these keys already (int64s as array('q') holds them); None:
    # the store's unique index does it.
    known_keys: bytes | None = None
    batch_rows: int = BATCH_ROWS
    mapped: tuple[MapEntry, ...] = ()  # columns placed by hand (--map, config import.map)


@dataclass(frozen=True, slots=True)
class Cells:
    """One record given as its cells by field name (the API's record feed), not as a file."""

    cells: Mapping[str, str]


# The record stands where a file's first record would, below its header (rejects name line 2).
CELLS_LINE = 2


def prepare_cells(record: Cells, job: Job) -> Iterator[Message]:
    """Check one record's cells with the import's row check, laid out by its own field names (as
    a file with that header would be), yielding what `prepare` yields for such a file."""
    fields = tuple(record.cells)
    values = [record.cells[f] for f in fields]
    name = job.mapping or "record"
    yield Opened(name, True, tuple((f, f) for f in fields))
    batch = Batch()
    # As a file reads: a record of empty cells is no record, and the csv module refuses a
    # longer cell than its limit.
    if any(v.strip() for v in values):
        limit = csv.field_size_limit()
        if any(len(v) > limit for v in values):
            batch.rejects.append(
                Reject(CELLS_LINE, None, f"unreadable CSV: field larger than field limit ({limit})")
            )
            batch.rejected_rows = 1
        else:
            zone_ids = ZoneIds(job.known_zones, job.next_zone_id)
            layout = Layout(name, fields, fields, True, len(fields))
            rows = RowChecker(layout, job.region, zone_ids).collector(job.known_keys)
            if (rejects := rows.add(CELLS_LINE, values)) is None:
                batch.checked = 1
            else:
                batch.rejects, batch.rejected_rows = rejects, 1
            batch.rows, batch.new_zones = rows.take(), zone_ids.take_new()
        yield batch
    yield Finished(hashlib.sha256(json.dumps(dict(record.cells)).encode()).hexdigest())


def prepare(stream: BinaryIO, job: Job) -> Iterator[Message]:
    """Read and check every record of `stream`, yielding Opened, then a Batch for each
    `job.batch_rows` records, then Finished."""
    source = CsvSource(
        stream, where=job.where, mappings=job.mappings, mapping=job.mapping, mapped=job.mapped
    )
    yield Opened(source.layout.name, source.layout.header, tuple(source.layout.columns()))
    zone_ids = ZoneIds(job.known_zones, job.next_zone_id)
    rows = RowChecker(source.layout, job.region, zone_ids).collector(job.known_keys)
    add = rows.add
    scan = getattr(rows, "scan", None)  # the C check reads plain lines from the bytes itself
    batch = Batch()
    room = job.batch_rows
    while True:
        if scan is not None:
            records, rejected, more = source.scan(scan, room, batch.rejects)
            batch.checked += records - rejected
            batch.rejected_rows += rejected
            room -= records
            if not more:
                break
        if room > 0:
            if (record := source.next_record()) is None:
                break
            line, cells, error = record
            room -= 1
            if error is not None:
                batch.rejects.append(Reject(line, None, error))
                batch.rejected_rows += 1
            elif (rejects := add(line, cells)) is None:
                batch.checked += 1
            else:
                batch.rejects += rejects
                batch.rejected_rows += 1
        if room == 0:
            batch.rows, batch.new_zones = rows.take(), zone_ids.take_new()
            yield batch
            batch = Batch()
            room = job.batch_rows
    if batch.checked or batch.rejects:
        batch.rows, batch.new_zones = rows.take(), zone_ids.take_new()
        yield batch
    yield Finished(source.sha256)


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector: an import makes millions of rows and no cycles, and
    each collection would walk every row still held (a fifth of the checking time, measured)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def messages(
    path_or_stream: str | Path | BinaryIO | Cells, job: Job, worker: bool | None = None
) -> Iterator[Message]:
    """The messages for a file: from a worker process when asked or when it pays, else made here."""
    if isinstance(path_or_stream, Cells):
        yield from prepare_cells(path_or_stream, job)
    elif isinstance(path_or_stream, str | Path):
        path = Path(path_or_stream)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise _unreadable(job.where, exc) from None
        if worker is None:
            worker = (os.cpu_count() or 1) > 1 and size >= WORKER_MIN_BYTES
        if worker:
            yield from _shared(path, job)
            return
        try:
            stream = path.open("rb")
        except OSError as exc:
            raise _unreadable(job.where, exc) from None
        with stream:
            yield from prepare(stream, job)
    else:
        yield from prepare(path_or_stream, job)


def _unreadable(where: str, exc: OSError) -> DialboxError:
    return FileProblem(f"cannot read {where}: {exc.strerror or exc}")


def _shared(path: Path, job: Job) -> Iterator[Message]:
    """The worker's messages, in file order, its batches unpacked."""
    context = multiprocessing.get_context("spawn")  # never fork a process holding SQLite handles
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(
        target=_work, args=(sender, str(path), job), name="dialbox-import", daemon=True
    )
    worker.start()
    sender.close()
    try:
        while not isinstance(message := _receive(receiver, worker, job), Finished):
            yield message
        yield message
        worker.join()
    finally:
        receiver.close()
        if worker.is_alive():
            worker.terminate()
            worker.join()


def _receive(receiver: Connection, worker: BaseProcess, job: Job) -> Message:
    try:
        message: Message = receiver.recv()
    except EOFError:
        raise DialboxError(
            f"the import worker for {job.where} stopped unexpectedly (exit {worker.exitcode})"
        ) from None
    if isinstance(message, Failed):
        raise FileProblem(message.message)
    return message


def _work(sender: Connection, path: str, job: Job) -> None:
    """The worker's body: send the parent every message; report any failure as a message."""
    try:
        with no_cycle_collection(), open(path, "rb") as stream:
            for message in prepare(stream, job):
                sender.send(message)
    except BrokenPipeError:  # the parent went away (it rolls back)
        pass
    except DialboxError as exc:
        _send_failure(sender, str(exc))
    except OSError as exc:
        _send_failure(sender, f"cannot read {job.where}: {exc.strerror or exc}")
    except Exception as exc:  # report, don't die silently: the parent rolls back
        log.exception("import worker failed on %s", path)
        _send_failure(sender, f"import of {job.where} failed: {exc!r}")
    finally:
        sender.close()


def _send_failure(sender: Connection, message: str) -> None:
    with contextlib.suppress(OSError):
        sender.send(Failed(message))


# -- staging: the whole file checked into a database of its own ------------------------------


@dataclass(frozen=True, slots=True)
class Staged:
    """What staging a file did: the counts, the first `keep` rejects and every reason's count."""

    layout: str
    columns: tuple[tuple[str | None, str | None], ...]
    sha256: str
    rows: int  # records read (good, duplicate or rejected)
    staged: int  # rows in the staging database
    rejected: int  # records rejected
    rejects: list[Reject]
    by_reason: dict[str, int]
    rejects_total: int  # rejects (a record may have several)


def stage(
    path_or_stream: str | Path | BinaryIO,
    job: Job,
    stage_path: str,
    rejects_path: str,
    keep: int,
) -> Staged:
    """Read and check a file into the staging database `stage_path` (made here, durable when
    this returns) and every reject into the CSV file `rejects_path`."""
    import apsw  # here: the parsing-only worker (`messages`) does not need it, nor the store

    from appliance.store.imports import STAGE_COLUMNS, STAGE_SCHEMA

    conn = apsw.Connection(stage_path)
    try:
        conn.execute("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size=8192")
        conn.execute(STAGE_SCHEMA)
        insert = f"INSERT INTO rows VALUES({','.join('?' * len(STAGE_COLUMNS))})"
        layout, sha256 = "ecm", ""
        columns: tuple[tuple[str | None, str | None], ...] = ()
        rows = staged = rejected = total = 0
        kept: list[Reject] = []
        by_reason: dict[str, int] = {}
        with open(rejects_path, "w", encoding="utf-8", newline="") as out:
            writer = RejectWriter(out)
            conn.execute("BEGIN")
            for message in messages(path_or_stream, job, worker=False):
                if isinstance(message, Batch):
                    if message.new_zones:
                        conn.executemany("INSERT INTO zones VALUES (?, ?)", message.new_zones)
                    if batch_rows := message.row_list():
                        conn.executemany(insert, batch_rows)
                        staged += len(batch_rows)
                    rows += message.checked + message.rejected_rows
                    rejected += message.rejected_rows
                    if message.rejects:
                        total += len(message.rejects)
                        writer.write(message.rejects)
                        kept.extend(message.rejects[: max(keep - len(kept), 0)])
                        for reject in message.rejects:
                            by_reason[reject.reason] = by_reason.get(reject.reason, 0) + 1
                elif isinstance(message, Opened):
                    layout, columns = message.layout, message.columns
                elif isinstance(message, Finished):
                    sha256 = message.sha256
            conn.execute("COMMIT")
            out.flush()
            os.fsync(out.fileno())
    finally:
        conn.close()
    with open(stage_path, "rb+") as staged_file:  # durable before the import's commit point
        os.fsync(staged_file.fileno())
    return Staged(layout, columns, sha256, rows, staged, rejected, kept, by_reason, total)


def stage_file(
    path_or_stream: str | Path | BinaryIO,
    job: Job,
    stage_path: str,
    rejects_path: str,
    keep: int,
    worker: bool,
) -> Staged:
    """`stage`, in a worker process (spawned) when asked: this process then only waits, and
    its event loop keeps the CPU and the GIL."""
    if not worker or not isinstance(path_or_stream, str | Path):
        return stage(path_or_stream, job, stage_path, rejects_path, keep)
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    args = (sender, str(path_or_stream), job, stage_path, rejects_path, keep)
    process = context.Process(target=_stage_work, args=args, name="dialbox-stage", daemon=True)
    process.start()
    sender.close()
    try:
        try:
            message = receiver.recv()
        except EOFError:
            raise DialboxError(
                f"the import worker for {job.where} stopped unexpectedly (exit {process.exitcode})"
            ) from None
        if isinstance(message, Failed):
            raise FileProblem(message.message)
        process.join()
        assert isinstance(message, Staged)
        return message
    finally:
        receiver.close()
        if process.is_alive():
            process.terminate()
            process.join()


def _stage_work(
    sender: Connection, path: str, job: Job, stage_path: str, rejects_path: str, keep: int
) -> None:
    with contextlib.suppress(OSError):
        os.nice(10)  # background work: the daemon's dial loop keeps the processor first
    try:
        with no_cycle_collection():
            sender.send(stage(path, job, stage_path, rejects_path, keep))
    except BrokenPipeError:
        pass
    except DialboxError as exc:
        _send_failure(sender, str(exc))
    except OSError as exc:
        _send_failure(sender, f"cannot read {job.where}: {exc.strerror or exc}")
    except Exception as exc:
        log.exception("import worker failed on %s", path)
        _send_failure(sender, f"import of {job.where} failed: {exc!r}")
    finally:
        sender.close()
