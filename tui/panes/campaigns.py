"""The campaigns pane: every campaign with its counts, and what the technician does to one —
create, edit a setting, start, stop, pause, resume, import contacts, ask why it dials no more.
An inbound campaign (SPEC C14) is made and edited with its own form (inbound_form.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Label

from tui.base import Pane, css_beside, fill, selected_key
from tui.panes import inbound_form
from tui.screens.form import Field, Form
from tui.screens.message import Message

TYPES = ("agent", "automated", "sms", "inbound")
PACINGS = ("preview", "timed_preview", "progressive", "predictive", "manual")
# What the edit form shows as examples; each is a change the API takes (tests/tui post them).
EDIT_EXAMPLES = ("ratio=1.5", "windows=mon-fri 09:00-17:00", 'filter=bp3 == "gold" and bp5 > 100')


def import_summary(report: dict[str, Any]) -> str:
    return (f"{report['imported']} imported ({report['dnc']} DNC listed), {report['rejected']} rejected, "
            f"{report['duplicates']} duplicates, of {report['rows']} rows")  # fmt: skip


def import_report(report: dict[str, Any], limit: int = 200) -> RenderableType:
    """The import's counts and its rejects as a table whose cells wrap rather than cut: a field
    is a file's own header name as often as Phone1."""
    parts: list[RenderableType] = [Text(import_summary(report))]
    if report["rejects"]:
        table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
        table.add_column("line", justify="right", no_wrap=True)
        table.add_column("field", overflow="fold", max_width=24)
        table.add_column("reason", overflow="fold", ratio=3)
        table.add_column("value", overflow="fold", ratio=1)
        for r in report["rejects"][:limit]:
            table.add_row(str(r["line"]), r["field"] or "(row)", r["reason"], repr(r["value"]))
        parts += [Text(""), table]
        more = len(report["rejects"]) - limit + report.get("rejects_omitted", 0)
        if more > 0:
            where = report.get("rejects_url") or "the reject report"
            parts.append(Text(f"… and {more} more: all of them in {where}"))
    return Group(*parts)


class Campaigns(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New"),
        Binding("e", "edit", "Edit"),
        Binding("s", "start", "Start"),
        Binding("x", "stop", "Stop"),
        Binding("p", "pause", "Pause", show=False),
        Binding("u", "resume", "Resume", show=False),
        Binding("i", "import_file", "Import", tooltip="Import contacts from a file"),
        Binding("w", "why", "Why", tooltip="Why it is not dialing more"),
    ]
    DEFAULT_CSS = css_beside(__file__)

    def compose(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="campaigns-table", cursor_type="row")
        table.add_columns("campaign", "type", "status", "pacing", "contacts", "pending", "done")
        yield table
        yield Label(
            "[dim]n new · e edit · s start · x stop · p pause · u resume · i import · w why[/dim]"
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.types: dict[str, str] = {}  # campaign -> its type, as last loaded

    async def reload(self) -> None:
        campaigns = await self.client.get("/campaigns")
        self.types = {c["name"]: c["type"] for c in campaigns}
        rows = []
        for c in campaigns:
            by = c["contacts"]["by_state"]
            pending = by.get("Pending", 0) + by.get("Sent to Dialer", 0)
            pacing = "—" if c["type"] == "inbound" else c["settings"]["pacing"]  # it answers
            rows.append((c["name"], c["type"], c["status"], pacing, c["contacts"]["total"],
                         pending, c["contacts"]["total"] - pending))  # fmt: skip
        fill(self.query_one(DataTable), rows, [c["name"] for c in campaigns])

    def _selected(self) -> str | None:
        return selected_key(self.query_one(DataTable))

    def action_new(self) -> None:
        async def done(v: dict[str, str] | None) -> None:
            if not v or not v["name"]:
                return
            if v["type"] == "inbound":
                await self._new_inbound(v)
                return
            settings: dict[str, Any] = {"pacing": v["pacing"] or "progressive"}
            if v["ratio"]:
                settings["ratio"] = (
                    float(v["ratio"]) if v["ratio"].replace(".", "", 1).isdigit() else v["ratio"]
                )
            if v["windows"]:
                settings["windows"] = v["windows"]
            body: dict[str, Any] = {
                "name": v["name"],
                "type": v["type"] or "agent",
                "settings": settings,
            }
            if v["region"]:
                body["region"] = v["region"]
            if await self.act(
                self.client.post("/campaigns", body), f"campaign {v['name']} created"
            ):
                await self.reload()

        self.app.push_screen(Form("New campaign", [
            Field("name", "Name", hint="letters, digits, - _ ."),
            Field("type", "Type", "automated", [(t, t) for t in TYPES]),
            Field("region", "Region", hint="ISO code, e.g. US (empty: the box's)"),
            Field("pacing", "Pacing", "progressive", [(p, p) for p in PACINGS]),
            Field("ratio", "Ratio", "1", hint="lines per agent, or the over-dial"),
            Field("windows", "Windows", hint="mon-fri 09:00-17:00 (empty: any time)"),
        ]), done)  # fmt: skip

    async def _new_inbound(self, v: dict[str, str]) -> None:
        """An inbound campaign: made with its name, region and hours, then its own form."""
        body: dict[str, Any] = {"name": v["name"], "type": "inbound", "settings": {}}
        if v["windows"]:
            body["settings"]["windows"] = v["windows"]
        if v["region"]:
            body["region"] = v["region"]
        if await self.act(self.client.post("/campaigns", body), f"campaign {v['name']} created"):
            await self.reload()
            await inbound_form.edit(self.console, v["name"], True, self.reload)

    async def action_edit(self) -> None:
        name = self._selected()
        if name is None:
            return
        if self.types.get(name) == "inbound":
            await inbound_form.edit(self.console, name, False, self.reload)
            return

        async def done(v: dict[str, str] | None) -> None:
            if not v or not v["setting"]:
                return
            key, _, value = v["setting"].partition("=")
            key, value = key.strip(), value.strip()
            body: dict[str, Any]
            if key in ("type", "region", "filter"):
                body = {key: value or None}
            else:
                import yaml

                body = {"settings": {key: yaml.safe_load(value) if value else None}}
            if await self.act(
                self.client.patch(f"/campaigns/{quote(name)}", body), f"{name}: {key} set"
            ):
                await self.reload()

        examples = "\n".join(f"  {e}" for e in EDIT_EXAMPLES)
        self.app.push_screen(
            Form(
                f"Edit {name}",
                [Field("setting", "Setting", hint="KEY=VALUE")],
                note="Any setting, or type, region, filter, as KEY=VALUE; KEY= clears it. "
                f"For example:\n{examples}\n(filters: docs/filters.md)",
            ),
            done,
        )

    async def _status(self, action: str) -> None:
        name = self._selected()
        if name is not None and await self.act(
            self.client.post(f"/campaigns/{quote(name)}/{action}"), f"{name}: {action}"
        ):
            await self.reload()

    async def action_start(self) -> None:
        await self._status("start")

    async def action_stop(self) -> None:
        await self._status("stop")

    async def action_pause(self) -> None:
        await self._status("pause")

    async def action_resume(self) -> None:
        await self._status("resume")

    def action_import_file(self) -> None:
        name = self._selected()
        if name is None:
            return

        async def done(v: dict[str, str] | None) -> None:
            data = self.read_local(v["path"]) if v else None
            if data is None or v is None:
                return
            path = Path(v["path"]).expanduser()
            report = await self.act(
                self.client.upload(f"/campaigns/{quote(name)}/contacts/upload", data)
            )
            if report:
                self.app.push_screen(
                    Message(f"Import of {path.name} into {name}", import_report(report))
                )
                await self.reload()

        self.app.push_screen(
            Form(
                f"Import contacts into {name}",
                [Field("path", "File on this box", hint="a CSV or TXT file, e.g. ~/list.csv")],
            ),
            done,
        )

    async def action_why(self) -> None:
        if (name := self._selected()) is not None:
            why = await self.act(self.client.get(f"/campaigns/{quote(name)}/why"))
            if why:
                doing = "answering calls" if self.types.get(name) == "inbound" else "dialing more"
                self.app.push_screen(Message(f"Why {name} is not {doing}", why["text"]))
