"""The real daemon applies the scheduled actions it missed while it was down before it is ready
(and before its dial loop runs a round), logs the catch-up, and shows it over the API (SPEC C2)."""

from __future__ import annotations

import time
from pathlib import Path

from appliance.config import load_config
from appliance.domain import CampaignStatus, CampaignType
from appliance.engine.schedules import add_action
from appliance.scheduler.timing import iso_utc
from appliance.store import campaigns, open_database
from tests.api.client import Api, make_token
from tests.daemon.process import DaemonProcess


def test_a_stop_missed_while_down_is_applied_at_start(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path, "timezone: Europe/Warsaw\n")
    config = load_config(daemon.config)
    db = open_database(config.database)
    then = time.time() - 3 * 3600  # the box was last up three hours ago
    row = campaigns.create_campaign(db, "spring", CampaignType.AGENT, "PL", {}, then, "test")
    row = campaigns.update_campaign(db, row, {"status": CampaignStatus.RUNNING}, then, "test")
    stop_at = then + 3600
    add_action(db, config, row, action="stop", at=iso_utc(stop_at), now=then, actor="test",
               source="api")  # fmt: skip
    db.close()
    token = make_token(config.database, "crm", "crm")
    try:
        daemon.start()
        daemon.expect("READY")
        log = daemon.output()
        assert "schedule catch-up: campaign 'spring': stop was due" in log
        assert "running → stopped" in log
        assert log.index("schedule catch-up") < log.index("ready:")
        doc = (
            Api(f"http://127.0.0.1:{daemon.port}", token)
            .get("/campaigns/spring/scheduled-actions")
            .json()
        )
        assert doc["status"] == "stopped"
        assert doc["last_applied"]["last_due"] == iso_utc(stop_at)
        assert doc["last_applied"]["last_result"] == "running → stopped"
        assert doc["next_due"] is None
    finally:
        daemon.stop()
