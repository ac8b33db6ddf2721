"""A modal list of columns to tick: the Contacts pane's choice of what a row shows."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, SelectionList


class Columns(ModalScreen[list[str] | None]):
    """Every column (key, label) ticked or not; returns the ticked keys in the list's order, or
    None when cancelled. Space or Enter ticks, ctrl+s or OK keeps the choice, Escape cancels."""

    CSS_PATH = "columns.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "keep", "Keep"),
    ]

    def __init__(self, columns: list[tuple[str, str]], chosen: list[str]) -> None:
        super().__init__()
        self.columns = columns
        self.chosen = chosen

    def compose(self) -> ComposeResult:
        with Vertical(id="columns"):
            yield Label("[b]Columns to show[/b]")
            yield Label("[dim]space ticks · ctrl+s or OK keeps · Esc cancels[/dim]")
            yield SelectionList[str](
                *((Content(label), key, key in self.chosen) for key, label in self.columns),
                id="columns-list",
            )
            with Horizontal():
                yield Button("OK", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def action_keep(self) -> None:
        ticked = set(self.query_one(SelectionList).selected)
        keep = [key for key, _ in self.columns if key in ticked]
        if not keep:
            self.notify("tick at least one column", severity="warning")
            return
        self.dismiss(keep)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.action_keep()
        else:
            self.dismiss(None)
