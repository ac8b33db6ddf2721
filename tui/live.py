"""The panes that watch the box: the live dashboard, the lines, the daemon's log."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Label, RichLog, Sparkline, Static

from tui.base import Pane, fill, pct, selected_key
from tui.forms import Form, Message


class Dashboard(Pane):
    DEFAULT_CSS = """
    #summary { height: 3; }
    #dials { height: 3; margin: 0 1; }
    #dash-campaigns { height: 1fr; }
    #outcomes { height: auto; max-height: 4; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="summary")
        yield Label("dials per minute, last 30 minutes")
        yield Sparkline([0], id="dials")
        table: DataTable[Any] = DataTable(id="dash-campaigns", cursor_type="row")
        table.add_columns("campaign", "status", "in call", "pending", "abandon 24h", "30d", "cap")
        yield table
        yield Static("", id="outcomes")

    async def reload(self) -> None:
        status = await self.client.get("/status")
        lines = status["lines"]
        up = sum(1 for line in lines if line["state"] in ("up", "busy"))
        agents = ", ".join(f"{k} {v}" for k, v in status["agents"].items()) or "none logged in"
        self.query_one("#summary", Static).update(
            f"[b]{status['calls_in_flight']}[/b] calls in progress   "
            f"[b]{status['dials_last_minute']}[/b] dials in the last 2 min   "
            f"lines up [b]{up}/{len(lines)}[/b]\nagents: {agents}"
        )
        self.query_one("#dials", Sparkline).data = status["dials_per_minute"]
        rows = []
        for c in status["campaigns"]:
            cap = c["abandon_cap"]
            over = cap is not None and c["abandon"]["24h"] * 100 >= cap
            rows.append((c["name"], c["status"], c["calls_in_flight"], c["by_state"].get("Pending", 0),
                         ("⚠ " if over else "") + pct(c["abandon"]["24h"]), pct(c["abandon"]["30d"]),
                         "none" if cap is None else f"{cap:g}%"))  # fmt: skip
        fill(self.query_one("#dash-campaigns", DataTable), rows)
        outcomes = status["outcomes_last_hour"]
        text = "  ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1]))
        self.query_one("#outcomes", Static).update(f"last hour: {text or 'no calls'}")


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


class Logs(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("slash", "search", "Filter")]
    DEFAULT_CSS = (
        "#log-filter { width: 1fr; } #logs { height: 1fr; } Logs Horizontal { height: 3; }"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after = 0
        self.grep = ""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Input(
                placeholder="filter: words in the message or the logger (Enter)", id="log-filter"
            )
        yield RichLog(id="logs", wrap=False, markup=False)

    def action_search(self) -> None:
        self.query_one(Input).focus()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        self.grep = event.value.strip()
        self.after = 0
        self.query_one(RichLog).clear()
        await self.reload()
        self.query_one(RichLog).focus()

    async def reload(self) -> None:
        query = f"/logs?after={self.after}&level=INFO&limit=500"
        if self.grep:
            from urllib.parse import quote

            query += f"&grep={quote(self.grep)}"
        lines = await self.client.get(query)
        log = self.query_one(RichLog)
        for line in lines:
            log.write(f"{line['level'][:4]} {line['logger'].rsplit('.', 1)[-1]}: {line['message']}")
        if lines:
            self.after = lines[-1]["seq"]
