"""The daemon dials a campaign over line-card ports: `dialbox emulate can-card` behind an emulated
SLCAN adapter on a pty, the daemon's CAN lines on python-can's slcan interface, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.daemon.campaign import run_campaign


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
        lines = "lines:\n" + "".join(
            f"  - {{name: card3-{p}, kind: can, device: 'slcan:{link}/3/{p}'}}\n" for p in (1, 2)
        )
        rows = run_campaign(tmp_path, lines, 20)
        assert len(rows) == 20 and {r[0] for r in rows} == {"card3-1", "card3-2"}
        outcomes = {int(str(r[1])) for r in rows}
        assert 0 in outcomes and outcomes - {0}, outcomes
        assert all("DIAL_TONE" in str(r[2]) for r in rows)  # the card's events kept as evidence
    finally:
        emulator.terminate()
        emulator.wait(10)
