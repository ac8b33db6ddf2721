"""The strategy pane (SPEC C4): a campaign's call strategy as its per-outcome table — what follows
each outcome (retry after a delay, the next number, switch to SMS, block the number, close with a
state) — edited row by row, each draft checked by the daemon as it is typed
(`POST /campaigns/{name}/strategy/check`): a wrong row says what is wrong beside it and Save stays
off until none is; warnings about terminal outcomes are shown the same way."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from tui.base import Pane, css_beside
from tui.client import ApiError, Unreachable
from tui.screens.form import Form
from tui.text import cell, printable

DEFAULT = "default"
ACTIONS = ("retry", "next_number", "sms", "block", "close")
CHECK_AFTER = 0.3  # seconds of quiet typing before a draft is checked
HINT = {
    "close": "state: Connected, Retries Completed, DNC Listed… (empty: by outcome)",
    "": "not named: the default or the built-in action applies",
}
DELAY_HINT = "after: 90s, 30m, 2h, 1d, 1h30m (empty: at once)"


def as_text(value: Any) -> str:
    """An action as the API gives it, `retry 2h` or `{action: retry, after: 2h}`, as text."""
    if isinstance(value, dict):
        rest = value.get("after") if value.get("after") is not None else value.get("state")
        return f"{value.get('action', '')} {rest if rest is not None else ''}".strip()
    return str(value).strip()


def split(text: str | None) -> tuple[str, str]:
    word, _, rest = (text or "").strip().partition(" ")
    return word, rest.strip()


def plan_text(attempts: list[dict[str, Any]], repeat_last: bool) -> str:
    items = []
    for a in attempts:
        words = [str(a.get("channel", "voice")), str(a.get("phone", 1))]
        if a.get("wait") is not None:
            words += ["wait", str(a["wait"])]
        items.append(" ".join(words))
    return "; ".join(items) + ("" if repeat_last else " (the last does not repeat)")


def parse_plan(text: str) -> list[dict[str, Any]]:
    """`voice 1; sms same wait 24h` as the API's attempts; what it cannot read it passes on as
    written, for the daemon to say what is wrong with it."""
    attempts: list[dict[str, Any]] = []
    for item in text.replace(",", ";").split(";"):
        words = item.split()
        if not words:
            continue
        attempt: dict[str, Any] = {"channel": words[0].lower()}
        rest = words[1:]
        if rest and rest[0].lower() != "wait":
            phone = rest.pop(0)
            attempt["phone"] = int(phone) if phone.isdigit() else phone.lower()
        if rest and rest[0].lower() == "wait":
            attempt["wait"] = " ".join(rest[1:]) or None
        elif rest:
            attempt["phone"] = " ".join([str(attempt.get("phone", "")), *rest]).strip()
        attempts.append(attempt)
    return attempts


class Strategy(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pick", "Campaign"),
        Binding("e", "edit", "Edit", show=False),  # also Enter
        Binding("x", "clear", "Clear"),
        Binding("a", "plan", "Plan"),
        Binding("s", "save", "Save"),
        Binding("u", "revert", "Revert"),
    ]
    DEFAULT_CSS = css_beside(__file__)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.campaign: str | None = None
        self.names: list[str] = []
        self.limits = ""  # the campaign's attempt limits (its settings, edited in Campaigns)
        self.stored: dict[str, Any] | None = None  # the strategy as the daemon has it
        self.draft: dict[str, str] = {}  # outcome (or "default") -> action, as named
        self.attempts: list[dict[str, Any]] = []
        self.repeat_last = True
        self.outcomes: list[dict[str, Any]] = []  # the last valid table: every outcome in force
        self.errors: list[dict[str, str]] = []
        self.warnings: list[str] = []
        self.valid = False
        self.checking = False
        self.verdict = ""
        self.dirty = False
        self._timer: Timer | None = None
        self._checks = 0  # each check's number: an answer to an older draft is dropped

    def compose(self) -> ComposeResult:
        with Horizontal(id="strategy-head"):
            yield Select[str]([], prompt="campaign", id="strategy-campaign")
            yield Static("", id="strategy-name", markup=False)
            yield Button("Save", id="strategy-save", variant="primary", disabled=True)
            yield Button("Revert", id="strategy-revert")
        yield DataTable(id="strategy-table", cursor_type="row")
        with Horizontal(id="strategy-edit"):
            yield Label("", id="strategy-outcome")
            yield Select[str]([("— unset", ""), *((a, a) for a in ACTIONS)], value="",
                              allow_blank=False, id="strategy-action")  # fmt: skip
            yield Input(placeholder=DELAY_HINT, id="strategy-arg")
        yield Static("", id="strategy-message", markup=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key in (("outcome", "outcome"), ("action", "action"), ("after/state", "arg"),
                           ("from", "from"), ("check", "note")):  # fmt: skip
            table.add_column(label, key=key)

    # -- the daemon's side -----------------------------------------------------------------

    async def reload(self) -> None:
        """The campaigns for the picker; the strategy when none is shown or it is not being
        edited (an edit in progress is never replaced under the technician's hands)."""
        campaigns = await self.client.get("/campaigns")
        names = [str(c["name"]) for c in campaigns]
        picker = self.query_one("#strategy-campaign", Select)
        if names != self.names:
            self.names = names
            picker.set_options([(printable(n), n) for n in names])
            if self.campaign not in names:
                self.campaign, self.stored = (names[0] if names else None), None
            if self.campaign is not None:
                picker.value = self.campaign
        if self.campaign is None:
            self._message("no campaigns yet: create one in Campaigns (3)")
            return
        found = next((c for c in campaigns if c["name"] == self.campaign), None)
        settings = found.get("settings", {}) if found else {}
        self.limits = (f"at most {settings.get('max_attempts')} · {settings.get('max_attempts_per_number')}"
                       f"/number · {settings.get('max_attempts_per_day')}/day") if settings else ""  # fmt: skip
        if self.dirty:
            self._show_row()
            return
        stored = await self.client.strategy(self.campaign)
        stored.pop("warnings", None)
        if stored != self.stored:
            self._take(stored)
            await self._check()
        else:
            self._show_row()

    def _take(self, stored: dict[str, Any]) -> None:
        self.stored = stored
        self.draft = {str(k): as_text(v) for k, v in (stored.get("on") or {}).items()}
        self.attempts = list(stored.get("attempts") or [{"channel": "voice", "phone": 1}])
        self.repeat_last = bool(stored.get("repeat_last", True))
        self.dirty = False

    def definition(self) -> dict[str, Any]:
        """The draft as the API's strategy body."""
        assert self.stored is not None
        body: dict[str, Any] = {"name": self.stored.get("name") or "strategy", "on": dict(self.draft),
                                "attempts": self.attempts, "repeat_last": self.repeat_last}  # fmt: skip
        if self.stored.get("steps_on"):
            body["steps_on"] = self.stored["steps_on"]  # kept as they are (not edited here)
        return body

    async def _check(self) -> None:
        """Ask the daemon what it thinks of the draft; its words go beside the rows."""
        if self.campaign is None or self.stored is None:
            return
        self._checks += 1
        number, campaign = self._checks, self.campaign
        self.checking = True
        self._buttons()
        try:
            verdict = await self.client.check_strategy(campaign, self.definition())
        except Unreachable as exc:
            verdict = {"valid": False, "errors": [], "warnings": [], "table": None,
                       "unchecked": f"not checked: {exc}"}  # fmt: skip
        except ApiError as exc:
            verdict = {"valid": False, "errors": [{"where": "", "message": exc.detail}],
                       "warnings": [], "table": None}  # fmt: skip
        if number != self._checks or campaign != self.campaign:
            return  # a newer draft is being checked
        self.checking = False
        self.valid = bool(verdict["valid"])
        self.errors = list(verdict["errors"])
        self.warnings = list(verdict["warnings"])
        if verdict.get("table"):
            self.outcomes = list(verdict["table"])
        problems = len(self.errors)
        self.verdict = verdict.get("unchecked") or (
            f"✓ valid{f' · {len(self.warnings)} warning(s) ⚠' if self.warnings else ''}"
            + (" · s saves" if self.dirty else "")
            if self.valid
            else f"✗ {problems} problem{'s' if problems != 1 else ''}: Save is off until fixed"
        )
        self._redraw()

    def _changed(self) -> None:
        """The draft changed: Save is off until the daemon has checked it."""
        self.dirty = True
        self.valid = False
        self.checking = True
        self.verdict = "checking…"
        self._buttons()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(CHECK_AFTER, self._check)
        self._redraw()

    # -- showing ---------------------------------------------------------------------------

    def _notes(self, key: str) -> tuple[str, str]:
        """The row's problem or warning: (mark, message); where 'on.Busy' or 'on.Busy.after'."""
        for error in self.errors:
            where = str(error.get("where", ""))
            if where == f"on.{key}" or where.startswith(f"on.{key}."):
                return "✗", str(error.get("message", ""))
        for warning in self.warnings:
            if warning.startswith(f"on.{key}:"):
                return "⚠", warning.split(": ", 1)[1]
        return "", ""

    def _row(self, key: str) -> list[Text]:
        named = self.draft.get(key)
        found = next((o for o in self.outcomes if o["outcome"] == key), None)
        if named is not None:
            action, arg = split(named)
            source, style = "named", ""
        elif key == DEFAULT:
            action, arg, source, style = "—", "", "", "dim"
        else:
            action, arg = split(found["action"] if found else "")
            source, style = (found["source"] if found else ""), "dim"
        mark, note = self._notes(key)
        check = Text(f"{mark} {printable(note)}".strip(), no_wrap=True,
                     style="bold red" if mark == "✗" else "yellow")  # fmt: skip
        check.truncate(24, overflow="ellipsis")
        return [
            cell(key, 16),
            Text(printable(action), style=style),
            cell(arg, 17),
            Text(source, style="dim"),
            check,
        ]

    def _keys(self) -> list[str]:
        labels = [str(o["outcome"]) for o in self.outcomes]
        return [DEFAULT, *labels, *(k for k in self.draft if k not in labels and k != DEFAULT)]

    def _redraw(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for key in self._keys():
            table.add_row(*self._row(key), key=key)
        if table.row_count:
            table.move_cursor(row=min(max(row, 0), table.row_count - 1))
        self._buttons()
        self._show_row()

    def _buttons(self) -> None:
        save = self.query_one("#strategy-save", Button)
        save.disabled = not (self.valid and self.dirty and not self.checking)
        name = self.stored.get("name") if self.stored else None
        parts = [printable(name)[:12]] if name else []
        if self.dirty:
            parts.append("edited")
        if self.checking:
            parts.append("checking…")
        elif self.valid:
            parts.append("✓ valid" + (f" {len(self.warnings)}⚠" if self.warnings else ""))
        elif self.stored is not None:
            parts.append(f"✗ {len(self.errors)} wrong" if self.errors else "✗ not checked")
        self.query_one("#strategy-name", Static).update(" · ".join(parts))

    def _selected(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        value = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return None if value is None else str(value)

    def _show_row(self) -> None:
        """The highlighted row in the edit line, and its whole message below."""
        key = self._selected()
        if key is None:
            return
        action, arg = split(self.draft.get(key))
        self.query_one("#strategy-outcome", Label).update(Text(printable(key)[:16]))
        picker = self.query_one("#strategy-action", Select)
        if picker.value != (action if action in ACTIONS else ""):
            picker.value = action if action in ACTIONS else ""
        field = self.query_one("#strategy-arg", Input)
        if field.value != arg:
            field.value = arg
        field.placeholder = HINT.get(action, DELAY_HINT)
        mark, note = self._notes(key)
        plan = f"attempts: {plan_text(self.attempts, self.repeat_last)}"
        plan += f" · {self.limits}" if self.limits else ""
        problems = [e for e in self.errors if not str(e.get("where", "")).startswith("on.")]
        lines = [f"{mark} {key}: {note}" if note else self.verdict]
        lines += [f"✗ {e['where'] or 'strategy'}: {e['message']}" for e in problems[:1]]
        self._message("\n".join([plan, *lines]))

    def _message(self, text: str) -> None:
        self.query_one("#strategy-message", Static).update(printable_lines(text))

    # -- the technician's keys ---------------------------------------------------------------

    async def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_row()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_edit()

    def _edited(self) -> None:
        key = self._selected()
        if key is None or self.stored is None:
            return
        action = self.query_one("#strategy-action", Select).value
        arg = self.query_one("#strategy-arg", Input).value.strip()
        self.query_one("#strategy-arg", Input).placeholder = HINT.get(str(action), DELAY_HINT)
        text = None if action in ("", Select.NULL) else f"{action} {arg}".strip()
        if text == self.draft.get(key):
            return
        if text is None:
            self.draft.pop(key, None)
        else:
            self.draft[key] = text
        self._changed()

    async def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "strategy-action":
            self._edited()
            return
        if event.select.id != "strategy-campaign" or event.value is Select.NULL:
            return
        if str(event.value) == self.campaign:
            return
        if self.dirty:
            self.console.notify(f"the unsaved edit of {self.campaign}'s strategy was dropped",
                                severity="warning")  # fmt: skip
        self.campaign, self.stored, self.dirty, self.outcomes = str(event.value), None, False, []
        await self.console.refresh_pane(self)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "strategy-arg":
            self._edited()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def action_pick(self) -> None:
        picker = self.query_one("#strategy-campaign", Select)
        picker.focus()
        picker.expanded = True

    def action_edit(self) -> None:
        picker = self.query_one("#strategy-action", Select)
        picker.focus()

    def action_clear(self) -> None:
        key = self._selected()
        if key is not None and key in self.draft:
            del self.draft[key]
            self._changed()

    def action_plan(self) -> None:
        if self.stored is None:
            return

        def done(v: dict[str, str] | None) -> None:
            if not v:
                return
            attempts = parse_plan(v["attempts"])
            repeat = v["repeat"].lower() not in ("no", "n", "false", "0")
            if attempts and (attempts != self.attempts or repeat != self.repeat_last):
                self.attempts, self.repeat_last = attempts, repeat
                self._changed()

        self.app.push_screen(Form("Attempts, in order", [
            ("attempts", "e.g. voice 1; voice next; sms 1 wait 24h (phone 1-5 or next)",
             plan_text(self.attempts, True)),
            ("repeat", "Repeat the last attempt (yes/no)", "yes" if self.repeat_last else "no"),
        ]), done)  # fmt: skip

    async def action_save(self) -> None:
        if self.campaign is None or self.stored is None:
            return
        if not (self.valid and self.dirty) or self.checking:
            why = "nothing changed" if not self.dirty else "the daemon has not taken this draft"
            self.console.notify(f"not saved: {why}", severity="warning")
            return
        saved = await self.act(self.client.save_strategy(self.campaign, self.definition()),
                               f"{self.campaign}: strategy saved; it applies from the next dial")  # fmt: skip
        if isinstance(saved, dict):
            self.warnings = list(saved.pop("warnings", None) or [])
            self.dirty = False
            self.stored = None  # read back what the daemon keeps
            await self.console.refresh_pane(self)

    async def action_revert(self) -> None:
        self.dirty, self.stored = False, None
        await self.console.refresh_pane(self)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "strategy-save":
            await self.action_save()
        elif event.button.id == "strategy-revert":
            await self.action_revert()


def printable_lines(text: str) -> str:
    return "\n".join(printable(line) for line in text.split("\n"))
