"""Each agent campaign's pacer (SPEC A2–A4), fed by the engine and seeded from the store.

The pacer itself is the scheduler's (pure); this keeps one per campaign, follows live edits of
its mode, ratio and the profile's abandon cap (C9), and at start replays the last 30 days of
voice attempts — every dial, answer, abandon and talk, in time order — so a restart never
forgets abandons and measures the answer rate as the running pacer did.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.campaigns import CampaignSettings
from appliance.domain import Outcome
from appliance.scheduler.pacing import MONTH, Pacer
from appliance.store.db import Database

PACED = ("progressive", "predictive")


@dataclass
class _Entry:
    key: tuple[str, float, float]
    pacer: Pacer


class Pacers:
    def __init__(self, db: Database, wrap_up: float) -> None:
        self.db = db
        self.wrap_up = wrap_up
        self._by_campaign: dict[int, _Entry] = {}

    def get(
        self, campaign_id: int, settings: CampaignSettings, cap: float | None, now: float
    ) -> Pacer:
        mode = settings.pacing if settings.pacing in PACED else "progressive"
        ratio = settings.ratio
        cap_value = 1.0 if cap is None else cap
        key = (mode, ratio, cap_value)
        entry = self._by_campaign.get(campaign_id)
        if entry is None:
            pacer = Pacer(mode, ratio=ratio, cap=cap_value, wrap=self.wrap_up)
            self._seed(pacer, campaign_id, now)
            entry = self._by_campaign[campaign_id] = _Entry(key, pacer)
        elif entry.key != key:  # a live edit: same measurements, new mode, ratio or cap
            entry.pacer.mode, entry.pacer.ratio, entry.pacer.cap = mode, ratio, cap_value
            entry.pacer.target = 0.85 * cap_value
            entry.key = key
        return entry.pacer

    def known(self, campaign_id: int) -> Pacer | None:
        entry = self._by_campaign.get(campaign_id)
        return None if entry is None else entry.pacer

    def _seed(self, pacer: Pacer, campaign_id: int, now: float) -> None:
        """Replay the campaign's voice attempts of the last 30 days as the pacer saw them live:
        every dial (answered or not) as well as every answer, abandon and talk, in time order.
        Answers without their dials would make the answer rate answers ÷ 0 (24.4 after a day)."""
        rows = self.db.conn.execute(
            "SELECT dialed_at, answered_at, ended_at, outcome FROM attempts"
            " WHERE campaign_id = ? AND channel = 'voice' AND queued_at > ? AND status = 'done'"
            " AND (dialed_at IS NOT NULL OR answered_at IS NOT NULL OR outcome = ?)",
            (campaign_id, now - MONTH, int(Outcome.ABANDONED)),
        )
        events: list[tuple[float, int, float]] = []  # (time, kind, value), kinds in replay order
        for dialed_at, answered_at, ended_at, outcome in rows:
            start = dialed_at if dialed_at is not None else answered_at
            if start is None:
                start = ended_at
            if start is None:
                continue
            events.append((float(start), _DIAL, 0.0))
            abandoned = outcome == int(Outcome.ABANDONED)
            if answered_at is None and not abandoned:
                continue
            at = float(answered_at if answered_at is not None else ended_at or start)
            events.append((at, _ANSWER, max(0.0, at - float(start))))
            if abandoned:
                events.append((at, _ABANDON, 0.0))
            elif ended_at is not None:
                events.append((float(ended_at), _TALK, max(0.0, float(ended_at) - at)))
        for at, kind, value in sorted(events):
            if kind == _DIAL:
                pacer.dialed()
            elif kind == _ANSWER:
                pacer.answered(at, value)
            elif kind == _ABANDON:
                pacer.abandoned(at)
            else:
                pacer.talk_ended(value)


_DIAL, _ANSWER, _ABANDON, _TALK = range(4)
