"""Snapshots of the console's main screens at 80×24, against a real daemon in a fixed state (no
lines, one stopped campaign with three contacts, one DNC number, two agents logged out): any change to what a
technician sees shows up as a diff (`pytest --snapshot-update` accepts a deliberate one)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from appliance.cli import main
from tests.tui.conftest import Box
from tui.app import Console
from tui.client import Client


@pytest.fixture(scope="module")
def fixed_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    tmp = tmp_path_factory.mktemp("snapshots")
    box = Box(tmp, modems=0)
    cli = ["--config", str(box.daemon.config)]
    assert (
        main([*cli, "campaign", "create", "spring", "--type", "automated", "--region", "US"]) == 0
    )
    csv = tmp / "c.csv"
    csv.write_text("(212) 555-0101,,,,,Ann\n(212) 555-0102,,,,,Bob\n(312) 555-0103,,,,,Cy\n")
    assert main([*cli, "import", "--campaign", "spring", str(csv)]) == 0
    assert main([*cli, "dnc", "add", "+14155550199", "--reason", "asked"]) == 0
    from appliance.store import open_database
    from appliance.store.agents import put_agent

    db = open_database(tmp / "state" / "dialbox.db")
    for name in ("anna", "ben"):
        put_agent(db, name, extension=None, group="sales", skills=[], now=0.0, actor="test")
    db.close()
    box.start()
    yield box
    box.close()


def _shown(pane: str, ready: Callable[[Console], bool]) -> Callable[[Pilot[None]], Any]:
    async def run_before(pilot: Pilot[None]) -> None:
        app: Console = pilot.app  # type: ignore[assignment]
        await pilot.press(pane)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not ready(app):
            assert loop.time() < deadline, f"pane {pane} did not load"
            await pilot.pause(0.05)
        await pilot.pause(0.2)

    return run_before


def _rows(table: str) -> Callable[[Console], bool]:
    return lambda app: app.query_one(table, DataTable).row_count > 0


SCREENS = {
    "dashboard": ("1", _rows("#dash-campaigns")),
    "lines": ("2", lambda app: "connected" in str(app.query_one("#bar", Static).content)),
    "campaigns": ("3", _rows("#campaigns-table")),
    "dnc": ("4", _rows("#dnc-table")),
    "reports": ("5", lambda app: "attempts" in str(app.query_one("#report-head", Static).content)),
    "agents": ("8", _rows("#agents-table")),
    "contacts": ("9", _rows("#contacts-table")),
    "strategy": ("0", lambda app: "valid" in str(app.query_one("#strategy-name", Static).content)),
}

# A pane's dialogs: the pane's key and when it is ready, the dialog's key and its screen.
DIALOGS: dict[str, tuple[str, str, str]] = {
    "contacts-columns": ("contacts", "c", "Columns"),
    "contacts-detail": ("contacts", "enter", "Message"),
    "strategy-attempts": ("strategy", "a", "Form"),
}


def _dialog(name: str) -> Callable[[Pilot[None]], Any]:
    pane, key, screen = DIALOGS[name]
    shown = _shown(*SCREENS[pane])

    async def run_before(pilot: Pilot[None]) -> None:
        await shown(pilot)
        await pilot.press(key)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while type(pilot.app.screen).__name__ != screen:
            assert loop.time() < deadline, f"dialog {name} did not open"
            await pilot.pause(0.05)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False  # a blinking cursor would be on or off by chance
        await pilot.pause(0.2)

    return run_before


@pytest.mark.parametrize("screen", list(SCREENS))
def test_main_screens_at_80x24(screen: str, fixed_box: Box, snap_compare: Any) -> None:
    key, ready = SCREENS[screen]
    app = Console(Client(socket=fixed_box.socket), poll=3600)  # no refresh while the shot is taken
    assert snap_compare(app, terminal_size=(80, 24), run_before=_shown(key, ready))


@pytest.mark.parametrize("dialog", list(DIALOGS))
def test_dialogs_at_80x24(dialog: str, fixed_box: Box, snap_compare: Any) -> None:
    app = Console(Client(socket=fixed_box.socket), poll=3600)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_dialog(dialog))


def test_snapshots_are_checked_in() -> None:
    folder = Path(__file__).parent / "__snapshots__" / "test_snapshots"
    assert sorted(p.stem.split("[")[-1].rstrip("]") for p in folder.glob("*.svg")) == sorted(
        [*SCREENS, *DIALOGS]
    )
