"""The hot folder's timed import (`import.schedule`, EnsemblePro's timed import): complete files
wait until a scheduled time; then a run imports every file in the folder, also those still being
written then, and closes when the folder is empty. A run missed while the box was down happens
when it is back, once: the last run is kept in the database (`timed_runs`), written when the run
closes, so a crash in the middle runs it again (an import made twice adds nothing)."""

from __future__ import annotations

import logging

from appliance.clock import Clock
from appliance.scheduler.timing import When, iso_local, latest_of, next_of
from appliance.store.db import Database
from appliance.store.schedules import set_timed_run, timed_run

log = logging.getLogger(__name__)

LATE = 60.0  # seconds: a run that starts later than this after its time was missed


class TimedImport:
    """Says, at each scan, whether the hot folder may import now (`admits`)."""

    def __init__(
        self, db: Database, name: str, times: tuple[When, ...], timezone: str, clock: Clock
    ) -> None:
        self.db = db
        self.name = name
        self.times = times
        self.timezone = timezone
        self.clock = clock
        self.open = False
        last = timed_run(db, name)
        if last is None:
            # The first time this schedule is seen: a time already past today is not owed.
            now = clock.now()
            last = latest_of(times, now) or now
            set_timed_run(db, name, last)
        self.last = last
        self._told = 0  # files last reported waiting

    def next_run(self) -> float | None:
        return next_of(self.times, self.clock.now())

    def admits(self, pending: int) -> bool:
        """Whether the scan may import now; `pending`: the files in the folder (complete or not)."""
        now = self.clock.now()
        due = latest_of(self.times, now)
        if due is not None and due > self.last:
            self.last, self.open = due, True
            when = iso_local(due, self.timezone)
            if now - due > LATE:
                log.warning("hot folder: timed import of %s was missed (the box was down);"
                            " running it now: %d file(s)", when, pending)  # fmt: skip
            else:
                log.info("hot folder: timed import of %s: %d file(s)", when, pending)
        self.finished(pending)
        if not self.open and pending and pending != self._told:
            following = self.next_run()
            log.info(
                "hot folder: %d file(s) wait for the timed import at %s", pending,
                iso_local(following, self.timezone) if following else "(no time left)",
            )  # fmt: skip
        self._told = 0 if self.open else pending
        return self.open

    def finished(self, left: int) -> None:
        """After a scan: with no file `left` in the folder, the run is over (and recorded)."""
        if self.open and left == 0:
            self.open = False
            set_timed_run(self.db, self.name, self.last)
