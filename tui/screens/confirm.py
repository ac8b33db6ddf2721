"""A modal question with two answers: go ahead (True) or not (False, also Esc). The safe answer
has the focus, so Enter alone never does the risky thing."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class Confirm(ModalScreen[bool]):
    CSS_PATH = "confirm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "answer(False)", "Cancel")]

    def __init__(self, title: str, text: str, *, proceed: str, cancel: str = "Cancel") -> None:
        super().__init__()
        self.question_title = title
        self.text = text
        self.proceed = proceed
        self.cancel = cancel

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm") as box:
            box.border_title = self.question_title
            with VerticalScroll(id="confirm-text"):
                yield Static(self.text, markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(self.proceed, variant="error", id="proceed")
                yield Button(self.cancel, variant="primary", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "proceed")

    def action_answer(self, proceed: bool) -> None:
        self.dismiss(proceed)
