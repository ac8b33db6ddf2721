"""`dialbox run`: the daemon's lifecycle — start → ready → (reload)* → draining → stopped.

Every long-running part is a `Component` whose `run(stopping)` returns once `stopping` is set
and it has drained; all of them run in one TaskGroup, so a crash in one stops the daemon (and
systemd restarts it) rather than leaving it half alive. systemd hears READY=1 once every
component said it is ready, STATUS= with a one-line summary, WATCHDOG=1 from the event loop,
and STOPPING=1 when a drain begins.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from appliance import __version__
from appliance.api.logbuffer import LogBuffer
from appliance.clock import Clock, SystemClock
from appliance.config import ConfigError, DialboxConfig, load_config
from appliance.daemon.sdnotify import Notifier, watchdog_interval
from appliance.engine.doctor import repair_at_start
from appliance.engine.planner import dangling_decider
from appliance.engine.storeplanner import StorePlanner
from appliance.metrics import Metrics
from appliance.store import Database, open_database
from appliance.store.attempts import DanglingAttempt, sweep_dangling
from appliance.store.boxes import claim, register, this_instance
from appliance.store.db import hold_daemon_lock

log = logging.getLogger(__name__)


class Component(Protocol):
    name: str
    ready: asyncio.Event

    async def run(self, stopping: asyncio.Event) -> None: ...

    def reload(self, config: DialboxConfig) -> None: ...


ComponentFactory = Callable[["Daemon"], Sequence[Component]]

LOOP_LAG_PERIOD = 0.02  # seconds between the loop-lag monitor's timers
CHECKPOINT_PERIOD = 5.0  # seconds between WAL checkpoints, made off the event loop


class RecentMax:
    """The largest value seen in the last `span` seconds (a monotonic deque: O(1) amortized per
    value), for the loop's worst lag of the last minute — the longest since start says little
    once start-up's work is long past (#28)."""

    def __init__(self, span: float) -> None:
        self.span = span
        self._kept: deque[tuple[float, float]] = deque()  # (at, value), values decreasing

    def add(self, at: float, value: float) -> float:
        """Record `value` at `at` (seconds, never decreasing); return the window's largest."""
        kept = self._kept
        while kept and kept[-1][1] <= value:
            kept.pop()
        kept.append((at, value))
        while kept[0][0] < at - self.span:
            kept.popleft()
        return kept[0][1]


def settle_heap() -> int:
    """Once the daemon is up: collect start-up's garbage, then move every object alive (config,
    modules, models, the store's caches: ~120,000 at a million contacts) to the collector's
    permanent generation (`gc.freeze`). Polling allocates quickly, and each full collection
    walked all of them, found nothing to free and held the dial loop for 60-94 ms every 2-3 s
    (#28, bench/api.py); a frozen object is never walked again. Returns how many were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class Daemon:
    def __init__(
        self,
        config_path: str | Path | None,
        *,
        config: DialboxConfig | None = None,
        components: ComponentFactory | None = None,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config_path = config_path
        self.config: DialboxConfig = config if config is not None else load_config(config_path)
        self._given_config = config is not None and config_path is None
        self.clock = clock or SystemClock()
        self.notifier = notifier or Notifier()
        self.db: Database = open_database(self.config.store_url())
        # While it is held, `dialbox import` stages its file instead of locking the dial loop out.
        self._db_lock = hold_daemon_lock(self.config.database)
        self.stopping = asyncio.Event()
        self._factory = components
        self.components: list[Component] = []
        self.exit_code = 0
        self.status_fn: Callable[[], str] = lambda: "running"
        self.metrics: Metrics | None = None
        self.engine: Any = None  # the dial engine, once wired (the API reaches it through here)
        self.recovered: list[DanglingAttempt] = []
        self.readers: list[Database] = []  # other connections the components use, closed at stop
        # The WAL is checkpointed by a connection of its own in a worker thread, never by a
        # commit of the event loop's: one that crossed the autocheckpoint threshold copied
        # thousands of pages back while imports were publishing (the loop blocked 0.5 s).
        self.checkpoints: Database | None = None
        if self.db.local_files:  # SQLite's WAL (PostgreSQL checkpoints itself)
            self.db.conn.execute("PRAGMA wal_autocheckpoint=0")
            self.checkpoints = Database(self.config.database)
            self.readers.append(self.checkpoints)
        self.loop_lag_max = 0.0  # seconds: the event loop's longest lag (LOOP_LAG_PERIOD)
        self.loop_lag_recent = RecentMax(60.0)  # and its longest in the last minute
        self.repaired: dict[str, int] = {}  # what the start-up doctor mended, by kind
        # The last SIGHUP's outcome, for /healthz: none, reading, done or refused (and why).
        self.config_reload: dict[str, str | None] = {"reload": "none", "problem": None}
        self._reloading: asyncio.Task[None] | None = None
        self._reload_again = False
        # The recent log lines, for the API's /logs and the console.
        self.logs = LogBuffer()

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        logging.getLogger().addHandler(self.logs)
        self._recover()
        self.components = list(self._factory(self) if self._factory else [])
        try:
            async with asyncio.TaskGroup() as group:
                for component in self.components:
                    group.create_task(component.run(self.stopping), name=component.name)
                group.create_task(self._announce_ready(), name="ready")
                group.create_task(self._watchdog(), name="watchdog")
                group.create_task(self._loop_lag(), name="loop-lag")
                if self.checkpoints is not None:
                    group.create_task(self._checkpoint(), name="checkpoint")
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            if self._reloading is not None:
                self._reloading.cancel()  # its thread ends on its own, within the file limits
            for reader in self.readers:
                reader.close()
            self.db.close()
            if self._db_lock is not None:
                os.close(self._db_lock)
                self._db_lock = None
            log.info("stopped")
            logging.getLogger().removeHandler(self.logs)
        return self.exit_code

    @property
    def builtin_config(self) -> bool:
        """True when the daemon runs on a config object (the demo), not a file."""
        return self._given_config

    def request_stop(self, why: str = "request") -> None:
        if self.stopping.is_set():
            return
        log.info("%s: draining (no new dials; calls in flight finish or are hung up)", why)
        self.notifier.stopping(f"draining after {why}")
        self.stopping.set()

    def reload(self) -> asyncio.Task[None] | None:
        """SIGHUP: read and validate the config again, off the event loop; a bad one is refused
        and the old one kept. Returns the reload's task (the API awaits it); a SIGHUP while one
        runs makes it read the file once more when it is done."""
        if self._given_config:
            log.info("SIGHUP ignored: this daemon runs on a built-in config (the demo), not a file")
            return None
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.get_running_loop().create_task(self._reload(), name="reload")
        else:
            self._reload_again = True
        return self._reloading

    async def _reload(self) -> None:
        self._reload_again = True
        while self._reload_again:
            self._reload_again = False
            self.config_reload = {"reload": "reading", "problem": None}
            try:
                # In a thread: within the loader's limits (docs/config.md) the worst file takes
                # about a second of CPU, and the dial loop, the API and the watchdog go on.
                config = await asyncio.to_thread(load_config, self.config_path)
            except ConfigError as exc:
                self._refuse(str(exc.problems[0]), str(exc))
                continue
            except Exception as exc:  # a bug in the loader must not take the daemon down
                log.exception("config reload failed")
                self._refuse(f"{type(exc).__name__}: {exc}")
                continue
            if config.database != self.config.database or config.store != self.config.store:
                self._refuse("changing `database` or `store` needs a restart")
                continue
            if config.box.id != self.config.box.id:
                self._refuse("changing `box.id` needs a restart")
                continue
            self.config = config
            for component in self.components:
                component.reload(config)
            self.config_reload = {"reload": "done", "problem": None}
            log.info("config reloaded from %s", self.config_path or "defaults")
            self.notifier.status(self.status_fn())

    def _refuse(self, problem: str, details: str = "") -> None:
        log.error("config reload refused, keeping the running config: %s", details or problem)
        self.config_reload = {"reload": "refused", "problem": problem}
        self.notifier.status(f"config reload refused: {problem}")

    def _recover(self) -> None:
        """Attempts left in flight by a crash become Dangling: their contacts closed, or (requeue)
        settled by the strategy and the limits like any outcome (SPEC C8)."""
        settings = self.config.engine
        box = self.config.box
        # two live daemons with one box id would settle each other's calls as their own (#27)
        claim(self.db, box.id, self.clock.now(), box.sweep_after_seconds, this_instance())
        register(self.db, box.id, __version__, self.clock.now(), (), this_instance())
        planner = StorePlanner(self.config, self.db, self.clock)
        requeue = settings.dangling_action == "requeue"
        swept = sweep_dangling(
            self.db,
            self.clock.now(),
            decide=dangling_decider(planner, self.db, settings.requeue_delay) if requeue else None,
            # this box's (and those no box leased): other boxes on the store own theirs (#27)
            mine=self.config.box.id,
        )
        for attempt in swept:
            log.warning(
                "attempt %s (contact %s) was in flight when the daemon stopped: %s",
                attempt.attempt_id,
                attempt.contact_id,
                "requeued" if attempt.requeued else f"closed as {attempt.state}",
            )
        self.recovered = swept
        # What no sweep mends (an older daemon's blind requeue, a lease left pointing at a
        # finished attempt) is mended here, through the same strategy and limits.
        self.repaired = repair_at_start(self.config, self.db, self.clock, planner)

    async def _announce_ready(self) -> None:
        for component in self.components:
            ready = asyncio.ensure_future(component.ready.wait())
            stop = asyncio.ensure_future(self.stopping.wait())
            await asyncio.wait({ready, stop}, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            stop.cancel()
            if self.stopping.is_set():
                return
        settle_heap()
        status = self.status_fn()
        log.info("ready: %s", status)
        self.notifier.ready(status)

    async def _watchdog(self) -> None:
        interval = watchdog_interval()
        while not self.stopping.is_set():
            # Sent from the event loop itself: a loop stuck in a blocking call stops the pings.
            if interval is not None:
                self.notifier.watchdog()
            self.notifier.status(self.status_fn())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=min(interval or 5.0, 5.0))

    async def _checkpoint(self) -> None:
        """Copy the WAL back into the database every CHECKPOINT_PERIOD, in a worker thread
        (PASSIVE: it waits for no reader or writer, and what it cannot copy waits for the next)."""
        assert self.checkpoints is not None
        conn = self.checkpoints.conn
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), CHECKPOINT_PERIOD)
            try:
                # the whole statement in the thread: apsw steps it inside execute()
                await asyncio.to_thread(
                    lambda: conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                )
            except Exception:
                log.exception("WAL checkpoint failed; trying again in %.0f s", CHECKPOINT_PERIOD)

    async def _loop_lag(self) -> None:
        """Measure how late the loop wakes a timer: the time anything blocking the loop (a
        write waiting for SQLite's lock, a long computation) held up dialing and the API."""
        while not self.stopping.is_set():
            asked = time.monotonic()
            await asyncio.sleep(LOOP_LAG_PERIOD)
            lag = max(time.monotonic() - asked - LOOP_LAG_PERIOD, 0.0)
            if lag > self.loop_lag_max:
                self.loop_lag_max = lag
                if lag >= 0.25:
                    log.warning("the event loop was blocked for %.0f ms", lag * 1000)
            recent = self.loop_lag_recent.add(asked, lag)
            if self.metrics is not None:
                self.metrics.record_loop_lag(lag, self.loop_lag_max, recent)

    def health(self) -> dict[str, Any]:
        return {
            "status": "draining" if self.stopping.is_set() else "ok",
            "ready": all(c.ready.is_set() for c in self.components),
            "components": {c.name: c.ready.is_set() for c in self.components},
            "loop_lag_max_seconds": round(self.loop_lag_max, 4),
            "config": dict(self.config_reload),
        }
