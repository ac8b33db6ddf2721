"""A modal message: a text to read (a why-not-dialing answer, an import report, a new token)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class Message(ModalScreen[None]):
    """A text to read (a why-not-dialing answer, an import report, a new token); any key closes."""

    CSS_PATH = "message.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.message_title = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]{self.message_title}[/b]")
            with VerticalScroll():
                yield Static(self.text, id="message-text", markup=False)
            yield Label("[dim]Enter or Esc closes[/dim]")

    def action_close(self) -> None:
        self.dismiss(None)
