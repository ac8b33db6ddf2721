"""A modal message: a text to read (a why-not-dialing answer, an import report, a new token),
scrolled inside when it is longer than the screen."""

from __future__ import annotations

from typing import ClassVar

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class Message(ModalScreen[None]):
    """A text (or a Rich table) to read; Enter, Esc or q closes, arrows and PgUp/PgDn scroll."""

    CSS_PATH = "message.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, text: str | RenderableType) -> None:
        super().__init__()
        self.message_title = title
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="message") as box:
            box.border_title = self.message_title
            box.border_subtitle = "Enter or Esc closes"
            yield Static(self.text, id="message-text", markup=False)

    def on_mount(self) -> None:
        self.query_one("#message").focus()

    def action_close(self) -> None:
        self.dismiss(None)
