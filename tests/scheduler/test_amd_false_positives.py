"""AMD false positives (#19.5): a campaign's configured share of live answers taken for machines
is added to the abandon figure by the profiles that count them (uk: Ofcom), in the cap, the
pacer, `why` and the report; the us profile judges abandoned ÷ answered as before."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from appliance.clock import ManualClock
from appliance.config.models import DialboxConfig
from appliance.domain import Outcome
from appliance.engine.storeplanner import StorePlanner
from appliance.scheduler.compliance import DAY, profile
from appliance.scheduler.limits import AbandonFigure, abandon_cap_reached
from appliance.scheduler.pacing import Pacer
from appliance.store import Database, open_database
from appliance.store.campaigns import get_campaign
from appliance.store.results import abandon_rates
from tests.scheduler.dbfixtures import add_campaign, add_contact

NOW = dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC).timestamp()


def test_the_uk_figure_counts_the_estimated_false_positives_as_abandoned() -> None:
    uk = profile("uk")
    assert uk.counts_false_positives and not profile("us").counts_false_positives
    # 2 abandoned of 100 is 2 %; a 2 % share of live answers taken for machines adds ~2.04
    figure = AbandonFigure(DAY, 100, 2, false_positives=100 * 0.02 / 0.98)
    assert 3.9 < figure.rate < 4.0
    text = abandon_cap_reached(uk, [figure])
    assert text is not None and "AMD false positives" in text


def test_the_pacer_reaches_the_cap_sooner_with_false_positives_counted() -> None:
    plain, counted = Pacer("predictive"), Pacer("predictive")
    counted.false_positive = 0.02
    for pacer in (plain, counted):
        for t in range(200):
            pacer.answered(float(t), 10.0)
        for t in range(2):
            pacer.abandoned(float(t))
    assert not plain.at_cap(300.0)  # 1 %: 2 + a reserve of 2 < 6
    assert counted.at_cap(300.0)  # (2 + 4.1) + 2 ≥ 3 % of 204.1


def test_the_pacer_keeps_the_false_positives_day_to_day_spread_in_hand() -> None:
    """The people really taken for machines scatter around the estimate (sd √n): a day the
    pacer holds at the estimate's line goes over with them one day in five (#19, D5). With
    2,600 answers and a 2 % share (53.1 expected, sd 7.3) the pacer judges 2 sd more, so 11
    abandons (a 2.4 % figure with the estimate, under the line's 3 % less 2 in reserve) are
    already at its line; 5 (2.2 %) are not."""
    near, far = Pacer("predictive"), Pacer("predictive")
    for pacer, abandons in ((near, 11), (far, 5)):
        pacer.false_positive = 0.02
        for t in range(2600):
            pacer.answered(float(t), 10.0)
        for t in range(abandons):
            pacer.abandoned(float(t))
    abandoned, answered = near.counts(3000.0)
    expected = 2600 * 0.02 / 0.98
    assert answered == 2600 + expected
    assert abandoned == 11 + expected + 2 * expected**0.5
    assert near.at_cap(3000.0) and not far.at_cap(3000.0)


def _box(
    tmp_path: Path, settings: dict[str, object], compliance: dict[str, object] | None = None
) -> tuple[Database, StorePlanner]:
    db = open_database(tmp_path / "d.db")
    cid = add_campaign(db, "c", json.dumps(settings))
    for n in range(100):
        contact = add_contact(db, cid, [f"+4420795601{n:02d}"])
        outcome = Outcome.ABANDONED if n < 2 else Outcome.CONNECTED
        db.conn.execute(
            "INSERT INTO attempts(contact_id, campaign_id, attempt_no, number, channel, status,"
            " queued_at, dialed_at, answered_at, ended_at, outcome)"
            " VALUES (?, ?, 1, ?, 'voice', 'done', ?, ?, ?, ?, ?)",
            (contact, cid, f"+4420795601{n:02d}", NOW - 3600, NOW - 3600, NOW - 3590,
             NOW - 3500, int(outcome)),
        )  # fmt: skip
    raw: dict[str, object] = {"database": db.path, "timezone": "Europe/London"}
    if compliance is not None:
        raw["compliance"] = compliance
    config = DialboxConfig.model_validate(raw)
    return db, StorePlanner(config, db, ManualClock(NOW))


def test_why_and_the_report_show_the_figure_with_false_positives(tmp_path: Path) -> None:
    db, planner = _box(tmp_path, {"pacing": "predictive", "profile": "uk",
                                  "amd_false_positive": 0.02})  # fmt: skip
    campaign = get_campaign(db, "c")
    assert planner.false_positive_share(campaign) == 0.02
    why = planner.explain(campaign, NOW)
    cap = [b for b in why.blockers if b["reason"] == "abandon_cap"]
    assert cap and "AMD false positives" in cap[0]["text"]  # 2 % alone is under the cap
    rates = abandon_rates(db, campaign.id, NOW, planner.false_positive_share(campaign))
    assert rates["24h"]["rate"] == 0.02
    assert 0.039 < rates["24h"]["rate_with_false_positives"] < 0.040


def test_the_us_profile_does_not_count_them(tmp_path: Path) -> None:
    db, planner = _box(tmp_path, {"pacing": "predictive", "profile": "us",
                                  "amd_false_positive": 0.02})  # fmt: skip
    campaign = get_campaign(db, "c")
    assert planner.false_positive_share(campaign) == 0.0
    why = planner.explain(campaign, NOW)
    assert not [b for b in why.blockers if b["reason"] in ("abandon_cap", "amd_false_positives")]


def test_a_custom_profile_counts_them_when_configured_to(tmp_path: Path) -> None:
    """The custom profile (C13) can judge abandons as Ofcom does: `count_amd_false_positives`."""
    settings = {"pacing": "predictive", "profile": "custom", "amd_false_positive": 0.02}
    db, planner = _box(tmp_path, settings, {"count_amd_false_positives": True})
    assert planner.false_positive_share(get_campaign(db, "c")) == 0.02
    db, planner = _box(tmp_path / "off", settings, {})
    assert planner.false_positive_share(get_campaign(db, "c")) == 0.0
