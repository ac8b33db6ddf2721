"""The chaos bench's kills phase, short (issue 17): 5 SIGKILLs of the real daemon at random
moments of a 100-contact campaign on 4 emulated modems, judged against the modems' journal.

Two attempts per contact and a 1 s retry/requeue delay make the campaign short and put last
attempts in flight early, so the kills cut some (a cut last attempt is what strands a contact
today); about 40 s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_five_kills_strand_nothing_lose_nothing_and_dial_nothing_twice(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "bench/chaos.py", "--phase", "kills", "--kills", "5", "--contacts",
         "100", "--modems", "4", "--retry-delay", "1", "--max-attempts", "2", "--max-gap", "8",
         "--quiet", "3", "--time-scale", "0.03", "--seed", "17", "--timeout", "120",
         "--work", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    kills = figures["details"]["kills"]
    assert figures["kills"] == 5 and kills["finished"], kills
    assert kills["kills_that_cut_calls"] > 0, "no kill cut a call: the run proved nothing"
    assert kills["modem_calls"] > 100
    assert figures["modem_calls_missing_from_db"] == 0, kills["missing_examples"]
    assert figures["duplicate_attempts"] == 0, kills["redial_examples"]
    assert figures["attempts_in_flight_left"] == 0
    assert figures["contacts_not_final"] == 0, kills["contacts_not_final_by_reason"]
