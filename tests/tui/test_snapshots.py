"""Snapshots of every pane and every dialog of the console at 80×24, against a real daemon in a
fixed state (conftest.fixed_box: two lines down, one stopped campaign with three contacts, one DNC
number, two agents logged out): any change to what a technician sees shows up as a diff
(`pytest --snapshot-update` accepts a deliberate one; look at the SVG before you do)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.tui.conftest import Box, fixed_box
from tests.tui.screens import DIALOGS, PANES, show, steady
from tui.app import Console
from tui.client import Client


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    b = fixed_box(tmp_path_factory.mktemp("snapshots"))
    b.start()
    yield b
    b.close()


def _console(box: Box) -> Console:
    return Console(Client(socket=box.socket), poll=3600)  # no refresh while the shot is taken


@pytest.mark.parametrize("pane", list(PANES))
def test_every_pane_at_80x24(pane: str, box: Box, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await show(pilot, pane)
        steady(pilot.app)  # type: ignore[arg-type]
        await pilot.pause(0.2)

    assert snap_compare(_console(box), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("dialog", list(DIALOGS))
def test_every_dialog_at_80x24(dialog: str, box: Box, tmp_path: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await DIALOGS[dialog](pilot, tmp_path)
        steady(pilot.app)  # type: ignore[arg-type]
        await pilot.pause(0.2)

    assert snap_compare(_console(box), terminal_size=(80, 24), run_before=run_before)


def test_snapshots_are_checked_in() -> None:
    folder = Path(__file__).parent / "__snapshots__" / "test_snapshots"
    found = sorted(p.stem for p in folder.glob("*.svg"))
    expected = sorted(
        [f"test_every_pane_at_80x24[{p}]" for p in PANES]
        + [f"test_every_dialog_at_80x24[{d}]" for d in DIALOGS]
    )
    assert found == expected
