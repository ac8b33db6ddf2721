"""Scheduled campaign actions on the injected clock (SPEC C2): adding one, applying those due,
the catch-up of those missed while the box was down, and the ones the config file lists.

Each pass reads the actions whose next occurrence has come, replays every occurrence up to now
in the order of appliance/scheduler/actions.py from the campaign's status, writes the new status
and moves each action past what it applied — one transaction per campaign, so an occurrence is
applied once, never twice after a restart. The daemon runs the first pass (the catch-up) before
the dial loop starts: a campaign a missed stop stopped never dials first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appliance.campaigns import CampaignSettings
from appliance.clock import Clock
from appliance.config import DialboxConfig
from appliance.config.models import ScheduleEntry
from appliance.errors import DialboxError, NotFound
from appliance.scheduler.actions import Action, Due, Step, parse_action, replay, why_unchanged
from appliance.scheduler.timing import When, iso_local, iso_utc, parse_when
from appliance.scheduler.windows import ScheduleError
from appliance.store import campaigns as campaign_store
from appliance.store import schedules as store
from appliance.store.db import Database

log = logging.getLogger(__name__)

ACTOR = "schedule"
LATE = 60.0  # seconds: an occurrence applied later than this was missed (logged as a catch-up)
MAX_AHEAD = 10 * 366 * 86400.0  # a one-off further ahead is a typo in the year
MAX_ACTIONS = 500  # per campaign: a year of one-offs on every weekday, and room to spare
RESYNC = 60.0  # seconds between looks for the campaigns config entries wait for


def campaign_timezone(config: DialboxConfig, campaign: campaign_store.CampaignRow) -> str:
    """The zone a campaign's actions are written in: its own `timezone`, else the box's."""
    return CampaignSettings.model_validate(campaign.settings).timezone or config.timezone


def add_action(
    db: Database,
    config: DialboxConfig,
    campaign: campaign_store.CampaignRow,
    *,
    action: str,
    at: str,
    days: str | None = None,
    timezone: str | None = None,
    now: float,
    actor: str,
    source: str,
    config_key: str | None = None,
) -> store.ActionRow:
    """Check and add one scheduled action. A one-off in the past is refused (DialboxError), except
    from the config file, where it is kept as done and not applied (it was past when first read)."""
    try:
        kind = parse_action(action)
        when = parse_when(at, days, timezone or campaign_timezone(config, campaign))
    except ValueError as exc:  # ScheduleError too
        raise DialboxError(str(exc)) from None
    if store.count_actions(db, campaign.id) >= MAX_ACTIONS:
        raise DialboxError(
            f"campaign {campaign.name!r} has {MAX_ACTIONS} scheduled actions, the most it may"
            " have; delete some (those done first) before adding more"
        )
    next_due = when.next_after(now)
    result = None
    if next_due is None:
        past = f"at: {when.at_text()} is in the past (it is now {iso_local(now, when.timezone)})"
        if source != "config":
            raise DialboxError(f"{past}; give a time still to come")
        result = "not applied: it was already past when the box first read it from the config"
    elif not when.recurring and next_due > now + MAX_AHEAD:
        raise DialboxError(f"at: {when.at_text()} is more than 10 years away; check the year")
    new = store.NewAction(
        campaign.id, str(kind), when.at_text(), when.days_text(), when.timezone, source,
        next_due, config_key, result,
    )  # fmt: skip
    row = store.add_action(db, new, campaign.name, now, actor)
    log.info(
        "schedule: campaign %r: %s %s added by %s%s", campaign.name, kind, when.describe(), actor,
        f" (next {iso_local(next_due, when.timezone)})" if next_due else f" ({result})",
    )  # fmt: skip
    return row


def when_of(row: store.ActionRow) -> When:
    return parse_when(row.at_text, row.days, row.timezone)


def describe(row: store.ActionRow) -> dict[str, Any]:
    """One action as the API and `dialbox campaign schedule list --json` show it (ISO 8601)."""

    def utc(t: float | None) -> str | None:
        return None if t is None else iso_utc(t)

    return {
        "id": row.id,
        "action": row.action,
        "at": row.at_text,
        "days": row.days,
        "timezone": row.timezone,
        "repeats": row.days is not None,
        "source": row.source,
        "next_due": utc(row.next_due_at),
        "next_due_local": None
        if row.next_due_at is None
        else iso_local(row.next_due_at, row.timezone),
        "last_due": utc(row.last_due_at),
        "last_applied": utc(row.last_applied_at),
        "last_result": row.last_result,
        "created_at": iso_utc(row.created_at),
        "created_by": row.created_by,
    }


def summary(rows: Sequence[store.ActionRow]) -> dict[str, Any]:
    """The campaign's soonest action still due and the one applied last (None: none)."""
    due = [r for r in rows if r.next_due_at is not None]
    done = [r for r in rows if r.last_applied_at is not None]
    soonest = min(due, key=lambda r: (r.next_due_at, r.id)) if due else None
    latest = max(done, key=lambda r: (r.last_applied_at, r.last_due_at, r.id)) if done else None
    return {
        "next_due": None if soonest is None else describe(soonest),
        "last_applied": None if latest is None else describe(latest),
    }


@dataclass(frozen=True, slots=True)
class Applied:
    """One occurrence applied to a campaign (for logs and tests)."""

    campaign: str
    step: Step
    late: bool


class ScheduledActions:
    """The daemon component: applies due actions every `engine.tick`, keeps the config's rows in
    step with the file (at start, on SIGHUP, and while an entry waits for its campaign)."""

    name = "schedules"

    def __init__(self, config: DialboxConfig, db: Database, clock: Clock) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self.ready = asyncio.Event()
        self._waiting: set[str] = set()  # campaigns config entries name that do not exist
        self._synced_at = 0.0

    def start(self) -> list[Applied]:
        """At daemon start, before the dial loop: the config's entries, then the catch-up."""
        self.sync_config()
        applied = self.apply_due()
        if applied:
            missed = sum(1 for a in applied if a.late)
            campaigns = sorted({a.campaign for a in applied})
            log.warning(
                "schedule catch-up at start: %d scheduled occurrence(s) were due while the box was"
                " down (%d on time); applied in order for %s",
                missed, len(applied) - missed, ", ".join(repr(c) for c in campaigns),
            )  # fmt: skip
        return applied

    async def run(self, stopping: asyncio.Event) -> None:
        self.ready.set()
        while not stopping.is_set():
            try:
                if self._waiting and self.clock.now() - self._synced_at >= RESYNC:
                    self.sync_config()
                self.apply_due()
            except Exception:
                log.exception("scheduled actions pass failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.config.engine.tick)

    def reload(self, config: DialboxConfig) -> None:
        self.config = config
        self.sync_config()

    # ------------------------------------------------------------------ applying
    def apply_due(self) -> list[Applied]:
        """Apply every occurrence due by now; returns what was applied, oldest first."""
        now = self.clock.now()
        applied: list[Applied] = []
        for campaign_id in store.due_campaigns(self.db, now):
            try:
                applied += self._apply_campaign(campaign_id, now)
            except Exception:
                log.exception("scheduled actions of campaign %s could not be applied", campaign_id)
        return applied

    def _apply_campaign(self, campaign_id: int, now: float) -> list[Applied]:
        with self.db.transaction():
            try:
                campaign = campaign_store.get_campaign_by_id(self.db, campaign_id)
            except NotFound:  # deleted since the query: its actions went with it
                return []
            rows = store.due_actions(self.db, campaign_id, now)
            dues: list[Due] = []
            whens: dict[int, When | None] = {}
            for row in rows:
                assert row.next_due_at is not None
                try:
                    when = when_of(row)
                except ScheduleError as exc:  # e.g. a zone the system's tzdata no longer has
                    store.record_applied(
                        self.db, row, last_due_at=row.next_due_at, next_due_at=None, now=now,
                        result=f"not applied: {exc}",
                    )  # fmt: skip
                    log.error("schedule: campaign %r: action %d: %s", campaign.name, row.id, exc)
                    continue
                whens[row.id] = when
                times = [row.next_due_at, *when.occurrences(row.next_due_at, now)]
                dues += [Due(row.id, Action(row.action), t) for t in times]
            steps = replay(campaign.status, dues)
            if steps and steps[-1].after is not campaign.status:
                campaign_store.update_campaign(
                    self.db, campaign, {"status": steps[-1].after}, now, ACTOR
                )
            for row in rows:
                known = whens.get(row.id)
                mine = [s for s in steps if s.due.key == row.id]
                if known is None or not mine:
                    continue
                last = mine[-1]
                store.record_applied(
                    self.db, row, last_due_at=last.due.at,
                    next_due_at=known.next_after(now) if known.recurring else None,
                    result=_result(last), now=now,
                )  # fmt: skip
        applied = [Applied(campaign.name, s, s.due.at < now - LATE) for s in steps]
        for item in applied:
            self._log(item, rows)
        return applied

    @staticmethod
    def _log(item: Applied, rows: list[store.ActionRow]) -> None:
        step = item.step
        tz = next(r.timezone for r in rows if r.id == step.due.key)
        when = iso_local(step.due.at, tz)
        what = _result(step)
        if item.late:
            log.warning(
                "schedule catch-up: campaign %r: %s was due %s (missed), applied now: %s",
                item.campaign, step.due.action, when, what,
            )  # fmt: skip
        else:
            log.info(
                "schedule: campaign %r: %s due %s: %s", item.campaign, step.due.action, when, what
            )

    # ------------------------------------------------------------------ the config's entries
    def sync_config(self) -> None:
        """Add the config's entries not yet stored, drop stored ones no longer in the file."""
        now = self.clock.now()
        self._synced_at = now
        waiting: set[str] = set()
        wanted: set[tuple[int, str | None]] = set()
        stored = {(r.campaign_id, r.config_key): r for r in store.config_actions(self.db)}
        for index, entry in enumerate(self.config.schedules):
            campaign = campaign_store.find_campaign(self.db, entry.campaign)
            if campaign is None:
                if entry.campaign not in self._waiting:
                    log.warning(
                        "schedules[%d]: no campaign named %r; the entry waits until it exists",
                        index, entry.campaign,
                    )  # fmt: skip
                waiting.add(entry.campaign)
                continue
            key = config_key(entry)
            wanted.add((campaign.id, key))
            if (campaign.id, key) in stored:
                continue
            try:
                stored[(campaign.id, key)] = add_action(
                    self.db, self.config, campaign, action=entry.action, at=entry.at,
                    days=entry.days, timezone=entry.timezone, now=now, actor="config",
                    source="config", config_key=key,
                )  # fmt: skip
            except DialboxError as exc:
                log.error("schedules[%d]: %s", index, exc)
        self._waiting = waiting
        for (campaign_id, known), row in stored.items():
            if (campaign_id, known) not in wanted:
                campaign = campaign_store.get_campaign_by_id(self.db, campaign_id)
                store.delete_action(self.db, row, campaign.name, now, "config")
                log.info(
                    "schedule: campaign %r: %s %s removed (no longer in the config)",
                    campaign.name, row.action, row.at_text,
                )  # fmt: skip


def config_key(entry: ScheduleEntry) -> str:
    """An entry's identity across reloads: what the file says, the zone as written."""
    parts = (entry.action, entry.at.strip(), entry.days or "", entry.timezone or "")
    return "|".join(parts)


def _result(step: Step) -> str:
    if step.changed:
        return f"{step.before} → {step.after}"
    return f"no change: {why_unchanged(step.due.action, step.before)}"


__all__ = [
    "ACTOR",
    "Applied",
    "ScheduledActions",
    "add_action",
    "campaign_timezone",
    "describe",
    "summary",
]
