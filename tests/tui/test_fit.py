"""What must fit at 80×24 (#22), asserted on the regions Textual lays out, against a real daemon
(conftest.fixed_box): every dialog with its buttons on screen and every field reachable, a long
report scrolled inside its dialog, footers not cut, a line's whole error, an import's reject
table with whole field names."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console as RichConsole
from textual.command import CommandPalette
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Button, Footer, Static
from textual.widgets._footer import FooterKey

from tests.tui.conftest import Box, fixed_box
from tests.tui.screens import DIALOGS, PANES, cells, fill_in, opened, show, until
from tui.app import Console
from tui.client import Client
from tui.panes.campaigns import import_report
from tui.screens.form import Form
from tui.screens.message import Message

SCREEN = Region(0, 0, 80, 24)
Scenario = Callable[[Console, Pilot[None]], Awaitable[None]]


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    b = fixed_box(tmp_path_factory.mktemp("fit"))
    b.start()
    yield b
    b.close()


def run(box: Box, scenario: Scenario) -> None:
    async def go() -> None:
        app = Console(Client(socket=box.socket), poll=0.5)
        async with app.run_test(size=(80, 24)) as pilot:
            await scenario(app, pilot)

    asyncio.run(go())


@pytest.mark.parametrize("dialog", list(DIALOGS))
def test_every_dialog_fits_with_its_buttons_on_screen(
    dialog: str, box: Box, tmp_path: Path
) -> None:
    async def scenario(app: Console, pilot: Pilot[None]) -> None:
        await DIALOGS[dialog](pilot, tmp_path)
        screen = app.screen
        frame = screen.query_one("#form, #message, #confirm, #columns, CommandPalette > *")
        assert SCREEN.contains_region(frame.region), (dialog, frame.region)
        for button in screen.query(Button):
            assert SCREEN.contains_region(button.region), (dialog, button.label, button.region)
            assert frame.region.contains_region(button.region)
            assert button.region.width >= len(str(button.label)) + 2
        if isinstance(screen, Form):  # every field can be reached: scrolled into view
            fields = screen.query_one("#form-fields").region
            for widget in screen._inputs():
                widget.focus()
                await pilot.pause(0.05)
                assert fields.contains_region(widget.region), (dialog, widget.id, widget.region)
        if isinstance(screen, CommandPalette):
            return
        await pilot.press("escape")
        await until(pilot, lambda: not app.screen.is_modal, "the dialog closed")

    run(box, scenario)


def test_a_report_longer_than_the_screen_scrolls_inside_its_dialog(
    box: Box, tmp_path: Path
) -> None:
    """Hostile: 300 refused rows. The report keeps to the screen; its end is reached by scrolling."""
    path = tmp_path / "bad.csv"
    path.write_text("".join(f"12{n},,,,,x{n}\n" for n in range(300)))

    async def scenario(app: Console, pilot: Pilot[None]) -> None:
        await show(pilot, "campaigns")
        await opened(pilot, Form, "i")
        await fill_in(pilot, "path", str(path), "enter")
        await until(pilot, lambda: isinstance(app.screen, Message), "the report")
        frame = app.screen.query_one("#message")
        assert SCREEN.contains_region(frame.region) and frame.region.height <= 24
        assert frame.virtual_size.height > frame.size.height  # it scrolls
        await pilot.press("end")
        await pilot.pause(0.2)
        assert frame.scroll_y == frame.max_scroll_y > 0
        await pilot.press("escape")
        assert cells(app, "#campaigns-table")[0][4] == "3"  # nothing imported

    run(box, scenario)


def test_footers_show_their_keys_whole(box: Box) -> None:
    """Every key a pane's footer shows lies left of the palette key (`r Reloa▏` was cut), and
    every pane binding the footer leaves out is still in the command palette."""

    async def scenario(app: Console, pilot: Pilot[None]) -> None:
        for pane in PANES:
            await show(pilot, pane)
            await pilot.pause(0.2)
            footer = app.query_one(Footer)
            palette = footer.query_one(".-command-palette", FooterKey)
            keys = [k for k in footer.query(FooterKey) if not k.has_class("-command-palette")]
            for key in keys:
                assert key.region.right <= palette.region.x, (pane, key.description, key.region)
                assert SCREEN.contains_region(key.region)
            shown = {k.description for k in keys}
            commands = {c.name for c in app.palette_commands()}
            for binding in app.active_pane().BINDINGS:
                assert binding.description in shown or any(  # type: ignore[union-attr]
                    name.endswith(binding.tooltip or binding.description)  # type: ignore[union-attr]
                    for name in commands
                ), (pane, binding)

    run(box, scenario)


def test_a_lines_whole_error_is_shown_under_the_table(box: Box) -> None:
    async def scenario(app: Console, pilot: Pilot[None]) -> None:
        await show(pilot, "lines")
        lines = {ln["name"]: ln for ln in await app.client.get("/lines")}
        detail = app.query_one("#lines-detail", Static)
        for name in ("gsm0", "gsm1"):
            error = lines[name]["last_error"]
            assert len(error) > 40  # longer than the table's column
            await until(pilot, lambda n=name: str(detail.content).startswith(n), name)  # type: ignore[misc]
            assert error in str(detail.content).replace("\n", "")
            assert SCREEN.contains_region(detail.region)
            await pilot.press("down")

    run(box, scenario)


def _rendered(renderable: object, width: int) -> list[str]:
    out = StringIO()
    RichConsole(width=width, file=out, color_system=None).print(renderable)
    return out.getvalue().splitlines()


def test_the_reject_table_keeps_field_names_and_reasons_whole() -> None:
    """A file's own header names are as long as `customer_mobile_number` (the old table cut
    every field to 10 characters and ran its reasons off the dialog)."""
    reason = (
        "not a valid number for region US: it has 7 digits where a US number has 10; "
        "check the area code"
    )
    report = {"imported": 0, "dnc": 0, "rejected": 2, "duplicates": 0, "rows": 2,
              "rejects": [{"line": 2, "field": "customer_mobile_number", "reason": reason,
                           "value": "555-0101"},
                          {"line": 3, "field": None, "reason": "empty row", "value": ""}]}  # fmt: skip
    shown = _rendered(import_report(report), 72)  # the message dialog's inside at 80 columns
    assert all(len(line) <= 72 for line in shown)
    assert any("customer_mobile_number" in line for line in shown)
    head = next(line for line in shown if "reason" in line and "value" in line)
    start, end = head.index("reason"), head.index("value")
    column = " ".join(line[start:end].strip() for line in shown[shown.index(head) + 1 :])
    assert reason in column  # wrapped in its column, not cut
    assert any("(row)" in line and "empty row" in line for line in shown)
