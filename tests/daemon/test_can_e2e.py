"""The daemon dials a campaign over line-card ports: `dialbox emulate can-card` behind an emulated
SLCAN adapter on a pty, the daemon's CAN lines on python-can's slcan interface, end to end."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from appliance.cli import main
from tests.daemon.campaign import write_contacts
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess
from tests.daemon.test_v253_e2e import query


def test_a_campaign_dialed_over_an_emulated_can_line_card(tmp_path: Path) -> None:
    link = tmp_path / "can0"
    emulator = subprocess.Popen(
        [sys.executable, "-m", "appliance", "emulate", "can-card", "--slots", "3:fxo,fxo,fxs",
         "--bus", f"slcan:{link}", "--time-scale", "0.02", "--seed", "2", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert emulator.stdout is not None
        info = json.loads(emulator.stdout.readline())
        assert info["cards"] == [{"slot": 3, "roles": ["fxo", "fxo", "fxs"]}]
        config = "lines:\n" + "".join(
            f"  - {{name: card3-{p}, kind: can, device: 'slcan:{link}/3/{p}'}}\n" for p in (1, 2)
        )
        daemon = DaemonProcess(tmp_path, config + ALWAYS_CALLABLE + "engine:\n  tick: 0.1\n")
        cli = ["--config", str(daemon.config)]
        assert main([*cli, "campaign", "create", "c", "--type", "automated", "--region", "US"]) == 0
        assert (
            main([*cli, "import", "--campaign", "c", str(write_contacts(tmp_path / "c.csv", 20))])
            == 0
        )
        assert main([*cli, "campaign", "start", "c"]) == 0
        daemon.start()
        daemon.expect("READY")
        db = tmp_path / "state" / "dialbox.db"
        deadline = time.monotonic() + 120
        while query(
            db, "SELECT count(*) FROM contacts WHERE state IN ('Pending', 'Sent to Dialer')"
        ) != [(0,)]:
            assert time.monotonic() < deadline, daemon.output()[-3000:]
            assert daemon.proc is not None and daemon.proc.poll() is None, daemon.output()[-3000:]
            time.sleep(0.1)  # polling another process's database
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(30) == 0
        rows = query(db, "SELECT line, outcome, evidence FROM attempts")
        assert len(rows) == 20 and {r[0] for r in rows} == {"card3-1", "card3-2"}
        outcomes = {int(str(r[1])) for r in rows}
        assert 0 in outcomes and outcomes - {0}, outcomes
        assert all("DIAL_TONE" in str(r[2]) for r in rows)  # the card's events kept as evidence
    finally:
        emulator.terminate()
        emulator.wait(10)
