"""The console's lines pane lists the boxes on the store when there are several (#27), with
Textual's pilot against a real daemon; one box alone shows nothing new (the pane as before)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Static

from appliance.store import open_database
from appliance.store.boxes import register, set_draining
from tests.tui.conftest import MISSING_LINES, Box
from tests.tui.screens import cells, until
from tui.app import Console
from tui.client import Client


@pytest.fixture()
def box(tmp_path: Path) -> Iterator[Box]:
    b = Box(tmp_path, modems=0, lines=MISSING_LINES)
    b.start()
    yield b
    b.close()


def test_the_lines_pane_shows_the_boxes(box: Box, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = Console(Client(socket=box.socket), poll=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            shown = app.query_one("#lines-boxes", Static)
            await until(pilot, lambda: len(cells(app, "#lines-table")) == 2, "the two lines")
            assert not shown.display, "one box: no boxes section"
            # another box joins the store, drained for maintenance
            db = open_database(tmp_path / "state" / "dialbox.db")
            try:
                register(db, "rack-2", "0.1.0", time.time(), [{"name": "m0", "up": True,
                                                              "busy": False}])  # fmt: skip
                set_draining(db, "rack-2", True)
            finally:
                db.close()
            await until(pilot, lambda: shown.display, "the boxes section")
            text = str(shown.content)
            assert "box rack-2: up, DRAINING · 1/1 lines up" in text
            assert "(this box): up · 0/2 lines up" in text

    asyncio.run(scenario())
