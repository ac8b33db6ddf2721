"""The lines pane: every line's state, signal and call; enable, disable, pin to campaigns, and a
test call or SMS — with a warning first when the number is on a do-not-call list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar
from urllib.parse import quote

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widgets import DataTable, Label, Static

from tui.base import Pane, css_beside, fill, selected_key, short
from tui.client import ApiError
from tui.screens.confirm import Confirm
from tui.screens.form import Field, Form
from tui.screens.message import Message


def boxes_text(boxes: list[dict[str, Any]]) -> str:
    """The boxes on the store (`GET /boxes`, #27), one line each: state, lines up, heartbeat."""
    out = []
    for b in boxes:
        state = b["state"] + (", DRAINING" if b["draining"] else "")
        here = " (this box)" if b.get("this_box") else ""
        beat = b["heartbeat_age_seconds"]
        out.append(
            f"box {b['id']}{here}: {state} · {b['lines_up']}/{len(b['lines'])} lines up"
            f" · heartbeat {beat:.0f} s ago · v{b['version']}"
        )
    return "\n".join(out)


def listed_text(check: dict[str, Any]) -> str:
    """Where a number is listed, from `GET /dnc/numbers/{number}`: each list and its reason."""
    return "; ".join(
        e["list"] + (f" ({e['reason']})" if e.get("reason") else "") for e in check["lists"]
    )


class Lines(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "enable", "Enable"),
        Binding("d", "disable", "Disable"),
        Binding("c", "test_call", "Test call"),
        Binding("m", "test_sms", "Test SMS"),
        Binding("p", "pin", "Pin", tooltip="Pin the line to campaigns"),
    ]
    DEFAULT_CSS = css_beside(__file__)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="lines-table", cursor_type="row")
        table.add_columns(
            "line", "kind", "state", "signal", "campaign", "call", "pinned", "last error"
        )
        yield table
        yield Static("", id="lines-detail", markup=False)
        # Several boxes on one store (#27): each box's state; shown only when there are others.
        boxes = Static("", id="lines-boxes", markup=False)
        boxes.display = False
        yield boxes
        yield Label(
            "[dim]e enable · d disable · c test call · m test SMS · p pin to campaigns[/dim]"
        )

    async def reload(self) -> None:
        lines = await self.client.get("/lines")
        self.lines = {ln["name"]: ln for ln in lines}
        rows = [(ln["name"], ln["kind"], ln["state"],
                 "—" if ln["signal_dbm"] is None else f"{ln['signal_dbm']} dBm", ln["campaign"] or "",
                 "" if ln["call_seconds"] is None else f"{ln['call_seconds']:.0f}s",
                 ",".join(ln["campaigns"]) or "any", short(ln["last_error"], 20)) for ln in lines]  # fmt: skip
        fill(self.query_one(DataTable), rows, [ln["name"] for ln in lines])
        self._detail()
        await self._boxes()

    async def _boxes(self) -> None:
        try:
            boxes = await self.client.get("/boxes")
        except ApiError:  # a daemon from before #27: one box, nothing to show
            boxes = []
        shown = self.query_one("#lines-boxes", Static)
        shown.display = len(boxes) > 1
        shown.update(boxes_text(boxes) if len(boxes) > 1 else "")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def _detail(self) -> None:
        """The highlighted line's last error in full (the table has room for its start only)."""
        try:
            line = self.lines.get(self._line() or "")
            shown = self.query_one("#lines-detail", Static)
        except NoMatches:  # the console is closing: a late highlight has no table left
            return
        text = ""
        if line is not None and line["last_error"]:
            text = f"{line['name']} ({line['state']}): {line['last_error']}"
        shown.update(text)

    def _line(self) -> str | None:
        return selected_key(self.query_one(DataTable))

    async def action_enable(self) -> None:
        if (name := self._line()) is not None:
            await self.act(self.client.post(f"/lines/{name}/enable"), f"line {name} enabled")
            await self.reload()

    async def action_disable(self) -> None:
        if (name := self._line()) is not None:
            await self.act(self.client.post(f"/lines/{name}/disable"), f"line {name} disabled")
            await self.reload()

    async def _unless_dnc(self, number: str, what: str, go: Callable[[], Awaitable[None]]) -> None:
        """Do `go` — unless the number is on a DNC or block list: then ask first."""
        try:
            check = await self.client.get(f"/dnc/numbers/{quote(number, safe='')}")
        except ApiError:  # not a number: the test itself says so
            check = None
        if not check or not check.get("listed"):
            await go()
            return

        async def answered(proceed: bool | None) -> None:
            if proceed:
                await go()
            else:
                self.console.notify(f"no {what} to {number}")

        self.app.push_screen(
            Confirm(
                f"{check['e164']} is on a do-not-call list",
                f"{check['e164']} is listed: {listed_text(check)}.\n\n"
                f"Whoever has this number asked not to be contacted. A {what} reaches them like "
                "any other. Go ahead only if the number is yours (a SIM of the box, your own phone).",
                proceed=f"{what[0].upper()}{what[1:]} anyway",
            ),
            answered,
        )

    def action_test_call(self) -> None:
        name = self._line()
        if name is None:
            return

        async def call(number: str) -> None:
            self.console.notify(f"calling {number} on {name}…")
            result = await self.act(
                self.client.post(f"/lines/{name}/test-call", {"number": number})
            )
            if result:
                evidence = "\n".join(result["evidence"])
                self.app.push_screen(Message(f"Test call on {name}",
                                             f"outcome: {result['outcome']} ({result['code']})\n{evidence}"))  # fmt: skip

        async def done(values: dict[str, str] | None) -> None:
            if values and (number := values["number"]):
                await self._unless_dnc(number, "test call", lambda: call(number))

        self.app.push_screen(
            Form(f"Test call on {name}", [Field("number", "Number to call", hint="+12125550100")]),
            done,
        )

    def action_test_sms(self) -> None:
        name = self._line()
        if name is None:
            return

        async def send(number: str, text: str) -> None:
            result = await self.act(
                self.client.post(f"/lines/{name}/test-sms", {"number": number, "text": text})
            )
            if result:
                self.app.push_screen(Message(f"Test SMS from {name}",
                                             f"{result['status']}: {result['parts']} part(s), "
                                             f"references {result['references']}"))  # fmt: skip

        async def done(values: dict[str, str] | None) -> None:
            if values and (number := values["number"]):
                text = values["text"] or "dialbox test"
                await self._unless_dnc(number, "test SMS", lambda: send(number, text))

        self.app.push_screen(
            Form(f"Test SMS from {name}", [Field("number", "Number", hint="+12125550100"),
                                           Field("text", "Text", "dialbox test")]),
            done,
        )  # fmt: skip

    async def action_pin(self) -> None:
        name = self._line()
        if name is None:
            return
        names = await self.campaign_names()
        if names is None:
            return

        async def done(values: dict[str, str] | None) -> None:
            if values is None:
                return
            campaigns = [c for c in values["campaigns"].split(",") if c]
            if await self.act(self.client.patch("/setup", {"pin_lines": {name: campaigns}}),
                              f"line {name} serves {', '.join(campaigns) or 'any campaign'}"):  # fmt: skip
                await self.reload()

        pinned = ",".join(self.lines.get(name, {}).get("campaigns") or [])
        self.app.push_screen(
            Form(
                f"Pin {name} to campaigns",
                [Field("campaigns", "Campaigns", pinned, [(n, n) for n in names], many=True)],
                note="Space ticks a campaign; none ticked: the line serves any campaign.",
            ),
            done,
        )
