"""Each agent campaign's pacer (SPEC A2–A4), fed by the engine and seeded from the store.

The pacer itself is the scheduler's (pure); this keeps one per campaign, follows live edits of
its mode, ratio and the profile's abandon cap (C9), and at start replays the last 30 days of
answered and abandoned calls into its ledger, so a restart never forgets abandons.
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
        rows = self.db.conn.execute(
            "SELECT coalesce(answered_at, ended_at, queued_at), outcome, answered_at - dialed_at,"
            " ended_at - answered_at FROM attempts WHERE campaign_id = ? AND channel = 'voice'"
            " AND queued_at > ? AND status = 'done' AND (answered_at IS NOT NULL OR outcome = ?)"
            " ORDER BY 1",
            (campaign_id, now - MONTH, int(Outcome.ABANDONED)),
        )
        for at, outcome, delay, talk in rows:
            pacer.answered(float(at), max(0.0, float(delay or 0.0)))
            if outcome == int(Outcome.ABANDONED):
                pacer.abandoned(float(at))
            elif talk is not None:
                pacer.talk_ended(max(0.0, float(talk)))
