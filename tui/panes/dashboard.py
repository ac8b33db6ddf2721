"""The dashboard pane: calls in progress, dials per minute, lines up, each campaign's abandon rate
against its cap, the last hour's outcomes."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widgets import DataTable, Label, Sparkline, Static

from tui.base import Pane, css_beside, fill, pct


class Dashboard(Pane):
    DEFAULT_CSS = css_beside(__file__)

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
