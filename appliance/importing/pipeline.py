"""Turning a file into batches of checked rows, in this process or in a worker beside the writer.

Reading, decoding and validating cost more CPU than SQLite's inserts, so for big files one worker
process does them while the caller's process writes: batches arrive in file order through a pipe
(whose bounded buffer keeps memory flat), and the caller keeps its single transaction.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import BinaryIO

from appliance.config.models import ColumnMapping
from appliance.errors import DialboxError
from appliance.importing.reader import CsvSource, FileProblem
from appliance.importing.report import Reject
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


@dataclass(slots=True)
class Batch:
    """Consecutive records: the good rows, the rejects, and the zone sets their rows introduce."""

    rows: list[ContactRow] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    rejected_rows: int = 0
    new_zones: list[tuple[int, str]] = field(default_factory=list)  # (zone_sets id, zones)


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
    mappings: Mapping[str, ColumnMapping]
    mapping: str | None
    known_zones: dict[str, int] = field(default_factory=dict)  # zone_sets as they are
    next_zone_id: int = 1


def prepare(stream: BinaryIO, job: Job, batch_rows: int = BATCH_ROWS) -> Iterator[Message]:
    """Read and check every record of `stream`, yielding Opened, then Batches, then Finished."""
    source = CsvSource(stream, where=job.where, mappings=job.mappings, mapping=job.mapping)
    yield Opened(source.layout.name, source.layout.header)
    zone_ids = ZoneIds(job.known_zones, job.next_zone_id)
    check = RowChecker(source.layout, job.region, zone_ids).check
    batch = Batch()
    rows, rejects = batch.rows, batch.rejects
    for line, cells, error in source:
        if error is None:
            result = check(line, cells)
            if type(result) is tuple:
                rows.append(result)
            else:
                rejects += result
                batch.rejected_rows += 1
        else:
            rejects.append(Reject(line, None, error))
            batch.rejected_rows += 1
        if len(rows) + batch.rejected_rows >= batch_rows:
            batch.new_zones = zone_ids.take_new()
            yield batch
            batch = Batch()
            rows, rejects = batch.rows, batch.rejects
    if rows or rejects:
        batch.new_zones = zone_ids.take_new()
        yield batch
    yield Finished(source.sha256)


def messages(
    path_or_stream: str | Path | BinaryIO, job: Job, worker: bool | None = None
) -> Iterator[Message]:
    """The messages for a file: from a worker process when asked or when it pays, else made here."""
    if isinstance(path_or_stream, str | Path):
        path = Path(path_or_stream)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise _unreadable(job.where, exc) from None
        if worker is None:
            worker = (os.cpu_count() or 1) > 1 and size >= WORKER_MIN_BYTES
        if worker:
            yield from _from_worker(path, job)
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


def _from_worker(path: Path, job: Job) -> Iterator[Message]:
    context = multiprocessing.get_context("spawn")  # never fork a process holding SQLite handles
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(
        target=_work, args=(sender, str(path), job), name="dialbox-import", daemon=True
    )
    worker.start()
    sender.close()
    try:
        while True:
            try:
                message: Message = receiver.recv()
            except EOFError:
                raise DialboxError(
                    f"the import worker for {job.where} stopped unexpectedly (exit {worker.exitcode})"
                ) from None
            if isinstance(message, Failed):
                raise FileProblem(message.message)
            yield message
            if isinstance(message, Finished):
                break
        worker.join()
    finally:
        receiver.close()
        if worker.is_alive():
            worker.terminate()
            worker.join()


def _work(sender: Connection, path: str, job: Job) -> None:
    """The worker's body: stream messages to the parent; report any failure as a message."""
    try:
        with open(path, "rb") as stream:
            for message in prepare(stream, job):
                sender.send(message)
    except DialboxError as exc:
        sender.send(Failed(str(exc)))
    except OSError as exc:
        sender.send(Failed(f"cannot read {job.where}: {exc.strerror or exc}"))
    except Exception as exc:  # report, don't die silently: the parent rolls back
        log.exception("import worker failed on %s", path)
        sender.send(Failed(f"import of {job.where} failed: {exc!r}"))
    finally:
        sender.close()
