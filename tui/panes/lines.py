"""The lines pane: every line's state, signal and call; enable, disable, pin to campaigns, and a
test call or SMS."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Label

from tui.base import Pane, fill, selected_key
from tui.screens.form import Form
from tui.screens.message import Message


class Lines(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "enable", "Enable"),
        Binding("d", "disable", "Disable"),
        Binding("c", "test_call", "Test call"),
        Binding("m", "test_sms", "Test SMS"),
        Binding("p", "pin", "Pin to campaigns"),
    ]

    def compose(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="lines-table", cursor_type="row")
        table.add_columns(
            "line", "kind", "state", "signal", "campaign", "call", "pinned", "last error"
        )
        yield table
        yield Label(
            "[dim]e enable · d disable · c test call · m test SMS · p pin to campaigns[/dim]"
        )

    async def reload(self) -> None:
        lines = await self.client.get("/lines")
        rows = [(ln["name"], ln["kind"], ln["state"],
                 "—" if ln["signal_dbm"] is None else f"{ln['signal_dbm']} dBm", ln["campaign"] or "",
                 "" if ln["call_seconds"] is None else f"{ln['call_seconds']:.0f}s",
                 ",".join(ln["campaigns"]) or "any", (ln["last_error"] or "")[:24]) for ln in lines]  # fmt: skip
        fill(self.query_one(DataTable), rows, [ln["name"] for ln in lines])

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

    def action_test_call(self) -> None:
        name = self._line()
        if name is None:
            return

        async def done(values: dict[str, str] | None) -> None:
            if values and values["number"]:
                self.console.notify(f"calling {values['number']} on {name}…")
                result = await self.act(
                    self.client.post(f"/lines/{name}/test-call", {"number": values["number"]})
                )
                if result:
                    evidence = "\n".join(result["evidence"])
                    self.app.push_screen(
                        Message(
                            f"Test call on {name}",
                            f"outcome: {result['outcome']} ({result['code']})\n{evidence}",
                        )
                    )

        self.app.push_screen(Form(f"Test call on {name}", [("number", "Number to call", "")]), done)

    def action_pin(self) -> None:
        name = self._line()
        if name is None:
            return

        async def done(values: dict[str, str] | None) -> None:
            if values is None:
                return
            campaigns = [c.strip() for c in values["campaigns"].split(",") if c.strip()]
            if await self.act(self.client.patch("/setup", {"pin_lines": {name: campaigns}}),
                              f"line {name} serves {', '.join(campaigns) or 'any campaign'}"):  # fmt: skip
                await self.reload()

        self.app.push_screen(
            Form(
                f"Pin {name} to campaigns",
                [("campaigns", "Campaigns, comma separated (empty: any)", "")],
            ),
            done,
        )

    def action_test_sms(self) -> None:
        name = self._line()
        if name is None:
            return

        async def done(values: dict[str, str] | None) -> None:
            if values and values["number"]:
                result = await self.act(
                    self.client.post(
                        f"/lines/{name}/test-sms",
                        {"number": values["number"], "text": values["text"] or "dialbox test"},
                    )
                )
                if result:
                    self.app.push_screen(
                        Message(
                            f"Test SMS from {name}",
                            f"{result['status']}: {result['parts']} part(s), references {result['references']}",
                        )
                    )

        self.app.push_screen(
            Form(
                f"Test SMS from {name}",
                [("number", "Number", ""), ("text", "Text", "dialbox test")],
            ),
            done,
        )
