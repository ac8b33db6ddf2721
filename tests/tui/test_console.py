"""The console's flows with Textual's pilot against a real daemon with emulated modems: setup
finds the modems, a campaign is created, a file imported with its rejects shown, the campaign
started and seen dialing, a DNC number added, a report shown; and it survives a daemon restart."""

from __future__ import annotations

import asyncio
from io import StringIO
from pathlib import Path

from rich.console import Console as RichConsole
from textual.pilot import Pilot
from textual.widgets import RichLog, Static

from tests.tui.conftest import Box
from tests.tui.screens import cells, type_text, until
from tui.app import Console
from tui.base import Pane
from tui.client import Client
from tui.screens.form import Form
from tui.screens.message import Message


async def open_form(pilot: Pilot[None], *keys: str) -> None:
    """Press the keys that open a form, and wait until it is on screen: keys typed before it is
    go to the pane underneath (seen under load: the pin's text switched panes instead)."""
    await pilot.press(*keys)
    await until(pilot, lambda: isinstance(pilot.app.screen, Form), f"the form of {keys[-1]!r}")


def message_text(app: Console) -> str:
    """The message dialog's text as it is drawn (a report is a table)."""
    assert isinstance(app.screen, Message), app.screen
    text = app.screen.query_one("#message-text", Static)
    out = StringIO()
    RichConsole(width=text.content_region.width, file=out, color_system=None).print(text.content)
    return out.getvalue()


def test_the_technicians_flows(box: Box, tmp_path: Path) -> None:
    asyncio.run(_flows(box, tmp_path))


async def _flows(box: Box, tmp_path: Path) -> None:
    csv = tmp_path / "list.csv"
    csv.write_text("(212) 555-0101,,,,,Ann\n12,,,,,bad\n(212) 555-0102,,,,,Bob\n(312) 555-0103\n")
    app = Console(Client(socket=box.socket), poll=0.3)
    async with app.run_test(size=(80, 24)) as pilot:
        # Setup: the emulated modems are found and one is probed.
        await pilot.press("7")
        await until(pilot, lambda: len(cells(app, "#ports-table")) == 2, "the two ports")
        await pilot.press("p")
        await until(pilot, lambda: cells(app, "#ports-table")[0][3] != "", "the probe's model")
        assert cells(app, "#ports-table")[0][4] == "READY"  # the SIM
        # Name the line on the first port, and set the calling hours: the config file changes.
        await open_form(pilot, "n")
        await type_text(pilot, "front-desk")
        await pilot.press("enter")
        await until(pilot, lambda: "front-desk" in box.daemon.config.read_text(), "the line named")
        await until(
            pilot, lambda: cells(app, "#ports-table")[0][1] == "front-desk", "the name shown"
        )
        await open_form(pilot, "g")
        await pilot.press("enter", "enter", "enter", "ctrl+a", "ctrl+k")  # on to the box hours
        await type_text(pilot, "09:00-21:00")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "09:00" in box.daemon.config.read_text(), "the hours written")

        # Campaigns: create one through the form.
        await pilot.press("3")
        await open_form(pilot, "n")
        await type_text(pilot, "spring")
        await pilot.press("enter", "enter", "enter", "enter", "enter", "enter")
        await until(
            pilot,
            lambda: any(r[0] == "spring" for r in cells(app, "#campaigns-table")),
            "spring listed",
        )
        assert [r[1:3] for r in cells(app, "#campaigns-table") if r[0] == "spring"] == [
            ["automated", "stopped"]
        ]

        # Import a file: the report shows the reject with its line.
        await open_form(pilot, "i")
        await type_text(pilot, str(csv))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, Message), "the import report")
        report = message_text(app)
        assert "3 imported" in report and "1 rejected" in report
        assert "2  Phone1  not a valid number" in report  # line 2, the Phone1 field
        await pilot.press("escape")

        # Why it does not dial, then start it and see it dial.
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, Message), "why")
        assert "stopped" in message_text(app)
        await pilot.press("escape")
        await pilot.press("s")
        await until(
            pilot, lambda: [r[2] for r in cells(app, "#campaigns-table")] == ["running"], "running"
        )
        await pilot.press("1")
        await until(pilot, lambda: "Connected" in str(app.query_one("#outcomes", Static).content)
                    or any(r[2] != "0" for r in cells(app, "#dash-campaigns")), "dialing")  # fmt: skip

        # DNC: add a number, find it.
        await pilot.press("4")
        await open_form(pilot, "a")
        await type_text(pilot, "(415) 555-0199")
        await pilot.press("enter", "enter", "enter")
        await until(
            pilot,
            lambda: any(r[0] == "+14155550199" for r in cells(app, "#dnc-table")),
            "the DNC entry",
        )

        # Reports: today's campaigns by hour, the campaign's attempts among them.
        await pilot.press("5")
        await until(
            pilot,
            lambda: "attempts" in str(app.query_one("#report-head", Static).content),
            "the report",
        )
        await until(
            pilot,
            lambda: any(r[1] == "spring" and int(r[2]) >= 1 for r in cells(app, "#report-table")),
            "attempts in the report",
        )

        # Lines: both up, a test call placed from the console.
        await pilot.press("2")
        await until(pilot, lambda: len(cells(app, "#lines-table")) == 2, "the lines")
        # focus moves after the pane shows (call_later): under load a key pressed before it
        # went to the pane underneath
        await until(pilot, lambda: getattr(app.focused, "id", None) == "lines-table", "focus")
        # the second line (the first was renamed: that needs a restart)
        await open_form(pilot, "down", "p")
        await pilot.press("space", "enter")  # tick spring, the only campaign
        await until(pilot, lambda: cells(app, "#lines-table")[1][6] == "spring", "the line pinned")
        await pilot.press("6")
        await until(pilot, lambda: app.query_one(RichLog).lines != [], "log lines")

        # Agents: a position made through the API is listed; a supervisor's "ready" for a
        # logged-out agent is refused with the daemon's words.
        await app.client.put("/agents/anna", {"group": "sales"})
        await pilot.press("8")
        await until(pilot, lambda: cells(app, "#agents-table") == [["anna", "logged_out", "", "", "", ""]],
                    "the agent listed")  # fmt: skip
        await pilot.press("y")
        await until(pilot, lambda: any("log in at a seat first" in str(n.message)
                                       for n in app._notifications), "the refusal shown")  # fmt: skip


def test_the_console_says_when_the_daemon_is_gone_and_reconnects(box: Box) -> None:
    asyncio.run(_reconnects(box))


async def _reconnects(box: Box) -> None:
    app = Console(Client(socket=box.socket), poll=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        bar = app.query_one("#bar", Static)
        await until(
            pilot,
            lambda: "connected" in str(bar.content) and "NOT" not in str(bar.content),
            "connected",
        )
        box.daemon.proc.kill()  # type: ignore[union-attr]
        box.daemon.proc.wait()  # type: ignore[union-attr]
        await until(pilot, lambda: "NOT CONNECTED" in str(bar.content), "the daemon reported gone")
        box.daemon.start()
        await until(
            pilot, lambda: "NOT CONNECTED" not in str(bar.content), "reconnected", timeout=60
        )
        assert app.reachable is True


def test_a_reload_answered_while_the_console_closes_is_dropped(tmp_path: Path) -> None:
    """Regression (CI, stop 31): a poll whose answer came while `run_test` shut the console down
    found the pane's table already pruned, the pane still linked, and raised NoMatches. Here the
    answer is held until the shutdown has pruned the screen, every time."""
    asyncio.run(_closes_mid_reload(tmp_path))


async def _closes_mid_reload(tmp_path: Path) -> None:
    app = Console(Client(socket=str(tmp_path / "no-daemon.sock")), poll=3600)
    held = asyncio.Event()

    async def answer_late(path: str) -> list[object]:
        await held.wait()
        return []

    async with app.run_test(size=(80, 24)):
        pane = app.query_one("#pane-campaigns", Pane)
        app.client.get = answer_late  # type: ignore[method-assign]
        reload = asyncio.create_task(app.refresh_pane(pane))
        release = asyncio.create_task(_when_pruned(pane, held))
        await asyncio.sleep(0)
    await release
    await reload  # nothing left to fill: no error


async def _when_pruned(pane: Pane, held: asyncio.Event) -> None:
    """Let the answer in at the first turn of the loop that finds the pane's table pruned and the
    pane itself still linked: the moment the CI run hit."""
    while pane.query("DataTable"):
        await asyncio.sleep(0)
    assert pane.is_attached, "the pane was still linked when its table had gone"
    held.set()
