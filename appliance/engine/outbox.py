"""Results push (SPEC D6): each attempt's result POSTed to the campaign's webhook at least once,
in order per contact, with retry and back-off from the outbox table, surviving restarts.

The outbox row is written in the same transaction as the attempt's outcome (store.attempts), so
a result can never be recorded without its delivery being owed. Deliveries run in their own task
with timeouts: a slow or dead receiver delays only its own results, never a dial."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import aiohttp

from appliance import __version__
from appliance.clock import Clock
from appliance.config import DialboxConfig
from appliance.store.campaigns import get_campaign_by_id
from appliance.store.db import Database

log = logging.getLogger(__name__)

# For each contact only its oldest undelivered row is due: a later result of the same contact
# waits until the earlier one is through (order per contact).
_DUE = (
    "SELECT o.id, o.campaign_id, o.contact_id, o.payload, o.tries FROM outbox o"
    " WHERE o.delivered_at IS NULL AND o.next_try_at <= ?"
    " AND o.id = (SELECT min(o2.id) FROM outbox o2"
    "             WHERE o2.contact_id = o.contact_id AND o2.delivered_at IS NULL)"
    " ORDER BY o.id LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    campaign_id: int
    contact_id: int
    payload: str
    tries: int


class OutboxComponent:
    name = "outbox"

    def __init__(
        self, db: Database, clock: Clock, config: DialboxConfig, *, batch: int = 100
    ) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.batch = batch
        self.ready = asyncio.Event()
        self.wake = asyncio.Event()
        self.delivered = 0
        self.failed = 0

    def reload(self, config: DialboxConfig) -> None:
        self.config = config

    def _backoff(self, tries: int) -> float:
        settings = self.config.engine
        return float(
            min(settings.webhook_retry_min * 2 ** max(tries - 1, 0), settings.webhook_retry_max)
        )

    async def run(self, stopping: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=self.config.engine.webhook_timeout)
        headers = {"User-Agent": f"dialbox/{__version__}"}
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            self.ready.set()
            while not stopping.is_set():
                try:
                    await self.deliver_due(session)
                except Exception:
                    log.exception("results push round failed")
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stopping.wait(), self.wake.wait()), timeout=1.0)

    async def deliver_due(self, session: aiohttp.ClientSession) -> int:
        rows = [Row(*r) for r in self.db.conn.execute(_DUE, (self.clock.now(), self.batch))]
        if not rows:
            return 0
        urls = {}
        for row in rows:
            if row.campaign_id not in urls:
                try:
                    settings = get_campaign_by_id(self.db, row.campaign_id).settings
                except LookupError:
                    settings = {}
                urls[row.campaign_id] = settings.get("webhook")
        down: set[str] = set()
        # One receiver at a time per URL, in id order: a receiver that fails is not asked again
        # in this round, so a dead one costs one timeout per round, not one per result.
        by_url: dict[str | None, list[Row]] = {}
        for row in rows:
            by_url.setdefault(urls[row.campaign_id], []).append(row)
        results = await asyncio.gather(
            *(self._deliver_all(session, url, items, down) for url, items in by_url.items())
        )
        return sum(results)

    async def _deliver_all(
        self, session: aiohttp.ClientSession, url: str | None, rows: list[Row], down: set[str]
    ) -> int:
        done = 0
        for row in rows:
            if url is None:
                self._finish(row, "the campaign has no webhook any more; not delivered")
                continue
            if url in down:
                break
            error = await self._post(session, url, row)
            if error is None:
                self._finish(row, None)
                done += 1
            else:
                down.add(url)
                self._retry(row, error)
        return done

    async def _post(self, session: aiohttp.ClientSession, url: str, row: Row) -> str | None:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"dialbox-result-{row.id}",
            "X-Dialbox-Delivery": str(row.id),
            "X-Dialbox-Attempt": str(row.tries + 1),
        }
        try:
            async with session.post(url, data=row.payload.encode(), headers=headers) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    def _finish(self, row: Row, note: str | None) -> None:
        with self.db.transaction():
            self.db.conn.execute(
                "UPDATE outbox SET delivered_at = ?, tries = tries + ?, last_error = ? WHERE id = ?",
                (self.clock.now(), 0 if note else 1, note, row.id),
            )
        self.delivered += 1

    def _retry(self, row: Row, error: str) -> None:
        delay = self._backoff(row.tries + 1)
        with self.db.transaction():
            self.db.conn.execute(
                "UPDATE outbox SET tries = tries + 1, next_try_at = ?, last_error = ? WHERE id = ?",
                (self.clock.now() + delay, error, row.id),
            )
        self.failed += 1
        if row.tries == 0 or row.tries % 10 == 0:
            log.warning(
                "webhook delivery %s (contact %s) failed: %s; retrying in %.0f s",
                row.id, row.contact_id, error, delay,
            )  # fmt: skip


async def _first(*waits: object) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]  # type: ignore[call-overload]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
