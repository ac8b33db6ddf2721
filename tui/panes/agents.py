"""The agents pane: every agent live — state, seat, the call and how long (SPEC A1, A6) — and what a
supervisor does for them: ready, pause, end a call, log out."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Label

from tui.base import Pane, fill, selected_key
from tui.client import instant


def _call(agent: dict[str, Any], now: float) -> str:
    call = agent.get("call")
    if not call or agent["state"] not in ("talking", "reserved", "wrap_up"):
        preview = agent.get("preview")
        return f"preview {preview['contact']['phone1']}" if preview else ""
    since = instant(call.get("connected_at") or call.get("started_at"))
    took = f" {now - since:.0f}s" if since and agent["state"] == "talking" else ""
    return f"{call['number']}{took}"


class Agents(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "ready", "Ready"),
        Binding("p", "pause", "Pause"),
        Binding("h", "hang_up", "End call"),
        Binding("o", "log_out", "Log out"),
    ]

    def compose(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="agents-table", cursor_type="row")
        table.add_columns("agent", "state", "seat", "campaigns", "call", "why")
        yield table
        yield Label("[dim]y ready · p pause · h end the call · o log out[/dim]")

    async def reload(self) -> None:
        agents = await self.client.get("/agents")
        now = time.time()
        rows = [
            (a["name"], a["state"],
             "" if a["seat"] is None else a["seat"] + ("" if a["seat_up"] else " (down)"),
             ",".join(a["campaigns"]), _call(a, now), (a["reason"] or "")[:24])
            for a in agents
        ]  # fmt: skip
        fill(self.query_one(DataTable), rows, [a["name"] for a in agents])

    async def _do(self, action: str, done: str, body: Any = None) -> None:
        name = selected_key(self.query_one(DataTable))
        if name is None:
            return
        if await self.act(self.client.post(f"/agents/{name}/{action}", body), f"{name}: {done}"):
            await self.reload()

    async def action_ready(self) -> None:
        await self._do("ready", "ready")

    async def action_pause(self) -> None:
        await self._do("pause", "paused", {"reason": "by the supervisor"})

    async def action_hang_up(self) -> None:
        await self._do("hangup", "call ended")

    async def action_log_out(self) -> None:
        await self._do("logout", "logged out")
