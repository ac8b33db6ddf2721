"""A real daemon for the console: a subprocess with emulated modems, or with none (snapshots)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess, EmulatorProcess, lines_config


class Box:
    def __init__(self, tmp: Path, modems: int) -> None:
        self.tmp = tmp
        self.emulator = (
            EmulatorProcess(tmp / "modems", modems, script="time_scale = 0.02\n", profile="simcom")
            if modems
            else None
        )
        lines = lines_config(self.emulator.links) if self.emulator else ""
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


@pytest.fixture()
def box(tmp_path: Path) -> Iterator[Box]:
    b = Box(tmp_path, modems=2)
    b.start()
    yield b
    b.close()
