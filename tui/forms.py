"""Modal dialogs: a small form that returns its values, and a message to read and close."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class Form(ModalScreen[dict[str, str] | None]):
    """Fields (name, label, default); Enter on the last field or OK submits, Escape cancels."""

    DEFAULT_CSS = """
    Form { align: center middle; }
    Form > Vertical { width: 70; max-width: 100%; height: auto; border: round $accent;
                      padding: 0 1; background: $surface; }
    Form Input { margin-bottom: 0; }
    Form Horizontal { height: auto; align: right middle; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, fields: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.form_title = title
        self.fields = fields

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]{self.form_title}[/b]")
            for name, label, default in self.fields:
                yield Label(label)
                yield Input(value=default, id=f"f-{name}")
            with Horizontal():
                yield Button("OK", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def values(self) -> dict[str, str]:
        return {
            name: self.query_one(f"#f-{name}", Input).value.strip() for name, _, _ in self.fields
        }

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.dismiss(self.values())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.values() if event.button.id == "ok" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Message(ModalScreen[None]):
    """A text to read (a why-not-dialing answer, an import report, a new token); any key closes."""

    DEFAULT_CSS = """
    Message { align: center middle; }
    Message > Vertical { width: 76; max-width: 100%; height: auto; max-height: 90%;
                         border: round $accent; padding: 0 1; background: $surface; }
    Message VerticalScroll { height: auto; max-height: 18; }
    """
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
