"""The logs pane: the daemon's log as it grows, each line with its time (local, HH:MM:SS; the date
too when it is not today's), filtered by words in the message or the logger."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Input, RichLog

from tui.base import Pane, clock, css_beside

LEVEL_STYLES = {"WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red"}


def log_line(line: dict[str, Any]) -> Text:
    """One log line as the pane shows it: time, level, the logger's last part, the message."""
    text = Text()
    text.append(clock(line.get("time")) or "--:--:--", style="dim")
    level = str(line.get("level") or "")
    text.append(f" {level[:4]:<4} ", style=LEVEL_STYLES.get(level, ""))
    text.append(f"{str(line.get('logger') or '').rsplit('.', 1)[-1]}: ", style="bold")
    text.append(str(line.get("message") or ""))
    return text


class Logs(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("slash", "search", "Filter")]
    DEFAULT_CSS = css_beside(__file__)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after = 0
        self.grep = ""
        self.shown = 0

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Input(
                placeholder="/ filter: words in the message or the logger (Enter)",
                id="log-filter",
                compact=True,
            )
        yield RichLog(id="log-lines", wrap=True, markup=False)

    def action_search(self) -> None:
        self.query_one(Input).focus()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        self.grep = event.value.strip()
        self.after = 0
        self.shown = 0
        self.query_one(RichLog).clear()
        await self.reload()
        self.query_one(RichLog).focus()

    async def reload(self) -> None:
        query = f"/logs?after={self.after}&level=INFO&limit=500"
        if self.grep:
            query += f"&grep={quote(self.grep)}"
        lines = await self.client.get(query)
        log = self.query_one(RichLog)
        if not self.shown:  # nothing shown yet: say so, once, until the first line comes
            log.clear()
            if not lines:
                log.write(Text(f"no log lines match {self.grep!r}" if self.grep
                               else "no log lines yet", style="dim"))  # fmt: skip
                return
        for line in lines:
            log.write(log_line(line))
        self.shown += len(lines)
        if lines:
            self.after = lines[-1]["seq"]
