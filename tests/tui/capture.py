"""Every pane and every dialog of the console at 80×24, written to a folder as it is drawn: an
SVG (`App.export_screenshot`) and its text, one pair a screen — for a review or a closing note.

    .venv/bin/python -m tests.tui.capture DIR

A fixed box as the snapshots use (tests/tui/conftest.py), with an hour of calls and SMS, is
started for the run and stopped after; the screens are opened as tests/tui/screens.py says, and
the logs pane is also taken unfiltered ("logs-live")."""

from __future__ import annotations

import argparse
import asyncio
import html
import re
import tempfile
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import RichLog

from tests.tui.conftest import Box, fixed_box, with_attempts
from tests.tui.screens import DIALOGS, PANES, show, steady, until
from tui.app import Console
from tui.client import Client

SIZE = (80, 24)
_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>')
_CHAR_WIDTH = 12.2  # Rich's SVG export: 0.61 of its 20-pixel line


def svg_text(svg: str) -> str:
    """The screen's characters from Rich's SVG export (each run of text is placed by column)."""
    rows: dict[float, list[tuple[int, str]]] = {}
    for x, y, text in _TEXT.findall(svg):
        rows.setdefault(float(y), []).append((round(float(x) / _CHAR_WIDTH), html.unescape(text)))
    lines = []
    for y in sorted(rows)[-SIZE[1] :]:  # the window's title comes first
        line = ""
        for column, text in sorted(rows[y]):
            line = line.ljust(column) + text
        lines.append(line.replace("\xa0", " ").rstrip())
    return "\n".join(lines) + "\n"


async def _take(box: Box, name: str, opener: object, out: Path, files: Path) -> None:
    app = Console(Client(socket=box.socket), poll=3600)
    async with app.run_test(size=SIZE) as pilot:
        await opener(pilot, files)  # type: ignore[operator]
        steady(app)
        await pilot.pause(0.3)
        svg = app.export_screenshot(title=f"dialbox console — {name}")
    (out / f"{name}.svg").write_text(svg)
    (out / f"{name}.txt").write_text(svg_text(svg))


def _pane(pane: str) -> object:
    async def open_pane(pilot: Pilot[None], files: Path) -> None:
        await show(pilot, pane)

    return open_pane


async def _live_logs(pilot: Pilot[None], files: Path) -> None:
    app: Console = pilot.app  # type: ignore[assignment]
    await pilot.press("6")
    await until(pilot, lambda: len(app.query_one("#log-lines", RichLog).lines) > 3, "log lines")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    out = parser.parse_args().folder
    out.mkdir(parents=True, exist_ok=True)
    screens: dict[str, object] = {f"pane-{p}": _pane(p) for p in PANES}
    screens["pane-logs-live"] = _live_logs
    screens.update({f"dialog-{d}": opener for d, opener in DIALOGS.items()})
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "box").mkdir()
        box = with_attempts(fixed_box(Path(tmp) / "box"))
        box.start()
        try:
            for name, opener in screens.items():
                files = Path(tmp) / name
                files.mkdir()
                asyncio.run(_take(box, name, opener, out, files))
                print(out / f"{name}.txt")
        finally:
            box.close()


if __name__ == "__main__":
    main()
