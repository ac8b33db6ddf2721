"""The console's inbound side at 80×24 (#23), with Textual's pilot against a real daemon (the
fixed box with an inbound campaign and its missed calls, tests/tui/inbound.py): the dashboard's
inbound line and queue, the missed calls called back and dismissed — a refusal (DNC, withheld,
handled already) shown in the API's words — and the inbound campaign form, which brings itself
back with the API's words when the start is refused. The live queue (many callers, long names)
against the API served in-process with the engine's snapshot given (`QueueApi`). Snapshots of
each new screen come first: the later tests change the box."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, SelectionList, Static

from tests.tui.conftest import DNC_NUMBER, Box
from tests.tui.inbound import LONG_CALLER, OPEN_CALLER, T0, QueueApi, inbound_box
from tests.tui.screens import Watched, cells, fill_in, opened, show, steady, until
from tui.app import Console
from tui.client import Client
from tui.screens.confirm import Confirm
from tui.screens.form import Form
from tui.screens.missed import MissedCalls

SCREEN = Region(0, 0, 80, 24)
Opener = Callable[[Pilot[None]], Awaitable[None]]


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    b, _ = inbound_box(tmp_path_factory.mktemp("inbound"))
    b.start()
    yield b
    b.close()


@pytest.fixture()
def box_live(tmp_path: Path) -> Iterator[Box]:
    """conftest's box: a daemon on two emulated modems, its engine answering calls."""
    b = Box(tmp_path, modems=2)
    b.start()
    yield b
    b.close()


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """The missed calls' times are shown in local time: UTC here, the same on every machine."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def summary(app: Console) -> str:
    return Text.from_markup(str(app.query_one("#summary", Static).content)).plain


async def home(pilot: Pilot[None]) -> None:
    await show(pilot, "dashboard")
    await until(pilot, lambda: "inbound:" in summary(pilot.app), "the inbound line")  # type: ignore[arg-type]


async def missed(pilot: Pilot[None]) -> None:
    await home(pilot)
    await opened(pilot, MissedCalls, "m")
    await until(pilot, lambda: pilot.app.screen.query_one(DataTable).row_count >= 4, "missed calls")


async def callback_form(pilot: Pilot[None]) -> None:
    await missed(pilot)
    await opened(pilot, Form, "c")


async def row_of(pilot: Pilot[None], table: str, first: str) -> None:
    """Put the cursor on the row whose first cell is `first`."""
    app: Console = pilot.app  # type: ignore[assignment]
    rows = [r[0] for r in shown(app, table)]
    app.screen.query_one(table, DataTable).move_cursor(row=rows.index(first))
    await pilot.pause(0.1)


async def inbound_form(pilot: Pilot[None]) -> None:
    await show(pilot, "campaigns")
    await until(pilot, lambda: len(cells(pilot.app, "#campaigns-table")) == 2, "two campaigns")  # type: ignore[arg-type]
    await row_of(pilot, "#campaigns-table", "hotline")
    await opened(pilot, Form, "e")


SCREENS: dict[str, Opener] = {
    "home": home,
    "missed-calls": missed,
    "missed-callback": callback_form,
    "campaign-inbound": inbound_form,
}


@pytest.mark.parametrize("screen", list(SCREENS))
def test_inbound_screens_at_80x24(screen: str, box: Box, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await SCREENS[screen](pilot)
        steady(pilot.app)  # type: ignore[arg-type]
        await pilot.pause(0.2)

    app = Console(Client(socket=box.socket), poll=3600)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("screen", ["missed-callback", "campaign-inbound"])
def test_inbound_forms_fit_with_every_field_reachable(screen: str, box: Box) -> None:
    async def go() -> None:
        app = Console(Client(socket=box.socket), poll=3600)
        async with app.run_test(size=(80, 24)) as pilot:
            await SCREENS[screen](pilot)
            form = app.screen
            assert isinstance(form, Form)
            assert SCREEN.contains_region(form.query_one("#form").region)
            fields = form.query_one("#form-fields").region
            for widget in form._inputs():
                widget.focus()
                await pilot.pause(0.05)
                assert fields.contains_region(widget.region), (screen, widget.id)

    asyncio.run(go())


def run(socket: str, scenario: Callable[[Watched, Pilot[None]], Awaitable[None]]) -> None:
    async def go() -> None:
        app = Watched(Client(socket=socket), poll=0.5)
        async with app.run_test(size=(80, 24)) as pilot:
            await scenario(app, pilot)

    asyncio.run(go())


def shown(app: Console, table: str) -> list[list[str]]:
    """The rows of a table on the screen on top (a dialog's)."""
    found: DataTable[str] = app.screen.query_one(table, DataTable)
    return [[str(c) for c in found.get_row_at(i)] for i in range(found.row_count)]


def note(app: Console) -> str:
    return str(app.screen.query_one("#missed-note", Static).content)


def test_missed_calls_are_called_back_or_dismissed_and_refusals_say_why(box: Box) -> None:
    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await missed(pilot)
        table = "#missed-table"
        callers = [r[1] for r in shown(app, table)]
        assert callers[:3] == [OPEN_CALLER, "withheld", DNC_NUMBER]
        assert shown(app, table)[0][2] == "2"  # the number called twice while it was open
        # a caller ID that is no number, cut to its column with …; whole under the table
        long = next(r for r in shown(app, table) if r[1].startswith("private-caller"))
        assert len(long[1]) == 16 and long[1].endswith("…")
        await row_of(pilot, table, long[0])
        detail = str(app.screen.query_one("#missed-detail", Static).content)
        whole = detail.split(" · ")[0]  # as the box keeps it (caller IDs are cut at 28)
        assert len(whole) > 16 and LONG_CALLER.startswith(whole)
        frame = app.screen.query_one("#missed")
        assert SCREEN.contains_region(frame.region)

        # called back from spring (the campaign's callback_campaign)
        await row_of(pilot, table, shown(app, table)[0][0])
        await opened(pilot, Form, "c")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MissedCalls), "back to the list")
        await until(pilot, lambda: "called back from spring" in note(app), "the callback made")
        await until(pilot, lambda: OPEN_CALLER not in [r[1] for r in shown(app, table)],
                    "gone from the open ones")  # fmt: skip

        # refused: a DNC number, a withheld one — in the API's words, nothing changed
        for who, words in ((DNC_NUMBER, "is on the global list"), ("withheld", "was withheld")):
            await row_of(pilot, table, next(r[0] for r in shown(app, table) if r[1] == who))
            await opened(pilot, Form, "c")
            await pilot.press("ctrl+s")
            await until(pilot, lambda w=words: w in note(app), f"the refusal for {who}")  # type: ignore[misc]
            assert note(app).startswith("refused: ") and any(words in n for n in app.noted)
            assert who in [r[1] for r in shown(app, table)]

        # dismissed, after a question; then, among all of them, dismissed again: refused
        await row_of(pilot, table, next(r[0] for r in shown(app, table) if r[1] == "withheld"))
        await opened(pilot, Confirm, "d")
        await pilot.click("#proceed")
        await until(pilot, lambda: "withheld" not in [r[1] for r in shown(app, table)], "dismissed")
        await pilot.press("a")
        await until(pilot, lambda: len(shown(app, table)) == 5, "all of them")
        assert {r[5] for r in shown(app, table)} == {"open", "called back", "dismissed"}
        await row_of(pilot, table, next(r[0] for r in shown(app, table) if r[1] == "withheld"))
        await opened(pilot, Confirm, "d")
        await pilot.click("#proceed")
        await until(pilot, lambda: "dismissed already" in note(app), "the refusal")
        await pilot.press("escape")
        await until(pilot, lambda: not app.screen.is_modal, "closed")

    run(box.socket, scenario)


def test_an_inbound_campaign_without_a_line_is_not_started_and_the_form_says_why(
    box: Box,
) -> None:
    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await show(pilot, "campaigns")
        await opened(pilot, Form, "n")
        app.screen.query_one("#f-type", Select).value = "inbound"
        await fill_in(pilot, "name", "desk", "ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, Form)
                    and "Inbound campaign desk" in str(app.screen.query_one("#form").border_title),
                    "the inbound form")  # fmt: skip
        # a wait below the least the box takes: not saved, the form back with what was typed
        await fill_in(pilot, "flow", "menu")
        await fill_in(pilot, "queue_max_wait", "3", "ctrl+s")
        await until(pilot, lambda: any("queue_max_wait" in n for n in app.noted), "refused")
        await until(pilot, lambda: isinstance(app.screen, Form), "the form back")
        shown = str(app.screen.query_one("#form-note", Static).content)
        assert shown.startswith("Not saved: invalid campaign setting: settings.queue_max_wait")
        assert app.screen.query_one("#f-flow", Input).value == "menu"  # kept
        await fill_in(pilot, "flow", "")
        await fill_in(pilot, "queue_max_wait", "60", "ctrl+s")  # no line ticked, start now yes
        refused = "inbound campaign 'desk' cannot answer calls: it names no line to answer on"
        await until(pilot, lambda: any(refused in n for n in app.noted), "the refusal noted")
        await until(pilot, lambda: isinstance(app.screen, Form), "the form back")
        shown = str(app.screen.query_one("#form-note", Static).content)
        assert shown.startswith("Saved, not started: ") and refused in shown
        lines = app.screen.query_one("#f-answer_lines", SelectionList)
        lines.select("gsm1")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any("saved and started" in n for n in app.noted), "started")
        await until(pilot, lambda: ["desk", "inbound", "running", "—"]
                    in [r[:4] for r in cells(app, "#campaigns-table")], "desk running")  # fmt: skip
        await row_of(pilot, "#campaigns-table", "desk")
        await pilot.press("w")
        await until(pilot, lambda: app.screen.is_modal, "why")
        assert app.screen.query_one("#message").border_title == "Why desk is not answering calls"
        text = str(app.screen.query_one("#message-text", Static).content)
        assert "Campaign desk answers no call: no line it answers on is up" in text, text

    run(box.socket, scenario)


def _queue(n: int, now: float) -> Any:
    from appliance.engine.inboundview import InboundSnapshot, RingingCall, WaitingCaller

    waiting = tuple(WaitingCaller("hotline-" + "x" * 50, "gsm-line-with-a-long-name",
                                  "+1212555" + f"{i:04}" + "9" * 30, now - 600 + i, (i + 1,),
                                  100 + i, "sales") for i in range(n))  # fmt: skip
    ringing = (
        RingingCall("gsm0", "", now - 3, "hotline"),
        RingingCall("gsm1", "+1", now - 1, None, "no running inbound campaign answers"),
    )
    return InboundSnapshot(at=now, waiting=waiting, ringing=ringing)


def _seed(db: Any) -> None:
    from appliance.domain import CampaignType
    from appliance.store.campaigns import create_campaign

    inbound = create_campaign(db, "hotline-" + "x" * 50, CampaignType.INBOUND, "US", {}, T0, "t")
    for i in range(60):
        db.conn.execute(
            "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, bp1, bp2, created_at,"
            " updated_at) VALUES (?, ?, '+12125550000', '+12125550000', ?, ?, 0, 0)",
            (inbound.id, i, "[b]Max[/i]-Alexandra", f"von Long-Surname {i}"),
        )


def test_the_queue_of_many_waiting_callers_with_long_names_scrolls_inside_the_screen(
    tmp_path: Path,
) -> None:
    """Hostile: 60 callers waiting, each with a 42-character number, a 64-character campaign and
    a contact name with markup in it; and calls ringing in, one withheld."""
    with QueueApi(tmp_path, _seed, T0) as api:
        api.engine.inbound.snap = _queue(60, T0)

        async def scenario(app: Watched, pilot: Pilot[None]) -> None:
            await home(pilot)
            await until(pilot, lambda: len(cells(app, "#dash-queue")) == 62, "the queue")
            assert summary(app).endswith(
                "\ninbound: 60 waiting, longest 10:00 · 2 ringing · 0 missed open (m)"
            )
            rows = cells(app, "#dash-queue")
            assert rows[0][:3] == ["waiting", "10:00", "+12125550000999…"]
            assert rows[0][3] == "[b]Max[/i]-Alexandr…"  # as it is, never read as markup
            assert rows[0][4] == "hotline-xxx…" and rows[0][5] == "gsm-lin…"
            assert rows[60][:3] == ["ringing", "0:03", "withheld"]
            assert rows[61][3:5] == ["not answered: no ru…", "(none)"]
            queue = app.query_one("#dash-queue", DataTable)
            for widget in (queue, app.query_one("#dash-campaigns"), app.query_one("#summary")):
                assert SCREEN.contains_region(widget.region), widget
            assert queue.virtual_size.height > queue.size.height  # it scrolls, the screen not
            queue.focus()
            await pilot.press("ctrl+end")
            await pilot.pause(0.2)
            assert queue.cursor_row == 61 and queue.scroll_y == queue.max_scroll_y > 0

        run(api.socket, scenario)


def _few(db: Any) -> None:
    from appliance.domain import CampaignType
    from appliance.store.campaigns import create_campaign

    inbound = create_campaign(db, "hotline", CampaignType.INBOUND, "US", {}, T0, "t")
    db.conn.execute(
        "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, bp1, bp2, created_at,"
        " updated_at) VALUES (?, 1, '+12125550101', '+12125550101', 'Ann', 'Lee', 0, 0)",
        (inbound.id,),
    )


def test_the_queue_at_80x24(tmp_path: Path, snap_compare: Any) -> None:
    """Three callers waiting (one known by name, one by number only, one withheld) and two
    calls ringing in, one on a line no campaign answers on."""
    from appliance.engine.inboundview import InboundSnapshot, RingingCall, WaitingCaller

    with QueueApi(tmp_path, _few, T0) as api:
        api.engine.inbound.snap = InboundSnapshot(
            at=T0,
            waiting=(WaitingCaller("hotline", "gsm0", "+12125550101", T0 - 95, (1,), 1, "sales"),
                     WaitingCaller("hotline", "gsm1", "+13125550177", T0 - 40, (), 2, "sales"),
                     WaitingCaller("hotline", "gsm2", "", T0 - 5, (), 3, None)),
            ringing=(RingingCall("gsm3", "+14155550123", T0 - 3, "hotline"),
                     RingingCall("gsm9", "", T0 - 1, None)),
        )  # fmt: skip

        async def run_before(pilot: Pilot[None]) -> None:
            await home(pilot)
            await until(pilot, lambda: len(cells(pilot.app, "#dash-queue")) == 5, "the queue")  # type: ignore[arg-type]
            await pilot.pause(0.2)

        app = Console(Client(socket=api.socket), poll=3600)
        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_a_caller_ringing_in_waits_in_the_queue_then_is_a_missed_call(box_live: Box) -> None:
    """End to end: a daemon with emulated modems answers a call on the inbound campaign's line;
    with no agent the caller waits in the queue on the dashboard, hangs up, and is a missed call
    in the list — the daemon, its engine and the emulator real."""
    emulator = box_live.emulator
    assert emulator is not None

    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await app.client.post("/campaigns", {"name": "hotline", "type": "inbound", "settings": {
            "answer_lines": ["gsm0"], "queue_max_wait": 600}})  # fmt: skip
        await app.client.post("/campaigns/hotline/start")
        await show(pilot, "dashboard")
        # the caller hangs up 6 s after the answer (the emulator's delays are 1/50)
        assert emulator.control("gsm0 incoming +12125550177 hangup=300") == "ok"
        await until(pilot, lambda: any(r[0] == "waiting" and r[2] == "+12125550177"
                                       for r in cells(app, "#dash-queue")), "the caller waiting")  # fmt: skip
        assert "1 waiting, longest" in summary(app)
        await until(pilot, lambda: "0 waiting · 0 ringing · 1 missed open (m)" in summary(app),
                    "the caller gone, a missed call", timeout=30)  # fmt: skip
        await opened(pilot, MissedCalls, "m")
        await until(pilot, lambda: len(shown(app, "#missed-table")) == 1, "the missed call")
        (row,) = shown(app, "#missed-table")
        assert row[1:4] == ["+12125550177", "1", "hung up waiting"]

    run(box_live.socket, scenario)
