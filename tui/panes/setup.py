"""The setup pane, for the first run: region, compliance profile and calling hours; the serial
ports, probed and named as lines; API tokens.

The calling hours shown are the ones that apply, with where they come from: a named profile's
(us, uk, fr) narrowed by the box's `calling_hours`, or the custom profile's own
(`compliance.calling_hours`); the `g` form edits both sources, each prefilled as configured."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Label, Static

from tui.base import Pane, css_beside, fill, selected_key
from tui.screens.form import Field, Form
from tui.screens.message import Message

PROFILES = ("us", "uk", "fr", "custom")


def hours_source(config: dict[str, Any]) -> str:
    """Where the calling hours `GET /setup` gives come from, in the words of the `g` form."""
    profile = config.get("compliance_profile")
    if profile == "custom":
        return "the custom profile's own hours"
    return f"the {profile} profile's, within the box hours {config.get('box_hours', '?')}"


class Setup(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "probe", "Probe", tooltip="Probe the port: model, SIM, signal"),
        Binding("n", "name", "Name line", tooltip="Name the port's line"),
        Binding("g", "general", "Region, hours", tooltip="Region, profile, calling hours"),
        Binding("t", "token", "API token", tooltip="Create an API token"),
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
            f"[b]{c['compliance_profile']}[/b]\n"
            f"calling hours [b]{c['calling_hours']}[/b]: {hours_source(c)}\n"
            f"holidays skipped by campaigns with skip_holidays: {c['holidays_country'] or 'none'}\n"
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
                f"Name the line on {device}",
                [Field("name", "Line name", hint="letters, digits, - _ .")],
            ),
            done,
        )

    def action_general(self) -> None:
        c = self.config
        box = str(c.get("box_hours", ""))
        custom = str(c.get("custom_calling_hours", ""))

        async def done(v: dict[str, str] | None) -> None:
            if not v:
                return
            body: dict[str, Any] = {
                k: v[k] for k in ("region", "timezone", "compliance_profile") if v[k]
            }
            body["holidays_country"] = v["holidays_country"] or None
            if v["box_hours"] != box:
                start, dash, end = v["box_hours"].partition("-")
                if not dash:
                    self.console.notify(f"box hours {v['box_hours']!r}: write HH:MM-HH:MM, e.g. "
                                        "08:00-21:00", severity="error")  # fmt: skip
                    return
                body["calling_hours"] = {"start": start.strip(), "end": end.strip()}
            if v["custom_hours"] != custom:
                body["custom_calling_hours"] = v["custom_hours"]
            if await self.act(self.client.patch("/setup", body), "config changed and reloaded"):
                await self.reload()

        self.app.push_screen(Form("Region, compliance profile, calling hours", [
            Field("region", "Region", c.get("region", ""), hint="ISO 3166, e.g. US, GB, PL"),
            Field("timezone", "Time zone of the box", c.get("timezone", ""),
                  hint="IANA, e.g. America/New_York"),
            Field("compliance_profile", "Compliance profile", c.get("compliance_profile", "us"),
                  [(p, p) for p in PROFILES]),
            Field("box_hours", "Box hours", box, hint="HH:MM-HH:MM, callee local"),
            Field("custom_hours", "Custom hours", custom, hint="e.g. mon-fri 09:00-20:00"),
            Field("holidays_country", "Holidays of", c.get("holidays_country") or "",
                  hint="country code (empty: none)"),
        ], note=f"Calling hours now: {c.get('calling_hours', '')}: {hours_source(c)}. The us, uk "
                "and fr profiles' hours are narrowed by the box hours; the custom profile has its "
                "own. Campaigns with skip_holidays skip the holidays of the country given."), done)  # fmt: skip

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

        self.app.push_screen(Form("Create an API token", [
            Field("name", "Name", "crm", hint="who uses it"),
            Field("scope", "Scope", "crm", [("crm: campaigns, contacts, DNC", "crm"),
                                            ("agent: the agent desk", "agent"),
                                            ("supervisor: agents, messages, listening in",
                                             "supervisor"),
                                            ("admin: everything", "admin")]),
        ]), done)  # fmt: skip
