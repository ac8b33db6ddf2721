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
from appliance.scheduler.pacing import DAY, MONTH, TARGET_SHARE, Pacer
from appliance.store.db import Database
from appliance.store.selection import abandon_counts

PACED = ("progressive", "predictive")
_MACHINE = (Outcome.ANSWERING_MACHINE, Outcome.FAX)
# Answered by no person (a modem answered: Incompatible, #24): never a live answer when replayed.
_NOT_LIVE = (*_MACHINE, Outcome.INCOMPATIBLE)


def non_live(outcome: Outcome | int) -> str:
    """The pacer's name for how a dial ended without a live answer (#19)."""
    if outcome == Outcome.BUSY:
        return "busy"
    if outcome == Outcome.ALERTING_TIMEOUT:
        return "noanswer"
    if outcome in _MACHINE:
        return "machine"
    return "fail"


@dataclass
class _Entry:
    key: tuple[str, float, float, float]
    pacer: Pacer


class Pacers:
    def __init__(self, db: Database, wrap_up: float) -> None:
        self.db = db
        self.wrap_up = wrap_up
        self._by_campaign: dict[int, _Entry] = {}

    def get(
        self,
        campaign_id: int,
        settings: CampaignSettings,
        cap: float | None,
        now: float,
        false_positive: float = 0.0,
    ) -> Pacer:
        """`false_positive`: the campaign's AMD false-positive share where its profile counts
        them as abandoned (planner.false_positive_share), else 0."""
        mode = settings.pacing if settings.pacing in PACED else "progressive"
        ratio = settings.ratio
        cap_value = 1.0 if cap is None else cap
        key = (mode, ratio, cap_value, false_positive)
        entry = self._by_campaign.get(campaign_id)
        if entry is None:
            pacer = Pacer(mode, ratio=ratio, cap=cap_value, wrap=self.wrap_up)
            pacer.false_positive = false_positive
            self._seed(pacer, campaign_id, now)
            entry = self._by_campaign[campaign_id] = _Entry(key, pacer)
        elif entry.key != key:  # a live edit: same measurements, new mode, ratio, cap or share
            entry.pacer.mode, entry.pacer.ratio, entry.pacer.cap = mode, ratio, cap_value
            entry.pacer.target = TARGET_SHARE * cap_value
            entry.pacer.false_positive = false_positive
            entry.key = key
        return entry.pacer

    def share(self, campaign_id: int, now: float) -> None:
        """Other boxes dial the campaign too (#27): its pacer's abandon ledger is held to the
        whole campaign's figures, read from the store now (each box's calls are recorded there
        as they end), so the cap holds across boxes."""
        entry = self._by_campaign.get(campaign_id)
        if entry is None:
            return
        for window in (DAY, MONTH):
            answered, abandoned = abandon_counts(self.db, campaign_id, now, window)
            entry.pacer.ledger.share(window, abandoned, answered)

    def known(self, campaign_id: int) -> Pacer | None:
        entry = self._by_campaign.get(campaign_id)
        return None if entry is None else entry.pacer

    def _seed(self, pacer: Pacer, campaign_id: int, now: float) -> None:
        """Replay the campaign's voice attempts of the last 30 days as the pacer saw them live:
        every dial, then its live answer (and abandon or talk) or its non-live outcome with its
        time from dial, in time order. Answers without their dials made the answer rate
        answers ÷ 0 (24.4 after a day) and the pacer dial every free line (#19)."""
        rows = self.db.conn.execute(
            "SELECT dialed_at, answered_at, ended_at, outcome FROM attempts"
            " WHERE campaign_id = ? AND channel = 'voice' AND queued_at > ? AND status = 'done'"
            " AND (dialed_at IS NOT NULL OR answered_at IS NOT NULL OR outcome = ?)",
            (campaign_id, now - MONTH, int(Outcome.ABANDONED)),
        )
        events: list[tuple[float, int, float, str]] = []  # (time, kind, value, outcome)
        for dialed_at, answered_at, ended_at, outcome in rows:
            start = next(
                (float(t) for t in (dialed_at, answered_at, ended_at) if t is not None), None
            )
            if start is None:
                continue
            events.append((start, _DIAL, 0.0, ""))
            abandoned = outcome == int(Outcome.ABANDONED)
            live = abandoned or (answered_at is not None and outcome not in _NOT_LIVE)
            if not live:
                end = float(ended_at) if ended_at is not None else start
                events.append((end, _RESOLVED, end - start, non_live(int(outcome or 9))))
                continue
            at = float(answered_at if answered_at is not None else ended_at or start)
            events.append((at, _ANSWER, at - start, ""))
            if abandoned:
                events.append((at, _ABANDON, 0.0, ""))
            elif ended_at is not None:
                events.append((float(ended_at), _TALK, float(ended_at) - at, ""))
        for at, kind, value, outcome in sorted(events):
            value = max(0.0, value)
            if kind == _DIAL:
                pacer.dialed(at)
            elif kind == _ANSWER:
                pacer.answered(at, value)
            elif kind == _RESOLVED:
                pacer.resolved(at, outcome, value)
            elif kind == _ABANDON:
                pacer.abandoned(at)
            else:
                pacer.talk_ended(value, at)


_DIAL, _ANSWER, _RESOLVED, _ABANDON, _TALK = range(5)
