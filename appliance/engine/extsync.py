"""External lists' sync (SPEC D9, docs/external-lists.md): each round, for every running campaign
with an `external_list`, the customer's dialable rows are marked MarkedForDialing and mirrored as
the campaign's contacts, which the dial loop then dials like imported ones (DNC, hours, filters,
strategy, pacing); the results the attempts left queued (store/external.py) are written back in
order, one transaction each, retried with back-off while the database is down.

All of it runs in a worker thread on a connection of its own, so a slow or dead database never
stalls the dial loop. On stop (after the dial loop drained) and at start (after a crash) the rows
the box holds but did not dial are released back to their previous state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from appliance.campaigns import CampaignSettings
from appliance.clock import Clock
from appliance.config.models import DialboxConfig
from appliance.domain import CampaignStatus
from appliance.external.source import ExternalError, Row, Source
from appliance.phones.numbers import InvalidPhone, normalize_with_zone_key
from appliance.store import external as store
from appliance.store.campaigns import CampaignRow, list_campaigns
from appliance.store.db import Database

log = logging.getLogger(__name__)

WRITES_PER_ROUND = 500  # owed writes replayed per list per round at most


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def mirror_row(row: Row, region: str) -> store.MirrorRow | None:
    """The row as a contact, or None when its first phone is not a phone number."""
    phones: list[tuple[str, str, str | None] | None] = []
    for i in range(1, 6):
        raw = _text(row.values.get(f"phone{i}"))
        if raw is None:
            phones.append(None)
            continue
        try:
            e164, zones = normalize_with_zone_key(raw, region)
        except InvalidPhone:
            if i == 1:
                return None
            phones.append(None)
            continue
        phones.append((raw[:28], e164, zones or None))
    if phones[0] is None:
        return None
    bps = [(_text(row.values.get(f"bp{i}")) or None) for i in range(1, 13)]
    bps = [b[:255] if b else None for b in bps]
    attempts = row.values.get("attempts")
    redial = row.values.get("redial_time")
    return store.MirrorRow(
        key=row.key,
        prev_state=row.state,
        attempts=int(attempts or 0),
        redial_at=float(redial) if isinstance(redial, int | float) else None,
        phones=phones,
        bps=bps,
        tz_override=_text(row.values.get("timezone")),
    )


class ExternalSync:
    """The blocking work of one round; the component runs it in a thread (tests call it)."""

    def __init__(self, config: DialboxConfig, clock: Clock) -> None:
        self.clock = clock
        self.sources: dict[str, Source] = {}
        self._retry_at: dict[str, float] = {}
        self._tries: dict[str, int] = {}
        self._errors: dict[int, str | None] = {}  # campaign id -> the last error logged
        self.reload(config)

    def reload(self, config: DialboxConfig) -> None:
        self.config = config
        wanted = {x.name: x for x in config.external_lists}
        for name, source in list(self.sources.items()):
            if wanted.get(name) != source.config:
                source.close()
                del self.sources[name]
        for name, cfg in wanted.items():
            if name not in self.sources:
                self.sources[name] = Source(cfg)

    def close(self) -> None:
        for source in self.sources.values():
            source.close()

    def campaigns(self, db: Database) -> list[tuple[CampaignRow, CampaignSettings]]:
        out = []
        for campaign in list_campaigns(db):
            name = campaign.settings.get("external_list")
            if isinstance(name, str):
                out.append((campaign, CampaignSettings.model_validate(campaign.settings)))
        return out

    def round(self, db: Database) -> None:
        """Write back what is owed, then take fresh rows for every running external campaign."""
        now = self.clock.now()
        for source in self.sources.values():
            self.flush(db, source, now)
        down: dict[str, str] = {}  # list -> the error its first campaign met this round
        for campaign, settings in self.campaigns(db):
            assert settings.external_list is not None
            found = self.sources.get(settings.external_list)
            if found is None:
                known = ", ".join(sorted(self.sources)) or "none"
                store.set_status(db, campaign.id, store.Status(
                    settings.external_list, now,
                    f"the config defines no external list {settings.external_list!r}"
                    f" (external_lists: {known})", 0, 0, 0))  # fmt: skip
                continue
            source = found
            if source.config.name in down and campaign.status is CampaignStatus.RUNNING:
                # one failed connection per list and round: a dead server costs one timeout
                store.set_status(db, campaign.id, store.Status(
                    source.config.name, now, down[source.config.name], 0, 0,
                    store.pending_writes(db, campaign.id)))  # fmt: skip
                continue
            try:
                error = self.sync_campaign(db, campaign, settings, source, now)
                if error is not None:
                    down[source.config.name] = error
            except Exception as exc:  # a bug here must not end the sync of other campaigns
                log.exception("external list %s: campaign %s not synced", source.config.name,
                              campaign.name)  # fmt: skip
                store.set_status(db, campaign.id, store.Status(
                    source.config.name, now, f"internal error: {exc!r}", 0, 0, 0))  # fmt: skip

    def sync_campaign(
        self,
        db: Database,
        campaign: CampaignRow,
        settings: CampaignSettings,
        source: Source,
        now: float,
    ) -> str | None:
        """One campaign's round; the error that stopped it, if any."""
        cfg = source.config
        if campaign.status is not CampaignStatus.RUNNING:
            released = store.release_held(db, now, campaign_id=campaign.id)
            if released:
                log.info("external list %s: %d rows of campaign %s released (it is %s)",
                         cfg.name, released, campaign.name, campaign.status)  # fmt: skip
            return None
        # Rows the rules kept from being dialed (outside hours, DNC) go back after a while.
        store.release_held(db, now, campaign_id=campaign.id, marked_before=now - cfg.hold_timeout)
        max_attempts = settings.max_attempts
        error = None
        matching = others = 0
        want = cfg.batch - store.held_count(db, campaign.id)
        mirrored: list[str] = []
        try:
            if want > 0:
                prepared: dict[str, store.MirrorRow | None] = {}

                def judge(row: Row) -> bool:
                    if row.key not in prepared:
                        prepared[row.key] = mirror_row(row, campaign.region)
                    return prepared[row.key] is not None

                def before_commit(rows: list[Row]) -> None:
                    mirrors = [m for r in rows if (m := prepared.get(r.key)) is not None]
                    store.mirror(db, campaign.id, cfg.name, mirrors, now)
                    mirrored.extend(m.key for m in mirrors)

                marked = source.take(campaign.name, now, max_attempts, want, judge, before_commit)
                lost = set(mirrored) - {r.key for r in marked}
                if lost:  # changed by others between the read and the mark
                    store.unhold(db, campaign.id, sorted(lost))
                bad = [k for k, m in prepared.items() if m is None]
                if bad:
                    log.warning("external list %s: %d rows of campaign %s have no valid phone1;"
                                " closed as Unreachable (WrongNumber)", cfg.name, len(bad),
                                campaign.name)  # fmt: skip
            matching, marked_total = source.counts(campaign.name, now, max_attempts)
            others = max(marked_total - store.held_count(db, campaign.id), 0)
        except ExternalError as exc:
            if mirrored:  # the mark's commit failed (or its answer was lost): given back
                store.release_keys(db, campaign.id, mirrored, now)
            error = str(exc)
        if error != self._errors.get(campaign.id):
            if error is not None:
                log.warning("campaign %s: %s", campaign.name, error)
            elif campaign.id in self._errors:
                log.info("campaign %s: external list %s is readable again", campaign.name,
                         cfg.name)  # fmt: skip
            self._errors[campaign.id] = error
        store.set_status(db, campaign.id, store.Status(
            cfg.name, now, error, matching, others, store.pending_writes(db, campaign.id)))  # fmt: skip
        return error

    def flush(self, db: Database, source: Source, now: float, deadline: float | None = None) -> int:
        """Replay the list's owed writes in order until one fails (then back off); how many."""
        name = source.config.name
        if self._retry_at.get(name, 0.0) > now and deadline is None:
            return 0
        done = 0
        for write in store.due_writes(db, name, WRITES_PER_ROUND):
            if deadline is not None and time.monotonic() > deadline:
                break
            try:
                source.write(write.key, write.kind, write.payload)
            except ExternalError as exc:
                store.write_failed(db, write.id, str(exc))
                tries = self._tries.get(name, 0) + 1
                self._tries[name] = tries
                delay = min(source.config.retry_min * 2 ** (tries - 1), source.config.retry_max)
                self._retry_at[name] = now + delay
                if tries == 1 or tries % 10 == 0:
                    log.warning("%s; %d writes wait, retrying in %.0f s", exc,
                                len(store.due_writes(db, name, 1000)), delay)  # fmt: skip
                break
            store.write_done(db, write.id, self.clock.now())
            done += 1
            self._tries[name] = 0
            self._retry_at.pop(name, None)
        return done


class ExternalListsComponent:
    """The daemon's part: rounds in a worker thread; release on stop and at start."""

    name = "external-lists"

    def __init__(
        self,
        config: DialboxConfig,
        db: Database,
        clock: Clock,
        drained: asyncio.Event | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self.drained = drained
        self.ready = asyncio.Event()
        self.sync = ExternalSync(config, clock)
        self._thread_db: Database | None = None
        # After a crash: rows left held were never dialed (an attempt cut by the crash was
        # settled as dangling before this, its result queued); they go back before any round.
        released = store.release_held(db, clock.now())
        if released:
            log.warning("external lists: %d rows held by the last run released", released)

    def reload(self, config: DialboxConfig) -> None:
        self.config = config
        self.sync.reload(config)

    def _interval(self) -> float:
        return min((x.interval for x in self.config.external_lists), default=5.0)

    def _db(self) -> Database:
        if self._thread_db is None:
            path = self.db.path  # the store the daemon opened (a file, or PostgreSQL's URL)
            self._thread_db = self.db if path == ":memory:" else Database(path)
        return self._thread_db

    def _round(self) -> None:
        self.sync.round(self._db())

    def _final_flush(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        db = self._db()
        for source in self.sync.sources.values():
            self.sync.flush(db, source, self.clock.now(), deadline=deadline)

    async def run(self, stopping: asyncio.Event) -> None:
        self.ready.set()
        try:
            while not stopping.is_set():
                if self.config.external_lists or self.sync.campaigns(self.db):
                    try:
                        await asyncio.to_thread(self._round)
                    except Exception:
                        log.exception("external lists round failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=self._interval())
            if self.drained is not None:  # calls in flight end first: their rows are results
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self.drained.wait(), self.config.engine.drain_timeout + 30.0
                    )
            released = store.release_held(self.db, self.clock.now())
            if released:
                log.info("external lists: %d held rows released on stop", released)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._final_flush, 10.0)
        finally:
            self.sync.close()
            if self._thread_db is not None and self._thread_db is not self.db:
                self._thread_db.close()


def unsynced(db: Database) -> Sequence[str]:
    """Lists with writes still owed (for logs and tests)."""
    return [str(n) for (n,) in db.conn.execute(
        "SELECT DISTINCT list_name FROM external_writes WHERE done_at IS NULL")]  # fmt: skip
