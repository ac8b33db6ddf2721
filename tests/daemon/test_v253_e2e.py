"""The daemon dials a campaign over analog lines: `dialbox emulate v253` on ptys, end to end."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from appliance.cli import main
from appliance.store.db import Database
from tests.daemon.campaign import write_contacts
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess


def query(db_path: Path, sql: str) -> list[tuple[object, ...]]:
    db = Database(db_path, readonly=True)
    try:
        return [tuple(r) for r in db.conn.execute(sql)]
    finally:
        db.close()


def test_a_campaign_dialed_over_emulated_v253_voice_modems(tmp_path: Path) -> None:
    emulator = subprocess.Popen(
        [sys.executable, "-m", "appliance", "emulate", "v253", "--count", "2", "--link-dir",
         str(tmp_path / "analog"), "--time-scale", "0.02", "--seed", "3", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert emulator.stdout is not None
        links = [Path(item["link"]) for item in json.loads(emulator.stdout.readline())["links"]]
        config = "lines:\n" + "".join(
            f"  - {{name: {p.name}, kind: v253, device: {p}}}\n" for p in links
        )
        daemon = DaemonProcess(tmp_path, config + ALWAYS_CALLABLE + "engine:\n  tick: 0.1\n")
        cli = ["--config", str(daemon.config)]
        assert main([*cli, "campaign", "create", "c", "--type", "automated", "--region", "US"]) == 0
        assert (
            main([*cli, "import", "--campaign", "c", str(write_contacts(tmp_path / "c.csv", 30))])
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
        assert len(rows) == 30 and {r[0] for r in rows} == {"v2530", "v2531"}
        outcomes = {int(str(r[1])) for r in rows}
        assert 0 in outcomes and outcomes - {0}, outcomes  # answered calls and failed ones
        assert all("ATDT" in str(r[2]) for r in rows)  # the modem's words kept as evidence
    finally:
        emulator.terminate()
        emulator.wait(10)
