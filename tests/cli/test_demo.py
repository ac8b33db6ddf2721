"""`dialbox demo --headless`: the emulated box runs the sample campaigns and reports what it did."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from appliance.store.db import Database


def test_headless_demo_dials_and_sends_and_reports(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "demo", "--headless", "--duration", "8", "--json",
         "--state-dir", str(tmp_path / "demo"), "--port", "0"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads(result.stdout)
    assert set(doc) == {"dialed", "by_outcome", "sms", "contacts_by_state"}
    assert doc["dialed"] > 0 and sum(doc["by_outcome"].values()) == doc["dialed"]
    assert doc["sms"]["sent"] > 0
    voice = doc["contacts_by_state"]["sample"]
    assert sum(voice.values()) == 193  # the sample's good rows; its 6 bad rows were rejected
    assert voice.get("Sent to Dialer", 0) == 0  # drained: nothing left in flight
    # the agent campaign on the emulated line card: answered calls went to the two agents
    agents = doc["contacts_by_state"]["sample-agents"]
    assert sum(agents.values()) == 193 and agents.get("Sent to Dialer", 0) == 0
    db = Database(tmp_path / "demo" / "dialbox.db", readonly=True)
    try:
        taken = dict(db.conn.execute("SELECT agent, count(*) FROM attempts WHERE agent IS NOT NULL"
                                     " GROUP BY agent").fetchall())  # fmt: skip
    finally:
        db.close()
    assert set(taken) == {"anna", "ben"}, taken
