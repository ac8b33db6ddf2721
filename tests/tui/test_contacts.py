"""The Contacts pane (SPEC O4) with Textual's pilot at 80×24 against a real daemon (subprocess):
the state filter and the search change the rows, the columns chosen are there again after a
restart, Enter shows a contact's attempts; a 10,000-contact campaign is fetched a page at a time,
a daemon gone mid-browse is said in words, and odd parameter values stay inside their cells."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from rich.console import Console as RichConsole
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from appliance.cli import main
from appliance.store import open_database
from tests.scheduler.dbfixtures import add_attempt
from tests.tui.conftest import Box
from tui.app import Console
from tui.client import Client
from tui.panes.contacts import PAGE, Contacts
from tui.screens.columns import Columns
from tui.screens.message import Message

ODD = "\x1b[31m[/bold] [link=x]Zoë\x07\t\u202e" + "ÿ" * 300  # escape, markup, bell, RTL, long


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str, timeout: float = 30) -> None:  # fmt: skip
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


async def search(pilot: Pilot[None], text: str) -> None:
    await pilot.press("slash", "ctrl+u", *[{" ": "space"}.get(ch, ch) for ch in text], "enter")


def rows(app: Console) -> list[list[str]]:
    table: DataTable[Any] = app.query_one("#contacts-table", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def headers(app: Console) -> list[str]:
    table: DataTable[Any] = app.query_one("#contacts-table", DataTable)
    return [str(c.label) for c in table.columns.values()]


def status(app: Console) -> str:
    return str(app.query_one("#contacts-status", Static).content)


def screen_text(app: Console) -> list[str]:
    """The screen as a terminal shows it, line by line."""
    width, height = app.size
    out = RichConsole(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      record=True, legacy_windows=False, safe_box=False)  # fmt: skip
    out.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return out.export_text().splitlines()


class Recording(Client):
    """The console's client, noting every request it makes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.paths: list[str] = []

    async def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        self.paths.append(path)
        return await super().request(method, path, body, **kwargs)

    def contact_pages(self) -> list[dict[str, list[str]]]:
        return [
            parse_qs(urlsplit(p).query)
            for p in self.paths
            if urlsplit(p).path.endswith("/contacts")
        ]


# The campaign's own names for its fields (config import.mappings, campaign setting `mapping`).
MAPPING = "import:\n  mappings:\n    crm: {columns: {phone1: Phone, bp1: First name, bp2: Tier}}\n"
NAMED = ["Phone", "First name", "state", "attempts", "next attempt"]
CHOSEN = ["Phone", "Tier", "state", "attempts", "last outcome", "next attempt"]


def _box(tmp: Path, csv: str, states: dict[str, str] | None = None, odd: bool = False) -> Box:
    box = Box(tmp, modems=0)
    cli = ["--config", str(box.daemon.config)]
    assert (
        main([*cli, "campaign", "create", "spring", "--type", "automated", "--region", "US"]) == 0
    )
    (tmp / "c.csv").write_text(csv)
    assert main([*cli, "import", "--campaign", "spring", str(tmp / "c.csv")]) == 0
    if odd:  # the campaign names its fields (after the import: the file has no header)
        with box.daemon.config.open("a") as config:
            config.write(MAPPING)
        assert main([*cli, "campaign", "set", "spring", "mapping=crm"]) == 0
    db = open_database(tmp / "state" / "dialbox.db")
    with db.transaction():
        for name, state in (states or {}).items():
            db.conn.execute(
                "UPDATE contacts SET state = ?, attempts = 1 WHERE bp1 = ?", (state, name)
            )
        bob = db.scalar("SELECT id FROM contacts WHERE bp1 = 'Bob'")
        if bob is not None:
            add_attempt(db, int(bob), 1, "+12125550102", time.time() - 3600, outcome=1)  # Busy
        if odd:
            db.conn.execute(
                "UPDATE contacts SET bp1 = ?, external_id = ? WHERE bp1 = 'Cy'",
                (ODD[:255], ODD[:60]),
            )
    db.close()
    box.start()
    return box


@pytest.fixture()
def small(tmp_path: Path) -> Iterator[Box]:
    csv = "(212) 555-0101,,,,,Ann,gold\n(212) 555-0102,,,,,Bob,silver\n(312) 555-0103,,,,,Cy,gold\n"
    box = _box(tmp_path, csv, {"Bob": "Not Connected", "Ann": "Connected"}, odd=True)
    yield box
    box.close()


async def _open(pilot: Pilot[None], app: Console) -> None:
    await pilot.press("9")
    await until(pilot, lambda: len(rows(app)) == 3, "the contacts")
    await until(pilot, lambda: getattr(app.focused, "id", None) == "contacts-table", "focus")


def test_state_search_columns_and_detail(small: Box, console_prefs: Path) -> None:
    asyncio.run(_browse(small, console_prefs))


async def _browse(box: Box, prefs: Path) -> None:
    app = Console(Client(socket=box.socket), poll=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, app)
        await until(pilot, lambda: headers(app) == NAMED, "the campaign's names for its fields")
        assert "3 contacts" in status(app)

        # The state filter: Connected holds Ann alone, Not Connected Bob alone.
        await pilot.press("s")
        await pilot.press(
            *["down"] * 4, "enter"
        )  # all, Pending, Sent to Dialer, Not Connected, Connected
        await until(pilot, lambda: [r[1] for r in rows(app)] == ["Ann"], "Connected: Ann")
        assert "1 Connected" in status(app)
        await pilot.press("s")
        await pilot.press("up", "enter")
        await until(pilot, lambda: [r[1] for r in rows(app)] == ["Bob"], "Not Connected: Bob")
        await pilot.press("s")
        await pilot.press("home", "enter")
        await until(pilot, lambda: len(rows(app)) == 3, "every state again")

        # The search: a name, then a number as a person writes it, then nothing found.
        for text, found in (("bob", ["Bob"]), ("(212) 555-0101", ["Ann"]), ("nobody", [])):
            await search(pilot, text)
            await until(pilot, lambda f=found: [r[1] for r in rows(app)] == f, f"search {text}")  # type: ignore[misc]
        assert "0 found for 'nobody'" in status(app)
        await search(pilot, "")  # an empty search lists them all again
        await until(pilot, lambda: len(rows(app)) == 3, "all again")

        # Enter: Bob with his attempt.
        await pilot.press("down")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, Message), "the contact's detail")
        text = str(app.screen.query_one("#message-text", Static).content)
        assert "Not Connected" in text and "(212) 555-0102" in text and "+12125550102" in text
        assert "Attempts (1)" in text and "Busy" in text
        await pilot.press("escape")

        # Columns: drop the name, add the tier and the last outcome; kept in the preferences file.
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, Columns), "the column list")
        labels = [k for k, _ in app.screen.columns]  # type: ignore[attr-defined]
        for key in ("bp1", "bp2", "last_outcome"):
            app.screen.query_one("#columns-list").highlighted = labels.index(key)  # type: ignore[attr-defined]
            await pilot.press("space")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "Tier" in headers(app), "the new columns")
        assert headers(app) == CHOSEN
        assert [r[1] for r in rows(app)] == ["gold", "silver", "gold"]
        assert json.loads(prefs.read_text())["contacts"]["columns"] == [
            "phone1", "bp2", "state", "attempts", "last_outcome", "next_at"
        ]  # fmt: skip

    # A new console finds them again.
    again = Console(Client(socket=box.socket), poll=3600)
    async with again.run_test(size=(80, 24)) as pilot:
        await _open(pilot, again)
        await until(pilot, lambda: headers(again) == CHOSEN, "the columns kept")


def test_mangled_or_unwritable_preferences_are_said_and_the_defaults_used(
    small: Box, console_prefs: Path
) -> None:
    console_prefs.write_text('{"contacts": {"columns": ["bp1", ')
    asyncio.run(_mangled(small, console_prefs))


async def _mangled(box: Box, prefs: Path) -> None:
    app = Console(Client(socket=box.socket), poll=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, app)
        await until(pilot, lambda: headers(app) == NAMED, "the campaign's names for its fields")
        assert any(
            "not read" in str(n.message) and "defaults" in str(n.message)
            for n in app._notifications
        )
        prefs.unlink()
        prefs.mkdir()  # now it cannot be written
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, Columns), "the column list")
        await pilot.press("space", "ctrl+s")  # the first column, id, ticked
        await until(pilot, lambda: any("cannot save console preferences" in str(n.message)
                                       for n in app._notifications), "the failure said")  # fmt: skip
        assert headers(app)[0] == "id"  # the choice is in force all the same


def test_odd_values_stay_inside_their_cells_at_80_columns(small: Box) -> None:
    asyncio.run(_odd(small))


async def _odd(box: Box) -> None:
    app = Console(Client(socket=box.socket), poll=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, app)
        cy = rows(app)[2]
        assert "\x1b" not in cy[1] and "␛" in cy[1] and cy[1].endswith("…") and len(cy[1]) <= 24
        lines = screen_text(app)
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines), lines
        assert "Phone" in lines[6] and any("(312) 555-0103" in line for line in lines)
        await pilot.press("down", "down", "enter")
        await until(pilot, lambda: isinstance(app.screen, Message), "the detail")
        lines = screen_text(app)
        assert all(len(line) <= 80 for line in lines) and any(
            "␛[31m[/bold]" in line for line in lines
        )
        await pilot.press("escape")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, Columns), "the column list")
        assert all(len(line) <= 80 for line in screen_text(app))


@pytest.fixture()
def big(tmp_path: Path) -> Iterator[Box]:
    csv = "".join(
        f"(212) 5{n // 10000:02d}-{n % 10000:04d},,,,,Person {n}\n" for n in range(10_000)
    )
    box = _box(tmp_path, csv)
    yield box
    box.close()


def test_ten_thousand_contacts_come_a_page_at_a_time_and_a_daemon_gone_is_said(big: Box) -> None:
    asyncio.run(_paging(big))


async def _paging(box: Box) -> None:
    client = Recording(socket=box.socket)
    app = Console(client, poll=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("9")
        await until(pilot, lambda: len(rows(app)) == PAGE, "the first page")
        await until(pilot, lambda: getattr(app.focused, "id", None) == "contacts-table", "focus")
        assert "10,000 contacts · 100 shown" in status(app)
        await pilot.press("ctrl+end")  # the last row shown: the next page comes
        await until(pilot, lambda: len(rows(app)) == 2 * PAGE, "the second page")
        await pilot.press("ctrl+end")
        await until(pilot, lambda: len(rows(app)) == 3 * PAGE, "the third page")
        # Every request asked for one page; the pages went on from the last row shown. (The
        # first page may be asked twice: the console refreshes a pane as it is shown.)
        pages = client.contact_pages()
        assert all(p["limit"] == [str(PAGE)] for p in pages) and len(pages) <= 4, pages
        shown = app.query_one(Contacts).rows
        cursors = [str(shown[PAGE - 1]["contact_id"]), str(shown[2 * PAGE - 1]["contact_id"])]
        assert sorted({p["after"][0] for p in pages}, key=int) == ["0", *cursors], pages
        assert rows(app)[-1][1] == "Person 299"

        # A search over the big campaign finds the one, asking a page at a time too.
        await search(pilot, "Person 9876")
        await until(pilot, lambda: [r[1] for r in rows(app)] == ["Person 9876"], "the search")
        assert all(p["limit"] == [str(PAGE)] for p in client.contact_pages())

        # The daemon goes away mid-browse: the next page is not there, and the pane says why.
        await search(pilot, "")
        await until(pilot, lambda: len(rows(app)) == PAGE, "all again")
        box.daemon.proc.kill()  # type: ignore[union-attr]
        box.daemon.proc.wait()  # type: ignore[union-attr]
        await pilot.press("ctrl+end")
        await until(pilot, lambda: "did not answer" in status(app), "the pane's words")
        assert any("cannot reach the daemon" in str(n.message) for n in app._notifications)
        assert len(rows(app)) == PAGE and isinstance(app.query_one(Contacts), Contacts)
        notes = len(app._notifications)
        await pilot.press("r")  # starting over while it is gone: said, not raised; rows kept
        await until(pilot, lambda: len(app._notifications) > notes, "said again")
        assert "did not answer" in status(app) and len(rows(app)) == PAGE and app.is_running
