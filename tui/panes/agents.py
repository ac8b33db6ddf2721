"""The agents pane: every agent live — state, seat, the call and how long (SPEC A1, A6) — and what a
supervisor does for them: ready, pause, end a call, log out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widgets import DataTable, Label, Static

from tui.base import Pane, css_beside, fill, seconds_since, selected_key, short


def _call(agent: dict[str, Any], now: datetime) -> str:
    call = agent.get("call")
    if not call or agent["state"] not in ("talking", "reserved", "wrap_up"):
        preview = agent.get("preview")
        return f"preview {preview['contact']['phone1']}" if preview else ""
    took = seconds_since(call.get("connected_at") or call.get("started_at"), now)
    shown = f" {took:.0f}s" if took is not None and agent["state"] == "talking" else ""
    return f"{call['number']}{shown}"


class Agents(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "ready", "Ready"),
        Binding("p", "pause", "Pause"),
        Binding("h", "hang_up", "End call"),
        Binding("o", "log_out", "Log out"),
    ]
    DEFAULT_CSS = css_beside(__file__)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.agents: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="agents-table", cursor_type="row")
        table.add_columns("agent", "state", "seat", "campaigns", "call", "why")
        yield table
        yield Static("", id="agents-detail", markup=False)
        yield Label("[dim]y ready · p pause · h end the call · o log out[/dim]")

    async def reload(self) -> None:
        agents = await self.client.get("/agents")
        self.agents = {a["name"]: a for a in agents}
        now = datetime.now().astimezone()
        rows = [
            (a["name"], a["state"],
             "" if a["seat"] is None else a["seat"] + ("" if a["seat_up"] else " (down)"),
             ",".join(a["campaigns"]), _call(a, now), short(a["reason"], 20))
            for a in agents
        ]  # fmt: skip
        fill(self.query_one(DataTable), rows, [a["name"] for a in agents])
        self._detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def _detail(self) -> None:
        """The highlighted agent's reason in full, and all their campaigns."""
        try:
            agent = self.agents.get(selected_key(self.query_one(DataTable)) or "")
            shown = self.query_one("#agents-detail", Static)
        except NoMatches:  # the console is closing: a late highlight has no table left
            return
        text = ""
        if agent is not None and (agent["reason"] or len(agent["campaigns"]) > 1):
            text = f"{agent['name']} ({agent['state']})"
            if agent["reason"]:
                text += f": {agent['reason']}"
            if agent["campaigns"]:
                text += f" · campaigns {', '.join(agent['campaigns'])}"
        shown.update(text)

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
