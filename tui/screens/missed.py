"""The missed calls of inbound campaigns (SPEC C14), opened from the dashboard with `m`: the open
ones, oldest first (the order to call them back in), or all of them; `c` calls the highlighted
one back — a contact in an agent or automated campaign at the next permitted time — and `d`
dismisses it. What the box refuses (a number on a DNC list, a withheld one, a call handled
already) is shown under the table in the API's words."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui.base import Host, clock, fill, moment, selected_key
from tui.client import ApiError, Unreachable
from tui.screens.confirm import Confirm
from tui.screens.form import Field, Form
from tui.text import cell, printable

LIMIT = 200  # missed calls fetched at once
REASONS = {
    "hung_up_ringing": "hung up ringing",
    "hung_up_in_queue": "hung up waiting",
    "overflow": "no agent",
    "closed": "closed",
}
STATUSES = {"open": "open", "callback_made": "called back", "dismissed": "dismissed"}


def caller(missed: dict[str, Any]) -> str:
    return missed.get("number") or missed.get("caller_id") or "withheld"


def when(value: Any) -> str:
    """A missed call's time: HH:MM:SS today, MM-DD HH:MM before."""
    at = moment(value)
    if at is None:
        return ""
    today = datetime.now().astimezone(at.tzinfo).date()
    return f"{at:%H:%M:%S}" if at.date() == today else f"{at:%m-%d %H:%M}"


def detail(missed: dict[str, Any]) -> str:
    """The highlighted missed call in full: who, when, why, and what was done about it."""
    text = (f"{caller(missed)} · {missed['campaign']} on {missed.get('line') or '?'} · "
            f"{REASONS.get(missed['reason'], missed['reason'])}")  # fmt: skip
    if missed.get("calls", 1) > 1:
        text += f" · {missed['calls']} calls, first {clock(missed['at'])}"
    if missed.get("waited_seconds") is not None:
        text += f" · waited {missed['waited_seconds']:g} s"
    lines = [text]
    back = missed.get("callback")
    if back:
        lines.append(f"called back by {missed.get('handled_by') or '?'}: contact"
                     f" {back['contact_id']} in {back.get('campaign')} ({back.get('state')}),"
                     f" due {clock(back.get('due_at'))}")  # fmt: skip
    elif missed["status"] == "dismissed":
        lines.append(
            f"dismissed by {missed.get('handled_by') or '?'} at {clock(missed['handled_at'])}"
        )
    return "\n".join(printable(line) for line in lines)


class MissedCalls(ModalScreen[None]):
    """The missed calls; c calls back, d dismisses, a shows open ones or all, Esc closes."""

    CSS_PATH = "missed.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("c", "call_back", "Call back"),
        Binding("d", "dismiss_call", "Dismiss"),
        Binding("a", "toggle_all", "Open/all"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.show_all = False
        self.missed: dict[str, dict[str, Any]] = {}
        self.note = ""  # the last thing done, or refused, in the API's words

    @property
    def host(self) -> Host:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical(id="missed") as box:
            box.border_title = "Missed calls"
            box.border_subtitle = "c call back · d dismiss · a open/all · Esc close"
            yield Static("", id="missed-head", markup=False)
            table: DataTable[Any] = DataTable(id="missed-table", cursor_type="row")
            table.add_columns("last call", "caller", "n", "why", "campaign", "status")
            yield table
            yield Static("", id="missed-detail", markup=False)
            yield Static("", id="missed-note", markup=False)

    async def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        await self.action_reload()

    async def action_reload(self) -> None:
        query = f"limit={LIMIT}" + ("" if self.show_all else "&status=open")
        try:
            page = await self.host.client.get(f"/missed-calls?{query}")
        except (ApiError, Unreachable) as exc:
            self._said(str(getattr(exc, "detail", exc)), error=True)
            return
        items = page["items"]
        self.missed = {str(m["id"]): m for m in items}
        rows = [(cell(when(m["last_at"])), cell(caller(m), 16), cell(m["calls"]),
                 cell(REASONS.get(m["reason"], m["reason"]), 15), cell(m["campaign"], 10),
                 cell(STATUSES.get(m["status"], m["status"])))
                for m in items]  # fmt: skip
        try:
            table = self.query_one(DataTable)
            head = self.query_one("#missed-head", Static)
        except NoMatches:  # closed while the daemon answered
            return
        fill(table, rows, list(self.missed))
        kind = "missed calls" if self.show_all else "open missed calls"
        more = f" (the first {LIMIT}, oldest first)" if page.get("next") is not None else ""
        head.update(f"{len(items)} {kind}{more}" if items else f"no {kind}")
        self._detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def _selected(self) -> dict[str, Any] | None:
        return self.missed.get(selected_key(self.query_one(DataTable)) or "")

    def _detail(self) -> None:
        try:
            shown = self.query_one("#missed-detail", Static)
        except NoMatches:
            return
        missed = self._selected()
        shown.update(detail(missed) if missed is not None else "")

    def _said(self, text: str, *, error: bool = False) -> None:
        """Keep what was done or refused under the table, and as a note."""
        self.note = text
        with_mark = ("refused: " if error else "") + text
        with contextlib.suppress(NoMatches):
            self.query_one("#missed-note", Static).update(printable(with_mark))
        self.host.notify(text, severity="error" if error else "information",
                         timeout=8 if error else None)  # fmt: skip

    async def _post(self, path: str, body: Any, done: str) -> bool:
        try:
            await self.host.client.post(path, body)
        except ApiError as exc:
            self._said(exc.detail, error=True)
            return False
        except Unreachable as exc:
            self._said(str(exc), error=True)
            return False
        self._said(done)
        await self.action_reload()
        return True

    async def action_call_back(self) -> None:
        missed = self._selected()
        if missed is None:
            return
        try:
            campaigns = await self.host.client.get("/campaigns")
        except (ApiError, Unreachable) as exc:
            self._said(str(getattr(exc, "detail", exc)), error=True)
            return
        calling = [c["name"] for c in campaigns if c["type"] in ("agent", "automated")]
        inbound = next((c for c in campaigns if c["name"] == missed["campaign"]), None)
        default = (inbound or {}).get("settings", {}).get("callback_campaign") or ""
        mid, who = missed["id"], caller(missed)

        async def done(v: dict[str, str] | None) -> None:
            if v is None:
                return
            body = {k: v[k] for k in ("campaign", "owner") if v.get(k)}
            await self._post(f"/missed-calls/{mid}/callback", body,
                             f"missed call from {who}: called back from {v.get('campaign') or default}")  # fmt: skip

        self.app.push_screen(Form(f"Call back {printable(who)}", [
            Field("campaign", "Call back from", default,
                  [(printable(n), n) for n in calling]),
            Field("owner", "For agent", hint="an agent, @group (empty: anyone)"),
        ], note="A contact with the caller's number, due at the next time the campaign may"
                " call it."), done)  # fmt: skip

    async def action_dismiss_call(self) -> None:
        missed = self._selected()
        if missed is None:
            return
        mid, who = missed["id"], caller(missed)

        async def answered(yes: bool | None) -> None:
            if yes:
                await self._post(f"/missed-calls/{mid}/dismiss", None,
                                 f"missed call from {who}: dismissed")  # fmt: skip

        self.app.push_screen(Confirm(
            "Dismiss the missed call", f"Close the missed call from {who} without calling back?",
            proceed="Dismiss"), answered)  # fmt: skip

    async def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        await self.action_reload()

    def action_close(self) -> None:
        self.dismiss(None)
