"""The panes where the technician changes things: campaigns, DNC, reports, first-run setup."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Label, Sparkline, Static

from tui.base import Pane, fill, pct, selected_key
from tui.forms import Form, Message


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


class Dnc(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add"),
        Binding("d", "remove", "Remove"),
        Binding("i", "import_file", "Import"),
        Binding("slash", "search", "Search"),
    ]
    DEFAULT_CSS = "#dnc-search { height: 3; }"

    def action_search(self) -> None:
        self.query_one(Input).focus()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefix = ""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ search: number prefix, e.g. +1212 (Enter)", id="dnc-search")
        table: DataTable[Any] = DataTable(id="dnc-table", cursor_type="row")
        table.add_columns("number", "list", "reason", "expires")
        yield table
        yield Label("[dim]a add · d remove · i import a file · / search[/dim]")

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        self.prefix = "".join(ch for ch in event.value if ch.isdigit() or ch == "+")
        await self.reload()
        self.query_one(DataTable).focus()

    async def reload(self) -> None:
        entries = await self.client.get(f"/dnc?limit=200&prefix={quote(self.prefix)}")
        fill(self.query_one(DataTable), [(e["e164"], e["list"], e.get("reason") or "", e.get("expires_at") or "never")
                                         for e in entries], [f"{e['e164']}|{e['list']}" for e in entries])  # fmt: skip

    def action_add(self) -> None:
        async def done(v: dict[str, str] | None) -> None:
            if not v or not v["number"]:
                return
            body: dict[str, Any] = {
                "numbers": [n.strip() for n in v["number"].split(",") if n.strip()]
            }
            if v["campaign"]:
                body["campaign"] = v["campaign"]
            if v["reason"]:
                body["reason"] = v["reason"]
            result = await self.act(self.client.post("/dnc", body))
            if result:
                self.console.notify(
                    f"{result['list']}: {result['added']} added, {result['already_listed']} already listed"
                )
                await self.reload()

        self.app.push_screen(Form("Add to DNC", [("number", "Number(s), comma separated", ""),
                                                 ("campaign", "Campaign (empty: the global list)", ""),
                                                 ("reason", "Reason", "")]), done)  # fmt: skip

    async def action_remove(self) -> None:
        key = selected_key(self.query_one(DataTable))
        if key is None:
            return
        number, _, listed = key.partition("|")
        query = (
            "?block=true"
            if listed == "block"
            else (f"?campaign={quote(listed[9:])}" if listed.startswith("campaign:") else "")
        )
        if await self.act(
            self.client.delete(f"/dnc/numbers/{quote(number)}{query}"),
            f"{number} removed from {listed}",
        ):
            await self.reload()

    def action_import_file(self) -> None:
        async def done(v: dict[str, str] | None) -> None:
            data = self.read_local(v["path"]) if v else None
            if data is None or v is None:
                return
            query = f"?campaign={quote(v['campaign'])}" if v["campaign"] else ""
            result = await self.act(self.client.upload(f"/dnc/import{query}", data))
            if result:
                rejected = "\n".join(
                    f"line {r['line']}: {r['reason']} ({r['text']!r})"
                    for r in result["rejected"][:30]
                )
                self.app.push_screen(Message("DNC import", f"{result['list']}: {result['added']} added, "
                                             f"{result['already_listed']} already listed, {len(result['rejected'])} rejected\n{rejected}"))  # fmt: skip
                await self.reload()

        self.app.push_screen(Form("Import DNC numbers", [("path", "File, one number per line", ""),
                                                         ("campaign", "Campaign (empty: global)", "")]), done)  # fmt: skip


class Reports(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "campaign", "Campaign"),
        Binding("h", "by", "Hour/day"),
        Binding("x", "export", "Export CSV"),
    ]
    DEFAULT_CSS = "#report-head { height: 2; } #report-chart { height: 3; margin: 0 1; }"

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


class Setup(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "probe", "Probe port"),
        Binding("n", "name", "Name line"),
        Binding("g", "general", "Region/hours"),
        Binding("t", "token", "New API token"),
    ]
    DEFAULT_CSS = "#setup-config { height: auto; }"

    def compose(self) -> ComposeResult:
        yield Static("", id="setup-config")
        table: DataTable[Any] = DataTable(id="ports-table", cursor_type="row")
        table.add_columns("port", "line", "here", "model", "SIM", "signal", "reg.")
        yield table
        yield Label("[dim]p probe · n name the line · g region, profile, hours · t API token[/dim]")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.probed: dict[str, dict[str, Any]] = {}
        self.config: dict[str, Any] = {}

    async def reload(self) -> None:
        setup = await self.client.get("/setup")
        c = self.config = setup["config"]
        tokens = [t for t in setup["tokens"] if t["active"]]
        self.query_one("#setup-config", Static).update(
            f"region [b]{c['region']}[/b] · time zone {c['timezone']} · compliance profile "
            f"[b]{c['compliance_profile']}[/b] · calling hours {c['calling_hours']}"
            f" · holidays {c['holidays_country'] or 'none'}\n"
            f"{len(c['lines'])} lines configured · {len(tokens)} active API tokens"
            f"{'' if tokens else ' — press t to create the first one'}\n"
            "[dim]g changes region, profile and hours; n names the selected port's line"
            " (lines take effect after a restart). Test calls: the Lines pane.[/dim]"
        )
        rows = []
        for port in setup["ports"]:
            p = self.probed.get(port["device"], {})
            rows.append(("…" + port["device"][-19:] if len(port["device"]) > 20 else port["device"], port["configured_as"] or "—", "yes" if port["present"] else "no",
                         p.get("model") or "", p.get("sim") or "",
                         "" if p.get("signal_dbm") is None else f"{p['signal_dbm']} dBm",
                         "" if not p else ("yes" if p.get("registered") else "no")))  # fmt: skip
        fill(self.query_one(DataTable), rows, [p["device"] for p in setup["ports"]])

    async def action_probe(self) -> None:
        device = selected_key(self.query_one(DataTable))
        if device is None:
            return
        result = await self.act(self.client.post("/setup/probe", {"device": device}))
        if result:
            self.probed[device] = result
            await self.reload()

    def action_name(self) -> None:
        device = selected_key(self.query_one(DataTable))
        if device is None:
            return

        async def done(v: dict[str, str] | None) -> None:
            if not v or not v["name"]:
                return
            result = await self.act(
                self.client.patch("/setup", {"name_lines": {device: v["name"]}})
            )
            if result:
                note = " — restart the daemon to use it" if result["restart_needed"] else ""
                self.console.notify(f"{device} is line {v['name']}{note}", timeout=8)
                await self.reload()

        self.app.push_screen(
            Form(
                f"Name the line on {device}", [("name", "Line name (letters, digits, - _ .)", "")]
            ),
            done,
        )

    def action_general(self) -> None:
        c = self.config
        start, _, end = str(c.get("box_hours", "08:00-21:00")).partition("-")

        async def done(v: dict[str, str] | None) -> None:
            if not v:
                return
            body: dict[str, Any] = {
                k: v[k] for k in ("region", "timezone", "compliance_profile") if v[k]
            }
            body["holidays_country"] = v["holidays_country"] or None
            if v["start"] and v["end"]:
                body["calling_hours"] = {"start": v["start"], "end": v["end"]}
            if await self.act(self.client.patch("/setup", body), "config changed and reloaded"):
                await self.reload()

        self.app.push_screen(Form("Region, compliance profile, calling hours", [
            ("region", "Region (ISO 3166, e.g. US, GB, PL)", c.get("region", "")),
            ("timezone", "Time zone of the box (IANA, e.g. America/New_York)", c.get("timezone", "")),
            ("compliance_profile", "Compliance profile: us, uk, fr or custom", c.get("compliance_profile", "")),
            ("start", "Calling hours from (callee local, HH:MM)", start),
            ("end", "Calling hours until (HH:MM)", end),
            ("holidays_country", "No calls on holidays of (country code; empty: none)", c.get("holidays_country") or ""),
        ]), done)  # fmt: skip

    def action_token(self) -> None:
        async def done(v: dict[str, str] | None) -> None:
            if not v or not v["name"]:
                return
            made = await self.act(
                self.client.post("/tokens", {"name": v["name"], "scope": v["scope"] or "crm"})
            )
            if made:
                self.app.push_screen(Message("New API token — shown only now",
                                             f"{made['token']}\n\nscope {made['scope']}; use it as "
                                             "'Authorization: Bearer <token>'."))  # fmt: skip
                await self.reload()

        self.app.push_screen(Form("Create an API token", [("name", "Name (who uses it)", "crm"),
                                                          ("scope", "Scope: admin, crm or agent", "crm")]), done)  # fmt: skip
