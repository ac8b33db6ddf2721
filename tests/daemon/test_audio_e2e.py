"""The audio path end to end (#24): the real daemon dials over emulated Quectel and SIMCom
modems whose PCM audio ports (ptys) carry the far end's sound; answering-machine detection
decides on what it hears, and every answered call is recorded."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from appliance.cli import main
from appliance.domain import Outcome
from appliance.store.db import Database
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess, EmulatorProcess

PERSONS = [f"+1212555{n:04d}" for n in range(100, 106)]
MACHINES = [f"+1212555{n:04d}" for n in range(200, 206)]


def script() -> str:
    # Calls last 12 s of the emulator's time (0.6 s real at 0.05); the sound runs 5 times real
    # time, so the far end talks through the detector's 3 s budget (0.6 s real) and on.
    text = 'time_scale = 0.05\naudio_speed = 5.0\nsound = "person"\n'
    for number in PERSONS:
        text += f'[[numbers]]\nnumber = "{number}"\noutcome = "answer"\nring = 2.0\ntalk = 12.0\n'
    for number in MACHINES:
        text += (
            f'[[numbers]]\nnumber = "{number}"\noutcome = "answer"\nring = 2.0\ntalk = 12.0\n'
            'sound = "machine"\n'
        )
    return text


def attempts(db_path: Path) -> list[tuple[object, ...]]:
    db = Database(db_path, readonly=True)
    try:
        return [
            tuple(r)
            for r in db.conn.execute(
                "SELECT a.number, a.line, a.outcome, a.evidence, a.id FROM attempts a ORDER BY a.id"
            )
        ]
    finally:
        db.close()


def test_answering_machines_are_told_from_persons_by_their_sound(tmp_path: Path) -> None:
    quectel = EmulatorProcess(tmp_path / "q", 2, script=script(), profile="quectel")
    simcom = EmulatorProcess(tmp_path / "s", 1, script=script(), profile="simcom")
    links = [(p, "q") for p in quectel.links] + [(p, "s") for p in simcom.links]
    lines = "lines:\n" + "".join(
        f"  - {{name: {kind}{p.name}, device: {p}, audio: {p}-audio}}\n" for p, kind in links
    )
    daemon = DaemonProcess(tmp_path, lines + ALWAYS_CALLABLE + "engine:\n  tick: 0.1\n")
    cli = ["--config", str(daemon.config)]
    try:
        assert main([*cli, "campaign", "create", "c", "--type", "automated", "--region", "US",
                     "--set", "amd={budget: 3000}", "--set", "max_attempts=1"]) == 0  # fmt: skip
        csv = tmp_path / "c.csv"
        csv.write_text("".join(f"{n},,,,,Callee\n" for n in PERSONS + MACHINES))
        assert main([*cli, "import", "--campaign", "c", str(csv)]) == 0
        assert main([*cli, "campaign", "start", "c"]) == 0
        daemon.start()
        daemon.expect("READY")
        db_path = tmp_path / "state" / "dialbox.db"
        deadline = time.monotonic() + 120
        while len([r for r in attempts(db_path) if r[2] is not None]) < 12:
            assert time.monotonic() < deadline, daemon.output()[-4000:]
            assert daemon.proc is not None and daemon.proc.poll() is None, daemon.output()[-4000:]
            time.sleep(0.1)  # polling another process's database
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(60) == 0
        rows = attempts(db_path)
        assert len(rows) == 12
        by_number = {str(r[0]): r for r in rows}
        for number in PERSONS:
            _, _, outcome, evidence, _ = by_number[number]
            assert Outcome(int(str(outcome))) is Outcome.CONNECTED, (number, evidence)
            assert "amd person" in str(evidence), evidence
        for number in MACHINES:
            _, _, outcome, evidence, _ = by_number[number]
            assert Outcome(int(str(outcome))) is Outcome.ANSWERING_MACHINE, (number, evidence)
            assert "amd machine" in str(evidence), evidence
        assert {str(r[1])[0] for r in rows} == {"q", "s"}  # both dialects carried calls
    finally:
        daemon.stop()
        quectel.stop()
        simcom.stop()
