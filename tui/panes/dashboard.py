"""The dashboard pane: calls in progress, calls dialed per minute, lines up, each campaign's abandon
rate against its cap, the last hour's outcomes — calls and SMS counted apart."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widgets import DataTable, Label, Sparkline, Static

from tui.base import Pane, css_beside, fill, pct

# An SMS attempt ends Connected when the network took it, ErrorOccurred when it did not.
SMS_WORDS = {"Connected": "sent", "ErrorOccurred": "failed"}


def counted(outcomes: dict[str, int], words: dict[str, str] | None = None) -> str:
    """Outcomes by count, most first: `Connected 228  NoAnswer 40`."""
    ranked = sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0]))
    return "  ".join(f"{(words or {}).get(k, k)} {v}" for k, v in ranked if v)


def last_hour(status: dict[str, Any]) -> str:
    """The last hour's ended attempts, calls apart from SMS (an SMS sent is no connected call)."""
    split = status.get("outcomes_last_hour_by_channel")
    if split is None:  # a daemon from before the split
        return f"last hour: {counted(status['outcomes_last_hour']) or 'nothing ended'}"
    calls = counted(split.get("voice", {})) or "none ended"
    text = f"calls, last hour: {calls}"
    if sms := counted(split.get("sms", {}), SMS_WORDS):
        text += f"\nSMS, last hour: {sms}"
    return text


class Dashboard(Pane):
    DEFAULT_CSS = css_beside(__file__)

    def compose(self) -> ComposeResult:
        yield Static("", id="summary")
        yield Label("calls dialed per minute, last 30 minutes")
        yield Sparkline([0], id="dials")
        table: DataTable[Any] = DataTable(id="dash-campaigns", cursor_type="row")
        table.add_columns("campaign", "status", "in call", "pending", "abandon 24h", "30d", "cap")
        yield table
        yield Static("", id="outcomes", markup=False)

    async def reload(self) -> None:
        status = await self.client.get("/status")
        lines = status["lines"]
        up = sum(1 for line in lines if line["state"] in ("up", "busy"))
        agents = ", ".join(f"{k} {v}" for k, v in status["agents"].items()) or "none logged in"
        self.query_one("#summary", Static).update(
            f"[b]{status['calls_in_flight']}[/b] calls in progress · "
            f"[b]{status['dials_last_minute']}[/b] dialed in the last 2 min · "
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
        self.query_one("#outcomes", Static).update(last_hour(status))
