"""The setup pane, for the first run: region, compliance profile and calling hours; the serial
ports, probed and named as lines; API tokens."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Label, Static

from tui.base import Pane, css_beside, fill, selected_key
from tui.screens.form import Form
from tui.screens.message import Message


class Setup(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "probe", "Probe port"),
        Binding("n", "name", "Name line"),
        Binding("g", "general", "Region/hours"),
        Binding("t", "token", "New API token"),
    ]
    DEFAULT_CSS = css_beside(__file__)

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
