"""The console's reports pane with Textual's pilot at 80×24 against a real daemon (a subprocess) on
the reports' fixture in New York time: the pickers (kind, campaign, period, by), the table and
the chart, the CSV export, and the box's refusals shown in place (ten years, a date that is
none); and a snapshot of the pane."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static
from textual_plotext import PlotextPlot

from tests.daemon.process import DaemonProcess
from tests.store.report_fixture import build
from tests.tui.test_console import cells, open_form, until
from tui.app import Console
from tui.client import Client
from tui.screens.form import Form


class ReportBox:
    def __init__(self, tmp: Path) -> None:
        (tmp / "state").mkdir()
        build(tmp / "state" / "dialbox.db").close()
        self.daemon = DaemonProcess(tmp, "timezone: America/New_York\n")
        self.socket = str(tmp / "api.sock")


@pytest.fixture(scope="module")
def report_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportBox]:
    box = ReportBox(tmp_path_factory.mktemp("reports-tui"))
    box.daemon.start()
    box.daemon.expect("READY")
    yield box
    box.daemon.stop()


def chart_text(app: Console) -> str:
    """What the chart shows, as plain text (Plotext's own rendering of it)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", app.query_one(PlotextPlot).plt.build())


def listen(app: Console) -> list[str]:
    """The notes the console gives the technician, as it gives them."""
    notes: list[str] = []
    notify = app.notify

    def kept(message: str, **kwargs: Any) -> None:
        notes.append(message)
        notify(message, **kwargs)

    app.notify = kept  # type: ignore[method-assign]
    return notes


def head(app: Console) -> str:
    return str(app.query_one("#report-head", Static).content)


async def set_period(pilot: Pilot[None], start: str, end: str) -> None:
    """f, then the two dates typed over the form's defaults, then Enter."""
    await open_form(pilot, "f")
    for value in (start, end):
        await pilot.press("home", "ctrl+k", *value, "enter")


async def show_day(pilot: Pilot[None], app: Console) -> None:
    await pilot.press("5")
    await until(pilot, lambda: "attempts" in head(app), "today's report")
    await set_period(pilot, "2025-03-09", "2025-03-09")
    await until(pilot, lambda: "2025-03-09" in head(app), "the day's report")


def test_pickers_table_chart_export_and_refusals(report_box: ReportBox, tmp_path: Path) -> None:
    asyncio.run(_flow(report_box, tmp_path))


async def _flow(box: ReportBox, tmp_path: Path) -> None:
    app = Console(Client(socket=box.socket), poll=3600)
    notes = listen(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await show_day(pilot, app)
        # Campaigns of that day by hour: the table and the summary of the day.
        assert "attempts 11 · connects 4 · human 3 · agent 2 · abandon 25.0%" in head(app)
        assert ["01:00", "spring", "1", "1", "1", "1", "0", "0.0%", "0", "0", "0"] in cells(
            app, "#report-table"
        )
        chart = chart_text(app)
        assert "attempts per hour · America/New_York" in chart
        assert "┤" in chart and "└" in chart  # a y axis with ticks, an x axis
        assert "03" in chart and "21" in chart  # hours as the x axis's labels

        # The campaign picker (c): the next campaign, alphabetically after "all".
        await pilot.press("c")
        await until(pilot, lambda: app.query_one("#report-campaign", Select).value == "empty",
                    "the campaign picked")  # fmt: skip
        await until(pilot, lambda: "attempts 0" in head(app), "the empty campaign's report")
        await pilot.press("c", "c")
        await until(pilot, lambda: "SMS 2 (1 replied)" in head(app), "the texts campaign")
        await pilot.press("c")  # back to all

        # Lines (k): gsm1 has only faults.
        await pilot.press("k")
        await until(pilot, lambda: "faults 4" in head(app), "the lines report")
        assert ["04:00", "gsm1", "3", "0", "0", "0", "0", "0", "3", "—"] in cells(
            app, "#report-table"
        )

        # Agents (k) over the whole day (b twice: day, total).
        await pilot.press("k", "b", "b")
        await until(pilot, lambda: app.query_one("#report-by", Select).value == "total", "total")
        await until(pilot, lambda: "occupancy 1.2%" in head(app), "the agents' day")
        rows = {r[1]: r for r in cells(app, "#report-table")}
        assert rows["anna"] == ["total", "anna", "2", "0:02:00", "0:01:00", "3:00:00", "1.7%",
                                "no interest 1, sale 1"]  # fmt: skip
        assert rows["ben"][2] == "0" and rows["cy"][-2:] == ["—", "—"]
        assert "calls per agent" in chart_text(app) and "anna" in chart_text(app)
        await pilot.press("m")  # the chart's next figure: occupancy per agent
        assert "occupancy % per agent" in chart_text(app)

        # x: the report as CSV in a file, and where it went.
        target = tmp_path / "agents.csv"
        await open_form(pilot, "x")
        await pilot.press("home", "ctrl+k", *str(target), "enter")
        await until(pilot, target.exists, "the CSV file")
        text = target.read_text()
        assert text.startswith("period,agent,calls,talk_seconds,wrap_seconds,")
        assert "anna,2,120.0,60.0,600.0,10800.0,0.0167,no interest=1; sale=1" in text
        await until(pilot, lambda: any(f"written to {target}" in n for n in notes), "the note")

        # Hostile: ten years, then a date that is none — refused in place, saying why.
        await set_period(pilot, "2015-01-01", "2025-01-01")
        await until(pilot, lambda: "refused" in head(app), "the refusal")
        assert "at most 366 days" in head(app) and not cells(app, "#report-table")
        assert any("at most 366 days" in n for n in notes)
        await set_period(pilot, "soon", "")
        await until(pilot, lambda: "'soon' is not an ISO 8601" in head(app), "the bad date")
        # and a good period brings the report back
        await set_period(pilot, "2025-03-09", "2025-03-09")
        await until(pilot, lambda: "calls 2" in head(app), "the report again")


def _ready(app: Console) -> Callable[[], bool]:
    return lambda: bool(app.query_one("#report-table", DataTable).row_count)


def test_reports_pane_at_80x24(report_box: ReportBox, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        app: Console = pilot.app  # type: ignore[assignment]
        await show_day(pilot, app)
        await until(pilot, _ready(app), "the rows")
        app.query_one("#report-table", DataTable).focus()
        await pilot.pause(0.2)

    app = Console(Client(socket=report_box.socket), poll=3600)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_the_form_fits_and_cancel_keeps_the_period(report_box: ReportBox) -> None:
    async def flow() -> None:
        app = Console(Client(socket=report_box.socket), poll=3600)
        async with app.run_test(size=(80, 24)) as pilot:
            await show_day(pilot, app)
            await open_form(pilot, "f")
            assert isinstance(app.screen, Form)
            assert [i.value for i in app.screen.query(Input)] == ["2025-03-09", "2025-03-09"]
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, Form), "the form closed")
            assert "2025-03-09" in head(app)

    asyncio.run(flow())
