"""What every pane of the console shares: it reloads from the API when shown and on a timer."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import DataTable

from tui.client import Client


class Host(Protocol):
    """What a pane asks of the console app (`app.Console`) it runs in: its API client, its
    error reporting, notes. Declared here so that the panes never import the app."""

    client: Client

    async def act(self, coro: Awaitable[Any], ok: str | None = None) -> Any: ...

    async def refresh_pane(self, pane: Pane) -> None: ...

    def notify(
        self, message: str, *, severity: Any = "information", timeout: float | None = None
    ) -> None: ...


def css_beside(module: str) -> str:
    """A pane's CSS, from the `.tcss` file beside its module (`css_beside(__file__)`). Textual
    reads `CSS_PATH` for apps and screens only; a widget's own CSS is its `DEFAULT_CSS`, which
    Textual scopes to the widget."""
    return Path(module).with_suffix(".tcss").read_text(encoding="utf-8")


class Pane(Vertical):
    DEFAULT_CSS = "Pane { height: 1fr; }"

    @property
    def console(self) -> Host:
        return self.app  # type: ignore[return-value]

    @property
    def client(self) -> Client:
        return self.console.client

    async def reload(self) -> None:
        """Fetch and show; Unreachable and ApiError are the console's to report."""

    def focus_default(self) -> None:
        """Keys act on the pane's table (its keys need focus inside the pane), else its input."""
        for widget in (*self.query(DataTable), *self.query("RichLog"), *self.query("Input")):
            if widget.focusable:
                widget.focus()
                return

    def read_local(self, path: str) -> bytes | None:
        """A file on this machine the technician named, or None (and a note saying why)."""
        if not path:
            return None
        try:
            return Path(path).expanduser().read_bytes()
        except OSError as exc:
            self.console.notify(f"cannot read {path}: {exc.strerror}", severity="error")
            return None

    async def act(self, coro: Any, ok: str | None = None) -> Any:
        """Run one API call for a key the technician pressed; a refusal is shown, not raised."""
        return await self.console.act(coro, ok)

    async def campaign_names(self) -> list[str] | None:
        """The campaigns' names for a picker; None (and a note) when the daemon does not answer."""
        campaigns = await self.act(self.client.get("/campaigns"))
        return None if campaigns is None else [str(c["name"]) for c in campaigns]


def fill(table: DataTable[Any], rows: list[tuple[Any, ...]], keys: list[str] | None = None) -> None:
    """Replace a table's rows, keeping the cursor on the same row where it can. Values are shown
    as they are, never read as markup: a DNC reason `[/x]` from an import once raised Rich's
    MarkupError and took the pane down."""
    row = table.cursor_row
    table.clear()
    for i, values in enumerate(rows):
        table.add_row(*(_literal(v) for v in values), key=keys[i] if keys else None)
    if rows:
        table.move_cursor(row=min(max(row, 0), len(rows) - 1))


def _literal(value: Any) -> Text:
    return value if isinstance(value, Text) else Text("" if value is None else str(value))


def selected_key(table: DataTable[Any]) -> str | None:
    if table.row_count == 0:
        return None
    key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    return None if key.value is None else str(key.value)


def short(text: str | None, width: int) -> str:
    """The text cut to `width` characters, with … where it was cut ("" for None)."""
    text = text or ""
    return text if len(text) <= width else text[: width - 1] + "…"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def moment(value: Any) -> datetime | None:
    """A time as the API gives it — seconds since the epoch, or ISO 8601 text — in local time;
    None when there is none (or it cannot be read)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value).astimezone()
        if isinstance(value, str) and value:
            when = datetime.fromisoformat(value)
            # the API's texts carry their offset; one without is UTC, as the API says
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone()
    except (ValueError, OverflowError, OSError):
        return None
    return None


def clock(value: Any, now: datetime | None = None) -> str:
    """A time for a technician: HH:MM:SS in local time, with the date before it when it is not
    today's; "" when there is none."""
    when = moment(value)
    if when is None:
        return ""
    today = (now or datetime.now().astimezone()).astimezone(when.tzinfo).date()
    return f"{when:%H:%M:%S}" if when.date() == today else f"{when:%Y-%m-%d %H:%M:%S}"


def seconds_since(value: Any, now: datetime | None = None) -> float | None:
    when = moment(value)
    if when is None:
        return None
    return ((now or datetime.now().astimezone()) - when).total_seconds()
