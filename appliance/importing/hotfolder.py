"""The hot folder (SPEC D3): files dropped in DIR/<campaign>/ are imported, then archived.

A file is read only when complete: renamed in (seen through inotify where the kernel reports it),
or unchanged in size and mtime for `settle_seconds` on the injected clock. Dotfiles, `*.part` and
`*.tmp` are never read. After the import commits the file moves to
`DIR/archive/<campaign>/<UTC stamp>-<name>` with `<that name>.rejects.csv` beside it; a file that
cannot be imported (unknown campaign, not UTF-8, a header nothing maps, a database error) moves to
`DIR/failed/<UTC stamp>-<name>` with `<that name>.reason.txt`. Nothing moves before the commit, so
a crash in between only means the file is imported again, which adds nothing (deduplication).
With `import.schedule`, complete files wait for its next time (the timed import, timed.py).

Nothing leads the hot folder out of its directory (#18): a campaign folder that is a symbolic link
is never entered, a file that is one is never read (the link itself moves to `failed/`), and the
archive path is joined with `names.safe_join`, which refuses a folder that leads elsewhere.
`archive` and `failed` are reserved names (appliance/names.py): no campaign can be called so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.campaigns import CampaignSettings
from appliance.clock import Clock
from appliance.config.models import ColumnMapping
from appliance.errors import DialboxError
from appliance.importing.headers import MapEntry
from appliance.importing.importer import import_file
from appliance.importing.inotify import RenameWatcher
from appliance.importing.report import ImportReport
from appliance.importing.timed import TimedImport
from appliance.names import ARCHIVE, FAILED, IGNORED_SUFFIXES, safe_join
from appliance.store.campaigns import get_campaign
from appliance.store.db import Database

log = logging.getLogger(__name__)

_IGNORED_SUFFIXES = IGNORED_SUFFIXES
__all__ = ["ARCHIVE", "FAILED", "FileResult", "HotFolder", "ignored"]


def ignored(name: str) -> bool:
    """Names a writer uses while a file is incomplete, and our own work files."""
    return name.startswith(".") or name.lower().endswith(_IGNORED_SUFFIXES)


def stamp(now: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


@dataclass(frozen=True)
class FileResult:
    """What became of one file."""

    source: Path
    campaign: str | None
    moved_to: Path
    report: ImportReport | None = None  # None when the file went to failed/
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.report is not None

    @property
    def message(self) -> str:
        if self.report is not None:
            return f"{self.report.summary()}; archived as {self.moved_to}"
        return f"{self.source}: not imported ({self.reason}); moved to {self.moved_to}"

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "source": str(self.source),
            "campaign": self.campaign,
            "status": "imported" if self.ok else "failed",
            "moved_to": str(self.moved_to),
            "message": self.message,
        }
        if self.report is not None:
            document["report"] = self.report.as_dict()
        else:
            document["reason"] = self.reason
        return document


@dataclass
class _Seen:
    signature: tuple[int, int]  # size, mtime in ns
    since: float  # clock time the signature was first seen
    renamed: bool  # renamed in (complete) with this signature


class HotFolder:
    """Watches `root`; `scan()` imports every complete file once. Give it its own connection in a
    daemon, so a long import does not hold the dialer's connection."""

    def __init__(
        self,
        db: Database,
        root: Path,
        *,
        clock: Clock,
        mappings: Mapping[str, ColumnMapping],
        column_map: Sequence[MapEntry] = (),
        settle_seconds: float = 2.0,
        actor: str = "daemon",
        watcher: RenameWatcher | bool | None = True,
        staged: bool = False,
        schedule: TimedImport | None = None,
    ) -> None:
        self.db = db
        self.root = root
        self.clock = clock
        self.mappings = dict(mappings)
        self.column_map = tuple(column_map)  # config import.map: columns placed by hand
        self.settle_seconds = settle_seconds
        self.actor = actor
        self.staged = staged  # imports published in short transactions (the daemon's)
        self.schedule = schedule  # `import.schedule`: files wait for its times (timed.py)
        self.watcher = RenameWatcher.open() if watcher is True else (watcher or None)
        self._seen: dict[Path, _Seen] = {}
        self._warned: set[Path] = set()
        root.mkdir(parents=True, exist_ok=True)
        if self.watcher is not None:
            self.watcher.watch(root)

    # -- finding complete files -------------------------------------------------------------

    def _candidates(self) -> list[Path]:
        found = []
        for entry in sorted(self.root.iterdir()):
            if entry.name in (ARCHIVE, FAILED) or ignored(entry.name):
                continue
            if entry.is_symlink() and entry.is_dir():
                self._warn_once(entry, "a symbolic link to a folder: not entered")
                continue
            if entry.is_dir():
                if self.watcher is not None:
                    self.watcher.watch(entry)
                found += [
                    f
                    for f in sorted(entry.iterdir())
                    if (f.is_file() or f.is_symlink()) and not ignored(f.name)
                ]
            elif entry.is_file() or entry.is_symlink():
                found.append(entry)
        return found

    def ready(self) -> tuple[list[Path], int]:
        """The files complete now (oldest first), and how many more are still settling."""
        now = self.clock.now()
        moved = self.watcher.drain() if self.watcher is not None else set()
        ready: list[tuple[int, Path]] = []
        waiting = 0
        present = set()
        for path in self._candidates():
            try:
                info = path.lstat()  # a symlink's own times: what it points at is never read
            except FileNotFoundError:
                continue  # gone between listing and stat
            present.add(path)
            signature = (info.st_size, info.st_mtime_ns)
            seen = self._seen.get(path)
            if seen is None or seen.signature != signature:
                seen = self._seen[path] = _Seen(signature, now, renamed=path in moved)
            elif path in moved:
                seen.renamed = True
            if seen.renamed or now - seen.since >= self.settle_seconds:
                ready.append((info.st_mtime_ns, path))
            else:
                waiting += 1
        for gone in set(self._seen) - present:
            del self._seen[gone]
        ready.sort()
        return [path for _, path in ready], waiting

    # -- processing -------------------------------------------------------------------------

    def scan(self) -> list[FileResult]:
        """Import every file that is complete now; files still settling wait for a later scan.
        With a schedule, every file waits for its next time."""
        files, waiting = self.ready()
        if self.schedule is not None and not self.schedule.admits(len(files) + waiting):
            return []
        results = []
        for path in files:
            results.append(self.process(path))
            self._seen.pop(path, None)
        if self.schedule is not None:
            self.schedule.finished(waiting)  # what is left is still being written
        return results

    def scan_until_idle(
        self, sleep: Callable[[float], None] = time.sleep, poll: float = 0.25
    ) -> list[FileResult]:
        """`--once`: import what is there, waiting for files still settling, then return."""
        results = self.scan()
        while True:
            _, waiting = self.ready()
            if not waiting:
                return results
            sleep(min(poll, self.settle_seconds))
            results += self.scan()

    def process(self, path: Path) -> FileResult:
        """Import one complete file and move it to archive/ or failed/."""
        now = self.clock.now()
        if path.parent == self.root:
            return self._fail(
                path,
                None,
                now,
                f"put files in a folder named after their campaign: {self.root}/<campaign>/",
            )
        name = path.parent.name
        if path.is_symlink():
            return self._fail(
                path,
                name,
                now,
                "a symbolic link: the hot folder reads only files put in it, never what a link"
                " points at; copy or move the file itself in",
            )
        try:
            campaign = get_campaign(self.db, name)
            archive = safe_join(self.root, ARCHIVE)
            archive.mkdir(parents=True, exist_ok=True)
            target = self._free_name(safe_join(archive, campaign.name), f"{stamp(now)}-{path.name}")
        except DialboxError as exc:
            return self._fail(path, name, now, str(exc))
        target.parent.mkdir(parents=True, exist_ok=True)
        rejects_final = target.with_name(target.name + ".rejects.csv")
        rejects_work = target.with_name(f".{target.name}.rejects.csv.part")
        try:
            with rejects_work.open("w", encoding="utf-8", newline="") as rejects_out:
                report = import_file(
                    self.db,
                    campaign,
                    path,
                    region=campaign.region,
                    mappings=self.mappings,
                    mapping=CampaignSettings.model_validate(campaign.settings).mapping,
                    now=now,
                    actor=self.actor,
                    source=f"hot-folder:{path}",
                    rejects_out=rejects_out,
                    staged=self.staged,
                    column_map=self.column_map,
                )
        except Exception as exc:  # every failure is reported beside the file, never lost
            rejects_work.unlink(missing_ok=True)
            if not isinstance(exc, DialboxError):
                log.exception("hot folder import of %s failed", path)
            return self._fail(path, campaign.name, now, str(exc) or repr(exc))
        # The import is committed: only now does the file leave the hot folder.
        os.replace(path, target)
        os.replace(rejects_work, rejects_final)
        log.info("hot folder: %s", report.summary())
        return FileResult(path, campaign.name, target, report=report)

    def _warn_once(self, path: Path, why: str) -> None:
        if path not in self._warned:
            self._warned.add(path)
            log.warning("hot folder: %s is %s", path, why)

    def _fail(self, path: Path, campaign: str | None, now: float, reason: str) -> FileResult:
        try:
            failed = safe_join(self.root, FAILED)
        except DialboxError as exc:  # failed/ is a link elsewhere: leave the file where it is
            self._warn_once(self.root / FAILED, f"not usable ({exc}); files stay put")
            return FileResult(path, campaign, path, reason=reason)
        target = self._free_name(failed, f"{stamp(now)}-{path.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        where = f"campaign folder {campaign!r}" if campaign else "the top of the hot folder"
        # The reason first, whole (written aside, renamed in), then the file: whoever sees the
        # file in failed/ finds its reason beside it.
        note = target.with_name(target.name + ".reason.txt")
        part = target.with_name("." + note.name + ".part")
        part.write_text(
            f"{path.name} (from {where}) was not imported:\n{reason}\n", encoding="utf-8"
        )
        os.replace(part, note)
        try:
            os.replace(path, target)
        except OSError:
            note.unlink(missing_ok=True)
            raise
        log.warning("hot folder: %s not imported: %s", path, reason)
        return FileResult(path, campaign, target, reason=reason)

    @staticmethod
    def _free_name(directory: Path, name: str) -> Path:
        """`directory/name`, or `name` with -1, -2… before the suffix if that is taken."""
        candidate = directory / name
        stem, dot, suffix = name.partition(".")
        n = 0
        while candidate.exists():
            n += 1
            candidate = directory / f"{stem}-{n}{dot}{suffix}"
        return candidate

    # -- running ----------------------------------------------------------------------------

    async def run(
        self,
        on_result: Callable[[FileResult], None] | None = None,
        poll_seconds: float = 1.0,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Scan every `poll_seconds` until `stop` is set; imports run in a thread, off the loop."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            for result in await asyncio.to_thread(self.scan):
                if on_result is not None:
                    on_result(result)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None
