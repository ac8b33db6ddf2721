"""The campaigns pane: every campaign with its counts, and what the technician does to one —
create, edit a setting, start, stop, pause, resume, import contacts, ask why it dials no more."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Label

from tui.base import Pane, fill, selected_key
from tui.screens.form import Form
from tui.screens.message import Message


def import_text(report: dict[str, Any], limit: int = 40) -> str:
    lines = [f"{report['imported']} imported ({report['dnc']} DNC listed), {report['rejected']} rejected, "
             f"{report['duplicates']} duplicates, of {report['rows']} rows"]  # fmt: skip
    if report["rejects"]:
        lines.append("")
        lines.append("line  field      reason")
        for r in report["rejects"][:limit]:
            lines.append(
                f"{r['line']:<5} {(r['field'] or '(row)')[:10]:<10} {r['reason']}  {r['value']!r}"
            )
        more = len(report["rejects"]) - limit + report.get("rejects_omitted", 0)
        if more > 0:
            lines.append(f"… and {more} more")
    return "\n".join(lines)


class Campaigns(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New"),
        Binding("e", "edit", "Edit"),
        Binding("s", "start", "Start"),
        Binding("x", "stop", "Stop"),
        Binding("p", "pause", "Pause"),
        Binding("u", "resume", "Resume"),
        Binding("i", "import_file", "Import"),
        Binding("w", "why", "Why"),
    ]

    def compose(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="campaigns-table", cursor_type="row")
        table.add_columns("campaign", "type", "status", "pacing", "contacts", "pending", "done")
        yield table
        yield Label(
            "[dim]n new · e edit · s start · x stop · p pause · u resume · i import · w why[/dim]"
        )

    async def reload(self) -> None:
        campaigns = await self.client.get("/campaigns")
        rows = []
        for c in campaigns:
            by = c["contacts"]["by_state"]
            pending = by.get("Pending", 0) + by.get("Sent to Dialer", 0)
            rows.append((c["name"], c["type"], c["status"], c["settings"]["pacing"], c["contacts"]["total"],
                         pending, c["contacts"]["total"] - pending))  # fmt: skip
        fill(self.query_one(DataTable), rows, [c["name"] for c in campaigns])

    def _selected(self) -> str | None:
        return selected_key(self.query_one(DataTable))

    def action_new(self) -> None:
        async def done(v: dict[str, str] | None) -> None:
            if not v or not v["name"]:
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
            ("name", "Name", ""), ("type", "Type: agent, automated or sms", "automated"),
            ("region", "Region (ISO code; empty: the box's)", ""),
            ("pacing", "Pacing: preview, timed_preview, progressive, predictive, manual", "progressive"),
            ("ratio", "Ratio (lines per agent / over-dial)", "1"),
            ("windows", "Windows, e.g. mon-fri 09:00-17:00 (empty: any time)", ""),
        ]), done)  # fmt: skip

    def action_edit(self) -> None:
        name = self._selected()
        if name is None:
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

        self.app.push_screen(
            Form(
                f"Edit {name}",
                [
                    (
                        "setting",
                        "KEY=VALUE (e.g. ratio=1.5, windows=mon-fri 09:00-17:00, filter=bp3 = gold, strategy=…)",
                        "",
                    )
                ],
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
                    Message(f"Import of {path.name} into {name}", import_text(report))
                )
                await self.reload()

        self.app.push_screen(
            Form(f"Import contacts into {name}", [("path", "File (CSV/TXT) on this box", "")]), done
        )

    async def action_why(self) -> None:
        if (name := self._selected()) is not None:
            why = await self.act(self.client.get(f"/campaigns/{quote(name)}/why"))
            if why:
                self.app.push_screen(Message(f"Why {name} is not dialing more", why["text"]))
