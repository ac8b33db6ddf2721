"""A real daemon for the console: a subprocess with emulated modems, or a fixed state with lines
on serial ports that are not there (snapshots, and what must fit at 80×24)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess, EmulatorProcess, lines_config

# Two lines on ports that do not exist: down, with the error a technician reads in full.
MISSING_LINES = "lines:\n  - {name: gsm0, device: /dev/ttyDIALBOX0}\n  - {name: gsm1, device: /dev/ttyDIALBOX1}\n"
DNC_NUMBER = "+14155550199"


class Box:
    def __init__(self, tmp: Path, modems: int, lines: str = "") -> None:
        self.tmp = tmp
        self.emulator = (
            EmulatorProcess(tmp / "modems", modems, script="time_scale = 0.02\n", profile="simcom")
            if modems
            else None
        )
        lines = lines_config(self.emulator.links) if self.emulator else lines
        self.daemon = DaemonProcess(tmp, lines + ALWAYS_CALLABLE + "engine:\n  tick: 0.1\n")
        self.socket = str(tmp / "api.sock")

    def start(self) -> None:
        self.daemon.start()
        self.daemon.expect("READY")

    def close(self) -> None:
        self.daemon.stop()
        if self.emulator:
            self.emulator.stop()


@pytest.fixture(autouse=True)
def console_prefs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The console's preferences file (tui/prefs.py) in the test's own folder, never the
    user's ~/.config: what a test chooses stays there, and the user's choices change no test."""
    path = tmp_path / "console.json"
    monkeypatch.setenv("DIALBOX_CONSOLE_PREFS", str(path))
    return path


def fixed_box(tmp: Path) -> Box:
    """A box in a fixed state, not started: two lines down (ports not there), one stopped
    campaign `spring` with three contacts, one number on the global DNC list, two agents
    logged out."""
    from appliance.cli import main
    from appliance.store import open_database
    from appliance.store.agents import put_agent

    box = Box(tmp, modems=0, lines=MISSING_LINES)
    cli = ["--config", str(box.daemon.config)]
    assert (
        main([*cli, "campaign", "create", "spring", "--type", "automated", "--region", "US"]) == 0
    )
    csv = tmp / "c.csv"
    csv.write_text("(212) 555-0101,,,,,Ann\n(212) 555-0102,,,,,Bob\n(312) 555-0103,,,,,Cy\n")
    assert main([*cli, "import", "--campaign", "spring", str(csv)]) == 0
    assert main([*cli, "dnc", "add", DNC_NUMBER, "--reason", "asked"]) == 0
    db = open_database(tmp / "state" / "dialbox.db")
    for name in ("anna", "ben"):
        put_agent(db, name, extension=None, group="sales", skills=[], now=0.0, actor="test")
    db.close()
    return box


def with_attempts(box: Box) -> Box:
    """Ended in the last hour: two calls connected and one not answered, three SMS sent and one
    that failed (the dashboard once showed `Connected 5`)."""
    from appliance.drivers.outcome import Outcome
    from appliance.store import open_database

    db = open_database(box.tmp / "state" / "dialbox.db")
    campaign, contact = db.conn.execute("SELECT campaign_id, min(id) FROM contacts").fetchall()[0]
    now = time.time()
    voice = [Outcome.CONNECTED, Outcome.CONNECTED, Outcome.ALERTING_TIMEOUT]
    sms = [Outcome.CONNECTED] * 3 + [Outcome.ERROR_OCCURRED]
    for n, (channel, outcome) in enumerate(
        [("voice", o) for o in voice] + [("sms", o) for o in sms]
    ):
        db.conn.execute(
            "INSERT INTO attempts(contact_id, campaign_id, attempt_no, number, channel, status,"
            " queued_at, dialed_at, ended_at, outcome) VALUES (?, ?, ?, '+12125550101', ?, 'done',"
            " ?, ?, ?, ?)",
            (contact, campaign, n + 1, channel, now - 600, now - 600, now - 540, int(outcome)),
        )
    db.close()
    return box


@pytest.fixture()
def box(tmp_path: Path) -> Iterator[Box]:
    b = Box(tmp_path, modems=2)
    b.start()
    yield b
    b.close()
