"""The logs pane: the daemon's log as it grows, filtered by words in the message or the logger."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Input, RichLog

from tui.base import Pane, css_beside


class Logs(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("slash", "search", "Filter")]
    DEFAULT_CSS = css_beside(__file__)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after = 0
        self.grep = ""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Input(
                placeholder="filter: words in the message or the logger (Enter)", id="log-filter"
            )
        yield RichLog(id="logs", wrap=False, markup=False)

    def action_search(self) -> None:
        self.query_one(Input).focus()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        self.grep = event.value.strip()
        self.after = 0
        self.query_one(RichLog).clear()
        await self.reload()
        self.query_one(RichLog).focus()

    async def reload(self) -> None:
        query = f"/logs?after={self.after}&level=INFO&limit=500"
        if self.grep:
            from urllib.parse import quote

            query += f"&grep={quote(self.grep)}"
        lines = await self.client.get(query)
        log = self.query_one(RichLog)
        for line in lines:
            log.write(f"{line['level'][:4]} {line['logger'].rsplit('.', 1)[-1]}: {line['message']}")
        if lines:
            self.after = lines[-1]["seq"]
