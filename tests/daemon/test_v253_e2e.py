"""The daemon dials a campaign over analog lines: `dialbox emulate v253` on ptys, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.daemon.campaign import run_campaign


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
        lines = "lines:\n" + "".join(
            f"  - {{name: {p.name}, kind: v253, device: {p}}}\n" for p in links
        )
        rows = run_campaign(tmp_path, lines, 30)
        assert len(rows) == 30 and {r[0] for r in rows} == {"v2530", "v2531"}
        outcomes = {int(str(r[1])) for r in rows}
        assert 0 in outcomes and outcomes - {0}, outcomes  # answered calls and failed ones
        assert all("ATDT" in str(r[2]) for r in rows)  # the modem's words kept as evidence
    finally:
        emulator.terminate()
        emulator.wait(10)
