"""Turning a file into batches of checked rows, in this process or shared with a worker process.

Reading and validating cost more CPU than SQLite's inserts, so for big files a worker process
checks most batches while this process, between its inserts, checks the rest: both read the
whole file (so they agree on every record's batch and line), each checks only its own batches,
and this process takes them in file order, the worker's through a pipe whose bounded buffer
keeps memory flat. The caller keeps its single transaction.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
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
# Of every ROUND batches, the caller's process checks these and the worker the others: the
# caller also inserts every row and reads the whole file, so it takes one in six (bench on two
# cores, 1M rows: CPU 27.5 s caller / 27.9 s worker; with two in seven, 31.7 / 26.7).
ROUND = 6
CALLER_SHARE = frozenset({0})
# Batches the worker may check ahead of the parent's reading (each about 2 MB in memory).
SEND_AHEAD = 4


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
class Theirs:
    """Here comes a batch the other process checks (it stands in for that batch)."""


@dataclass(frozen=True, slots=True)
class Finished:
    sha256: str


@dataclass(frozen=True, slots=True)
class Failed:
    """A file-level problem (or a crash) in the worker, carried back to the caller."""

    message: str


Message = Opened | Batch | Theirs | Finished | Failed


@dataclass(frozen=True, slots=True)
class Job:
    where: str  # the file's name as the person knows it, for messages
    region: str
    mappings: Mapping[str, ColumnMapping]
    mapping: str | None
    known_zones: dict[str, int] = field(default_factory=dict)  # zone_sets as they are
    next_zone_id: int = 1
    batch_rows: int = BATCH_ROWS


def prepare(
    stream: BinaryIO, job: Job, mine: frozenset[int] = frozenset(range(ROUND))
) -> Iterator[Message]:
    """Read every record of `stream`, yielding Opened, then a Batch for each `job.batch_rows` records
    (checked when its number modulo ROUND is in `mine`, else a Theirs), then Finished."""
    source = CsvSource(stream, where=job.where, mappings=job.mappings, mapping=job.mapping)
    yield Opened(source.layout.name, source.layout.header)
    zone_ids = ZoneIds(job.known_zones, job.next_zone_id)
    check = RowChecker(source.layout, job.region, zone_ids).check
    batch = Batch()
    rows, rejects = batch.rows, batch.rejects
    batch_rows = job.batch_rows
    number, in_batch, checking = 0, 0, 0 in mine
    for line, cells, error in source:
        if not checking:
            in_batch += 1
            if in_batch == batch_rows:
                yield Theirs()
                number, in_batch = number + 1, 0
                checking = number % ROUND in mine
            continue
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
            number += 1
            checking = number % ROUND in mine
    if rows or rejects:
        batch.new_zones = zone_ids.take_new()
        yield batch
    elif in_batch:
        yield Theirs()
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
    """Batches in file order: this process's own, and the worker's in their places."""
    context = multiprocessing.get_context("spawn")  # never fork a process holding SQLite handles
    receiver, sender = context.Pipe(duplex=False)
    theirs = frozenset(range(ROUND)) - CALLER_SHARE
    worker = context.Process(
        target=_work, args=(sender, str(path), job, theirs), name="dialbox-import", daemon=True
    )
    worker.start()
    sender.close()
    try:
        try:
            stream = path.open("rb")
        except OSError as exc:
            raise _unreadable(job.where, exc) from None
        with stream:
            for message in prepare(stream, job, mine=CALLER_SHARE):
                if isinstance(message, Theirs):
                    yield _receive(receiver, worker, job)
                else:
                    yield message
        worker.join()
    finally:
        receiver.close()
        if worker.is_alive():
            worker.terminate()
            worker.join()


def _receive(receiver: Connection, worker: BaseProcess, job: Job) -> Batch:
    try:
        message: Message = receiver.recv()
    except EOFError:
        raise DialboxError(
            f"the import worker for {job.where} stopped unexpectedly (exit {worker.exitcode})"
        ) from None
    if isinstance(message, Failed):
        raise FileProblem(message.message)
    if not isinstance(message, Batch):
        raise DialboxError(f"the import worker for {job.where} sent {message!r} out of turn")
    return message


def _work(sender: Connection, path: str, job: Job, mine: frozenset[int]) -> None:
    """The worker's body: send the parent its batches; report any failure as a message.

    A thread sends while the worker checks on: the parent takes a batch only when it reaches it
    in file order, and a send blocked on the pipe would otherwise stop the checking too. At most
    SEND_AHEAD batches wait, so memory stays bounded."""
    outbox: queue.Queue[Message | None] = queue.Queue(maxsize=SEND_AHEAD)
    mailer = threading.Thread(target=_mail, args=(sender, outbox), name="import-send")
    mailer.start()
    try:
        with open(path, "rb") as stream:
            for message in prepare(stream, job, mine=mine):
                if isinstance(message, Batch):
                    outbox.put(message)
    except DialboxError as exc:
        outbox.put(Failed(str(exc)))
    except OSError as exc:
        outbox.put(Failed(f"cannot read {job.where}: {exc.strerror or exc}"))
    except Exception as exc:  # report, don't die silently: the parent rolls back
        log.exception("import worker failed on %s", path)
        outbox.put(Failed(f"import of {job.where} failed: {exc!r}"))
    finally:
        outbox.put(None)
        mailer.join()


def _mail(sender: Connection, outbox: queue.Queue[Message | None]) -> None:
    """Send what the worker queues, in order, until None; then close the pipe."""
    try:
        while (message := outbox.get()) is not None:
            sender.send(message)
    except OSError:  # the parent went away (it rolls back); drain so the worker can finish
        while outbox.get() is not None:
            pass
    finally:
        sender.close()
