"""What a new user tripped over in the console (#22), each asserted on behaviour against a real
daemon: calls and SMS counted apart, times in the logs, panes and actions in the command palette,
pickers filled from the API instead of typed names, a warning before a test call to a DNC number,
calling hours the same in the header and the form, and an edit hint the API accepts."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, RichLog, Select, SelectionList, Static

from appliance.drivers.outcome import Outcome
from tests.tui.conftest import DNC_NUMBER, Box, fixed_box, with_attempts
from tests.tui.screens import Watched, cells, fill_in, opened, show, type_text, until
from tui.app import PANES, pane_key
from tui.base import clock
from tui.client import ApiError, Client
from tui.screens.confirm import Confirm
from tui.screens.form import Form

Scenario = Callable[[Watched, Pilot[None]], Awaitable[None]]


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """Read, not changed, by the tests that take it."""
    b = with_attempts(fixed_box(tmp_path_factory.mktemp("newuser")))
    b.start()
    yield b
    b.close()


@pytest.fixture()
def fresh(tmp_path: Path) -> Iterator[Box]:
    """For a test that changes the box."""
    b = fixed_box(tmp_path)
    b.start()
    yield b
    b.close()


def run(box: Box, scenario: Scenario) -> None:
    async def go() -> None:
        app = Watched(Client(socket=box.socket), poll=0.5)
        async with app.run_test(size=(80, 24)) as pilot:
            await scenario(app, pilot)

    asyncio.run(go())


def notes(app: Watched) -> list[str]:
    return app.noted


# -- calls and SMS apart ------------------------------------------------------------------------


def test_the_dashboard_counts_calls_and_sms_apart(box: Box) -> None:
    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        status = await app.client.get("/status")
        assert status["outcomes_last_hour_by_channel"] == {
            "voice": {"Connected": 2, Outcome.ALERTING_TIMEOUT.label: 1},
            "sms": {"Connected": 3, "ErrorOccurred": 1},
            "email": {},
        }
        assert sum(status["dials_per_minute"]) == 3  # calls dialed: an SMS is no dial
        await show(pilot, "dashboard")
        outcomes = app.query_one("#outcomes", Static)
        await until(pilot, lambda: "SMS" in str(outcomes.content), "the last hour")
        text = str(outcomes.content)
        assert f"calls, last hour: Connected 2  {Outcome.ALERTING_TIMEOUT.label} 1" in text
        assert "SMS, last hour: sent 3  failed 1" in text
        assert "Connected 5" not in text

    run(box, scenario)


# -- times in the logs --------------------------------------------------------------------------


def test_clock_is_local_time_with_the_date_when_not_today() -> None:
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC).astimezone()
    earlier = now - timedelta(hours=2)
    assert clock(earlier.timestamp(), now) == f"{earlier:%H:%M:%S}"
    assert clock(earlier.astimezone(UTC).isoformat().replace("+00:00", "Z"), now) == clock(
        earlier.timestamp(), now
    )  # the API's ISO 8601 text reads the same as its epoch seconds
    yesterday = now - timedelta(days=1)
    assert clock(yesterday.timestamp(), now) == f"{yesterday:%Y-%m-%d %H:%M:%S}"
    for nothing in (None, "", "soon", True, float("inf"), [1]):
        assert clock(nothing, now) == ""


def test_log_lines_carry_their_local_time(box: Box) -> None:
    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await pilot.press("6")
        log = app.query_one(RichLog)
        await until(pilot, lambda: len(log.lines) > 2, "log lines")
        await pilot.pause(0.3)
        first = (await app.client.get("/logs?level=INFO&limit=500"))[0]
        shown = log.lines[0].text
        assert re.match(r"^(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d (INFO|WARN|ERRO) \w+: ", shown), shown
        assert shown.startswith(clock(first["time"]))  # the daemon's time, in this machine's zone

    run(box, scenario)


# -- the command palette ------------------------------------------------------------------------


def test_the_palette_lists_every_pane_and_the_panes_actions(box: Box) -> None:
    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        for pid, title, cls in PANES:
            await show(pilot, pid)
            names = {c.name for c in app.palette_commands()}
            assert {f"Go to {t}" for _, t, _ in PANES} <= names
            pane = title
            for binding in cls.BINDINGS:
                label = binding.tooltip or binding.description  # type: ignore[union-attr]
                assert f"{pane}: {label}" in names, (pane, binding)
        # by name from the palette: a pane, then one of its actions
        await show(pilot, "campaigns")
        await opened(pilot, CommandPalette, "ctrl+p")
        await type_text(pilot, "Go to DNC")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: app.query_one("#tabs").active == "dnc", "the DNC pane")  # type: ignore[attr-defined]
        await opened(pilot, CommandPalette, "ctrl+p")
        await type_text(pilot, "DNC: Add")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, Form), "the add form")
        assert app.screen.form_title == "Add to DNC"  # type: ignore[attr-defined]

    run(box, scenario)


def test_pane_keys_switch_from_every_pane(box: Box) -> None:
    """Pressing 5 on the DNC pane once left it there: the hidden pane's search field took the
    focus its table dropped, and with it the pane came back."""

    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        tabs = app.query_one("#tabs")
        await show(pilot, "dashboard")
        keys = {pid: pane_key(i) for i, (pid, _, _) in enumerate(PANES)}
        panes = list(keys)
        # Every pane left three times, each time for another: for the next, the previous and
        # the one three on (the fault was the pane left: hidden, it took the focus back). All 90
        # ordered pairs took a minute of the suite's twenty.
        n = len(panes)
        walk = panes + [panes[0]] + panes[::-1] + [panes[(3 * i) % n] for i in range(1, n + 1)]
        for before, pane in itertools.pairwise(walk):
            await pilot.press(keys[pane])
            await until(pilot, lambda p=pane: tabs.active == p, f"{before} -> {pane}", timeout=10)  # type: ignore[attr-defined,misc]
            await until(pilot, lambda: app.active_pane().has_focus_within, "focus")
            await pilot.pause(0.1)
            assert tabs.active == pane, (before, pane)  # type: ignore[attr-defined]

    run(box, scenario)


# -- pickers ------------------------------------------------------------------------------------


def test_campaigns_are_picked_not_typed(fresh: Box) -> None:
    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        # DNC: the list is a choice of the global list and each campaign's, from the API
        await show(pilot, "dnc")
        await opened(pilot, Form, "a")
        choice = app.screen.query_one("#f-campaign", Select)
        await fill_in(pilot, "number", "(212) 555-0188", "enter")
        assert app.focused is choice and choice.value == ""  # the global list first
        await pilot.press("down")  # open the list
        await pilot.press("down", "enter")  # the next: campaign spring
        assert choice.value == "spring"
        await pilot.press("enter")  # on to the reason
        await pilot.press("enter")  # the last field: OK
        await until(pilot, lambda: any(r[1] == "campaign:spring" for r in cells(app, "#dnc-table")),
                    "the entry on spring's list")  # fmt: skip
        listed = await app.client.get("/dnc?list=campaign&campaign=spring")
        assert [e["e164"] for e in listed] == ["+12125550188"]

        # Lines: pinned by ticking campaigns; the form shows the pins as they are
        await show(pilot, "lines")
        await opened(pilot, Form, "p")
        picks = app.screen.query_one("#f-campaigns", SelectionList)
        assert picks.selected == [] and picks.option_count == 1
        await pilot.press("space", "enter")
        await until(pilot, lambda: cells(app, "#lines-table")[0][6] == "spring", "gsm0 pinned")
        assert "campaigns: [spring]" in fresh.daemon.config.read_text().replace("'", "")
        await opened(pilot, Form, "p")
        picks = app.screen.query_one("#f-campaigns", SelectionList)
        assert picks.selected == ["spring"]
        await pilot.press("space", "ctrl+s")  # untick: any campaign again
        await until(pilot, lambda: cells(app, "#lines-table")[0][6] == "any", "gsm0 unpinned")

    run(fresh, scenario)


def test_a_bad_number_in_the_dnc_form_is_refused_with_the_apis_words(box: Box) -> None:
    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await show(pilot, "dnc")
        before = cells(app, "#dnc-table")
        await opened(pilot, Form, "a")
        await fill_in(pilot, "number", "12; DROP TABLE dnc", "ctrl+s")
        await until(pilot, lambda: any("not phone numbers" in n for n in notes(app)), "the refusal")
        assert cells(app, "#dnc-table") == before

    run(box, scenario)


# -- a warning before a test call or SMS to a DNC number ----------------------------------------


def test_a_test_call_to_a_dnc_number_asks_first(box: Box) -> None:
    """The lines are down (their ports are not there): a call that reaches the API is refused
    with `line gsm0 is down`, which tells whether the console went ahead."""

    def went_ahead(app: Watched) -> int:
        return sum("gsm0 is down" in n for n in notes(app))

    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await show(pilot, "lines")
        # cancelled (Enter: Cancel has the focus): no call
        await opened(pilot, Form, "c")
        await fill_in(pilot, "number", "(415) 555-0199", "enter")
        await until(pilot, lambda: isinstance(app.screen, Confirm), "the warning")
        text = str(app.screen.query_one("#confirm-text Static", Static).content)
        assert DNC_NUMBER in text and "global (asked)" in text
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("enter")
        await until(pilot, lambda: any("no test call to" in n for n in notes(app)), "cancelled")
        await pilot.pause(0.5)
        assert went_ahead(app) == 0
        # confirmed: the call goes to the API
        await opened(pilot, Form, "c")
        await fill_in(pilot, "number", DNC_NUMBER, "enter")
        await until(pilot, lambda: isinstance(app.screen, Confirm), "the warning")
        await pilot.click("#proceed")
        await until(pilot, lambda: went_ahead(app) == 1, "the call placed")
        # a number on no list, and one that is no number: no question asked
        for number in ("+12125550100", "not a number"):
            before = went_ahead(app)
            await opened(pilot, Form, "c")
            await fill_in(pilot, "number", number, "enter")
            await until(pilot, lambda b=before: went_ahead(app) == b + 1, number)  # type: ignore[misc]
            assert not isinstance(app.screen, Confirm)
        # a test SMS asks the same
        await opened(pilot, Form, "m")
        await fill_in(pilot, "number", DNC_NUMBER, "ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, Confirm), "the SMS warning")
        assert "Test SMS anyway" in str(app.screen.query_one("#proceed").label)  # type: ignore[attr-defined]
        await pilot.press("escape")
        await until(pilot, lambda: any("no test SMS to" in n for n in notes(app)), "no SMS")

    run(box, scenario)


# -- calling hours: the header and the form agree -----------------------------------------------


def test_the_hours_in_the_form_are_the_hours_in_the_header(fresh: Box) -> None:
    config = fresh.daemon.config

    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await show(pilot, "setup")
        header = app.query_one("#setup-config", Static)

        def says(text: str) -> Callable[[], bool]:
            return lambda: text in re.sub(r"\[/?b\]", "", str(header.content)).replace("\n", " ")

        # the box's profile is custom (conftest): its own hours, as the form shows them
        assert says("calling hours daily 00:00-24:00 callee local time: the custom profile's own")()
        await opened(pilot, Form, "g")
        assert app.screen.query_one("#f-custom_hours", Input).value == "daily 00:00-24:00"
        await fill_in(pilot, "custom_hours", "mon-fri 09:00-20:00", "ctrl+s")
        await until(
            pilot, says("hours mon-fri 09:00-20:00 callee local time: the custom"), "the new hours"
        )
        assert "calling_hours: mon-fri 09:00-20:00" in config.read_text()

        # a named profile: its hours within the box's, both in the header as in the form
        await opened(pilot, Form, "g")
        profile = app.screen.query_one("#f-compliance_profile", Select)
        profile.focus()
        await pilot.press("down", "up", "up", "up", "enter")  # custom -> us
        assert profile.value == "us"
        await fill_in(pilot, "box_hours", "09:00-17:00", "ctrl+s")
        await until(pilot, says("hours daily 09:00-17:00 callee local time: the us profile's, "
                                "within the box hours 09:00-17:00"), "the us hours")  # fmt: skip
        await opened(pilot, Form, "g")
        assert app.screen.query_one("#f-box_hours", Input).value == "09:00-17:00"

        # hostile: hours that are no hours change nothing, and say why
        before = config.read_bytes()
        await fill_in(pilot, "custom_hours", "whenever", "ctrl+s")
        await until(pilot, lambda: any("invalid" in n for n in notes(app)), "the refusal")
        await opened(pilot, Form, "g")
        await fill_in(pilot, "box_hours", "9am", "ctrl+s")
        await until(pilot, lambda: any("write HH:MM-HH:MM" in n for n in notes(app)), "refused")
        assert config.read_bytes() == before

    run(fresh, scenario)


# -- the edit form's hints ----------------------------------------------------------------------


def test_every_example_the_edit_form_shows_is_taken_by_the_api(fresh: Box) -> None:
    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await show(pilot, "campaigns")
        await opened(pilot, Form, "e")
        note = str(app.screen.query_one("#form-note", Static).content)
        examples = re.findall(r"^\s+(\w+=.+)$", note, re.MULTILINE)
        assert any(e.startswith("filter=") for e in examples), note
        for example in examples:  # posted as the form posts it: 2xx
            key, _, value = example.partition("=")
            body = {key: value} if key == "filter" else {"settings": {key: value}}
            if key == "ratio":
                body = {"settings": {key: float(value)}}
            await app.client.patch("/campaigns/spring", body)
        with pytest.raises(ApiError) as refused:  # the hint it once showed
            await app.client.patch("/campaigns/spring", {"filter": "bp3 = gold"})
        assert refused.value.status == 422
        # and typed into the form
        hinted = next(e for e in examples if e.startswith("filter="))
        app.screen.query_one("#f-setting", Input).value = hinted
        await pilot.press("enter")
        await until(pilot, lambda: not app.screen.is_modal, "the form closed")
        spring = await app.client.get("/campaigns/spring")
        assert spring["filter"] == hinted.partition("=")[2]

    run(fresh, scenario)


def test_data_from_the_box_is_shown_as_it_is_never_as_markup(fresh: Box) -> None:
    """A DNC reason or a campaign value holding Rich markup (`[/x]`, `[b]`) is shown literally;
    it once raised MarkupError in the DNC pane."""
    from appliance.cli import main

    cli = ["--config", str(fresh.daemon.config)]
    assert main([*cli, "dnc", "add", "+14155550123", "--reason", "[/x] said [b]no[/b]"]) == 0

    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await show(pilot, "dnc")
        await until(pilot, lambda: any("[/x]" in c for row in cells(app, "#dnc-table") for c in row),
                    "the reason shown literally")  # fmt: skip
        assert any("[/x] said [b]no[/b]" in c for row in cells(app, "#dnc-table") for c in row)

    run(fresh, scenario)
