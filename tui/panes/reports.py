"""The reports pane (SPEC O7): per campaign (or all of them), per line or per agent, over today,
yesterday, the last 7 or 30 days or a period typed in, by hour, by day or in total — picked from
the row of selects at the top (or k, c, p, b) — as a chart with axes (textual-plotext) and a
table; x writes the report as CSV to a file and says where. Periods are the box's days and hours
(GET /reports/{kind}); what the box refuses (a period too long) is shown in place."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Select, Static
from textual_plotext import PlotextPlot

from tui.base import Pane, css_beside, fill
from tui.client import ApiError
from tui.panes import report_view as view
from tui.screens.form import Form

KINDS = (("campaigns", "Campaigns"), ("lines", "Lines"), ("agents", "Agents"))
ALL = "\x00all"  # the campaign picker's "all campaigns" (no campaign name can be this)
PRESETS = (("today", "today"), ("yesterday", "yesterday"), ("7 days", "last 7 days"),
           ("30 days", "last 30 days"), ("custom", "from … to …"))  # fmt: skip
DAYS_BACK = {"today": (0, 0), "yesterday": (1, 1), "7 days": (6, 0), "30 days": (29, 0)}
BY = (("hour", "by hour"), ("day", "by day"), ("total", "in total"))


class Reports(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "kind", "Kind"),
        Binding("c", "campaign", "Campaign"),
        Binding("p", "period", "Period"),
        Binding("b", "by", "By"),
        Binding("x", "export", "CSV"),
        Binding("f", "custom", "From … to …", show=False),
        Binding("m", "figure", "Next figure", show=False),
    ]
    DEFAULT_CSS = css_beside(__file__)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = "campaigns"
        self.campaign: str | None = None  # None: all campaigns
        self.preset = "today"
        self.by = "hour"
        self.start: str | None = None  # the period typed in (preset custom)
        self.end: str | None = None
        self.today: str | None = None  # the box's date, as its last report of today said
        self.figure = 0
        self.campaigns: list[str] = []
        self.doc: dict[str, Any] | None = None
        self.refused: str | None = None
        self._drawn_width = -1  # the chart's width when it was last drawn

    def compose(self) -> ComposeResult:
        with Horizontal(id="report-pickers"):
            yield Select([(label, k) for k, label in KINDS], value=self.kind, allow_blank=False,
                         compact=True, id="report-kind")  # fmt: skip
            yield Select([("all campaigns", ALL)], value=ALL, allow_blank=False, compact=True,
                         id="report-campaign")  # fmt: skip
            yield Select([(label, k) for k, label in PRESETS], value=self.preset,
                         allow_blank=False, compact=True, id="report-period")  # fmt: skip
            yield Select([(label, k) for k, label in BY], value=self.by, allow_blank=False,
                         compact=True, id="report-by")  # fmt: skip
        yield Static("", id="report-head")
        yield _Chart(self.chart_resized, id="report-chart")
        yield DataTable(id="report-table", cursor_type="row", zebra_stripes=True)

    # ------------------------------------------------------------------ loading
    def chart_resized(self) -> None:
        """The chart's ticks are spaced for its width: drawn again when the width changes (a
        report that came before the layout was settled was drawn for 10 columns)."""
        if self.doc is not None and self.query_one(PlotextPlot).size.width != self._drawn_width:
            self._draw()

    def _draw(self) -> None:
        plot = self.query_one(PlotextPlot)
        if self.doc is not None:
            self._drawn_width = plot.size.width
            view.draw(plot, self.doc, self.figure)

    def _range(self) -> tuple[str | None, str | None]:
        """The period asked for: dates in the box's time zone (a date as `to` is its whole day)."""
        if self.preset == "custom":
            return self.start, self.end
        if self.preset == "today" or self.today is None:
            return None, None  # the box's today
        back, upto = DAYS_BACK[self.preset]
        today = dt.date.fromisoformat(self.today)
        return (
            (today - dt.timedelta(days=back)).isoformat(),
            (today - dt.timedelta(days=upto)).isoformat(),
        )

    async def reload(self) -> None:
        names = [str(c["name"]) for c in await self.client.get("/campaigns")]
        if names != self.campaigns:
            self.campaigns = names
            if self.campaign not in names:
                self.campaign = None
            picker = self.query_one("#report-campaign", Select)
            with self.prevent(Select.Changed):
                picker.set_options([("all campaigns", ALL), *((n, n) for n in names)])
                picker.value = self.campaign or ALL
        if self.preset not in ("today", "custom") and self.today is None:
            self.today = (await self.client.report(self.kind, by="total"))["from"][:10]
        start, end = self._range()
        try:
            doc = await self.client.report(
                self.kind, start=start, end=end, by=self.by, campaign=self.campaign
            )
        except ApiError as exc:
            if exc.status not in (404, 422):
                raise
            self._refuse(exc.detail)
            return
        if self.preset == "today":
            self.today = str(doc["from"])[:10]
        self.doc, self.refused = doc, None
        self._show(doc)

    def _refuse(self, detail: str) -> None:
        """The box refused the period or campaign: say why where the report would be."""
        if detail != self.refused:
            self.console.notify(detail, severity="error", timeout=8)
        self.refused, self.doc = detail, None
        self.query_one("#report-head", Static).update(f"[red]refused: {detail}[/red]")
        fill(self.query_one(DataTable), [])
        self.query_one(PlotextPlot).plt.clear_figure()
        self.query_one(PlotextPlot).refresh()

    def _show(self, doc: dict[str, Any]) -> None:
        kind = doc["report"]
        named = None if self.preset == "custom" else dict(PRESETS)[self.preset]
        self.query_one("#report-head", Static).update(view.summary(doc, named))
        table = self.query_one(DataTable)
        headings = ["period", view.KEY[kind], *(h for h, _ in view.COLUMNS[kind])]
        rows = view.rows(doc)
        # Widths from all the rows at once: DataTable's own grow as rows come and are drawn
        # in between, so the same report could show a cell cut or not.
        widths = [max(len(str(v)) for v in column) for column in zip(headings, *rows, strict=True)]
        shape = [(str(c.label), c.width) for c in table.columns.values()]
        if shape != list(zip(headings, widths, strict=True)):
            table.clear(columns=True)
            for heading, width in zip(headings, widths, strict=True):
                table.add_column(heading, width=width)
        fill(table, rows)
        self._draw()

    async def _changed(self) -> None:
        await self.console.refresh_pane(self)

    # ------------------------------------------------------------------ picking
    async def on_select_changed(self, event: Select.Changed) -> None:
        value = event.value
        if not isinstance(value, str):
            return
        picker = event.select.id
        if picker == "report-kind" and value != self.kind:
            self.kind, self.figure = value, 0
        elif picker == "report-campaign" and (value if value != ALL else None) != self.campaign:
            self.campaign = None if value == ALL else value
        elif picker == "report-period" and value != self.preset:
            if value == "custom":
                self.action_custom()
                return
            self._preset(value)
        elif picker == "report-by" and value != self.by:
            self.by = value
        else:
            return
        await self._changed()

    def _preset(self, preset: str) -> None:
        self.preset = preset
        self.by = "hour" if preset in ("today", "yesterday") else "day"
        self._pick("#report-by", self.by)
        self._pick("#report-period", preset)

    def _pick(self, selector: str, value: str) -> None:
        with self.prevent(Select.Changed):
            self.query_one(selector, Select).value = value

    @staticmethod
    def _next(options: list[str], current: str) -> str:
        return (
            options[(options.index(current) + 1) % len(options)]
            if current in options
            else options[0]
        )

    async def action_kind(self) -> None:
        self.kind, self.figure = self._next([k for k, _ in KINDS], self.kind), 0
        self._pick("#report-kind", self.kind)
        await self._changed()

    async def action_campaign(self) -> None:
        chosen = self._next([ALL, *self.campaigns], self.campaign or ALL)
        self.campaign = None if chosen == ALL else chosen
        self._pick("#report-campaign", chosen)
        await self._changed()

    async def action_period(self) -> None:
        self._preset(self._next([k for k in DAYS_BACK], self.preset))
        await self._changed()

    async def action_by(self) -> None:
        self.by = self._next([k for k, _ in BY], self.by)
        self._pick("#report-by", self.by)
        await self._changed()

    async def action_figure(self) -> None:
        self.figure += 1
        if self.doc is not None:
            self._draw()

    def action_custom(self) -> None:
        first, last = view.span(self.doc) if self.doc else (self.today or "", self.today or "")

        async def done(v: dict[str, str] | None) -> None:
            if not v or not v["start"]:
                self._pick("#report-period", self.preset)  # cancelled: the period stays
                return
            self.preset, self.start, self.end = "custom", v["start"], v["end"] or None
            self._pick("#report-period", "custom")
            await self._changed()

        self.app.push_screen(
            Form("Report period (the box's dates and times, ISO 8601)",
                 [("start", "From (e.g. 2026-03-08 or 2026-03-08T09:00)", first),
                  ("end", "To (a date: to the end of that day)", last)]),
            done,
        )  # fmt: skip

    # ------------------------------------------------------------------ export
    def action_export(self) -> None:
        doc = self.doc
        if doc is None:
            self.console.notify("no report to export", severity="warning")
            return
        kind, by, (first, _) = doc["report"], doc["by"], view.span(doc)
        start, end = self._range()

        async def done(v: dict[str, str] | None) -> None:
            if not v or not v["path"]:
                return
            asked = self.client.report(
                kind, start=start, end=end, by=by, campaign=self.campaign, csv=True
            )
            text = await self.act(asked)
            if not isinstance(text, str):
                return
            path = Path(v["path"]).expanduser().resolve()
            try:
                path.write_text(text, encoding="utf-8", newline="")
            except OSError as exc:
                self.console.notify(f"cannot write {path}: {exc.strerror}", severity="error")
                return
            count = max(0, len(text.splitlines()) - 1)
            self.console.notify(f"{count} rows of the {kind} report written to {path}", timeout=8)

        default = f"dialbox-{kind}-{first}-{by}.csv"
        self.app.push_screen(Form("Export the report as CSV", [("path", "File", default)]), done)


class _Chart(PlotextPlot):
    """The report's chart, which tells its pane when its size changes."""

    def __init__(self, resized: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._resized = resized

    def on_resize(self) -> None:
        self._resized()
