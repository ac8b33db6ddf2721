"""How long recordings stay (SPEC O9, #24): by age (`recordings.retain_days`) and by the disk
budget (`recordings.budget_mb`: the oldest first until the kept ones fit).

A pass deletes the files and marks their rows `deleted` with the reason (`age` or `budget`) and
the time — the row stays, so the attempt keeps the record that it was recorded. Deletions the
budget forced, before the recordings' time, raise an alert: a warning in the log, the gauge
`dialbox_recordings_budget_alert` at 1 until a pass needs none, an audit entry per recording, and
`/status`'s `recordings` section. A file that is already gone is marked deleted all the same
(noted in the row); one that cannot be removed (permissions) stays kept, is logged, and is
tried again at the next pass. Left-over temporary files of recordings a crash interrupted
(`.*.part`, a day old) are removed too.

`Retention.run_once()` is one pass (tests give it a ManualClock); `RetentionComponent` runs one
every `PERIOD` in the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from appliance.clock import Clock
from appliance.config import DialboxConfig
from appliance.config.models import RecordingSettings
from appliance.metrics import Metrics
from appliance.store.db import Database
from appliance.store.recordings import RecordingRow, kept, mark_deleted

log = logging.getLogger(__name__)

ACTOR = "retention"
DAY = 86400.0
PERIOD = 3600.0  # seconds between passes
PART_AGE = DAY  # a temporary file this old belongs to no running recording


@dataclass
class RetentionReport:
    deleted_age: list[int] = field(default_factory=list)  # recording ids
    deleted_budget: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # files that could not be removed
    freed: int = 0  # bytes
    kept_bytes: int = 0  # after the pass
    budget: int = 0  # bytes

    @property
    def alert(self) -> bool:
        """The budget forced deletions before the recordings' time."""
        return bool(self.deleted_budget)


class Retention:
    def __init__(
        self,
        db: Database,
        settings: RecordingSettings,
        directory: Path,
        clock: Clock,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.directory = Path(directory).absolute()
        self.clock = clock
        self.metrics = metrics
        self.last: RetentionReport | None = None

    def run_once(self) -> RetentionReport:
        now = self.clock.now()
        budget = self.settings.budget_mb * 1024 * 1024
        report = RetentionReport(budget=budget)
        rows = kept(self.db)  # oldest first
        total = sum(r.bytes for r in rows)
        cutoff = now - self.settings.retain_days * DAY
        for row in rows:
            if row.started_at < cutoff:
                why = "age"
            elif total > budget:
                why = "budget"
            else:
                break  # younger and within the budget: so is every later one
            if self._delete(row, why, now, report):
                total -= row.bytes
        report.kept_bytes = total
        self._sweep_parts(now)
        if report.alert:
            log.warning(
                "recordings: the disk budget (recordings.budget_mb = %d) forced the deletion of "
                "%d recordings before their %g days, the oldest first (%.1f MB freed); raise "
                "budget_mb or lower retain_days",
                self.settings.budget_mb, len(report.deleted_budget), self.settings.retain_days,
                report.freed / 1048576,
            )  # fmt: skip
        if report.deleted_age:
            log.info("recordings: %d older than %g days deleted", len(report.deleted_age),
                     self.settings.retain_days)  # fmt: skip
        if self.metrics is not None:
            self.metrics.recordings_bytes.set(total)
            self.metrics.recordings_budget_alert.set(1 if report.alert else 0)
        self.last = report
        return report

    def _delete(self, row: RecordingRow, why: str, now: float, report: RetentionReport) -> bool:
        note = None
        if row.path is not None:
            path = self.directory / row.path
            try:
                path.unlink()
            except FileNotFoundError:
                note = f"the file {row.path} was already gone when retention deleted it"
            except OSError as exc:
                log.error("recordings: cannot delete %s (%s): %s; kept, tried again at the next "
                          "pass", path, why, exc.strerror or exc)  # fmt: skip
                report.failed.append(row.id)
                return False
        if mark_deleted(self.db, row.id, now, why, actor=ACTOR, note=note) is None:
            return False  # deleted meanwhile (the API)
        (report.deleted_age if why == "age" else report.deleted_budget).append(row.id)
        report.freed += row.bytes
        if self.metrics is not None:
            self.metrics.recordings_deleted.labels(why).inc()
        return True

    def _sweep_parts(self, now: float) -> None:
        if not self.directory.is_dir():
            return
        for part in self.directory.glob("*/*/*/.*.part"):
            with contextlib.suppress(OSError):
                if part.stat().st_mtime < time.time() - PART_AGE:
                    part.unlink()
                    log.info("recordings: removed %s, left by an interrupted recording", part)


class RetentionComponent:
    """The daemon's periodic retention pass (a Component of appliance/daemon/runner.py): one at
    the start, then every `period` seconds, until the daemon stops."""

    name = "recording-retention"

    def __init__(self, retention: Retention, period: float = PERIOD) -> None:
        self.retention = retention
        self.period = period
        self.ready = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        self.ready.set()
        while not stopping.is_set():
            try:
                self.retention.run_once()
            except Exception:  # a pass that failed is tried again; the daemon goes on
                log.exception("recordings: the retention pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.period)

    def reload(self, config: DialboxConfig) -> None:
        self.retention.settings = config.recordings
