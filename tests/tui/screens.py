"""What the console's tests share: waiting for the console, reading it, and opening each of its
screens — every pane and every dialog — in one way for the snapshots, the 80×24 checks and the
captures (`python -m tests.tui.capture DIR`). The dialogs are opened on the fixed box of
`conftest.fixed_box` (a campaign `spring`, two lines down, a DNC number)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Input, RichLog, Static

from tests.tui.conftest import DNC_NUMBER
from tui.app import Console
from tui.screens.columns import Columns
from tui.screens.confirm import Confirm
from tui.screens.form import Form
from tui.screens.message import Message


class Watched(Console):
    """The console, with every note it showed kept (Textual drops a note once it has faded)."""

    CSS_PATH = str(Path(__file__).parents[2] / "tui" / "app.tcss")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.noted: list[str] = []

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.noted.append(str(message))
        super().notify(message, *args, **kwargs)


async def until(
    pilot: Pilot[None], condition: Callable[[], bool], what: str, timeout: float = 60
) -> None:
    """Let the console poll (its own timer) until the condition holds on screen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def cells(app: Console, table_id: str) -> list[list[str]]:
    table: DataTable[str] = app.query_one(table_id, DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def connected(app: Console) -> bool:
    text = str(app.query_one("#bar", Static).content)
    return "connected" in text and "NOT" not in text


def _rows(table: str, n: int = 1) -> Callable[[Console], bool]:
    return lambda app: connected(app) and app.query_one(table, DataTable).row_count >= n


def _head(widget: str, text: str) -> Callable[[Console], bool]:
    return lambda app: text in str(app.query_one(widget, Static).content)


def _log_note(app: Console) -> bool:
    log = app.query_one(RichLog)
    return connected(app) and any("no log lines match" in line.text for line in log.lines)


# pane -> (its key, when it has loaded)
PANES: dict[str, tuple[str, Callable[[Console], bool]]] = {
    "dashboard": ("1", _rows("#dash-campaigns")),
    "lines": (
        "2",
        lambda app: _rows("#lines-table", 2)(app) and _head("#lines-detail", "gsm0")(app),
    ),
    "campaigns": ("3", _rows("#campaigns-table")),
    "dnc": ("4", _rows("#dnc-table")),
    "reports": ("5", _head("#report-head", "attempts")),
    "logs": ("6", _log_note),
    "setup": (
        "7",
        lambda app: _rows("#ports-table", 2)(app) and _head("#setup-config", "hours")(app),
    ),
    "agents": ("8", _rows("#agents-table", 2)),
    "contacts": ("9", _rows("#contacts-table")),
    "strategy": ("0", _head("#strategy-name", "valid")),
}


async def show(pilot: Pilot[None], pane: str) -> None:
    """Go to a pane and wait until it shows what the daemon has."""
    app: Console = pilot.app  # type: ignore[assignment]
    key, ready = PANES[pane]
    await pilot.press(key)
    if pane == "logs":  # its lines carry their times: the shot filters them all out
        await until(pilot, lambda: app.focused is not None, "focus")
        await pilot.press("slash")
        app.query_one("#log-filter", Input).value = "no such words"
        await pilot.press("enter")
    await until(pilot, lambda: ready(app), f"the {pane} pane")
    await until(pilot, lambda: app.active_pane().has_focus_within, f"focus in {pane}")


async def opened(pilot: Pilot[None], kind: type[Screen[Any]], *keys: str) -> None:
    await pilot.press(*keys)
    await until(pilot, lambda: isinstance(pilot.app.screen, kind), f"{kind.__name__} of {keys}")
    await pilot.pause(0.1)


async def type_text(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*[{" ": "space", ":": "colon"}.get(ch, ch) for ch in text])


async def fill_in(pilot: Pilot[None], field: str, text: str, *then: str) -> None:
    """Put a text in a form's field (as a paste would), then press the keys (ctrl+s: OK)."""
    app = pilot.app
    widget = app.screen.query_one(f"#f-{field}", Input)
    widget.focus()
    widget.value = text
    await pilot.press(*then)


def steady(app: Console) -> None:
    """Stop the text cursors blinking, so that a shot does not depend on when it is taken (a
    snapshot under load once caught the cursor on, once off)."""
    for screen in app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False


Opener = Callable[[Pilot[None], Path], Awaitable[None]]


def _opens(pane: str, kind: type[Screen[Any]], *keys: str) -> Opener:
    async def open_screen(pilot: Pilot[None], files: Path) -> None:
        await show(pilot, pane)
        await opened(pilot, kind, *keys)

    return open_screen


def _form(pane: str, *keys: str) -> Opener:
    return _opens(pane, Form, *keys)


SHOT_DAY = "2026-03-08"


def _dated_form(pane: str, *keys: str) -> Opener:
    """A form whose defaults carry the box's today (a period, a file name): the dates in its
    fields become SHOT_DAY, so that a shot does not depend on the day it is taken (the reports
    shots were recorded on one day and failed on every other)."""
    opener = _form(pane, *keys)

    async def open_dated(pilot: Pilot[None], files: Path) -> None:
        await opener(pilot, files)
        for field in pilot.app.screen.query(Input):
            field.value = re.sub(r"\d{4}-\d{2}-\d{2}", SHOT_DAY, field.value)
        await pilot.pause()

    return open_dated


def _message(pane: str, key: str) -> Opener:
    return _opens(pane, Message, key)


async def _import_report(pilot: Pilot[None], files: Path) -> None:
    """A file whose rows are all refused or already there: the box stays as it was."""
    path = files / "again.csv"
    path.write_text("(212) 555-0101,,,,,Ann\n12,,,,,a number too short\n")
    await _form("campaigns", "i")(pilot, files)
    await fill_in(pilot, "path", str(path), "ctrl+s")
    await until(pilot, lambda: isinstance(pilot.app.screen, Message), "the import report")


async def _dnc_import_report(pilot: Pilot[None], files: Path) -> None:
    path = files / "dnc.txt"
    path.write_text(f"{DNC_NUMBER}\nnot a number\n")
    await _form("dnc", "i")(pilot, files)
    await fill_in(pilot, "path", str(path), "ctrl+s")
    await until(pilot, lambda: isinstance(pilot.app.screen, Message), "the DNC import report")


async def _dnc_warning(pilot: Pilot[None], files: Path) -> None:
    await _form("lines", "c")(pilot, files)
    await fill_in(pilot, "number", DNC_NUMBER, "enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, Confirm), "the DNC warning")


async def _palette(pilot: Pilot[None], files: Path) -> None:
    await show(pilot, "lines")
    await opened(pilot, CommandPalette, "ctrl+p")
    await type_text(pilot, "line")
    await until(
        pilot,
        lambda: pilot.app.screen.query_one(CommandList).option_count >= 6,
        "the palette's commands",
    )
    await pilot.pause(0.3)


# dialog -> how to open it.
DIALOGS: dict[str, Opener] = {
    "campaign-new": _form("campaigns", "n"),
    "campaign-edit": _form("campaigns", "e"),
    "campaign-import": _form("campaigns", "i"),
    "campaign-import-report": _import_report,
    "campaign-why": _message("campaigns", "w"),
    "dnc-add": _form("dnc", "a"),
    "dnc-import": _form("dnc", "i"),
    "dnc-import-report": _dnc_import_report,
    "line-test-call": _form("lines", "c"),
    "line-test-call-dnc-warning": _dnc_warning,
    "line-test-sms": _form("lines", "m"),
    "line-pin": _form("lines", "p"),
    "setup-hours": _form("setup", "g"),
    "setup-name-line": _form("setup", "n"),
    "setup-token": _form("setup", "t"),
    "palette": _palette,
    "contacts-columns": _opens("contacts", Columns, "c"),
    "contacts-detail": _message("contacts", "enter"),
    "strategy-attempts": _form("strategy", "a"),
    "reports-period": _dated_form("reports", "f"),
    "reports-export": _dated_form("reports", "x"),
}
