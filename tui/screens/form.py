"""A modal form: labelled fields — text, a choice among values, or several — that return their
values (None when cancelled). It fits 80×24: the fields scroll inside it when they must, while
its title and its OK and Cancel buttons stay on screen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, SelectionList


@dataclass(frozen=True)
class Field:
    """One field: free text, or with `choices` ((shown, value) pairs) a picker — one value, or
    with `many` any number of them (returned comma separated; names never hold a comma)."""

    name: str
    label: str
    default: str = ""
    choices: Sequence[tuple[str, str]] | None = None
    many: bool = False
    hint: str = ""  # shown in an empty text field


FieldSpec = Field | tuple[str, str, str]


class Choice(Select[str], inherit_bindings=False):
    """A Select whose Enter goes on to the next field, like a text field's (↓ or Space opens it)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,space,up", "show_overlay", "Show the choices", show=False)
    ]


class Picks(SelectionList[str], inherit_bindings=False):
    """A SelectionList whose Enter goes on to the next field (Space ticks or unticks)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "select", "Tick", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
    ]


class Form(ModalScreen[dict[str, str] | None]):
    """Fields (a `Field`, or (name, label, default) for text); Enter goes to the next field and
    submits from the last, Ctrl+S or OK submits from anywhere, Escape cancels."""

    CSS_PATH = "form.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "OK"),
        Binding("enter", "next", "Next field", show=False),
    ]

    def __init__(self, title: str, fields: Sequence[FieldSpec], note: str = "") -> None:
        super().__init__()
        self.form_title = title
        self.fields = [f if isinstance(f, Field) else Field(*f) for f in fields]
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(id="form") as box:
            box.border_title = self.form_title
            box.border_subtitle = "Enter next · Ctrl+S OK · Esc cancel"
            with VerticalScroll(id="form-fields"):
                if self.note:
                    yield Label(self.note, id="form-note", markup=False)
                for field in self.fields:
                    with Horizontal(classes="field"):
                        yield Label(field.label)
                        yield self._widget(field)
            with Horizontal(id="form-buttons"):
                yield Button("OK", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    @staticmethod
    def _widget(field: Field) -> Widget:
        wid = f"f-{field.name}"
        if field.choices is None:
            return Input(value=field.default, placeholder=field.hint, id=wid, compact=True)
        if field.many:
            chosen = {v.strip() for v in field.default.split(",") if v.strip()}
            return Picks(
                *((shown, value, value in chosen) for shown, value in field.choices), id=wid
            )
        values = [value for _, value in field.choices]
        default = field.default if field.default in values else (values[0] if values else None)
        return Choice(
            list(field.choices), value=default if default is not None else Select.NULL,
            allow_blank=default is None, id=wid, compact=True,
        )  # fmt: skip

    def on_mount(self) -> None:
        self._inputs()[0].focus()

    def _inputs(self) -> list[Widget]:
        return [self.query_one(f"#f-{f.name}") for f in self.fields]

    def values(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for field, widget in zip(self.fields, self._inputs(), strict=True):
            if isinstance(widget, Input):
                out[field.name] = widget.value.strip()
            elif isinstance(widget, SelectionList):
                out[field.name] = ",".join(str(v) for v in widget.selected)
            elif isinstance(widget, Select):
                value = widget.value
                out[field.name] = "" if value is Select.NULL else str(value)
        return out

    def _advance(self, widget: Widget | None) -> None:
        """Enter on a field: on to the next one, or submit from the last."""
        inputs = self._inputs()
        if widget in inputs and inputs.index(widget) + 1 < len(inputs):
            inputs[inputs.index(widget) + 1].focus()
        else:
            self.action_submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._advance(event.input)

    def action_next(self) -> None:
        self._advance(self.focused)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.action_submit()
        else:
            self.action_cancel()

    def action_submit(self) -> None:
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)
