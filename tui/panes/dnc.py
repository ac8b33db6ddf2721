"""The DNC pane: the do-not-call lists, searched by number prefix; add, remove, import a file."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Label

from tui.base import Pane, clock, css_beside, fill, selected_key
from tui.screens.form import Field, Form
from tui.screens.message import Message


class Dnc(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add"),
        Binding("d", "remove", "Remove"),
        Binding("i", "import_file", "Import", tooltip="Import numbers from a file"),
        Binding("slash", "search", "Search"),
    ]
    DEFAULT_CSS = css_beside(__file__)

    def action_search(self) -> None:
        self.query_one(Input).focus()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefix = ""

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="/ search: number prefix, e.g. +1212 (Enter)", id="dnc-search", compact=True
        )
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
        fill(self.query_one(DataTable), [(e["e164"], e["list"], e.get("reason") or "", clock(e.get("expires_at")) or "never")
                                         for e in entries], [f"{e['e164']}|{e['list']}" for e in entries])  # fmt: skip

    @staticmethod
    def _lists(names: list[str]) -> list[tuple[str, str]]:
        return [("the global list", ""), *((f"campaign {n}", n) for n in names)]

    async def action_add(self) -> None:
        names = await self.campaign_names()
        if names is None:
            return

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

        self.app.push_screen(Form("Add to DNC", [
            Field("number", "Number(s)", hint="comma separated, e.g. +12125550100"),
            Field("campaign", "List", "", self._lists(names)),
            Field("reason", "Reason", hint="e.g. asked on the phone"),
        ]), done)  # fmt: skip

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

    async def action_import_file(self) -> None:
        names = await self.campaign_names()
        if names is None:
            return

        async def done(v: dict[str, str] | None) -> None:
            data = self.read_local(v["path"]) if v else None
            if data is None or v is None:
                return
            query = f"?campaign={quote(v['campaign'])}" if v["campaign"] else ""
            result = await self.act(self.client.upload(f"/dnc/import{query}", data))
            if result:
                rejected = "\n".join(
                    f"line {r['line']}: {r['reason']} ({r['text']!r})"
                    for r in result["rejected"][:200]
                )
                self.app.push_screen(Message("DNC import", f"{result['list']}: {result['added']} added, "
                                             f"{result['already_listed']} already listed, {len(result['rejected'])} rejected\n{rejected}"))  # fmt: skip
                await self.reload()

        self.app.push_screen(Form("Import DNC numbers", [
            Field("path", "File on this box", hint="one number a line, e.g. ~/dnc.txt"),
            Field("campaign", "List", "", self._lists(names)),
        ]), done)  # fmt: skip
