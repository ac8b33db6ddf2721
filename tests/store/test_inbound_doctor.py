"""The record invariants (`dialbox doctor`) and inbound campaigns (#23): a caller who called more
often than any dialing limit, calls in flight without a lease, a number's calls answered under
the `fr` cap — all accepted; a list imported into an inbound campaign, where nothing will ever
dial it, is named (`inbound_open`) and left for a person to move."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from appliance.clock import ManualClock
from appliance.config.models import DialboxConfig
from appliance.domain import CampaignType, Outcome
from appliance.engine.doctor import KINDS, Doctor
from appliance.store import open_database
from appliance.store.campaigns import create_campaign
from appliance.store.inbound import complete_inbound, record_inbound

NOW = dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC).timestamp()


def test_inbound_callers_break_no_invariant_and_a_list_in_an_inbound_campaign_is_named(
    tmp_path: Path, db_url: str
) -> None:
    db = open_database(db_url)  # tests/store/conftest.py: each engine
    config = DialboxConfig(database=tmp_path / "d.db", timezone="Europe/Paris", region="FR",
                           compliance_profile="fr")  # 4 calls per number per 30 days  # fmt: skip
    inbound = create_campaign(db, "IN", CampaignType.INBOUND, "FR",
                              {"max_attempts": 1, "max_attempts_per_number": 1}, NOW, "t")  # fmt: skip
    create_campaign(db, "OUT", CampaignType.AGENT, "FR", {}, NOW, "t")
    for n in range(12):  # one caller, twelve calls: beyond every dialing limit and the fr cap
        call = record_inbound(db, inbound, "gsm1", "+33612345678", NOW + n * 60)
        complete_inbound(db, call.attempt_id, Outcome.CONNECTED, NOW + n * 60 + 30)
    record_inbound(db, inbound, "gsm1", "", NOW + 900)  # in flight, withheld, no lease
    record_inbound(db, inbound, "gsm2", "+33612345678", NOW + 901)  # the same caller, in flight

    doctor = Doctor(config, db, ManualClock(NOW + 1000))
    report = doctor.check(daemon_stopped=False)
    assert report.ok, report.text()
    assert report.checked["attempts"] == 14

    # a list imported into the inbound campaign by mistake: nothing dials it there
    db.conn.execute(
        "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, created_at, updated_at)"
        " VALUES (?, 1, '0612345679', '+33612345679', 0, 0)",
        (inbound.id,),
    )
    stray = db.conn.last_insert_rowid()
    report = doctor.check(daemon_stopped=False)
    (violation,) = report.violations
    assert (violation.kind, violation.ids) == ("inbound_open", [stray])
    assert "never dials" in KINDS["inbound_open"][0] and "not repaired" in KINDS["inbound_open"][1]
    assert doctor.repair(daemon_stopped=False) == {}  # left for a person
    assert db.scalar("SELECT state FROM contacts WHERE id = ?", (stray,)) == "Pending"
    json.dumps(report.as_dict())

    # stopped, the two calls in flight are a crash's leftovers: swept, the callers untouched
    stopped = doctor.check(daemon_stopped=True, kinds=("in_flight_while_stopped",))
    assert [len(v.ids) for v in stopped.violations] == [2]
    assert doctor.repair(daemon_stopped=True, kinds=("in_flight_while_stopped",)) == {
        "in_flight_while_stopped": 2
    }
    assert db.scalar("SELECT count(*) FROM contacts WHERE campaign_id = ? AND state = 'Connected'",
                     (inbound.id,)) == 2  # fmt: skip
