"""The Strategy pane (SPEC C4) with Textual's pilot at 80×24 against a real daemon (subprocess):
a wrong row shows the daemon's own words beside it and Save stays off; a switch to SMS without an
SMS attempt is fixed through the attempts dialog; a valid draft saves and reads back the same
through GET, its warning shown; a daemon gone mid-edit is said and nothing is saved."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Label, Static

from appliance.cli import main
from tests.tui.conftest import Box
from tui.app import Console
from tui.client import Client
from tui.screens.form import Form


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str, timeout: float = 30) -> None:  # fmt: skip
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            app: Any = pilot.app
            table = app.query_one("#strategy-table", DataTable)
            shown = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
            raise AssertionError(f"timed out waiting for {what}: {message(app)!r} {shown}")
        await pilot.pause(0.05)


def row(app: Console, outcome: str) -> list[str]:
    table: DataTable[Any] = app.query_one("#strategy-table", DataTable)
    return [str(c) for c in table.get_row(outcome)]


def message(app: Console) -> str:
    return str(app.query_one("#strategy-message", Static).content)


def head(app: Console) -> str:
    return str(app.query_one("#strategy-name", Static).content)


def save_off(app: Console) -> bool:
    return app.query_one("#strategy-save", Button).disabled


async def to_row(pilot: Pilot[None], app: Console, outcome: str) -> None:
    """From the table, the cursor on `outcome`'s row and the cursor in its edit line."""
    await pilot.press("escape")  # the table
    table: DataTable[Any] = app.query_one("#strategy-table", DataTable)
    table.move_cursor(row=table.get_row_index(outcome))
    await until(
        pilot, lambda: str(app.query_one("#strategy-outcome", Label).content) == outcome, outcome
    )


def keys(text: str) -> list[str]:
    return [{" ": "space"}.get(ch, ch) for ch in text]


async def type_after(pilot: Pilot[None], text: str) -> None:
    """Enter goes to the row's action; Tab to its delay or state, which is replaced by `text`."""
    await pilot.press("enter", "tab", "ctrl+u", *keys(text))


@pytest.fixture()
def box(tmp_path: Path) -> Iterator[Box]:
    b = Box(tmp_path, modems=0)
    assert (
        main(
            [
                "--config",
                str(b.daemon.config),
                "campaign",
                "create",
                "spring",
                "--type",
                "automated",
            ]
        )
        == 0
    )
    b.start()
    yield b
    b.close()


async def _open(pilot: Pilot[None], app: Console) -> None:
    await pilot.press("0")
    await until(pilot, lambda: "✓ valid" in message(app), "the strategy checked")
    assert row(app, "Busy")[:4] == ["Busy", "retry", "2h", "named"] and save_off(app)


def test_a_wrong_row_says_why_and_a_valid_draft_saves_and_reads_back(box: Box) -> None:
    asyncio.run(_edit(box))


async def _edit(box: Box) -> None:
    app = Console(Client(socket=box.socket), poll=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, app)

        # A delay the daemon cannot read: its words beside the row, in full below, Save off.
        await to_row(pilot, app, "Busy")
        await type_after(pilot, "soon")
        await until(pilot, lambda: row(app, "Busy")[4].startswith("✗ 'soon' is not a"), "the error")
        assert "Busy: 'soon' is not a delay like 90s, 30m, 2h, 1d" in message(app)
        assert save_off(app)
        await pilot.press("escape", "s")
        assert any("not saved" in str(n.message) for n in app._notifications)
        # Markup in what is typed comes back in the daemon's message and is shown as written.
        await to_row(pilot, app, "Busy")
        await type_after(pilot, "[/x]")
        await until(pilot, lambda: "'[/x]' is not a delay" in message(app), "the bracketed error")
        assert save_off(app)

        # Busy switches to SMS: the plan has no SMS attempt, and the daemon says which to add.
        await to_row(pilot, app, "Busy")
        await pilot.press(
            "enter", "enter", "down", "down", "enter"
        )  # retry -> sms (via next_number)
        await pilot.press("tab", "ctrl+u")
        await until(
            pilot, lambda: "SMS attempt" in row(app, "Busy")[4] + message(app), "the SMS error"
        )
        assert row(app, "Busy")[1] == "sms" and save_off(app)
        await pilot.press("escape", "a")
        await until(pilot, lambda: isinstance(app.screen, Form), "the attempts dialog")
        await pilot.press("ctrl+u", *keys("voice 1; sms 1 wait 1d"), "enter", "enter")
        await until(pilot, lambda: "✓ valid" in message(app), "valid with an SMS attempt")
        assert "attempts: voice 1; sms 1 wait 1d" in message(app) and not save_off(app)

        # Busy after 30 minutes; Fax retried (a terminal outcome): valid, with its warning.
        await to_row(pilot, app, "Busy")
        await pilot.press("enter", "enter", "up", "up", "enter", "tab", "ctrl+u", "3", "0", "m")
        await until(pilot, lambda: row(app, "Busy")[1:3] == ["retry", "30m"], "Busy retried")
        await to_row(pilot, app, "Fax")
        await pilot.press("enter", "enter", "up", "up", "up", "enter")  # block -> retry
        await pilot.press("tab", "ctrl+u", "1", "d")
        await until(
            pilot,
            lambda: row(app, "Fax")[4].startswith("⚠") and "✓ valid 1⚠" in head(app),
            "the warning",
        )
        assert not save_off(app)
        await pilot.press("escape", "s")
        await until(
            pilot,
            lambda: any("strategy saved" in str(n.message) for n in app._notifications),
            "saved",
        )
        await until(
            pilot,
            lambda: save_off(app) and "edited" not in head(app),
            "read back",
        )

        stored = await Client(socket=box.socket).strategy("spring")
        assert stored["on"]["Busy"] == "retry 30m" and stored["on"]["Fax"] == "retry 1d"
        assert stored["attempts"] == [
            {"channel": "voice", "phone": 1},
            {"channel": "sms", "phone": 1, "wait": "1d"},
        ]
        assert len(stored["warnings"]) == 1 and stored["warnings"][0].startswith("on.Fax:")
        assert row(app, "Busy")[1:4] == ["retry", "30m", "named"] and row(app, "Fax")[4].startswith(
            "⚠"
        )


def test_a_daemon_gone_mid_edit_is_said_and_nothing_is_saved(box: Box) -> None:
    asyncio.run(_gone(box))


async def _gone(box: Box) -> None:
    app = Console(Client(socket=box.socket), poll=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, app)
        box.daemon.proc.kill()  # type: ignore[union-attr]
        box.daemon.proc.wait()  # type: ignore[union-attr]
        await to_row(pilot, app, "Busy")
        await type_after(pilot, "45m")
        await until(pilot, lambda: "not checked: cannot reach the daemon" in message(app), "said")
        assert save_off(app)
        await pilot.press("escape", "s")
        assert any("not saved" in str(n.message) for n in app._notifications)
        assert app.is_running
