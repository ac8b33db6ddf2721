"""The figures that need scans — the abandon ledger's rolling windows, the last hour's outcomes,
the contacts due now (queue depth), the recordings' summary — computed together at most once
per `Figures.ttl` seconds, on a connection of their own in a worker thread, and handed out
with the moment they were computed (#28).

`GET /status` and `/metrics` read the same snapshot, so the console and a scraper agree; each
says how old it is (`figures_as_of`, `figures_age_seconds` in /status; docs/api.md). The
contacts by campaign and state are not here: they are kept current by migration 0014
(store/counts.py). `GET /campaigns/{name}/why` and the reports compute their own, exactly, per
request: they are asked for one campaign at a time.

A stale snapshot (up to STALE_LIMIT × ttl old) is served while the next one is computed in
the background (the first one, and one older than that, is waited for): a request never waits for the scans once the box has figures, and the scans
never run on the event loop when the database is a file.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from appliance.domain import ContactState
from appliance.store import dialect
from appliance.store.db import Database
from appliance.store.export import outcome_label
from appliance.store.recordings import deleted_since, kept_bytes
from appliance.store.selection import abandon_counts

HOUR = 3600.0
DAY = 86400.0
LEDGER_WINDOWS = (DAY, 30 * DAY)  # what /status shows ("24h", "30d"); profiles may add more
CHANNELS = ("voice", "sms", "email")
TTL = 5.0  # seconds: about a dial round's worth of change; the console polls every 2 s
# A snapshot older than this many TTLs (nobody asked for a while) is not shown while the next
# is computed: the request waits for the new one instead.
STALE_LIMIT = 3.0


@dataclass(frozen=True)
class Snapshot:
    """The scanned figures at `as_of` (the clock's time when they were computed)."""

    as_of: float
    took: float  # seconds the scans took
    windows: tuple[float, ...] = LEDGER_WINDOWS  # the ledger's windows counted
    # campaign id -> window (seconds) -> (answered, abandoned): store.selection.abandon_counts
    ledger: dict[int, dict[float, tuple[int, int]]] = field(default_factory=dict)
    # campaign id -> channel -> outcome label -> attempts ended in the last hour
    outcomes_hour: dict[int, dict[str, dict[str, int]]] = field(default_factory=dict)
    # campaign id -> contacts due for a dial now (new, and redials/callbacks due), before the
    # calling-hours checks: dialbox_queue_depth
    queue: dict[int, int] = field(default_factory=dict)
    # recordings deleted in the last 24 hours by why (those started are read per request)
    recordings_deleted_24h: dict[str, int] = field(default_factory=dict)
    recordings_kept_bytes: int = 0

    def age(self, now: float) -> float:
        return round(max(0.0, now - self.as_of), 3)

    def abandon(self, campaign_id: int, window: float) -> tuple[int, int] | None:
        """(answered, abandoned) over `window`, or None when this snapshot did not count it."""
        if window not in self.windows:
            return None
        return self.ledger.get(campaign_id, {}).get(window, (0, 0))


def _ledger(
    db: Database, now: float, windows: tuple[float, ...], campaigns: list[int]
) -> dict[int, dict[float, tuple[int, int]]]:
    """Every campaign's (answered, abandoned) over each window: the ledger migration 0014
    keeps by hour (selection.abandon_counts), a few hundred rows per campaign and window."""
    return {c: {w: abandon_counts(db, c, now, w) for w in windows} for c in campaigns}


def _outcomes(db: Database, since: float) -> dict[int, dict[str, dict[str, int]]]:
    """Attempts ended since `since` by campaign, channel and outcome label (results.outcomes)."""
    out: dict[int, dict[str, dict[str, int]]] = {}
    for campaign_id, channel, code, n in db.conn.execute(
        "SELECT campaign_id, channel, outcome, count(*) FROM attempts WHERE ended_at >= ?"
        " GROUP BY campaign_id, channel, outcome ORDER BY outcome",
        (since,),
    ):
        label = outcome_label(code if code is None else int(str(code))) or "Dangling"
        by_label = out.setdefault(int(str(campaign_id)), {}).setdefault(str(channel), {})
        by_label[label] = by_label.get(label, 0) + int(str(n))
    return out


def due_now(db: Database, campaign_id: int, now: float) -> int:
    """New contacts (contacts_new) and those whose redial or callback time has come
    (contacts_due) in a state that may be dialed: index counts, no calling-hours checks."""
    new = db.scalar(
        f"SELECT count(*) FROM contacts{dialect.of(db).indexed_by('contacts_new')}"
        " WHERE campaign_id = ?"
        " AND state = 'Pending' AND next_at IS NULL AND callback_at IS NULL",
        (campaign_id,),
    )
    due = db.scalar(
        f"SELECT count(*) FROM contacts{dialect.of(db).indexed_by('contacts_due')}"
        " WHERE campaign_id = ?"
        " AND coalesce(next_at, callback_at) IS NOT NULL"
        " AND coalesce(next_at, callback_at) <= ? AND state IN (?, ?, ?)",
        (campaign_id, now, ContactState.PENDING, ContactState.NOT_CONNECTED,
         ContactState.SMS_SENT),
    )  # fmt: skip
    return int(new or 0) + int(due or 0)


def compute(db: Database, now: float, windows: Iterable[float] = LEDGER_WINDOWS) -> Snapshot:
    """The figures at `now`, read in one transaction (one consistent snapshot of the store)."""
    started = time.perf_counter()
    spans = tuple(sorted(set(windows) | set(LEDGER_WINDOWS)))
    with db.conn:  # one read transaction for all of them
        campaigns = [int(str(i)) for (i,) in db.conn.execute("SELECT id FROM campaigns")]
        ledger = _ledger(db, now, spans, campaigns)
        outcomes = _outcomes(db, now - HOUR)
        queue = {c: due_now(db, c, now) for c in campaigns}
        recordings = deleted_since(db, now - DAY)
        kept = kept_bytes(db)
    return Snapshot(
        as_of=now,
        took=round(time.perf_counter() - started, 4),
        windows=spans,
        ledger=ledger,
        outcomes_hour=outcomes,
        queue=queue,
        recordings_deleted_24h=recordings,
        recordings_kept_bytes=kept,
    )


class Figures:
    """The latest `Snapshot`, computed again when it is `ttl` seconds old.

    `reader` opens the connection the scans run on in a worker thread (the daemon gives a
    read-only one on the same file); without one they run on `db` on the caller's thread (an
    in-memory database, tests)."""

    def __init__(
        self,
        db: Database,
        *,
        ttl: float = TTL,
        reader: Callable[[], Database] | None = None,
    ) -> None:
        self.db = db
        self.ttl = ttl
        self._reader = reader
        self._reading: Database | None = None
        self._snap: Snapshot | None = None
        self._windows: set[float] = set(LEDGER_WINDOWS)
        self._lock = threading.Lock()  # one computation at a time (the thread's connection)
        self._task: asyncio.Task[Snapshot] | None = None
        # campaign id -> (as_of, the campaign's updated_at, what `why` counted): a scan of the
        # campaign's contacts, counted again when `ttl` old or when the campaign changed
        self._why: dict[int, tuple[float, float, Any]] = {}

    @classmethod
    def for_file(cls, db: Database, ttl: float = TTL) -> Figures:
        """Figures scanned on a read-only connection of their own when `db` is a file."""
        if db.path == ":memory:":
            return cls(db, ttl=ttl)
        return cls(db, ttl=ttl, reader=lambda: Database(db.path, readonly=True))

    def latest(self) -> Snapshot | None:
        return self._snap

    def want(self, window: float) -> None:
        """Count the ledger over `window` too from the next computation (a profile's own)."""
        self._windows.add(float(window))

    def fresh(self, now: float) -> bool:
        snap = self._snap
        return snap is not None and 0.0 <= now - snap.as_of < self.ttl

    def _compute(self, now: float) -> Snapshot:
        with self._lock:
            if self._reader is not None and self._reading is None:
                self._reading = self._reader()
            snap = compute(self._reading or self.db, now, tuple(self._windows))
            if self._snap is None or snap.as_of >= self._snap.as_of:
                self._snap = snap
            return self._snap

    def get(self, now: float) -> Snapshot:
        """The figures, computed here and now when stale (the CLI, tests)."""
        snap = self._snap
        if snap is not None and self.fresh(now):
            return snap
        return self._compute(now)

    async def refresh(self, now: float) -> Snapshot:
        """Compute the figures now (in a worker thread when there is a reader); one at a time:
        a caller while one runs gets that one's."""
        if self._task is None or self._task.done():
            if self._reader is None:
                return self._compute(now)
            self._task = asyncio.ensure_future(asyncio.to_thread(self._compute, now))
        return await asyncio.shield(self._task)

    async def get_async(self, now: float) -> Snapshot:
        """The figures for a request: fresh ones as they are; stale ones as they are while the
        next are computed in the background; none yet, or too old to show: waited for."""
        snap = self._snap
        if snap is None or not 0.0 <= now - snap.as_of < STALE_LIMIT * self.ttl:
            return await self.refresh(now)  # none yet, or too old to show: wait for them
        if not self.fresh(now) and (self._task is None or self._task.done()):
            if self._reader is None:
                return self._compute(now)
            self._task = asyncio.ensure_future(asyncio.to_thread(self._compute, now))
        return snap

    def why_counts(
        self, campaign_id: int, stamp: float, now: float, count: Callable[[], Any]
    ) -> tuple[Any, float]:
        """`why`'s counts of the campaign's contacts by reason, and when they were counted:
        those of a moment ago (under `ttl` old, the campaign unchanged since: `stamp`, its
        updated_at), else `count()` now."""
        held = self._why.get(campaign_id)
        if held is not None and held[1] == stamp and 0.0 <= now - held[0] < self.ttl:
            return held[2], held[0]
        counted = count()
        if len(self._why) > 1024:
            self._why.clear()
        self._why[campaign_id] = (now, stamp, counted)
        return counted, now

    def close(self) -> None:
        with self._lock:
            if self._reading is not None:
                self._reading.close()
                self._reading = None
