"""The reports pane: one campaign's attempts, contact and abandon rates by day or hour, as a chart and
a table, and their export as CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Label, Sparkline, Static

from tui.base import Pane, css_beside, fill, pct
from tui.screens.form import Form


class Reports(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "campaign", "Campaign"),
        Binding("h", "by", "Hour/day"),
        Binding("x", "export", "Export CSV"),
    ]
    DEFAULT_CSS = css_beside(__file__)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.campaign: str | None = None
        self.by = "day"
        self.rows: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="report-head")
        yield Sparkline([0], id="report-chart")
        table: DataTable[Any] = DataTable(id="report-table", cursor_type="row")
        table.add_columns("period", "attempts", "contact", "abandon", "talk min", "sms")
        yield table
        yield Label("[dim]c campaign · h hour/day · x export CSV[/dim]")

    async def reload(self) -> None:
        if self.campaign is None:
            campaigns = await self.client.get("/campaigns")
            if not campaigns:
                self.query_one("#report-head", Static).update("no campaigns yet")
                return
            self.campaign = campaigns[0]["name"]
        report = await self.client.get(
            f"/campaigns/{quote(self.campaign)}/report?by={self.by}&days=7"
        )
        self.rows = report["rows"]
        a = report["abandon"]
        self.query_one("#report-head", Static).update(
            f"[b]{report['campaign']}[/b] by {self.by} ({report['timezone']}) · abandon 24h {pct(a['24h']['rate'])}"
            f" 30d {pct(a['30d']['rate'])} · contacts {sum(report['contacts_by_state'].values())}"
        )
        self.query_one("#report-chart", Sparkline).data = [r["attempts"] for r in self.rows] or [0]
        fill(self.query_one(DataTable), [
            (r["period"][: 16 if self.by == "hour" else 10].replace("T", " "), r["attempts"], pct(r["contact_rate"]),
             pct(r["abandon_rate"]), f"{r['talk_seconds'] / 60:.1f}", r["sms"]) for r in self.rows])  # fmt: skip

    def action_campaign(self) -> None:
        async def done(v: dict[str, str] | None) -> None:
            if v and v["name"]:
                self.campaign = v["name"]
                await self.console.refresh_pane(self)

        self.app.push_screen(
            Form("Report for campaign", [("name", "Campaign", self.campaign or "")]), done
        )

    async def action_by(self) -> None:
        self.by = "hour" if self.by == "day" else "day"
        await self.console.refresh_pane(self)

    def action_export(self) -> None:
        async def done(v: dict[str, str] | None) -> None:
            if not v or not v["path"] or not self.rows:
                return
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=list(self.rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows)
            path = Path(v["path"]).expanduser()
            try:
                path.write_text(out.getvalue())
            except OSError as exc:
                self.console.notify(f"cannot write {path}: {exc.strerror}", severity="error")
                return
            self.console.notify(f"{len(self.rows)} rows written to {path}")

        default = f"{self.campaign or 'report'}-{self.by}.csv"
        self.app.push_screen(Form("Export the report as CSV", [("path", "File", default)]), done)
